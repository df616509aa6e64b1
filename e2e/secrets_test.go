package e2e

// Invariant 10 over a whole run: every flow is walked with browsers whose every exchange is recorded,
// then the gateway's log, every page, every URL and everything the upstream received are searched for
// each secret the run handled — seeded passwords, TOTP secrets in every encoding, recovery codes,
// session and CSRF cookie values, CSRF tokens, submitted codes, the IdP client secret and code.

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// exchange is one request a recorded browser made and the answer it got.
type exchange struct {
	method, url string
	status      int
	location    string
	contentType string
	body        string
	cookies     []*http.Cookie
}

// recorder keeps every exchange of the browsers it made.
type recorder struct {
	mu sync.Mutex
	ex []exchange
}

type recordingTransport struct{ rec *recorder }

func (rt recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	rt.rec.mu.Lock()
	rt.rec.ex = append(rt.rec.ex, exchange{method: req.Method, url: req.URL.String(), status: res.StatusCode,
		location: res.Header.Get("Location"), contentType: res.Header.Get("Content-Type"), body: string(b), cookies: res.Cookies()})
	rt.rec.mu.Unlock()
	return res, nil
}

// browser is a client of g whose exchanges rec keeps.
func (rec *recorder) browser(g *gw) *client {
	c := g.newClient()
	c.hc.Transport = recordingTransport{rec}
	return c
}

func (rec *recorder) exchanges() []exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]exchange(nil), rec.ex...)
}

// secretSet is every secret of a run by kind. Failure messages name the kind and an index, never the
// value: test output ends up in CI logs.
type secretSet struct {
	kinds map[string][]string
	// digits are submitted 6-digit codes: matched only as a whole number, since a log is full of digits.
	digits []string
}

func newSecretSet() *secretSet { return &secretSet{kinds: map[string][]string{}} }

func (s *secretSet) add(kind string, values ...string) {
	for _, v := range values {
		if len(v) >= 6 {
			s.kinds[kind] = append(s.kinds[kind], v)
		}
	}
}

// addTOTP adds a base32 secret in every encoding a careless log line might use.
func (s *secretSet) addTOTP(b32 string) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32)
	if err != nil {
		panic(err)
	}
	s.add("TOTP secret", b32, strings.ToLower(b32), hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw))
}

// addRecovery adds recovery codes as shown (xxxxx-xxxxx) and as typed without the hyphen.
func (s *secretSet) addRecovery(codes ...string) {
	for _, c := range codes {
		s.add("recovery code", c, strings.ReplaceAll(c, "-", ""))
	}
}

// addCookies adds the gateway's cookie values seen in the recorded exchanges (for a session cookie,
// its random part too, which is what a log line would most likely carry).
func (s *secretSet) addCookies(rec *recorder) {
	for _, e := range rec.exchanges() {
		for _, c := range e.cookies {
			if c.Value == "" || !strings.Contains(c.Name, "vectis") {
				continue
			}
			s.add("cookie "+c.Name, c.Value)
			if _, rnd, ok := strings.Cut(c.Value, "."); ok {
				s.add("cookie "+c.Name, rnd)
			}
		}
	}
}

// addCSRF adds every csrf token the recorded pages carried.
func (s *secretSet) addCSRF(rec *recorder) {
	for _, e := range rec.exchanges() {
		for _, m := range csrfFieldRE.FindAllStringSubmatch(e.body, -1) {
			s.add("CSRF token", m[1])
		}
	}
}

// found lists the kinds (with index) of the secrets in text, searching the text as is and with all
// whitespace removed (a key shown in groups, a code split by formatting).
func (s *secretSet) found(text string, skip ...string) []string {
	squeezed := strings.Join(strings.Fields(text), "")
	var out []string
	for kind, vs := range s.kinds {
		if slices.Contains(skip, kind) {
			continue
		}
		for i, v := range vs {
			if strings.Contains(text, v) || strings.Contains(squeezed, v) {
				out = append(out, fmt.Sprintf("%s #%d", kind, i))
			}
		}
	}
	if !slices.Contains(skip, "submitted code") {
		for i, d := range s.digits {
			if regexp.MustCompile(`(^|[^0-9])` + d + `([^0-9]|$)`).MatchString(text) {
				out = append(out, fmt.Sprintf("submitted code #%d", i))
			}
		}
	}
	return out
}

// checkSecrets applies invariant 10 to a run: nothing in the log, nothing in a URL, nothing the
// upstream received; TOTP secrets only on the enrollment page, recovery codes only on a codes page,
// CSRF tokens only in pages; nothing else in any page.
func checkSecrets(t *testing.T, g *gw, rec *recorder, s *secretSet) {
	t.Helper()
	for _, f := range s.found(g.log()) {
		t.Errorf("the gateway log contains a %s", f)
	}
	for _, e := range rec.exchanges() {
		where := fmt.Sprintf("%s %s (%d)", e.method, redactQuery(e.url), e.status)
		// The IdP's code rides in the callback URL by design (the IdP puts it there); nowhere else.
		skipURL := []string{}
		if strings.Contains(e.url, "/.vectis/sso/callback") {
			skipURL = append(skipURL, "IdP authorization code")
		}
		for _, f := range s.found(e.url, skipURL...) {
			t.Errorf("%s: the request URL contains a %s", where, f)
		}
		for _, f := range s.found(e.location) {
			t.Errorf("%s: the Location header contains a %s", where, f)
		}
		if strings.HasPrefix(e.contentType, "image/") {
			continue // the QR code: pixels, not text
		}
		allowed := []string{"CSRF token"}
		if strings.Contains(e.body, "data-otpauth-uri") && strings.HasPrefix(strings.TrimPrefix(e.url, g.base), "/.vectis/enroll") {
			allowed = append(allowed, "TOTP secret") // the enrollment page shows the secret
		}
		if strings.Contains(e.body, "data-recovery-code") {
			allowed = append(allowed, "recovery code") // the page that shows new codes, once
		}
		for _, f := range s.found(e.body, allowed...) {
			t.Errorf("%s: the page contains a %s", where, f)
		}
	}
	g.up.mu.Lock()
	seen := append([]seenRequest(nil), g.up.seen...)
	g.up.mu.Unlock()
	for _, r := range seen {
		var b strings.Builder
		b.WriteString(r.URI + "\n")
		for k, vs := range r.Header {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
		}
		for _, f := range s.found(b.String()) {
			t.Errorf("the upstream received a %s with %s %s", f, r.Method, redactQuery(r.URI))
		}
	}
}

// redactQuery drops a URL's query from a failure message (it may hold the secret being reported).
func redactQuery(u string) string { p, _, _ := strings.Cut(u, "?"); return p }

// TestSecretsStayOutOfLogsPagesAndURLs walks every flow — enrollment, sign-in with a code, a wrong
// password, a recovery code, regeneration, an admin's MFA reset and re-enrollment, sign-out, and an SSO
// sign-in — and then looks for every secret the run handled where it must not be.
func TestSecretsStayOutOfLogsPagesAndURLs(t *testing.T) {
	t.Parallel()
	t.Run("password flows", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, standardCaddyfile)
		rec := &recorder{}
		s := newSecretSet()
		admin, member := demoUser(t, adminEmail), demoUser(t, memberEmail)
		const wrongPassword = "not-the-password-but-secret-too"
		s.add("password", admin.Password, member.Password, wrongPassword)

		a := enroll(t, g, rec.browser(g), adminEmail, "/")
		m := enroll(t, g, rec.browser(g), memberEmail, "/")
		s.addTOTP(a.secret)
		s.addTOTP(m.secret)
		s.addRecovery(a.codes...)
		s.addRecovery(m.codes...)
		s.digits = append(s.digits, totpAt(t, a.secret, a.step), totpAt(t, m.secret, m.step))
		memberID := userIDOf(t, g, m)

		// A wrong password: what was typed is no less secret than the real one.
		wc := rec.browser(g)
		r := wc.navigate("/.vectis/login")
		lp := parsePage(t, r)
		if r = wc.submit(lp, lp.formWith(t, "email"), url.Values{"email": {adminEmail}, "password": {wrongPassword}}); r.status != http.StatusUnauthorized {
			t.Errorf("a wrong password: %d, want 401", r.status)
		}

		// The admin signs out and back in with a code.
		signOut(t, a.c)
		code, _ := laterCode(t, a.secret, a.step)
		s.digits = append(s.digits, code)
		signInWithCode(t, g, a.c, adminEmail, code, "/")

		// The member signs in with a recovery code, then regenerates the codes.
		signOut(t, m.c)
		if _, left := recoverySignIn(t, m.c, memberEmail, m.codes[0], "/"); left != 9 {
			t.Fatalf("the member's recovery code sign-in: %d codes left, want 9", left)
		}
		mcode, _ := laterCode(t, m.secret, m.step)
		s.digits = append(s.digits, mcode)
		s.addRecovery(regenerateCodes(t, m.c, mcode)...)

		// The admin resets the member's MFA; the member enrolls again.
		r = a.c.navigate("/.vectis/admin/users")
		if r.status != http.StatusOK {
			t.Fatalf("GET /.vectis/admin/users: %d", r.status)
		}
		r = a.c.post("/.vectis/admin/users/reset-mfa", url.Values{"csrf": {form(t, r).Get("csrf")}, "user": {memberID}})
		cp := parsePage(t, r)
		if r.status != http.StatusOK {
			t.Fatalf("reset-mfa: %d, want the confirmation page", r.status)
		}
		if r = a.c.submit(cp, cp.formWith(t, "confirm"), nil); r.status != http.StatusSeeOther {
			t.Fatalf("confirming the reset: %d", r.status)
		}
		m2 := enroll(t, g, rec.browser(g), memberEmail, "/")
		s.addTOTP(m2.secret)
		s.addRecovery(m2.codes...)
		s.digits = append(s.digits, totpAt(t, m2.secret, m2.step))

		signOut(t, a.c)
		s.addCookies(rec)
		s.addCSRF(rec)
		checkSecrets(t, g, rec, s)
		if len(rec.exchanges()) < 40 {
			t.Errorf("only %d exchanges were recorded: the recording missed the flows", len(rec.exchanges()))
		}
	})

	t.Run("SSO", func(t *testing.T) {
		t.Parallel()
		p := startSSOIdP(t)
		g := startSSOGateway(t, p)
		rec := &recorder{}
		s := newSecretSet()
		s.add("IdP client secret", p.m.ClientSecret)
		for _, u := range ssoUsers {
			s.add("password", u.Password)
		}

		c := rec.browser(g)
		p.queue("okta-00u1alice", ssoUsers["alice"].Email)
		authURL := ssoEmailStep(t, c, ssoUsers["alice"].Email, "/tickets")
		callback := idpRedirect(t, g, authURL)
		s.add("IdP authorization code", mustQuery(t, callback).Get("code"))
		if r := c.navigate(callback); r.status != http.StatusSeeOther {
			t.Fatalf("callback: %d", r.status)
		}
		if r := c.navigate("/tickets"); !g.reached(r) {
			t.Fatalf("the SSO operator did not reach the upstream: %d", r.status)
		}
		signOut(t, c)
		s.addCookies(rec)
		s.addCSRF(rec)
		checkSecrets(t, g, rec, s)
	})
}
