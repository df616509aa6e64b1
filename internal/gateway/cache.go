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
	shards [64]struct {
		sync.Mutex
		m map[[32]byte]cachedSession
	}
}

func newSessionCache() *sessionCache {
	c := &sessionCache{}
	for i := range c.shards {
		c.shards[i].m = map[[32]byte]cachedSession{}
	}
	return c
}

func (c *sessionCache) get(id [32]byte, now time.Time) (session.Session, bool) {
	sh := &c.shards[id[0]&63]
	sh.Lock()
	e, ok := sh.m[id]
	sh.Unlock()
	// A clock that went backwards also misses, so a jump never extends a cached entry's life.
	if !ok || now.Before(e.fetched) || now.Sub(e.fetched) >= sessionCacheTTL {
		return session.Session{}, false
	}
	return e.s, true
}

func (c *sessionCache) put(id [32]byte, s session.Session, now time.Time) {
	sh := &c.shards[id[0]&63]
	sh.Lock()
	if len(sh.m) >= sessionCacheMax/64 {
		sh.m = map[[32]byte]cachedSession{}
	}
	sh.m[id] = cachedSession{s: s, fetched: now}
	sh.Unlock()
}

func (c *sessionCache) forget(id []byte) {
	if len(id) != 32 {
		return
	}
	var k [32]byte
	copy(k[:], id)
	sh := &c.shards[k[0]&63]
	sh.Lock()
	delete(sh.m, k)
	sh.Unlock()
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
		sh.Unlock()
	}
}

// invalidating wraps the store so every revocation made through this gateway (logout, admin reset, disable,
// sign out everywhere, the admin API) also drops the local cached copies at once.
type invalidating struct {
	store.Store
	c *sessionCache
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
	// Forget after the write, not before: forgetting first made every request during the write miss the
	// cache and write last-seen again (a touch storm the bench measured).
	err := s.Store.UpdateSession(ctx, id, sess)
	s.c.forget(id)
	return err
}

func (s invalidating) UpdateOperator(ctx context.Context, o directory.Operator) error {
	// A disabled or demoted operator must not keep a cached role.
	s.c.forgetOperator(o.TenantID, o.ID)
	return s.Store.UpdateOperator(ctx, o)
}
