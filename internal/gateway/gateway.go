// Package gateway is the request flow: portal pass-through, gateway pages, session check, identity headers.
package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vectis/mfa-gateway/config"
	"github.com/vectis/mfa-gateway/internal/admin"
	"github.com/vectis/mfa-gateway/internal/assertion"
	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/keys"
	"github.com/vectis/mfa-gateway/internal/sso"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/web"
)

// Next is the rest of the handler chain (Caddy's next handler, or a plain handler in tests).
type Next func(w http.ResponseWriter, r *http.Request) error

// Identity is what the gateway vouches for on an authenticated request.
type Identity struct {
	UserID   string
	Email    string
	TenantID string
	Role     string
	Auth     string
}

// Options carries the injected parts. Zero values get real defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the randomness source (default crypto/rand.Reader).
	Rand io.Reader
	// OnIdentity is called for each authenticated request before it is passed on (Caddy placeholders).
	OnIdentity func(r *http.Request, id Identity)
	// Secure forces the Secure cookie attribute even on plain HTTP (behind a TLS-terminating proxy).
	Secure bool
	// ClientIP returns the client address as Caddy's trusted-proxy handling decided (default: socket peer).
	ClientIP func(r *http.Request) string
	// Metrics receives counters for dashboards (Caddy's Prometheus registry); nil counts nothing.
	Metrics Metrics
	// AssertionIssuer is the iss of the identity assertion (default "vectis-gateway").
	AssertionIssuer string
}

// OpenFunc opens the store. The gateway calls it lazily on the first request that needs the store
// and again after a failure, so start-up and `caddy validate` never touch the network.
type OpenFunc func(ctx context.Context) (store.Store, error)

// Gateway is one configured instance.
type Gateway struct {
	cfg    config.Config
	open   OpenFunc
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	rand   io.Reader
	keys   *keys.Ring
	pages  *web.Renderer
	hasher *directory.Hasher
	static http.Handler
	// recorder receives security events (audit trail).
	recorder admin.Recorder
	audit    *audit.Recorder

	mu     sync.Mutex // guards st and signer while the store is being opened
	st     store.Store
	signer atomic.Pointer[assertion.Signer]
	ready  atomic.Pointer[ready]
	// sessions caches active sessions for the hot path (see cache.go); tenants the tenant records their
	// sign-in method is checked against when a session is read from the store.
	sessions *sessionCache
	tenants  *tenantCache
}

// storeTimeout bounds the pass-through's store work: a slow store must deny quickly, not hang the request.
// (Each Redis call is bounded by the client's own 1 s read/write timeouts; this is the backstop.)
const storeTimeout = 3 * time.Second

// pageTimeout bounds a gateway page's work, which may include waiting for a password-hashing slot under
// load and an IdP round trip: long enough not to turn a busy moment into a false "unavailable".
const pageTimeout = 10 * time.Second

// New builds a gateway from a normalized, validated configuration. It does no I/O.
func New(cfg config.Config, open OpenFunc, opts Options) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ring, err := keys.New(cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("loading secret_key: %w", err)
	}
	pages, err := web.New()
	if err != nil {
		return nil, fmt.Errorf("loading page templates: %w", err)
	}
	g := &Gateway{cfg: cfg, open: open, opts: opts, log: opts.Logger, now: opts.Now, rand: opts.Rand,
		keys: ring, pages: pages, hasher: directory.NewHasher(0), static: web.Static(), sessions: newSessionCache(), tenants: newTenantCache()}
	if g.log == nil {
		g.log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.rand == nil {
		g.rand = rand.Reader
	}
	rec := audit.NewRecorder(g.log, func(ctx context.Context) (audit.Store, error) {
		st, _, err := g.backend(ctx)
		return st, err
	}, audit.Options{WebhookURL: cfg.AuditWebhook, Now: g.now})
	g.recorder, g.audit = rec, rec
	if g.opts.AssertionIssuer == "" {
		g.opts.AssertionIssuer = "vectis-gateway"
	}
	log := g.log
	directory.OnHashingProcsAdded(func(before, after int) {
		log.Info("sign-ins are queueing for password checks: GOMAXPROCS raised for the low-priority hashing threads (once)",
			"gomaxprocs_before", before, "gomaxprocs_after", after)
	})
	return g, nil
}

// Close releases what New made (not the store: its opener's owner releases that).
func (g *Gateway) Close() error { return g.audit.Close() }

// errStoreUnavailable marks machinery failures (store down, timeout): the answer is 503, never a pass-through.
var errStoreUnavailable = errors.New("store unavailable")

// backend returns the open store and signer, opening and bootstrapping on first use. A failure is returned
// (and retried on the next request) so an outage at start-up heals without a restart.
func (g *Gateway) backend(ctx context.Context) (store.Store, *assertion.Signer, error) {
	// Hot path: once ready, no lock is taken.
	if b := g.ready.Load(); b != nil {
		return b.st, b.signer, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		// The hot path passes the request's own context (it sets no timer on the way through).
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, storeTimeout)
		defer cancel()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if b := g.ready.Load(); b != nil {
		return b.st, b.signer, nil
	}
	if g.st == nil {
		st, err := g.open(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: opening: %v", errStoreUnavailable, err)
		}
		g.st = invalidating{Store: st, c: g.sessions, t: g.tenants}
	}
	if err := g.bootstrap(ctx, g.st); err != nil {
		return nil, nil, fmt.Errorf("%w: bootstrap: %v", errStoreUnavailable, err)
	}
	g.ready.Store(&ready{st: g.st, signer: g.signer.Load()})
	return g.st, g.signer.Load(), nil
}

// ready is the opened store and loaded signer, published once for lock-free reads.
type ready struct {
	st     store.Store
	signer *assertion.Signer
}

// bootstrap imports the seed into an empty store and loads (or creates, once across replicas) the signing key.
func (g *Gateway) bootstrap(ctx context.Context, st store.Store) error {
	if g.cfg.Seed != "" {
		if err := g.importSeed(ctx, st); err != nil {
			return err
		}
	}
	der, err := assertion.GenerateKey(g.rand)
	if err != nil {
		return err
	}
	sealed, err := g.keys.Seal(g.rand, der, []byte("assertion-signing-key"))
	if err != nil {
		return err
	}
	stored, err := st.PutMetaIfAbsent(ctx, "assertion-signing-key", sealed)
	if err != nil {
		return err
	}
	der, err = g.keys.Open(stored, []byte("assertion-signing-key"))
	if err != nil {
		return fmt.Errorf("opening the stored signing key (was secret_key changed?): %w", err)
	}
	signer, err := assertion.NewSigner(der)
	if err != nil {
		return err
	}
	g.signer.Store(signer)
	return nil
}

func (g *Gateway) importSeed(ctx context.Context, st store.Store) error {
	empty, err := st.Empty(ctx)
	if err != nil || !empty {
		return err
	}
	data, err := os.ReadFile(g.cfg.Seed)
	if err != nil {
		return fmt.Errorf("reading seed: %w", err)
	}
	seed, err := directory.ParseSeed(data)
	if err != nil {
		return fmt.Errorf("seed %s: %w", g.cfg.Seed, err)
	}
	// Provider-specific settings are checked here too, so a seeded SSO tenant that could never sign in is a
	// clear start-up error, not a failure at the first sign-in.
	for i, t := range seed.Tenants {
		if t.SSO != nil {
			if err := sso.Check(t.SSO.Provider, t.SSO.Issuer, t.SSO.ClientID, t.SSO.Extra); err != nil {
				return fmt.Errorf("seed %s: tenants[%d] (%s): %w", g.cfg.Seed, i, t.ID, err)
			}
		}
	}
	res, err := directory.ImportSealed(ctx, st, seed, g.hasher, g.rand, g.sealSSOSecret, g.now())
	if err != nil {
		return fmt.Errorf("importing seed: %w", err)
	}
	g.log.Info("imported seed into empty store", "file", g.cfg.Seed, "tenants", res.Tenants, "operators", res.Operators)
	return nil
}

// Handle serves one request: gateway pages, portal pass-through, or an authenticated pass-through to next.
func (g *Gateway) Handle(w http.ResponseWriter, r *http.Request, next Next) error {
	// Invariant 2: no client-supplied identity header reaches any upstream, on any host — as a header or as
	// a request trailer (chunked bodies), which some frameworks merge into the headers.
	stripIdentityHeaders(r.Header)
	stripIdentityConnectionTokens(r.Header)
	if r.Trailer != nil || len(r.TransferEncoding) > 0 {
		stripIdentityHeaders(r.Trailer)
		r.Body = trailerStripper{ReadCloser: r.Body, r: r}
	}

	// Invariant 3: the portal never touches the store.
	if config.MatchHost(g.cfg.PortalHosts, r.Host) {
		return next(w, r)
	}
	if r.URL.Path == "/.vectis" || strings.HasPrefix(r.URL.Path, "/.vectis/") {
		g.route(w, r)
		return nil
	}
	return g.passAuthenticated(w, r, next)
}

// stripIdentityHeaders deletes every header that an upstream could read as X-Vectis-*: any letter case
// (Go canonicalizes), and the underscore and dot spellings that CGI-style frameworks fold into the same
// variable (Caddy drops those by default, but expected_dot_headers/underscore settings can let them in).
// It runs on every request on every host, so it compares in place instead of rewriting each name.
func stripIdentityHeaders(h http.Header) {
	for name := range h {
		if isIdentityHeader(name) {
			delete(h, name)
		}
	}
}

// stripIdentityConnectionTokens removes identity header names from the Connection header. A proxy deletes
// every header its Connection header names (hop-by-hop), so "Connection: X-Vectis-Role" from a client would
// make Caddy's reverse_proxy delete the identity headers the gateway sets. Other tokens are kept.
func stripIdentityConnectionTokens(h http.Header) {
	filterHeaderList(h, "Connection", ",", isIdentityHeader)
}

// filterHeaderList removes the elements drop matches from a list-valued header (elements separated by sep,
// blanks around each trimmed) and joins what is left with sep and a space. It runs on every request, so when
// nothing matches it leaves the header as it came, without allocating; when nothing is left it deletes it.
func filterHeaderList(h http.Header, name, sep string, drop func(string) bool) {
	lines := h[name]
	found := false
	for _, line := range lines {
		for rest := line; rest != "" && !found; {
			var el string
			el, rest, _ = strings.Cut(rest, sep)
			found = drop(el)
		}
	}
	if !found {
		return
	}
	var b strings.Builder
	for _, line := range lines {
		for rest := line; rest != ""; {
			var el string
			el, rest, _ = strings.Cut(rest, sep)
			if el = strings.TrimSpace(el); el == "" || drop(el) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString(sep + " ")
			}
			b.WriteString(el)
		}
	}
	if b.Len() == 0 {
		delete(h, name)
		return
	}
	h[name] = []string{b.String()}
}

// isIdentityHeader reports whether name, trimmed of blanks, is "x-vectis" or starts with "x-vectis-", in any
// letter case, with '_' or '.' standing for any '-' (the spellings upstream frameworks fold together).
func isIdentityHeader(name string) bool {
	n := strings.TrimSpace(name)
	const want = "x-vectis-"
	if len(n) < len(want)-1 {
		return false
	}
	for i := 0; i < len(want) && i < len(n); i++ {
		c := n[i]
		switch {
		case c == '_' || c == '.':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// recentEvents returns the tenant's latest audit events.
func (g *Gateway) recentEvents(ctx context.Context, st store.Store, tenant string, n int) ([]audit.Event, error) {
	return st.ListAudit(ctx, tenant, n)
}

// event records a security event; it never fails or blocks the request that caused it.
func (g *Gateway) event(ctx context.Context, e audit.Event) {
	if e.Time.IsZero() {
		e.Time = g.now()
	}
	g.recorder.Record(context.WithoutCancel(ctx), e)
	observe(g.opts.Metrics, e)
}

// ssoMetric counts one SSO callback that signed nobody in.
func (g *Gateway) ssoMetric(reason string) {
	if g.opts.Metrics != nil {
		g.opts.Metrics.SSOCallbackFailure(reason)
	}
}

// trailerStripper removes identity headers from the request's trailers the moment they arrive: net/http fills
// r.Trailer while reading the end of a chunked body, just before the read that returns io.EOF.
type trailerStripper struct {
	io.ReadCloser
	r *http.Request
}

func (t trailerStripper) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err != nil {
		stripIdentityHeaders(t.r.Trailer)
	}
	return n, err
}
