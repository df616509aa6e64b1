package e2e

// Issue 8's process faults: `caddy reload` under load (bolt and Redis) loses no session, no lockout
// count and no pending enrollment; an unwritable bolt path is a clear start-up error.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/store/redis/redistest"
)

// writeSeed writes a seed file with tenant acme and users, and returns its path.
func writeSeed(t *testing.T, users []seedUser) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"tenants": []any{map[string]string{"id": "acme", "name": "Acme MSP", "billing_email": "billing@acme.example"}},
		"users":   users,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// enrollSeeded is a first sign-in of u on c, reading the otpauth URI from the page (the QR code path is
// covered by enroll): it returns the secret, the TOTP step used, and the recovery codes shown.
func enrollSeeded(t *testing.T, g *gw, c *client, u seedUser) (secret string, step int64, codes []string) {
	t.Helper()
	if loc := passwordStepFrom(t, c, "/.vectis/login?next=%2F", u); loc != "/.vectis/enroll" {
		t.Fatalf("after the password %s went to %q, want /.vectis/enroll", u.Email, loc)
	}
	r := c.navigate("/.vectis/enroll")
	p := parsePage(t, r)
	if r.status != http.StatusOK || len(p.otpauth) != 1 {
		t.Fatalf("GET /.vectis/enroll for %s: %d with %d otpauth URIs", u.Email, r.status, len(p.otpauth))
	}
	secret = checkOTPAuthURI(t, p.otpauth[0], g.issuer, u.Email)
	code, step := totpNow(t, secret, 0)
	r = c.submit(p, p.formWith(t, "code"), url.Values{"code": {code}})
	codes = parsePage(t, r).recovery
	if r.status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("enrolling %s: %d with %d recovery codes", u.Email, r.status, len(codes))
	}
	return secret, step, codes
}

// reloadGateway runs the binary's `reload` against g's admin endpoint with config (extra args, e.g.
// --force, appended) and fails the test when it does not succeed.
func reloadGateway(t *testing.T, g *gw, config string, extra ...string) {
	t.Helper()
	args := append([]string{"reload", "--config", config, "--adapter", "caddyfile",
		"--address", fmt.Sprintf("127.0.0.1:%d", g.adminPort)}, extra...)
	cmd := exec.Command(gatewayBin, args...)
	cmd.Dir, cmd.Env = g.dir, g.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reload %v: %v\n%s", extra, err, out)
	}
}

var csrfFieldRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loadResult is one request of the load, as its sender saw it.
type loadResult struct {
	at      time.Time
	what    string
	status  int
	reached bool
	err     error
}

// loadClient sends requests from a load goroutine. Unlike client, it reports errors instead of
// failing the test (t.Fatal must not be called off the test goroutine).
type loadClient struct {
	g  *gw
	hc *http.Client
}

func newLoadClient(g *gw) *loadClient {
	jar, _ := cookiejar.New(nil)
	return &loadClient{g: g, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (lc *loadClient) send(method, path string, form url.Values, hdr http.Header) (int, string, http.Header, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, lc.g.base+path, body)
	if err != nil {
		return 0, "", nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", lc.g.base)
	}
	res, err := lc.hc.Do(req)
	if err != nil {
		return 0, "", nil, &transportError{err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, "", nil, &transportError{err}
	}
	return res.StatusCode, string(b), res.Header, nil
}

// transportError is a request that got no answer (a refused or closed connection), as opposed to an
// answer the gateway gave.
type transportError struct{ err error }

func (e *transportError) Error() string { return "no answer: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// signIn is a whole sign-in with a recovery code: the login page, the password, the recovery-code page,
// the code, and next answered by the upstream. It returns the session cookie on success.
func (lc *loadClient) signIn(u seedUser, code string) (string, error) {
	nav := http.Header{"Accept": {"text/html"}, "Sec-Fetch-Mode": {"navigate"}}
	st, body, _, err := lc.send(http.MethodGet, "/.vectis/login", nil, nav)
	m := csrfFieldRE.FindStringSubmatch(body)
	if err != nil || st != http.StatusOK || m == nil {
		return "", errors.Join(fmt.Errorf("login page: %d", st), err)
	}
	st, _, h, err := lc.send(http.MethodPost, "/.vectis/login", url.Values{"csrf": {m[1]}, "email": {u.Email}, "password": {u.Password}, "next": {"/signed-in"}}, nav)
	if err != nil || st != http.StatusSeeOther || h.Get("Location") != "/.vectis/mfa" {
		return "", errors.Join(fmt.Errorf("password: %d to %q", st, h.Get("Location")), err)
	}
	st, body, _, err = lc.send(http.MethodGet, "/.vectis/mfa/recovery", nil, nav)
	if m = csrfFieldRE.FindStringSubmatch(body); err != nil || st != http.StatusOK || m == nil {
		return "", errors.Join(fmt.Errorf("recovery page: %d", st), err)
	}
	st, _, _, err = lc.send(http.MethodPost, "/.vectis/mfa/recovery", url.Values{"csrf": {m[1]}, "code": {code}}, nav)
	if err != nil || st != http.StatusOK {
		return "", errors.Join(fmt.Errorf("recovery code: %d", st), err)
	}
	st, body, _, err = lc.send(http.MethodGet, "/signed-in", nil, http.Header{"Accept": {"application/json"}})
	if err != nil || st != http.StatusOK || !strings.HasPrefix(body, lc.g.marker) {
		return "", errors.Join(fmt.Errorf("landing: %d", st), err)
	}
	u2, _ := url.Parse(lc.g.base)
	for _, c := range lc.hc.Jar.Cookies(u2) {
		if c.Name == "vectis_session" {
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("no session cookie after signing in")
}

// reloadUsers are the operators of the reload test: two that sign in over and over during the load,
// one whose lockout count must survive, and one whose enrollment is half done across the reload.
var reloadUsers = map[string]seedUser{
	"a":      {Email: "load-a@acme.example", Tenant: "acme", Role: "admin", Password: "load a password one"},
	"b":      {Email: "load-b@acme.example", Tenant: "acme", Role: "member", Password: "load b password two"},
	"locked": {Email: "locked@acme.example", Tenant: "acme", Role: "member", Password: "locked password three"},
	"fresh":  {Email: "fresh@acme.example", Tenant: "acme", Role: "member", Password: "fresh password four"},
}

// TestReloadUnderLoad: two `reload`s (a changed config, then a forced one) while signed-in requests,
// unauthenticated requests and whole sign-ins run. No signed-in request is refused and no
// unauthenticated one passes, at any moment; every session made before or during the load still
// works after it; 3 wrong codes before and 2 after lock the account; and an enrollment opened before
// confirms after with the secret it showed.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"bolt", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			users := []seedUser{reloadUsers["a"], reloadUsers["b"], reloadUsers["locked"], reloadUsers["fresh"]}
			extra := map[string]any{"Seed": writeSeed(t, users)}
			cf := standardCaddyfile
			if backend == "redis" {
				rs := redistest.Start(t)
				extra["Redis"], extra["SharedKey"] = rs.URL(), randomKey(t)
				cf = redisCaddyfile
			}
			g := startGatewayWith(t, cf, extra)
			if backend == "redis" {
				g.key = extra["SharedKey"].(string)
			}
			reloadUnderLoad(t, g)
		})
	}
}

func reloadUnderLoad(t *testing.T, g *gw) {
	// Set-up: two signed-in operators with their recovery codes, one at the code step, one with the
	// enrollment page open.
	type loader struct {
		u       seedUser
		session string
		codes   []string
	}
	var loaders []*loader
	for _, k := range []string{"a", "b"} {
		c := g.newClient()
		_, _, codes := enrollSeeded(t, g, c, reloadUsers[k])
		loaders = append(loaders, &loader{u: reloadUsers[k], session: c.cookie("vectis_session"), codes: codes})
	}
	lockedSecret, lockedStep, _ := enrollSeeded(t, g, g.newClient(), reloadUsers["locked"])
	locked := g.newClient()
	if loc := passwordStepFrom(t, locked, "/.vectis/login?next=%2F", reloadUsers["locked"]); loc != "/.vectis/mfa" {
		t.Fatalf("after the password the locked operator went to %q", loc)
	}
	bad := wrongCode(t, lockedSecret, stepNow())
	for i := range 3 {
		if r := mfaStep(t, locked, bad); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d before the reload: %d, want 401", i+1, r.status)
		}
	}
	fresh := g.newClient()
	if loc := passwordStepFrom(t, fresh, "/.vectis/login?next=%2F", reloadUsers["fresh"]); loc != "/.vectis/enroll" {
		t.Fatalf("after the password the new operator went to %q", loc)
	}
	freshPage := parsePage(t, fresh.navigate("/.vectis/enroll"))
	if len(freshPage.otpauth) != 1 {
		t.Fatalf("the enrollment page has %d otpauth URIs", len(freshPage.otpauth))
	}
	freshSecret := checkOTPAuthURI(t, freshPage.otpauth[0], g.issuer, reloadUsers["fresh"].Email)

	// The reload config differs from the running one, so the first reload provisions a new handler
	// instance for real; the second one is forced with the same file.
	b, err := os.ReadFile(g.config)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), "grace_period 2s", "grace_period 3s", 1)
	if changed == string(b) {
		t.Fatal("the Caddyfile has no grace_period 2s to change")
	}
	reloadConfig := filepath.Join(g.dir, "Caddyfile.reload")
	if err := os.WriteFile(reloadConfig, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		results  []loadResult
		sessions []string // every session the load made, checked again after it
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		requests atomic.Int64
	)
	record := func(r loadResult) {
		requests.Add(1)
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	api := http.Header{"Accept": {"application/json"}}
	for i, l := range loaders {
		for j := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lc := newLoadClient(g)
				for n := 0; running(); n++ {
					h := api.Clone()
					h.Set("Cookie", "vectis_session="+l.session)
					st, body, _, err := lc.send(http.MethodGet, fmt.Sprintf("/load/%d/%d/%d", i, j, n), nil, h)
					record(loadResult{at: time.Now(), what: "signed in as " + l.u.Email, status: st, reached: strings.HasPrefix(body, g.marker), err: err})
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; running() && k < len(l.codes); k++ {
				s, err := newLoadClient(g).signIn(l.u, l.codes[k])
				record(loadResult{at: time.Now(), what: "sign-in of " + l.u.Email, reached: err == nil, err: err})
				if err == nil {
					mu.Lock()
					sessions = append(sessions, s)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		lc := newLoadClient(g)
		for n := 0; running(); n++ {
			h := api.Clone()
			if n%2 == 1 {
				h.Set("Cookie", "vectis_session=acme."+strings.Repeat("A", 43))
			}
			st, body, _, err := lc.send(http.MethodGet, fmt.Sprintf("/anon/%d", n), nil, h)
			record(loadResult{at: time.Now(), what: "unauthenticated", status: st, reached: strings.HasPrefix(body, g.marker), err: err})
		}
	}()

	// A reload's swap window runs from the command until the old server's grace period (3 s at most
	// here) has ended: a connection the old server closes may fail a request at the transport level
	// (a client retries those), which is neither a lost session nor a pass-through. Every answer the
	// gateway does give is judged strictly, at any moment.
	type window struct{ from, to time.Time }
	var swaps []window
	reload := func(extra ...string) {
		from := time.Now()
		reloadGateway(t, g, reloadConfig, extra...)
		swaps = append(swaps, window{from, time.Now().Add(3500 * time.Millisecond)})
	}
	inSwap := func(at time.Time) bool {
		for _, w := range swaps {
			if !at.Before(w.from) && !at.After(w.to) {
				return true
			}
		}
		return false
	}
	start := time.Now()
	time.Sleep(1500 * time.Millisecond)
	reload()
	t.Logf("reload 1 done %s into the load", time.Since(start).Round(time.Millisecond))
	time.Sleep(1500 * time.Millisecond)
	reload("--force")
	t.Logf("reload 2 (forced) done %s into the load", time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	signIns, transport := 0, 0
	for _, r := range results {
		when := fmt.Sprintf("%s after the start", r.at.Sub(start).Round(time.Millisecond))
		var te *transportError
		if errors.As(r.err, &te) && inSwap(r.at) {
			transport++
			continue
		}
		switch {
		case r.what == "unauthenticated":
			if r.reached {
				t.Errorf("%s: an unauthenticated request reached the upstream", when)
			}
		case strings.HasPrefix(r.what, "sign-in"):
			if r.err != nil {
				t.Errorf("%s: %s failed: %v", when, r.what, r.err)
			} else {
				signIns++
			}
		default:
			if r.err != nil || !r.reached {
				t.Errorf("%s: %s got %d %v: the session was refused", when, r.what, r.status, r.err)
			}
		}
	}
	if transport > 0 {
		t.Logf("%d requests failed at the transport level during a swap (connections the old server closed)", transport)
	}
	// A reload must never make the gateway believe its store is gone: a handler instance that closes the
	// shared store while another still serves requests turns a config change into 503s and half-done
	// sign-ins (a recovery code spent, no session made).
	for _, line := range strings.Split(g.log(), "\n") {
		if strings.Contains(line, "store unavailable") {
			t.Errorf("the store was unavailable during the reloads: %s", clip(line, 300))
		}
	}
	t.Logf("%d requests during the load, %d sign-ins", requests.Load(), signIns)
	if signIns < 2 || requests.Load() < 50 {
		t.Errorf("the load was too light to mean anything: %d requests, %d sign-ins", requests.Load(), signIns)
	}

	// Every session made before or during the load still works.
	for _, l := range loaders {
		sessions = append(sessions, l.session)
	}
	for _, s := range sessions {
		before := g.up.count()
		r := g.newClient().do(http.MethodGet, "/after", nil, http.Header{"Accept": {"application/json"}, "Cookie": {"vectis_session=" + s}})
		if !g.reached(r) || g.up.count() != before+1 {
			t.Errorf("a session made before the reloads was lost: %d", r.status)
		}
	}

	// 3 wrong codes before, 2 after: locked, and the right code is refused too.
	if r := mfaStep(t, locked, bad); r.status != http.StatusUnauthorized {
		t.Errorf("wrong code 4 after the reload: %d, want 401 (the pending login or the count was lost)", r.status)
	}
	checkLocked(t, "wrong code 5 after the reload", mfaStep(t, locked, bad))
	right, _ := laterCode(t, lockedSecret, lockedStep)
	checkLocked(t, "the right code while locked", mfaStep(t, locked, right))

	// The enrollment opened before the reloads confirms with the secret it showed.
	p := parsePage(t, fresh.navigate("/.vectis/enroll"))
	if len(p.otpauth) != 1 || p.otpauth[0] != freshPage.otpauth[0] {
		t.Fatalf("after the reloads the enrollment page offers %q, want the secret shown before", p.otpauth)
	}
	code, _ := totpNow(t, freshSecret, 0)
	r := fresh.submit(p, p.formWith(t, "code"), url.Values{"code": {code}})
	if r.status != http.StatusOK || len(parsePage(t, r).recovery) != 10 {
		t.Errorf("confirming the enrollment opened before the reloads: %d", r.status)
	}
	if strings.Contains(g.log(), "panic") {
		t.Errorf("the gateway log mentions a panic")
	}
}

// TestUnwritableBoltPathIsAStartUpError: a bolt path the gateway cannot write stops `run` (non-zero
// exit) and `validate` with a message that names the storage and the path, instead of a gateway that
// starts and then fails every sign-in.
func TestUnwritableBoltPathIsAStartUpError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "a-directory")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, names string }{
		// (The tests run as root, for whom permission bits do not stop a write; these do.)
		{"parent is a file", filepath.Join(file, "gateway.db"), file},
		{"path is a directory", sub, sub},
		{"directory the kernel refuses writes in", "/proc/self/vectis/gateway.db", "/proc/self/vectis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfDir := t.TempDir()
			cf := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tauto_https off\n}\n\nhttp://:%d {\n\tbind 127.0.0.1\n"+
				"\tvectis_mfa {\n\t\tstorage bolt %q\n\t\tsecret_key %s\n\t}\n\trespond \"unreachable\"\n}\n",
				freePort(t), freePort(t), tc.path, randomKey(t))
			config := filepath.Join(cfDir, "Caddyfile")
			if err := os.WriteFile(config, []byte(cf), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, sub := range []string{"validate", "run"} {
				cmd := exec.Command(gatewayBin, sub, "--config", config, "--adapter", "caddyfile")
				cmd.Dir = cfDir
				cmd.Env = append(os.Environ(), "HOME="+cfDir, "XDG_DATA_HOME="+filepath.Join(cfDir, "data"), "XDG_CONFIG_HOME="+filepath.Join(cfDir, "config"))
				done := make(chan struct{})
				var out []byte
				var err error
				go func() { out, err = cmd.CombinedOutput(); close(done) }()
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
					<-done
					t.Fatalf("%s kept running with an unwritable bolt path:\n%s", sub, tail(string(out), 10))
				}
				if err == nil || cmd.ProcessState.ExitCode() == 0 {
					t.Errorf("%s exited 0 with an unwritable bolt path", sub)
				}
				last := tail(string(out), 3)
				if !strings.Contains(last, "storage bolt") || !strings.Contains(last, tc.names) {
					t.Errorf("%s: the error does not name the storage and %s:\n%s", sub, tc.names, last)
				}
			}
		})
	}
}
