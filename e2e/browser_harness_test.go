package e2e

// The browser harness: one headless Chromium for the journey suite, one browser context (its own
// cookies) per operator, and a tab type that drives pages the way a person does while it records
// every console error and failed sub-resource load. Pages are screenshotted full-page at desktop and
// phone width into artifacts/screenshots/<journey>/.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const (
	// stepTimeout bounds one browser step (a navigation, a key press that submits a form, a query).
	stepTimeout = 20 * time.Second
	// desktopWidth and phoneWidth are the two widths every screenshot is taken at.
	desktopWidth = 1280
	phoneWidth   = 375
	// screenshotDir holds every journey's screenshots (git-ignored with the rest of artifacts/).
	screenshotDir = "artifacts/screenshots"
)

// chromiumPath finds Debian's Chromium. A machine without it fails the suite: scripts/test installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed (scripts/test installs it); the browser journeys cannot run")
	return ""
}

// browser is one Chromium process shared by every journey of a test.
type browser struct {
	ctx context.Context // the root chromedp context: it owns the browser and never has a deadline
	out *lockedBuffer   // Chromium's own output, shown when a journey fails
}

// startBrowser starts Chromium headless with flags for a closed network and a fresh profile.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{out: &lockedBuffer{}}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// Nothing may reach out: no update checks, sync, field trials or QUIC probes.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,PasswordLeakDetection"),
		// Stable screenshots: no scrollbars, one colour profile.
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.WindowSize(desktopWidth, 800),
		chromedp.CombinedOutput(b.out),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser and binds its life to ctx, so it must not carry a deadline;
	// the watchdog below fails the test instead when Chromium does not come up.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting chromium: %v\n%s", err, tail(b.out.String(), 30))
		}
	case <-time.After(60 * time.Second):
		cancelAlloc()
		t.Fatalf("chromium did not start within 60s:\n%s", tail(b.out.String(), 30))
	}
	b.ctx = ctx
	return b
}

// tab is one operator's browser: its own browser context (cookies), one tab, and everything the page
// reported that a person would see as broken.
type tab struct {
	t   *testing.T
	g   *gw
	who string
	ctx context.Context

	mu       sync.Mutex
	problems []string
	// docs are the requests that loaded a page (top-level documents): their status is the step's
	// business (a wrong code is a 401 page), so the console line Chromium logs for it is not a problem.
	docs map[network.RequestID]bool
	// visits are the URLs of every page the tab loaded, redirects included, in order.
	visits []string
	// inflight are requests sent and not yet answered, with when they were sent (settle waits for them).
	inflight map[network.RequestID]time.Time

	j       *journeyRun // where screenshots go; nil: this tab takes none
	shotSeq int
}

// newTab opens a tab in a fresh browser context, so each operator has their own cookies.
func (b *browser) newTab(t *testing.T, g *gw, who string) *tab {
	t.Helper()
	tb := &tab{t: t, g: g, who: who, docs: map[network.RequestID]bool{}, inflight: map[network.RequestID]time.Time{}}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(tb.listen))
	t.Cleanup(cancel)
	// The tab's first Run attaches it; like the browser's, it carries no deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: opening a tab: %v\n%s", who, err, tail(b.out.String(), 30))
	}
	tb.ctx = ctx
	tb.setViewport(desktopWidth)
	return tb
}

// listen runs in the tab's event loop: it only records.
func (tb *tab) listen(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		tb.problems = append(tb.problems, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			tb.problems = append(tb.problems, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
		}
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e.Level != cdplog.EntryLevelError {
			return
		}
		if e.Source == cdplog.EntrySourceNetwork && tb.docs[e.NetworkRequestID] {
			return
		}
		tb.problems = append(tb.problems, fmt.Sprintf("console error (%s) %s: %s", e.Source, e.URL, e.Text))
	case *network.EventRequestWillBeSent:
		if ev.Type == network.ResourceTypeDocument {
			tb.docs[ev.RequestID] = true
			tb.visits = append(tb.visits, ev.Request.URL)
		}
		tb.inflight[ev.RequestID] = time.Now()
	case *network.EventLoadingFinished:
		delete(tb.inflight, ev.RequestID)
	case *network.EventResponseReceived:
		// The status is what is checked; a favicon fetch never reports its end to the tab.
		delete(tb.inflight, ev.RequestID)
		if ev.Type != network.ResourceTypeDocument && ev.Response.Status >= 400 {
			tb.problems = append(tb.problems, fmt.Sprintf("sub-resource %s answered %d", ev.Response.URL, ev.Response.Status))
		}
	case *network.EventLoadingFailed:
		delete(tb.inflight, ev.RequestID)
		if !tb.docs[ev.RequestID] {
			reason := ev.ErrorText
			if ev.BlockedReason != "" {
				reason += " (blocked: " + string(ev.BlockedReason) + ")"
			}
			tb.problems = append(tb.problems, fmt.Sprintf("a %s sub-resource failed to load: %s", ev.Type, reason))
		}
	}
}

// settle waits until the page has no request in flight (the favicon a browser fetches after the load
// event, say), so what it reports is charged to this page and not to the next one. A request older
// than 3 s no longer counts: a favicon fetch cut short by the next navigation never reports its end.
func (tb *tab) settle() {
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		busy := false
		tb.mu.Lock()
		for _, sent := range tb.inflight {
			busy = busy || time.Since(sent) < 3*time.Second
		}
		tb.mu.Unlock()
		if !busy {
			return
		}
	}
}

// visited is every page URL the tab has loaded so far, redirects included.
func (tb *tab) visited() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.visits...)
}

// checkClean fails the test for every problem the page reported since the last check.
func (tb *tab) checkClean(where string) {
	tb.t.Helper()
	tb.settle()
	tb.mu.Lock()
	problems := tb.problems
	tb.problems = nil
	tb.mu.Unlock()
	for _, p := range problems {
		tb.t.Errorf("%s, %s: %s", tb.who, where, p)
	}
}

// step is a context for one browser step: derived from the tab's, so a timeout ends only the step.
func (tb *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, stepTimeout)
}

// do runs actions that return nothing.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.who, what, err)
	}
}

// load runs actions that make the browser load a page (a navigation, a click on a link, Enter in a
// form) and returns the final document's response, redirects followed.
func (tb *tab) load(what string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.who, what, err)
	}
	if resp == nil {
		tb.t.Fatalf("%s: %s: no page was loaded", tb.who, what)
	}
	// Every gateway page, not only the screenshotted ones, must have its heading and load cleanly.
	if u, err := url.Parse(resp.URL); err == nil && strings.HasPrefix(u.Path, "/.vectis/") {
		tb.heading(what)
	}
	tb.checkClean(what)
	return resp
}

// open navigates to path on the gateway's operator host.
func (tb *tab) open(path string) *network.Response {
	tb.t.Helper()
	return tb.openURL(tb.g.base + path)
}

func (tb *tab) openURL(u string) *network.Response {
	tb.t.Helper()
	return tb.load("opening "+u, chromedp.Navigate(u))
}

// keys types into whatever has focus, as a keyboard does (Tab, Enter and Space included).
func (tb *tab) keys(s string) {
	tb.t.Helper()
	tb.do("typing", chromedp.KeyEvent(s))
}

// submitWith presses keys (usually Enter) and waits for the page the form leads to.
func (tb *tab) submitWith(s string) *network.Response {
	tb.t.Helper()
	return tb.load("submitting", chromedp.KeyEvent(s))
}

// click clicks the first element matching css and waits for the page it leads to.
func (tb *tab) click(css string) *network.Response {
	tb.t.Helper()
	return tb.load("clicking "+css, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// evalIn evaluates a JavaScript expression in the page (through DevTools, so the pages' script-free
// CSP does not apply) and decodes the result.
func evalIn[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("%s: evaluating %s: %v", tb.who, expr, err)
	}
	return v
}

// tryEvalIn is evalIn for a page that may be in the middle of navigating: an error is returned, not fatal.
func tryEvalIn[T any](tb *tab, expr string) (T, error) {
	ctx, cancel := tb.step()
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// path is the current page's path and query.
func (tb *tab) path() string {
	tb.t.Helper()
	return evalIn[string](tb, `location.pathname + location.search`)
}

// text is the trimmed text of the first element matching css ("" when there is none).
func (tb *tab) text(css string) string {
	tb.t.Helper()
	return evalIn[string](tb, fmt.Sprintf(`(document.querySelector(%q)?.innerText ?? "").trim()`, css))
}

// texts is the trimmed text of every element matching css.
func (tb *tab) texts(css string) []string {
	tb.t.Helper()
	return evalIn[[]string](tb, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.innerText.trim())`, css))
}

// attr is an attribute of the first element matching css ("" when absent).
func (tb *tab) attr(css, name string) string {
	tb.t.Helper()
	return evalIn[string](tb, fmt.Sprintf(`document.querySelector(%q)?.getAttribute(%q) ?? ""`, css, name))
}

// focused describes the element that has keyboard focus.
type focused struct {
	Tag          string  `json:"tag"`
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Type         string  `json:"type"`
	Text         string  `json:"text"`
	FocusVisible bool    `json:"focusVisible"`
	Outline      string  `json:"outline"`
	OutlineWidth float64 `json:"outlineWidth"`
	BoxShadow    string  `json:"boxShadow"`
}

func (f focused) String() string {
	return fmt.Sprintf("<%s id=%q name=%q type=%q> %q", strings.ToLower(f.Tag), f.ID, f.Name, f.Type, f.Text)
}

// focus reports the focused element and how it is drawn.
func (tb *tab) focus() focused {
	tb.t.Helper()
	return evalIn[focused](tb, `(() => {
		const e = document.activeElement;
		if (!e || e === document.body) return {tag: "BODY"};
		const s = getComputedStyle(e);
		return {tag: e.tagName, id: e.id, name: e.getAttribute("name") || "", type: e.getAttribute("type") || "",
			text: (e.innerText || e.value || "").trim().slice(0, 80), focusVisible: e.matches(":focus-visible"),
			outline: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth) || 0, boxShadow: s.boxShadow};
	})()`)
}

// expectFocus fails unless the element with id has focus (autofocus on load, or where Tab moved it).
func (tb *tab) expectFocus(id, when string) {
	tb.t.Helper()
	if f := tb.waitFocus(func(f focused) bool { return f.ID == id }); f.ID != id {
		tb.t.Errorf("%s: %s: focus is on %s, want #%s", tb.who, when, f, id)
	}
}

// waitFocus returns the focused element once ok accepts it, or whatever has focus after 5 s.
// Autofocus is applied at the first rendering update after the page is parsed, which can come a
// moment after the load event on a busy machine.
func (tb *tab) waitFocus(ok func(focused) bool) focused {
	tb.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if f := tb.focus(); ok(f) || time.Now().After(deadline) {
			return f
		}
	}
}

// tabTo presses Tab until an element matching css has focus (at most 12 times), as a keyboard-only
// person does, and checks that the focused element shows a visible focus ring.
func (tb *tab) tabTo(css, when string) focused {
	tb.t.Helper()
	for range 12 {
		tb.keys("\t")
		if evalIn[bool](tb, fmt.Sprintf(`document.activeElement?.matches(%q) ?? false`, css)) {
			f := tb.focus()
			tb.expectFocusRing(f, when)
			return f
		}
	}
	tb.t.Fatalf("%s: %s: Tab never reached %s (focus is on %s)", tb.who, when, css, tb.focus())
	return focused{}
}

// expectFocusRing: a keyboard-focused control must be drawn with a visible ring.
func (tb *tab) expectFocusRing(f focused, when string) {
	tb.t.Helper()
	if !f.FocusVisible {
		tb.t.Errorf("%s: %s: %s has focus but does not match :focus-visible", tb.who, when, f)
	}
	ring := f.Outline != "none" && f.Outline != "" && f.OutlineWidth >= 2
	if !ring && (f.BoxShadow == "" || f.BoxShadow == "none") {
		tb.t.Errorf("%s: %s: %s has keyboard focus but no visible focus ring (outline %s %.1fpx, box-shadow %s)",
			tb.who, when, f, f.Outline, f.OutlineWidth, f.BoxShadow)
	}
}

// expectFieldError checks a refused value the way a screen reader and a sighted person meet it: the
// field is marked invalid, points at the message, and the message sits right after it in the form.
func (tb *tab) expectFieldError(field, when string) string {
	tb.t.Helper()
	type fieldError struct {
		Invalid   string `json:"invalid"`
		Described string `json:"described"`
		Message   string `json:"message"`
		Adjacent  bool   `json:"adjacent"`
	}
	fe := evalIn[fieldError](tb, fmt.Sprintf(`(() => {
		const f = document.getElementById(%q);
		if (!f) return {};
		const id = f.getAttribute("aria-describedby") || "";
		const m = id ? document.getElementById(id) : null;
		let n = f.nextElementSibling;
		while (n && n.classList.contains("hint")) n = n.nextElementSibling;
		return {invalid: f.getAttribute("aria-invalid") || "", described: id,
			message: m ? m.innerText.trim() : "", adjacent: !!m && n === m && m.offsetParent !== null};
	})()`, field))
	if fe.Invalid != "true" || fe.Message == "" || !fe.Adjacent {
		tb.t.Errorf("%s: %s: the #%s field's error: aria-invalid=%q aria-describedby=%q message=%q right after the field: %v",
			tb.who, when, field, fe.Invalid, fe.Described, fe.Message, fe.Adjacent)
	}
	return fe.Message
}

// heading checks the page a person sees has a visible <h1> and returns its text.
func (tb *tab) heading(when string) string {
	tb.t.Helper()
	type h1 struct {
		Text    string `json:"text"`
		Visible bool   `json:"visible"`
	}
	h := evalIn[h1](tb, `(() => {
		const h = document.querySelector("h1");
		if (!h) return {};
		const r = h.getBoundingClientRect(), s = getComputedStyle(h);
		return {text: h.innerText.trim(), visible: r.width > 0 && r.height > 0 && s.visibility !== "hidden" &&
			s.display !== "none" && parseFloat(s.opacity) > 0 && s.color !== s.backgroundColor};
	})()`)
	if h.Text == "" || !h.Visible {
		tb.t.Errorf("%s: %s (%s): the page has no visible <h1> (text %q, visible %v)", tb.who, when, tb.path(), h.Text, h.Visible)
	}
	return h.Text
}

// setViewport emulates a desktop window or, below 500 px, a phone (mobile viewport rules, the page's
// <meta name=viewport> honoured).
func (tb *tab) setViewport(width int64) {
	tb.t.Helper()
	height := int64(800)
	if width < 500 {
		height = 812
	}
	tb.do(fmt.Sprintf("emulating a %d px viewport", width), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: height, DeviceScaleFactor: 1, Mobile: width < 500,
		})
		return err
	}))
}

// media emulates a CSS media type ("print", "" for screen) and a colour scheme ("dark", "" for none).
func (tb *tab) media(typ, scheme string) {
	tb.t.Helper()
	p := emulation.SetEmulatedMediaParams{Media: typ, Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}
	tb.do("emulating media", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, p)
		return err
	}))
}

// fullPage captures the whole page (not just the viewport) as a PNG at the current width.
func (tb *tab) fullPage() []byte {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.Action[[]byte](func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		m, err := cdp.Call(ctx, t, cdppage.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return nil, err
		}
		w, h := m.CSSLayoutViewport.ClientWidth, m.CSSLayoutViewport.ClientHeight
		if m.CSSContentSize != nil {
			h = max(h, int64(math.Ceil(m.CSSContentSize.Height)))
		}
		yes := true
		r, err := cdp.Call(ctx, t, cdppage.CaptureScreenshot, cdppage.CaptureScreenshotParams{
			Format:                cdppage.CaptureScreenshotFormatPng,
			Clip:                  &cdppage.Viewport{X: 0, Y: 0, Width: float64(w), Height: float64(h), Scale: 1},
			CaptureBeyondViewport: &yes,
			FromSurface:           &yes,
		})
		if err != nil {
			return nil, err
		}
		return r.Data, nil
	}))
	if err != nil {
		tb.t.Fatalf("%s: screenshot: %v", tb.who, err)
	}
	return buf
}

// shot checks the page (visible heading, nothing broken, no sideways scrolling on a phone) and saves
// full-page screenshots at both widths into the current journey's folder. It returns the desktop PNG.
func (tb *tab) shot(name string) []byte {
	tb.t.Helper()
	return tb.shotAs(name, false, true)
}

// docShot is shot, and the phone screenshot becomes the journey's picture in docs/journeys.md.
func (tb *tab) docShot(name string) []byte {
	tb.t.Helper()
	return tb.shotAs(name, true, true)
}

// appShot screenshots a page of the app behind the gateway (not the gateway's: no heading rule) for
// the journey's docs picture.
func (tb *tab) appShot(name string) []byte {
	tb.t.Helper()
	return tb.shotAs(name, true, false)
}

func (tb *tab) shotAs(name string, forDocs, gatewayPage bool) []byte {
	tb.t.Helper()
	where := name
	if tb.j != nil {
		where = tb.j.slug + "/" + name
	}
	if gatewayPage {
		tb.heading(where)
	}
	tb.checkClean(where)
	desktop := tb.fullPage()
	tb.setViewport(phoneWidth)
	if gatewayPage {
		tb.heading(where + " at 375 px")
	}
	type overflow struct {
		Scroll int64 `json:"scroll"`
		Inner  int64 `json:"inner"`
	}
	if o := evalIn[overflow](tb, `({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})`); o.Scroll > o.Inner {
		tb.t.Errorf("%s: %s: at %d px the page is %d px wide: it scrolls sideways on a phone", tb.who, where, phoneWidth, o.Scroll)
	}
	phone := tb.fullPage()
	tb.setViewport(desktopWidth)
	tb.checkClean(where)
	if tb.j != nil {
		tb.shotSeq++
		base := fmt.Sprintf("%02d-%s", tb.shotSeq, name)
		tb.j.save(base+"-1280.png", desktop)
		tb.j.save(base+"-375.png", phone)
		if tb.j.docName != "" {
			forDocs = name == tb.j.docName
		}
		if forDocs {
			tb.j.setDoc(phone)
		}
	}
	return desktop
}

// darkShot screenshots the page with prefers-color-scheme: dark and checks the page follows it.
func (tb *tab) darkShot(name string) {
	tb.t.Helper()
	bg := `getComputedStyle(document.body).backgroundColor`
	light := evalIn[string](tb, bg)
	tb.media("", "dark")
	defer tb.media("", "")
	if dark := evalIn[string](tb, bg); dark == light {
		tb.t.Errorf("%s: with prefers-color-scheme: dark the page background stays %s", tb.who, light)
	}
	tb.shot(name + "-dark")
}

// journeyRun collects one journey's screenshots.
type journeyRun struct {
	t    *testing.T
	slug string
	dir  string
	// docName, when set, names the one shot that docs/journeys.md shows (overriding docShot calls).
	docName string
	mu      sync.Mutex
	doc     []byte // the phone screenshot docs/journeys.md shows
}

// journey points tb's screenshots at the journey slug (its folder is emptied first) and registers it
// with the suite so docs/journeys.md can show it.
func (s *suite) journey(tb *tab, slug string) *journeyRun {
	tb.t.Helper()
	if _, ok := journeyBySlug(slug); !ok {
		tb.t.Fatalf("journey %q is not in the journeys table", slug)
	}
	dir := filepath.Join(screenshotDir, slug)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	j := &journeyRun{t: tb.t, slug: slug, dir: dir}
	s.mu.Lock()
	s.runs[slug] = j
	s.mu.Unlock()
	tb.j, tb.shotSeq = j, 0
	return j
}

func (j *journeyRun) save(name string, png []byte) {
	if err := os.WriteFile(filepath.Join(j.dir, name), png, 0o644); err != nil {
		j.t.Errorf("writing screenshot %s: %v", name, err)
	}
}

func (j *journeyRun) setDoc(png []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.doc = png
}

// suite is the state the journeys share: the browser, and the journeys that ran.
type suite struct {
	b    *browser
	mu   sync.Mutex
	runs map[string]*journeyRun
}

// decodeQR reads the QR code in a screenshot with zbarimg, as a phone's camera would.
func decodeQR(t *testing.T, screenshot []byte) string {
	t.Helper()
	return otpauthFromQR(t, screenshot)
}

// shrinkPNG re-encodes a screenshot at best compression for the copy committed under docs/.
func shrinkPNG(b []byte) ([]byte, error) {
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, img); err != nil {
		return nil, err
	}
	if out.Len() >= len(b) {
		return b, nil
	}
	return out.Bytes(), nil
}

// browserCookies are the cookies the tab's browser context holds for its current page.
func browserCookies(t *testing.T, tb *tab) []*network.Cookie {
	t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatalf("%s: reading cookies: %v", tb.who, err)
	}
	return res.Cookies
}
