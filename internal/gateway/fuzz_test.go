package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// FuzzParseToken: any cookie value either parses into a well-formed (tenant, id) or is refused — never a panic,
// and never a tenant that could not be a hash tag.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"", ".", "acme.", "acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "{acme}.x", "a.b.c", strings.Repeat("a", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tenant, _, ok := parseToken(v)
		if ok && !directory.ValidTenantID(tenant) {
			t.Fatalf("parsed an invalid tenant %q", tenant)
		}
		if ok && len(v) > 120 {
			t.Fatal("accepted an over-long cookie")
		}
	})
}

// FuzzStripIdentityHeaders: after stripping, no header an upstream could read as X-Vectis-* remains.
func FuzzStripIdentityHeaders(f *testing.F) {
	for _, s := range []string{"X-Vectis-User-Id", "x-vectis-tenant", "X_Vectis_Role", "X-VECTIS-AUTH", "x-vectis", "X-Vectisfoo", "X-Other", "X.Vectis.User.Id", " X-Vectis-Email"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		h := http.Header{}
		h[name] = []string{"forged"}
		h[http.CanonicalHeaderKey(name)] = []string{"forged"}
		stripIdentityHeaders(h)
		for k := range h {
			n := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(strings.TrimSpace(k)))
			if strings.HasPrefix(n, "x-vectis-") || n == "x-vectis" {
				t.Fatalf("%q survived", k)
			}
		}
	})
}

// FuzzStripGatewayCookies: the gateway's session cookie never survives into the proxied Cookie header, and
// other cookies are kept.
func FuzzStripGatewayCookies(f *testing.F) {
	f.Add("vectis_session=abc; app=1")
	f.Add("app=1;vectis_session=abc;__Host-vectis_session=x")
	f.Add(";;; vectis_csrf = y ; z")
	f.Fuzz(func(t *testing.T, header string) {
		r, _ := http.NewRequest("GET", "http://h/", nil)
		r.Header.Set("Cookie", header)
		stripGatewayCookies(r)
		for _, c := range r.Cookies() {
			switch c.Name {
			case sessionCookie, sessionCookieSecure, csrfCookie, csrfCookieSecure:
				t.Fatalf("gateway cookie %q survived in %q", c.Name, r.Header.Get("Cookie"))
			}
		}
	})
}
