package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
)

// sessionCacheTTL is how long a session read from the store is reused for the hot path. It bounds how late a
// revocation made on another replica takes effect (≤ 1 s); revocations made through this gateway take effect
// at once (the cache is invalidated). Only fully active sessions are cached; pending logins always go to the store.
const sessionCacheTTL = time.Second

// sessionCacheMax bounds memory; when full, the cache is emptied and refills from the store.
const sessionCacheMax = 100_000

type cachedSession struct {
	s       session.Session
	fetched time.Time
}

// sessionCache is a small read-through cache of active sessions keyed by store id. Sharded so concurrent
// requests do not serialize on one lock.
type sessionCache struct {
	shards [64]cacheShard
}

type cacheShard struct {
	sync.Mutex
	m map[[32]byte]cachedSession
	// gen counts forgets in this shard: a store read or write that began before a forget must not put its
	// (possibly revoked) record into the cache after it.
	gen uint64
	// flights are the store reads in progress, one per id: requests that miss while one is running wait
	// for it instead of reading too (at each 1-s expiry, every request in flight for a session misses).
	flights map[[32]byte]*flight
	// touching are the sessions whose last-seen write is in progress: the requests meanwhile skip it.
	touching map[[32]byte]struct{}
}

type flight struct {
	done chan struct{}
	s    session.Session
	err  error
}

func newSessionCache() *sessionCache {
	c := &sessionCache{}
	for i := range c.shards {
		c.shards[i].m = map[[32]byte]cachedSession{}
		c.shards[i].flights = map[[32]byte]*flight{}
		c.shards[i].touching = map[[32]byte]struct{}{}
	}
	return c
}

func (c *sessionCache) shard(id [32]byte) *cacheShard { return &c.shards[id[0]&63] }

func fresh(e cachedSession, now time.Time) bool {
	// A clock that went backwards also misses, so a jump never extends a cached entry's life.
	return !now.Before(e.fetched) && now.Sub(e.fetched) < sessionCacheTTL
}

func (c *sessionCache) get(id [32]byte, now time.Time) (session.Session, bool) {
	sh := c.shard(id)
	sh.Lock()
	e, ok := sh.m[id]
	sh.Unlock()
	if !ok || !fresh(e, now) {
		return session.Session{}, false
	}
	return e.s, true
}

// load returns the session from the cache or, on a miss, from read, with at most one read per id at a time.
// read gets a context of its own (storeTimeout, not cancelled with the request that started it, since others
// may be waiting on it); a waiting request gives up when ctx ends. Only active sessions are cached, and
// only when no forget happened in the shard while the read ran.
func (c *sessionCache) load(ctx context.Context, id [32]byte, now time.Time,
	read func(context.Context) (session.Session, error)) (session.Session, error) {
	sh := c.shard(id)
	sh.Lock()
	if e, ok := sh.m[id]; ok && fresh(e, now) {
		sh.Unlock()
		return e.s, nil
	}
	if f, ok := sh.flights[id]; ok {
		sh.Unlock()
		select {
		case <-f.done:
			return f.s, f.err
		case <-ctx.Done():
			return session.Session{}, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	sh.flights[id] = f
	gen := sh.gen
	sh.Unlock()

	defer func() {
		sh.Lock()
		if sh.flights[id] == f { // a forget may have dropped it (and a newer read taken its place)
			delete(sh.flights, id)
		}
		if f.err == nil && f.s.State == session.StateActive && sh.gen == gen {
			sh.putLocked(id, f.s, now)
		}
		sh.Unlock()
		close(f.done)
	}()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	f.err = errStoreUnavailable // if read panics, the waiters are denied, not passed
	f.s, f.err = read(rctx)
	return f.s, f.err
}

// beginTouch reports whether this request is the one to write id's last-seen; if so it must call endTouch.
func (c *sessionCache) beginTouch(id [32]byte) bool {
	sh := c.shard(id)
	sh.Lock()
	defer sh.Unlock()
	if _, busy := sh.touching[id]; busy {
		return false
	}
	sh.touching[id] = struct{}{}
	return true
}

func (c *sessionCache) endTouch(id [32]byte) {
	sh := c.shard(id)
	sh.Lock()
	delete(sh.touching, id)
	sh.Unlock()
}

func (sh *cacheShard) putLocked(id [32]byte, s session.Session, now time.Time) {
	if len(sh.m) >= sessionCacheMax/64 {
		sh.m = map[[32]byte]cachedSession{}
	}
	sh.m[id] = cachedSession{s: s, fetched: now}
}

func (c *sessionCache) forget(id []byte) {
	if len(id) != 32 {
		return
	}
	sh := c.shard([32]byte(id))
	sh.Lock()
	delete(sh.m, [32]byte(id))
	// A read in flight began before this forget: requests from now on must not join it (they would get
	// the record as it was), so it is dropped here and the next request starts a read of its own.
	delete(sh.flights, [32]byte(id))
	sh.gen++
	sh.Unlock()
}

func (c *sessionCache) forgetTenant(tenant string) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.Lock()
		for k, e := range sh.m {
			if e.s.TenantID == tenant {
				delete(sh.m, k)
			}
		}
		clear(sh.flights) // as in forget: later requests start reads of their own
		sh.gen++
		sh.Unlock()
	}
}

func (c *sessionCache) forgetOperator(tenant, user string) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.Lock()
		for k, e := range sh.m {
			if e.s.TenantID == tenant && e.s.UserID == user {
				delete(sh.m, k)
			}
		}
		clear(sh.flights) // as in forget: later requests start reads of their own
		sh.gen++
		sh.Unlock()
	}
}

// invalidating wraps the store so every revocation made through this gateway (logout, admin reset, disable,
// sign out everywhere, the admin API) also drops the local cached copies at once.
type invalidating struct {
	store.Store
	c *sessionCache
	t *tenantCache
}

// PutTenant drops the cached tenant and its cached sessions: a change of the tenant's SSO settings or
// break-glass list decides which sessions stay valid (methodAllowed), at once in this process.
func (s invalidating) PutTenant(ctx context.Context, t directory.Tenant) error {
	s.forgetTenant(t.ID)
	err := s.Store.PutTenant(ctx, t)
	s.forgetTenant(t.ID)
	return err
}

func (s invalidating) forgetTenant(id string) {
	if s.t != nil {
		s.t.forget(id)
	}
	s.c.forgetTenant(id)
}

func (s invalidating) DeleteSession(ctx context.Context, tenantID string, id []byte) error {
	s.c.forget(id)
	err := s.Store.DeleteSession(ctx, tenantID, id)
	s.c.forget(id) // again: a concurrent request may have re-cached it between the two steps
	return err
}

func (s invalidating) DeleteOperatorSessions(ctx context.Context, tenantID, userID string) (int, error) {
	s.c.forgetOperator(tenantID, userID)
	n, err := s.Store.DeleteOperatorSessions(ctx, tenantID, userID)
	s.c.forgetOperator(tenantID, userID)
	return n, err
}

func (s invalidating) UpdateSession(ctx context.Context, id []byte, sess session.Session) error {
	// Forgotten after the write, not before: forgetting first made every request during the write miss and
	// read the old record. The next request reads the new one (one read, single flight). The last-seen touch
	// is written by one request per session at a time (beginTouch), so the others do not write it again.
	err := s.Store.UpdateSession(ctx, id, sess)
	s.c.forget(id)
	return err
}

func (s invalidating) UpdateOperator(ctx context.Context, o directory.Operator) error {
	// A disabled or demoted operator must not keep a cached role.
	s.c.forgetOperator(o.TenantID, o.ID)
	return s.Store.UpdateOperator(ctx, o)
}

// tenantCacheTTL is how long a tenant record read for the session check is reused. A change of a tenant's
// SSO settings made on another replica reaches sessions here within sessionCacheTTL + tenantCacheTTL.
const tenantCacheTTL = time.Second

// tenantCacheMax bounds memory; when full, the cache is emptied and refills from the store.
const tenantCacheMax = 10_000

type cachedTenant struct {
	t       directory.Tenant
	fetched time.Time
}

// tenantCache keeps tenant records for the check made when a session is read from the store (at most once a
// second per session), so that check costs one tenant read per tenant per second, not one per session.
type tenantCache struct {
	mu sync.Mutex
	m  map[string]cachedTenant
	// gen counts forgets: a tenant read that began before one (a settings change) is not cached after it.
	gen uint64
}

func newTenantCache() *tenantCache { return &tenantCache{m: map[string]cachedTenant{}} }

func (c *tenantCache) get(id string, now time.Time) (directory.Tenant, bool) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if !ok || now.Before(e.fetched) || now.Sub(e.fetched) >= tenantCacheTTL {
		return directory.Tenant{}, false
	}
	return e.t, true
}

// generation is read before a tenant read whose result putIf may cache.
func (c *tenantCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// putIf caches t unless a forget ran since gen was read.
func (c *tenantCache) putIf(id string, t directory.Tenant, now time.Time, gen uint64) {
	c.mu.Lock()
	if c.gen != gen {
		c.mu.Unlock()
		return
	}
	if len(c.m) >= tenantCacheMax {
		c.m = map[string]cachedTenant{}
	}
	c.m[id] = cachedTenant{t: t, fetched: now}
	c.mu.Unlock()
}

func (c *tenantCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.gen++
	c.mu.Unlock()
}
