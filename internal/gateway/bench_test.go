package gateway

// Micro-benchmarks of the per-request and per-sign-in costs (issue 7). The end-to-end figures, next to bare
// Caddy and oauth2-proxy, come from bench/run; these isolate one piece each so a regression points at its cause:
//
//	go test -run '^$' -bench . -benchmem ./internal/gateway/
//
// The lockout check-and-count is benchmarked where it lives, against each backend:
//
//	go test -run '^$' -bench Attempt -benchmem ./internal/store/bolt/ ./internal/store/redis/

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/config"
	"github.com/vectis/mfa-gateway/internal/assertion"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/store/bolt"
	redisstore "github.com/vectis/mfa-gateway/internal/store/redis"
	"github.com/vectis/mfa-gateway/internal/store/redis/redistest"
	"github.com/vectis/mfa-gateway/internal/totp"
)

// benchEnv is newEnvOn for benchmarks: a gateway on a real store holding one active session. The session is
// written straight into the store (the flow tests cover how sign-in makes one); only its check is timed.
type benchEnv struct {
	g      *Gateway
	cookie string   // "vectis_session=<token>"
	id     [32]byte // store id of the session
	passed atomic.Int64
}

// benchNow is the fixed clock: with time standing still the last-seen touch (once a minute) and the
// assertion re-signing (every four minutes) never fall inside the timed loop, so each case times one thing.
var benchNow = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func newBenchEnv(b *testing.B, backend string) *benchEnv {
	b.Helper()
	cfg := config.Config{
		PortalHosts: []string{"portal.example.com"},
		Storage:     config.Storage{Kind: "bolt", Path: filepath.Join(b.TempDir(), "gw.db")},
		SecretKey:   []byte("0123456789abcdef0123456789abcdef"),
	}
	cfg.Normalize()
	var st store.Store
	var err error
	switch backend {
	case "bolt":
		st, err = bolt.Open(cfg.Storage.Path, bolt.Options{})
	case "redis":
		st, err = redisstore.Open(redistest.Start(b).URL(), redisstore.Options{})
	default:
		b.Fatalf("unknown backend %q", backend)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	open := func(context.Context) (store.Store, error) { return st, nil }
	g, err := New(cfg, open, Options{Now: func() time.Time { return benchNow }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	// The tenant's record is read once a second with the session (its sign-in method is checked against it).
	if err := st.PutTenant(context.Background(), directory.Tenant{ID: "acme", Name: "Acme MSP"}); err != nil {
		b.Fatal(err)
	}
	tok, id, err := g.newToken("acme")
	if err != nil {
		b.Fatal(err)
	}
	s := session.Session{TenantID: "acme", UserID: "u1", Email: "admin@acme.example", Role: "admin",
		State: session.StateActive, Auth: "password+totp", CreatedAt: benchNow, LastSeen: benchNow,
		ExpiresAt: benchNow.Add(12 * time.Hour), MFAAt: benchNow}
	if err := st.CreateSession(context.Background(), id[:], s); err != nil {
		b.Fatal(err)
	}
	return &benchEnv{g: g, cookie: sessionCookie + "=" + tok, id: id}
}

// nopWriter is a ResponseWriter that keeps nothing, so the timing is the gateway's alone.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

func (e *benchEnv) next(http.ResponseWriter, *http.Request) error {
	e.passed.Add(1)
	return nil
}

// serve runs one request for host through the gateway. Handle rewrites the headers (strips the cookie, adds
// the identity), so each call gets a fresh header map: one small allocation that every case shares.
func (e *benchEnv) serve(r *http.Request, w *nopWriter) error {
	r.Header = http.Header{"Cookie": {e.cookie}, "Accept": {"text/html"}}
	return e.g.Handle(w, r, e.next)
}

func must(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}

// check fails the benchmark unless every request reached next: a denied request is cheap and would make
// the figure look better than the real pass-through.
func (e *benchEnv) check(b *testing.B, want int64) {
	if got := e.passed.Load(); got != want {
		b.Fatalf("%d of %d requests reached the upstream", got, want)
	}
}

func newBenchRequest(host string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://"+host+"/dashboard?tab=1", nil)
	return r
}

// BenchmarkSessionCheck times the authenticated pass-through (everything the gateway does before the
// upstream sees the request: header stripping, cookie parse, session lookup, identity headers, assertion).
//
//	hit:  the session is in the 1-s read-through cache (all but one request per second per session)
//	miss: the cache is emptied before every request, so each one reads the store
//	portal: the portal-host pass-through, which never touches the store (the floor)
func BenchmarkSessionCheck(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			e := newBenchEnv(b, backend)
			r := newBenchRequest("app.example.com")
			w := &nopWriter{h: http.Header{}}
			must(b, e.serve(r, w)) // opens the store, signs and caches the first assertion
			e.passed.Store(0)

			b.Run("hit", func(b *testing.B) {
				e.passed.Store(0)
				b.ReportAllocs()
				n := int64(0)
				for b.Loop() {
					must(b, e.serve(r, w))
					n++
				}
				e.check(b, n)
			})
			b.Run("miss", func(b *testing.B) {
				e.passed.Store(0)
				b.ReportAllocs()
				n := int64(0)
				for b.Loop() {
					e.g.sessions.forget(e.id[:])
					must(b, e.serve(r, w))
					n++
				}
				e.check(b, n)
			})
			b.Run("hit-parallel", func(b *testing.B) {
				e.passed.Store(0)
				b.ReportAllocs()
				var n atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					r := newBenchRequest("app.example.com")
					w := &nopWriter{h: http.Header{}}
					for pb.Next() {
						if err := e.serve(r, w); err != nil {
							b.Error(err) // not Fatal: this is not the benchmark's own goroutine
							return
						}
						n.Add(1)
					}
				})
				e.check(b, n.Load())
			})
		})
	}
	b.Run("portal", func(b *testing.B) {
		e := newBenchEnv(b, "bolt")
		r := newBenchRequest("portal.example.com")
		w := &nopWriter{h: http.Header{}}
		b.ReportAllocs()
		n := int64(0)
		for b.Loop() {
			must(b, e.serve(r, w))
			n++
		}
		e.check(b, n)
	})
}

// BenchmarkTOTPVerify times one code check: three HMAC-SHA1 steps compared in constant time. A wrong code
// costs the same as a right one (no early exit), which the two cases show.
func BenchmarkTOTPVerify(b *testing.B) {
	secret := make([]byte, 20)
	if _, err := rand.Read(secret); err != nil {
		b.Fatal(err)
	}
	now := benchNow
	good := totp.CodeAt(secret, totp.StepAt(now))
	wrong := "000000"
	for _, c := range []string{"000000", "111111", "222222"} {
		if _, ok := totp.Verify(secret, c, now); !ok {
			wrong = c
			break
		}
	}
	for _, tc := range []struct {
		name, code string
		want       bool
	}{{"match", good, true}, {"wrong", wrong, false}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := totp.Verify(secret, tc.code, now); ok != tc.want {
					b.Fatalf("Verify(%s) = %v, want %v", tc.name, ok, tc.want)
				}
			}
		})
	}
}

// BenchmarkAssertion compares signing the ES256 identity assertion on every request with the per-session
// cache the gateway uses (re-signed once less than a minute of its five-minute life is left).
func BenchmarkAssertion(b *testing.B) {
	der, err := assertion.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s, err := assertion.NewSigner(der)
	if err != nil {
		b.Fatal(err)
	}
	c := assertion.Claims{Issuer: "vectis-gateway", Audience: "app.example.com", Subject: "u1",
		Email: "admin@acme.example", Tenant: "acme", Role: "admin", AMR: []string{"pwd", "otp", "mfa"},
		IssuedAt: benchNow.Unix(), Expiry: benchNow.Add(assertion.Lifetime).Unix()}
	b.Run("sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Sign(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		var id [32]byte
		if _, err := s.For(id, c, benchNow); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.For(id, c, benchNow); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPasswordVerify times one wrong-password check (argon2id, the parameters new hashes get): the
// cost every sign-in attempt pays, and what the hasher's concurrency bound multiplies under attack.
func BenchmarkPasswordVerify(b *testing.B) {
	h := directory.NewHasher(0)
	ctx := context.Background()
	enc, err := h.Hash(ctx, rand.Reader, "correct horse battery")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ok, err := h.Verify(ctx, enc, "wrong password")
		if err != nil || ok {
			b.Fatalf("Verify = %v, %v; want false, nil", ok, err)
		}
	}
}
