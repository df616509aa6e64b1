package web

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever comes in, the result is a path on this host — it starts with one "/", is not
// scheme-relative or a backslash trick, and has no control characters.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/reports?x=1", "//evil.example", "/\\evil.example", "https://evil.example",
		"/%2F%2Fevil.example", "javascript:alert(1)", "/%5cevil", "/\t/evil.example", "/.vectis/logout", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := SafeNext(raw)
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") {
			t.Fatalf("SafeNext(%q) = %q", raw, got)
		}
		for _, c := range got {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("SafeNext(%q) = %q has a control character", raw, got)
			}
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("SafeNext(%q) = %q does not parse: %v", raw, got, err)
		}
		if u.Scheme != "" || u.Host != "" {
			t.Fatalf("SafeNext(%q) = %q parses with scheme %q host %q", raw, got, u.Scheme, u.Host)
		}
		// Decoding must not reveal a scheme-relative target either.
		if dec, err := url.PathUnescape(u.Path); err == nil && (strings.HasPrefix(dec, "//") || strings.HasPrefix(dec, "/\\")) {
			t.Fatalf("SafeNext(%q) = %q decodes to %q", raw, got, dec)
		}
	})
}
