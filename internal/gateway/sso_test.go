package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/vectis/mfa-gateway/config"
	"github.com/vectis/mfa-gateway/internal/admin"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/sso"
)

// idp is a mockoidc server on loopback with a count of the codes brought to its token endpoint.
type idp struct {
	m          *mockoidc.MockOIDC
	tokenCalls atomic.Int32
}

func startIdP(t *testing.T) *idp {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{m: m}
	_ = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.TokenEndpoint {
				p.tokenCalls.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
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

// user queues the identity the IdP signs in next.
func (p *idp) user(sub, email string, verified bool) {
	p.m.QueueUser(&mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: verified, PreferredUsername: email})
}

// ssoEnv is a gateway whose tenant "acme" signs in through the mock IdP; root@acme is its break-glass
// admin, and "beta" has no SSO.
func ssoEnv(t *testing.T, extra map[string]string) (*env, *idp) {
	t.Helper()
	p := startIdP(t)
	ssoObj := map[string]string{"provider": "oidc", "issuer": p.m.Issuer(), "client_id": p.m.ClientID,
		"client_secret": p.m.ClientSecret, "token_auth_method": "client_secret_post"}
	for k, v := range extra {
		ssoObj[k] = v
	}
	seed := map[string]any{
		"tenants": []any{
			map[string]any{"id": "acme", "name": "Acme MSP", "break_glass": []string{"root@acme.example"}, "sso": ssoObj},
			map[string]any{"id": "beta", "name": "Beta IT"},
		},
		"users": []any{
			map[string]string{"email": "root@acme.example", "tenant": "acme", "role": "admin", "password": "root password 1"},
			map[string]string{"email": "alice@acme.example", "tenant": "acme", "role": "admin", "password": "alice password 1"},
			map[string]string{"email": "bob@acme.example", "tenant": "acme", "role": "member", "password": "bob password 1"},
			map[string]string{"email": "ops@beta.example", "tenant": "beta", "role": "admin", "password": "beta password 1"},
		},
	}
	b, _ := json.Marshal(seed)
	path := filepath.Join(t.TempDir(), "sso-seed.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *config.Config) { c.Seed = path })
	// The IdP signs with the wall clock; the gateway's clock must agree for exp and iat.
	e.clk.mu.Lock()
	e.clk.t = time.Now()
	e.clk.mu.Unlock()
	return e, p
}

var ssoLinkRE = regexp.MustCompile(`href="([^"]+)" data-sso-redirect`)

// startSSO submits the email step and returns the IdP URL of the page that moves on to the IdP.
func (b *browser) startSSO(form url.Values, next string) string {
	b.e.t.Helper()
	path := "/.vectis/login"
	if next != "" {
		path += "?next=" + url.QueryEscape(next)
	}
	r := b.post(path, form)
	m := ssoLinkRE.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		b.e.t.Fatalf("email step: %d, no IdP link\n%.600s", r.status, r.body)
	}
	u := htmlUnescape(m[1])
	if !strings.Contains(r.body, `http-equiv="refresh" content="0;url=`) {
		b.e.t.Errorf("the SSO page does not move on by itself:\n%s", r.body)
	}
	return u
}

// atIdP follows the IdP's authorization URL (mockoidc signs in the queued user at once) and returns the
// callback path+query it redirects back to.
func atIdP(t *testing.T, authURL string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || loc.Path != "/.vectis/sso/callback" {
		t.Fatalf("IdP answered %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.RequestURI()
}

func TestSSOSignInReachesUpstreamWithoutTOTP(t *testing.T) {
	e, p := ssoEnv(t, nil)
	b := e.browser()
	p.user("sub-alice", "alice@acme.example", true)
	authURL := b.startSSO(url.Values{"email": {"Alice@Acme.example"}}, "/tickets/7?tab=notes")
	au, _ := url.Parse(authURL)
	q := au.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" ||
		!strings.HasPrefix(q.Get("state"), "acme.") || q.Get("login_hint") != "alice@acme.example" {
		t.Fatalf("authorization request %s", authURL)
	}
	r := b.do("GET", atIdP(t, authURL), nil)
	if r.status != http.StatusSeeOther || r.loc != "/tickets/7?tab=notes" {
		t.Fatalf("callback: %d %q\n%.400s", r.status, r.loc, r.body)
	}
	r = b.do("GET", "/tickets/7?tab=notes", nil)
	up := e.up.last()
	if r.status != http.StatusOK || up == nil {
		t.Fatalf("after SSO sign-in: %d %.300s", r.status, r.body)
	}
	if up.Header.Get("X-Vectis-Auth") != "sso:oidc" || up.Header.Get("X-Vectis-Email") != "alice@acme.example" ||
		up.Header.Get("X-Vectis-Tenant") != "acme" || up.Header.Get("X-Vectis-Role") != "admin" {
		t.Fatalf("identity headers %v", up.Header)
	}
	// The first sign-in linked the IdP identity; the next one uses the link, whatever the email says now.
	op, err := e.st.OperatorByEmail(context.Background(), "alice@acme.example")
	if err != nil || op.SSOKey != p.m.Issuer()+"|sub-alice" {
		t.Fatalf("operator after first SSO sign-in: %+v, %v", op, err)
	}
	b2 := e.browser()
	p.user("sub-alice", "alice.renamed@acme.example", false)
	r = b2.do("GET", atIdP(t, b2.startSSO(url.Values{"email": {"alice@acme.example"}}, "")), nil)
	if r.status != http.StatusSeeOther || r.loc != "/" {
		t.Fatalf("second sign-in (linked): %d %q\n%.400s", r.status, r.loc, r.body)
	}
	if n := p.tokenCalls.Load(); n != 2 {
		t.Fatalf("%d token exchanges for two sign-ins", n)
	}
}

func TestSSOReplayedStateRefusedBeforeExchange(t *testing.T) {
	e, p := ssoEnv(t, nil)
	b := e.browser()
	p.user("sub-alice", "alice@acme.example", true)
	callback := atIdP(t, b.startSSO(url.Values{"email": {"alice@acme.example"}}, ""))
	if r := b.do("GET", callback, nil); r.status != http.StatusSeeOther {
		t.Fatalf("callback: %d %.300s", r.status, r.body)
	}
	calls := p.tokenCalls.Load()
	for i := range 2 {
		r := b.do("GET", callback, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "expired") {
			t.Fatalf("replay %d: %d %.300s", i, r.status, r.body)
		}
	}
	if n := p.tokenCalls.Load(); n != calls {
		t.Fatalf("a replayed state reached the token endpoint (%d → %d calls)", calls, n)
	}
}

func TestSSOCallbackWithoutTheBrowsersCookieRefusedBeforeExchange(t *testing.T) {
	e, p := ssoEnv(t, nil)
	victim, attacker := e.browser(), e.browser()
	p.user("sub-mallory", "alice@acme.example", true)
	// The attacker starts a sign-in and carries the callback URL into the victim's browser.
	callback := atIdP(t, attacker.startSSO(url.Values{"email": {"alice@acme.example"}}, ""))
	r := victim.do("GET", callback, nil)
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "another browser") {
		t.Fatalf("callback in another browser: %d %.300s", r.status, r.body)
	}
	if victim.sessionCookie() != "" {
		t.Fatal("the victim's browser got a session")
	}
	// The attempt is spent: not even the browser that started it can use it now.
	if r := attacker.do("GET", callback, nil); r.status != http.StatusBadRequest {
		t.Fatalf("the spent attempt: %d", r.status)
	}
	if n := p.tokenCalls.Load(); n != 0 {
		t.Fatalf("the token endpoint was called %d times", n)
	}
	if !strings.Contains(logsOf(t), "no matching attempt cookie") {
		t.Error("the refusal is not logged")
	}
}

func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

func TestSSOParallelSignInsInOneBrowser(t *testing.T) {
	e, p := ssoEnv(t, nil)
	b := e.browser()
	first := b.startSSO(url.Values{"email": {"alice@acme.example"}}, "/first")
	second := b.startSSO(url.Values{"email": {"bob@acme.example"}}, "/second")
	u, _ := url.Parse(e.srv.URL)
	n := 0
	for _, c := range b.c.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, ssoCookiePrefix) {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d attempt cookies for two sign-ins", n)
	}
	// Finished in the other order: each callback finds its own attempt cookie.
	p.user("sub-bob", "bob@acme.example", true)
	if r := b.do("GET", atIdP(t, second), nil); r.status != http.StatusSeeOther || r.loc != "/second" {
		t.Fatalf("second sign-in: %d %q %.300s", r.status, r.loc, r.body)
	}
	p.user("sub-alice", "alice@acme.example", true)
	if r := b.do("GET", atIdP(t, first), nil); r.status != http.StatusSeeOther || r.loc != "/first" {
		t.Fatalf("first sign-in: %d %q %.300s", r.status, r.loc, r.body)
	}
	b.do("GET", "/x", nil)
	if got := e.up.last().Header.Get("X-Vectis-Email"); got != "alice@acme.example" {
		t.Fatalf("signed in as %q, want the last finished sign-in", got)
	}
}

func TestSSOOperatorPasswordRefused(t *testing.T) {
	e, _ := ssoEnv(t, nil)
	b := e.browser()
	r := b.post("/.vectis/login?next=/x", url.Values{"email": {"alice@acme.example"}, "password": {"alice password 1"}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "Sign in with your company account") ||
		!strings.Contains(r.body, `name="email" value="alice@acme.example"`) {
		t.Fatalf("password sign-in of an SSO operator: %d %.600s", r.status, r.body)
	}
	if b.sessionCookie() != "" || e.up.count() != 0 {
		t.Fatal("a password sign-in of an SSO operator made a session")
	}
	// The page's button is the email step, which leads to the IdP.
	if !strings.Contains(b.startSSO(url.Values{"email": {"alice@acme.example"}}, ""), "/oidc/authorize") {
		t.Fatal("the page does not lead to the IdP")
	}
	// A wrong password gets the same page: a password is not how this account signs in.
	if r := b.post("/.vectis/login", url.Values{"email": {"alice@acme.example"}, "password": {"wrong"}}); r.status != http.StatusForbidden {
		t.Fatalf("wrong password of an SSO operator: %d", r.status)
	}
}

func TestBreakGlassAdminUsesPasswordAndTOTP(t *testing.T) {
	e, p := ssoEnv(t, nil)
	b := e.browser()
	// The email step asks a break-glass admin for the password, never sends them to the IdP.
	r := b.post("/.vectis/login", url.Values{"email": {"root@acme.example"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="password"`) || strings.Contains(r.body, "data-sso-redirect") {
		t.Fatalf("email step of a break-glass admin: %d %.500s", r.status, r.body)
	}
	secret, _ := b.enroll("root@acme.example", "root password 1", "/")
	e.clk.Add(30 * time.Second)
	if r := b.signIn("root@acme.example", "root password 1", secret); r.status != http.StatusSeeOther {
		t.Fatalf("break-glass sign-in: %d", r.status)
	}
	b.do("GET", "/x", nil)
	if got := e.up.last().Header.Get("X-Vectis-Auth"); got != "password+totp" {
		t.Fatalf("break-glass admin X-Vectis-Auth %q", got)
	}
	if !regexp.MustCompile(`level=WARN msg=audit event=breakglass.signin tenant=acme`).MatchString(logsOf(t)) {
		t.Errorf("no WARN line for the break-glass sign-in:\n%s", logsOf(t))
	}
	// Nor may the IdP sign in as a break-glass account (its verified email is root's).
	b2 := e.browser()
	p.user("sub-root", "root@acme.example", true)
	r = b2.do("GET", atIdP(t, b2.startSSO(url.Values{"tenant": {"acme"}}, "")), nil)
	if r.status != http.StatusForbidden || b2.sessionCookie() != "" {
		t.Fatalf("SSO as the break-glass admin: %d %.300s", r.status, r.body)
	}
}

func TestSSOFirstLinkNeedsAVerifiedEmailOfThisTenant(t *testing.T) {
	cases := []struct {
		name          string
		sub, email    string
		verified      bool
		wantInPage    string
		wantNotLinked string
	}{
		{"unverified email", "sub-1", "bob@acme.example", false, "did not confirm", "bob@acme.example"},
		{"no email, only preferred_username", "sub-2", "", false, "Ask your administrator", "bob@acme.example"},
		{"verified email of another tenant's operator", "sub-3", "ops@beta.example", true, "Ask your administrator", "ops@beta.example"},
		{"verified email of nobody (no jit)", "sub-4", "carol@acme.example", true, "Ask your administrator", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, p := ssoEnv(t, nil)
			b := e.browser()
			p.m.QueueUser(&mockoidc.MockUser{Subject: c.sub, Email: c.email, EmailVerified: c.verified, PreferredUsername: "bob@acme.example"})
			r := b.do("GET", atIdP(t, b.startSSO(url.Values{"email": {"bob@acme.example"}}, "")), nil)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, c.wantInPage) || b.sessionCookie() != "" {
				t.Fatalf("%d %.500s", r.status, r.body)
			}
			if c.wantNotLinked != "" {
				if op, _ := e.st.OperatorByEmail(context.Background(), c.wantNotLinked); op.SSOKey != "" {
					t.Fatalf("%s was linked to %q", c.wantNotLinked, op.SSOKey)
				}
			}
			if _, err := e.st.OperatorByEmail(context.Background(), "carol@acme.example"); err == nil {
				t.Fatal("an operator was created without jit")
			}
		})
	}
}

func TestSSOJustInTimeCreation(t *testing.T) {
	e, p := ssoEnv(t, map[string]string{"jit": "true"})
	b := e.browser()
	// The workspace's company-account button needs no email.
	page := b.do("GET", "/.vectis/login?tenant=acme", nil)
	if !strings.Contains(page.body, `name="tenant" value="acme"`) {
		t.Fatalf("no company-account button:\n%s", page.body)
	}
	p.user("sub-carol", "carol@acme.example", true)
	if r := b.do("GET", atIdP(t, b.startSSO(url.Values{"tenant": {"acme"}}, "")), nil); r.status != http.StatusSeeOther {
		t.Fatalf("JIT sign-in: %d %.400s", r.status, r.body)
	}
	b.do("GET", "/x", nil)
	h := e.up.last().Header
	if h.Get("X-Vectis-Email") != "carol@acme.example" || h.Get("X-Vectis-Role") != "member" || h.Get("X-Vectis-Auth") != "sso:oidc" {
		t.Fatalf("JIT operator headers %v", h)
	}
	op, err := e.st.OperatorByEmail(context.Background(), "carol@acme.example")
	if err != nil || op.TenantID != "acme" || op.Role != directory.RoleMember || op.PasswordHash != "" || op.SSOKey == "" {
		t.Fatalf("JIT operator %+v, %v", op, err)
	}
	// Even with jit, an unverified email creates nobody.
	b2 := e.browser()
	p.user("sub-dave", "dave@acme.example", false)
	if r := b2.do("GET", atIdP(t, b2.startSSO(url.Values{"tenant": {"acme"}}, "")), nil); r.status != http.StatusForbidden {
		t.Fatalf("JIT with an unverified email: %d", r.status)
	}
	if _, err := e.st.OperatorByEmail(context.Background(), "dave@acme.example"); err == nil {
		t.Fatal("an operator was created from an unverified email")
	}
}

// Tenant settings are read at every sign-in: a change applies to the next request, and an attempt started
// under the old settings is not finished under the new ones.
func TestSSOSettingsChangeTakesEffectAtOnce(t *testing.T) {
	e, p := ssoEnv(t, nil)
	ctx := context.Background()
	b := e.browser()
	p.user("sub-alice", "alice@acme.example", true)
	pending := atIdP(t, b.startSSO(url.Values{"email": {"alice@acme.example"}}, ""))

	tenant, err := e.st.GetTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	tenant.SSO.Enabled = false
	if err := e.st.PutTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	if r := b.do("GET", pending, nil); r.status != http.StatusForbidden || !strings.Contains(r.body, "switched off") {
		t.Fatalf("callback after SSO was switched off: %d %.300s", r.status, r.body)
	}
	r := b.post("/.vectis/login", url.Values{"email": {"alice@acme.example"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="password"`) {
		t.Fatalf("email step with SSO off: %d", r.status)
	}

	// On again; an attempt starts under these settings.
	tenant.SSO.Enabled = true
	if err := e.st.PutTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	p.user("sub-alice", "alice@acme.example", true)
	old := atIdP(t, b.startSSO(url.Values{"email": {"alice@acme.example"}}, ""))

	// The secret sealed to the tenant (as the admin CLI stores it) works; then another client id makes
	// the attempt started under the old one fail.
	sealed, err := e.g.keys.Seal(e.g.rand, []byte(p.m.ClientSecret), sso.SecretAAD("acme"))
	if err != nil {
		t.Fatal(err)
	}
	tenant.SSO.ClientSecretSealed = sealed
	if err := e.st.PutTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	p.user("sub-alice", "alice@acme.example", true)
	if r := b.do("GET", atIdP(t, b.startSSO(url.Values{"email": {"alice@acme.example"}}, "")), nil); r.status != http.StatusSeeOther {
		t.Fatalf("sign-in with the tenant-sealed secret: %d %.300s", r.status, r.body)
	}
	tenant.SSO.ClientID = "another-client"
	if err := e.st.PutTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	calls := p.tokenCalls.Load()
	if r := b.do("GET", old, nil); r.status != http.StatusForbidden {
		t.Fatalf("attempt of the old settings: %d %.300s", r.status, r.body)
	}
	if p.tokenCalls.Load() != calls {
		t.Fatal("an attempt of the old settings reached the token endpoint")
	}
	// A secret sealed for another tenant does not open for this one.
	other, _ := e.g.keys.Seal(e.g.rand, []byte(p.m.ClientSecret), sso.SecretAAD("beta"))
	tenant.SSO.ClientID, tenant.SSO.ClientSecretSealed = p.m.ClientID, other
	if err := e.st.PutTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	if r := b.post("/.vectis/login", url.Values{"email": {"alice@acme.example"}}); r.status != http.StatusInternalServerError ||
		!strings.Contains(r.body, "not set up correctly") {
		t.Fatalf("tenant with another tenant's sealed secret: %d %.300s", r.status, r.body)
	}
}

func TestSSOCallbackRefusals(t *testing.T) {
	e, p := ssoEnv(t, nil)
	b := e.browser()
	for name, path := range map[string]string{
		"no state":        "/.vectis/sso/callback?code=x",
		"malformed state": "/.vectis/sso/callback?code=x&state=acme.short",
		"unknown state":   "/.vectis/sso/callback?code=x&state=acme." + strings.Repeat("A", 43),
	} {
		if r := b.do("GET", path, nil); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d", name, r.status)
		}
	}
	for _, m := range []string{"POST", "HEAD"} {
		if r := b.do(m, "/.vectis/sso/callback", url.Values{}); r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s callback: %d", m, r.status)
		}
	}
	// The tenant part of the state only routes: another tenant's name finds nothing.
	p.user("sub-alice", "alice@acme.example", true)
	cb := atIdP(t, b.startSSO(url.Values{"email": {"alice@acme.example"}}, ""))
	u, _ := url.Parse(cb)
	q := u.Query()
	q.Set("state", "beta."+strings.TrimPrefix(q.Get("state"), "acme."))
	if r := b.do("GET", u.Path+"?"+q.Encode(), nil); r.status != http.StatusBadRequest {
		t.Fatalf("state with another tenant's name: %d", r.status)
	}
	// The IdP's error answer ends the attempt with a page, and no exchange.
	q = u.Query()
	q.Del("code")
	q.Set("error", "access_denied")
	cb2 := atIdP(t, b.startSSO(url.Values{"email": {"alice@acme.example"}}, ""))
	u2, _ := url.Parse(cb2)
	q.Set("state", u2.Query().Get("state"))
	if r := b.do("GET", u2.Path+"?"+q.Encode(), nil); r.status != http.StatusForbidden || !strings.Contains(r.body, "did not sign you in") {
		t.Fatalf("IdP error: %d %.300s", r.status, r.body)
	}
	if n := p.tokenCalls.Load(); n != 0 {
		t.Fatalf("%d token exchanges", n)
	}
	// An expired attempt (the gateway's clock) is refused before the exchange.
	cb3 := atIdP(t, b.startSSO(url.Values{"email": {"alice@acme.example"}}, ""))
	e.clk.Add(sso.AttemptLife + time.Second)
	if r := b.do("GET", cb3, nil); r.status != http.StatusForbidden || p.tokenCalls.Load() != 0 {
		t.Fatalf("expired attempt: %d, %d exchanges", r.status, p.tokenCalls.Load())
	}
}

func TestLoginEmailStep(t *testing.T) {
	e, _ := ssoEnv(t, nil)
	b := e.browser()
	page := b.do("GET", "/.vectis/login", nil)
	if strings.Contains(page.body, `name="password"`) || !strings.Contains(page.body, `name="email"`) {
		t.Fatalf("first login page:\n%s", page.body)
	}
	// Unknown, password-only and disabled accounts all get the password field, alike.
	for _, email := range []string{"nobody@acme.example", "ops@beta.example"} {
		r := b.post("/.vectis/login", url.Values{"email": {email}})
		if r.status != http.StatusOK || !strings.Contains(r.body, `name="password"`) || !strings.Contains(r.body, fmt.Sprintf(`value="%s"`, email)) {
			t.Fatalf("email step for %s: %d %.400s", email, r.status, r.body)
		}
	}
	if r := b.post("/.vectis/login", url.Values{"email": {""}}); r.status != http.StatusBadRequest {
		t.Fatalf("empty email step: %d", r.status)
	}
	if r := b.post("/.vectis/login", url.Values{"tenant": {"beta"}}); r.status != http.StatusNotFound {
		t.Fatalf("company-account button of a tenant without SSO: %d", r.status)
	}
	// One POST with both fields is the classic form, and still signs a password operator in.
	r := b.post("/.vectis/login", url.Values{"email": {"ops@beta.example"}, "password": {"beta password 1"}})
	if r.status != http.StatusSeeOther || r.loc != "/.vectis/enroll" {
		t.Fatalf("one-POST sign-in: %d %q", r.status, r.loc)
	}
}

// A session stays valid only while the way it was signed in is still how its operator signs in: turning SSO
// on ends password sessions (break-glass admins keep theirs), taking an admin off the break-glass list ends
// theirs, and turning SSO off ends the sessions the IdP vouched for. At once through this gateway; on another
// replica within sessionCacheTTL + tenantCacheTTL.
func TestSessionsFollowTheTenantsSignInMethod(t *testing.T) {
	e, p := ssoEnv(t, nil)
	ctx := context.Background()
	ops, err := e.g.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cli := admin.Actor{Kind: "cli", Email: "ops@vectis.example"}
	passes := func(b *browser) bool { return b.do("GET", "/x", nil).status == http.StatusOK }

	// Replica 2: its own caches over the same store and clock.
	replica2 := e.replica(t)
	passes2 := func(b *browser) bool { return replica2(b) == http.StatusOK }

	// With SSO off, alice (an admin, not break-glass) signs in with her password.
	if _, err := ops.SetSSOEnabled(ctx, cli, "acme", false); err != nil {
		t.Fatal(err)
	}
	alice := e.browser()
	alice.enroll("alice@acme.example", "alice password 1", "/")
	root := e.browser()
	root.enroll("root@acme.example", "root password 1", "/")
	beta := e.browser()
	beta.enroll("ops@beta.example", "beta password 1", "/")
	for name, b := range map[string]*browser{"alice": alice, "root": root, "beta": beta} {
		if !passes(b) || !passes2(b) {
			t.Fatalf("%s's password session does not pass before any change", name)
		}
	}

	// SSO on: alice's password session ends here at once and on replica 2 within two seconds; the break-glass
	// admin's and the other tenant's stay.
	if _, err := ops.SetSSOEnabled(ctx, cli, "acme", true); err != nil {
		t.Fatal(err)
	}
	if passes(alice) {
		t.Fatal("a password session outlived turning SSO on (same gateway)")
	}
	e.clk.Add(sessionCacheTTL + tenantCacheTTL)
	if passes2(alice) {
		t.Fatal("a password session outlived turning SSO on (other replica, 2 s later)")
	}
	if !passes(root) || !passes(beta) || !passes2(root) || !passes2(beta) {
		t.Fatal("turning SSO on ended a break-glass admin's or another tenant's session")
	}

	// Off the break-glass list: root's password session ends too.
	if _, err := ops.RemoveBreakGlass(ctx, cli, "acme", "root@acme.example"); err != nil {
		t.Fatal(err)
	}
	if passes(root) {
		t.Fatal("a former break-glass admin's password session survived")
	}

	// Bob signs in through the IdP; turning SSO off ends that session.
	bob := e.browser()
	p.user("sub-bob", "bob@acme.example", true)
	if r := bob.do("GET", atIdP(t, bob.startSSO(url.Values{"email": {"bob@acme.example"}}, "")), nil); r.status != http.StatusSeeOther {
		t.Fatalf("bob's SSO sign-in: %d %.300s", r.status, r.body)
	}
	if !passes(bob) || !passes2(bob) {
		t.Fatal("bob's SSO session does not pass")
	}
	if _, err := ops.SetSSOEnabled(ctx, cli, "acme", false); err != nil {
		t.Fatal(err)
	}
	if passes(bob) {
		t.Fatal("an SSO session outlived turning SSO off")
	}
	if !passes(beta) {
		t.Fatal("another tenant's session ended")
	}
	// The ended sessions are gone from the store, not merely refused.
	op, _ := e.st.OperatorByEmail(ctx, "alice@acme.example")
	if n, _ := e.st.DeleteOperatorSessions(ctx, "acme", op.ID); n != 0 {
		t.Fatalf("%d of alice's ended sessions still stored", n)
	}
}

// methodAllowed's table: every sign-in method against every tenant state.
func TestMethodAllowed(t *testing.T) {
	on := &directory.SSO{Enabled: true, Provider: "okta"}
	off := &directory.SSO{Enabled: false, Provider: "okta"}
	withSSO := func(s *directory.SSO, bg ...string) directory.Tenant {
		return directory.Tenant{ID: "acme", SSO: s, BreakGlass: bg}
	}
	cases := []struct {
		name string
		t    directory.Tenant
		auth string
		want bool
	}{
		{"password, no SSO settings", withSSO(nil), "password+totp", true},
		{"recovery code, SSO off", withSSO(off), "password+recovery", true},
		{"password, SSO on", withSSO(on), "password+totp", false},
		{"password, SSO on, break-glass", withSSO(on, "a@acme.example"), "password+totp", true},
		{"recovery code, SSO on, break-glass", withSSO(on, "a@acme.example"), "password+recovery", true},
		{"SSO session, SSO on", withSSO(on), "sso:okta", true},
		{"SSO session, SSO off", withSSO(off), "sso:okta", false},
		{"SSO session, no SSO settings", withSSO(nil), "sso:okta", false},
		{"SSO session of another provider", withSSO(on), "sso:entra", false},
		{"SSO session of a break-glass admin", withSSO(on, "a@acme.example"), "sso:okta", false},
	}
	for _, c := range cases {
		s := session.Session{TenantID: "acme", Email: "A@acme.example", Auth: c.auth}
		if got := methodAllowed(c.t, s); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
