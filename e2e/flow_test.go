package e2e

// The sign-in steps a person takes, as helpers the tests compose: the password step, enrollment with
// an authenticator app, the code step, and signing out.

import (
	"encoding/base32"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	adminEmail  = "admin@acme.example"
	memberEmail = "tech@acme.example"
)

// enrolled is an operator who has just finished first sign-in.
type enrolled struct {
	c       *client
	user    seedUser
	secret  string // base32 TOTP secret, as the authenticator app holds it
	uri     string // the otpauth URI
	step    int64  // the TOTP step that confirmed enrollment
	codes   []string
	session string // name of the gateway's session cookie
	landed  *resp  // the upstream's answer for next
}

// enroll walks an operator through first sign-in on c: navigation to next → login → enrollment
// (QR decoded by zbarimg, codes by oathtool) → recovery codes → next, answered by the upstream.
func enroll(t *testing.T, g *gw, c *client, email, next string) *enrolled {
	t.Helper()
	u := demoUser(t, email)
	host := c.hostHeader()

	r := c.navigate(next)
	if r.status != http.StatusSeeOther {
		t.Fatalf("unauthenticated navigation to %s: got %d, want 303 to the login page\n%s", next, r.status, r.body)
	}
	loginURL := r.location(t, host)
	lu, _ := url.Parse(loginURL)
	if lu.Path != "/.vectis/login" || loginNext(lu) != next {
		t.Fatalf("unauthenticated navigation to %s redirected to %q, want /.vectis/login?next=%s", next, loginURL, url.QueryEscape(next))
	}

	loc := passwordStepFrom(t, c, loginURL, u)
	if p, _ := url.Parse(loc); p.Path != "/.vectis/enroll" {
		t.Fatalf("first sign-in went to %q after the password, want /.vectis/enroll", loc)
	}
	pending := cookieValues(c)

	// A pending login (password done, no code yet) reaches nothing but the MFA and enrollment pages.
	if r := c.navigate(next); g.reached(r) {
		t.Errorf("a pending login (password only) reached the upstream at %s", next)
	}
	if r := c.do(http.MethodGet, next, nil, http.Header{"Accept": {"application/json"}}); g.reached(r) {
		t.Errorf("a pending login (password only) reached the upstream with an API request")
	}

	r = c.navigate("/.vectis/enroll")
	if r.status != http.StatusOK {
		t.Fatalf("GET /.vectis/enroll: %d\n%s", r.status, r.body)
	}
	checkSecretPageHeaders(t, "enrollment page", r)
	p := parsePage(t, r)
	if len(p.otpauth) != 1 {
		t.Fatalf("the enrollment page has %d data-otpauth-uri attributes, want 1", len(p.otpauth))
	}
	uri := p.otpauth[0]

	qr := c.do(http.MethodGet, "/.vectis/enroll/qr.png", nil, http.Header{"Accept": {"image/avif,image/webp,image/png,image/*,*/*;q=0.8"}})
	if qr.status != http.StatusOK || qr.header.Get("Content-Type") != "image/png" {
		t.Fatalf("GET /.vectis/enroll/qr.png: %d %q", qr.status, qr.header.Get("Content-Type"))
	}
	g.artifact("qr-"+strings.ReplaceAll(email, "@", "_at_")+".png", []byte(qr.body))
	if got := otpauthFromQR(t, []byte(qr.body)); got != uri {
		t.Fatalf("the QR code says %q but the page's data-otpauth-uri says %q", got, uri)
	}
	secret := checkOTPAuthURI(t, uri, g.issuer, email)
	if !strings.Contains(strings.ToUpper(strings.Join(strings.Fields(p.text), "")), secret) {
		t.Errorf("the enrollment page does not show the manual-entry key")
	}

	// The QR code belongs to the pending login that owns it.
	stranger := g.newClient()
	stranger.host = c.host
	if r := stranger.do(http.MethodGet, "/.vectis/enroll/qr.png", nil, nil); r.status == http.StatusOK || strings.Contains(r.body, "PNG") {
		t.Errorf("GET /.vectis/enroll/qr.png without the pending login: %d %q, want a refusal", r.status, r.header.Get("Content-Type"))
	}

	// A wrong code does not activate anything.
	code, step := totpNow(t, secret, 0)
	r = c.submit(p, p.formWith(t, "code"), url.Values{"code": {wrongCode(t, secret, step)}})
	if r.status == http.StatusSeeOther {
		if l := r.location(t, host); !strings.HasPrefix(l, "/.vectis/enroll") {
			t.Fatalf("a wrong enrollment code redirected to %q", l)
		}
	}
	if len(parsePage(t, r).recovery) > 0 {
		t.Fatalf("a wrong enrollment code was accepted (recovery codes shown)")
	}
	r = c.navigate("/.vectis/enroll")
	p = parsePage(t, r)
	if len(p.otpauth) != 1 {
		t.Fatalf("after a wrong code the enrollment page has %d data-otpauth-uri attributes, want 1 (status %d)", len(p.otpauth), r.status)
	}
	if p.otpauth[0] != uri {
		// A person has already scanned the first QR code; swapping it after a typo strands them.
		t.Errorf("a wrong code changed the offered secret")
		uri = p.otpauth[0]
		secret = checkOTPAuthURI(t, uri, g.issuer, email)
		code, step = totpNow(t, secret, 0)
	}

	r = c.submit(p, p.formWith(t, "code"), url.Values{"code": {code}})
	if r.status == http.StatusSeeOther {
		l := r.location(t, host)
		if !strings.HasPrefix(l, "/.vectis/") {
			t.Fatalf("a correct enrollment code redirected straight to %q: the recovery codes were never shown", l)
		}
		r = c.navigate(l)
	}
	if r.status != http.StatusOK {
		t.Fatalf("after a correct enrollment code: %d, want the recovery-code page\n%s", r.status, r.body)
	}
	checkSecretPageHeaders(t, "recovery-code page", r)
	cp := parsePage(t, r)
	codes := cp.recovery
	if len(codes) != 10 {
		t.Fatalf("the recovery-code page shows %d data-recovery-code elements, want 10", len(codes))
	}
	distinct := map[string]bool{}
	for _, rc := range codes {
		if len(rc) < 8 {
			t.Errorf("recovery code %q is too short", rc)
		}
		distinct[rc] = true
	}
	if len(distinct) != 10 {
		t.Errorf("the 10 recovery codes are not distinct: %q", codes)
	}

	landed := continueTo(t, g, c, cp, next)
	if !g.reached(landed) {
		t.Fatalf("after enrollment, %s did not reach the upstream: %d\n%s", next, landed.status, landed.body)
	}
	session := sessionCookie(t, g, c, next)
	checkSessionCookie(t, c, session, pending)

	return &enrolled{c: c, user: u, secret: secret, uri: uri, step: step, codes: codes, session: session, landed: landed}
}

// passwordStep signs in with email and password, continuing to next; it returns where the gateway
// sent the browser (the enrollment or MFA page).
func passwordStep(t *testing.T, c *client, email, next string) string {
	t.Helper()
	return passwordStepFrom(t, c, "/.vectis/login?next="+url.QueryEscape(next), demoUser(t, email))
}

func passwordStepFrom(t *testing.T, c *client, loginURL string, u seedUser) string {
	t.Helper()
	r := c.navigate(loginURL)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", loginURL, r.status, r.body)
	}
	p := parsePage(t, r)
	f := p.formWith(t, "email")
	if next := mustQuery(t, loginURL).Get("next"); next != "" && next != "/" && f.hidden.Get("next") != next {
		t.Errorf("the login form carries next=%q, want %q", f.hidden.Get("next"), next)
	}
	r = c.submit(p, f, url.Values{"email": {u.Email}, "password": {u.Password}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST /.vectis/login as %s: %d, want 303\n%s", u.Email, r.status, r.body)
	}
	return r.location(t, c.hostHeader())
}

// mfaStep submits code on the MFA page.
func mfaStep(t *testing.T, c *client, code string) *resp {
	t.Helper()
	r := c.navigate("/.vectis/mfa")
	if r.status != http.StatusOK {
		t.Fatalf("GET /.vectis/mfa: %d\n%s", r.status, r.body)
	}
	p := parsePage(t, r)
	return c.submit(p, p.formWith(t, "code"), url.Values{"code": {code}})
}

// signInWithCode is a later sign-in: password, then code, then next answered by the upstream.
func signInWithCode(t *testing.T, g *gw, c *client, email, code, next string) *resp {
	t.Helper()
	loc := passwordStep(t, c, email, next)
	if p, _ := url.Parse(loc); p.Path != "/.vectis/mfa" {
		t.Fatalf("an enrolled operator went to %q after the password, want /.vectis/mfa", loc)
	}
	r := mfaStep(t, c, code)
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST /.vectis/mfa with a valid code: %d, want 303 to %s\n%s", r.status, next, r.body)
	}
	if l := r.location(t, c.hostHeader()); l != next {
		t.Fatalf("after the code the gateway sent the browser to %q, want %q", l, next)
	}
	landed := c.navigate(next)
	if !g.reached(landed) {
		t.Fatalf("after signing in, %s did not reach the upstream: %d\n%s", next, landed.status, landed.body)
	}
	return landed
}

// signOut uses the confirmation page, as a person would.
func signOut(t *testing.T, c *client) {
	t.Helper()
	r := c.navigate("/.vectis/logout")
	if r.status != http.StatusOK {
		t.Fatalf("GET /.vectis/logout: %d, want the confirmation page", r.status)
	}
	p := parsePage(t, r)
	f := p.formWith(t, "csrf")
	r = c.submit(p, f, nil)
	if r.status != http.StatusSeeOther && r.status != http.StatusOK {
		t.Fatalf("POST /.vectis/logout: %d\n%s", r.status, r.body)
	}
}

// laterCode is a code for a step after used that the gateway still accepts now: the next step
// (+1 skew), so no test has to wait 30 s.
func laterCode(t *testing.T, secret string, used int64) (string, int64) {
	t.Helper()
	code, step := totpNow(t, secret, 1)
	if step <= used {
		t.Fatalf("step %d is not later than the used step %d", step, used)
	}
	return code, step
}

// wrongCode is a 6-digit code that is valid in no step near step.
func wrongCode(t *testing.T, secret string, step int64) string {
	t.Helper()
	near := map[string]bool{}
	for d := int64(-3); d <= 3; d++ {
		near[totpAt(t, secret, step+d)] = true
	}
	for _, c := range []string{"000000", "123456", "987654", "111111"} {
		if !near[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// continueTo follows the recovery-code page's way on to next (a link or a form).
func continueTo(t *testing.T, g *gw, c *client, p *page, next string) *resp {
	t.Helper()
	for _, href := range p.links {
		if u, err := p.url.Parse(href); err == nil && u.RequestURI() == next {
			return c.navigate(next)
		}
	}
	for _, f := range p.forms {
		action, err := p.url.Parse(f.action)
		if err != nil {
			continue
		}
		if f.hidden.Get("next") == next || action.RequestURI() == next {
			r := c.submit(p, f, nil)
			if r.status == http.StatusSeeOther {
				if l := r.location(t, c.hostHeader()); l != next {
					t.Errorf("continuing after the recovery codes went to %q, want %q", l, next)
				}
				return c.navigate(next)
			}
			return r
		}
	}
	t.Errorf("the recovery-code page offers no link or form on to %q", next)
	return c.navigate(next)
}

// checkOTPAuthURI checks what an authenticator app reads and returns the base32 secret.
func checkOTPAuthURI(t *testing.T, uri, issuer, email string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("otpauth URI %q: %v", uri, err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("otpauth URI %q: want otpauth://totp/…", uri)
	}
	if label := strings.TrimPrefix(u.Path, "/"); label != issuer+":"+email {
		t.Errorf("otpauth label %q, want %q", label, issuer+":"+email)
	}
	q := u.Query()
	// Authenticator apps assume SHA1, 6 digits and 30 s when a parameter is absent.
	for _, c := range []struct{ name, want string }{{"algorithm", "SHA1"}, {"digits", "6"}, {"period", "30"}} {
		if v := q.Get(c.name); v != "" && !strings.EqualFold(v, c.want) {
			t.Errorf("otpauth %s=%q, want %s", c.name, v, c.want)
		}
	}
	if q.Get("issuer") != issuer {
		t.Errorf("otpauth issuer=%q, want %q (from the config)", q.Get("issuer"), issuer)
	}
	secret := strings.ToUpper(q.Get("secret"))
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(secret, "="))
	if err != nil {
		t.Fatalf("otpauth secret is not base32: %v", err)
	}
	if len(raw)*8 < 160 {
		t.Errorf("the TOTP secret has %d bits, want at least 160", len(raw)*8)
	}
	return strings.TrimRight(secret, "=")
}

// checkSecretPageHeaders: pages that show secrets are not cached and not framed.
func checkSecretPageHeaders(t *testing.T, what string, r *resp) {
	t.Helper()
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy %q, want frame-ancestors 'none'", what, csp)
	}
	if v := r.header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, v)
	}
}

// sessionCookie finds the gateway's session cookie: the one cookie that, sent alone, gets a request
// through to the upstream.
func sessionCookie(t *testing.T, g *gw, c *client, path string) string {
	t.Helper()
	var found []string
	for _, ck := range c.cookies() {
		if ck.Name == "app" {
			continue
		}
		bare := g.newClient()
		bare.host = c.host
		h := http.Header{"Accept": {"application/json"}, "Cookie": {ck.Name + "=" + ck.Value}}
		if g.reached(bare.do(http.MethodGet, path, nil, h)) {
			found = append(found, ck.Name)
		}
	}
	if len(found) != 1 {

		t.Fatalf("want exactly one cookie that carries the session, found %q among %d cookies", found, len(c.cookies()))
	}
	return found[0]
}

// checkSessionCookie checks the attributes the gateway set and that the value was rotated since the
// password step (pending holds the jar's values then).
func checkSessionCookie(t *testing.T, c *client, name string, pending map[string]string) {
	t.Helper()
	var last *http.Cookie
	for _, ck := range c.setCookies {
		if ck.Name == name {
			last = ck
		}
	}
	if last == nil {
		t.Fatalf("no Set-Cookie for %s seen", name)
	}
	if !last.HttpOnly {
		t.Errorf("session cookie %s is not HttpOnly", name)
	}
	if last.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie %s: SameSite %v, want Lax", name, last.SameSite)
	}
	// ≥ 256 bits of randomness: at least 43 base64url characters.
	if len(last.Value) < 43 {
		t.Errorf("session cookie %s has a %d-character value, want ≥ 43 (256 bits)", name, len(last.Value))
	}
	if v, ok := pending[name]; ok && v == c.cookie(name) {
		t.Errorf("session cookie %s was not rotated after the second factor", name)
	}
}

func cookieValues(c *client) map[string]string {
	m := map[string]string{}
	for _, ck := range c.cookies() {
		m[ck.Name] = ck.Value
	}
	return m
}

func mustQuery(t *testing.T, ref string) url.Values {
	u, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// loginNext is where a login URL continues to. A login URL without next continues to "/", so
// /.vectis/login and /.vectis/login?next=%2F are the same place.
func loginNext(u *url.URL) string {
	if next := u.Query().Get("next"); next != "" {
		return next
	}
	return "/"
}

// stepNow is the current TOTP step.
func stepNow() int64 { return time.Now().Unix() / 30 }
