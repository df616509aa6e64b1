// Package e2e starts the real gateway binary with a Caddyfile in front of a real upstream on
// loopback and checks what a person and the upstream see.
package e2e

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	bolt "go.etcd.io/bbolt"
)

// TestSignInEnrollSignOutSignInAgain is the first sign-in of the demo admin through to the upstream,
// sign-out, a later sign-in with a fresh code, and a replayed code refused.
func TestSignInEnrollSignOutSignInAgain(t *testing.T) {
	t.Parallel()
	g := startGateway(t, standardCaddyfile)
	c := g.newClient()
	const next = "/reports?x=1"

	e := enroll(t, g, c, adminEmail, next)
	seen := g.up.last(t)
	if seen.URI != next {
		t.Errorf("the upstream saw %q, want %q", seen.URI, next)
	}
	if got := seen.Header.Get("X-Vectis-Email"); got != adminEmail {
		t.Errorf("X-Vectis-Email %q, want %q", got, adminEmail)
	}
	if got := seen.Header.Get("X-Vectis-Auth"); got != "password+totp" {
		t.Errorf("X-Vectis-Auth %q, want password+totp", got)
	}

	// Recovery codes are shown once; an enrolled operator is not offered a new secret.
	if p := parsePage(t, c.navigate("/.vectis/enroll")); len(p.recovery) > 0 || len(p.otpauth) > 0 {
		t.Errorf("GET /.vectis/enroll after enrollment shows %d recovery codes and %d otpauth URIs, want none", len(p.recovery), len(p.otpauth))
	}

	// A cross-site POST without the CSRF token does not sign the operator out.
	h := navHeaders()
	h.Set("Origin", "http://evil.example")
	c.do(http.MethodPost, "/.vectis/logout", url.Values{}, h)
	if r := c.navigate(next); !g.reached(r) {
		t.Errorf("a cross-site POST /.vectis/logout without csrf ended the session (%d)", r.status)
	}

	old := c.cookie(e.session)
	signOut(t, c)
	if r := c.navigate(next); r.status != http.StatusSeeOther || g.reached(r) {
		t.Errorf("after sign-out, navigation to %s: %d, want 303 to the login page", next, r.status)
	}
	// The old cookie value is dead on the server, not just deleted from the browser.
	before := g.up.count()
	replayer := g.newClient()
	r := replayer.do(http.MethodGet, next, nil, http.Header{"Accept": {"application/json"}, "Cookie": {e.session + "=" + old}})
	if g.up.count() != before || r.status != http.StatusUnauthorized {
		t.Errorf("the signed-out session cookie: %d and %d upstream requests, want 401 and none", r.status, g.up.count()-before)
	}

	// A later sign-in with a fresh code (a later step than the enrollment's).
	code, step := laterCode(t, e.secret, e.step)
	signInWithCode(t, g, c, adminEmail, code, next)
	if got := g.up.last(t).Header.Get("X-Vectis-Email"); got != adminEmail {
		t.Errorf("X-Vectis-Email %q after the second sign-in", got)
	}

	// The same code again, in a fresh sign-in, while its step is still inside the ±1 window: refused.
	signOut(t, c)
	loc := passwordStep(t, c, adminEmail, next)
	if p, _ := url.Parse(loc); p.Path != "/.vectis/mfa" {
		t.Fatalf("after the password went to %q, want /.vectis/mfa", loc)
	}
	before = g.up.count()
	r = mfaStep(t, c, code)
	if stepNow() > step+1 {
		t.Fatalf("the replay check ran too late (step %d is outside the window now); the machine is too slow", step)
	}
	if r.status == http.StatusSeeOther && r.location(t, c.hostHeader()) == next {
		t.Errorf("the same TOTP code was accepted twice")
	}
	if r := c.navigate(next); g.reached(r) || g.up.count() != before {
		t.Errorf("after a replayed code, %s reached the upstream", next)
	}

	// Invariant 10: neither the TOTP secret nor any recovery code shows up in the log.
	log := g.log()
	if strings.Contains(log, e.secret) {
		t.Errorf("the gateway log contains the TOTP secret")
	}
	for _, rc := range e.codes {
		if strings.Contains(log, rc) {
			t.Errorf("the gateway log contains a recovery code")
			break
		}
	}
}

// forgedHeaders is what a hostile client sends, in every spelling an upstream might fold together.
func forgedHeaders() http.Header {
	h := navHeaders()
	h["X-Vectis-User-Id"] = []string{"forged-user"}
	h["x-vectis-tenant"] = []string{"other-tenant"}
	h["X_Vectis_Role"] = []string{"admin"}
	h["X-VECTIS-EMAIL"] = []string{"forged@evil.example"}
	h["X-Vectis-Auth"] = []string{"sso:forged", "password+totp"}
	h["X-Vectis-Assertion"] = []string{"forged.assertion.value"}
	h["X-Vectis-Debug"] = []string{"1"}
	h["X-Other"] = []string{"kept"}
	// Hop-by-hop by naming: a proxy deletes every header its Connection header lists, so a client listing the
	// identity headers would have Caddy's reverse_proxy remove the ones the gateway set (found by a trial).
	h["Connection"] = []string{"X-Vectis-Role, x-vectis-tenant", "X_Vectis_Assertion,X-Vectis-User-Id, X-Vectis-Email , X-Vectis-Auth, X-Other-Hop"}
	return h
}

// vectisHeaders returns every header the upstream saw whose name is X-Vectis-* in any case or with
// underscores.
func vectisHeaders(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, vs := range h {
		if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-vectis-") {
			out[k] = vs
		}
	}
	return out
}

// TestUpstreamGetsOnlyTheGatewaysIdentity: forged identity headers never arrive, the gateway's own
// cookie is stripped while the app's cookie is kept, and the signed assertion verifies against the JWKS.
func TestUpstreamGetsOnlyTheGatewaysIdentity(t *testing.T) {
	t.Parallel()
	g := startGateway(t, standardCaddyfile)

	for _, email := range []string{adminEmail, memberEmail} {
		t.Run(email, func(t *testing.T) {
			c := g.newClient()
			e := enroll(t, g, c, email, "/")
			c.jar.SetCookies(c.jarURL(), []*http.Cookie{{Name: "app", Value: "1"}})

			r := c.do(http.MethodGet, "/api/things?page=2", nil, forgedHeaders())
			if !g.reached(r) {
				t.Fatalf("a signed-in request with forged headers did not reach the upstream: %d\n%s", r.status, r.body)
			}
			seen := g.up.last(t)
			got := vectisHeaders(seen.Header)
			want := map[string]string{
				"X-Vectis-Email":  e.user.Email,
				"X-Vectis-Tenant": e.user.Tenant,
				"X-Vectis-Role":   e.user.Role,
				"X-Vectis-Auth":   "password+totp",
			}
			for _, k := range []string{"X-Vectis-User-Id", "X-Vectis-Email", "X-Vectis-Tenant", "X-Vectis-Role", "X-Vectis-Auth", "X-Vectis-Assertion"} {
				vs := got[k]
				delete(got, k)
				if len(vs) != 1 {
					t.Errorf("the upstream got %s %q, want exactly one value", k, vs)
					continue
				}
				if w, ok := want[k]; ok && vs[0] != w {
					t.Errorf("the upstream got %s %q, want %q", k, vs[0], w)
				}
			}
			if len(got) > 0 {
				t.Errorf("the upstream got client-supplied X-Vectis-* headers: %q", got)
			}
			userID := seen.Header.Get("X-Vectis-User-Id")
			if userID == "" || userID == "forged-user" {
				t.Errorf("X-Vectis-User-Id %q", userID)
			}
			if seen.Header.Get("X-Other") != "kept" {
				t.Errorf("an ordinary header was not passed on")
			}

			// The gateway's cookie never reaches the app; the app's own cookie does.
			cookies := (&http.Request{Header: http.Header{"Cookie": seen.Header.Values("Cookie")}}).Cookies()
			var app bool
			for _, ck := range cookies {
				if ck.Name == e.session {
					t.Errorf("the upstream received the gateway's session cookie %s", e.session)
				}
				app = app || (ck.Name == "app" && ck.Value == "1")
			}
			if !app {
				t.Errorf("the app's own cookie app=1 did not reach the upstream (Cookie: %q)", seen.Header.Values("Cookie"))
			}

			claims := verifyAssertion(t, g, seen.Header.Get("X-Vectis-Assertion"))
			checkClaims(t, claims, seen, userID, e.user)
		})
	}
}

// verifyAssertion checks the ES256 signature against /.vectis/jwks.json (fetched with no session)
// and returns the claims.
func verifyAssertion(t *testing.T, g *gw, token string) map[string]any {
	t.Helper()
	r := g.newClient().do(http.MethodGet, "/.vectis/jwks.json", nil, http.Header{"Accept": {"application/json"}})
	if r.status != http.StatusOK {
		t.Fatalf("GET /.vectis/jwks.json: %d\n%s", r.status, r.body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.body), &set); err != nil {
		t.Fatalf("/.vectis/jwks.json is not a JWK set: %v", err)
	}
	if len(set.Keys) == 0 {
		t.Fatal("/.vectis/jwks.json has no keys")
	}
	var keys []crypto.PublicKey
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("/.vectis/jwks.json publishes a private key (kid %q)", k.KeyID)
		}
		keys = append(keys, k.Key)
	}
	if _, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256}); err != nil {
		t.Fatalf("X-Vectis-Assertion is not an ES256 JWS: %v", err)
	}
	ks := &oidc.StaticKeySet{PublicKeys: keys}
	payload, err := ks.VerifySignature(context.Background(), token)
	if err != nil {
		t.Fatalf("X-Vectis-Assertion does not verify against /.vectis/jwks.json: %v", err)
	}
	// The check can fail: a token whose payload was altered must not verify.
	parts := strings.Split(token, ".")
	forged := map[string]any{}
	_ = json.Unmarshal(payload, &forged)
	forged["role"] = "owner"
	fb, _ := json.Marshal(forged)
	if _, err := ks.VerifySignature(context.Background(), parts[0]+"."+base64.RawURLEncoding.EncodeToString(fb)+"."+parts[2]); err == nil {
		t.Fatal("an altered assertion verified")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("assertion payload: %v", err)
	}
	return claims
}

func checkClaims(t *testing.T, claims map[string]any, seen seenRequest, userID string, u seedUser) {
	t.Helper()
	if iss, _ := claims["iss"].(string); iss == "" {
		t.Errorf("assertion has no iss: %v", claims)
	}
	host := seen.Host
	hostname := strings.Split(host, ":")[0]
	var auds []string
	switch a := claims["aud"].(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, v := range a {
			s, _ := v.(string)
			auds = append(auds, s)
		}
	}
	var audOK bool
	for _, a := range auds {
		audOK = audOK || a == host || a == hostname
	}
	if !audOK {
		t.Errorf("assertion aud %q, want the upstream host %q", auds, host)
	}
	for k, want := range map[string]string{"sub": userID, "tenant": u.Tenant, "role": u.Role} {
		if got, _ := claims[k].(string); got != want {
			t.Errorf("assertion %s %q, want %q", k, got, want)
		}
	}
	switch amr := claims["amr"].(type) {
	case string:
		if amr == "" {
			t.Errorf("assertion amr is empty")
		}
	case []any:
		if len(amr) == 0 {
			t.Errorf("assertion amr is empty")
		}
	default:
		t.Errorf("assertion amr %v missing", claims["amr"])
	}
	iat, ok1 := claims["iat"].(float64)
	exp, ok2 := claims["exp"].(float64)
	now := float64(time.Now().Unix())
	switch {
	case !ok1 || !ok2:
		t.Errorf("assertion iat %v exp %v, want numbers", claims["iat"], claims["exp"])
	case exp-iat > 300:
		t.Errorf("assertion lives %v s, want ≤ 300", exp-iat)
	case exp <= now || iat > now+5:
		t.Errorf("assertion iat %v exp %v, now %v", iat, exp, now)
	}
}

// TestPortalHostsPassThrough: portal traffic reaches the upstream with no sign-in, no redirect, no
// cookie, and with forged X-Vectis-* removed; look-alike hosts are operator hosts.
func TestPortalHostsPassThrough(t *testing.T) {
	t.Parallel()
	g := startGateway(t, standardCaddyfile)
	port := fmt.Sprint(g.port)

	for _, host := range []string{"portal.localhost", "PORTAL.LOCALHOST", "portal.localhost:" + port, "Portal.Localhost:80", "shop.portal.test", "SHOP.portal.test:" + port} {
		t.Run(host, func(t *testing.T) {
			c := g.clientFor(host)
			for _, req := range []struct {
				method string
				form   url.Values
			}{{http.MethodGet, nil}, {http.MethodPost, url.Values{"q": {"1"}}}} {
				before := g.up.count()
				r := c.do(req.method, "/shop/cart?id=7", req.form, forgedHeaders())
				if !g.reached(r) || g.up.count() != before+1 {
					t.Fatalf("%s on portal host %s: %d (Location %q), want the upstream's 200", req.method, host, r.status, r.header.Get("Location"))
				}
				if sc := r.header.Values("Set-Cookie"); len(sc) > 0 {
					t.Errorf("the gateway set cookies on portal traffic: %q", sc)
				}
				seen := g.up.last(t)
				if seen.Host != host || seen.URI != "/shop/cart?id=7" || seen.Method != req.method {
					t.Errorf("the upstream saw %s %s %s, want %s %s /shop/cart?id=7", seen.Method, seen.Host, seen.URI, req.method, host)
				}
				if got := vectisHeaders(seen.Header); len(got) > 0 {
					t.Errorf("portal request reached the upstream with X-Vectis-* headers: %q", got)
				}
				if seen.Header.Get("X-Other") != "kept" {
					t.Errorf("portal pass-through dropped an ordinary header")
				}
			}
		})
	}

	// Names that only look like portal hosts are operator hosts: sign-in required.
	for _, host := range []string{"portal.localhost.evil.test", "xportal.localhost", "portal.test", "a.shop.portal.test"} {
		t.Run("not-portal/"+host, func(t *testing.T) {
			before := g.up.count()
			r := g.clientFor(host).navigate("/shop/cart")
			if r.status != http.StatusSeeOther || g.up.count() != before {
				t.Errorf("host %s: %d and %d upstream requests, want 303 to the login page and none", host, r.status, g.up.count()-before)
			}
		})
	}
}

// TestPortalWorksWithoutTheStore: with the bolt file held by another process the operator host fails
// closed with 503, the portal keeps answering at once, and sign-in recovers when the file is free.
func TestPortalWorksWithoutTheStore(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "gateway.db")
	// bbolt takes an exclusive flock: while this handle is open the gateway cannot open the file.
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	locked := true
	t.Cleanup(func() {
		if locked {
			db.Close()
		}
	})
	g := startGatewayWith(t, strings.Replace(standardCaddyfile, `"{{.Dir}}/gateway.db"`, `"{{.DB}}"`, 1), map[string]any{"DB": dbPath})

	start := time.Now()
	r := g.clientFor("portal.localhost").do(http.MethodGet, "/", nil, forgedHeaders())
	if !g.reached(r) {
		t.Fatalf("portal request with the store unavailable: %d, want the upstream's 200\n%s", r.status, r.body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the portal request took %s with the store unavailable: it waited on the store", d)
	}
	if got := vectisHeaders(g.up.last(t).Header); len(got) > 0 {
		t.Errorf("portal request reached the upstream with X-Vectis-* headers: %q", got)
	}

	// Operator host: the password step needs the store → 503, never a pass-through, no internals shown.
	before := g.up.count()
	op := g.newClient()
	admin := demoUser(t, adminEmail)
	lr := op.navigate("/.vectis/login?next=%2F")
	switch lr.status {
	case http.StatusServiceUnavailable:
	case http.StatusOK:
		p := parsePage(t, lr)
		r := op.submit(p, p.formWith(t, "email"), url.Values{"email": {admin.Email}, "password": {admin.Password}})
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("POST /.vectis/login with the store unavailable: %d, want 503\n%s", r.status, r.body)
		}
		if strings.Contains(r.body, dbPath) || strings.Contains(strings.ToLower(r.body), "bolt") {
			t.Errorf("the 503 page shows internals:\n%s", r.body)
		}
	default:
		t.Errorf("GET /.vectis/login with the store unavailable: %d, want 200 or 503", lr.status)
	}
	if r := op.do(http.MethodGet, "/.vectis/healthz", nil, nil); r.status == http.StatusOK {
		t.Errorf("/.vectis/healthz says 200 while the store cannot be opened")
	}
	garbage := g.newClient()
	r = garbage.do(http.MethodGet, "/", nil, http.Header{"Accept": {"application/json"}, "Cookie": {"vectis_session=" + strings.Repeat("A", 43)}})
	if g.reached(r) || g.up.count() != before {
		t.Errorf("an operator request reached the upstream while the store was unavailable")
	}

	// The store comes back: sign-in works without restarting the gateway.
	db.Close()
	locked = false
	var last int
	if !waitFor(30*time.Second, func() bool {
		c := g.newClient()
		lr := c.navigate("/.vectis/login?next=%2F")
		if last = lr.status; lr.status != http.StatusOK {
			return false
		}
		p := parsePage(t, lr)
		r := c.submit(p, p.formWith(t, "email"), url.Values{"email": {admin.Email}, "password": {admin.Password}})
		last = r.status
		return r.status == http.StatusSeeOther
	}) {
		t.Errorf("30 s after the bolt file was released the password step still fails (%d)", last)
	}
}

// TestUnauthenticatedRequests: browser navigation is redirected to sign-in, everything else gets 401
// JSON, and nothing reaches the upstream.
func TestUnauthenticatedRequests(t *testing.T) {
	t.Parallel()
	g := startGateway(t, standardCaddyfile)
	c := g.newClient()

	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		form               url.Values
		wantNext           string // 303 to /.vectis/login?next=wantNext; "" means 401 JSON
	}{
		{"navigation", http.MethodGet, "/reports?x=1", navHeaders(), nil, "/reports?x=1"},
		{"navigation to root", http.MethodGet, "/", navHeaders(), nil, "/"},
		{"navigation with forged identity", http.MethodGet, "/admin", forgedHeaders(), nil, "/admin"},
		{"JSON API", http.MethodGet, "/api/v1/things", http.Header{"Accept": {"application/json"}}, nil, ""},
		{"fetch from a page", http.MethodGet, "/api/v1/things", http.Header{"Accept": {"*/*"}, "Sec-Fetch-Mode": {"cors"}}, nil, ""},
		{"form POST", http.MethodPost, "/things", navHeaders(), url.Values{"a": {"1"}}, ""},
		{"JSON POST", http.MethodPost, "/api/v1/things", http.Header{"Accept": {"application/json"}}, url.Values{}, ""},
		{"DELETE", http.MethodDelete, "/api/v1/things/1", http.Header{"Accept": {"application/json"}}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, tc.path, tc.form, tc.header)
			if tc.wantNext != "" {
				if r.status != http.StatusSeeOther {
					t.Fatalf("%d, want 303", r.status)
				}
				loc := r.location(t, c.hostHeader())
				if u, _ := url.Parse(loc); u.Path != "/.vectis/login" || loginNext(u) != tc.wantNext {
					t.Errorf("Location %q, want /.vectis/login?next=%s", loc, url.QueryEscape(tc.wantNext))
				}
			} else {
				if r.status != http.StatusUnauthorized {
					t.Fatalf("%d, want 401\n%s", r.status, r.body)
				}
				m, err := jsonBody(r)
				if err != nil {
					t.Fatalf("401 body: %v\n%s", err, r.body)
				}
				if m["error"] != "unauthenticated" {
					t.Errorf("error %v, want unauthenticated", m["error"])
				}
				if lu, _ := m["login_url"].(string); !strings.HasPrefix(lu, "/.vectis/login") && !strings.Contains(lu, "/.vectis/login") {
					t.Errorf("login_url %q", lu)
				}
			}
		})
	}
	if n := g.up.count(); n != 0 {
		t.Errorf("unauthenticated requests reached the upstream %d times", n)
	}
}

// TestBrokenSessionCookiesNeverReachUpstream: garbage, truncated and tampered cookie values are all
// denied, whatever kind of request carries them.
func TestBrokenSessionCookiesNeverReachUpstream(t *testing.T) {
	t.Parallel()
	g := startGateway(t, standardCaddyfile)
	e := enroll(t, g, g.newClient(), adminEmail, "/")
	name, v := e.session, e.c.cookie(e.session)

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct{ name, value string }{
		{"garbage", "garbage"},
		{"empty", ""},
		{"truncated to half", v[:len(v)/2]},
		{"last character cut", v[:len(v)-1]},
		{"one character appended", v + "A"},
		{"first character changed", flip(v, 0)},
		{"middle character changed", flip(v, len(v)/2)},
		{"last character changed", flip(v, len(v)-1)},
		{"same length, all zero", strings.Repeat("A", len(v))},
		{"very long", strings.Repeat("A", 4000)},
		{"percent-encoded junk", "%00%ff%22"},
		{"uppercased", strings.ToUpper(v)},
	} {
		if tc.value == v {
			continue // e.g. an all-uppercase value: not a broken cookie
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, h := range []http.Header{navHeaders(), {"Accept": {"application/json"}}} {
				before := g.up.count()
				h.Set("Cookie", name+"="+tc.value+"; app=1")
				r := g.newClient().do(http.MethodGet, "/", nil, h)
				if g.reached(r) || g.up.count() != before {
					t.Fatalf("a %s session cookie reached the upstream", tc.name)
				}
				if r.status != http.StatusSeeOther && r.status != http.StatusUnauthorized {
					t.Errorf("a %s session cookie: %d, want 303 or 401", tc.name, r.status)
				}
			}
		})
	}

	// The genuine cookie still works, so the refusals above were about the values.
	h := http.Header{"Accept": {"application/json"}, "Cookie": {name + "=" + v}}
	if r := g.newClient().do(http.MethodGet, "/", nil, h); !g.reached(r) {
		t.Errorf("the genuine session cookie was refused: %d", r.status)
	}
}

// TestExpiredSessionNeverReachesUpstream: a session past its idle and absolute limit (1 minute each
// here) is refused. It waits a real minute, in parallel with the other tests.
func TestExpiredSessionNeverReachesUpstream(t *testing.T) {
	t.Parallel()
	cf := strings.Replace(standardCaddyfile, "seed \"{{.Seed}}\"", "seed \"{{.Seed}}\"\n\t\tsession idle 1m absolute 1m", 1)
	g := startGateway(t, cf)
	e := enroll(t, g, g.newClient(), adminEmail, "/")
	signedIn := time.Now()
	v := e.c.cookie(e.session)

	time.Sleep(time.Until(signedIn.Add(65 * time.Second)))
	before := g.up.count()
	h := http.Header{"Accept": {"application/json"}, "Cookie": {e.session + "=" + v}}
	r := g.newClient().do(http.MethodGet, "/", nil, h)
	if g.reached(r) || g.up.count() != before {
		t.Fatalf("a session past its 1-minute limit reached the upstream")
	}
	if r.status != http.StatusUnauthorized {
		t.Errorf("an expired session cookie on an API request: %d, want 401", r.status)
	}
	if r := e.c.navigate("/"); r.status != http.StatusSeeOther {
		t.Errorf("an expired session on navigation: %d, want 303 to the login page", r.status)
	}
}

// TestEnrollmentSurvivesRestart: enrolled on one run, asked for a code (not re-enrolled) on the next.
// The config has no secret_key and no storage path, so it also covers the generated key and the
// default bolt file in Caddy's data directory.
func TestEnrollmentSurvivesRestart(t *testing.T) {
	t.Parallel()
	cf := regexp.MustCompile(`(?m)^\s*(storage|secret_key) .*\n`).ReplaceAllString(standardCaddyfile, "")
	g := startGateway(t, cf)
	g.key = "" // none configured

	e := enroll(t, g, g.newClient(), adminEmail, "/after-restart")
	if !strings.Contains(strings.ToLower(g.log()), "secret_key") {
		t.Errorf("no warning in the log about the generated secret_key")
	}

	g.restart()
	code, _ := laterCode(t, e.secret, e.step)
	signInWithCode(t, g, g.newClient(), adminEmail, code, "/after-restart")

	// The generated key (and anything else in Caddy's data directory) never shows up in the log.
	log := g.log()
	var files int
	err := filepath.WalkDir(g.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch d.Name() {
		case "instance.uuid", "last_clean.json":
			return nil // Caddy's own bookkeeping, which Caddy logs on purpose
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil || len(b) > 4096 {
			return err
		}
		for _, s := range []string{strings.TrimSpace(string(b)), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)} {
			if len(s) >= 16 && strings.Contains(log, s) {
				t.Errorf("the log contains the content of %s", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("reading Caddy's data directory: %v", err)
	}
	if files == 0 {
		t.Errorf("nothing in Caddy's data directory %s: where did the generated key and the store go?", g.dataDir)
	}
}

// TestDemoCaddyfile runs Caddyfile.example itself (ports moved to free ones) and signs in as the demo
// admin: the demo upstream echoes the identity the gateway vouched for, and the portal passes through.
func TestDemoCaddyfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(moduleRoot, "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	cf := string(b)
	for _, s := range []struct{ old, new string }{
		{"admin localhost:2019", "admin 127.0.0.1:{{.AdminPort}}"},
		{":8080", ":{{.Port}}"},
		{"127.0.0.1:8081", "127.0.0.1:{{.EchoPort}}"},
		{"http://:8081", "http://:{{.EchoPort}}"},
		{"seed demo/seed.json", `seed "{{.Seed}}"`},
	} {
		if !strings.Contains(cf, s.old) {
			t.Fatalf("Caddyfile.example no longer contains %q; update this test", s.old)
		}
		cf = strings.ReplaceAll(cf, s.old, s.new)
	}
	g := startGatewayWith(t, cf, map[string]any{"EchoPort": freePort(t)})
	g.key = ""
	g.marker = "Demo upstream"
	g.issuer = "Vectis Demo"
	host := fmt.Sprintf("localhost:%d", g.port)

	c := g.clientFor(host)
	e := enroll(t, g, c, adminEmail, "/")
	r := c.do(http.MethodGet, "/tickets", nil, forgedHeaders())
	if !g.reached(r) {
		t.Fatalf("the demo upstream was not reached: %d\n%s", r.status, r.body)
	}
	echoed := func(r *resp, name string) string {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:[ \t]*(.*)$`).FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("the demo upstream's page has no %s line:\n%s", name, r.body)
		}
		return strings.TrimSpace(m[1])
	}
	for k, want := range map[string]string{
		"X-Vectis-Email": adminEmail, "X-Vectis-Tenant": "acme", "X-Vectis-Role": "admin", "X-Vectis-Auth": "password+totp",
	} {
		if got := echoed(r, k); got != want {
			t.Errorf("the demo upstream shows %s %q, want %q", k, got, want)
		}
	}
	if echoed(r, "X-Vectis-User-Id") == "" || echoed(r, "X-Vectis-Assertion") == "" {
		t.Errorf("the demo upstream shows no user id or assertion:\n%s", r.body)
	}
	if strings.Contains(r.body, e.session+"=") {
		t.Errorf("the demo upstream received the gateway's session cookie:\n%s", r.body)
	}
	if _, err := os.Stat(filepath.Join(g.dir, "data", "gateway.db")); err != nil {
		t.Errorf("the demo's store is not at ./data/gateway.db: %v", err)
	}

	p := g.clientFor(fmt.Sprintf("portal.localhost:%d", g.port)).do(http.MethodGet, "/", nil, forgedHeaders())
	if !g.reached(p) {
		t.Fatalf("the demo portal host did not pass through: %d\n%s", p.status, p.body)
	}
	for _, k := range []string{"X-Vectis-User-Id", "X-Vectis-Email", "X-Vectis-Tenant", "X-Vectis-Role", "X-Vectis-Auth"} {
		if got := echoed(p, k); got != "" {
			t.Errorf("on the portal host the demo upstream shows %s %q, want nothing", k, got)
		}
	}
}
