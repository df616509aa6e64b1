package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Webhook request headers. The body is the Event as JSON.
const (
	// HeaderEvent carries the event type, so a receiver can route without parsing the body.
	HeaderEvent = "X-Vectis-Event"
	// HeaderDelivery is a random id that stays the same across retries of one event: a receiver that
	// answered 2xx but whose answer was lost sees the event again with the same id and can drop it.
	HeaderDelivery = "X-Vectis-Delivery"
)

// ValidateWebhookURL reports whether raw is a usable webhook URL: absolute http or https with a host.
// Errors never repeat the URL, which may carry credentials or a token in its path or query.
func ValidateWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("audit webhook URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("audit webhook URL: must start with http:// or https://")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return errors.New("audit webhook URL: has no host")
	}
	return nil
}

// logURL is the part of a webhook URL that may be logged: scheme and host. User info, path and query are
// left out because receivers often put their secret there (https://hooks.example/T0/B0/<secret>).
func logURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid)"
	}
	return u.Scheme + "://" + u.Host
}

// delivery is one queued event, encoded when it was recorded.
type delivery struct {
	id   string
	typ  string
	body []byte
}

// webhook is the queue and its single sender. One sender keeps delivery in order.
type webhook struct {
	log     *slog.Logger
	url     string
	target  string // logURL(url)
	client  *http.Client
	timeout time.Duration // per request, when client has none
	initial time.Duration
	max     time.Duration
	size    int

	mu     sync.Mutex
	queue  []delivery
	closed bool

	wake      chan struct{} // a send says the queue may have grown; buffered 1, never blocks Record
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed when the sender returns
	lost      int           // the in-flight event the sender gave up at Close; read after done
	closeOnce sync.Once
	dropped   atomic.Uint64
}

func startWebhook(log *slog.Logger, opts Options) *webhook {
	w := &webhook{
		log:     log,
		url:     opts.WebhookURL,
		target:  logURL(opts.WebhookURL),
		client:  opts.Client,
		initial: opts.InitialBackoff,
		max:     opts.MaxBackoff,
		size:    opts.QueueSize,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if w.client == nil {
		w.client = &http.Client{
			Timeout: DefaultRequestTimeout,
			// A redirect is not an acceptance: the event is retried until the configured URL says 2xx.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if w.client.Timeout == 0 {
		w.timeout = DefaultRequestTimeout
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	if u, err := url.Parse(w.url); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		log.Warn("audit webhook uses plain http: events (with operator emails) cross the network unencrypted",
			"url", w.target)
	}
	go w.run()
	return w
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// enqueue adds e for delivery without waiting: a full queue loses its oldest event instead.
func (w *webhook) enqueue(e Event) {
	body, err := json.Marshal(e)
	if err != nil {
		w.log.Error("audit webhook: encoding event", "event", e.Type, "error", err)
		return
	}
	d := delivery{id: rand.Text(), typ: e.Type, body: body}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.log.Warn("audit webhook stopped; event not sent", "event", e.Type)
		return
	}
	var old delivery
	full := len(w.queue) >= w.size
	if full {
		old = w.queue[0]
		w.queue[0] = delivery{}
		w.queue = w.queue[1:]
	}
	w.queue = append(w.queue, d)
	w.mu.Unlock()
	if full {
		n := w.dropped.Add(1)
		w.log.Warn("audit webhook queue full; oldest event dropped", "event", old.typ, "queue_size", w.size,
			"dropped_total", n)
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest queued event, waiting for one; false once the webhook is closed.
func (w *webhook) next() (delivery, bool) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			d := w.queue[0]
			w.queue[0] = delivery{}
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return d, true
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-w.ctx.Done():
			return delivery{}, false
		}
	}
}

func (w *webhook) run() {
	defer close(w.done)
	for {
		d, ok := w.next()
		if !ok {
			return
		}
		if !w.deliver(d) {
			w.lost = 1
			return
		}
	}
}

// deliver posts d until the receiver answers 2xx, waiting longer after each failure; false if the webhook
// was closed first. Later events wait behind d, so they arrive in the order they were recorded.
func (w *webhook) deliver(d delivery) bool {
	for attempt := 1; ; attempt++ {
		err := w.post(d)
		if err == nil {
			if attempt > 1 {
				w.log.Info("audit webhook delivering again", "url", w.target, "event", d.typ, "attempts", attempt)
			}
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		wait := backoff(attempt, w.initial, w.max, mrand.Float64())
		w.log.Warn("audit webhook delivery failed; will retry", "url", w.target, "event", d.typ,
			"attempt", attempt, "retry_in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// post sends d once. The error names the failure without the URL.
func (w *webhook) post(d delivery) error {
	ctx := w.ctx
	if w.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(d.body))
	if err != nil {
		return errors.New("building request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderEvent, d.typ)
	req.Header.Set(HeaderDelivery, d.id)
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL (the client strips only its password; a token in the path or
		// query would stay), so keep only the cause: dial errors name host and port, nothing more.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	// Drain a little so the connection can be reused; the body itself is of no interest.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

// backoff is the wait after the attempt-th failure: initial doubled per earlier failure (1s, 2s, 4s, ...),
// spread by ±20% with r in [0,1) so many gateways do not retry in step, and never above ceiling.
func backoff(attempt int, initial, ceiling time.Duration, r float64) time.Duration {
	d := initial
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	d = time.Duration(float64(d) * (0.8 + 0.4*r))
	return min(d, ceiling)
}

// close stops the sender, abandoning a request in flight, and logs how many events were never delivered.
func (w *webhook) close() {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.cancel()
		<-w.done
		w.mu.Lock()
		n := len(w.queue) + w.lost
		w.queue = nil
		w.mu.Unlock()
		if n > 0 {
			w.log.Warn("audit webhook stopped; pending events dropped", "url", w.target, "dropped", n)
		} else {
			w.log.Info("audit webhook stopped", "url", w.target)
		}
	})
}
