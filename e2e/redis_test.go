package e2e

// Issue 3 end to end on shared Redis state: two real gateway processes on one redis-server agree on
// every session, lock, used TOTP step and recovery code; a dead or frozen Redis makes operator requests
// fail closed with a 503 page while the portal keeps flowing, and the gateway heals when Redis returns.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vectis/mfa-gateway/internal/store/redis/redistest"
)

// redisCaddyfile is standardCaddyfile on a shared Redis: replicas must share secret_key, or one
// could not open the TOTP secrets and recovery-code hashes the other wrote.
const redisCaddyfile = `{
	admin 127.0.0.1:{{.AdminPort}}
	persist_config off
	auto_https off
	grace_period 2s
}

http://:{{.Port}} {
	bind 127.0.0.1
	vectis_mfa {
		portal_hosts portal.localhost *.portal.test
		storage redis {{.Redis}}
		secret_key {{.SharedKey}}
		issuer "{{.Issuer}}"
		seed "{{.Seed}}"
	}
	reverse_proxy {{.Upstream}}
}
`

// startReplicas starts n gateway processes on rs with one shared secret_key, and bootstraps them one
// after the other (the first imports the seed), so no test depends on two replicas racing the import.
func startReplicas(t *testing.T, rs *redistest.Server, n int) []*gw {
	t.Helper()
	key := randomKey(t)
	gws := make([]*gw, n)
	for i := range gws {
		g := startGatewayWith(t, redisCaddyfile, map[string]any{"Redis": rs.URL(), "SharedKey": key})
		// The configured key is the shared one: the harness's log check must look for it.
		g.key = key
		gws[i] = g
	}
	// Every replica of one test writes its log under the same artifact directory; give each its own.
	for i, g := range gws {
		g.artifacts = filepath.Join(g.artifacts, string(rune('A'+i)))
		if err := os.MkdirAll(g.artifacts, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, g := range gws {
		if !waitFor(10*time.Second, func() bool {
			return g.newClient().do(http.MethodGet, "/.vectis/healthz", nil, nil).status == http.StatusOK
		}) {
			t.Fatalf("replica %c: /.vectis/healthz is not 200 with Redis up", 'A'+i)
		}
	}
	return gws
}

// adoptSession gives c (a browser of another replica) the session cookie value of another browser.
// The cookie is host-only, so it is filed under c's own host, as a load balancer's one name would be.
func adoptSession(c *client, name, value string) {
	c.jar.SetCookies(c.jarURL(), []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

var codesLeftRE = regexp.MustCompile(`data-codes-left[^>]*>\s*(\d+)\s*<`)

// recoveryStep submits code on the recovery-code page of c's pending login.
func recoveryStep(t *testing.T, c *client, code string) *resp {
	t.Helper()
	r := c.navigate("/.vectis/mfa/recovery")
	if r.status != http.StatusOK {
		t.Fatalf("GET /.vectis/mfa/recovery: %d\n%s", r.status, r.body)
	}
	p := parsePage(t, r)
	return c.submit(p, p.formWith(t, "code"), url.Values{"code": {code}})
}

// recoverySignIn is a password step, then code on the recovery-code page. It returns the
// response and how many codes the page says are left (-1 when it shows no count: refused).
func recoverySignIn(t *testing.T, c *client, email, code, next string) (*resp, int) {
	t.Helper()
	if loc := passwordStep(t, c, email, next); !strings.HasPrefix(loc, "/.vectis/mfa") {
		t.Fatalf("after the password %s went to %q, want /.vectis/mfa", email, loc)
	}
	r := recoveryStep(t, c, code)
	m := codesLeftRE.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		return r, -1
	}
	n, _ := strconv.Atoi(m[1])
	return r, n
}

// regenerateCodes uses Account → Two-factor authentication on c's active session with a current TOTP
// code and returns the 10 new codes shown.
func regenerateCodes(t *testing.T, c *client, code string) []string {
	t.Helper()
	r := c.navigate("/.vectis/account/2fa")
	if r.status != http.StatusOK {
		t.Fatalf("GET /.vectis/account/2fa: %d\n%s", r.status, r.body)
	}
	p := parsePage(t, r)
	var f *htmlForm
	for _, cand := range p.forms {
		if cand.hidden.Get("action") == "regenerate" {
			f = cand
		}
	}
	if f == nil {
		t.Fatalf("the account page has no form with action=regenerate")
	}
	r = c.submit(p, f, url.Values{"code": {code}, "confirm": {"yes"}, "action": {"regenerate"}})
	if r.status != http.StatusOK {
		t.Fatalf("regenerating the recovery codes: %d, want 200 with the new codes\n%s", r.status, r.body)
	}
	codes := parsePage(t, r).recovery
	if len(codes) != 10 {
		t.Fatalf("regenerating shows %d data-recovery-code elements, want 10", len(codes))
	}
	return codes
}

var tryAgainRE = regexp.MustCompile(`Try again in (\d+) minutes?`)

// checkLocked: r is the lockout page, 429, saying in how many minutes to try again (the 15-minute
// window opened by the first failure moments ago, so 14 or 15).
func checkLocked(t *testing.T, what string, r *resp) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Errorf("%s: %d, want 429 (locked)\n%s", what, r.status, r.body)
		return
	}
	text := strings.Join(strings.Fields(parsePage(t, r).text), " ")
	m := tryAgainRE.FindStringSubmatch(text)
	if m == nil {
		t.Errorf("%s: the lockout page does not say when to try again:\n%s", what, text)
		return
	}
	if n, _ := strconv.Atoi(m[1]); n < 14 || n > 15 {
		t.Errorf("%s: the lockout page says %d minutes, want 14 or 15 (a 15-minute window that just opened)", what, n)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 13*60 || ra > 15*60 {
		t.Errorf("%s: Retry-After %q, want the seconds left in the window", what, r.header.Get("Retry-After"))
	}
}

// cacheStaleness bounds how long a replica may keep serving a session it read from the store after
// the store changed or went away: the gateway keeps active sessions in a 1-second read-through cache
// (internal/gateway/cache.go), so a revocation made on another replica, or a Redis outage, shows on
// this one within that second. The extra half second is scheduling slack on a busy machine.
const cacheStaleness = 1500 * time.Millisecond

// refusedWithin sends the same request every 50 ms until refused says so, and returns how long that
// took; it fails the test when that takes longer than bound, or when a refused request is then let
// through again.
func refusedWithin(t *testing.T, what string, bound time.Duration, send func() *resp, refused func(*resp) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !refused(send()) {
		if time.Since(start) > bound {
			t.Fatalf("%s: still let through %s later, want refused within %s", what, time.Since(start).Round(time.Millisecond), bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("%s: refused after %s", what, took.Round(time.Millisecond))
	for i := range 3 {
		if r := send(); !refused(r) {
			t.Errorf("%s: refused, then let through again (%d, request %d)", what, r.status, i)
		}
	}
	return took
}

// TestRedisReplicasShareSessionsAndCodes: a session made through replica A works through B; a TOTP
// step, a recovery code and a regenerated set used through A hold through B; logout through A ends
// the session on B.
func TestRedisReplicasShareSessionsAndCodes(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	gws := startReplicas(t, rs, 2)
	a, b := gws[0], gws[1]

	// The admin enrolls through A; the same session cookie, sent to B, reaches B's upstream as the admin.
	ca := a.newClient()
	e := enroll(t, a, ca, adminEmail, "/dash")
	onB := b.newClient()
	adoptSession(onB, e.session, ca.cookie(e.session))
	if r := onB.navigate("/dash/b"); !b.reached(r) {
		t.Fatalf("the session made through A, sent to B: %d, want B's upstream\n%s", r.status, r.body)
	}
	seen := b.up.last(t)
	if seen.Header.Get("X-Vectis-Email") != adminEmail || seen.Header.Get("X-Vectis-Auth") != "password+totp" {
		t.Errorf("B's upstream saw X-Vectis-Email %q, X-Vectis-Auth %q; want %s, password+totp",
			seen.Header.Get("X-Vectis-Email"), seen.Header.Get("X-Vectis-Auth"), adminEmail)
	}

	// A TOTP step used for a sign-in through A is refused through B while it is still in the window.
	tech := enroll(t, a, a.newClient(), memberEmail, "/t")
	code, step := laterCode(t, tech.secret, tech.step)
	signInWithCode(t, a, a.newClient(), memberEmail, code, "/t/a")
	cb := b.newClient()
	if loc := passwordStep(t, cb, memberEmail, "/t/b"); !strings.HasPrefix(loc, "/.vectis/mfa") {
		t.Fatalf("B sent the enrolled member to %q after the password, want /.vectis/mfa (does B see A's enrollment?)", loc)
	}
	before := b.up.count()
	r := mfaStep(t, cb, code)
	if stepNow() > step+1 {
		t.Fatalf("the replay check ran too late (step %d is outside the window now); the machine is too slow", step)
	}
	if r.status != http.StatusUnauthorized {
		t.Errorf("the TOTP code used through A, submitted through B: %d, want 401 (refused as used)\n%s", r.status, r.body)
	}
	if r := cb.navigate("/t/b"); b.reached(r) || b.up.count() != before {
		t.Errorf("after the replayed code through B, /t/b reached B's upstream")
	}

	// A recovery code used through A is refused through B; another one works there, and B counts what
	// is left from the same set (8 after two).
	if r, left := recoverySignIn(t, a.newClient(), adminEmail, e.codes[0], "/r/a"); left != 9 {
		t.Fatalf("signing in through A with a recovery code: %d, %d left; want 200 with 9 left\n%s", r.status, left, r.body)
	}
	cb = b.newClient()
	if r, left := recoverySignIn(t, cb, adminEmail, e.codes[0], "/r/b"); r.status != http.StatusUnauthorized || left != -1 {
		t.Errorf("the recovery code used through A, submitted through B: %d (%d left), want 401", r.status, left)
	}
	if r := cb.navigate("/r/b"); b.reached(r) {
		t.Errorf("after a used recovery code through B, /r/b reached B's upstream")
	}
	r = recoveryStep(t, cb, strings.ToLower(strings.ReplaceAll(e.codes[1], "-", "")))
	if m := codesLeftRE.FindStringSubmatch(r.body); r.status != http.StatusOK || m == nil || m[1] != "8" {
		t.Errorf("an unused recovery code (lower case, no separator) through B: %d, left %v; want 200 with 8 left\n%s", r.status, m, r.body)
	}
	if r := cb.navigate("/r/b"); !b.reached(r) {
		t.Errorf("after a good recovery code through B, /r/b did not reach B's upstream: %d", r.status)
	}

	// Regenerating through A (a current TOTP on A's session) kills every older code on B at once.
	regen, regenStep := laterCode(t, e.secret, e.step)
	fresh := regenerateCodes(t, ca, regen)
	old := map[string]bool{}
	for _, c := range e.codes {
		old[c] = true
	}
	for _, c := range fresh {
		if old[c] {
			t.Errorf("a regenerated recovery code equals an old one")
		}
	}
	for _, c := range e.codes[2:4] {
		if r, left := recoverySignIn(t, b.newClient(), adminEmail, c, "/g/b"); r.status != http.StatusUnauthorized || left != -1 {
			t.Errorf("an unused code of the old set through B after regenerating through A: %d (%d left), want 401", r.status, left)
		}
	}
	if r, left := recoverySignIn(t, b.newClient(), adminEmail, fresh[0], "/g/b"); left != 9 {
		t.Errorf("a new code through B after regenerating through A: %d, %d left; want 200 with 9 left\n%s", r.status, left, r.body)
	}
	// The step that confirmed the regeneration through A is used up on B too.
	cb = b.newClient()
	passwordStep(t, cb, adminEmail, "/g/b")
	r = mfaStep(t, cb, regen)
	if stepNow() > regenStep+1 {
		t.Fatalf("the replay check ran too late (step %d is outside the window now); the machine is too slow", regenStep)
	}
	if r.status != http.StatusUnauthorized {
		t.Errorf("the TOTP code that confirmed the regeneration through A, through B: %d, want 401 (refused as used)", r.status)
	}

	// Logout through A ends the session everywhere: B's browser with the same cookie is sent to sign in.
	if r := onB.navigate("/dash/b"); !b.reached(r) {
		t.Fatalf("before the logout the shared session no longer works through B: %d", r.status)
	}
	signOut(t, ca)
	if r := ca.navigate("/dash"); r.status != http.StatusSeeOther || a.reached(r) {
		t.Errorf("after logout through A, the session through A: %d, want 303 to the login page", r.status)
	}
	refusedWithin(t, "the session through B after logout through A", cacheStaleness,
		func() *resp { return onB.navigate("/dash/b") },
		func(r *resp) bool {
			if !b.reached(r) && r.status != http.StatusSeeOther {
				t.Fatalf("after logout through A, the session through B: %d, want the upstream (not yet seen) or 303 to the login page\n%s", r.status, r.body)
			}
			return r.status == http.StatusSeeOther
		})
}

// TestRedisReplicasShareLockout: 5 wrong codes through A lock the account; a correct code (and a
// correct recovery code) through B is refused with the lockout page; another operator of the same
// tenant signs in normally through B.
func TestRedisReplicasShareLockout(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	gws := startReplicas(t, rs, 2)
	a, b := gws[0], gws[1]

	admin := enroll(t, a, a.newClient(), adminEmail, "/a")
	tech := enroll(t, b, b.newClient(), memberEmail, "/t")

	ca := a.newClient()
	passwordStep(t, ca, adminEmail, "/locked")
	wrong := wrongCode(t, admin.secret, stepNow())
	for i := 1; i <= 4; i++ {
		if r := mfaStep(t, ca, wrong); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d through A: %d, want 401\n%s", i, r.status, r.body)
		}
	}
	checkLocked(t, "the 5th wrong code through A", mfaStep(t, ca, wrong))

	// Another browser, another replica, a new sign-in: still locked, even with a correct, unused code.
	cb := b.newClient()
	if loc := passwordStep(t, cb, adminEmail, "/locked"); !strings.HasPrefix(loc, "/.vectis/mfa") {
		t.Fatalf("the password step through B went to %q, want /.vectis/mfa (B must see the enrollment made through A, and wrong codes must not touch the password step)", loc)
	}
	before := b.up.count()
	good, _ := laterCode(t, admin.secret, admin.step)
	checkLocked(t, "a correct code through B while locked", mfaStep(t, cb, good))
	checkLocked(t, "a correct recovery code through B while locked", recoveryStep(t, cb, admin.codes[0]))
	if r := cb.navigate("/locked"); b.reached(r) || b.up.count() != before {
		t.Errorf("a locked operator reached B's upstream")
	}

	// The lock is the admin's alone: the member signs in through B with a code.
	code, _ := laterCode(t, tech.secret, tech.step)
	signInWithCode(t, b, b.newClient(), memberEmail, code, "/t/b")
	if got := b.up.last(t).Header.Get("X-Vectis-Email"); got != memberEmail {
		t.Errorf("B's upstream saw X-Vectis-Email %q, want %s", got, memberEmail)
	}
}

// storeOutage is what every operator-side request must look like while the store is gone: a 503 in
// bounded time, never the upstream, never a 500, no internals.
type storeOutage struct {
	t     *testing.T
	g     *gw
	redis string // host:port of Redis, which must not show on any page
	limit time.Duration
}

func (o storeOutage) check(what string, send func() *resp) *resp {
	o.t.Helper()
	before := o.g.up.count()
	start := time.Now()
	r := send()
	took := time.Since(start)
	o.t.Logf("%s: %d in %s", what, r.status, took.Round(time.Millisecond))
	if r.status != http.StatusServiceUnavailable {
		o.t.Errorf("%s with the store unavailable: %d, want 503\n%s", what, r.status, r.body)
	}
	if o.g.up.count() != before {
		o.t.Errorf("%s with the store unavailable reached the upstream", what)
	}
	if took > o.limit {
		o.t.Errorf("%s with the store unavailable took %s, want under %s", what, took, o.limit)
	}
	low := strings.ToLower(r.body)
	for _, leak := range []string{"redis", o.redis, "i/o timeout", "connection refused", "goroutine"} {
		if strings.Contains(low, strings.ToLower(leak)) {
			o.t.Errorf("%s: the 503 answer shows internals (%q):\n%s", what, leak, r.body)
		}
	}
	return r
}

// page: the 503 is the HTML page saying sign-in is temporarily unavailable.
func (o storeOutage) page(what string, send func() *resp) {
	o.t.Helper()
	r := o.check(what, send)
	if !strings.Contains(strings.ToLower(r.body), "temporarily unavailable") {
		o.t.Errorf("%s: the 503 page does not say sign-in is temporarily unavailable:\n%s", what, r.body)
	}
}

// operatorRequests sends what a signed-in operator, an API call, a new sign-in and a monitor send
// while the store is unavailable, and checks the portal keeps answering at once.
func (o storeOutage) operatorRequests(signedIn *client) {
	t, g := o.t, o.g
	// A session read from the store under a second ago may still be served from the gateway's cache;
	// after that every request of it needs the store, and is refused.
	refusedWithin(t, "a signed-in operator's navigation once the store is gone", cacheStaleness+o.limit,
		func() *resp {
			start := time.Now()
			r := signedIn.navigate("/during")
			if d := time.Since(start); d > o.limit {
				t.Errorf("a signed-in operator's navigation took %s with the store unavailable, want under %s", d, o.limit)
			}
			return r
		},
		func(r *resp) bool {
			if !g.reached(r) && r.status != http.StatusServiceUnavailable {
				t.Fatalf("a signed-in operator's navigation with the store unavailable: %d, want 503\n%s", r.status, r.body)
			}
			return r.status == http.StatusServiceUnavailable
		})
	o.page("a signed-in operator's navigation", func() *resp { return signedIn.navigate("/during") })
	o.check("a signed-in operator's API call", func() *resp {
		return signedIn.do(http.MethodGet, "/api/during", nil, http.Header{"Accept": {"application/json"}})
	})
	fresh := g.newClient()
	admin := demoUser(t, adminEmail)
	lr := fresh.navigate("/.vectis/login?next=%2Fduring")
	if lr.status != http.StatusOK {
		// The login page itself needs no store; only its submission does.
		t.Errorf("GET /.vectis/login with the store unavailable: %d, want 200", lr.status)
	} else {
		p := parsePage(t, lr)
		f := p.formWith(t, "email")
		o.page("POST /.vectis/login", func() *resp {
			return fresh.submit(p, f, url.Values{"email": {admin.Email}, "password": {admin.Password}})
		})
	}
	o.check("GET /.vectis/healthz", func() *resp { return g.newClient().do(http.MethodGet, "/.vectis/healthz", nil, nil) })

	before := g.up.count()
	start := time.Now()
	r := g.clientFor("portal.localhost").navigate("/shop/during")
	if !g.reached(r) || g.up.count() != before+1 {
		t.Errorf("a portal request with the store unavailable: %d, want the upstream's 200\n%s", r.status, r.body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a portal request with the store unavailable took %s: it waited on the store", d)
	}
}

// waitHealthy polls /.vectis/healthz until 200 and returns how long that took.
func waitHealthy(t *testing.T, g *gw, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last int
	if !waitFor(within, func() bool {
		last = g.newClient().do(http.MethodGet, "/.vectis/healthz", nil, nil).status
		return last == http.StatusOK
	}) {
		t.Fatalf("/.vectis/healthz still %d %s after Redis came back, without a gateway restart", last, within)
	}
	return time.Since(start)
}

// TestRedisKilledMidRun: Redis dies under a running gateway; operator requests get the 503 page, the
// portal keeps getting 200; Redis comes back on the same port (with AOF, its data too) and the
// gateway recovers by itself: the old session works and a fresh sign-in works.
func TestRedisKilledMidRun(t *testing.T) {
	t.Parallel()
	rs := redistest.StartAOF(t)
	g := startReplicas(t, rs, 1)[0]
	c := g.newClient()
	e := enroll(t, g, c, adminEmail, "/before")

	rs.Stop()
	storeOutage{t: t, g: g, redis: rs.Addr(), limit: 5 * time.Second}.operatorRequests(c)

	rs.Restart()
	t.Logf("/.vectis/healthz 200 %s after Redis restarted", waitHealthy(t, g, 5*time.Second).Round(time.Millisecond))
	// Every pooled connection died with the old server; none may turn a request into a 503 now.
	for i := range 5 {
		if r := c.navigate(fmt.Sprintf("/after/%d", i)); !g.reached(r) {
			t.Errorf("request %d with the old session after Redis returned: %d, want the upstream\n%s", i, r.status, r.body)
		}
	}
	code, _ := laterCode(t, e.secret, e.step)
	signInWithCode(t, g, g.newClient(), adminEmail, code, "/after/fresh")
}

// redisPID asks the server for its process id (INFO server), to signal it.
func redisPID(t *testing.T, rs *redistest.Server) int {
	t.Helper()
	rc := goredis.NewClient(&goredis.Options{Addr: rs.Addr()})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := rc.Info(ctx, "server").Result()
	if err != nil {
		t.Fatalf("INFO server: %v", err)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("INFO server process_id %q: %v", v, err)
			}
			return pid
		}
	}
	t.Fatalf("INFO server has no process_id:\n%s", info)
	return 0
}

// TestRedisFrozen: Redis accepts connections but answers nothing (SIGSTOP), the worst case for
// timeouts. Operator requests still get the 503 page within the bounded timeouts, the portal is
// unaffected, and SIGCONT brings everything back.
func TestRedisFrozen(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	g := startReplicas(t, rs, 1)[0]
	c := g.newClient()
	e := enroll(t, g, c, adminEmail, "/before")

	pid := redisPID(t, rs)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP redis-server: %v", err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT redis-server: %v", err)
			}
		}
	}
	t.Cleanup(resume)
	storeOutage{t: t, g: g, redis: rs.Addr(), limit: 5 * time.Second}.operatorRequests(c)

	resume()
	t.Logf("/.vectis/healthz 200 %s after SIGCONT", waitHealthy(t, g, 5*time.Second).Round(time.Millisecond))
	for i := range 5 {
		if r := c.navigate(fmt.Sprintf("/after/%d", i)); !g.reached(r) {
			t.Errorf("request %d with the session after Redis resumed: %d, want the upstream\n%s", i, r.status, r.body)
		}
	}
	code, _ := laterCode(t, e.secret, e.step)
	signInWithCode(t, g, g.newClient(), adminEmail, code, "/after/fresh")
}
