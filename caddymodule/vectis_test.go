package caddymodule

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/vectis/mfa-gateway/internal/gateway"
)

func minutes(n int) caddy.Duration { return caddy.Duration(time.Duration(n) * time.Minute) }

// testKey is a fixed 32-byte key; testKeyB64 its configuration form.
var (
	testKey    = bytes.Repeat([]byte{0x42}, 32)
	testKeyB64 = base64.StdEncoding.EncodeToString(testKey)
)

// dataDir points Caddy's data directory at a fresh temporary one, so defaults (bolt file, key
// file) land there and not in the real home directory.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir)
	return filepath.Join(dir, "caddy")
}

// provision provisions h the way Caddy does and cleans it up after the test.
func provision(t *testing.T, h *Handler) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	err := h.Provision(ctx)
	t.Cleanup(func() {
		if err := h.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return err
}

func TestProvisionDefaults(t *testing.T) {
	data := dataDir(t)
	h := new(Handler)
	// A logger of our own, to see the key-file warning.
	var logs bytes.Buffer
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	if got, want := h.cfg.Storage.Path, filepath.Join(data, "vectis", "gateway.db"); got != want {
		t.Errorf("bolt path = %q, want %q", got, want)
	}
	if h.store.key != "bolt:"+h.cfg.Storage.Path {
		t.Errorf("store key = %q", h.store.key)
	}
	if len(h.cfg.SecretKey) != 32 {
		t.Fatalf("secret key is %d bytes", len(h.cfg.SecretKey))
	}
	keyFile := filepath.Join(data, "vectis", "secret.key")
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if _, err := os.Stat(h.cfg.Storage.Path); !os.IsNotExist(err) {
		t.Errorf("Provision opened the store (bolt file exists): %v", err)
	}
	if h.cfg.Issuer != "Vectis" || h.cfg.LockoutAttempts != 5 || h.cfg.LockoutWindow != 15*time.Minute ||
		h.cfg.SessionIdle != time.Hour || h.cfg.SessionAbsolute != 12*time.Hour {
		t.Errorf("defaults not applied: %+v", h.cfg)
	}

	// The same key comes back on the next start, and the warning names the file but not the key.
	h2 := &Handler{logger: slog.New(slog.NewTextHandler(&logs, nil))}
	key, err := h2.loadKeyFile("redis")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, h.cfg.SecretKey) {
		t.Error("key file gave a different key on the second load")
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, keyFile) || !strings.Contains(out, "every replica") {
		t.Errorf("warning missing or incomplete: %s", out)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if strings.Contains(out, enc.EncodeToString(key)[:16]) {
			t.Errorf("key material in log: %s", out)
		}
	}
}

// TestJSONShape decodes the documented JSON form and checks every field reaches the config.
func TestJSONShape(t *testing.T) {
	data := dataDir(t)
	t.Setenv("VECTIS_TEST_KEY", testKeyB64)
	dbDir := t.TempDir()
	raw := fmt.Sprintf(`{
		"portal_hosts": ["Portal.Example.com", "*.portal.example.com"],
		"storage": {"type": "bolt", "path": %q},
		"secret_key": "{env.VECTIS_TEST_KEY}",
		"issuer": "Vectis MSP",
		"seed": "{env.VECTIS_TEST_SEED}",
		"lockout": {"attempts": 3, "window": "10m"},
		"session": {"idle": "30m", "absolute": 28800000000000},
		"secure_cookies": true
	}`, filepath.Join(dbDir, "sub", "g.db"))
	t.Setenv("VECTIS_TEST_SEED", "/etc/vectis/seed.json")
	var h Handler
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		t.Fatal(err)
	}
	if err := provision(t, &h); err != nil {
		t.Fatal(err)
	}
	c := h.cfg
	if strings.Join(c.PortalHosts, ",") != "portal.example.com,*.portal.example.com" {
		t.Errorf("portal hosts %v", c.PortalHosts)
	}
	if c.Storage.Kind != "bolt" || c.Storage.Path != filepath.Join(dbDir, "sub", "g.db") {
		t.Errorf("storage %+v", c.Storage)
	}
	if !bytes.Equal(c.SecretKey, testKey) {
		t.Error("secret_key placeholder not resolved to the environment's key")
	}
	if c.Issuer != "Vectis MSP" || c.Seed != "/etc/vectis/seed.json" {
		t.Errorf("issuer %q seed %q", c.Issuer, c.Seed)
	}
	if c.LockoutAttempts != 3 || c.LockoutWindow != 10*time.Minute || c.SessionIdle != 30*time.Minute || c.SessionAbsolute != 8*time.Hour {
		t.Errorf("lockout/session %+v", c)
	}
	if !h.SecureCookies {
		t.Error("secure_cookies lost")
	}
	// The bolt directory was created (start-up check), the key file was not (a key was given).
	if fi, err := os.Stat(filepath.Join(dbDir, "sub")); err != nil || !fi.IsDir() {
		t.Errorf("bolt directory not created: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "vectis", "secret.key")); !os.IsNotExist(err) {
		t.Errorf("key file written although secret_key was set: %v", err)
	}
}

func TestProvisionErrors(t *testing.T) {
	dataDir(t)
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VECTIS_TEST_EMPTY", "")
	short := base64.StdEncoding.EncodeToString(testKey[:16])
	bolt := func(p string) *Storage { return &Storage{Type: "bolt", Path: p} }
	ok := bolt(filepath.Join(t.TempDir(), "g.db"))
	cases := []struct {
		name string
		h    Handler
		want string
	}{
		{"key not base64", Handler{Storage: ok, SecretKey: "not base64!"}, "not valid base64"},
		{"key too short", Handler{Storage: ok, SecretKey: short}, "decodes to 16 bytes"},
		{"key placeholder empty", Handler{Storage: ok, SecretKey: "{env.VECTIS_TEST_EMPTY}"}, "secret_key"},
		{"key placeholder unknown", Handler{Storage: ok, SecretKey: "{nope.key}"}, "secret_key"},
		{"storage type", Handler{Storage: &Storage{Type: "etcd"}, SecretKey: testKeyB64}, "storage must be bolt or redis"},
		{"redis without url", Handler{Storage: &Storage{Type: "redis"}, SecretKey: testKeyB64}, "storage redis needs a URL"},
		{"redis with path", Handler{Storage: &Storage{Type: "redis", URL: "redis://127.0.0.1:1", Path: "/x"}, SecretKey: testKeyB64}, "takes a url, not a path"},
		{"bolt with url", Handler{Storage: &Storage{Type: "bolt", URL: "redis://127.0.0.1:1"}, SecretKey: testKeyB64}, "takes a path, not a url"},
		// Replicas sharing a Redis must share the key; a per-machine key file cannot give them that.
		{"redis without key", Handler{Storage: &Storage{Type: "redis", URL: "redis://127.0.0.1:1/0"}}, "storage redis needs an explicit secret_key"},
		{"redis url scheme", Handler{Storage: &Storage{Type: "redis", URL: "http://127.0.0.1:6379"}, SecretKey: testKeyB64}, "storage redis: "},
		{"redis url port", Handler{Storage: &Storage{Type: "redis", URL: "redis://:hunter2-pw@127.0.0.1:notaport/0"}, SecretKey: testKeyB64}, "storage redis: "},
		{"redis url db", Handler{Storage: &Storage{Type: "redis", URL: "redis://u:hunter2-pw@127.0.0.1:6379/x"}, SecretKey: testKeyB64}, "storage redis: "},
		{"bolt dir under a file", Handler{Storage: bolt(filepath.Join(notADir, "g.db")), SecretKey: testKeyB64}, "cannot create directory"},
		{"bolt path is a dir", Handler{Storage: bolt(t.TempDir()), SecretKey: testKeyB64}, "not a regular file"},
		{"lockout attempts", Handler{Storage: ok, SecretKey: testKeyB64, Lockout: &Lockout{Attempts: 1000}}, "lockout attempts"},
		{"lockout window", Handler{Storage: ok, SecretKey: testKeyB64, Lockout: &Lockout{Window: caddy.Duration(time.Second)}}, "lockout window"},
		{"session order", Handler{Storage: ok, SecretKey: testKeyB64, Session: &Session{Idle: minutes(60), Absolute: minutes(30)}}, "must not be shorter than idle"},
		{"issuer colon", Handler{Storage: ok, SecretKey: testKeyB64, Issuer: "a:b"}, "issuer"},
		{"portal host", Handler{Storage: ok, SecretKey: testKeyB64, PortalHosts: []string{"https://x.example.com/"}}, "portal host"},
		// Config errors come before the key file: a typo must not leave a fresh key behind.
		{"invalid without key", Handler{Storage: ok, Issuer: "a:b"}, "issuer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			err := provision(t, &h)
			if err == nil {
				t.Fatal("provisioned without error")
			}
			if !strings.HasPrefix(err.Error(), "loading vectis_mfa: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want prefix %q and %q", err, "loading vectis_mfa: ", tc.want)
			}
			if strings.Contains(err.Error(), testKeyB64) || strings.Contains(err.Error(), short) {
				t.Errorf("error leaks the key: %q", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the Redis password: %q", err)
			}
			if len(liveGateways()) != 0 {
				t.Error("a handler that failed to provision joined the registry")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_DATA_HOME"), "caddy", "vectis", "secret.key")); !os.IsNotExist(err) {
		t.Errorf("a key file was written by a failing provision: %v", err)
	}
}

// TestBoltSharedAcrossReload provisions the new instance before cleaning up the old one, as a
// reload does. A second bbolt open of the same file in one process would wait for the flock and
// fail, so both instances getting a store proves they share one handle.
func TestBoltSharedAcrossReload(t *testing.T) {
	dataDir(t)
	dir := t.TempDir()
	ctx := context.Background()

	old := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "bolt", Path: filepath.Join(dir, "g.db")}}
	if err := provision(t, old); err != nil {
		t.Fatal(err)
	}
	s1, err := old.store.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The same file spelled differently (relative to the working directory) is the same pool entry.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, filepath.Join(dir, ".", "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	neu := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "bolt", Path: rel}}
	if err := provision(t, neu); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s2, err := neu.store.open(ctx)
	if err != nil {
		t.Fatalf("second instance could not open the store: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("second open took %s: it waited for the file lock instead of sharing", d)
	}
	if s1.(sharedStore).Store != s2.(sharedStore).Store {
		t.Fatal("instances got different store handles")
	}
	if n, _ := stores.References(old.store.key); n != 2 {
		t.Errorf("references = %d, want 2", n)
	}
	// Asking again does not take another reference.
	if _, err := neu.store.open(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := stores.References(old.store.key); n != 2 {
		t.Errorf("references after a repeated open = %d, want 2", n)
	}
	// The gateway closing its store must not close it for the other instance.
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Ping(ctx); err != nil {
		t.Fatalf("store closed while the new instance still uses it: %v", err)
	}
	if _, err := old.store.open(ctx); err == nil {
		t.Error("a cleaned-up instance opened the store again")
	}
	if err := neu.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := stores.References(old.store.key); ok {
		t.Fatal("pool entry survived the last cleanup")
	}
	// The file lock is gone: a fresh instance opens it at once.
	again := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "bolt", Path: filepath.Join(dir, "g.db")}}
	if err := provision(t, again); err != nil {
		t.Fatal(err)
	}
	if _, err := again.store.open(ctx); err != nil {
		t.Fatalf("reopen after last cleanup: %v", err)
	}
}

// TestBoltOpenFailureHoldsNothing: a failed open leaves nothing open and no extra pool reference, so a
// later Cleanup releases exactly its own, and the next request can retry.
func TestBoltOpenFailureHoldsNothing(t *testing.T) {
	dataDir(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "g.db")
	if err := os.WriteFile(path, []byte("this is not a bolt database, but it is long enough to have a header page"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "bolt", Path: path}}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.open(context.Background()); err == nil {
		t.Fatal("opened a corrupt bolt file")
	}
	// The instance holds exactly its own reference (taken in Provision), and nothing was opened.
	if n, ok := stores.References(h.store.key); !ok || n != 1 || h.store.held == nil || h.store.held.st != nil {
		t.Fatalf("after a failed open: references %d (%v), opened %v", n, ok, h.store.held != nil && h.store.held.st != nil)
	}
	// Replace the file with nothing: the retry succeeds.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.open(context.Background()); err != nil {
		t.Fatalf("retry after the failure: %v", err)
	}
}

// TestRedisSharedAcrossReload runs against a real redis-server on a free loopback port.
func TestRedisSharedAcrossReload(t *testing.T) {
	dataDir(t)
	url := startRedis(t)
	ctx := context.Background()
	mk := func() *Handler {
		h := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "redis", URL: url}}
		if err := provision(t, h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	old, neu := mk(), mk()
	if old.store.key != "redis:"+url {
		t.Errorf("store key %q", old.store.key)
	}
	s1, err := old.store.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := neu.store.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s1.(sharedStore).Store != s2.(sharedStore).Store {
		t.Fatal("instances got different Redis clients")
	}
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Ping(ctx); err != nil {
		t.Fatalf("client closed while the new instance still uses it: %v", err)
	}
	if err := neu.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := stores.References(old.store.key); ok {
		t.Fatal("pool entry survived the last cleanup")
	}
	if err := s2.Ping(ctx); err == nil {
		t.Error("client still works after the last cleanup: it was never closed")
	}
}

func startRedis(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "redis://" + addr + "/0"
}

func TestLiveGateways(t *testing.T) {
	dataDir(t)
	a := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "bolt", Path: filepath.Join(t.TempDir(), "a.db")}}
	b := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "bolt", Path: filepath.Join(t.TempDir(), "b.db")}}
	if err := provision(t, a); err != nil {
		t.Fatal(err)
	}
	if err := provision(t, b); err != nil {
		t.Fatal(err)
	}
	if got := liveGateways(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("live = %v, want [a b] oldest first", got)
	}
	if err := a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := liveGateways(); len(got) != 1 || got[0] != b {
		t.Fatalf("live after cleanup = %v, want [b]", got)
	}
}

func identity() gateway.Identity {
	return gateway.Identity{UserID: "u-1", Email: "ana@example.com", TenantID: "t-1", Role: "admin", Auth: "password+totp"}
}

func TestIdentityPlaceholders(t *testing.T) {
	repl := caddy.NewReplacer()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	setIdentityPlaceholders(r, identity())
	want := map[string]string{
		"http.auth.user.id":     "u-1",
		"http.auth.user.email":  "ana@example.com",
		"http.auth.user.tenant": "t-1",
		"http.auth.user.role":   "admin",
		"http.auth.user.auth":   "password+totp",
	}
	for k, v := range want {
		if got, _ := repl.GetString(k); got != v {
			t.Errorf("{%s} = %q, want %q", k, got, v)
		}
	}
	// Outside Caddy (no replacer in the context) it is a no-op, not a panic.
	setIdentityPlaceholders(httptest.NewRequest(http.MethodGet, "/", nil), identity())

	// With the HTTP server's own providers in front (as in a request Caddy serves), the names still resolve:
	// {http.auth.user.id} in a header_up, a log field or Caddy's access log user_id.
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	repl = caddyhttp.NewTestReplacer(r)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	setIdentityPlaceholders(r, identity())
	for k, v := range want {
		if got := repl.ReplaceAll("{"+k+"}", "-"); got != v {
			t.Errorf("with the HTTP providers, {%s} = %q, want %q", k, got, v)
		}
	}
	if got := repl.ReplaceAll("{http.request.method}", "-"); got != http.MethodGet {
		t.Errorf("the HTTP placeholders are shadowed: {http.request.method} = %q", got)
	}
}

// TestServeHTTPPortalPassThrough drives the handler as Caddy's middleware chain would: a portal
// request reaches the next handler, stripped of X-Vectis-* and without opening the store; an
// operator request without a session does not reach it.
func TestServeHTTPPortalPassThrough(t *testing.T) {
	dataDir(t)
	h := &Handler{SecretKey: testKeyB64, PortalHosts: []string{"portal.example.com"}}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	called := false
	var next caddyhttp.Handler
	var forwarded http.Header
	next = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		called = true
		forwarded = r.Header.Clone()
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	r := httptest.NewRequest(http.MethodGet, "http://portal.example.com/orders", nil)
	r.Header.Set("X-Vectis-Tenant", "forged")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	if !called || w.Code != http.StatusTeapot {
		t.Fatalf("portal request did not reach the next handler (called=%v, status %d)", called, w.Code)
	}
	if v := forwarded.Get("X-Vectis-Tenant"); v != "" {
		t.Errorf("client-supplied X-Vectis-Tenant reached the upstream: %q", v)
	}
	if h.store.held == nil || h.store.held.st != nil {
		t.Error("portal request opened the store")
	}

	// The same handler on an operator host without a session stops the request.
	called = false
	r = httptest.NewRequest(http.MethodGet, "http://app.example.com/dashboard", nil)
	r.Header.Set("Accept", "text/html")
	w = httptest.NewRecorder()
	err := h.ServeHTTP(w, r, next)
	if called {
		t.Fatal("an operator request without a session reached the next handler")
	}
	if err == nil && w.Code < 300 {
		t.Errorf("operator request without a session answered %d", w.Code)
	}
}

func TestClientIP(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.9:4711"
	// A header alone decides nothing: only Caddy's trusted_proxies handling may.
	r.Header.Set("X-Forwarded-For", "203.0.113.66")
	if got := clientIP(r); got != "10.0.0.9" {
		t.Errorf("without Caddy vars: %q, want the socket peer", got)
	}
	vars := map[string]any{caddyhttp.ClientIPVarKey: "198.51.100.7"}
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
	if got := clientIP(r); got != "198.51.100.7" {
		t.Errorf("with Caddy's client_ip var: %q", got)
	}
}
