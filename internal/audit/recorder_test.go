package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is the injected clock's reading.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return t0 }

// memStore is an in-memory Store: newest first, trimmed to keep.
type memStore struct {
	mu     sync.Mutex
	trails map[string][]Event
	err    error // returned by every call when set
	hang   bool  // AppendAudit waits for its context to end
}

func (m *memStore) AppendAudit(ctx context.Context, tenant string, e Event, keep int) error {
	if m.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.trails == nil {
		m.trails = map[string][]Event{}
	}
	tr := append([]Event{e}, m.trails[tenant]...)
	m.trails[tenant] = tr[:min(len(tr), keep)]
	return nil
}

func (m *memStore) ListAudit(ctx context.Context, tenant string, limit int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	tr := m.trails[tenant]
	return append([]Event(nil), tr[:min(len(tr), max(limit, 0))]...), nil
}

func (m *memStore) get(ctx context.Context) (Store, error) { return m, nil }

// logBuffer is a slog JSON handler's output, safe for the sender goroutine to write while a test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the decoded log lines whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// secrets are Detail values a careless caller might pass; none may appear in a log, the store or a webhook.
var secretDetail = map[string]string{
	"code":          "ABCD-EFGH-1234",
	"TOTP_Code":     "123456",
	"password":      "hunter2-correct-horse",
	"session_token": "tok-5f2b9a",
	"Cookie":        "vectis_session=c00k1e",
	"client_secret": "cs-7d1e0c",
	"old_password":  "hunter1-battery-staple",
}

func TestRecordLogsStoresAndScrubs(t *testing.T) {
	log, logs := newLogger()
	st := &memStore{}
	rcv := newReceiver(t)
	r := NewRecorder(log, st.get, Options{WebhookURL: rcv.url(), Now: fixedClock})
	t.Cleanup(func() { _ = r.Close() })

	detail := map[string]string{DetailRecoveryLeft: "9", "ticket": "T-42"}
	for k, v := range secretDetail {
		detail[k] = v
	}
	r.Record(t.Context(), Event{Type: RecoveryCodeUsed, Tenant: "acme", User: "u1", Email: "alice@acme.example",
		Actor: "alice@acme.example", Method: "password+recovery", Detail: detail})

	if len(detail) != 2+len(secretDetail) {
		t.Fatalf("Record changed the caller's Detail map: %v", detail)
	}
	want := Event{Time: t0, Type: RecoveryCodeUsed, Tenant: "acme", User: "u1", Email: "alice@acme.example",
		Actor: "alice@acme.example", Method: "password+recovery", Detail: map[string]string{DetailRecoveryLeft: "9", "ticket": "T-42"}}

	// One log line with every field, at INFO, timed by the injected clock.
	lines := logs.lines(t, "audit")
	if len(lines) != 1 {
		t.Fatalf("%d audit log lines, want 1:\n%s", len(lines), logs)
	}
	l := lines[0]
	for k, v := range map[string]string{"level": "INFO", "time": "2026-03-01T12:00:00Z", "event": RecoveryCodeUsed,
		"tenant": "acme", "user": "u1", "email": "alice@acme.example", "actor": "alice@acme.example",
		"method": "password+recovery"} {
		if l[k] != v {
			t.Errorf("log %s = %v, want %q", k, l[k], v)
		}
	}
	if _, ok := l["reason"]; ok {
		t.Errorf("empty reason logged: %v", l)
	}
	d, _ := l["detail"].(map[string]any)
	if len(d) != 2 || d[DetailRecoveryLeft] != "9" || d["ticket"] != "T-42" {
		t.Errorf("log detail = %v, want recovery_left and ticket only", l["detail"])
	}
	scrubbed, _ := json.Marshal(l["scrubbed_detail_keys"])
	if string(scrubbed) != `["Cookie","TOTP_Code","client_secret","code","old_password","password","session_token"]` {
		t.Errorf("scrubbed_detail_keys = %s", scrubbed)
	}

	// The store holds the same event.
	got, err := r.List(t.Context(), "acme", 10)
	if err != nil || len(got) != 1 || !equalEvent(got[0], want) {
		t.Fatalf("List = %+v, %v; want [%+v]", got, err, want)
	}

	// The webhook receives it too, as JSON with the event type in a header.
	reqs := rcv.waitAccepted(t, 1)
	if !equalEvent(reqs[0].event, want) {
		t.Errorf("webhook event = %+v, want %+v", reqs[0].event, want)
	}
	if reqs[0].contentType != "application/json" || reqs[0].eventHeader != RecoveryCodeUsed || reqs[0].method != "POST" {
		t.Errorf("webhook request: %s, Content-Type %q, %s %q", reqs[0].method, reqs[0].contentType, HeaderEvent, reqs[0].eventHeader)
	}

	stored, _ := json.Marshal(st.trails)
	for k, v := range secretDetail {
		for where, text := range map[string]string{"log": logs.String(), "store": string(stored), "webhook": string(reqs[0].body)} {
			if strings.Contains(text, v) {
				t.Errorf("the %s holds the value of Detail[%q]", where, k)
			}
		}
	}
}

func TestScrubKeys(t *testing.T) {
	for _, c := range []struct {
		key  string
		kept bool
	}{
		{"password", false}, {"new_password", false}, {"PASSWORD", false}, {"secret", false},
		{"client_secret", false}, {"code", false}, {"recovery_codes_left", false}, {"totp_code", false},
		{"token", false}, {"id_token", false}, {"refresh_token", false}, {"cookie", false}, {"set_cookie", false},
		{DetailRecoveryLeft, true}, {"ticket", true}, {"requester", true}, {"sessions_ended", true}, {"provider", true},
	} {
		out, dropped := scrub(map[string]string{c.key: "v"})
		if _, kept := out[c.key]; kept != c.kept || (len(dropped) == 1) == c.kept {
			t.Errorf("scrub(%q): kept %v, dropped %v; want kept %v", c.key, kept, dropped, c.kept)
		}
	}
	if out, dropped := scrub(nil); out != nil || dropped != nil {
		t.Errorf("scrub(nil) = %v, %v", out, dropped)
	}
}

func TestLevels(t *testing.T) {
	warn := map[string]bool{Lockout: true, SupportRecovery: true, SupportRecoveryDenied: true, BreakGlassSignIn: true}
	for _, typ := range []string{SignInSuccess, SignInFailure, Lockout, Unlock, Enrolled, RecoveryCodeUsed,
		RecoveryRegenerated, MFAReset, OperatorDisabled, OperatorEnabled, OperatorAdded, SSOEnabled, SSODisabled,
		BreakGlassSignIn, SupportRecovery, SupportRecoveryDenied, SessionsRevoked} {
		want := slog.LevelInfo
		if warn[typ] {
			want = slog.LevelWarn
		}
		if got := Level(typ); got != want {
			t.Errorf("Level(%s) = %v, want %v", typ, got, want)
		}
		// And the log line carries that level.
		log, logs := newLogger()
		NewRecorder(log, nil, Options{Now: fixedClock}).Record(t.Context(), Event{Type: typ, Tenant: "acme"})
		if l := logs.lines(t, "audit"); len(l) != 1 || l[0]["level"] != want.String() {
			t.Errorf("%s logged as %v, want one line at %v", typ, l, want)
		}
	}
}

func TestRecordKeepsGivenTime(t *testing.T) {
	st := &memStore{}
	r := NewRecorder(nil, st.get, Options{Now: fixedClock})
	at := t0.Add(-time.Hour)
	r.Record(t.Context(), Event{Time: at, Type: Unlock, Tenant: "acme"})
	r.Record(t.Context(), Event{Type: Unlock, Tenant: "acme"})
	got, _ := r.List(t.Context(), "acme", 10)
	if len(got) != 2 || !got[1].Time.Equal(at) || !got[0].Time.Equal(t0) {
		t.Fatalf("times = %v; want the given time kept and the clock's used when missing", got)
	}
}

func TestStoreTrimsToKeep(t *testing.T) {
	st := &memStore{}
	r := NewRecorder(nil, st.get, Options{Now: fixedClock, Keep: 3})
	for range 5 {
		r.Record(t.Context(), Event{Type: SignInSuccess, Tenant: "acme"})
	}
	if got, _ := r.List(t.Context(), "acme", 10); len(got) != 3 {
		t.Fatalf("%d events kept with Keep 3", len(got))
	}
	// The default is the package's Keep.
	r = NewRecorder(nil, st.get, Options{})
	if r.opts.Keep != Keep {
		t.Fatalf("default Keep = %d, want %d", r.opts.Keep, Keep)
	}
}

// A store that fails, cannot be reached, or hangs never fails or holds up Record: the log line is written
// and the failure is logged.
func TestStoreFailureNeverFailsRecord(t *testing.T) {
	for _, c := range []struct {
		name string
		st   func(ctx context.Context) (Store, error)
	}{
		{"append fails", (&memStore{err: errors.New("disk full")}).get},
		{"store unreachable", func(context.Context) (Store, error) { return nil, errors.New("dial tcp: connection refused") }},
		{"store hangs", (&memStore{hang: true}).get},
	} {
		t.Run(c.name, func(t *testing.T) {
			log, logs := newLogger()
			r := NewRecorder(log, c.st, Options{Now: fixedClock, StoreTimeout: 50 * time.Millisecond})
			start := time.Now()
			r.Record(t.Context(), Event{Type: SignInFailure, Tenant: "acme", Email: "alice@acme.example"})
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("Record took %s with a failing store", took)
			}
			if len(logs.lines(t, "audit")) != 1 {
				t.Fatalf("audit line missing:\n%s", logs)
			}
			if l := logs.lines(t, "audit event not stored"); len(l) != 1 || l[0]["level"] != "ERROR" || l[0]["tenant"] != "acme" {
				t.Fatalf("store failure not logged as one ERROR line:\n%s", logs)
			}
		})
	}
}

// The sign-in's request may be canceled (the browser went away) by the time the event is recorded: the
// event is stored all the same.
func TestRecordStoresAfterRequestCanceled(t *testing.T) {
	st := &memStore{}
	r := NewRecorder(nil, st.get, Options{Now: fixedClock})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r.Record(ctx, Event{Type: SignInFailure, Tenant: "acme"})
	if got, _ := st.ListAudit(t.Context(), "acme", 10); len(got) != 1 {
		t.Fatalf("%d events stored after the request was canceled, want 1", len(got))
	}
}

func TestEventWithoutTenantIsLoggedNotStored(t *testing.T) {
	log, logs := newLogger()
	st := &memStore{}
	r := NewRecorder(log, st.get, Options{Now: fixedClock})
	r.Record(t.Context(), Event{Type: SignInFailure, Email: "nobody@example.com", Reason: "unknown email"})
	if len(st.trails) != 0 {
		t.Fatalf("a tenantless event was stored: %v", st.trails)
	}
	if l := logs.lines(t, "audit"); len(l) != 1 || l[0]["reason"] != "unknown email" {
		t.Fatalf("tenantless event not logged:\n%s", logs)
	}
	if len(logs.lines(t, "audit event not stored")) != 0 {
		t.Fatalf("a tenantless event was reported as a store failure:\n%s", logs)
	}
}

func TestNoStore(t *testing.T) {
	log, logs := newLogger()
	r := NewRecorder(log, nil, Options{})
	r.Record(t.Context(), Event{Type: Unlock, Tenant: "acme"})
	if len(logs.lines(t, "audit")) != 1 {
		t.Fatalf("event not logged without a store:\n%s", logs)
	}
	if _, err := r.List(t.Context(), "acme", 10); err == nil {
		t.Fatal("List without a store: no error")
	}
	if err := r.Close(); err != nil || r.Dropped() != 0 {
		t.Fatalf("Close = %v, Dropped = %d", err, r.Dropped())
	}
}

func equalEvent(a, b Event) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return a.Time.Equal(b.Time) && string(ja) == string(jb)
}
