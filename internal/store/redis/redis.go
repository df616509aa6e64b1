// Package redis is the store.Store backend on Redis (standalone, Sentinel or Cluster), for gateways that run as
// several replicas sharing one state.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vectis/mfa-gateway/internal/store"
)

// Defaults and bounds for the client's timeouts. A Redis outage must become a prompt error (and so a
// 503 or a refused sign-in), never a request that hangs; so no timeout is ever unlimited, whatever the
// URL or Options say.
const (
	DefaultDialTimeout  = 2 * time.Second
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
	// MaxTimeout caps every timeout.
	MaxTimeout = 30 * time.Second
)

// Options tunes the client. Zero values take the URL's query options (dial_timeout=, read_timeout=,
// write_timeout=, pool_size=), then the defaults above.
type Options struct {
	// DialTimeout bounds opening one connection (default 2s, at most 30s).
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound one command's socket reads and writes (default 1s each, at most 30s).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolSize is the number of connections per Redis node (default: go-redis's, 10 per CPU).
	PoolSize int
	// Logger receives the rare warnings this package logs and go-redis's own log lines (default: this
	// package's are discarded, go-redis's go to stderr). Nothing logged carries a secret.
	Logger *slog.Logger
}

// Store is a store.Store on Redis. It is safe for concurrent use.
//
// Key layout (every key one operation touches shares a hash tag, so Redis Cluster works; tenant ids and
// tags are escaped so that "{", "}" and "%" cannot break out of the tag):
//
//	vectis:{<tenant>}:tenant                 tenant record (JSON)
//	vectis:{<tenant>}:op:<operator id>       operator record (JSON)
//	vectis:{<tenant>}:ops                    set of the tenant's operator ids
//	vectis:{<tenant>}:sess:<hex session id>  session (JSON), TTL = ExpiresAt-CreatedAt + 1m
//	vectis:{<tenant>}:usess:<operator id>    set of the operator's session ids, TTL >= each of its sessions'
//	vectis:{<tenant>}:cred:<operator id>     hash: secret, enrolled, step (last used TOTP step)
//	vectis:{<tenant>}:rc:<operator id>       set of recovery-code hashes
//	vectis:{<tag>}:lock:<key>                lockout counter hash: start (ms), end_s, end_ns, n, max; tag is the tenant or "ip"
//	vectis:{<tag>}:once:<key>                single-use record (SSO sign-in attempt), TTL as given; tag is the tenant
//	vectis:{<tenant>}:ssokey:<SSO key>       SSO key index: the operator id linked to that IdP identity
//	vectis:{<tenant>}:audit                  audit trail: list of audit.Event (JSON), newest first, trimmed to keep
//	vectis:{e:<8 hex of sha256(email)>}:email:<email>   email index: ["<tenant>","<operator id>"]
//	vectis:{meta}:tenants                    set of tenant ids known to the directory (records or operators)
//	vectis:{meta}:meta:<name>                gateway-wide values (store.Meta)
type Store struct {
	c   goredis.UniversalClient
	log *slog.Logger
}

// Open builds a Store from a URL. It does not contact the server (Caddy provisions, and `caddy validate`
// checks, with no network): the first command connects, and a failed one is retried on the next call.
// Errors for a malformed URL say what is wrong in plain words and never contain the password.
//
// URL forms:
//
//	redis://[user:password@]host[:6379][/db][?options]
//	rediss://[user:password@]host[:6379][/db][?options]                       TLS
//	redis+sentinel://[user:password@]host1[:26379],host2[:26379]/<master>[/db][?options]
//	redis+cluster://[user:password@]host1[:6379],host2[:6379][?options]
//
// rediss+sentinel:// and rediss+cluster:// are the TLS forms of the last two. Percent-encode special
// characters in the user name and password. For Sentinel, user:password authenticates to the Redis
// servers; sentinels with their own password take the query options sentinel_username= and
// sentinel_password=. Other query options are go-redis's (dial_timeout=3s, read_timeout=, write_timeout=,
// pool_size=, max_retries=, client_name=, ...). The server needs AOF persistence on (appendonly yes):
// lockout counters and used TOTP steps must survive a Redis restart.
func Open(url string, opts Options) (*Store, error) {
	cfg, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	var c goredis.UniversalClient
	switch cfg.mode {
	case standalone:
		o := cfg.simple
		tune(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolSize, &o.MaxRetries, &o.DialerRetries, opts)
		o.ContextTimeoutEnabled = true
		c = goredis.NewClient(o)
	case sentinel:
		o := cfg.failover
		tune(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolSize, &o.MaxRetries, &o.DialerRetries, opts)
		o.ContextTimeoutEnabled = true
		c = goredis.NewFailoverClient(o)
	case cluster:
		o := cfg.cluster
		tune(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolSize, &o.MaxRetries, &o.DialerRetries, opts)
		o.ContextTimeoutEnabled = true
		c = goredis.NewClusterClient(o)
	}
	s := New(c)
	if opts.Logger != nil {
		s.log = opts.Logger
		routeClientLog(opts.Logger)
	}
	return s, nil
}

// tune applies Options over what the URL set, then defaults and bounds.
func tune(dial, read, write *time.Duration, pool, retries, dialRetries *int, opts Options) {
	*dial = bounded(opts.DialTimeout, *dial, DefaultDialTimeout)
	*read = bounded(opts.ReadTimeout, *read, DefaultReadTimeout)
	*write = bounded(opts.WriteTimeout, *write, DefaultWriteTimeout)
	if opts.PoolSize > 0 {
		*pool = opts.PoolSize
	}
	// One retry lets a command survive a pooled connection that died with a Redis restart; more would
	// multiply the time an outage holds a request (go-redis's default is 3, with backoff).
	if *retries == 0 {
		*retries = 1
	}
	// One dial per attempt: go-redis's default of 5 dials 100ms apart turns a down server into a slow error.
	if *dialRetries <= 0 {
		*dialRetries = 1
	}
}

func bounded(fromOptions, fromURL, def time.Duration) time.Duration {
	d := def
	switch {
	case fromOptions > 0:
		d = fromOptions
	case fromURL > 0:
		d = fromURL
	}
	return min(d, MaxTimeout)
}

// New wraps an existing client (a go-redis Client, FailoverClient or ClusterClient). The Store owns c
// from now on: Close closes it.
func New(c goredis.UniversalClient) *Store {
	return &Store{c: c, log: slog.New(slog.DiscardHandler)}
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Close closes the client.
func (s *Store) Close() error {
	if err := s.c.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

var _ store.Store = (*Store)(nil)
