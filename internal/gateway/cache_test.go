package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
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

			// Replica 2: its own gateway (own cache) over the same store and clock.
			g2, err := New(e.g.cfg, func(context.Context) (store.Store, error) { return e.st, nil }, Options{Now: e.clk.Now, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = g2.Handle(w, r, e.up.next) }))
			defer srv2.Close()
			get := func() int {
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
