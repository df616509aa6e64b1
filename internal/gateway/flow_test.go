package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUnauthenticatedNavigationRedirectsAndAPIGets401(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	r := b.do("GET", "/reports?x=1", nil)
	if r.status != http.StatusSeeOther || r.loc != "/.vectis/login?next=%2Freports%3Fx%3D1" {
		t.Fatalf("navigation: %d %q", r.status, r.loc)
	}
	for _, hdr := range [][]string{
		{"Sec-Fetch-Mode", "cors"},
		{"X-Requested-With", "XMLHttpRequest"},
	} {
		r = b.do("GET", "/api/things", nil, hdr...)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"error":"unauthenticated"`) || !strings.Contains(r.body, `"login_url":"/.vectis/login?next=%2Fapi%2Fthings"`) {
			t.Fatalf("%v: %d %s", hdr, r.status, r.body)
		}
	}
	r = b.do("POST", "/api/things", url.Values{"a": {"b"}})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("POST: %d", r.status)
	}
	if e.up.count() != 0 {
		t.Fatal("upstream reached without a session")
	}
}

func TestEnrollThenSignInWithIdentityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	secret, codes := b.enroll("Admin@Acme.example", "correct horse battery", "/reports?x=1")
	if len(secret) < 20 {
		t.Fatalf("secret only %d bytes", len(secret))
	}
	for _, c := range codes {
		if strings.Contains(logsOf(t), c) {
			t.Fatal("a recovery code appeared in the log")
		}
	}
	// The codes page says where to continue.
	r := b.do("GET", "/reports?x=1", nil, "X-Vectis-User-Id", "forged", "x-vectis-tenant", "beta", "X_Vectis_Role", "admin", "Cookie", "app=1")
	if r.status != http.StatusOK {
		t.Fatalf("after enrollment: %d %q", r.status, r.loc)
	}
	got := e.up.last()
	want := map[string]string{"X-Vectis-Email": "admin@acme.example", "X-Vectis-Tenant": "acme", "X-Vectis-Role": "admin", "X-Vectis-Auth": "password+totp"}
	for k, v := range want {
		if got.Header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Header.Get(k), v)
		}
	}
	if id := got.Header.Get("X-Vectis-User-Id"); id == "forged" || !strings.HasPrefix(id, "op_") {
		t.Errorf("user id %q", id)
	}
	if _, ok := got.Header["X_vectis_role"]; ok {
		t.Error("underscore header reached upstream")
	}
	for name := range got.Header {
		if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(name, "_", "-")), "x-vectis-") && len(got.Header[name]) != 1 {
			t.Errorf("%s has %d values", name, len(got.Header[name]))
		}
	}
	cookie := got.Header.Get("Cookie")
	if strings.Contains(cookie, "vectis_session") || !strings.Contains(cookie, "app=1") {
		t.Errorf("upstream cookie header %q", cookie)
	}
	// The assertion verifies against the published JWKS (checked in detail in the assertion package and e2e).
	if parts := strings.Split(got.Header.Get("X-Vectis-Assertion"), "."); len(parts) != 3 {
		t.Errorf("assertion %q", got.Header.Get("X-Vectis-Assertion"))
	}

	// Sign out: GET shows a confirmation, POST revokes.
	r = b.do("GET", "/.vectis/logout", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="csrf"`) {
		t.Fatalf("logout page %d", r.status)
	}
	r = b.post("/.vectis/logout", nil)
	if r.status != http.StatusOK {
		t.Fatalf("logout %d", r.status)
	}
	if r := b.do("GET", "/reports", nil); r.status != http.StatusSeeOther {
		t.Fatalf("after logout: %d", r.status)
	}

	// Same step again is refused (replay), the next step works.
	r = b.signIn("admin@acme.example", "correct horse battery", secret)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `id="code-error"`) {
		t.Fatalf("replayed step: %d", r.status)
	}
	e.clk.Add(30 * time.Second)
	r = b.post("/.vectis/mfa", url.Values{"code": {e.code(secret, 0)}})
	if r.status != http.StatusSeeOther || r.loc != "/" {
		t.Fatalf("fresh code: %d %q", r.status, r.loc)
	}
}

func TestSkewAndReplay(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	secret, _ := b.enroll("tech@acme.example", "tech password 1", "/")
	for _, tc := range []struct {
		name   string
		offset int64
		ok     bool
	}{
		{"two steps behind", -2, false},
		{"two steps ahead", 2, false},
		{"one step behind", -1, true},
	} {
		e.clk.Add(90 * time.Second)
		b2 := e.browser()
		r := b2.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
		if r.loc != "/.vectis/mfa" {
			t.Fatalf("%s: login %d %q", tc.name, r.status, r.loc)
		}
		r = b2.post("/.vectis/mfa", url.Values{"code": {e.code(secret, tc.offset)}})
		if (r.status == http.StatusSeeOther) != tc.ok {
			t.Errorf("%s: status %d", tc.name, r.status)
		}
	}
	// A later step used, then an earlier (still in the ±1 window) one is refused: steps only move forward.
	e.clk.Add(90 * time.Second)
	b3 := e.browser()
	b3.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
	if r := b3.post("/.vectis/mfa", url.Values{"code": {e.code(secret, 1)}}); r.status != http.StatusSeeOther {
		t.Fatalf("+1 step: %d", r.status)
	}
	b4 := e.browser()
	b4.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
	if r := b4.post("/.vectis/mfa", url.Values{"code": {e.code(secret, 0)}}); r.status != http.StatusUnauthorized {
		t.Fatalf("older step after newer: %d", r.status)
	}
}

func TestWrongPasswordIsGeneric(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ email, pw string }{
		{"admin@acme.example", "wrong"},
		{"nobody@acme.example", "correct horse battery"},
		{"", ""},
	} {
		r := e.browser().post("/.vectis/login", url.Values{"email": {tc.email}, "password": {tc.pw}})
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "do not match") {
			t.Errorf("%q: %d", tc.email, r.status)
		}
		if strings.Contains(logsOf(t), "correct horse") {
			t.Fatal("password in log")
		}
	}
}

func TestPendingLoginReachesNothingAndExpires(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	r := b.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
	if r.loc != "/.vectis/enroll" {
		t.Fatalf("login %d %q", r.status, r.loc)
	}
	if r := b.do("GET", "/dashboard", nil); r.status != http.StatusSeeOther || e.up.count() != 0 {
		t.Fatalf("pending login reached upstream: %d", r.status)
	}
	if r := b.do("GET", "/.vectis/mfa", nil); r.loc != "/.vectis/enroll" {
		t.Fatalf("mfa page for enroll state: %d %q", r.status, r.loc)
	}
	secret := b.enrollSecret()
	e.clk.Add(10*time.Minute + time.Second)
	r = b.post("/.vectis/enroll", url.Values{"code": {e.code(secret, 0)}})
	if r.status == http.StatusOK || strings.Contains(r.body, "data-recovery-code") {
		t.Fatalf("expired pending login enrolled: %d", r.status)
	}
}

func TestWrongEnrollmentCodeStoresNothing(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
	secret := b.enrollSecret()
	bad := e.code(secret, 5)
	r := b.post("/.vectis/enroll", url.Values{"code": {bad}, "secret": {"JBSWY3DPEHPK3PXP"}})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("wrong enrollment code: %d", r.status)
	}
	op, _ := e.st.OperatorByEmail(context.Background(), "tech@acme.example")
	if _, err := e.st.GetCredentials(context.Background(), "acme", op.ID); err == nil {
		t.Fatal("a wrong code activated a secret")
	}
	if r := b.do("GET", "/x", nil); r.status != http.StatusSeeOther {
		t.Fatal("wrong enrollment code produced a session")
	}
	// A posted secret is ignored: the right code for the server's secret works.
	r = b.post("/.vectis/enroll", url.Values{"code": {e.code(secret, 0)}, "secret": {"JBSWY3DPEHPK3PXP"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "data-recovery-code") {
		t.Fatalf("enroll: %d", r.status)
	}
}

func TestPortalNeverTouchesStore(t *testing.T) {
	e := newEnv(t)
	e.fail.Store(true)
	b := e.browser()
	for _, host := range []string{"portal.example.com", "PORTAL.example.com:8443", "acme.portal.example.com"} {
		r := b.do("GET", "/ticket/1", nil, "Host", host, "X-Vectis-User-Id", "forged", "x-vectis-tenant", "t", "X_Vectis_Email", "e@x", "X.Vectis.Role", "admin")
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d", host, r.status)
		}
		for name := range e.up.last().Header {
			if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(name, "_", "-")), "x-vectis") {
				t.Fatalf("%s: forged %s reached the portal upstream", host, name)
			}
		}
	}
	if n := e.opens.Load(); n != 0 {
		t.Fatalf("portal traffic opened the store %d times", n)
	}
	// Look-alikes are operator hosts: denied when the store is down, never passed through.
	for _, host := range []string{"portal.example.com.evil.test", "a.b.portal.example.com", "xportal.example.com"} {
		r := b.do("GET", "/ticket/1", nil, "Host", host)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("%s: %d", host, r.status)
		}
	}
}

func TestStoreDownFailsClosedThenRecovers(t *testing.T) {
	e := newEnv(t)
	e.fail.Store(true)
	b := e.browser()
	for _, p := range []string{"/", "/.vectis/login"} {
		r := b.do("GET", p, nil)
		if p == "/.vectis/login" {
			// The login page itself needs no store until the form is posted.
			if r.status != http.StatusOK {
				t.Fatalf("%s: %d", p, r.status)
			}
			continue
		}
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "temporarily unavailable") {
			t.Fatalf("%s: %d %.200s", p, r.status, r.body)
		}
	}
	r := b.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
	if r.status != http.StatusServiceUnavailable || e.up.count() != 0 {
		t.Fatalf("login with store down: %d", r.status)
	}
	if r := b.do("GET", "/.vectis/healthz", nil); r.status != http.StatusServiceUnavailable || strings.Contains(r.body, "fake") {
		t.Fatalf("healthz down: %d %s", r.status, r.body)
	}
	e.fail.Store(false)
	if r := b.do("GET", "/.vectis/healthz", nil); r.status != http.StatusOK {
		t.Fatalf("healthz after recovery: %d", r.status)
	}
	b.enroll("tech@acme.example", "tech password 1", "/")
}

func TestBadCookiesNeverReachUpstream(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll("admin@acme.example", "correct horse battery", "/")
	u, _ := url.Parse(e.srv.URL)
	var good string
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			good = c.Value
		}
	}
	if good == "" {
		t.Fatal("no session cookie")
	}
	before := e.up.count()
	for name, v := range map[string]string{
		"garbage":   "%%%not-a-cookie",
		"truncated": good[:len(good)-5],
		"tampered":  good[:len(good)-1] + flip(good[len(good)-1]),
		"tenant":    "beta" + good[strings.IndexByte(good, '.'):],
		"empty":     "",
		"long":      strings.Repeat("a", 5000),
	} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/x", nil)
		req.Header.Set("Cookie", sessionCookie+"="+v)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s cookie: %d", name, res.StatusCode)
		}
	}
	// Expired: idle timeout, then absolute.
	e.clk.Add(61 * time.Minute)
	if r := b.do("GET", "/x", nil); r.status != http.StatusSeeOther {
		t.Errorf("idle-expired session: %d", r.status)
	}
	if e.up.count() != before {
		t.Fatal("a bad cookie reached the upstream")
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestAbsoluteExpiry(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll("admin@acme.example", "correct horse battery", "/")
	for i := 0; i < 12*2; i++ { // stay active every 30 minutes for 12 hours
		e.clk.Add(30 * time.Minute)
		r := b.do("GET", "/x", nil)
		if i < 23 && r.status != http.StatusOK {
			t.Fatalf("after %d half-hours: %d", i+1, r.status)
		}
		if i == 23 && r.status != http.StatusSeeOther {
			t.Fatalf("after 12 h: %d", r.status)
		}
	}
}

func TestLockoutWindowWithInjectedClock(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) { testLockoutWindow(t, backend) })
	}
}

func testLockoutWindow(t *testing.T, backend string) {
	for _, tc := range []struct {
		name     string
		failures []time.Duration
		locked   bool
	}{
		{"new window after 15:01", []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 15*time.Minute + time.Second}, false},
		{"locked at 14:59", []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 14*time.Minute + 59*time.Second}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvOn(t, backend)
			b := e.browser()
			secret, _ := b.enroll("tech@acme.example", "tech password 1", "/")
			start := e.clk.Now().Add(time.Minute)
			var last resp
			for _, at := range tc.failures {
				e.clk.t = start.Add(at)
				b2 := e.browser()
				b2.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
				last = b2.post("/.vectis/mfa", url.Values{"code": {"000000"}})
			}
			if tc.locked != (last.status == http.StatusTooManyRequests) {
				t.Fatalf("last failure: %d", last.status)
			}
			// A correct code now: refused while locked (until 15:00 after the first failure), accepted after.
			e.clk.t = start.Add(14*time.Minute + 59*time.Second + 500*time.Millisecond)
			if !tc.locked {
				e.clk.t = start.Add(15*time.Minute + 31*time.Second)
			}
			b3 := e.browser()
			b3.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
			r := b3.post("/.vectis/mfa", url.Values{"code": {e.code(secret, 0)}})
			if tc.locked {
				if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Try again in 1 minute") {
					t.Fatalf("correct code while locked: %d %.300s", r.status, r.body)
				}
				e.clk.t = start.Add(15 * time.Minute)
				r = b3.post("/.vectis/mfa", url.Values{"code": {e.code(secret, 0)}})
			}
			if r.status != http.StatusSeeOther {
				t.Fatalf("correct code after the window: %d", r.status)
			}
		})
	}
}

func TestParallelCodesAreCountedAtomically(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) { testParallelCodes(t, backend) })
	}
}

func testParallelCodes(t *testing.T, backend string) {
	e := newEnvOn(t, backend)
	b := e.browser()
	secret, codes := b.enroll("tech@acme.example", "tech password 1", "/")
	run := func(n int, code func(i int) string, path string) []int {
		e.clk.Add(2 * time.Minute)
		var wg sync.WaitGroup
		statuses := make([]int, n)
		browsers := make([]*browser, n)
		for i := range browsers {
			browsers[i] = e.browser()
			browsers[i].post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
		}
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				statuses[i] = browsers[i].post(path, url.Values{"code": {code(i)}}).status
			}(i)
		}
		wg.Wait()
		return statuses
	}
	count := func(s []int, want int) (n int) {
		for _, v := range s {
			if v == want {
				n++
			}
		}
		return
	}
	// One valid TOTP submitted 20 times at once: exactly one session.
	st := run(20, func(int) string { return e.code(secret, 0) }, "/.vectis/mfa")
	if count(st, http.StatusSeeOther) != 1 {
		t.Fatalf("one TOTP, 20 submissions: %v", st)
	}
	// The 19 refused submissions counted as failures; start the next race with a clean count.
	op, _ := e.st.OperatorByEmail(context.Background(), "tech@acme.example")
	_ = e.st.Clear(context.Background(), "acme", lockKey(op.ID))
	// One valid recovery code 20 times at once: exactly one success, one fewer left.
	st = run(20, func(int) string { return codes[0] }, "/.vectis/mfa/recovery")
	if count(st, http.StatusOK) != 1 {
		t.Fatalf("one recovery code, 20 submissions: %v", st)
	}
	cr, _ := e.st.GetCredentials(context.Background(), "acme", op.ID)
	if cr.RecoveryLeft != 9 {
		t.Fatalf("recovery codes left %d", cr.RecoveryLeft)
	}
	// 20 wrong codes at once: at most 5 evaluated (the rest refused as locked), account locked.
	// (The failed recovery submissions above counted too; clear them first.)
	_ = e.st.Clear(context.Background(), "acme", lockKey(op.ID))
	st = run(20, func(int) string { return "123456" }, "/.vectis/mfa")
	if n := count(st, http.StatusUnauthorized); n > 4 {
		t.Fatalf("%d wrong codes evaluated without lock: %v", n, st)
	}
	v, _ := e.st.Status(context.Background(), "acme", lockKey(op.ID), e.clk.Now())
	if v.Count != 5 {
		t.Fatalf("lock count %d", v.Count)
	}
	// Another operator of the same tenant is unaffected.
	e.browser().enroll("admin@acme.example", "correct horse battery", "/")
}

func TestJWKSAndHealthz(t *testing.T) {
	e := newEnv(t)
	r := e.browser().do("GET", "/.vectis/jwks.json", nil)
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &set) != nil || len(set.Keys) != 1 || set.Keys[0]["alg"] != "ES256" {
		t.Fatalf("jwks %d %s", r.status, r.body)
	}
	if _, ok := set.Keys[0]["d"]; ok {
		t.Fatal("private key published")
	}
	if r := e.browser().do("GET", "/.vectis/healthz", nil); r.status != http.StatusOK || r.body != "{\"status\":\"ok\",\"store\":\"ok\"}\n" {
		t.Fatalf("healthz %d %q", r.status, r.body)
	}
}

func TestGatewayPagesCarrySecurityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, p := range []string{"/.vectis/login", "/.vectis/logout", "/.vectis/nope"} {
		r := b.do("GET", p, nil)
		if !strings.Contains(r.h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			r.h.Get("X-Content-Type-Options") != "nosniff" || r.h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s headers: %v", p, r.h)
		}
	}
	// Missing, forged and cross-browser CSRF tokens are refused.
	other := e.browser()
	other.do("GET", "/.vectis/login", nil)
	for name, form := range map[string]url.Values{
		"missing": {"email": {"tech@acme.example"}, "password": {"tech password 1"}},
		"forged":  {"email": {"tech@acme.example"}, "password": {"tech password 1"}, "csrf": {"AAAA"}},
	} {
		if r := other.do("POST", "/.vectis/login", form); r.status != http.StatusForbidden {
			t.Errorf("%s csrf: %d", name, r.status)
		}
	}
	page := b.do("GET", "/.vectis/login", nil)
	tok := hiddenRE.FindStringSubmatch(page.body)[2]
	if r := other.do("POST", "/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}, "csrf": {tok}}); r.status != http.StatusForbidden {
		t.Errorf("another browser's token: %d", r.status)
	}
}
