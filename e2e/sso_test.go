package e2e

// SSO end to end: the real gateway process, with mockoidc as tenant acme's identity provider. An SSO
// operator reaches the upstream without a TOTP page; acme's break-glass admin still gets password + TOTP;
// a replayed state and a callback without the browser's attempt cookie never reach the token endpoint;
// and in Chromium the whole redirect chain (email form → IdP → callback) runs under the pages' CSP.

import (
	"context"
	"encoding/json"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
)

// ssoIdP is a mockoidc server on loopback that counts the requests reaching its token endpoint.
type ssoIdP struct {
	m      *mockoidc.MockOIDC
	tokens atomic.Int32
}

func startSSOIdP(t *testing.T) *ssoIdP {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &ssoIdP{m: m}
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.TokenEndpoint {
				p.tokens.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

// queue makes the IdP sign in this identity next (mockoidc signs in without asking anyone).
func (p *ssoIdP) queue(sub, email string) {
	p.m.QueueUser(&mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: true})
}

// The seed of these tests: acme signs in through the IdP and has a break-glass admin; beta does not.
var ssoUsers = map[string]seedUser{
	"alice": {Email: "alice@acme.example", Tenant: "acme", Role: "member", Password: "alice never uses this"},
	"root":  {Email: "root@acme.example", Tenant: "acme", Role: "admin", Password: "break glass 4 emergencies"},
	"ops":   {Email: "ops@beta.example", Tenant: "beta", Role: "admin", Password: "beta password 1"},
}

// startSSOGateway starts the gateway binary with a seed whose tenant acme uses p.
func startSSOGateway(t *testing.T, p *ssoIdP) *gw {
	t.Helper()
	seed := map[string]any{
		"tenants": []any{
			map[string]any{"id": "acme", "name": "Acme MSP", "break_glass": []string{ssoUsers["root"].Email},
				"sso": map[string]string{"provider": "oidc", "issuer": p.m.Issuer(), "client_id": p.m.ClientID,
					// mockoidc reads the client secret from the form body only.
					"client_secret": p.m.ClientSecret, "token_auth_method": "client_secret_post"}},
			map[string]any{"id": "beta", "name": "Beta IT"},
		},
		"users": []seedUser{ssoUsers["alice"], ssoUsers["root"], ssoUsers["ops"]},
	}
	b, err := json.Marshal(seed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sso-seed.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGatewayWith(t, standardCaddyfile, map[string]any{"Seed": path})
	t.Cleanup(func() {
		// Invariant 10: the IdP client secret is in the seed, never in the log.
		if strings.Contains(g.log(), p.m.ClientSecret) {
			t.Error("the gateway log contains the SSO client secret")
		}
	})
	return g
}

var metaRefreshRE = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]+)">`)

// ssoEmailStep submits the email on the login page (reached by navigating to next) and returns the IdP
// authorization URL of the page that moves on to the IdP.
func ssoEmailStep(t *testing.T, c *client, email, next string) string {
	t.Helper()
	r := c.navigate(next)
	loginURL := r.location(t, c.hostHeader())
	r = c.navigate(loginURL)
	p := parsePage(t, r)
	f := p.formWith(t, "email")
	if f.has("password") {
		t.Fatalf("the first login page asks for a password before knowing the account")
	}
	r = c.submit(p, f, url.Values{"email": {email}})
	if r.status != http.StatusOK {
		t.Fatalf("email step for %s: %d\n%s", email, r.status, r.body)
	}
	m := metaRefreshRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("email step for %s did not lead to the IdP:\n%s", email, r.body)
	}
	authURL := html.UnescapeString(m[1])
	if !strings.HasPrefix(authURL, p.url.Scheme+"://") && !strings.HasPrefix(authURL, "http://127.0.0.1:") {
		t.Fatalf("IdP URL %q", authURL)
	}
	return authURL
}

// idpRedirect follows the IdP's authorization URL and returns the callback path the IdP sends back to.
func idpRedirect(t *testing.T, g *gw, authURL string) string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || loc.Path != "/.vectis/sso/callback" || !strings.HasPrefix(g.base, "http://"+loc.Host) {
		t.Fatalf("the IdP answered %d with Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.RequestURI()
}

func TestSSOOperatorReachesUpstreamWithoutTOTP(t *testing.T) {
	p := startSSOIdP(t)
	g := startSSOGateway(t, p)
	c := g.newClient()
	const next = "/tickets/42?view=full"

	p.queue("okta-00u1alice", ssoUsers["alice"].Email)
	authURL := ssoEmailStep(t, c, ssoUsers["alice"].Email, next)
	q := mustQuery(t, authURL)
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 22 { // 22 base64url characters are 128 bits
			t.Errorf("authorization request %s=%q is shorter than 128 bits", k, q.Get(k))
		}
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("client_id") != p.m.ClientID {
		t.Errorf("authorization request %s", authURL)
	}
	callback := idpRedirect(t, g, authURL)
	r := c.navigate(callback)
	if r.status != http.StatusSeeOther {
		t.Fatalf("callback: %d\n%s", r.status, r.body)
	}
	if loc := r.location(t, c.hostHeader()); loc != next {
		t.Fatalf("after the callback went to %q, want %q (no TOTP page)", loc, next)
	}
	landed := c.navigate(next)
	if !g.reached(landed) {
		t.Fatalf("%s did not reach the upstream: %d\n%s", next, landed.status, landed.body)
	}
	seen := g.up.last(t)
	want := map[string]string{"X-Vectis-Email": "alice@acme.example", "X-Vectis-Tenant": "acme", "X-Vectis-Role": "member", "X-Vectis-Auth": "sso:oidc"}
	for h, v := range want {
		if got := seen.Header.Get(h); got != v {
			t.Errorf("upstream %s = %q, want %q", h, got, v)
		}
	}
	if seen.Header.Get("X-Vectis-User-Id") == "" {
		t.Error("upstream got no X-Vectis-User-Id")
	}
	claims := verifyAssertion(t, g, seen.Header.Get("X-Vectis-Assertion"))
	if amr, _ := json.Marshal(claims["amr"]); string(amr) != `["fed"]` || claims["sub"] != seen.Header.Get("X-Vectis-User-Id") {
		t.Errorf("assertion claims %v", claims)
	}
	if n := p.tokens.Load(); n != 1 {
		t.Errorf("%d token requests for one sign-in", n)
	}
	// No per-attempt cookie is left behind, and none reaches the upstream.
	for _, ck := range c.cookies() {
		if strings.HasPrefix(ck.Name, "vectis_sso_") {
			t.Errorf("attempt cookie %s still set after the callback", ck.Name)
		}
	}
	if strings.Contains(strings.Join(seen.Header.Values("Cookie"), ";"), "vectis_") {
		t.Errorf("the upstream received gateway cookies: %q", seen.Header.Values("Cookie"))
	}
	// Password sign-in is refused for the SSO operator, with a way to the IdP.
	other := g.newClient()
	r = other.navigate("/.vectis/login")
	pg := parsePage(t, r)
	r = other.submit(pg, pg.formWith(t, "email"), url.Values{"email": {ssoUsers["alice"].Email}, "password": {ssoUsers["alice"].Password}})
	if r.status != http.StatusForbidden || !strings.Contains(parsePage(t, r).text, "company account") || other.cookie("vectis_session") != "" {
		t.Errorf("password sign-in of an SSO operator: %d\n%s", r.status, r.body)
	}
}

func TestSSOBreakGlassAdminGetsPasswordAndTOTP(t *testing.T) {
	p := startSSOIdP(t)
	g := startSSOGateway(t, p)
	c := g.newClient()
	root := ssoUsers["root"]

	// The email step asks the break-glass admin for a password (the tenant has SSO on).
	r := c.navigate("/.vectis/login")
	pg := parsePage(t, r)
	r = c.submit(pg, pg.formWith(t, "email"), url.Values{"email": {root.Email}})
	if r.status != http.StatusOK || metaRefreshRE.MatchString(r.body) {
		t.Fatalf("email step of the break-glass admin: %d\n%s", r.status, r.body)
	}
	pg = parsePage(t, r)
	r = c.submit(pg, pg.formWith(t, "password"), url.Values{"password": {root.Password}})
	if r.status != http.StatusSeeOther || r.location(t, c.hostHeader()) != "/.vectis/enroll" {
		t.Fatalf("password of the break-glass admin: %d, want 303 to enrollment\n%s", r.status, r.body)
	}
	r = c.navigate("/.vectis/enroll")
	pg = parsePage(t, r)
	if len(pg.otpauth) != 1 {
		t.Fatalf("enrollment page: %d otpauth URIs\n%s", len(pg.otpauth), r.body)
	}
	secret := checkOTPAuthURI(t, pg.otpauth[0], g.issuer, root.Email)
	code, _ := totpNow(t, secret, 0)
	r = c.submit(pg, pg.formWith(t, "code"), url.Values{"code": {code}})
	if r.status != http.StatusOK || len(parsePage(t, r).recovery) != 10 {
		t.Fatalf("enrollment code: %d\n%s", r.status, r.body)
	}
	landed := c.navigate("/admin")
	if !g.reached(landed) {
		t.Fatalf("the break-glass admin did not reach the upstream: %d", landed.status)
	}
	if got := g.up.last(t).Header.Get("X-Vectis-Auth"); got != "password+totp" {
		t.Errorf("break-glass X-Vectis-Auth %q, want password+totp", got)
	}
	if p.tokens.Load() != 0 {
		t.Error("the break-glass sign-in touched the IdP")
	}
	if !waitFor(5*time.Second, func() bool {
		return regexp.MustCompile(`(?i)"level":"warn"[^\n]*breakglass\.signin|WARN[^\n]*breakglass\.signin`).MatchString(g.log())
	}) {
		t.Errorf("no WARN line for the break-glass sign-in in the gateway log")
	}
}

func TestSSOReplayedStateAndForeignBrowserNeverReachTheIdP(t *testing.T) {
	p := startSSOIdP(t)
	g := startSSOGateway(t, p)

	// A callback carried into another browser (no attempt cookie there): refused, attempt spent.
	attacker, victim := g.newClient(), g.newClient()
	p.queue("mallory", "alice@acme.example")
	stolen := idpRedirect(t, g, ssoEmailStep(t, attacker, ssoUsers["alice"].Email, "/x"))
	r := victim.navigate(stolen)
	if r.status != http.StatusBadRequest || victim.cookie("vectis_session") != "" {
		t.Fatalf("callback without the browser's attempt cookie: %d\n%s", r.status, r.body)
	}
	if r := attacker.navigate(stolen); r.status != http.StatusBadRequest {
		t.Fatalf("the spent attempt in its own browser: %d", r.status)
	}
	if n := p.tokens.Load(); n != 0 {
		t.Fatalf("a refused callback reached the token endpoint (%d requests)", n)
	}

	// A state used once is refused the second time, before any exchange.
	c := g.newClient()
	p.queue("okta-00u1alice", ssoUsers["alice"].Email)
	callback := idpRedirect(t, g, ssoEmailStep(t, c, ssoUsers["alice"].Email, "/x"))
	if r := c.navigate(callback); r.status != http.StatusSeeOther {
		t.Fatalf("first callback: %d\n%s", r.status, r.body)
	}
	if n := p.tokens.Load(); n != 1 {
		t.Fatalf("%d token requests after one sign-in", n)
	}
	for i := range 2 {
		if r := c.navigate(callback); r.status != http.StatusBadRequest {
			t.Fatalf("replay %d of the callback: %d", i+1, r.status)
		}
	}
	fresh := g.newClient()
	if r := fresh.navigate(callback); r.status != http.StatusBadRequest {
		t.Fatalf("replay of the callback in a fresh browser: %d", r.status)
	}
	if n := p.tokens.Load(); n != 1 {
		t.Fatalf("replayed states reached the token endpoint (%d requests, want 1)", n)
	}
	if !strings.Contains(g.log(), "no matching attempt cookie") || !strings.Contains(g.log(), "already used state") {
		t.Error("the refusals are not in the gateway log")
	}
}

// In Chromium, the email form's submission leads on to the IdP and back: the gateway pages' CSP
// (form-action 'self') must not block the hand-off, which a 303 from the form to the IdP would be.
func TestSSOInChromium(t *testing.T) {
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Fatal("no Chromium installed (scripts/test installs it)")
	}
	p := startSSOIdP(t)
	g := startSSOGateway(t, p)
	p.queue("okta-00u1alice", ssoUsers["alice"].Email)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	// The first Run starts the browser: no timeout on this context (it would end the browser with it).
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	const next = "/tickets/7"
	if err := chromedp.Do(ctx, chromedp.Navigate(g.base+next)); err != nil {
		t.Fatalf("opening %s: %v", next, err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), ssoUsers["alice"].Email+"\r")); err != nil {
		t.Fatalf("typing the email: %v", err)
	}
	var loc, body string
	ok := waitFor(20*time.Second, func() bool {
		loc, _ = chromedp.Run(tctx, chromedp.Location())
		body, _ = chromedp.Run(tctx, chromedp.Text(chromedp.CSS("body")))
		return loc == g.base+next && strings.HasPrefix(strings.TrimSpace(body), upstreamMarker)
	})
	if !ok {
		t.Fatalf("Chromium ended at %s, not the upstream's %s:\n%.500s", loc, next, body)
	}
	if got := g.up.last(t).Header.Get("X-Vectis-Auth"); got != "sso:oidc" {
		t.Errorf("X-Vectis-Auth %q, want sso:oidc", got)
	}
	if n := p.tokens.Load(); n != 1 {
		t.Errorf("%d token requests", n)
	}
}
