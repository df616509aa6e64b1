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
		h["X-Kept"] = []string{"app"}
		stripIdentityHeaders(h)
		// The model: fold the spellings upstream frameworks merge, lower-case, compare (what the gateway did
		// before it compared in place). Identity names must be gone, every other name kept.
		identity := func(k string) bool {
			n := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(strings.TrimSpace(k)))
			return strings.HasPrefix(n, "x-vectis-") || n == "x-vectis"
		}
		for k := range h {
			if identity(k) {
				t.Fatalf("%q survived", k)
			}
		}
		for _, k := range []string{name, http.CanonicalHeaderKey(name), "X-Kept"} {
			if _, kept := h[k]; !identity(k) && !kept {
				t.Fatalf("%q (not an identity header) was removed", k)
			}
		}
	})
}

// FuzzCookieValue: the hot path's cookie scan agrees with net/http's parser on every value that can be a
// session token (anything else is refused by parseToken either way).
func FuzzCookieValue(f *testing.F) {
	f.Add("vectis_session=demo.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add(`a=1; vectis_session="demo.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; b=2`)
	f.Add("vectis_session=x;vectis_session=demo.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add(" \tvectis_session = demo.x ;")
	f.Fuzz(func(t *testing.T, line string) {
		r, _ := http.NewRequest("GET", "http://h/", nil)
		r.Header["Cookie"] = []string{line}
		got := cookieValue(r.Header, sessionCookie)
		if _, _, ok := parseToken(got); !ok {
			return
		}
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value != got {
			t.Fatalf("cookieValue = %q, net/http = %v %v", got, c, err)
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
		// The model: split on ';', trim, drop the gateway's, join what is left with "; " (the gateway's
		// rewrite before it scanned in place). The app's cookies must come through exactly so.
		// With none of the gateway's cookies in it, the header is left exactly as it came.
		var kept []string
		dropped := false
		for _, part := range strings.Split(header, ";") {
			if p := strings.TrimSpace(part); p != "" && !isGatewayCookie(p) {
				kept = append(kept, p)
			} else if isGatewayCookie(part) {
				dropped = true
			}
		}
		want := strings.Join(kept, "; ")
		if !dropped {
			want = r.Header.Get("Cookie")
		}
		stripGatewayCookies(r)
		if got := r.Header.Get("Cookie"); got != want && len(kept) > 0 {
			t.Fatalf("Cookie %q became %q, want %q", header, got, want)
		}
		if len(kept) == 0 && strings.TrimSpace(strings.ReplaceAll(header, ";", "")) != "" && r.Header.Get("Cookie") != "" {
			t.Fatalf("Cookie %q of gateway cookies only became %q", header, r.Header.Get("Cookie"))
		}
		for _, c := range r.Cookies() {
			switch c.Name {
			case sessionCookie, sessionCookieSecure, csrfCookie, csrfCookieSecure:
				t.Fatalf("gateway cookie %q survived in %q", c.Name, r.Header.Get("Cookie"))
			}
		}
	})
}

// FuzzStripIdentityConnectionTokens: no Connection token names an identity header afterwards, and every
// other token is kept in order.
func FuzzStripIdentityConnectionTokens(f *testing.F) {
	f.Add("keep-alive, X-Vectis-Role", "X_Vectis_Tenant,Upgrade")
	f.Add("x-vectis", " , ,")
	f.Add("close", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		h := http.Header{"Connection": {a, b}}
		var want []string
		for _, line := range []string{a, b} {
			for _, tok := range strings.Split(line, ",") {
				if tok = strings.TrimSpace(tok); tok != "" && !isIdentityHeader(tok) {
					want = append(want, tok)
				}
			}
		}
		dropped := false
		for _, line := range []string{a, b} {
			for _, tok := range strings.Split(line, ",") {
				dropped = dropped || isIdentityHeader(tok)
			}
		}
		stripIdentityConnectionTokens(h)
		if !dropped {
			if len(h["Connection"]) != 2 || h["Connection"][0] != a || h["Connection"][1] != b {
				t.Fatalf("Connection %q changed to %q with nothing to remove", []string{a, b}, h["Connection"])
			}
			return
		}
		got := strings.Join(h["Connection"], ", ")
		if got != strings.Join(want, ", ") {
			t.Fatalf("Connection %q became %q, want %q", []string{a, b}, got, strings.Join(want, ", "))
		}
	})
}
