package e2e

// The operator journeys in a real browser: headless Chromium drives the real gateway binary the way an
// operator does, on a laptop and on a phone, with zbarimg as the phone's camera and oathtool as the
// authenticator app. Every page is screenshotted at 1280 px and 375 px wide into
// artifacts/screenshots/<journey>/; VECTIS_UPDATE_JOURNEYS=1 also regenerates docs/journeys.md.

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/vectis/mfa-gateway/internal/store/redis/redistest"
)

// journeyInfo is one journey as docs/journeys.md presents it.
type journeyInfo struct {
	slug, title, what string
}

// journeys lists every journey in the order docs/journeys.md shows them.
var journeys = []journeyInfo{
	{"first-sign-in", "First sign-in and enrollment",
		"The admin's first sign-in, keyboard only: the email field is focused on load, Enter leads to the password (focused), Enter again; then the QR code, read by `zbarimg` from this page's own screenshot, and a code from `oathtool`. A wrong code first: the error sits under the field and the QR code stays the same."},
	{"recovery-codes", "Saving the recovery codes",
		"The 10 one-time codes are shown once, downloadable as a text file (a `data:` link, nothing kept on the server) and printable: in print the buttons and links disappear and the codes stay."},
	{"sign-out", "Signing out",
		"GET shows a one-button confirmation (focused, so Enter signs out); the POST ends the session, and the next visit starts at the sign-in page."},
	{"sign-in-with-code", "Signing in with a code",
		"Password, then the code page with the field focused on load; Tab reaches the button with a visible focus ring; the code lets the operator through to where they were going. Also shot with `prefers-color-scheme: dark`."},
	{"regenerate-codes", "Regenerating recovery codes",
		"Account → Two-factor authentication: a current code and a ticked confirmation replace all 10 codes at once."},
	{"admin-reset", "An admin resets a member",
		"Admin → Users: Reset MFA asks for confirmation first, then the member's authenticator, recovery codes and sessions are gone."},
	{"re-enroll", "The member enrolls again",
		"The reset member's session is dead; signing in again leads straight to a new QR code and new recovery codes."},
	{"recovery-code", "Signing in with a recovery code",
		"\"Lost your phone? Use a recovery code\" from the code page; a wrong code is refused next to the field, a saved one signs in and the page says how many are left."},
	{"lockout", "Lockout after 5 wrong codes",
		"Five wrong codes lock code sign-in for the rest of the 15-minute window; the page says how many minutes remain, and even a correct code is refused meanwhile."},
	{"sso-sign-in", "SSO sign-in: no code prompt",
		"An operator of a workspace that signs in through its identity provider (mockoidc here) types only their email; the page hands off to the IdP and back, and the operator lands where they were going without ever seeing a code page. Their account page says there is nothing to manage here."},
	{"break-glass", "Break-glass sign-in",
		"The workspace's named break-glass admin keeps password and authenticator code while SSO is on: the email leads to the password, then to enrollment, never to the IdP."},
	{"portal", "The customer portal is untouched",
		"The portal host reaches the app directly: no redirect, no sign-in page, no gateway cookie."},
	{"store-down", "The store is down",
		"With Redis stopped, an operator page answers 503 with a plain \"temporarily unavailable\" page and a reference to quote; the door stays closed. The portal keeps answering."},
}

func journeyBySlug(slug string) (journeyInfo, bool) {
	for _, j := range journeys {
		if j.slug == slug {
			return j, true
		}
	}
	return journeyInfo{}, false
}

// TestBrowserJourneys runs every operator journey in headless Chromium against the real binary.
func TestBrowserJourneys(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := &suite{b: startBrowser(t), runs: map[string]*journeyRun{}}
	t.Logf("chromium started in %s", time.Since(start).Round(time.Millisecond))

	scenarios := []struct {
		name string
		run  func(t *testing.T, s *suite)
	}{
		{"admin-account", browserAdminAccount},
		{"admin-reset", browserAdminReset},
		{"recovery-and-lockout", browserRecoveryAndLockout},
		{"sso", browserSSO},
		{"portal", browserPortal},
		{"store-down", browserStoreDown},
	}
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				began := time.Now()
				sc.run(t, s)
				t.Logf("%s took %s", sc.name, time.Since(began).Round(time.Millisecond))
			})
		}
	})
	if t.Failed() {
		return
	}
	for _, j := range journeys {
		if r := s.runs[j.slug]; r == nil || r.doc == nil {
			t.Errorf("journey %s ran no screenshot for docs/journeys.md", j.slug)
		}
	}
	if os.Getenv("VECTIS_UPDATE_JOURNEYS") == "1" {
		writeJourneyDocs(t, s)
	}
	t.Logf("all journeys took %s", time.Since(start).Round(time.Millisecond))
}

// browserAdminAccount: the admin's first sign-in, recovery codes, sign-out, a later sign-in with a
// code, and regenerating the codes.
func browserAdminAccount(t *testing.T, s *suite) {
	g := startGateway(t, standardCaddyfile)
	tb := s.b.newTab(t, g, "admin")
	const next = "/reports?week=12"

	s.journey(tb, "first-sign-in")
	op := browserEnroll(t, tb, demoUser(t, adminEmail), next, true)

	s.journey(tb, "recovery-codes")
	checkRecoveryCodesPage(t, tb, op.codes)
	tb.docShot("codes")
	tb.media("print", "")
	type printView struct {
		Codes  int `json:"codes"`
		Hidden int `json:"hidden"`
		Shown  int `json:"shown"`
	}
	pv := evalIn[printView](tb, `(() => {
		const visible = e => e.offsetParent !== null && e.getBoundingClientRect().height > 0;
		const controls = [...document.querySelectorAll("a.button, button, .brand, .foot")];
		return {codes: [...document.querySelectorAll("[data-recovery-code]")].filter(visible).length,
			hidden: controls.filter(e => !visible(e)).length, shown: controls.filter(visible).length};
	})()`)
	if pv.Codes != 10 || pv.Shown != 0 || pv.Hidden == 0 {
		t.Errorf("printing the recovery codes: %d of 10 codes visible, %d buttons/links/chrome still printed (want 10 and 0)", pv.Codes, pv.Shown)
	}
	tb.shot("codes-print")
	tb.media("", "")
	// Keyboard only: Tab reaches the download link, then the way on.
	tb.tabTo("a[download]", "recovery codes")
	tb.tabTo(fmt.Sprintf("a[href=%q]", next), "recovery codes")
	expectUpstream(t, tb, tb.submitWith("\r"), next)

	s.journey(tb, "sign-out")
	browserSignOut(t, tb, true)
	if r := tb.open(next); r.Status != http.StatusOK || !strings.HasPrefix(tb.path(), "/.vectis/login") {
		t.Errorf("after signing out, %s led to %s (%d), want the sign-in page", next, tb.path(), r.Status)
	}

	s.journey(tb, "sign-in-with-code")
	browserPassword(t, tb, demoUser(t, adminEmail), "/.vectis/mfa", true)
	tb.expectFocus("code", "code page")
	tb.shot("code")
	tb.darkShot("code")
	tb.keys(op.code(t))
	tb.tabTo(`button[type=submit]`, "code page")
	tb.docShot("code-focus-ring")
	expectUpstream(t, tb, tb.submitWith("\r"), next)

	s.journey(tb, "regenerate-codes")
	if r := tb.open("/.vectis/account/2fa"); r.Status != http.StatusOK {
		t.Fatalf("GET /.vectis/account/2fa: %d", r.Status)
	}
	if left := tb.text("[data-codes-left]"); left != "10" {
		t.Errorf("the account page says %q recovery codes left, want 10", left)
	}
	tb.expectFocus("code", "account page")
	tb.shot("account")
	tb.keys(op.code(t))
	tb.tabTo(`input[name=confirm]`, "account page")
	tb.keys(" ")
	if !evalIn[bool](tb, `document.querySelector("input[name=confirm]").checked`) {
		t.Errorf("Space on the focused confirmation checkbox did not tick it")
	}
	tb.tabTo(`button[type=submit]`, "account page")
	if r := tb.submitWith("\r"); r.Status != http.StatusOK {
		t.Fatalf("regenerating the recovery codes: %d", r.Status)
	}
	fresh := checkRecoveryCodesPage(t, tb, nil)
	for _, c := range fresh {
		if slices.Contains(op.codes, c) {
			t.Errorf("a regenerated recovery code equals an old one")
		}
	}
	tb.docShot("new-codes")
	tb.tabTo(`a[href="/.vectis/account/2fa"]`, "new recovery codes")
	tb.submitWith("\r")
	if left := tb.text("[data-codes-left]"); left != "10" {
		t.Errorf("after regenerating, the account page says %q codes left, want 10", left)
	}
	tb.shot("account-after")
}

// browserAdminReset: an admin resets a member's MFA from Admin → Users, and the member enrolls again.
func browserAdminReset(t *testing.T, s *suite) {
	g := startGateway(t, standardCaddyfile)
	admin := s.b.newTab(t, g, "admin")
	member := s.b.newTab(t, g, "member")
	const next = "/tickets"
	browserEnroll(t, admin, demoUser(t, adminEmail), "/", false)
	continueFromCodes(t, admin, "/")
	browserEnroll(t, member, demoUser(t, memberEmail), next, false)
	continueFromCodes(t, member, next)

	s.journey(admin, "admin-reset")
	if r := admin.open("/.vectis/admin/users"); r.Status != http.StatusOK {
		t.Fatalf("GET /.vectis/admin/users: %d", r.Status)
	}
	row := fmt.Sprintf(`tr[data-user=%q]`, memberEmail)
	if got := admin.text(row); !strings.Contains(got, "10 codes left") {
		t.Errorf("the users page shows the member as %q, want enrolled with 10 codes left", got)
	}
	admin.shot("users")
	admin.tabTo(row+` button[type=submit]`, "users page")
	if r := admin.submitWith("\r"); r.Status != http.StatusOK {
		t.Fatalf("Reset MFA: %d, want the confirmation page", r.Status)
	}
	if h := admin.heading("confirm"); !strings.Contains(h, "Reset") {
		t.Errorf("Reset MFA led to %q, want a confirmation page", h)
	}
	if f := admin.waitFocus(func(f focused) bool { return f.Tag == "BUTTON" }); f.Tag != "BUTTON" || !strings.Contains(f.Text, memberEmail) {
		t.Errorf("the confirmation page focuses %s, want the button naming %s", f, memberEmail)
	}
	admin.docShot("confirm")
	if r := admin.submitWith("\r"); r.Status != http.StatusOK || admin.path() != "/.vectis/admin/users?done=reset" {
		t.Fatalf("confirming the reset: %d at %s", r.Status, admin.path())
	}
	if n := admin.text(".notice"); !strings.Contains(n, "reset") {
		t.Errorf("after the reset the users page says %q, want a notice", n)
	}
	if got := admin.text(row); !strings.Contains(got, "not set up") {
		t.Errorf("after the reset the users page shows the member as %q, want not set up", got)
	}
	admin.shot("done")

	s.journey(member, "re-enroll")
	browserEnroll(t, member, demoUser(t, memberEmail), next, true)
	continueFromCodes(t, member, next)
}

// browserRecoveryAndLockout: a member signs in with a recovery code, then locks code sign-in with 5
// wrong codes.
func browserRecoveryAndLockout(t *testing.T, s *suite) {
	g := startGateway(t, standardCaddyfile)
	tb := s.b.newTab(t, g, "member")
	const next = "/queue"
	op := browserEnroll(t, tb, demoUser(t, memberEmail), next, false)
	continueFromCodes(t, tb, next)
	browserSignOut(t, tb, false)

	s.journey(tb, "recovery-code")
	tb.open(next)
	browserPassword(t, tb, demoUser(t, memberEmail), "/.vectis/mfa", false)
	tb.shot("code-page")
	tb.tabTo(`a[href="/.vectis/mfa/recovery"]`, "code page")
	if r := tb.submitWith("\r"); r.Status != http.StatusOK || tb.path() != "/.vectis/mfa/recovery" {
		t.Fatalf("the recovery-code link led to %s (%d)", tb.path(), r.Status)
	}
	tb.expectFocus("code", "recovery-code page")
	tb.shot("form")
	tb.keys("ABCD-EFGH-JKMN")
	if r := tb.submitWith("\r"); r.Status != http.StatusUnauthorized {
		t.Errorf("a wrong recovery code: %d, want 401", r.Status)
	}
	tb.expectFieldError("code", "wrong recovery code")
	tb.expectFocus("code", "after a wrong recovery code")
	tb.shot("wrong-code")
	// Typed the way people type them off paper: lower case.
	tb.keys(strings.ToLower(op.codes[3]))
	if r := tb.submitWith("\r"); r.Status != http.StatusOK {
		t.Fatalf("a saved recovery code: %d", r.Status)
	}
	if left := tb.text("[data-codes-left]"); left != "9" {
		t.Errorf("after one recovery code the page says %q left, want 9", left)
	}
	tb.docShot("signed-in")
	tb.tabTo(fmt.Sprintf("a[href=%q]", next), "recovery-code success")
	expectUpstream(t, tb, tb.submitWith("\r"), next)
	browserSignOut(t, tb, false)

	s.journey(tb, "lockout")
	tb.open(next)
	browserPassword(t, tb, demoUser(t, memberEmail), "/.vectis/mfa", false)
	wrong := wrongCode(t, op.secret, stepNow())
	var r *network.Response
	for i := 1; i <= 5; i++ {
		tb.expectFocus("code", fmt.Sprintf("code page, attempt %d", i))
		tb.keys(wrong)
		r = tb.submitWith("\r")
		if i == 1 {
			if r.Status != http.StatusUnauthorized {
				t.Errorf("a wrong code: %d, want 401", r.Status)
			}
			tb.expectFieldError("code", "wrong code")
			tb.shot("wrong-code")
		}
		if i < 5 && r.Status == http.StatusTooManyRequests {
			t.Fatalf("locked after %d wrong codes, want 5", i)
		}
	}
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("the 5th wrong code: %d, want 429 and the lockout page", r.Status)
	}
	checkLockoutPage(t, tb)
	tb.docShot("locked")
	// Even the right code is refused while the account is locked.
	tb.open("/.vectis/mfa")
	tb.expectFocus("code", "code page while locked")
	tb.keys(op.code(t))
	if r := tb.submitWith("\r"); r.Status != http.StatusTooManyRequests {
		t.Errorf("a correct code while locked: %d, want 429", r.Status)
	}
	checkLockoutPage(t, tb)
}

// browserSSO: an SSO operator signs in with only their email; the tenant's break-glass admin gets
// password and code.
func browserSSO(t *testing.T, s *suite) {
	p := startSSOIdP(t)
	g := startSSOGateway(t, p)
	alice := ssoUsers["alice"]
	tb := s.b.newTab(t, g, "SSO operator")
	s.journey(tb, "sso-sign-in")
	const next = "/tickets/7?tab=notes"
	p.queue("okta-00u1alice", alice.Email)
	if r := tb.open(next); r.Status != http.StatusOK || !strings.HasPrefix(tb.path(), "/.vectis/login") {
		t.Fatalf("visiting %s signed out led to %s (%d), want the sign-in page", next, tb.path(), r.Status)
	}
	tb.expectFocus("email", "sign-in page")
	if tb.attr("#password", "id") != "" {
		t.Errorf("the first sign-in page asks for a password before it knows the account")
	}
	tb.keys(alice.Email)
	tb.docShot("email")
	// The email leads to a page that moves on to the IdP by itself, which sends the browser back.
	tb.do("submitting the email", chromedp.KeyEvent("\r"))
	want := upstreamMarker + "GET " + next
	if !waitFor(20*time.Second, func() bool {
		at, err := tryEvalIn[string](tb, `location.pathname + location.search + " " + document.body.innerText.trim()`)
		return err == nil && at == next+" "+want
	}) {
		t.Fatalf("after the email the browser shows %s %.80q, want the app's %s", tb.path(), tb.text("body"), next)
	}
	tb.checkClean("after the IdP")
	idp := false
	for _, u := range tb.visited() {
		if strings.HasPrefix(u, p.m.Issuer()) {
			idp = true
		}
		if strings.Contains(u, "/.vectis/mfa") || strings.Contains(u, "/.vectis/enroll") {
			t.Errorf("the SSO operator was shown %s", u)
		}
	}
	if !idp {
		t.Errorf("the browser never visited the IdP: %q", tb.visited())
	}
	if got := g.up.last(t).Header.Get("X-Vectis-Auth"); got != "sso:oidc" {
		t.Errorf("X-Vectis-Auth %q, want sso:oidc", got)
	}
	if r := tb.open("/.vectis/account/2fa"); r.Status != http.StatusOK {
		t.Fatalf("the SSO operator's account page: %d", r.Status)
	}
	if tb.attr("#code", "id") != "" {
		t.Errorf("the SSO operator's account page asks for an authenticator code")
	}
	tb.shot("account")

	root := s.b.newTab(t, g, "break-glass admin")
	j := s.journey(root, "break-glass")
	j.docName = "password"
	browserEnroll(t, root, ssoUsers["root"], "/admin", true)
	continueFromCodes(t, root, "/admin")
	if got := g.up.last(t).Header.Get("X-Vectis-Auth"); got != "password+totp" {
		t.Errorf("break-glass X-Vectis-Auth %q, want password+totp", got)
	}
	if n := p.tokens.Load(); n != 1 {
		t.Errorf("%d token requests at the IdP, want 1 (the SSO operator's; none for break-glass)", n)
	}
}

// browserPortal: the customer portal host passes straight through.
func browserPortal(t *testing.T, s *suite) {
	g := startGateway(t, standardCaddyfile)
	tb := s.b.newTab(t, g, "customer")
	s.journey(tb, "portal")
	const path = "/shop/cart?item=7"
	u := fmt.Sprintf("http://portal.localhost:%d%s", g.port, path)
	r := tb.openURL(u)
	if r.Status != http.StatusOK || r.URL != u {
		t.Fatalf("the portal page: %d at %s, want 200 at %s with no redirect", r.Status, r.URL, u)
	}
	if body := tb.text("body"); body != upstreamMarker+"GET "+path {
		t.Errorf("the portal page shows %q, want the app's own answer", body)
	}
	if got := g.up.last(t).Host; !strings.HasPrefix(got, "portal.localhost") {
		t.Errorf("the upstream saw Host %q, want the portal host", got)
	}
	if n := len(browserCookies(t, tb)); n != 0 {
		t.Errorf("the portal visit left %d cookies in the browser, want none from the gateway", n)
	}
	tb.appShot("app-page")
}

// browserStoreDown: Redis stops under a signed-in operator; the gateway shows its 503 page, the portal
// keeps working.
func browserStoreDown(t *testing.T, s *suite) {
	rd := redistest.Start(t)
	caddyfile := strings.Replace(standardCaddyfile, `storage bolt "{{.Dir}}/gateway.db"`, `storage redis {{.Redis}}`, 1)
	g := startGatewayWith(t, caddyfile, map[string]any{"Redis": rd.URL()})
	tb := s.b.newTab(t, g, "member")
	const next = "/devices"
	browserEnroll(t, tb, demoUser(t, memberEmail), next, false)
	continueFromCodes(t, tb, next)

	s.journey(tb, "store-down")
	rd.Stop()
	// The gateway keeps an active session in memory for up to a second; after that it must ask Redis.
	// Wait for that outside the browser (with the browser's cookie), so the browser loads one page.
	var jar []string
	for _, ck := range browserCookies(t, tb) {
		jar = append(jar, ck.Name+"="+ck.Value)
	}
	probe := g.newClient()
	hdr := http.Header{"Accept": {"application/json"}, "Cookie": {strings.Join(jar, "; ")}}
	if !waitFor(10*time.Second, func() bool { return probe.do(http.MethodGet, next, nil, hdr).status == http.StatusServiceUnavailable }) {
		t.Fatalf("10 s after Redis stopped, the signed-in operator's requests still do not fail closed")
	}
	before := g.up.count()
	r := tb.open(next)
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("an operator page with Redis down: %d, want 503", r.Status)
	}
	if h := tb.heading("unavailable"); !strings.Contains(strings.ToLower(h), "temporarily unavailable") {
		t.Errorf("the 503 page's heading is %q, want it to say temporarily unavailable", h)
	}
	if ref := tb.text("[data-ref]"); len(ref) < 6 {
		t.Errorf("the 503 page shows reference %q, want one to quote", ref)
	}
	if body := strings.ToLower(tb.text("body")); strings.Contains(body, "redis") || strings.Contains(body, "dial") || strings.Contains(body, "127.0.0.1") {
		t.Errorf("the 503 page shows internals:\n%s", body)
	}
	tb.docShot("unavailable")
	if g.up.count() != before {
		t.Errorf("with Redis down an operator request reached the upstream")
	}
	// The portal does not need the store.
	portal := s.b.newTab(t, g, "customer")
	u := fmt.Sprintf("http://portal.localhost:%d/status", g.port)
	if r := portal.openURL(u); r.Status != http.StatusOK || portal.text("body") != upstreamMarker+"GET /status" {
		t.Errorf("the portal with Redis down: %d %q, want the app's 200", r.Status, portal.text("body"))
	}
}

// browserOperator is an operator with their authenticator app.
type browserOperator struct {
	email  string
	secret string
	last   int64 // the last TOTP step used: the gateway accepts each step once, in order
	codes  []string
}

// code is a code the gateway accepts now and has not seen: the earliest unused step in its ±1 window,
// waiting for the clock only when all three are used.
func (o *browserOperator) code(t *testing.T) string {
	t.Helper()
	for {
		now := time.Now().Unix()
		cur, left := now/30, 30-now%30
		s := max(o.last+1, cur-1)
		if s == cur-1 && left < 5 {
			// The previous step leaves the window in a moment; do not race it.
			s = max(o.last+1, cur)
		}
		if s <= cur+1 {
			o.last = s
			return totpAt(t, o.secret, s)
		}
		time.Sleep(time.Until(time.Unix((s-1)*30, 0)) + 200*time.Millisecond)
	}
}

// browserPassword signs in with email and password from the sign-in page the tab shows (or opens),
// keyboard only, and checks the browser lands on want.
func browserPassword(t *testing.T, tb *tab, u seedUser, want string, shots bool) {
	t.Helper()
	email := u.Email
	if !strings.HasPrefix(tb.path(), "/.vectis/login") {
		tb.open("/.vectis/login")
	}
	tb.expectFocus("email", "sign-in page")
	if shots {
		tb.shot("sign-in")
	}
	tb.keys(u.Email)
	if tb.attr("#password", "id") != "" {
		// One page with both fields: Tab moves on to the password.
		tb.keys("\t")
		tb.expectFocus("password", "sign-in page after Tab")
	} else {
		// Email first (the workspace may sign in through its identity provider): Enter, then the
		// password page with that field focused.
		if r := tb.submitWith("\r"); r.Status != http.StatusOK {
			t.Fatalf("%s: submitting the email: %d", email, r.Status)
		}
		tb.expectFocus("password", "password page")
		if shots {
			tb.shot("password")
		}
	}
	tb.keys(u.Password)
	r := tb.submitWith("\r")
	if r.Status != http.StatusOK || tb.path() != want {
		t.Fatalf("%s: after the password the browser shows %s (%d), want %s", email, tb.path(), r.Status, want)
	}
}

// browserEnroll is an operator's first sign-in from a visit to next: sign-in page, enrollment (QR read
// from the screenshot, code from oathtool), and the recovery-code page, where it stops.
func browserEnroll(t *testing.T, tb *tab, u seedUser, next string, shots bool) *browserOperator {
	t.Helper()
	email := u.Email
	r := tb.open(next)
	lu, _ := url.Parse(tb.path())
	if r.Status != http.StatusOK || lu.Path != "/.vectis/login" || loginNext(lu) != next {
		t.Fatalf("visiting %s signed out led to %s (%d), want the sign-in page continuing to %s", next, tb.path(), r.Status, next)
	}
	browserPassword(t, tb, u, "/.vectis/enroll", shots)

	tb.expectFocus("code", "enrollment page")
	var png []byte
	if shots {
		png = tb.docShot("enroll")
	} else {
		tb.heading("enrollment")
		png = tb.fullPage()
	}
	uri := tb.attr("[data-otpauth-uri]", "data-otpauth-uri")
	if got := decodeQR(t, png); got != uri {
		t.Fatalf("the QR code on the page says %q, the page's data-otpauth-uri says %q", got, uri)
	}
	op := &browserOperator{email: email, secret: checkOTPAuthURI(t, uri, e2eIssuer, email)}
	if key := strings.ReplaceAll(tb.text("[data-manual-key]"), " ", ""); !strings.EqualFold(key, op.secret) {
		t.Errorf("the manual-entry key %q is not the QR code's secret", key)
	}

	if shots {
		tb.keys(wrongCode(t, op.secret, stepNow()))
		if r := tb.submitWith("\r"); r.Status != http.StatusUnauthorized {
			t.Errorf("a wrong enrollment code: %d, want 401", r.Status)
		}
		tb.expectFieldError("code", "wrong enrollment code")
		tb.expectFocus("code", "enrollment page after a wrong code")
		tb.shot("enroll-wrong-code")
		if got := tb.attr("[data-otpauth-uri]", "data-otpauth-uri"); got != uri {
			t.Errorf("a wrong code changed the QR code the operator has already scanned")
		}
	}

	tb.keys(op.code(t))
	if r := tb.submitWith("\r"); r.Status != http.StatusOK {
		t.Fatalf("a correct enrollment code: %d, want the recovery-code page", r.Status)
	}
	op.codes = checkRecoveryCodesPage(t, tb, nil)
	return op
}

// checkRecoveryCodesPage checks the page that shows fresh recovery codes and returns them. When want is
// set, the page must show exactly those.
func checkRecoveryCodesPage(t *testing.T, tb *tab, want []string) []string {
	t.Helper()
	codes := tb.texts("[data-recovery-code]")
	if len(codes) != 10 {
		t.Fatalf("the recovery-code page shows %d codes, want 10", len(codes))
	}
	if want != nil && !slices.Equal(codes, want) {
		t.Errorf("the recovery-code page shows %q, want %q", codes, want)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(codes)))) != 10 {
		t.Errorf("the recovery codes are not distinct: %q", codes)
	}
	href, name := tb.attr("a[download]", "href"), tb.attr("a[download]", "download")
	if !strings.HasPrefix(href, "data:text/plain") || !strings.HasSuffix(name, ".txt") {
		t.Errorf("the download link is %.40q (download=%q), want a data:text/plain link to a .txt file", href, name)
	} else {
		_, payload, _ := strings.Cut(href, ",")
		text, err := url.PathUnescape(payload)
		if err != nil {
			t.Errorf("the download link does not decode: %v", err)
		}
		for _, c := range codes {
			if !strings.Contains(text, c) {
				t.Errorf("the downloaded file lacks code %s", c)
			}
		}
	}
	return codes
}

// continueFromCodes leaves the recovery-code page for next, keyboard only.
func continueFromCodes(t *testing.T, tb *tab, next string) {
	t.Helper()
	tb.tabTo(fmt.Sprintf("a[href=%q]", next), "recovery codes")
	expectUpstream(t, tb, tb.submitWith("\r"), next)
}

// browserSignOut uses the confirmation page: its button has focus, Enter signs out.
func browserSignOut(t *testing.T, tb *tab, shots bool) {
	t.Helper()
	if r := tb.open("/.vectis/logout"); r.Status != http.StatusOK {
		t.Fatalf("GET /.vectis/logout: %d", r.Status)
	}
	if f := tb.waitFocus(func(f focused) bool { return f.Tag == "BUTTON" }); f.Tag != "BUTTON" {
		t.Errorf("the sign-out page focuses %s, want its button", f)
	}
	if shots {
		tb.docShot("confirm")
	}
	if r := tb.submitWith("\r"); r.Status != http.StatusOK {
		t.Fatalf("signing out: %d", r.Status)
	}
	if h := tb.heading("signed out"); !strings.Contains(h, "signed out") {
		t.Errorf("after signing out the page says %q", h)
	}
	if shots {
		tb.shot("signed-out")
	}
}

// expectUpstream checks the browser reached the app at next.
func expectUpstream(t *testing.T, tb *tab, r *network.Response, next string) {
	t.Helper()
	if want := upstreamMarker + "GET " + next; r.Status != http.StatusOK || tb.text("body") != want {
		t.Fatalf("the browser shows %s (%d) %.80q, want the app's page %q", tb.path(), r.Status, tb.text("body"), want)
	}
	tb.checkClean("the app's page " + next)
}

var minutesLeft = regexp.MustCompile(`Try again in (\d+) minutes?`)

// checkLockoutPage checks the lockout page says how long the lock lasts.
func checkLockoutPage(t *testing.T, tb *tab) {
	t.Helper()
	if h := tb.heading("lockout"); h != "Too many attempts" {
		t.Errorf("the lockout page's heading is %q", h)
	}
	m := minutesLeft.FindStringSubmatch(tb.text("main"))
	if m == nil {
		t.Fatalf("the lockout page does not say how many minutes remain:\n%s", tb.text("main"))
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 || n > 15 {
		t.Errorf("the lockout page says %d minutes remain, want 1–15", n)
	}
	if tb.attr("#code", "id") != "" {
		t.Errorf("the lockout page still offers a code field")
	}
}

// writeJourneyDocs regenerates docs/journeys.md and docs/journeys/<slug>.png from this run.
func writeJourneyDocs(t *testing.T, s *suite) {
	dir := filepath.Join(moduleRoot, "docs", "journeys")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	var md strings.Builder
	md.WriteString("# Operator journeys\n\n")
	md.WriteString("Every page an operator meets, as headless Chromium saw it on a phone (375 px wide). ")
	md.WriteString("The suite in `e2e/browser_test.go` drives the real gateway binary through each journey, ")
	md.WriteString("keyboard first, and fails on console errors, failed sub-resource loads, sideways scrolling at 375 px ")
	md.WriteString("or a page without a visible heading. `scripts/test` runs it; every page it visits is kept at 1280 px and ")
	md.WriteString("375 px in `e2e/artifacts/screenshots/<journey>/`.\n\n")
	md.WriteString("This file and `docs/journeys/` are generated: `VECTIS_UPDATE_JOURNEYS=1 go test ./e2e -run TestBrowserJourneys`.\n")
	for _, j := range journeys {
		r := s.runs[j.slug]
		png, err := shrinkPNG(r.doc)
		if err != nil {
			t.Fatalf("journey %s: %v", j.slug, err)
		}
		if err := os.WriteFile(filepath.Join(dir, j.slug+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&md, "\n## %s\n\n%s\n\n<img src=\"journeys/%s.png\" width=\"375\" alt=\"%s\">\n", j.title, j.what, j.slug, j.title)
	}
	if err := os.WriteFile(filepath.Join(moduleRoot, "docs", "journeys.md"), []byte(md.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote docs/journeys.md and %d screenshots", len(journeys))
}
