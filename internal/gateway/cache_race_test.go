package gateway

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/admin"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
)

// slowReads lets a test hold a store read after it has read (the answer is "in the wire").
type slowReads struct {
	store.Store
	mu          sync.Mutex
	holdSession chan struct{} // when set, the next GetSession reads, signals readDone, then waits
	holdTenant  chan struct{} // same for GetTenant
	readDone    chan struct{}
}

func (s *slowReads) GetSession(ctx context.Context, tenant string, id []byte) (session.Session, error) {
	got, err := s.Store.GetSession(ctx, tenant, id)
	s.mu.Lock()
	hold := s.holdSession
	s.holdSession = nil
	s.mu.Unlock()
	if hold != nil {
		close(s.readDone)
		<-hold
	}
	return got, err
}

func (s *slowReads) GetTenant(ctx context.Context, id string) (directory.Tenant, error) {
	got, err := s.Store.GetTenant(ctx, id)
	s.mu.Lock()
	hold := s.holdTenant
	s.holdTenant = nil
	s.mu.Unlock()
	if hold != nil {
		close(s.readDone)
		<-hold
	}
	return got, err
}

// getWith sends one navigation GET of /x with exactly these cookies (no jar).
func getWith(t *testing.T, e *env, cookies []*http.Cookie) int {
	req, _ := http.NewRequest("GET", e.srv.URL+"/x", nil)
	req.Header.Set("Accept", "text/html")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// A request that arrives after a logout has completed must not join a store read that began before it
// (single flight): it would be let through with the revoked session. Found by a fresh-clone trial.
func TestRequestAfterLogoutNeverJoinsAnOlderRead(t *testing.T) {
	e := newEnv(t)
	hs := &slowReads{Store: e.st}
	e.st = hs
	b := e.browser()
	b.enroll("admin@acme.example", "correct horse battery", "/")
	if r := b.do("GET", "/x", nil); r.status != http.StatusOK {
		t.Fatalf("signed in: %d", r.status)
	}
	stolen := b.c.Jar.Cookies(mustURL(e.srv.URL))
	e.clk.Add(sessionCacheTTL) // the cached copy expires: the next request reads the store

	// Request A: its store read completes (session active) but the answer is slow to come back.
	hs.mu.Lock()
	hs.holdSession, hs.readDone = make(chan struct{}), make(chan struct{})
	release, readDone := hs.holdSession, hs.readDone
	hs.mu.Unlock()
	aDone := make(chan int)
	go func() { aDone <- getWith(t, e, stolen) }()
	<-readDone

	// The operator signs out; it completes.
	if r := b.do("POST", "/.vectis/logout", nil, "Origin", e.srv.URL); r.status != http.StatusOK {
		t.Fatalf("logout: %d %.200s", r.status, r.body)
	}

	// Request B (a replay of the stolen cookie) starts after the logout finished.
	bDone := make(chan int)
	go func() { bDone <- getWith(t, e, stolen) }()
	time.Sleep(100 * time.Millisecond) // B reaches the flight
	close(release)
	<-aDone
	sB := <-bDone
	if s := getWith(t, e, stolen); s != http.StatusSeeOther {
		t.Fatalf("replay after the flight ended: %d", s)
	}
	if sB == http.StatusOK {
		t.Fatalf("a request that began after logout completed was let through (status %d)", sB)
	}
}

// The tenant record read for a session check just before SSO is turned on must not be put into the tenant
// cache after PutTenant's forgets: for the next second, other password sessions of that tenant would be read
// against the stale record and pass. Found by a fresh-clone trial.
func TestTenantReadBeforeSSOOnIsNotCachedAfter(t *testing.T) {
	e, _ := ssoEnv(t, nil)
	hs := &slowReads{Store: e.st}
	e.st = hs
	ctx := context.Background()
	ops, err := e.g.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cli := admin.Actor{Kind: "cli", Email: "ops@vectis.example"}
	if _, err := ops.SetSSOEnabled(ctx, cli, "acme", false); err != nil {
		t.Fatal(err)
	}
	alice, bob := e.browser(), e.browser()
	alice.enroll("alice@acme.example", "alice password 1", "/")
	bob.enroll("bob@acme.example", "bob password 1", "/")
	e.clk.Add(sessionCacheTTL + tenantCacheTTL) // both caches cold

	// Alice's request reads the tenant (SSO off); the answer is slow to come back.
	hs.mu.Lock()
	hs.holdTenant, hs.readDone = make(chan struct{}), make(chan struct{})
	release, readDone := hs.holdTenant, hs.readDone
	hs.mu.Unlock()
	aDone := make(chan int)
	go func() { aDone <- alice.do("GET", "/x", nil).status }()
	<-readDone

	// SSO on, through this gateway: it completes.
	if _, err := ops.SetSSOEnabled(ctx, cli, "acme", true); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-aDone // (alice's own request began before: passing it is fair)

	// Bob's request begins after SSO is on; his password session must end.
	first := bob.do("GET", "/x", nil).status
	e.clk.Add(2 * time.Second)
	t.Logf("bob right after SSO on: %d; 2 s later: %d", first, bob.do("GET", "/x", nil).status)
	if first == http.StatusOK {
		t.Fatalf("a password session passed after SSO was turned on through this gateway (status %d)", first)
	}
}
