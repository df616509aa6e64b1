package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
)

// A revocation made on another replica takes effect here within sessionCacheTTL (1 s), on both backends.
func TestRevocationReachesOtherReplicaWithinOneSecond(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnvOn(t, backend)
			b := e.browser()
			b.enroll("admin@acme.example", "correct horse battery", "/")

			replica2 := e.replica(t)
			get := func() int { return replica2(b) }
			if s := get(); s != http.StatusOK {
				t.Fatalf("replica 2 before revocation: %d", s)
			}
			// Revoke through replica 1 (its store wrapper; replica 2's cache is not told).
			st, _, _ := e.g.backend(context.Background())
			op, _ := e.st.OperatorByEmail(context.Background(), "admin@acme.example")
			if _, err := st.DeleteOperatorSessions(context.Background(), "acme", op.ID); err != nil {
				t.Fatal(err)
			}
			if r := b.do("GET", "/x", nil); r.status != http.StatusSeeOther {
				t.Fatalf("replica 1 after its own revocation: %d", r.status)
			}
			e.clk.Add(sessionCacheTTL)
			if s := get(); s != http.StatusUnauthorized {
				t.Fatalf("replica 2 one second after revocation: %d", s)
			}
		})
	}
}

func TestSessionCacheNeverOutlivesTTLOrClockJumps(t *testing.T) {
	c := newSessionCache()
	t0 := time.Unix(1_800_000_000, 0)
	id := [32]byte{7}
	c.put(id, sessionForTest(), t0)
	if _, ok := c.get(id, t0.Add(999*time.Millisecond)); !ok {
		t.Fatal("fresh entry missed")
	}
	if _, ok := c.get(id, t0.Add(time.Second)); ok {
		t.Fatal("entry served at its TTL")
	}
	if _, ok := c.get(id, t0.Add(-time.Minute)); ok {
		t.Fatal("entry served after the clock went backwards")
	}
	c.forgetOperator("acme", "op_1")
	if _, ok := c.get(id, t0); ok {
		t.Fatal("forgotten operator still cached")
	}
}

func sessionForTest() session.Session {
	return session.Session{TenantID: "acme", UserID: "op_1", State: "active"}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// At a cache expiry every request in flight for a session misses at once; they share one store read.
func TestSessionCacheOneReadPerMiss(t *testing.T) {
	c := newSessionCache()
	now := time.Unix(1_800_000_000, 0)
	id := [32]byte{9}
	var reads atomic.Int32
	release := make(chan struct{})
	read := func(ctx context.Context) (session.Session, error) {
		reads.Add(1)
		<-release
		return sessionForTest(), nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := c.load(context.Background(), id, now, read)
			if err == nil && s.UserID != "op_1" {
				err = errors.New("wrong session " + s.UserID)
			}
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them all reach the flight
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d store reads for one miss", n)
	}
	if _, ok := c.get(id, now); !ok {
		t.Fatal("result not cached")
	}
}

// A revocation (forget) that lands while a read is in flight wins: the read's record, fetched before the
// revocation, is handed to the requests already waiting but is not cached for later ones.
func TestSessionCacheForgetDuringReadIsNotCached(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	id := [32]byte{10}
	for name, revoke := range map[string]func(c *sessionCache){
		"logout (forget)": func(c *sessionCache) { c.forget(id[:]) },
		// The operator-wide forget (sign out everywhere, reset) does the same.
		"sign out everywhere (forgetOperator)": func(c *sessionCache) { c.forgetOperator("acme", "op_1") },
		"tenant change (forgetTenant)":         func(c *sessionCache) { c.forgetTenant("acme") },
	} {
		c := newSessionCache()
		started, release := make(chan struct{}), make(chan struct{})
		done := make(chan error)
		go func() {
			_, err := c.load(context.Background(), id, now, func(context.Context) (session.Session, error) {
				close(started)
				<-release
				return sessionForTest(), nil
			})
			done <- err
		}()
		<-started
		revoke(c)
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := c.get(id, now); ok {
			t.Fatalf("%s: a record read before the revocation was cached after it", name)
		}
	}
}

// The request that started a read may go away; the read goes on for the others (its context is its own, with
// storeTimeout), and a waiter whose own request ends gets an error (a 503), never a session.
func TestSessionCacheReadOutlivesItsStarter(t *testing.T) {
	c := newSessionCache()
	now := time.Unix(1_800_000_000, 0)
	id := [32]byte{11}
	started, release := make(chan struct{}), make(chan struct{})
	starterCtx, cancelStarter := context.WithCancel(context.Background())
	var readErr error
	go func() {
		_, _ = c.load(starterCtx, id, now, func(ctx context.Context) (session.Session, error) {
			close(started)
			<-release
			readErr = ctx.Err()
			if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > storeTimeout {
				readErr = errors.New("read has no storeTimeout deadline")
			}
			return sessionForTest(), nil
		})
	}()
	<-started
	waiterCtx, cancelWaiter := context.WithCancel(context.Background())
	waiter := make(chan error)
	go func() {
		_, err := c.load(waiterCtx, id, now, func(context.Context) (session.Session, error) {
			return session.Session{}, errors.New("a second read ran")
		})
		waiter <- err
	}()
	cancelStarter()
	cancelWaiter()
	if err := <-waiter; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter whose request ended: %v", err)
	}
	follower := make(chan error)
	go func() {
		s, err := c.load(context.Background(), id, now, func(context.Context) (session.Session, error) {
			return session.Session{}, errors.New("a second read ran")
		})
		if err == nil && s.UserID != "op_1" {
			err = errors.New("wrong session")
		}
		follower <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-follower; err != nil {
		t.Fatal(err)
	}
	if readErr != nil {
		t.Fatalf("the read saw: %v", readErr)
	}
}

// The store wrapper drops a written session from the cache after the write (not before: requests during the
// write keep the cached copy), so the next request reads the record as written — and a session revoked
// during the write can never be put back.
func TestInvalidatingUpdateSession(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	id := [32]byte{12}
	c := newSessionCache()
	var during func()
	st := invalidating{Store: updateHook{fn: func() error {
		if during != nil {
			during()
		}
		return nil
	}}, c: c}
	s := sessionForTest()
	c.put(id, s, now)
	during = func() {
		if _, ok := c.get(id, now); !ok {
			t.Error("the cached copy was dropped before the write ended")
		}
	}
	if err := st.UpdateSession(context.Background(), id[:], s); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.get(id, now); ok {
		t.Fatal("the old copy is still cached after the write")
	}
}

// One request per session writes last-seen at a time; the others in flight skip it.
func TestOneTouchAtATime(t *testing.T) {
	c := newSessionCache()
	id := [32]byte{13}
	if !c.beginTouch(id) {
		t.Fatal("first touch refused")
	}
	if c.beginTouch(id) {
		t.Fatal("a second touch of the same session while the first runs")
	}
	if !c.beginTouch([32]byte{14}) {
		t.Fatal("another session's touch refused")
	}
	c.endTouch(id)
	if !c.beginTouch(id) {
		t.Fatal("touch refused after the first ended")
	}
}

type updateHook struct {
	store.Store
	fn func() error
}

func (u updateHook) UpdateSession(context.Context, []byte, session.Session) error { return u.fn() }

// put caches s as a store read at now would (tests only; the gateway fills the cache through load).
func (c *sessionCache) put(id [32]byte, s session.Session, now time.Time) {
	sh := c.shard(id)
	sh.Lock()
	sh.putLocked(id, s, now)
	sh.Unlock()
}

// replica starts a second gateway over the environment's store and clock — its own caches, as another
// replica has — and returns a function that sends GET /x there with a browser's cookies and gives the status.
func (e *env) replica(t *testing.T) func(b *browser) int {
	t.Helper()
	g2, err := New(e.g.cfg, func(context.Context) (store.Store, error) { return e.st, nil }, Options{Now: e.clk.Now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = g2.Handle(w, r, e.up.next) }))
	t.Cleanup(srv2.Close)
	return func(b *browser) int {
		req, _ := http.NewRequest("GET", srv2.URL+"/x", nil)
		for _, c := range b.c.Jar.Cookies(mustURL(e.srv.URL)) {
			req.AddCookie(c)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
}
