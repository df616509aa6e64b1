package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/vectis/mfa-gateway/internal/assertion"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/vectis/mfa-gateway/internal/store/bolt"
	redisstore "github.com/vectis/mfa-gateway/internal/store/redis"
)

// benchEmail and the password made per run are the one operator the bench signs in as.
const benchEmail = "operator@bench.example"

// appPath is what every measured request asks for: an ordinary app page, not a gateway path.
const appPath = "/app/dashboard"

// target is one measured front end: where wrk sends requests, with which cookie, and which processes'
// CPU and memory count as its cost.
type target struct {
	id, name string
	url      string
	host     string // Host header, when not the URL's
	cookie   string // Cookie header value
	cookies  string // file of cookies to rotate over (wrk Lua script), instead of cookie
	procs    []*proc
	auth     bool   // every request must reach the upstream with an identity
	base     string // scenario the ratios compare with
}

func (t *target) headers() http.Header {
	h := http.Header{}
	if t.cookie != "" {
		h.Set("Cookie", t.cookie)
	}
	if t.host != "" {
		h.Set("Host", t.host)
	}
	return h
}

type bench struct {
	o       options
	started time.Time
	dir     string
	ps      *procs
	env     []string
	key     string
	seed    string
	idp     *idp

	upstream     *proc
	upstreamBase string
	targets      []*target
	byID         map[string]*target
	attackTarget *target // a gateway of its own, so the attack's memory peak is not charged to scenario 2
	adminOf      map[*proc]string
	bare         *target // scenario 1's Caddy, whether or not scenario 1 itself runs

	report *report
}

func (b *bench) want(id string) bool {
	if b.o.Only == "" {
		return true
	}
	return slices.Contains(strings.Split(b.o.Only, ","), id)
}

func (b *bench) teardown(ok bool) {
	if b.ps != nil {
		b.ps.stopAll()
	}
	if b.idp != nil {
		b.idp.stop()
	}
	if b.dir == "" {
		return
	}
	if ok && !b.o.keep {
		_ = os.RemoveAll(b.dir)
		return
	}
	fmt.Fprintf(os.Stderr, "vectis-bench: working directory (configs, logs, stores) kept at %s\n", b.dir)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Since(b.started).Round(time.Second), fmt.Sprintf(format, args...))
}

func (b *bench) run(ctx context.Context) (*report, error) {
	b.report = newReport(b.o)
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	if err := b.warm(ctx); err != nil {
		return nil, err
	}
	callsBefore := b.storeCalls()
	for round := 1; round <= b.o.Rounds; round++ {
		order := slices.Clone(b.targets)
		if round%2 == 0 {
			slices.Reverse(order) // ABC CBA: a linear drift lands on every scenario alike
		}
		for _, t := range order {
			b.logf("round %d/%d: wrk on %s (%s)", round, b.o.Rounds, t.id, t.name)
			if err := b.measureWrk(ctx, round, t, ""); err != nil {
				return nil, err
			}
		}
		for _, t := range order {
			if !b.probed(t) {
				continue
			}
			b.logf("round %d/%d: %d req/s probe on %s", round, b.o.Rounds, b.o.Rate, t.id)
			b.measureProbe(ctx, round, t, "")
		}
		if b.attackTarget != nil {
			if err := b.measureAttack(ctx, round); err != nil {
				return nil, err
			}
		}
	}
	b.recordRSS()
	b.recordStoreCalls(callsBefore)
	if b.o.Profile {
		for _, id := range []string{"1", "2"} {
			if t := b.byID[id]; t != nil {
				if err := b.profile(ctx, t); err != nil {
					b.report.Problems = append(b.report.Problems, "profile of scenario "+id+": "+err.Error())
				}
			}
		}
	}
	b.report.Machine.LoadAvgEnd = loadAvg()
	b.report.finish()
	return b.report, ctx.Err()
}

// probed are the scenarios that also get the fixed-rate latency probe: the six of the issue, and 1H.
func (b *bench) probed(t *target) bool {
	return len(t.id) == 1 || t.id == "1H"
}

func (b *bench) setup(ctx context.Context) error {
	var err error
	b.dir, err = os.MkdirTemp("", "vectis-bench-")
	if err != nil {
		return err
	}
	b.ps = &procs{dir: b.dir}
	for _, d := range []string{"home", "xdg-data", "xdg-config"} {
		if err := os.MkdirAll(filepath.Join(b.dir, d), 0o700); err != nil {
			return err
		}
	}
	// Caddy keeps its data (and the gateway its default files) under these: a run touches nothing outside.
	b.env = []string{"HOME=" + filepath.Join(b.dir, "home"), "XDG_DATA_HOME=" + filepath.Join(b.dir, "xdg-data"),
		"XDG_CONFIG_HOME=" + filepath.Join(b.dir, "xdg-config")}
	b.key = base64.StdEncoding.EncodeToString(randomBytes(32))
	password := "bench " + hex.EncodeToString(randomBytes(12))
	seed, _ := json.Marshal(map[string]any{
		"tenants": []map[string]string{{"id": "bench", "name": "Bench MSP", "billing_email": "billing@bench.example"}},
		"users":   []map[string]string{{"email": benchEmail, "tenant": "bench", "role": "admin", "password": password}},
	})
	b.seed = filepath.Join(b.dir, "seed.json")
	if err := os.WriteFile(b.seed, seed, 0o600); err != nil {
		return err
	}
	b.report.Machine.Versions = versions(b.o)

	// The fixed upstream.
	port, err := freePort()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b.upstreamBase = fmt.Sprintf("http://127.0.0.1:%d", port)
	b.upstream, err = b.ps.start("upstream", nil, self, "upstream", "-addr", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	if err := waitHTTP(b.upstream, b.upstreamBase+countPath, 10*time.Second); err != nil {
		return err
	}
	b.adminOf = map[*proc]string{}
	b.byID = map[string]*target{}
	add := func(t *target) {
		b.targets = append(b.targets, t)
		b.byID[t.id] = t
	}

	// 1: bare Caddy (also the baseline of the rotating-cookie scenarios, 1R).
	if b.want("1") || b.want("1R") {
		bare, base, err := b.startCaddy("caddy-bare", caddyBare, nil)
		if err != nil {
			return err
		}
		b.bare = &target{id: "1", name: "bare Caddy reverse_proxy", url: base + appPath, procs: []*proc{bare}}
		if b.want("1") {
			add(b.bare)
		}
	}

	// 1H: bare Caddy adding the six identity headers itself (header_up, fixed values of the gateway's sizes,
	// a real ES256 assertion among them): what carrying the identity costs Caddy and the upstream, with no
	// gateway. Scenario 2 against 1H is the gateway's own cost.
	if b.want("1H") {
		vals, err := identityHeaderValues()
		if err != nil {
			return err
		}
		ch, base, err := b.startCaddy("caddy-headers", caddyHeaders, map[string]any{"Headers": vals})
		if err != nil {
			return err
		}
		add(&target{id: "1H", name: "bare Caddy adding the six identity headers (header_up)", url: base + appPath, procs: []*proc{ch}, auth: true, base: "1"})
	}

	// 2 and 4: the gateway on bolt; 3: on Redis. Each scenario has its own process so that its CPU and
	// memory are its own.
	if b.want("2") {
		gw, base, err := b.startCaddy("gateway-bolt", caddyGateway, map[string]any{"Storage": "bolt " + q(filepath.Join(b.dir, "gateway-bolt.db")), "Seed": q(b.seed)})
		if err != nil {
			return err
		}
		cookie, err := gatewaySession(ctx, base, benchEmail, password)
		if err != nil {
			return fmt.Errorf("signing in to gateway-bolt: %w", err)
		}
		add(&target{id: "2", name: "gateway, signed-in operator, bolt", url: base + appPath, cookie: cookie, procs: []*proc{gw}, auth: true, base: "1"})
	}
	if b.want("3") {
		rd, url, err := b.startRedis("redis")
		if err != nil {
			return err
		}
		gw, base, err := b.startCaddy("gateway-redis", caddyGateway, map[string]any{"Storage": "redis " + url, "Seed": q(b.seed)})
		if err != nil {
			return err
		}
		cookie, err := gatewaySession(ctx, base, benchEmail, password)
		if err != nil {
			return fmt.Errorf("signing in to gateway-redis: %w", err)
		}
		add(&target{id: "3", name: "gateway, signed-in operator, Redis", url: base + appPath, cookie: cookie, procs: []*proc{gw, rd}, auth: true, base: "1"})
	}
	if b.want("4") {
		gw, base, err := b.startCaddy("gateway-portal", caddyGateway, map[string]any{"Storage": "bolt " + q(filepath.Join(b.dir, "gateway-portal.db")), "Seed": q(b.seed)})
		if err != nil {
			return err
		}
		add(&target{id: "4", name: "gateway, portal host", url: base + appPath, host: "portal.localhost", procs: []*proc{gw}, base: "1"})
	}

	// 5 and 6: oauth2-proxy, alone and behind Caddy forward_auth. Both instances share a cookie secret, so
	// the one session minted on the first is valid on the second.
	if b.want("5") || b.want("6") {
		b.idp, err = startIdP()
		if err != nil {
			return err
		}
		secret := hex.EncodeToString(randomBytes(16)) // 32 characters: an AES-256 cookie key
		o2pA, baseA, err := b.startOAuth2Proxy("oauth2-proxy", secret)
		if err != nil {
			return err
		}
		cookie, err := oauth2ProxySession(ctx, baseA)
		if err != nil {
			return fmt.Errorf("signing in to oauth2-proxy: %w", err)
		}
		if b.want("5") {
			add(&target{id: "5", name: "oauth2-proxy v7.15.6, cookie session", url: baseA + appPath, cookie: cookie, procs: []*proc{o2pA}, auth: true, base: "1"})
		}
		if b.want("6") {
			o2pB, baseB, err := b.startOAuth2Proxy("oauth2-proxy-fwd", secret)
			if err != nil {
				return err
			}
			fwd, base, err := b.startCaddy("caddy-forward-auth", caddyForwardAuth, map[string]any{"Auth": strings.TrimPrefix(baseB, "http://")})
			if err != nil {
				return err
			}
			add(&target{id: "6", name: "Caddy forward_auth → oauth2-proxy", url: base + appPath, cookie: cookie, procs: []*proc{fwd, o2pB}, auth: true, base: "1"})
		}
	}

	if err := b.setupScale(ctx, password, add); err != nil {
		return err
	}

	if b.want("attack") {
		gw, base, err := b.startCaddy("gateway-attack", caddyGateway, map[string]any{"Storage": "bolt " + q(filepath.Join(b.dir, "gateway-attack.db")), "Seed": q(b.seed)})
		if err != nil {
			return err
		}
		cookie, err := gatewaySession(ctx, base, benchEmail, password)
		if err != nil {
			return fmt.Errorf("signing in to gateway-attack: %w", err)
		}
		b.attackTarget = &target{id: "attack", name: "gateway (bolt) while its login is under attack", url: base + appPath, cookie: cookie, procs: []*proc{gw}, auth: true}
	}
	if len(b.targets) == 0 && b.attackTarget == nil {
		return fmt.Errorf("-only %q selects no scenario", b.o.Only)
	}
	// Every target answers through to the upstream before anything is measured.
	for _, t := range append(slices.Clone(b.targets), b.attackTarget) {
		if t == nil {
			continue
		}
		if err := b.check(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// setupScale preloads one large bolt store and one large Redis store, then starts on each a gateway for
// one signed-in session (2L, 3L) and a gateway for requests rotating over every preloaded session (2R, 3R).
func (b *bench) setupScale(ctx context.Context, password string, add func(*target)) error {
	if !b.want("2L") && !b.want("3L") && !b.want("2R") && !b.want("3R") && !b.want("1R") {
		return nil
	}
	spec := func(cookies string) preloadSpec {
		seed, _ := os.ReadFile(b.seed)
		return preloadSpec{operators: b.o.Operators, sessions: b.o.Sessions, benchSeed: seed, cookieFile: cookies}
	}
	script := filepath.Join(b.dir, "rotate.lua")
	if err := os.WriteFile(script, []byte(rotateScript), 0o600); err != nil {
		return err
	}
	large := fmt.Sprintf("%s operators, %s sessions stored", thousands(b.o.Operators), thousands(b.o.Sessions))

	var boltCookies string
	if b.want("2L") || b.want("2R") || (b.want("1R") && !b.want("3R")) {
		// bbolt fsyncs every transaction; on tmpfs the 150,000 writes take seconds instead of minutes. The
		// file is then copied to disk, one copy per gateway (bbolt locks its file).
		tmp, err := os.MkdirTemp(shmDir(), "vectis-bench-preload-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		boltCookies = filepath.Join(b.dir, "cookies-bolt.txt")
		b.logf("preloading bolt: %s", large)
		start := time.Now()
		st, err := bolt.Open(filepath.Join(tmp, "large.db"), bolt.Options{})
		if err != nil {
			return err
		}
		sp := spec(boltCookies)
		sp.workers = 1
		err = preload(ctx, st, sp, time.Now())
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("preloading bolt: %w", err)
		}
		b.report.Scale.BoltPreloadSeconds = time.Since(start).Seconds()
		for _, name := range []string{"gateway-bolt-large.db", "gateway-bolt-rotate.db"} {
			if err := copyFile(filepath.Join(tmp, "large.db"), filepath.Join(b.dir, name)); err != nil {
				return err
			}
		}
		if fi, err := os.Stat(filepath.Join(b.dir, "gateway-bolt-large.db")); err == nil {
			b.report.Scale.BoltFileMiB = float64(fi.Size()) / (1 << 20)
		}
	}
	if b.want("2L") {
		gw, base, err := b.startCaddy("gateway-bolt-large", caddyGateway, map[string]any{"Storage": "bolt " + q(filepath.Join(b.dir, "gateway-bolt-large.db")), "Seed": ""})
		if err != nil {
			return err
		}
		cookie, err := gatewaySession(ctx, base, benchEmail, password)
		if err != nil {
			return fmt.Errorf("signing in to gateway-bolt-large: %w", err)
		}
		add(&target{id: "2L", name: "scenario 2 with " + large, url: base + appPath, cookie: cookie, procs: []*proc{gw}, auth: true, base: "1"})
	}
	var redisCookies string
	var rotR *target // added after 1R and 2R, so each rotating scenario runs after its baseline
	if b.want("3L") || b.want("3R") {
		rd, url, err := b.startRedis("redis-large")
		if err != nil {
			return err
		}
		redisCookies = filepath.Join(b.dir, "cookies-redis.txt")
		b.logf("preloading Redis: %s", large)
		start := time.Now()
		st, err := redisstore.Open(url, redisstore.Options{})
		if err != nil {
			return err
		}
		sp := spec(redisCookies)
		sp.workers = 16
		err = preload(ctx, st, sp, time.Now())
		st.Close()
		if err != nil {
			return fmt.Errorf("preloading Redis: %w", err)
		}
		b.report.Scale.RedisPreloadSeconds = time.Since(start).Seconds()
		if b.want("3L") {
			gw, base, err := b.startCaddy("gateway-redis-large", caddyGateway, map[string]any{"Storage": "redis " + url, "Seed": ""})
			if err != nil {
				return err
			}
			cookie, err := gatewaySession(ctx, base, benchEmail, password)
			if err != nil {
				return fmt.Errorf("signing in to gateway-redis-large: %w", err)
			}
			add(&target{id: "3L", name: "scenario 3 with " + large, url: base + appPath, cookie: cookie, procs: []*proc{gw, rd}, auth: true, base: "1"})
		}
		if b.want("3R") {
			gw, base, err := b.startCaddy("gateway-redis-rotate", caddyGateway, map[string]any{"Storage": "redis " + url, "Seed": ""})
			if err != nil {
				return err
			}
			rotR = &target{id: "3R", name: "Redis, each request one of the " + thousands(b.o.Sessions) + " stored sessions in turn",
				url: base + appPath, cookies: redisCookies, procs: []*proc{gw, rd}, auth: true, base: "1R"}
		}
	}
	// The rotating scenarios come last in a round, each after its baseline (bare Caddy running the same
	// wrk script, which costs wrk the same per request).
	if b.bare != nil && b.want("1R") {
		cookies := boltCookies
		if cookies == "" {
			cookies = redisCookies
		}
		add(&target{id: "1R", name: "bare Caddy, wrk rotating cookies as in 2R/3R", url: b.bare.url, cookies: cookies, procs: b.bare.procs})
	}
	if b.want("2R") {
		gw, base, err := b.startCaddy("gateway-bolt-rotate", caddyGateway, map[string]any{"Storage": "bolt " + q(filepath.Join(b.dir, "gateway-bolt-rotate.db")), "Seed": ""})
		if err != nil {
			return err
		}
		add(&target{id: "2R", name: "bolt, each request one of the " + thousands(b.o.Sessions) + " stored sessions in turn",
			url: base + appPath, cookies: boltCookies, procs: []*proc{gw}, auth: true, base: "1R"})
	}
	if rotR != nil {
		add(rotR)
	}
	return nil
}

// check sends one request to t like wrk will and insists it reaches the upstream (with an identity where
// one is due). A front end that answers on its own (a login redirect, an error) would look fast.
func (b *bench) check(ctx context.Context, t *target) error {
	h := t.headers()
	if t.cookies != "" {
		data, err := os.ReadFile(t.cookies)
		if err != nil {
			return err
		}
		first, _, _ := strings.Cut(string(data), "\n")
		h.Set("Cookie", first)
	}
	before, err := b.upstreamCounts()
	if err != nil {
		return err
	}
	req := newGet(ctx, t.url, h)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("scenario %s: %w", t.id, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	after, err := b.upstreamCounts()
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK || !bytes.Equal(body, upstreamBody) || after.Total != before.Total+1 {
		return fmt.Errorf("scenario %s (%s): the request did not reach the upstream: status %d, body %.200q", t.id, t.name, res.StatusCode, body)
	}
	if t.auth && after.Identified != before.Identified+1 {
		return fmt.Errorf("scenario %s (%s): the upstream got no identity headers", t.id, t.name)
	}
	return nil
}

// settle waits until the upstream has seen no request for a moment: a front end may still be forwarding
// requests of the previous run after wrk has gone, and those must not count for the next scenario.
func (b *bench) settle(ctx context.Context) (counts, error) {
	last, err := b.upstreamCounts()
	if err != nil {
		return last, err
	}
	for range 50 {
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return last, err
		}
		c, err := b.upstreamCounts()
		if err != nil {
			return c, err
		}
		if c == last {
			return c, nil
		}
		last = c
	}
	return last, fmt.Errorf("the upstream kept receiving requests for 10 s after a run ended")
}

func (b *bench) upstreamCounts() (counts, error) {
	var c counts
	res, err := http.Get(b.upstreamBase + countPath)
	if err != nil {
		return c, err
	}
	defer res.Body.Close()
	return c, json.NewDecoder(res.Body).Decode(&c)
}

func (b *bench) wrkLoad(t *target, d time.Duration) wrkLoad {
	l := wrkLoad{url: t.url, threads: b.o.Threads, connections: b.o.Connections, duration: d}
	if t.cookie != "" {
		l.headers = append(l.headers, "Cookie: "+t.cookie)
	}
	if t.host != "" {
		l.headers = append(l.headers, "Host: "+t.host)
	}
	if t.cookies != "" {
		l.script = filepath.Join(b.dir, "rotate.lua")
		l.scriptArgs = []string{t.cookies}
	}
	return l
}

func (b *bench) warm(ctx context.Context) error {
	for _, t := range append(slices.Clone(b.targets), b.attackTarget) {
		if t == nil || b.o.Warmup <= 0 {
			continue
		}
		b.logf("warm-up: %s", t.id)
		if _, err := runWrk(ctx, b.o.wrkBin, b.wrkLoad(t, b.o.Warmup)); err != nil {
			return fmt.Errorf("warm-up of %s: %w", t.id, err)
		}
	}
	return nil
}

// measureWrk runs wrk on t once and records requests/s, latency, and the CPU time the target's processes,
// wrk and the upstream spent meanwhile. label names a variant of the scenario ("" for the plain run).
func (b *bench) measureWrk(ctx context.Context, round int, t *target, label string) error {
	before, err := b.settle(ctx)
	if err != nil {
		return err
	}
	cpu0, err := cpuOf(t.procs)
	if err != nil {
		return err
	}
	up0, _ := cpuSeconds(b.upstream.pid())
	busy0, _ := machineBusySeconds()
	res, err := runWrk(ctx, b.o.wrkBin, b.wrkLoad(t, b.o.Duration))
	if err != nil {
		return fmt.Errorf("scenario %s: %w", t.id, err)
	}
	cpu1, err := cpuOf(t.procs)
	if err != nil {
		return err
	}
	up1, _ := cpuSeconds(b.upstream.pid())
	busy1, _ := machineBusySeconds()
	after, err := b.upstreamCounts()
	if err != nil {
		return err
	}
	run := wrkRun{Round: round, wrkResult: res, CPUSeconds: cpu1 - cpu0, UpstreamCPUSeconds: up1 - up0,
		UpstreamRequests: after.Total - before.Total, UpstreamIdentified: after.Identified - before.Identified}
	// What the rest of the machine took meanwhile (other processes, and in the attack the attacker): on
	// a shared machine this is the first thing that moves a figure.
	if res.Seconds > 0 {
		run.ForeignCores = max(0, (busy1-busy0)-run.CPUSeconds-run.UpstreamCPUSeconds-res.CPUSeconds) / res.Seconds
	}
	key := t.id
	if label != "" {
		key += "/" + label
	}
	b.report.addWrk(key, t, run, b.o.Connections)
	return nil
}

func (b *bench) measureProbe(ctx context.Context, round int, t *target, label string) probeResult {
	return b.measureProbeAt(ctx, round, t, label, b.o.Rate, b.o.ProbeDuration)
}

func (b *bench) measureProbeAt(ctx context.Context, round int, t *target, label string, rate int, d time.Duration) probeResult {
	_, _ = b.settle(ctx)
	r := probe(ctx, t.url, t.headers(), rate, d)
	key := t.id
	if label != "" {
		key += "/" + label
	}
	b.report.addProbe(key, t, round, r)
	return r
}

// measureAttack measures the attack gateway's pass-through idle, then while `attackers` wrong-password
// sign-ins run against its login, and records the attack's own outcome and the gateway's memory peak.
func (b *bench) measureAttack(ctx context.Context, round int) error {
	t := b.attackTarget
	b.logf("round %d/%d: attack gateway idle", round, b.o.Rounds)
	b.measureProbeAt(ctx, round, t, "idle", b.o.AttackRate, b.o.AttackProbeDuration)
	if err := b.measureWrk(ctx, round, t, "idle"); err != nil {
		return err
	}
	rssIdle, err := peakRSS(t.procs[0].pid())
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The floor: the same measurements while another process hashes back to back on one thread at nice 19.
	floorFor := b.o.AttackProbeDuration + b.o.Duration + 4*time.Second
	b.logf("round %d/%d: attack gateway beside %s of argon2id in another process (the floor)", round, b.o.Rounds, floorFor.Round(time.Second))
	burn, err := b.ps.start(fmt.Sprintf("burn-%d", round), nil, "nice", "-n", "19", self, "burn", "-duration", floorFor.String())
	if err != nil {
		return err
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return err
	}
	b.measureProbeAt(ctx, round, t, "floor", b.o.AttackRate, b.o.AttackProbeDuration)
	if err := b.measureWrk(ctx, round, t, "floor"); err != nil {
		return err
	}
	select {
	case <-burn.done:
	case <-time.After(floorFor + 30*time.Second):
		return fmt.Errorf("the floor's hashing did not stop by itself:\n%s", burn.tail())
	case <-ctx.Done():
		return ctx.Err()
	}
	if burn.err != nil {
		return fmt.Errorf("the floor's hashing failed (%v):\n%s", burn.err, burn.tail())
	}
	lead := 2 * time.Second // lets the hashing queue fill before anything is measured
	total := lead + b.o.AttackProbeDuration + b.o.Duration + 2*time.Second
	base := strings.TrimSuffix(t.url, appPath)
	b.logf("round %d/%d: %d concurrent wrong-password sign-ins for %s", round, b.o.Rounds, b.o.Attackers, total.Round(time.Second))
	atk, err := b.ps.start(fmt.Sprintf("attack-%d", round), nil, self, "attack", "-url", base,
		"-workers", strconv.Itoa(b.o.Attackers), "-duration", total.String())
	if err != nil {
		return err
	}
	if err := sleepCtx(ctx, lead); err != nil {
		return err
	}
	atkCPU0, _ := cpuSeconds(atk.pid())
	b.measureProbeAt(ctx, round, t, "attack", b.o.AttackRate, b.o.AttackProbeDuration)
	if err := b.measureWrk(ctx, round, t, "attack"); err != nil {
		return err
	}
	atkCPU1, _ := cpuSeconds(atk.pid())
	select {
	case <-atk.done:
	case <-time.After(total + 30*time.Second):
		return fmt.Errorf("the attack did not stop by itself:\n%s", atk.tail())
	case <-ctx.Done():
		return ctx.Err()
	}
	var res attackResult
	data, _ := os.ReadFile(atk.log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if atk.err != nil || json.Unmarshal([]byte(lines[len(lines)-1]), &res) != nil {
		return fmt.Errorf("attack failed (%v):\n%s", atk.err, atk.tail())
	}
	rss, err := peakRSS(t.procs[0].pid())
	if err != nil {
		return err
	}
	b.report.addAttack(attackRound{Round: round, attackResult: res, AttackerCPUSeconds: atkCPU1 - atkCPU0,
		GatewayPeakRSSBeforeMiB: rssIdle, GatewayPeakRSSAfterMiB: rss})
	return nil
}

// recordRSS stores each target's processes' peak RSS (VmHWM, the high-water mark over the whole run).
func (b *bench) recordRSS() {
	for _, t := range b.targets {
		per := map[string]float64{}
		for _, p := range t.procs {
			if rss, err := peakRSS(p.pid()); err == nil {
				per[p.name] = rss
			}
		}
		b.report.setRSS(t.id, per, t.procs[0].name)
	}
}

// storeCalls reads, from each gateway's Prometheus metrics (Caddy's admin endpoint), how many store calls
// it has made, by operation. Targets that are not gateways, or whose build has no such metric, give nothing.
func (b *bench) storeCalls() map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, t := range b.targets {
		admin := b.adminOf[t.procs[0]]
		if admin == "" {
			continue
		}
		res, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if calls := parseStoreCalls(string(body)); len(calls) > 0 {
			out[t.id] = calls
		}
	}
	return out
}

// parseStoreCalls sums vectis_store_call_duration_seconds_count by its op label.
func parseStoreCalls(metrics string) map[string]float64 {
	calls := map[string]float64{}
	for _, line := range strings.Split(metrics, "\n") {
		rest, ok := strings.CutPrefix(line, "vectis_store_call_duration_seconds_count{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		_, op, ok := strings.Cut(labels, `op="`)
		if !ok {
			continue
		}
		op, _, _ = strings.Cut(op, `"`)
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err == nil {
			calls[op] += v
		}
	}
	return calls
}

// recordStoreCalls stores each gateway scenario's store calls per request over the measured rounds
// (wrk runs and probes; warm-up excluded). Two scenarios that share a process (none do) would mix.
func (b *bench) recordStoreCalls(before map[string]map[string]float64) {
	after := b.storeCalls()
	for id, calls := range after {
		s := b.report.byKey[id]
		if s == nil {
			continue
		}
		var requests float64
		for _, run := range s.Runs {
			requests += float64(run.Requests)
		}
		for _, p := range s.Probes {
			requests += float64(p.Sent)
		}
		if requests == 0 {
			continue
		}
		s.StoreCallsPerRequest = map[string]float64{}
		for op, n := range calls {
			if d := n - before[id][op]; d > 0 {
				s.StoreCallsPerRequest[op] = d / requests
			}
		}
	}
}

// profile takes a CPU profile of t's Caddy (its admin endpoint serves /debug/pprof) during one extra,
// unrecorded wrk run, and keeps `go tool pprof -top` of it. Bare Caddy's profile beside the gateway's shows
// what the gateway adds.
func (b *bench) profile(ctx context.Context, t *target) error {
	admin := b.adminOf[t.procs[0]]
	secs := max(1, int(b.o.Duration/time.Second)-1)
	b.logf("profiling %s for %ds under wrk load", t.procs[0].name, secs)
	done := make(chan error, 1)
	go func() {
		_, err := runWrk(ctx, b.o.wrkBin, b.wrkLoad(t, b.o.Duration))
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, secs))
	if err != nil {
		<-done
		return err
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if werr := <-done; werr != nil {
		return werr
	}
	if err != nil || res.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: status %d, %v", res.StatusCode, err)
	}
	f := filepath.Join(b.dir, "s"+t.id+".cpu.pprof")
	if err := os.WriteFile(f, raw, 0o644); err != nil {
		return err
	}
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=40", f).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %v\n%s", err, top)
	}
	cum, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=40", f).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %v\n%s", err, cum)
	}
	b.report.Profiles = append(b.report.Profiles, &profileResult{Scenario: t.id, Process: t.procs[0].name, Seconds: secs,
		Top: string(top) + "\n--- sorted by cumulative time ---\n" + string(cum), raw: string(raw)})
	return nil
}

// Caddyfiles. Every front end runs with Caddy's defaults (no access log), bound to loopback, with its own
// admin endpoint (the gateway's serves /debug/pprof for the profile).
const caddyGlobal = `{
	admin 127.0.0.1:{{.Admin}}
	persist_config off
	auto_https off
}
`

var (
	caddyBare = template.Must(template.New("bare").Parse(caddyGlobal + `
http://:{{.Port}} {
	bind 127.0.0.1
	reverse_proxy {{.Upstream}}
}
`))
	caddyGateway = template.Must(template.New("gateway").Parse(caddyGlobal + `
http://:{{.Port}} {
	bind 127.0.0.1
	vectis_mfa {
		portal_hosts portal.localhost
		storage {{.Storage}}
		secret_key {{.Key}}
		{{if .Seed}}seed {{.Seed}}{{end}}
	}
	reverse_proxy {{.Upstream}}
}
`))
	caddyHeaders = template.Must(template.New("headers").Parse(caddyGlobal + `
http://:{{.Port}} {
	bind 127.0.0.1
	reverse_proxy {{.Upstream}} {
		{{range .Headers}}header_up {{index . 0}} "{{index . 1}}"
		{{end}}
	}
}
`))
	caddyForwardAuth = template.Must(template.New("forward_auth").Parse(caddyGlobal + `
http://:{{.Port}} {
	bind 127.0.0.1
	forward_auth {{.Auth}} {
		uri /oauth2/auth
		copy_headers X-Auth-Request-User X-Auth-Request-Email
	}
	reverse_proxy {{.Upstream}}
}
`))
)

// startCaddy writes a Caddyfile from tmpl and starts the gateway binary (a full Caddy) on it.
func (b *bench) startCaddy(name string, tmpl *template.Template, vars map[string]any) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	admin, err := freePort()
	if err != nil {
		return nil, "", err
	}
	v := map[string]any{"Port": port, "Admin": admin, "Upstream": strings.TrimPrefix(b.upstreamBase, "http://"), "Key": b.key}
	for k, x := range vars {
		v[k] = x
	}
	var cf bytes.Buffer
	if err := tmpl.Execute(&cf, v); err != nil {
		return nil, "", err
	}
	path := filepath.Join(b.dir, name+".Caddyfile")
	if err := os.WriteFile(path, cf.Bytes(), 0o600); err != nil {
		return nil, "", err
	}
	p, err := b.ps.start(name, b.env, b.o.gatewayBin, "run", "--config", path, "--adapter", "caddyfile")
	if err != nil {
		return nil, "", err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHTTP(p, base+"/", 30*time.Second); err != nil {
		return nil, "", err
	}
	b.adminOf[p] = fmt.Sprintf("127.0.0.1:%d", admin)
	return p, base, nil
}

// startRedis starts a redis-server with AOF on (the documented production setting; fsync every second,
// Redis's default) and returns its URL.
func (b *bench) startRedis(name string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	p, err := b.ps.start(name, nil, b.o.redisBin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no")
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitRedis(p, addr, 10*time.Second); err != nil {
		return nil, "", err
	}
	return p, "redis://" + addr + "/0", nil
}

// startOAuth2Proxy starts oauth2-proxy for the mock IdP in front of the upstream. Request logging is off
// because Caddy and the gateway keep no access log either.
func (b *bench) startOAuth2Proxy(name, cookieSecret string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := b.idp.m.Config()
	p, err := b.ps.start(name, b.env, b.o.oauth2ProxyBin,
		"--http-address=127.0.0.1:"+strconv.Itoa(port),
		"--provider=oidc",
		"--oidc-issuer-url="+cfg.Issuer,
		"--client-id="+cfg.ClientID,
		"--client-secret="+cfg.ClientSecret,
		"--redirect-url="+base+"/oauth2/callback",
		"--upstream="+b.upstreamBase+"/",
		"--cookie-secret="+cookieSecret,
		"--cookie-secure=false",
		"--email-domain=*",
		"--skip-provider-button=true",
		"--set-xauthrequest=true",
		"--request-logging=false",
	)
	if err != nil {
		return nil, "", err
	}
	if err := waitHTTP(p, base+"/ping", 30*time.Second); err != nil {
		return nil, "", err
	}
	return p, base, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// q quotes a path for a Caddyfile.
func q(s string) string { return strconv.Quote(s) }

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// shmDir is tmpfs when the machine has one.
func shmDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return ""
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// identityHeaderValues are the six identity headers as the gateway sends them for the bench's operator: the
// same names and sizes, and an ES256 assertion with the same claims signed by a throwaway key.
func identityHeaderValues() ([][2]string, error) {
	der, err := assertion.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	signer, err := assertion.NewSigner(der)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	userID := "op_" + strings.Repeat("a", 20) // the gateway's operator ids: "op_" and 20 base32 characters
	tok, err := signer.Sign(assertion.Claims{Issuer: "vectis-gateway", Audience: "127.0.0.1", Subject: userID,
		Email: benchEmail, Tenant: "bench", Role: "admin", AMR: []string{"pwd", "otp", "mfa"},
		IssuedAt: now.Unix(), Expiry: now.Add(assertion.Lifetime).Unix()})
	if err != nil {
		return nil, err
	}
	return [][2]string{{"X-Vectis-User-Id", userID}, {"X-Vectis-Email", benchEmail}, {"X-Vectis-Tenant", "bench"},
		{"X-Vectis-Role", "admin"}, {"X-Vectis-Auth", "password+totp"}, {"X-Vectis-Assertion", tok}}, nil
}
