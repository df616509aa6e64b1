package e2e

// The harness: it builds the real gateway binary once, starts it with a Caddyfile in front of a
// recording upstream on loopback, and drives it like a browser with an authenticator app
// (zbarimg reads the QR code, oathtool computes the codes).

import (
	"bytes"
	cryptoRand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"golang.org/x/net/html"
)

var (
	// gatewayBin is the binary TestMain built from ./cmd/vectis-gateway.
	gatewayBin string
	// moduleRoot is the repository root (the directory of go.mod).
	moduleRoot string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		fmt.Fprintf(os.Stderr, "e2e: cannot find the module root (go env GOMOD: %q, %v)\n", gomod, err)
		return 1
	}
	moduleRoot = filepath.Dir(gomod)

	// The tests use these as the authenticator app; a missing one is a failure, not a skip.
	for _, tool := range []string{"oathtool", "zbarimg"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s is not installed (scripts/test installs it)\n", tool)
			return 1
		}
	}

	// VECTIS_E2E_BINARY runs an already built binary instead (quicker when iterating on tests only).
	if bin := os.Getenv("VECTIS_E2E_BINARY"); bin != "" {
		gatewayBin = bin
		return m.Run()
	}

	tmp, err := os.MkdirTemp("", "vectis-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	gatewayBin = filepath.Join(tmp, "vectis-gateway")
	build := exec.Command("go", "build", "-o", gatewayBin, "./cmd/vectis-gateway")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building ./cmd/vectis-gateway failed: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// standardCaddyfile is the gateway most tests run: one site on a free loopback port that every host
// name reaches, the vectis_mfa handler with the demo seed, and the recording upstream behind it.
const standardCaddyfile = `{
	admin 127.0.0.1:{{.AdminPort}}
	persist_config off
	auto_https off
	grace_period 2s
}

http://:{{.Port}} {
	bind 127.0.0.1
	vectis_mfa {
		portal_hosts portal.localhost *.portal.test
		storage bolt "{{.Dir}}/gateway.db"
		secret_key {{.Key}}
		issuer "{{.Issuer}}"
		seed "{{.Seed}}"
	}
	reverse_proxy {{.Upstream}}
}
`

// e2eIssuer is the otpauth issuer the standard Caddyfile configures.
const e2eIssuer = "Vectis E2E"

// gw is one running gateway process and the recording upstream behind it.
type gw struct {
	t         *testing.T
	dir       string // working directory: Caddyfile, bolt file
	config    string // Caddyfile path
	env       []string
	dataDir   string // Caddy's data directory (XDG_DATA_HOME/caddy)
	port      int
	adminPort int
	base      string // http://127.0.0.1:port
	key       string // configured secret_key; must never show up in the log
	up        *upstream
	// marker starts every body the upstream sends: a 200 with it means the request got through.
	marker string
	// issuer is the otpauth issuer the config sets.
	issuer    string
	out       *lockedBuffer
	artifacts string

	cmd  *exec.Cmd
	done chan struct{}
}

// startGateway starts the gateway with caddyfile, a text/template that may use {{.Port}},
// {{.AdminPort}}, {{.Upstream}}, {{.Dir}}, {{.Key}}, {{.Seed}} and {{.Issuer}}.
func startGateway(t *testing.T, caddyfile string) *gw {
	return startGatewayWith(t, caddyfile, nil)
}

// startGatewayWith is startGateway with extra template values.
func startGatewayWith(t *testing.T, caddyfile string, extra map[string]any) *gw {
	t.Helper()
	up := startUpstream(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	// data/ is where Caddyfile.example keeps its bolt file (scripts/run creates it the same way).
	for _, d := range []string{home, filepath.Join(dir, "xdg-data"), filepath.Join(dir, "xdg-config"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	g := &gw{
		t:         t,
		dir:       dir,
		config:    filepath.Join(dir, "Caddyfile"),
		dataDir:   filepath.Join(dir, "xdg-data", "caddy"),
		port:      freePort(t),
		adminPort: freePort(t),
		key:       randomKey(t),
		up:        up,
		marker:    upstreamMarker,
		issuer:    e2eIssuer,
		out:       &lockedBuffer{},
		artifacts: artifactDir(t),
	}
	g.base = fmt.Sprintf("http://127.0.0.1:%d", g.port)
	g.env = append(os.Environ(),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(dir, "xdg-data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"),
	)
	vars := map[string]any{
		"Port":      g.port,
		"AdminPort": g.adminPort,
		"Upstream":  up.addr(),
		"Dir":       dir,
		"Key":       g.key,
		"Seed":      filepath.Join(moduleRoot, "demo", "seed.json"),
		"Issuer":    e2eIssuer,
	}
	for k, v := range extra {
		vars[k] = v
	}
	tmpl, err := template.New("Caddyfile").Option("missingkey=error").Parse(caddyfile)
	if err != nil {
		t.Fatalf("Caddyfile template: %v", err)
	}
	var cf bytes.Buffer
	if err := tmpl.Execute(&cf, vars); err != nil {
		t.Fatalf("Caddyfile template: %v", err)
	}
	if err := os.WriteFile(g.config, cf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	g.artifact("Caddyfile", cf.Bytes())

	t.Cleanup(func() {
		g.stop()
		log := g.out.String()
		g.artifact("gateway.log", []byte(log))
		// Invariant 10: secrets never appear in logs.
		if g.key != "" && strings.Contains(log, g.key) {
			t.Errorf("the gateway log contains the configured secret_key")
		}
		if t.Failed() {
			t.Logf("gateway output (last 60 lines; full log in %s):\n%s", g.artifacts, tail(log, 60))
		}
	})
	g.start()
	return g
}

// start runs the binary and waits until the admin endpoint and the site port answer.
func (g *gw) start() {
	t := g.t
	t.Helper()
	fmt.Fprintf(g.out, "---- starting %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(gatewayBin, "run", "--config", g.config, "--adapter", "caddyfile")
	cmd.Dir = g.dir
	cmd.Env = g.env
	cmd.Stdout = g.out
	cmd.Stderr = g.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the gateway: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	g.cmd, g.done = cmd, done

	admin := fmt.Sprintf("http://127.0.0.1:%d/config/", g.adminPort)
	site := fmt.Sprintf("127.0.0.1:%d", g.port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("the gateway exited during start-up (%s):\n%s", cmd.ProcessState, tail(g.out.String(), 40))
		default:
		}
		if adminAnswers(admin) {
			// The listener is bound only once the http app has started: a TCP connect that
			// succeeds means the site is serving, without touching the gateway's store.
			if c, err := net.DialTimeout("tcp", site, time.Second); err == nil {
				c.Close()
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not answer on %s within 30s:\n%s", site, tail(g.out.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func adminAnswers(u string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop ends the process: SIGTERM (Caddy's graceful stop), SIGKILL after 10 s.
func (g *gw) stop() {
	if g.cmd == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		fmt.Fprintln(g.out, "---- no exit 10s after SIGTERM: SIGKILL")
		_ = g.cmd.Process.Kill()
		<-g.done
	}
	fmt.Fprintf(g.out, "---- stopped (%s)\n", g.cmd.ProcessState)
	g.cmd = nil
}

// restart stops the process and starts it again with the same config, ports, and directories.
func (g *gw) restart() {
	g.t.Helper()
	g.stop()
	g.start()
}

// log is everything the process printed so far (all runs).
func (g *gw) log() string { return g.out.String() }

// artifact keeps a file under e2e/artifacts/<test>/ for a person to look at after the run.
func (g *gw) artifact(name string, data []byte) {
	if err := os.WriteFile(filepath.Join(g.artifacts, name), data, 0o644); err != nil {
		g.t.Logf("writing artifact %s: %v", name, err)
	}
}

func artifactDir(t *testing.T) string {
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	dir := filepath.Join("artifacts", name)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomKey(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := io.ReadFull(cryptoRand.Reader, b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// upstream stands in for the Vectis app: it records every request exactly as it arrived.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	Method string
	Host   string
	URI    string
	Header http.Header
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{Method: r.Method, Host: r.Host, URI: r.RequestURI, Header: r.Header.Clone()})
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s%s %s\n", upstreamMarker, r.Method, r.RequestURI)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// upstreamMarker starts every body the recording upstream sends.
const upstreamMarker = "upstream saw "

// reached reports whether r is the upstream's answer (the request got through the gateway).
func (g *gw) reached(r *resp) bool {
	return r.status == http.StatusOK && strings.HasPrefix(r.body, g.marker)
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// last is the most recent request; it fails the test when there is none.
func (u *upstream) last(t *testing.T) seenRequest {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream has received no request")
	}
	return u.seen[len(u.seen)-1]
}

// client is a browser: a cookie jar, no automatic redirects (tests follow Location themselves).
type client struct {
	t    *testing.T
	g    *gw
	hc   *http.Client
	jar  *cookiejar.Jar
	host string // Host header; empty means 127.0.0.1:port
	// setCookies is every Set-Cookie the client received, in order.
	setCookies []*http.Cookie
}

func (g *gw) newClient() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		g.t.Fatal(err)
	}
	return &client{t: g.t, g: g, jar: jar, hc: &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// withHost makes a client that sends Host: host (a portal name, upper case, with a port, …).
func (g *gw) clientFor(host string) *client {
	c := g.newClient()
	c.host = host
	return c
}

// resp is one response, body read.
type resp struct {
	status int
	header http.Header
	body   string
	url    *url.URL // the request URL
}

// location resolves the Location header against the request and returns path?query. It fails
// the test when the redirect leaves the host the request was made to (invariant 8).
func (r *resp) location(t *testing.T, requestHost string) string {
	t.Helper()
	loc := r.header.Get("Location")
	if loc == "" {
		t.Fatalf("no Location header on a %d response", r.status)
	}
	u, err := r.url.Parse(loc)
	if err != nil {
		t.Fatalf("bad Location %q: %v", loc, err)
	}
	if u.IsAbs() && !strings.EqualFold(u.Host, requestHost) && !strings.EqualFold(u.Host, r.url.Host) {
		t.Fatalf("redirect %q leaves the host %q", loc, requestHost)
	}
	return u.RequestURI()
}

func (c *client) hostHeader() string {
	if c.host != "" {
		return c.host
	}
	return strings.TrimPrefix(c.g.base, "http://")
}

// do sends one request. hdr entries are set verbatim (raw keys: "x-vectis-tenant" goes on the wire
// as written); a nil form means no body.
func (c *client) do(method, path string, form url.Values, hdr http.Header) *resp {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.g.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Host = c.hostHeader()
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	c.setCookies = append(c.setCookies, res.Cookies()...)
	return &resp{status: res.StatusCode, header: res.Header, body: string(b), url: req.URL}
}

// navigate is a browser's top-level GET.
func (c *client) navigate(path string) *resp {
	c.t.Helper()
	return c.do(http.MethodGet, path, nil, navHeaders())
}

// post is a browser's form submission (same origin, as a browser sends it).
func (c *client) post(path string, form url.Values) *resp {
	c.t.Helper()
	h := navHeaders()
	h.Set("Origin", "http://"+c.hostHeader())
	return c.do(http.MethodPost, path, form, h)
}

func navHeaders() http.Header {
	h := http.Header{}
	h.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	h.Set("Sec-Fetch-Mode", "navigate")
	h.Set("Sec-Fetch-Dest", "document")
	return h
}

// submit posts form f of page p with its hidden/default fields plus set.
func (c *client) submit(p *page, f *htmlForm, set url.Values) *resp {
	c.t.Helper()
	target, err := p.url.Parse(f.action)
	if err != nil {
		c.t.Fatalf("form action %q: %v", f.action, err)
	}
	vals := url.Values{}
	for k, vs := range f.fields {
		vals[k] = append([]string(nil), vs...)
	}
	for k, vs := range set {
		vals[k] = vs
	}
	return c.post(target.RequestURI(), vals)
}

// cookie returns the jar's value for name ("" when absent).
func (c *client) cookie(name string) string {
	for _, ck := range c.cookies() {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// jarURL is the URL the jar files this client's cookies under: net/http keys the jar by the
// request's Host when one is set, as a browser keys cookies by the site's name.
func (c *client) jarURL() *url.URL {
	return &url.URL{Scheme: "http", Host: c.hostHeader(), Path: "/"}
}

// cookies is the jar's content for the gateway's site.
func (c *client) cookies() []*http.Cookie { return c.jar.Cookies(c.jarURL()) }

// page is a parsed HTML page.
type page struct {
	url      *url.URL
	forms    []*htmlForm
	links    []string // every <a href>
	otpauth  []string // every data-otpauth-uri value
	recovery []string // every data-recovery-code (attribute value, or the element's text)
	text     string   // all text content
}

type htmlForm struct {
	action string
	method string
	fields url.Values // every named input/textarea/select with its current value (hidden ones included)
	hidden url.Values // only type=hidden inputs
}

func (f *htmlForm) has(name string) bool { _, ok := f.fields[name]; return ok }

// parsePage parses r's body as HTML.
func parsePage(t *testing.T, r *resp) *page {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("parsing HTML: %v", err)
	}
	p := &page{url: r.url}
	var text strings.Builder
	var cur *htmlForm
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			text.WriteString(n.Data)
			text.WriteString(" ")
		}
		var opened bool
		if n.Type == html.ElementNode {
			if v, ok := attr(n, "data-otpauth-uri"); ok {
				p.otpauth = append(p.otpauth, v)
			}
			if v, ok := attr(n, "data-recovery-code"); ok {
				if strings.TrimSpace(v) == "" {
					v = textOf(n)
				}
				p.recovery = append(p.recovery, strings.TrimSpace(v))
			}
			switch n.Data {
			case "form":
				action, _ := attr(n, "action")
				method, _ := attr(n, "method")
				cur = &htmlForm{action: action, method: strings.ToUpper(method), fields: url.Values{}, hidden: url.Values{}}
				p.forms = append(p.forms, cur)
				opened = true
			case "a":
				if href, ok := attr(n, "href"); ok {
					p.links = append(p.links, href)
				}
			case "input", "textarea", "select", "button":
				name, _ := attr(n, "name")
				if cur != nil && name != "" {
					typ, _ := attr(n, "type")
					val, _ := attr(n, "value")
					if n.Data == "textarea" {
						val = textOf(n)
					}
					if n.Data != "button" && !(n.Data == "input" && strings.EqualFold(typ, "submit")) {
						cur.fields.Add(name, val)
					}
					if n.Data == "input" && strings.EqualFold(typ, "hidden") {
						cur.hidden.Add(name, val)
					}
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
		if opened {
			cur = nil
		}
	}
	walk(doc)
	p.text = text.String()
	return p
}

// form returns the hidden inputs (csrf, next, …) of the first form in body that has a csrf field.
func form(t *testing.T, r *resp) url.Values {
	t.Helper()
	p := parsePage(t, r)
	for _, f := range p.forms {
		if f.hidden.Get("csrf") != "" {
			return f.hidden
		}
	}
	t.Fatalf("no form with a hidden csrf field in:\n%s", r.body)
	return nil
}

// formWith returns the first form that has a field named field (and a csrf token).
func (p *page) formWith(t *testing.T, field string) *htmlForm {
	t.Helper()
	for _, f := range p.forms {
		if f.has(field) {
			if f.hidden.Get("csrf") == "" {
				t.Errorf("the form with %q on %s has no hidden csrf field", field, p.url.Path)
			}
			return f
		}
	}
	t.Fatalf("no form with a %q field on %s (%d forms)", field, p.url.Path, len(p.forms))
	return nil
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// otpauthFromQR decodes a QR code PNG the way a phone would, with zbarimg.
func otpauthFromQR(t *testing.T, png []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(f, png, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	// QR symbols only, as an authenticator app reads: in a full-page screenshot zbar otherwise now and then
	// "finds" a 1-D barcode in the text (seen once: an EAN read of the manual key).
	cmd := exec.Command("zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", f)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zbarimg could not decode the QR code: %v %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// totpNow computes the code of the current 30 s step plus offsetSteps with oathtool, and returns
// the step number it used.
func totpNow(t *testing.T, base32Secret string, offsetSteps int64) (code string, step int64) {
	t.Helper()
	step = time.Now().Unix()/30 + offsetSteps
	return totpAt(t, base32Secret, step), step
}

// totpAt computes the code for one 30 s step with oathtool (SHA1, 6 digits).
func totpAt(t *testing.T, base32Secret string, step int64) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("oathtool", "--totp=SHA1", "--digits=6", "--time-step-size=30s",
		"--base32", "-N", fmt.Sprintf("@%d", step*30), base32Secret)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oathtool: %v %s", err, stderr.String())
	}
	code := strings.TrimSpace(string(out))
	if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
		t.Fatalf("oathtool printed %q, not a 6-digit code", code)
	}
	return code
}

// seedUser is one operator of demo/seed.json (the file the README's demo uses).
type seedUser struct {
	Email    string `json:"email"`
	Tenant   string `json:"tenant"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

// demoUser returns the seed entry for email, failing when the seed lacks it.
func demoUser(t *testing.T, email string) seedUser {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot, "demo", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seed struct {
		Users []seedUser `json:"users"`
	}
	if err := json.Unmarshal(b, &seed); err != nil {
		t.Fatalf("demo/seed.json: %v", err)
	}
	for _, u := range seed.Users {
		if u.Email == email {
			if u.Password == "" {
				t.Fatalf("demo/seed.json: %s has no plain password", email)
			}
			return u
		}
	}
	t.Fatalf("demo/seed.json has no user %s", email)
	return seedUser{}
}

// waitFor polls cond every 200 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var errNoJSON = errors.New("not JSON")

// jsonBody decodes r's body into a map.
func jsonBody(r *resp) (map[string]any, error) {
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		return nil, fmt.Errorf("%w: Content-Type %q", errNoJSON, r.header.Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		return nil, err
	}
	return m, nil
}
