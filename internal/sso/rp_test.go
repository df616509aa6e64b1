package sso

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/directory"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

const (
	entraTID      = "9188040d-6c67-4c5b-b112-36a304b66dad"
	otherEntraTID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	entraOID      = "00000000-0000-0000-66f3-3332eca7ea81"
	redirectURL   = "https://ops.vectis.example/.vectis/sso/callback"
)

// fixture is one provider's IdP and the tenant settings that point at it.
type fixture struct {
	idp      *fakeIdP
	settings Settings
}

// env is every provider's fixture on one fake internet, with one RP and clock.
type env struct {
	t   *testing.T
	net *internet
	clk *clock
	d   *Discovery
	rp  *RP
	fx  map[string]*fixture
}

func settingsFor(t *testing.T, tenant string, s directory.SSO, secret string) Settings {
	t.Helper()
	out, err := NewSettings(tenant, s, secret)
	if err != nil {
		t.Fatalf("settings for %s: %v", tenant, err)
	}
	return out
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, net: newInternet(t), clk: &clock{t: t0}, fx: map[string]*fixture{}}
	e.d = NewDiscovery(DiscoveryOptions{HTTPClient: e.net.client(), Now: e.clk.Now})
	e.rp = NewRP(e.d, Options{Now: e.clk.Now})
	rk := rsaKey(t)

	add := func(name, tenant string, s directory.SSO, idp *fakeIdP, claims func(g *grant) map[string]any) {
		idp.claims = claims
		e.fx[name] = &fixture{idp: idp, settings: settingsFor(t, tenant, s, idp.secret)}
	}
	base := func(iss, sub string, g *grant) map[string]any {
		return map[string]any{"iss": iss, "sub": sub, "aud": g.clientID, "nonce": g.nonce,
			"iat": unix(e.clk.Now()), "nbf": unix(e.clk.Now()), "exp": unix(e.clk.Now().Add(time.Hour))}
	}

	// Entra ID: the issuer names the tenant GUID; work accounts get email plus the optional xms_edov claim.
	entraIss := "https://login.microsoftonline.com/" + entraTID + "/v2.0"
	add("entra", "acme", directory.SSO{Provider: Entra, ClientID: "entra-client", Extra: map[string]string{ExtraEntraTenantID: entraTID}},
		newFakeIdP(t, e.net, entraIss, "entra-client", AuthPost, rk, "RS256"),
		func(g *grant) map[string]any {
			c := base(entraIss, "pairwise-sub-of-alice", g)
			c["tid"], c["oid"] = entraTID, entraOID
			c["email"], c["xms_edov"] = "Alice@Contoso.example", true
			c["preferred_username"] = "alice@contoso.example"
			return c
		})
	e.fx["entra"].idp.userinfo = func(g *grant) (int, any) {
		// Microsoft Graph's userinfo: email, but never email_verified.
		return 200, map[string]any{"sub": "pairwise-sub-of-alice", "email": "alice@contoso.example"}
	}
	// Another Entra tenant on the same cloud: its tokens must never open "acme".
	otherIss := "https://login.microsoftonline.com/" + otherEntraTID + "/v2.0"
	other := newFakeIdP(t, e.net, otherIss, "entra-client", AuthPost, rk, "RS256")
	other.claims = func(g *grant) map[string]any { return nil }
	e.fx["entra-other"] = &fixture{idp: other}

	// Google Workspace: one issuer for everyone; hd says which Workspace.
	add("google", "acme", directory.SSO{Provider: Google, ClientID: "acme.apps.googleusercontent.com",
		Extra: map[string]string{ExtraGoogleDomains: "acme.example"}},
		newFakeIdP(t, e.net, GoogleIssuer, "acme.apps.googleusercontent.com", AuthPost, rk, "RS256"),
		func(g *grant) map[string]any {
			c := base(GoogleIssuer, "110169484474386276334", g)
			c["azp"], c["hd"] = g.clientID, "acme.example"
			c["email"], c["email_verified"] = "alice@acme.example", true
			return c
		})

	// JumpCloud: one issuer (trailing slash included) for every organization; the client id tells them apart.
	add("jumpcloud", "acme", directory.SSO{Provider: JumpCloud, ClientID: "jc-client-acme"},
		newFakeIdP(t, e.net, JumpCloudIssuer, "jc-client-acme", AuthBasic, rk, "RS256"),
		func(g *grant) map[string]any {
			c := base(JumpCloudIssuer, "5f1b2c3d4e5f60718293a4b5", g)
			c["email"], c["email_verified"] = "alice@acme.example", true
			return c
		})

	// Okta's org authorization server: a thin ID token, the email only from userinfo.
	add("okta-org", "acme", directory.SSO{Provider: Okta, Issuer: "https://acme.okta.com", ClientID: "0oa-acme"},
		newFakeIdP(t, e.net, "https://acme.okta.com", "0oa-acme", AuthBasic, rk, "RS256"),
		func(g *grant) map[string]any { return base("https://acme.okta.com", "00u1alice", g) })
	e.fx["okta-org"].idp.userinfo = func(g *grant) (int, any) {
		return 200, map[string]any{"sub": "00u1alice", "email": "alice@acme.example", "email_verified": true}
	}
	// Okta with a custom authorization server: email in the ID token.
	oktaCustom := "https://acme.okta.com/oauth2/default"
	add("okta-custom", "acme", directory.SSO{Provider: Okta, Issuer: oktaCustom, ClientID: "0oa-acme-custom"},
		newFakeIdP(t, e.net, oktaCustom, "0oa-acme-custom", AuthBasic, rk, "RS256"),
		func(g *grant) map[string]any {
			c := base(oktaCustom, "00u1alice", g)
			c["email"], c["email_verified"] = "alice@acme.example", true
			return c
		})

	// A generic OIDC provider signing with ES256.
	genIss := "https://idp.example.test/realms/acme"
	add("oidc", "acme", directory.SSO{Provider: Generic, Issuer: genIss, ClientID: "gateway"},
		newFakeIdP(t, e.net, genIss, "gateway", AuthBasic, ecKey(t), "ES256"),
		func(g *grant) map[string]any {
			c := base(genIss, "f:alice", g)
			c["email"], c["email_verified"] = "alice@acme.example", true
			return c
		})
	return e
}

// signIn runs Begin, the IdP's authorize step and Finish.
func (e *env) signIn(f *fixture) (Identity, error) {
	e.t.Helper()
	st, err := e.rp.Begin(context.Background(), f.settings, redirectURL, "/tickets", "alice@acme.example")
	if err != nil {
		e.t.Fatalf("Begin: %v", err)
	}
	code, _ := f.idp.authorize(e.t, st.URL)
	return e.rp.Finish(context.Background(), f.settings, st.Attempt, code)
}

type row struct {
	name string
	fx   string
	// change edits the ID token's claims; sign, when set, signs them instead of the IdP's key.
	change   func(c map[string]any)
	sign     func(f *fixture, c map[string]any) string
	userinfo func(g *grant) (int, any)
	// wantRefused is a substring of the refusal reason; "" means the sign-in succeeds with wantKey etc.
	wantRefused  string
	wantKey      string
	wantEmail    string
	wantVerified bool
}

func set(kv ...any) func(c map[string]any) {
	return func(c map[string]any) {
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
	}
}

func del(names ...string) func(c map[string]any) {
	return func(c map[string]any) {
		for _, n := range names {
			delete(c, n)
		}
	}
}

func both(fs ...func(c map[string]any)) func(c map[string]any) {
	return func(c map[string]any) {
		for _, f := range fs {
			f(c)
		}
	}
}

// The provider fixtures, each quirk next to its wrong twin.
func TestFinishProviderTable(t *testing.T) {
	const (
		entraKey  = entraTID + "/" + entraOID
		googleKey = GoogleIssuer + "|110169484474386276334"
		jcKey     = JumpCloudIssuer + "|5f1b2c3d4e5f60718293a4b5"
		oktaKey   = "https://acme.okta.com|00u1alice"
	)
	now := t0
	rows := []row{
		// Entra ID.
		{name: "entra ok: xms_edov vouches for the email", fx: "entra", wantKey: entraKey, wantEmail: "alice@contoso.example", wantVerified: true},
		{name: "entra email_verified true also counts", fx: "entra", change: both(del("xms_edov"), set("email_verified", true)),
			wantKey: entraKey, wantEmail: "alice@contoso.example", wantVerified: true},
		{name: "entra token of another tenant GUID (its own issuer)", fx: "entra", change: set("iss", "https://login.microsoftonline.com/"+otherEntraTID+"/v2.0", "tid", otherEntraTID),
			wantRefused: "issued by a different provider"},
		{name: "entra token of another tenant GUID (our issuer, other tid)", fx: "entra", change: set("tid", otherEntraTID), wantRefused: "Entra token of tenant"},
		{name: "entra token without tid", fx: "entra", change: del("tid"), wantRefused: "Entra token of tenant"},
		{name: "entra token without oid", fx: "entra", change: del("oid"), wantRefused: "no usable oid"},
		{name: "entra only preferred_username: no email to link with", fx: "entra", change: del("email", "xms_edov"),
			wantKey: entraKey, wantEmail: "alice@contoso.example", wantVerified: false},
		{name: "entra upn-looking claims are never an email", fx: "entra", change: both(del("email", "xms_edov"), set("upn", "alice@contoso.example")),
			userinfo: func(g *grant) (int, any) { return 200, map[string]any{"sub": "pairwise-sub-of-alice"} },
			wantKey:  entraKey, wantEmail: "", wantVerified: false},
		{name: "entra xms_edov false", fx: "entra", change: set("xms_edov", false), wantKey: entraKey, wantEmail: "alice@contoso.example", wantVerified: false},
		{name: "entra xms_edov as a string", fx: "entra", change: set("xms_edov", "true"), wantKey: entraKey, wantEmail: "alice@contoso.example", wantVerified: false},
		{name: "entra email_verified false beats xms_edov", fx: "entra", change: set("email_verified", false), wantKey: entraKey, wantEmail: "alice@contoso.example", wantVerified: false},
		{name: "entra token signed ES256 (pinned to RS256)", fx: "entra", sign: func(f *fixture, c map[string]any) string {
			return signWith(ecKey(t), f.idp.keyID, "ES256", c)
		}, wantRefused: "ID token"},

		// Google Workspace.
		{name: "google ok", fx: "google", wantKey: googleKey, wantEmail: "alice@acme.example", wantVerified: true},
		{name: "google issuer without scheme (Google's own quirk)", fx: "google", change: set("iss", "accounts.google.com"),
			wantKey: googleKey, wantEmail: "alice@acme.example", wantVerified: true},
		{name: "google without hd (a personal account)", fx: "google", change: del("hd"), wantRefused: "no hd claim"},
		{name: "google with another hosted domain", fx: "google", change: set("hd", "evil.example"), wantRefused: "hosted domain"},
		{name: "google hd in another case is the same domain", fx: "google", change: set("hd", "ACME.example"), wantKey: googleKey, wantEmail: "alice@acme.example", wantVerified: true},
		{name: "google email_verified as a string", fx: "google", change: set("email_verified", "true"), wantKey: googleKey, wantEmail: "alice@acme.example", wantVerified: false},
		{name: "google email_verified false", fx: "google", change: set("email_verified", false), wantKey: googleKey, wantEmail: "alice@acme.example", wantVerified: false},

		// JumpCloud.
		{name: "jumpcloud ok", fx: "jumpcloud", wantKey: jcKey, wantEmail: "alice@acme.example", wantVerified: true},
		{name: "jumpcloud token for another tenant's client id", fx: "jumpcloud", change: set("aud", "jc-client-beta"), wantRefused: "audience"},
		{name: "jumpcloud issuer without its trailing slash", fx: "jumpcloud", change: set("iss", strings.TrimSuffix(JumpCloudIssuer, "/")), wantRefused: "different provider"},

		// Okta.
		{name: "okta org server: email from userinfo", fx: "okta-org", wantKey: oktaKey, wantEmail: "alice@acme.example", wantVerified: true},
		{name: "okta userinfo for another subject", fx: "okta-org", userinfo: func(g *grant) (int, any) {
			return 200, map[string]any{"sub": "00u9mallory", "email": "alice@acme.example", "email_verified": true}
		}, wantRefused: "userinfo sub"},
		{name: "okta userinfo without email_verified", fx: "okta-org", userinfo: func(g *grant) (int, any) {
			return 200, map[string]any{"sub": "00u1alice", "email": "alice@acme.example"}
		}, wantKey: oktaKey, wantEmail: "alice@acme.example", wantVerified: false},
		{name: "okta userinfo email_verified as a string", fx: "okta-org", userinfo: func(g *grant) (int, any) {
			return 200, map[string]any{"sub": "00u1alice", "email": "alice@acme.example", "email_verified": "true"}
		}, wantKey: oktaKey, wantEmail: "alice@acme.example", wantVerified: false},
		{name: "okta userinfo down: signed in, but no verified email", fx: "okta-org", userinfo: func(g *grant) (int, any) { return 503, nil },
			wantKey: oktaKey, wantEmail: "", wantVerified: false},
		{name: "okta ID token email is never joined with userinfo's email_verified", fx: "okta-org", change: set("email", "mallory@acme.example"),
			userinfo: func(g *grant) (int, any) {
				return 200, map[string]any{"sub": "00u1alice", "email": "alice@acme.example", "email_verified": true}
			}, wantKey: oktaKey, wantEmail: "alice@acme.example", wantVerified: true},
		{name: "okta custom server: email in the ID token", fx: "okta-custom", wantKey: "https://acme.okta.com/oauth2/default|00u1alice", wantEmail: "alice@acme.example", wantVerified: true},

		// What go-oidc leaves to the caller, on the generic provider.
		{name: "oidc ok (ES256)", fx: "oidc", wantKey: "https://idp.example.test/realms/acme|f:alice", wantEmail: "alice@acme.example", wantVerified: true},
		{name: "wrong nonce", fx: "oidc", change: set("nonce", "not-the-nonce-of-this-sign-in"), wantRefused: "nonce"},
		{name: "missing nonce", fx: "oidc", change: del("nonce"), wantRefused: "nonce"},
		{name: "several audiences without azp", fx: "oidc", change: set("aud", []string{"gateway", "other-app"}), wantRefused: "no azp"},
		{name: "several audiences with azp of this client", fx: "oidc", change: set("aud", []string{"gateway", "other-app"}, "azp", "gateway"),
			wantKey: "https://idp.example.test/realms/acme|f:alice", wantEmail: "alice@acme.example", wantVerified: true},
		{name: "azp of another client", fx: "oidc", change: set("azp", "other-app"), wantRefused: "azp"},
		{name: "audience of another client", fx: "oidc", change: set("aud", "other-app"), wantRefused: "audience"},
		{name: "expired beyond the leeway", fx: "oidc", change: set("exp", unix(now.Add(-61*time.Second))), wantRefused: "expired"},
		{name: "expired within the leeway", fx: "oidc", change: set("exp", unix(now.Add(-50*time.Second))),
			wantKey: "https://idp.example.test/realms/acme|f:alice", wantEmail: "alice@acme.example", wantVerified: true},
		{name: "no exp", fx: "oidc", change: del("exp"), wantRefused: "no exp"},
		{name: "issued in the future", fx: "oidc", change: set("iat", unix(now.Add(2*time.Minute))), wantRefused: "future"},
		{name: "stale: issued before the sign-in began", fx: "oidc", change: set("iat", unix(now.Add(-5*time.Minute))), wantRefused: "stale"},
		{name: "no iat", fx: "oidc", change: del("iat"), wantRefused: "no iat"},
		{name: "not valid yet", fx: "oidc", change: set("nbf", unix(now.Add(5*time.Minute))), wantRefused: "not valid before"},
		{name: "HS256 signed with the client secret", fx: "oidc", sign: func(f *fixture, c map[string]any) string {
			return hmacToken([]byte(f.idp.secret), c)
		}, wantRefused: "ID token"},
		{name: "HS256 on an RS256 provider", fx: "jumpcloud", sign: func(f *fixture, c map[string]any) string {
			return hmacToken([]byte(f.idp.secret), c)
		}, wantRefused: "ID token"},
		{name: "alg none", fx: "oidc", sign: func(f *fixture, c map[string]any) string { return unsignedToken(c) }, wantRefused: "ID token"},
		{name: "alg none on Entra", fx: "entra", sign: func(f *fixture, c map[string]any) string { return unsignedToken(c) }, wantRefused: "ID token"},
		{name: "signed by a key the IdP does not publish", fx: "oidc", sign: func(f *fixture, c map[string]any) string {
			return signWith(ecKey(t), f.idp.keyID, "ES256", c)
		}, wantRefused: "ID token"},
		{name: "at_hash of another access token", fx: "oidc", change: set("at_hash", "AAAAAAAAAAAAAAAAAAAAAA"), wantRefused: "at_hash"},
		{name: "no sub", fx: "oidc", change: del("sub"), wantRefused: "sub"},
		{name: "sub with a control character", fx: "oidc", change: set("sub", "a\x00b"), wantRefused: "sub"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fx[r.fx]
			orig := f.idp.claims
			f.idp.claims = func(g *grant) map[string]any {
				c := orig(g)
				if r.change != nil {
					r.change(c)
				}
				return c
			}
			if r.sign != nil {
				f.idp.sign = func(c map[string]any) string { return r.sign(f, c) }
			}
			if r.userinfo != nil {
				f.idp.userinfo = r.userinfo
			}
			id, err := e.signIn(f)
			if r.wantRefused != "" {
				var ref *Refused
				if !errors.As(err, &ref) || !strings.Contains(ref.Reason, r.wantRefused) {
					t.Fatalf("got %+v, %v; want refused (%q)", id, err, r.wantRefused)
				}
				return
			}
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if id.Key != r.wantKey || id.Email != r.wantEmail || id.EmailVerified != r.wantVerified || id.Provider != f.settings.Provider {
				t.Fatalf("identity %+v; want key %q email %q verified %v", id, r.wantKey, r.wantEmail, r.wantVerified)
			}
		})
	}
}

// The authorization request carries what the flow needs and nothing the browser could use later.
func TestBeginAuthorizationURL(t *testing.T) {
	e := newEnv(t)
	f := e.fx["google"]
	st, err := e.rp.Begin(context.Background(), f.settings, redirectURL, "/tickets?x=1", "alice@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	_, q := f.idp.authorize(t, st.URL)
	want := map[string]string{"response_type": "code", "client_id": f.settings.ClientID, "redirect_uri": redirectURL,
		"state": st.State, "nonce": st.Attempt.Nonce, "code_challenge_method": "S256", "login_hint": "alice@acme.example",
		"hd": "acme.example", "scope": "openid email profile"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	sum := sha256.Sum256([]byte(st.Attempt.Verifier))
	if q.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Error("code_challenge is not S256 of the attempt's verifier")
	}
	if q.Has("client_secret") || strings.Contains(st.URL, f.idp.secret) || strings.Contains(st.URL, st.Attempt.Verifier) || strings.Contains(st.URL, st.BrowserSecret) {
		t.Error("the authorization URL carries a secret")
	}
	// State, nonce, verifier and browser binding are each at least 128 bits of randomness, and fresh.
	tenant, key, ok := ParseState(st.State)
	if !ok || tenant != "acme" || key != StateKey(st.State) {
		t.Fatalf("ParseState(%q) = %q %q %v", st.State, tenant, key, ok)
	}
	for name, v := range map[string]string{"state": strings.TrimPrefix(st.State, "acme."), "nonce": st.Attempt.Nonce,
		"verifier": st.Attempt.Verifier, "browser": st.BrowserSecret} {
		if b, err := base64.RawURLEncoding.DecodeString(v); err != nil || len(b) < 16 {
			t.Errorf("%s %q is not ≥128 bits of base64url randomness", name, v)
		}
	}
	st2, err := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", "")
	if err != nil {
		t.Fatal(err)
	}
	if st2.State == st.State || st2.Attempt.Nonce == st.Attempt.Nonce || st2.Attempt.Verifier == st.Attempt.Verifier ||
		st2.BrowserSecret == st.BrowserSecret || st2.Attempt.ID == st.Attempt.ID {
		t.Error("two sign-ins share a random value")
	}
	if !st.Attempt.CheckBrowser(st.BrowserSecret) || st.Attempt.CheckBrowser(st2.BrowserSecret) || st.Attempt.CheckBrowser("") {
		t.Error("CheckBrowser does not tell this browser from another")
	}
	a := st.Attempt
	if a.Tenant != "acme" || a.Next != "/tickets?x=1" || a.RedirectURL != redirectURL || !a.CreatedAt.Equal(t0) ||
		!a.ExpiresAt.Equal(t0.Add(AttemptLife)) || a.Issuer != GoogleIssuer || a.ClientID != f.settings.ClientID {
		t.Errorf("attempt %+v", a)
	}
	if strings.Contains(a.String()+a.GoString(), a.Nonce) || strings.Contains(a.String(), a.Verifier) {
		t.Error("Attempt's String shows a secret")
	}
	// Google's hd parameter is only sent as a hint when there is exactly one domain.
	f.settings.GoogleDomains = []string{"acme.example", "acme-labs.example"}
	st3, _ := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", "")
	if u, _ := url.Parse(st3.URL); u.Query().Has("hd") || u.Query().Has("login_hint") {
		t.Errorf("hint parameters on %s", st3.URL)
	}
}

func TestParseState(t *testing.T) {
	good := "acme." + strings.Repeat("A", 43)
	tenant, key, ok := ParseState(good)
	if !ok || tenant != "acme" {
		t.Fatalf("ParseState(good) = %q, %v", tenant, ok)
	}
	// Changing the routing part changes the key: it grants nothing.
	_, key2, _ := ParseState("beta." + strings.Repeat("A", 43))
	if key2 == key {
		t.Fatal("the tenant part does not change the key")
	}
	for _, bad := range []string{"", "acme", "acme.", "." + strings.Repeat("A", 43), "ACME." + strings.Repeat("A", 43),
		"acme." + strings.Repeat("A", 42), "acme." + strings.Repeat("A", 44), "acme." + strings.Repeat("*", 43),
		"a}b." + strings.Repeat("A", 43), strings.Repeat("a", 70) + "." + strings.Repeat("A", 43)} {
		if _, _, ok := ParseState(bad); ok {
			t.Errorf("ParseState(%q) accepted", bad)
		}
	}
}

// Everything that can be refused without the network is refused before the token endpoint sees the code.
func TestFinishRefusesBeforeExchange(t *testing.T) {
	cases := []struct {
		name   string
		change func(e *env, s *Settings, a *Attempt)
		want   string
	}{
		{"attempt of another tenant", func(e *env, s *Settings, a *Attempt) { a.Tenant = "beta" }, "tenant"},
		{"settings now name another client", func(e *env, s *Settings, a *Attempt) { s.ClientID = "jc-client-beta" }, "settings changed"},
		{"settings now name another issuer", func(e *env, s *Settings, a *Attempt) { s.Issuer = "https://idp.example.test/realms/acme" }, "settings changed"},
		{"attempt expired", func(e *env, s *Settings, a *Attempt) { e.clk.Add(AttemptLife) }, "expired"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fx["jumpcloud"]
			st, err := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", "")
			if err != nil {
				t.Fatal(err)
			}
			code, _ := f.idp.authorize(t, st.URL)
			s, a := f.settings, st.Attempt
			c.change(e, &s, &a)
			_, err = e.rp.Finish(context.Background(), s, a, code)
			var ref *Refused
			if !errors.As(err, &ref) || !strings.Contains(ref.Reason, c.want) {
				t.Fatalf("Finish = %v, want refused (%s)", err, c.want)
			}
			if n := f.idp.tokenHits.Load(); n != 0 {
				t.Fatalf("the token endpoint was called %d times", n)
			}
		})
	}
}

func TestFinishExchangeFailures(t *testing.T) {
	t.Run("code used twice", func(t *testing.T) {
		e := newEnv(t)
		f := e.fx["oidc"]
		st, _ := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", "")
		code, _ := f.idp.authorize(t, st.URL)
		if _, err := e.rp.Finish(context.Background(), f.settings, st.Attempt, code); err != nil {
			t.Fatal(err)
		}
		if _, err := e.rp.Finish(context.Background(), f.settings, st.Attempt, code); !IsRefused(err) {
			t.Fatalf("second exchange of one code: %v, want refused", err)
		}
	})
	t.Run("another verifier (PKCE)", func(t *testing.T) {
		e := newEnv(t)
		f := e.fx["oidc"]
		st, _ := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", "")
		code, _ := f.idp.authorize(t, st.URL)
		a := st.Attempt
		a.Verifier = strings.Repeat("x", 43)
		if _, err := e.rp.Finish(context.Background(), f.settings, a, code); !IsRefused(err) {
			t.Fatalf("exchange with another verifier: %v, want refused", err)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		e := newEnv(t)
		f := e.fx["okta-custom"]
		s := f.settings
		s.ClientSecret = "not-the-secret"
		st, _ := e.rp.Begin(context.Background(), s, redirectURL, "/", "")
		code, _ := f.idp.authorize(t, st.URL)
		if _, err := e.rp.Finish(context.Background(), s, st.Attempt, code); !IsRefused(err) {
			t.Fatalf("exchange with a wrong secret: %v, want refused", err)
		}
	})
	t.Run("client authentication the IdP does not take", func(t *testing.T) {
		e := newEnv(t)
		f := e.fx["jumpcloud"] // requires client_secret_basic
		s := f.settings
		s.AuthStyle = settingsFor(t, "acme", directory.SSO{Provider: JumpCloud, ClientID: s.ClientID,
			Extra: map[string]string{ExtraTokenAuthMethod: AuthPost}}, "x").AuthStyle
		st, _ := e.rp.Begin(context.Background(), s, redirectURL, "/", "")
		code, _ := f.idp.authorize(t, st.URL)
		if _, err := e.rp.Finish(context.Background(), s, st.Attempt, code); !IsRefused(err) {
			t.Fatalf("post auth at a basic-only IdP: %v, want refused", err)
		}
	})
	t.Run("token endpoint down", func(t *testing.T) {
		e := newEnv(t)
		f := e.fx["oidc"]
		st, _ := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", "")
		code, _ := f.idp.authorize(t, st.URL)
		f.idp.tokenStatus.Store(http.StatusBadGateway)
		_, err := e.rp.Finish(context.Background(), f.settings, st.Attempt, code)
		if !errors.Is(err, ErrUnavailable) || IsRefused(err) {
			t.Fatalf("token endpoint 502: %v, want ErrUnavailable", err)
		}
	})
	t.Run("no id_token", func(t *testing.T) {
		e := newEnv(t)
		f := e.fx["oidc"]
		f.idp.sign = func(map[string]any) string { return "" }
		if _, err := e.signIn(f); !IsRefused(err) {
			t.Fatalf("token response without id_token: %v, want refused", err)
		}
	})
	t.Run("token of another sign-in's nonce", func(t *testing.T) {
		e := newEnv(t)
		f := e.fx["oidc"]
		first, _ := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", "")
		second, _ := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", "")
		code, _ := f.idp.authorize(t, first.URL)
		// The code (and its token) belong to the first sign-in; finishing the second with it fails.
		if _, err := e.rp.Finish(context.Background(), f.settings, second.Attempt, code); !IsRefused(err) {
			t.Fatalf("another sign-in's code: %v, want refused", err)
		}
	})
}

// An Entra token of the other tenant, signed by Microsoft's (shared) keys, is refused for acme.
func TestEntraTokenFromAnotherTenantsIdP(t *testing.T) {
	e := newEnv(t)
	acme, other := e.fx["entra"], e.fx["entra-other"]
	st, err := e.rp.Begin(context.Background(), acme.settings, redirectURL, "/", "")
	if err != nil {
		t.Fatal(err)
	}
	_, q := acme.idp.authorize(t, st.URL)
	// The attacker signs in at their own tenant and hands over that token under acme's sign-in.
	acme.idp.claims = func(g *grant) map[string]any {
		return map[string]any{"iss": other.idp.issuer, "aud": g.clientID, "sub": "mallory", "tid": otherEntraTID,
			"oid": entraOID, "nonce": q.Get("nonce"), "iat": unix(t0), "exp": unix(t0.Add(time.Hour)),
			"email": "alice@contoso.example", "xms_edov": true}
	}
	code, _ := acme.idp.authorize(t, st.URL)
	if _, err := e.rp.Finish(context.Background(), acme.settings, st.Attempt, code); !IsRefused(err) {
		t.Fatalf("another Entra tenant's token: %v, want refused", err)
	}
}
