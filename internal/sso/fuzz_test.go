package sso

import (
	"strings"
	"testing"
)

// FuzzParseState: a callback's state parameter either parses into a plausible tenant and a key, or is refused —
// never a panic, never an over-long key.
func FuzzParseState(f *testing.F) {
	for _, s := range []string{"", "acme.", "acme.AAAA", "acme." + strings.Repeat("A", 43), "{acme}.x", strings.Repeat("a", 500), "a.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, state string) {
		tenant, key, ok := ParseState(state)
		if !ok {
			return
		}
		if tenant == "" || strings.ContainsAny(tenant, "{}.:/ ") || len(key) > 128 {
			t.Fatalf("ParseState(%q) = %q, %q", state, tenant, key)
		}
	})
}
