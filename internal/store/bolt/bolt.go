// Package bolt is the embedded, single-node store.Store: one bbolt file, every method one transaction.
package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/vectis/mfa-gateway/internal/store"
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	// Timeout bounds the wait for the file lock. bbolt locks the file for the life of the open store, so a
	// second open (another process, or an overlapping reload in this one) waits this long and then fails.
	// Default: 1s.
	Timeout time.Duration
	// Logger receives the sweeper's results and failures. It never receives keys or values. Default: discard.
	Logger *slog.Logger
}

const (
	// DefaultTimeout is the file-lock wait when Options.Timeout is zero.
	DefaultTimeout = time.Second
	// sweepInterval is how often expired sessions and ended lockout windows are removed.
	sweepInterval = 10 * time.Minute
	// sweepGrace keeps records an hour past their end, so a gateway whose clock runs behind the
	// machine's still sees (and rejects) them itself rather than finding them gone.
	sweepGrace = time.Hour
)

// Bucket names. Composite keys join their parts with a NUL byte (see key).
var (
	bucketTenants      = []byte("tenants")       // tenant id → Tenant
	bucketOperators    = []byte("operators")     // tenant NUL id → Operator
	bucketEmails       = []byte("emails")        // normalized email → tenant NUL id
	bucketCredentials  = []byte("credentials")   // tenant NUL user → credRecord
	bucketRecovery     = []byte("recovery")      // tenant NUL user → bucket of hash → empty
	bucketSessions     = []byte("sessions")      // hex session id → Session
	bucketUserSessions = []byte("user_sessions") // tenant NUL user NUL hex session id → empty
	bucketLockout      = []byte("lockout")       // tag NUL key → lockRecord
	bucketMeta         = []byte("meta")          // name → raw bytes
	bucketSSOKeys      = []byte("sso_keys")      // tenant NUL SSO key → operator id
	bucketOnce         = []byte("once")          // tag NUL key → onceRecord (single-use records)

	allBuckets = [][]byte{bucketTenants, bucketOperators, bucketEmails, bucketCredentials, bucketRecovery,
		bucketSessions, bucketUserSessions, bucketLockout, bucketMeta, bucketSSOKeys, bucketOnce}
)

// Store is a store.Store on one bbolt file. It is safe for concurrent use; bbolt runs one write
// transaction at a time, which is what makes each check-and-change method atomic.
type Store struct {
	db   *bbolt.DB
	path string
	log  *slog.Logger

	stop      chan struct{}
	swept     chan struct{} // closed when the sweeper has returned
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the bolt file at path with mode 0600, creating its directory with
// mode 0700 if missing, and starts the background sweeper. Close releases both.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("opening bolt store: no path given")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fail := func(err error) (*Store, error) { return nil, fmt.Errorf("opening bolt store at %s: %w", path, err) }

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fail(err)
	}
	// bbolt's own logger is left off on purpose: at debug level it prints keys, and ours hold emails.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			err = fmt.Errorf("file is locked by another process or another open store (waited %s): %w", opts.Timeout, err)
		}
		return fail(err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// An existing file keeps its mode; it holds sealed secrets and session records, so say so.
		log.Warn("bolt store file is readable by other users", "path", path, "mode", fi.Mode().Perm().String())
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("creating bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return fail(err)
	}
	// Session updates (mostly the once-a-minute last-seen touch) go through db.Batch: concurrent ones share
	// one write transaction and one fsync. A lone update waits at most this long for company.
	db.MaxBatchDelay = batchDelay
	s := &Store{db: db, path: path, log: log, stop: make(chan struct{}), swept: make(chan struct{})}
	go s.sweepLoop()
	return s, nil
}

// Path is the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Ping reports whether the database is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("bolt store: meta bucket missing")
		}
		return nil
	})
}

// Close stops the sweeper and closes the file. Calling it again returns the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.swept
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// view and update run fn in one read or write transaction, after checking ctx (bbolt itself takes none,
// so a canceled request fails here instead of reading as an answer).
func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

func (s *Store) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(fn)
}

// batchDelay is how long a batched write waits for others to join its transaction.
const batchDelay = 2 * time.Millisecond

// batch is update for writes that are safe to coalesce: fn may run more than once (bbolt re-runs the
// others of a batch when one fails), so it must only read and put, with the same result each time.
func (s *Store) batch(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Batch(fn)
}

// key joins parts with a NUL byte. No id, email or tag contains NUL; one that did could alias another
// record ("a" + "b\x00c" = "a\x00b" + "c"), so it is refused rather than joined.
func key(parts ...string) ([]byte, error) {
	for _, p := range parts {
		if strings.IndexByte(p, 0) >= 0 {
			return nil, fmt.Errorf("bolt store: key part %q contains a NUL byte", p)
		}
	}
	return []byte(strings.Join(parts, "\x00")), nil
}

// prefix is key(parts...) followed by the separator: every key under those leading parts starts with it.
func prefix(parts ...string) ([]byte, error) {
	k, err := key(parts...)
	if err != nil {
		return nil, err
	}
	return append(k, 0), nil
}

// keysWithPrefix returns copies of the keys in b that start with p. Keys are collected before any is
// deleted, because deleting under a live cursor can skip the following key.
func keysWithPrefix(b *bbolt.Bucket, p []byte) [][]byte {
	var out [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
		out = append(out, bytes.Clone(k))
	}
	return out
}

// getJSON decodes the value at k into v and reports whether it was there. what names the record kind
// in errors; keys are left out of errors because they hold emails and ids.
func getJSON(b *bbolt.Bucket, what string, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	return true, unmarshal(raw, what, v)
}

func unmarshal(raw []byte, what string, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("bolt store: decoding %s: %w", what, err)
	}
	return nil
}

func hasPrefix(k, p []byte) bool { return bytes.HasPrefix(k, p) }

func putJSON(b *bbolt.Bucket, what string, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bolt store: encoding %s: %w", what, err)
	}
	return b.Put(k, raw)
}

var _ store.Store = (*Store)(nil)
