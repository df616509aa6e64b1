package audit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Defaults for Options.
const (
	DefaultQueueSize      = 10000
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultInitialBackoff = time.Second
	DefaultStoreTimeout   = 2 * time.Second
	// DefaultRequestTimeout bounds one webhook request when Options.Client is nil.
	DefaultRequestTimeout = 10 * time.Second
)

// Options tune a Recorder. The zero value records to the log and the store only.
type Options struct {
	// WebhookURL, when set, receives every event as a JSON POST (http or https; user:password in the URL
	// becomes HTTP basic authentication). An invalid URL is logged and the webhook stays off: auditing
	// to the log and the store goes on. Check it beforehand with ValidateWebhookURL.
	WebhookURL string
	// Client sends the webhook requests. Default: a client with a 10s timeout that does not follow redirects.
	Client *http.Client
	// Now stamps events that arrive without a time. Default: time.Now.
	Now func() time.Time
	// QueueSize is how many events may wait for the webhook; when full, the oldest is dropped. Default 10,000.
	QueueSize int
	// InitialBackoff is the first wait after a failed delivery; each further failure doubles it. Default 1s.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between delivery attempts. Default 5 minutes.
	MaxBackoff time.Duration
	// Keep is how many events per tenant the store keeps. Default Keep (1,000).
	Keep int
	// StoreTimeout bounds one store write, so a slow store delays a sign-in by at most this. Default 2s.
	StoreTimeout time.Duration
}

// Recorder sends each security event to the log, the tenant's trail in the store, and the optional webhook.
// Recording never fails and never waits for the webhook: an audit problem must not fail a sign-in.
// It is safe for concurrent use.
type Recorder struct {
	log  *slog.Logger
	st   func(ctx context.Context) (Store, error)
	opts Options

	hook *webhook // nil when no webhook is configured
}

// NewRecorder builds a Recorder that logs to log and stores events in the store st returns (st may be nil:
// then events are only logged and sent). With a WebhookURL it starts the one background sender; Close stops it.
func NewRecorder(log *slog.Logger, st func(ctx context.Context) (Store, error), opts Options) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = DefaultInitialBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.InitialBackoff)
	if opts.Keep <= 0 {
		opts.Keep = Keep
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = DefaultStoreTimeout
	}
	r := &Recorder{log: log, st: st, opts: opts}
	if opts.WebhookURL != "" {
		if err := ValidateWebhookURL(opts.WebhookURL); err != nil {
			log.Error("audit webhook disabled: invalid URL", "error", err)
		} else {
			r.hook = startWebhook(log, opts)
		}
	}
	return r
}

// Record stamps e with the time (when it has none), drops Detail keys that could hold a secret, writes one
// log line, appends e to its tenant's trail and queues it for the webhook. Failures are logged, never returned.
func (r *Recorder) Record(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = r.opts.Now().UTC()
	}
	var scrubbed []string
	e.Detail, scrubbed = scrub(e.Detail)
	r.logEvent(ctx, e, scrubbed)
	r.store(ctx, e)
	if r.hook != nil {
		r.hook.enqueue(e)
	}
}

// List returns up to limit of the tenant's events, newest first.
func (r *Recorder) List(ctx context.Context, tenant string, limit int) ([]Event, error) {
	if r.st == nil {
		return nil, errors.New("audit: no store configured")
	}
	st, err := r.st(ctx)
	if err != nil {
		return nil, err
	}
	return st.ListAudit(ctx, tenant, limit)
}

// Dropped is how many events the webhook queue has dropped because it was full.
func (r *Recorder) Dropped() uint64 {
	if r.hook == nil {
		return 0
	}
	return r.hook.dropped.Load()
}

// Close stops the webhook sender; events still waiting are dropped, and the log says how many.
// Record keeps logging and storing after Close. Calling Close again does nothing.
func (r *Recorder) Close() error {
	if r.hook != nil {
		r.hook.close()
	}
	return nil
}

// store appends e to its tenant's trail. The write outlives a canceled request (a client that hangs up after
// a failed sign-in must still leave a trace) but not StoreTimeout.
func (r *Recorder) store(ctx context.Context, e Event) {
	if r.st == nil || e.Tenant == "" {
		// An event with no tenant (a sign-in for an unknown email) has no trail to join; the log keeps it.
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.StoreTimeout)
	defer cancel()
	st, err := r.st(ctx)
	if err == nil {
		err = st.AppendAudit(ctx, e.Tenant, e, r.opts.Keep)
	}
	if err != nil {
		r.log.LogAttrs(ctx, slog.LevelError, "audit event not stored", slog.String("event", e.Type),
			slog.String("tenant", e.Tenant), slog.Any("error", err))
	}
}

// logEvent writes the event as one structured line, timed at the event's own time so that the log, the
// store and the webhook agree.
func (r *Recorder) logEvent(ctx context.Context, e Event, scrubbed []string) {
	level := Level(e.Type)
	h := r.log.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	rec := slog.NewRecord(e.Time, level, "audit", 0)
	rec.AddAttrs(slog.String("event", e.Type), slog.String("tenant", e.Tenant))
	for _, f := range []struct{ k, v string }{
		{"user", e.User}, {"email", e.Email}, {"actor", e.Actor}, {"method", e.Method}, {"reason", e.Reason},
	} {
		if f.v != "" {
			rec.AddAttrs(slog.String(f.k, f.v))
		}
	}
	if len(e.Detail) > 0 {
		keys := make([]string, 0, len(e.Detail))
		for k := range e.Detail {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		attrs := make([]any, 0, len(keys))
		for _, k := range keys {
			attrs = append(attrs, slog.String(k, e.Detail[k]))
		}
		rec.AddAttrs(slog.Group("detail", attrs...))
	}
	if len(scrubbed) > 0 {
		// Only the key names: they point at the caller that tried to record a secret.
		rec.AddAttrs(slog.Any("scrubbed_detail_keys", scrubbed))
	}
	_ = h.Handle(ctx, rec)
}

// Level is the log level of an event type: WARN for lockouts, support recoveries and break-glass sign-ins
// (what an operator on call should notice), INFO for the rest.
func Level(eventType string) slog.Level {
	switch {
	case eventType == Lockout, strings.HasPrefix(eventType, "support."), strings.HasPrefix(eventType, "breakglass."):
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// secretWords mark Detail keys that are dropped. The callers never put secrets in an event; this is the
// second line of defence, so a future "totp_code" or "session_token" detail cannot reach a log or a webhook.
var secretWords = []string{"password", "secret", "code", "token", "cookie"}

// scrub returns a copy of d without keys naming a secret word (any letter case), and the dropped key names.
// A count of recovery codes left therefore goes under DetailRecoveryLeft, which names no secret word.
func scrub(d map[string]string) (map[string]string, []string) {
	if len(d) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(d))
	var dropped []string
	for k, v := range d {
		lk := strings.ToLower(k)
		if slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(lk, w) }) {
			dropped = append(dropped, k)
			continue
		}
		out[k] = v
	}
	slices.Sort(dropped)
	return out, dropped
}

// Detail keys the gateway uses, named once here so the admin page, CLI and webhook receivers agree.
const (
	// DetailRecoveryLeft is the number of recovery codes an operator has left (on RecoveryCodeUsed).
	DetailRecoveryLeft = "recovery_left"
)
