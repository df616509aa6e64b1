package gateway

import (
	"context"
	"encoding/base32"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/config"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/store/bolt"
	redisstore "github.com/vectis/mfa-gateway/internal/store/redis"
	"github.com/vectis/mfa-gateway/internal/store/redis/redistest"
	"github.com/vectis/mfa-gateway/internal/totp"
)

const testSeed = `{"tenants":[{"id":"acme","name":"Acme MSP","billing_email":"billing@acme.example"},
 {"id":"beta","name":"Beta IT","billing_email":"ops@beta.example"}],
 "users":[{"email":"admin@acme.example","tenant":"acme","role":"admin","password":"correct horse battery"},
 {"email":"tech@acme.example","tenant":"acme","role":"member","password":"tech password 1"},
 {"email":"Ops@Beta.example","tenant":"beta","role":"admin","password":"beta password 1"}]}`

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// upstream records what reached the app behind the gateway.
type upstream struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (u *upstream) next(w http.ResponseWriter, r *http.Request) error {
	u.mu.Lock()
	u.reqs = append(u.reqs, r.Clone(context.Background()))
	u.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "upstream ok "+r.Header.Get("X-Vectis-Email"))
	return nil
}

func (u *upstream) count() int { u.mu.Lock(); defer u.mu.Unlock(); return len(u.reqs) }
func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		return nil
	}
	return u.reqs[len(u.reqs)-1]
}

type env struct {
	t     *testing.T
	g     *Gateway
	srv   *httptest.Server
	clk   *clock
	up    *upstream
	st    store.Store
	opens atomic.Int32
	fail  atomic.Bool // when set, the store opener fails (store unreachable)
}

func newEnv(t *testing.T, mutate ...func(*config.Config)) *env {
	t.Helper()
	return newEnvOn(t, "bolt", mutate...)
}

// backends are the stores every flow test that depends on store atomicity runs against.
var backends = []string{"bolt", "redis"}

// newEnvOn builds an env on the named backend: "bolt" (temp file) or "redis" (a real redis-server on a free
// loopback port, started for this test).
func newEnvOn(t *testing.T, backend string, mutate ...func(*config.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seed, []byte(testSeed), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{
		PortalHosts: []string{"portal.example.com", "*.portal.example.com"},
		Storage:     config.Storage{Kind: "bolt", Path: filepath.Join(dir, "gw.db")},
		SecretKey:   []byte("0123456789abcdef0123456789abcdef"),
		Issuer:      "Vectis Test",
		Seed:        seed,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	cfg.Normalize()
	e := &env{t: t, clk: &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}, up: &upstream{}}
	var st store.Store
	var err error
	switch backend {
	case "bolt":
		st, err = bolt.Open(cfg.Storage.Path, bolt.Options{})
	case "redis":
		srv := redistest.Start(t)
		st, err = redisstore.Open(srv.URL(), redisstore.Options{})
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	open := func(ctx context.Context) (store.Store, error) {
		e.opens.Add(1)
		if e.fail.Load() {
			return nil, errFakeDown
		}
		return e.st, nil
	}
	g, err := New(cfg, open, Options{Now: e.clk.Now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.g = g
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.Handle(w, r, e.up.next); err != nil {
			t.Errorf("handler error: %v", err)
		}
	}))
	t.Cleanup(e.srv.Close)
	return e
}

type fakeErr string

func (e fakeErr) Error() string { return string(e) }

const errFakeDown = fakeErr("store down (test)")

// browser is one cookie jar that does not follow redirects.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type resp struct {
	status int
	loc    string
	body   string
	h      http.Header
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) resp {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		if hdr[i] == "Sec-Fetch-Mode" || hdr[i] == "Accept" {
			req.Header.Set(hdr[i], hdr[i+1])
			continue
		}
		req.Header[hdr[i]] = append(req.Header[hdr[i]], hdr[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, loc: res.Header.Get("Location"), body: string(data), h: res.Header}
}

var hiddenRE = regexp.MustCompile(`name="(csrf|next)" value="([^"]*)"`)

// post fetches the form page at path, then submits fields plus the page's hidden fields.
func (b *browser) post(path string, fields url.Values) resp {
	b.e.t.Helper()
	page := b.do("GET", path, nil)
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page.body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	for k, v := range fields {
		form[k] = v
	}
	return b.do("POST", path, form)
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

var uriRE = regexp.MustCompile(`data-otpauth-uri="([^"]+)"`)
var codeRE = regexp.MustCompile(`<code data-recovery-code>([^<]+)</code>`)

// enrollSecret reads the secret from the enrollment page's otpauth URI.
func (b *browser) enrollSecret() []byte {
	b.e.t.Helper()
	page := b.do("GET", "/.vectis/enroll", nil)
	m := uriRE.FindStringSubmatch(page.body)
	if m == nil {
		b.e.t.Fatalf("no otpauth URI on enrollment page (status %d): %.400s", page.status, page.body)
	}
	u, err := url.Parse(htmlUnescape(m[1]))
	if err != nil {
		b.e.t.Fatal(err)
	}
	sec, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.Query().Get("secret"))
	if err != nil {
		b.e.t.Fatal(err)
	}
	return sec
}

func (e *env) code(secret []byte, offsetSteps int64) string {
	return totp.CodeAt(secret, totp.StepAt(e.clk.Now())+offsetSteps)
}

// enroll signs in with a password and completes enrollment, returning the secret and recovery codes.
func (b *browser) enroll(email, password, next string) ([]byte, []string) {
	b.e.t.Helper()
	r := b.post("/.vectis/login?next="+url.QueryEscape(next), url.Values{"email": {email}, "password": {password}})
	if r.status != http.StatusSeeOther || r.loc != "/.vectis/enroll" {
		b.e.t.Fatalf("login: %d %q", r.status, r.loc)
	}
	secret := b.enrollSecret()
	r = b.post("/.vectis/enroll", url.Values{"code": {b.e.code(secret, 0)}})
	if r.status != http.StatusOK {
		b.e.t.Fatalf("enroll confirm: %d %.300s", r.status, r.body)
	}
	var codes []string
	for _, m := range codeRE.FindAllStringSubmatch(r.body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		b.e.t.Fatalf("want 10 recovery codes, got %d", len(codes))
	}
	return secret, codes
}

// signIn does password + TOTP for an enrolled operator; the clock should have moved past the last used step.
func (b *browser) signIn(email, password string, secret []byte) resp {
	b.e.t.Helper()
	r := b.post("/.vectis/login", url.Values{"email": {email}, "password": {password}})
	if r.status != http.StatusSeeOther || r.loc != "/.vectis/mfa" {
		b.e.t.Fatalf("login: %d %q %.200s", r.status, r.loc, r.body)
	}
	return b.post("/.vectis/mfa", url.Values{"code": {b.e.code(secret, 0)}})
}
