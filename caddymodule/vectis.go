// Package caddymodule is the thin Caddy adapter around the gateway: module types, Caddyfile parsing,
// and store lifetimes across config reloads. It is the only package that imports Caddy.
package caddymodule

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/vectis/mfa-gateway/config"
	"github.com/vectis/mfa-gateway/internal/gateway"
	"github.com/vectis/mfa-gateway/internal/keys"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/store/bolt"
	"github.com/vectis/mfa-gateway/internal/store/redis"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler puts mandatory MFA in front of the Vectis web app. Every request to an operator host needs a
// fully signed-in session (password + TOTP, or the tenant's SSO); the gateway's own pages live under
// /.vectis/. Customer-portal hosts pass straight through. Client-supplied X-Vectis-* headers are
// removed on every host.
//
// After a successful check the placeholders {http.auth.user.id}, {http.auth.user.email},
// {http.auth.user.tenant}, {http.auth.user.role} and {http.auth.user.auth} are set for later
// handlers and access logs.
//
// Tenants, operators and SSO settings live in the store, not here.
type Handler struct {
	// PortalHosts are the customer-portal hosts: their traffic passes through without operator MFA and
	// without touching the store. Each entry is an exact host name (case-insensitive, port ignored) or
	// "*.example.com", which matches exactly one extra label. Default: none.
	PortalHosts []string `json:"portal_hosts,omitempty"`

	// Storage is where tenants, operators, sessions and lockout counters live. Default: a bolt file
	// at <Caddy data directory>/vectis/gateway.db.
	Storage *Storage `json:"storage,omitempty"`

	// SecretKey is the 32-byte master key, base64-encoded. It encrypts TOTP and SSO secrets at rest
	// and keys the recovery-code MACs. Placeholders are resolved at start-up, so prefer
	// "{env.VECTIS_GATEWAY_KEY}" or "{file./etc/vectis/secret.key}": Caddy saves its running config
	// to disk, and a literal key would be saved with it. Every replica sharing a store needs the
	// same key. Default: a key generated once into <Caddy data directory>/vectis/secret.key (a
	// warning is logged at every start).
	SecretKey string `json:"secret_key,omitempty"`

	// Issuer is the name authenticator apps show next to the operator's account. It must not
	// contain ':'. Default: "Vectis".
	Issuer string `json:"issuer,omitempty"`

	// Seed is a JSON file of tenants and operators imported once into an empty store (first deploy,
	// demos). Placeholders are resolved at start-up. Default: none.
	Seed string `json:"seed,omitempty"`

	// Lockout limits failed code attempts per operator. Default: 5 attempts in 15m.
	Lockout *Lockout `json:"lockout,omitempty"`

	// Session bounds a signed-in session. Default: 1h idle, 12h absolute.
	Session *Session `json:"session,omitempty"`

	// SecureCookies forces the Secure attribute on the gateway's cookies even when the request came
	// over plain HTTP, for use behind a TLS-terminating load balancer. Default: false (Secure is
	// set whenever the request arrived over TLS).
	SecureCookies bool `json:"secure_cookies,omitempty"`

	// AuditWebhook receives every security event as JSON (sign-ins, lockouts, MFA resets, …), so the
	// app can tell an operator whose MFA changed. Delivery is retried with backoff and never blocks or
	// fails a sign-in. Accepts placeholders. Default: none.
	AuditWebhook string `json:"audit_webhook,omitempty"`

	gw     *gateway.Gateway
	logger *slog.Logger
	cfg    config.Config
	store  *storeRef
}

// Storage selects the backend.
type Storage struct {
	// Type is "bolt" (one node, embedded file) or "redis" (many replicas share all state, lockout
	// included). Default: "bolt".
	Type string `json:"type,omitempty"`

	// Path is the bolt database file. Its directory is created if missing and must be writable.
	// Placeholders are resolved at start-up. Default: <Caddy data directory>/vectis/gateway.db.
	Path string `json:"path,omitempty"`

	// URL addresses Redis (type redis), e.g. redis://127.0.0.1:6379/0. Placeholders are resolved at
	// start-up, so a password can come from "{env.…}". Required for type redis.
	URL string `json:"url,omitempty"`
}

// Lockout limits failed code attempts (TOTP or recovery) per operator: Attempts failures within
// Window lock the account for the rest of that window.
type Lockout struct {
	// Attempts is the number of failures that locks the account (1-100). Default: 5.
	Attempts int `json:"attempts,omitempty"`

	// Window is the counting window and lock duration (1m-24h). Default: 15m.
	Window caddy.Duration `json:"window,omitempty"`
}

// Session bounds a signed-in session.
type Session struct {
	// Idle ends a session after this long without a request (at least 1m). Default: 1h.
	Idle caddy.Duration `json:"idle,omitempty"`

	// Absolute ends a session this long after sign-in, however active (not shorter than Idle).
	// Default: 12h.
	Absolute caddy.Duration `json:"absolute,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.vectis_mfa",
		New: func() caddy.Module { return new(Handler) },
	}
}

// boltOpenTimeout bounds the wait for the bolt file lock. Another process (the offline CLI, a second
// Caddy) may hold it; a request then fails closed after this wait and the next one retries, instead
// of every request hanging behind the lock.
const boltOpenTimeout = 1 * time.Second

// Provision builds the configuration and the gateway. It opens no store and makes no network call,
// since it also runs for `caddy validate`; the store is opened on the first request that needs it.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Slogger()
	useHashHelper() // started only at the first password check, never by validate or adapt
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("loading vectis_mfa: registering metrics: %w", err)
	}
	cfg, err := h.buildConfig()
	if err != nil {
		return fmt.Errorf("loading vectis_mfa: %w", err)
	}
	h.cfg = cfg
	h.store = &storeRef{dial: h.dial}
	switch cfg.Storage.Kind {
	case "bolt":
		h.store.key = "bolt:" + cfg.Storage.Path
	case "redis":
		h.store.key = "redis:" + cfg.Storage.URL
	}
	h.gw, err = gateway.New(cfg, h.store.open, gateway.Options{
		Logger:     h.logger,
		OnIdentity: setIdentityPlaceholders,
		Secure:     h.SecureCookies,
		ClientIP:   clientIP,
		Metrics:    promMetrics{},
	})
	if err != nil {
		return fmt.Errorf("loading vectis_mfa: %w", err)
	}
	// Last, so a failed Provision holds no reference: from here until Cleanup this instance keeps the
	// shared store alive (see lazyShared).
	if err := h.store.acquire(); err != nil {
		return fmt.Errorf("loading vectis_mfa: %w", err)
	}
	join(h)
	return nil
}

// buildConfig turns the module's fields into a normalized, validated config.Config.
func (h *Handler) buildConfig() (config.Config, error) {
	// A fresh replacer holds only the global placeholders ({env.*}, {file.*}, {system.*}); the
	// request placeholders do not exist at start-up.
	repl := caddy.NewReplacer()
	resolve := func(field, s string) (string, error) {
		out, err := repl.ReplaceOrErr(s, true, true)
		if err != nil {
			return "", fmt.Errorf("%s: %w", field, err)
		}
		return out, nil
	}

	cfg := config.Config{
		PortalHosts: slices.Clone(h.PortalHosts),
		Issuer:      h.Issuer,
	}
	var err error
	if cfg.AuditWebhook, err = resolve("audit_webhook", h.AuditWebhook); err != nil {
		return cfg, err
	}
	if cfg.Seed, err = resolve("seed", h.Seed); err != nil {
		return cfg, err
	}
	if h.Storage != nil {
		cfg.Storage.Kind = h.Storage.Type
		if cfg.Storage.Path, err = resolve("storage path", h.Storage.Path); err != nil {
			return cfg, err
		}
		if cfg.Storage.URL, err = resolve("storage url", h.Storage.URL); err != nil {
			return cfg, err
		}
	}
	if h.Lockout != nil {
		cfg.LockoutAttempts = h.Lockout.Attempts
		cfg.LockoutWindow = time.Duration(h.Lockout.Window)
	}
	if h.Session != nil {
		cfg.SessionIdle = time.Duration(h.Session.Idle)
		cfg.SessionAbsolute = time.Duration(h.Session.Absolute)
	}
	if h.SecretKey != "" {
		// The resolved value is the key itself: it goes into no error or log line.
		s, err := resolve("secret_key", h.SecretKey)
		if err != nil {
			return cfg, err
		}
		if cfg.SecretKey, err = config.DecodeKey(s); err != nil {
			return cfg, err
		}
	}

	cfg.Normalize()
	switch cfg.Storage.Kind {
	case "bolt":
		if cfg.Storage.URL != "" {
			return cfg, errors.New("storage bolt takes a path, not a url")
		}
		if cfg.Storage.Path == "" {
			cfg.Storage.Path = filepath.Join(caddy.AppDataDir(), "vectis", "gateway.db")
		}
		// One absolute path per file, so two spellings of it share one pooled handle.
		if cfg.Storage.Path, err = filepath.Abs(cfg.Storage.Path); err != nil {
			return cfg, fmt.Errorf("storage path: %w", err)
		}
	case "redis":
		if cfg.Storage.Path != "" {
			return cfg, errors.New("storage redis takes a url, not a path")
		}
		// A key file is per machine: replicas sharing one Redis would each make their own key and
		// could not read each other's secrets.
		if h.SecretKey == "" {
			return cfg, errors.New("storage redis needs an explicit secret_key, the same on every replica " +
				"(for example secret_key {env.VECTIS_GATEWAY_KEY}; generate one with: head -c32 /dev/urandom | base64)")
		}
		if cfg.Storage.URL != "" {
			if err := checkRedisURL(cfg.Storage.URL); err != nil {
				return cfg, err
			}
		}
	}
	// Check everything that needs no disk before writing a key file or creating directories.
	if len(cfg.SecretKey) == 0 {
		probe := cfg
		probe.SecretKey = make([]byte, 32)
		if err := probe.Validate(); err != nil {
			return cfg, err
		}
		if cfg.SecretKey, err = h.loadKeyFile(cfg.Storage.Kind); err != nil {
			return cfg, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	if cfg.Storage.Kind == "bolt" {
		if err := checkBoltPath(cfg.Storage.Path); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// loadKeyFile reads (or creates once) the fallback master key for installs that set no secret_key.
func (h *Handler) loadKeyFile(storageKind string) ([]byte, error) {
	path := filepath.Join(caddy.AppDataDir(), "vectis", "secret.key")
	key, created, err := keys.LoadOrCreateKeyFile(path, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("secret_key not set and the key file is unusable: %w", err)
	}
	msg := "vectis_mfa: secret_key is not set; using the key file instead. Back this file up: " +
		"losing it makes every enrolled authenticator and recovery code unusable"
	if storageKind == "redis" {
		msg += ". With a shared Redis store every replica must use the same key: set secret_key explicitly"
	}
	h.logger.Warn(msg, "key_file", path, "created", created)
	return key, nil
}

// checkBoltPath makes sure the bolt file can be created or opened for writing later, so a bad path
// is a start-up error rather than a failure on the first request.
func checkBoltPath(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("storage bolt: cannot create directory %s: %w", dir, err)
	}
	info, err := os.Stat(path)
	switch {
	case err == nil && !info.Mode().IsRegular():
		return fmt.Errorf("storage bolt: %s exists and is not a regular file", path)
	case err == nil:
		// Opening without the bolt lock is harmless and proves the file is writable.
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("storage bolt: %s is not writable: %w", path, err)
		}
		return f.Close()
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("storage bolt: %w", err)
	}
	f, err := os.CreateTemp(dir, ".vectis-write-check-*")
	if err != nil {
		return fmt.Errorf("storage bolt: directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// checkRedisURL checks the URL's syntax without touching the network: the client is built (which dials
// nothing) and closed at once. Its errors never contain the URL's password.
func checkRedisURL(url string) error {
	st, err := redis.Open(url, redis.Options{})
	if err != nil {
		return fmt.Errorf("storage redis: %w", err)
	}
	return st.Close()
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return h.gw.Handle(w, r, next.ServeHTTP)
}

// Cleanup releases what Provision made, and this instance's reference to the shared store: the
// store closes when the last instance using it (old or new config) lets go.
func (h *Handler) Cleanup() error {
	leave(h)
	var errs []error
	if h.gw != nil {
		errs = append(errs, h.gw.Close())
	}
	if h.store != nil {
		errs = append(errs, h.store.release())
	}
	return errors.Join(errs...)
}

// stores shares open backends across handler instances, keyed "bolt:<absolute path>" or
// "redis:<url>". On a reload the new instance starts before the old one is cleaned up; a bolt file
// is flock'ed, so opening it a second time in this process would block, and a second Redis client
// would only waste connections.
var stores = caddy.NewUsagePool()

// sharedStore is what the gateway receives. Its Close is a no-op: one instance must not close a store
// another instance still uses. The pool closes the backend (lazyShared.Destruct) when the last reference
// is deleted.
type sharedStore struct{ store.Store }

// Close is deliberately a no-op; see sharedStore.
func (sharedStore) Close() error { return nil }

// lazyShared is the pooled value: a reference is taken in Provision (no I/O: it only records how to dial)
// and held until Cleanup, so across a reload — new instance provisioned, old one cleaned up — the count
// never drops to zero and the open store is never closed under requests still in flight. The backend is
// dialled on first use and again after a failed dial.
type lazyShared struct {
	dial func() (store.Store, error)

	mu sync.Mutex
	st store.Store
}

func (l *lazyShared) get() (store.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil {
		return sharedStore{l.st}, nil
	}
	st, err := l.dial()
	if err != nil {
		return nil, err
	}
	l.st = st
	return sharedStore{st}, nil
}

// Destruct closes the backend if it was ever opened; the pool calls it once, after the last user let go.
func (l *lazyShared) Destruct() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st == nil {
		return nil
	}
	err := l.st.Close()
	l.st = nil
	return err
}

// storeRef is one handler instance's claim on a pooled store. It is a pointer apart from Handler
// because Handler is copied by value (module registration, config decoding) and a mutex must not be.
type storeRef struct {
	key  string // pool key; may hold a Redis password, so it is never logged
	dial func() (store.Store, error)

	mu     sync.Mutex
	held   *lazyShared // non-nil while this instance holds its one reference in stores
	closed bool
}

// acquire takes this instance's reference (Provision). It does no I/O.
func (s *storeRef) acquire() error {
	val, _, err := stores.LoadOrNew(s.key, func() (caddy.Destructor, error) {
		return &lazyShared{dial: s.dial}, nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.held = val.(*lazyShared)
	s.mu.Unlock()
	return nil
}

// open is the gateway's OpenFunc. The gateway calls it lazily and again after a failure.
func (s *storeRef) open(ctx context.Context) (store.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	held, closed := s.held, s.closed
	s.mu.Unlock()
	if closed || held == nil {
		return nil, errors.New("vectis_mfa handler is shut down")
	}
	return held.get()
}

// release gives up this instance's reference and refuses later opens.
func (s *storeRef) release() error {
	s.mu.Lock()
	held := s.held != nil
	s.held = nil
	s.closed = true
	s.mu.Unlock()
	if !held {
		return nil
	}
	if _, err := stores.Delete(s.key); err != nil {
		return fmt.Errorf("closing vectis_mfa store: %w", err)
	}
	return nil
}

// dial opens the configured backend.
func (h *Handler) dial() (store.Store, error) {
	var st store.Store
	var err error
	switch h.cfg.Storage.Kind {
	case "bolt":
		st, err = bolt.Open(h.cfg.Storage.Path, bolt.Options{Timeout: boltOpenTimeout, Logger: h.logger})
	case "redis":
		st, err = redis.Open(h.cfg.Storage.URL, redis.Options{Logger: h.logger})
	default:
		return nil, fmt.Errorf("unknown storage type %q", h.cfg.Storage.Kind)
	}
	if err != nil {
		return nil, err
	}
	return newTimedStore(st, h.cfg.Storage.Kind), nil
}

// setIdentityPlaceholders publishes the signed-in operator to later handlers and access logs.
func setIdentityPlaceholders(r *http.Request, id gateway.Identity) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	// One provider answering the five names, rather than five Set calls: each Set takes the replacer's lock,
	// boxes a string and grows its map, on every authenticated request (1.7 % of the gateway's CPU).
	repl.Map(func(key string) (any, bool) {
		switch key {
		case "http.auth.user.id":
			return id.UserID, true
		case "http.auth.user.email":
			return id.Email, true
		case "http.auth.user.tenant":
			return id.TenantID, true
		case "http.auth.user.role":
			return id.Role, true
		case "http.auth.user.auth":
			return id.Auth, true
		}
		return nil, false
	})
}

// clientIP is the client address as the server's trusted_proxies setting resolved it, so lockout
// logs and audit name the real client behind a load balancer, never a spoofable header Caddy was not
// told to trust. Outside Caddy (no request vars) it falls back to the socket peer.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// live lists the provisioned handlers, oldest first. Admin API modules are created by Caddy's admin
// server with no config of their own, so they reach the store through here.
var live struct {
	sync.Mutex
	handlers []*Handler
}

func join(h *Handler) {
	live.Lock()
	defer live.Unlock()
	live.handlers = append(live.handlers, h)
}

func leave(h *Handler) {
	live.Lock()
	defer live.Unlock()
	live.handlers = slices.DeleteFunc(live.handlers, func(x *Handler) bool { return x == h })
}

// liveGateways returns the provisioned handlers, oldest first; during a reload the last one belongs
// to the newest config.
func liveGateways() []*Handler {
	live.Lock()
	defer live.Unlock()
	return slices.Clone(live.handlers)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
