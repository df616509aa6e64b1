package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Receiver behaviours.
const (
	accept = iota // 204
	refuse        // 503 at once
	stall         // hold the request until released, then 503
)

// received is one request as the receiver saw it.
type received struct {
	method, contentType, eventHeader, delivery string
	user, pass                                 string
	body                                       []byte
	event                                      Event
}

// receiver is a webhook endpoint on a fixed loopback port that a test can make refuse, stall, go down
// (nothing listening: connection refused) and come back on the same port.
type receiver struct {
	t    *testing.T
	addr string

	mu       sync.Mutex
	mode     int
	release  chan struct{} // closed to let stalled requests answer
	stalled  int
	accepted []received
	refused  []received
	srv      *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, release: make(chan struct{})}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hook" }

func (r *receiver) start() {
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		r.t.Fatalf("receiver listen on %s: %v", addr, err)
	}
	r.addr = l.Addr().String()
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(r.serve)}}
	srv.Start()
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
}

// stop takes the receiver down: stalled requests are let go and the port stops listening.
func (r *receiver) stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	select {
	case <-r.release:
	default:
		close(r.release)
	}
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (r *receiver) setMode(m int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == stall && m != stall {
		close(r.release)
		r.release = make(chan struct{})
	}
	r.mode = m
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	got := received{method: req.Method, contentType: req.Header.Get("Content-Type"),
		eventHeader: req.Header.Get(HeaderEvent), delivery: req.Header.Get(HeaderDelivery), body: body}
	got.user, got.pass, _ = req.BasicAuth()
	if err := json.Unmarshal(body, &got.event); err != nil {
		r.t.Errorf("webhook body is not an event: %q: %v", body, err)
	}
	r.mu.Lock()
	mode, release := r.mode, r.release
	if mode == stall {
		r.stalled++
	}
	r.mu.Unlock()
	switch mode {
	case stall:
		select {
		case <-release:
		case <-req.Context().Done():
		}
		fallthrough
	case refuse:
		r.mu.Lock()
		r.refused = append(r.refused, got)
		r.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		r.mu.Lock()
		r.accepted = append(r.accepted, got)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

func (r *receiver) snapshot() (accepted, refused []received, stalled int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.accepted...), append([]received(nil), r.refused...), r.stalled
}

// waitAccepted waits until at least n events were accepted and returns them all.
func (r *receiver) waitAccepted(t *testing.T, n int) []received {
	t.Helper()
	var got []received
	waitFor(t, 15*time.Second, func() bool {
		got, _, _ = r.snapshot()
		return len(got) >= n
	}, func() string { return fmt.Sprintf("%d of %d events accepted", len(got), n) })
	return got
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", d, what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// numberedEvent is event i, identified by Detail["n"].
func numberedEvent(i int) Event {
	return Event{Type: SignInSuccess, Tenant: "acme", User: "u1", Email: "alice@acme.example",
		Method: "password+totp", Detail: map[string]string{"n": strconv.Itoa(i)}}
}

func numbers(rs []received) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i], _ = strconv.Atoi(r.event.Detail["n"])
	}
	return out
}

// The receiver is down for a while — first hanging, then answering 503, then not listening at all — while
// events keep being recorded. Record never waits for it; once it is back, every event arrives exactly once
// and in the order recorded.
func TestWebhookOutage(t *testing.T) {
	log, logs := newLogger()
	st := &memStore{}
	rcv := newReceiver(t)
	r := NewRecorder(log, st.get, Options{WebhookURL: rcv.url(), Now: fixedClock,
		InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	t.Cleanup(func() { _ = r.Close() })

	next := 0
	recordBatch := func(n int) {
		t.Helper()
		var slowest time.Duration
		start := time.Now()
		done := make(chan struct{})
		// The calls run in their own goroutine so that a Record that waits for the receiver (which, stalled,
		// never answers on its own) fails this test instead of hanging it.
		go func() {
			defer close(done)
			for i := range n {
				s := time.Now()
				r.Record(context.Background(), numberedEvent(next+i))
				slowest = max(slowest, time.Since(s))
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d Record calls still running after 5s while the receiver is down", n)
		}
		next += n
		// Generous bounds: they leave room for a loaded machine, not for a network round trip per call.
		if slowest > 250*time.Millisecond || time.Since(start) > 2*time.Second {
			t.Fatalf("Record is not fast while the receiver is down: slowest call %s, %d calls in %s",
				slowest, n, time.Since(start))
		}
	}

	// Phase 1: the receiver accepts connections but never answers.
	rcv.setMode(stall)
	recordBatch(50)
	waitFor(t, 5*time.Second, func() bool { _, _, n := rcv.snapshot(); return n >= 1 },
		func() string { return "the sender never reached the stalled receiver" })

	// Phase 2: it answers 503 to everything.
	rcv.setMode(refuse)
	recordBatch(50)
	waitFor(t, 5*time.Second, func() bool { _, refused, _ := rcv.snapshot(); return len(refused) >= 4 },
		func() string { return "no retries against the 503 receiver" })

	// Phase 3: nothing listens on the port.
	rcv.stop()
	recordBatch(50)
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(logs.String(), "connection refused") },
		func() string { return "no failed delivery to the closed port logged" })

	// Back up on the same port.
	rcv.setMode(accept)
	rcv.start()
	got := rcv.waitAccepted(t, next)
	// Give a duplicate the time to show up.
	time.Sleep(200 * time.Millisecond)
	got, refused, _ := rcv.snapshot()
	if len(got) != next {
		t.Fatalf("%d events accepted, want each of %d exactly once", len(got), next)
	}
	for i, n := range numbers(got) {
		if n != i {
			t.Fatalf("accepted order %v; want 0..%d in order", numbers(got), next-1)
		}
	}
	// Every try of one event carried one delivery id, and different events different ids.
	ids := map[string]int{}
	for _, a := range got {
		if a.delivery == "" || ids[a.delivery] != 0 {
			t.Fatalf("delivery id %q empty or reused", a.delivery)
		}
		ids[a.delivery] = 1
	}
	for _, f := range refused {
		if f.event.Detail["n"] != "0" || f.delivery != got[0].delivery {
			t.Fatalf("refused try of event %s with delivery id %q: only event 0 (id %q) may have been tried while down",
				f.event.Detail["n"], f.delivery, got[0].delivery)
		}
	}
	if r.Dropped() != 0 {
		t.Fatalf("%d events dropped with a queue of %d", r.Dropped(), DefaultQueueSize)
	}
	// The store took every event while the webhook was down.
	if all, _ := st.ListAudit(t.Context(), "acme", 1000); len(all) != next {
		t.Fatalf("%d events stored, want %d", len(all), next)
	}
	if l := logs.lines(t, "audit webhook delivering again"); len(l) != 1 {
		t.Fatalf("recovery logged %d times, want once:\n%s", len(l), logs)
	}
}

// A full queue loses its oldest waiting event, counts it and says so; the rest still arrive in order.
func TestWebhookQueueFullDropsOldest(t *testing.T) {
	log, logs := newLogger()
	rcv := newReceiver(t)
	rcv.setMode(stall)
	r := NewRecorder(log, nil, Options{WebhookURL: rcv.url(), QueueSize: 3,
		InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	t.Cleanup(func() { _ = r.Close() })

	r.Record(t.Context(), numberedEvent(0))
	// Event 0 is in flight (held by the receiver) and no longer queued.
	waitFor(t, 5*time.Second, func() bool { _, _, n := rcv.snapshot(); return n == 1 },
		func() string { return "event 0 never reached the receiver" })
	for i := 1; i <= 9; i++ {
		r.Record(t.Context(), numberedEvent(i))
	}
	if r.Dropped() != 6 {
		t.Fatalf("Dropped = %d after 9 events into a queue of 3, want 6", r.Dropped())
	}
	warns := logs.lines(t, "audit webhook queue full; oldest event dropped")
	if len(warns) != 6 || warns[5]["level"] != "WARN" || warns[5]["dropped_total"] != float64(6) {
		t.Fatalf("drop warnings = %v", warns)
	}
	rcv.setMode(accept)
	got := rcv.waitAccepted(t, 4)
	if fmt.Sprint(numbers(got)) != "[0 7 8 9]" {
		t.Fatalf("accepted %v, want event 0 (retried after the 503) then the newest three", numbers(got))
	}
}

// Close abandons what is still waiting, including a request in flight, and says how many events were lost.
func TestWebhookCloseDropsPending(t *testing.T) {
	log, logs := newLogger()
	rcv := newReceiver(t)
	rcv.setMode(stall)
	st := &memStore{}
	r := NewRecorder(log, st.get, Options{WebhookURL: rcv.url(), Now: fixedClock})
	for i := range 5 {
		r.Record(t.Context(), numberedEvent(i))
	}
	waitFor(t, 5*time.Second, func() bool { _, _, n := rcv.snapshot(); return n == 1 },
		func() string { return "nothing reached the receiver" })

	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close waited %s for a stalled receiver", took)
	}
	l := logs.lines(t, "audit webhook stopped; pending events dropped")
	if len(l) != 1 || l[0]["dropped"] != float64(5) || l[0]["level"] != "WARN" {
		t.Fatalf("Close logged %v; want one WARN with dropped=5", l)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// After Close, events are still logged and stored; the webhook is not tried again.
	r.Record(t.Context(), numberedEvent(5))
	if all, _ := st.ListAudit(t.Context(), "acme", 10); len(all) != 6 {
		t.Fatalf("%d events stored, want 6", len(all))
	}
	time.Sleep(50 * time.Millisecond)
	if _, _, n := rcv.snapshot(); n != 1 {
		t.Fatalf("%d requests after Close, want the one from before", n)
	}
}

// Credentials in the URL become basic authentication; neither they nor a token in the path or query reach
// the log, whatever goes wrong.
func TestWebhookURLSecretsStayOutOfLogs(t *testing.T) {
	log, logs := newLogger()
	rcv := newReceiver(t)
	rcv.setMode(refuse)
	u := "http://hookuser:pw-s3cret@" + rcv.addr + "/hooks/T0/path-s3cret?token=query-s3cret"
	r := NewRecorder(log, nil, Options{WebhookURL: u, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	t.Cleanup(func() { _ = r.Close() })

	r.Record(t.Context(), numberedEvent(0))
	waitFor(t, 5*time.Second, func() bool { _, refused, _ := rcv.snapshot(); return len(refused) >= 2 },
		func() string { return "no refused tries" })
	// Then a dial failure, whose error would name the URL if it were passed on whole.
	rcv.stop()
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(logs.String(), "connection refused") },
		func() string { return "no dial failure logged" })
	rcv.setMode(accept)
	rcv.start()
	got := rcv.waitAccepted(t, 1)
	if got[0].user != "hookuser" || got[0].pass != "pw-s3cret" {
		t.Fatalf("receiver got basic auth %q:%q, want the URL's", got[0].user, got[0].pass)
	}
	text := logs.String()
	for _, secret := range []string{"pw-s3cret", "path-s3cret", "query-s3cret", "hookuser"} {
		if strings.Contains(text, secret) {
			t.Errorf("log holds %q:\n%s", secret, text)
		}
	}
	if !strings.Contains(text, `"url":"http://`+rcv.addr+`"`) {
		t.Errorf("log does not name the receiver's host:\n%s", text)
	}
}

// A redirect is not an acceptance: the default client does not follow it, and the event is tried again.
func TestWebhookRedirectIsNotDelivery(t *testing.T) {
	var mu sync.Mutex
	var hook, other int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if req.URL.Path == "/hook" {
			hook++
			http.Redirect(w, req, "/other", http.StatusTemporaryRedirect)
			return
		}
		other++
	}))
	t.Cleanup(srv.Close)
	r := NewRecorder(nil, nil, Options{WebhookURL: srv.URL + "/hook", InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	t.Cleanup(func() { _ = r.Close() })
	r.Record(t.Context(), numberedEvent(0))
	waitFor(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return hook >= 3 },
		func() string { return "the redirected event was not retried" })
	mu.Lock()
	defer mu.Unlock()
	if other != 0 {
		t.Fatalf("the redirect was followed %d times", other)
	}
}

func TestValidateWebhookURL(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/vectis", true},
		{"http://127.0.0.1:8080/hook", true},
		{"https://user:pw@hooks.example.com/x?token=t", true},
		{"HTTPS://hooks.example.com/", true},
		{"https://[::1]:9000/hook", true},
		{"", false},
		{"hooks.example.com/vectis", false},
		{"ftp://hooks.example.com/", false},
		{"javascript:alert(1)", false},
		{"file:///etc/passwd", false},
		{"https://", false},
		{"https:///path-only", false},
		{"http:opaque-pw-s3cret", false},
		{"user:pw-s3cret@hooks.example.com", false},
		{"https://user:pw-s3cret@hooks.example.com:notaport/", false},
		{"https://user:pw-s3cret@hooks example.com/", false},
	} {
		err := ValidateWebhookURL(c.url)
		if (err == nil) != c.ok {
			t.Errorf("ValidateWebhookURL(%q) = %v, want ok=%v", c.url, err, c.ok)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ValidateWebhookURL(%q) error repeats the secret: %v", c.url, err)
		}
	}
}

// An unusable URL turns the webhook off (logged, without the URL) but not the audit trail.
func TestInvalidWebhookURLDisablesWebhookOnly(t *testing.T) {
	log, logs := newLogger()
	st := &memStore{}
	r := NewRecorder(log, st.get, Options{WebhookURL: "ftp://user:pw-s3cret@hooks.example.com/", Now: fixedClock})
	t.Cleanup(func() { _ = r.Close() })
	if r.hook != nil {
		t.Fatal("webhook started for an ftp URL")
	}
	if l := logs.lines(t, "audit webhook disabled: invalid URL"); len(l) != 1 || l[0]["level"] != "ERROR" {
		t.Fatalf("invalid URL not logged as an error:\n%s", logs)
	}
	r.Record(t.Context(), Event{Type: Unlock, Tenant: "acme"})
	if all, _ := st.ListAudit(t.Context(), "acme", 10); len(all) != 1 {
		t.Fatal("event not stored with the webhook off")
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("log holds the URL's password:\n%s", logs)
	}
}

func TestPlainHTTPWarning(t *testing.T) {
	for _, c := range []struct {
		url  string
		warn bool
	}{
		{"http://192.0.2.10/hook", true},
		{"http://hooks.example.com/hook", true},
		{"https://hooks.example.com/hook", false},
		{"http://127.0.0.1:9/hook", false},
		{"http://[::1]:9/hook", false},
		{"http://localhost:9/hook", false},
	} {
		log, logs := newLogger()
		r := NewRecorder(log, nil, Options{WebhookURL: c.url})
		_ = r.Close() // nothing was recorded, so nothing was sent
		warned := strings.Contains(logs.String(), "plain http")
		if warned != c.warn {
			t.Errorf("%s: plain-http warning %v, want %v", c.url, warned, c.warn)
		}
	}
}

func TestBackoff(t *testing.T) {
	const initial, ceiling = time.Second, 5 * time.Minute
	for _, c := range []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{1, 0.5, time.Second},
		{2, 0.5, 2 * time.Second},
		{3, 0.5, 4 * time.Second},
		{4, 0.5, 8 * time.Second},
		{1, 0, 800 * time.Millisecond},
		{3, 0.999999, 4799999 * time.Microsecond},
		{9, 0.5, 256 * time.Second},
		{10, 0.5, ceiling},
		{10, 0, 4 * time.Minute},
		{10, 0.999999, ceiling}, // jitter never lifts a wait above the cap
		{10000, 0.5, ceiling},   // no overflow, however long the outage
	} {
		got := backoff(c.attempt, initial, ceiling, c.r)
		if d := got - c.want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("backoff(%d, r=%v) = %s, want %s", c.attempt, c.r, got, c.want)
		}
	}
	// The defaults are the documented ones.
	r := NewRecorder(nil, nil, Options{})
	if r.opts.InitialBackoff != time.Second || r.opts.MaxBackoff != 5*time.Minute || r.opts.QueueSize != 10000 {
		t.Fatalf("defaults: %+v", r.opts)
	}
}
