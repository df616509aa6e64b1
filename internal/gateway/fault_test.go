package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/credential"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/lockout"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
)

// faulty wraps a store and fails (or stalls past the deadline) on the Nth call counted from arm().
type faulty struct {
	store.Store
	calls atomic.Int64
	failN atomic.Int64 // 0: never
	stall atomic.Bool
}

var errInjected = fmt.Errorf("injected store fault")

func (f *faulty) hit(ctx context.Context) error {
	n := f.calls.Add(1)
	if want := f.failN.Load(); want != 0 && n == want {
		if f.stall.Load() {
			// A stalled store ends the call at the deadline; answer as the deadline would, without the wait.
			return context.DeadlineExceeded
		}
		return errInjected
	}
	return nil
}

func (f *faulty) arm(n int64, stall bool) { f.calls.Store(0); f.stall.Store(stall); f.failN.Store(n) }

func (f *faulty) GetTenant(ctx context.Context, id string) (directory.Tenant, error) {
	if err := f.hit(ctx); err != nil {
		return directory.Tenant{}, err
	}
	return f.Store.GetTenant(ctx, id)
}
func (f *faulty) GetOperator(ctx context.Context, t, id string) (directory.Operator, error) {
	if err := f.hit(ctx); err != nil {
		return directory.Operator{}, err
	}
	return f.Store.GetOperator(ctx, t, id)
}
func (f *faulty) OperatorByEmail(ctx context.Context, e string) (directory.Operator, error) {
	if err := f.hit(ctx); err != nil {
		return directory.Operator{}, err
	}
	return f.Store.OperatorByEmail(ctx, e)
}
func (f *faulty) CreateSession(ctx context.Context, id []byte, s session.Session) error {
	if err := f.hit(ctx); err != nil {
		return err
	}
	return f.Store.CreateSession(ctx, id, s)
}
func (f *faulty) GetSession(ctx context.Context, t string, id []byte) (session.Session, error) {
	if err := f.hit(ctx); err != nil {
		return session.Session{}, err
	}
	return f.Store.GetSession(ctx, t, id)
}
func (f *faulty) UpdateSession(ctx context.Context, id []byte, s session.Session) error {
	if err := f.hit(ctx); err != nil {
		return err
	}
	return f.Store.UpdateSession(ctx, id, s)
}
func (f *faulty) DeleteSession(ctx context.Context, t string, id []byte) error {
	if err := f.hit(ctx); err != nil {
		return err
	}
	return f.Store.DeleteSession(ctx, t, id)
}
func (f *faulty) Attempt(ctx context.Context, tag, key string, now time.Time, max int, w time.Duration) (lockout.Verdict, error) {
	if err := f.hit(ctx); err != nil {
		return lockout.Verdict{}, err
	}
	return f.Store.Attempt(ctx, tag, key, now, max, w)
}
func (f *faulty) Status(ctx context.Context, tag, key string, now time.Time) (lockout.Verdict, error) {
	if err := f.hit(ctx); err != nil {
		return lockout.Verdict{}, err
	}
	return f.Store.Status(ctx, tag, key, now)
}
func (f *faulty) Clear(ctx context.Context, tag, key string) error {
	if err := f.hit(ctx); err != nil {
		return err
	}
	return f.Store.Clear(ctx, tag, key)
}
func (f *faulty) GetCredentials(ctx context.Context, t, u string) (credential.Credentials, error) {
	if err := f.hit(ctx); err != nil {
		return credential.Credentials{}, err
	}
	return f.Store.GetCredentials(ctx, t, u)
}
func (f *faulty) ActivateTOTP(ctx context.Context, t, u string, s []byte, step int64, h [][]byte, at time.Time) (bool, error) {
	if err := f.hit(ctx); err != nil {
		return false, err
	}
	return f.Store.ActivateTOTP(ctx, t, u, s, step, h, at)
}
func (f *faulty) UseStep(ctx context.Context, t, u string, step int64) (bool, error) {
	if err := f.hit(ctx); err != nil {
		return false, err
	}
	return f.Store.UseStep(ctx, t, u, step)
}
func (f *faulty) ConsumeRecoveryCode(ctx context.Context, t, u string, h []byte) (bool, int, error) {
	if err := f.hit(ctx); err != nil {
		return false, 0, err
	}
	return f.Store.ConsumeRecoveryCode(ctx, t, u, h)
}
func (f *faulty) ReplaceRecoveryCodes(ctx context.Context, t, u string, h [][]byte) error {
	if err := f.hit(ctx); err != nil {
		return err
	}
	return f.Store.ReplaceRecoveryCodes(ctx, t, u, h)
}
func (f *faulty) AppendAudit(ctx context.Context, t string, e audit.Event, keep int) error {
	// Audit writes never decide anything; faults here are covered by the audit package.
	return f.Store.AppendAudit(ctx, t, e, keep)
}

// TestStoreFaultsAcrossEveryFlowDenyNeverPass injects a failure (and, separately, a stall past the deadline)
// at each store call of each flow in turn. Whatever call fails: the answer is 503 (never 200 from the upstream
// for an unauthenticated request, never 500), nothing half-done lets anyone in, and once the fault is gone the
// same flow works.
func TestStoreFaultsAcrossEveryFlowDenyNeverPass(t *testing.T) {
	for _, stall := range []bool{false, true} {
		name := "fail"
		if stall {
			name = "stall"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			f := &faulty{Store: e.st}
			e.st = f
			b := e.browser()
			secret, codes := b.enroll("admin@acme.example", "correct horse battery", "/")
			nextCode := 0 // a fault after a code was consumed uses that code up: take a fresh one each try
			steps := []struct {
				name string
				run  func(b *browser) resp
				ok   func(r resp) bool
			}{
				{"pass-through", func(b *browser) resp { e.clk.Add(2 * time.Second); return b.do("GET", "/app", nil) },
					func(r resp) bool { return r.status == http.StatusOK }},
				{"login", func(b *browser) resp {
					return b.post("/.vectis/login", url.Values{"email": {"admin@acme.example"}, "password": {"correct horse battery"}})
				}, func(r resp) bool { return r.loc == "/.vectis/mfa" }},
				{"mfa", func(b *browser) resp {
					e.clk.Add(30 * time.Second)
					return b.post("/.vectis/mfa", url.Values{"code": {e.code(secret, 0)}})
				}, func(r resp) bool { return r.status == http.StatusSeeOther }},
				{"logout", func(b *browser) resp { return b.post("/.vectis/logout", nil) },
					func(r resp) bool { return r.status == http.StatusOK && strings.Contains(r.body, "signed out") }},
				{"login again", func(b *browser) resp {
					return b.post("/.vectis/login", url.Values{"email": {"admin@acme.example"}, "password": {"correct horse battery"}})
				}, func(r resp) bool { return r.loc == "/.vectis/mfa" }},
				{"recovery", func(b *browser) resp {
					nextCode++
					return b.post("/.vectis/mfa/recovery", url.Values{"code": {codes[nextCode-1]}})
				}, func(r resp) bool { return r.status == http.StatusOK && strings.Contains(r.body, "data-codes-left") }},
				{"regenerate", func(b *browser) resp {
					e.clk.Add(30 * time.Second)
					return b.post("/.vectis/account/2fa", url.Values{"action": {"regenerate"}, "confirm": {"yes"}, "code": {e.code(secret, 0)}})
				}, func(r resp) bool { return r.status == http.StatusOK && strings.Contains(r.body, "data-recovery-code") }},
			}
			for _, st := range steps {
				// Fail call 1, 2, … until the step runs to completion without reaching the fault.
				for n := int64(1); ; n++ {
					before := e.up.count()
					e.fail.Store(false)
					f.arm(n, stall)
					r := st.run(b)
					reached := f.calls.Load() >= n
					f.arm(0, false)
					if !reached {
						if !st.ok(r) {
							t.Fatalf("%s: without a fault the step failed: %d %q", st.name, r.status, r.loc)
						}
						if n == 1 {
							t.Fatalf("%s: no store call was ever faulted", st.name)
						}
						t.Logf("%s: %d store calls, each faulted in turn", st.name, n-1)
						break
					}
					if r.status == http.StatusInternalServerError {
						t.Fatalf("%s, fault at call %d: 500", st.name, n)
					}
					if st.name != "pass-through" && e.up.count() != before {
						t.Fatalf("%s, fault at call %d: the upstream was reached", st.name, n)
					}
					if st.name == "pass-through" && r.status != http.StatusServiceUnavailable && r.status != http.StatusOK {
						t.Fatalf("pass-through, fault at call %d: %d", n, r.status)
					}
					if n > 40 {
						t.Fatalf("%s: more than 40 store calls", st.name)
					}
					// Re-establish the state the step expects, whatever the fault left behind (every state is safe).
					switch st.name {
					case "mfa", "recovery":
						b.post("/.vectis/login", url.Values{"email": {"admin@acme.example"}, "password": {"correct horse battery"}})
					case "logout", "regenerate", "pass-through":
						e.clk.Add(2 * time.Second)
						if b.do("GET", "/app", nil).status != http.StatusOK {
							e.clk.Add(30 * time.Second)
							b.post("/.vectis/login", url.Values{"email": {"admin@acme.example"}, "password": {"correct horse battery"}})
							if r := b.post("/.vectis/mfa", url.Values{"code": {e.code(secret, 0)}}); r.status != http.StatusSeeOther {
								t.Fatalf("re-signing in after a fault: %d", r.status)
							}
						}
					}
				}
			}
		})
	}
}

// TestClockJumps: a clock that jumps forward ends sessions and windows (never extends them); one that jumps
// backward neither revives an ended session nor unlocks an account early.
func TestClockJumps(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.enroll("admin@acme.example", "correct horse battery", "/")
	e.clk.Add(-2 * time.Hour)
	if r := b.do("GET", "/app", nil); r.status != http.StatusOK {
		t.Fatalf("after a backward jump: %d", r.status)
	}
	e.clk.Add(2*time.Hour + 13*time.Hour)
	if r := b.do("GET", "/app", nil); r.status != http.StatusSeeOther {
		t.Fatalf("after a 13 h forward jump: %d", r.status)
	}
	e.clk.Add(-13 * time.Hour)
	if r := b.do("GET", "/app", nil); r.status != http.StatusSeeOther {
		t.Fatalf("an ended session came back after the clock went back: %d", r.status)
	}
	// Lock the account, then jump back: still locked (the window is anchored at the first failure).
	tech := e.browser()
	tech.enroll("tech@acme.example", "tech password 1", "/")
	for i := 0; i < 5; i++ {
		x := e.browser()
		x.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
		x.post("/.vectis/mfa", url.Values{"code": {"000000"}})
	}
	e.clk.Add(-30 * time.Minute)
	x := e.browser()
	x.post("/.vectis/login", url.Values{"email": {"tech@acme.example"}, "password": {"tech password 1"}})
	if r := x.post("/.vectis/mfa", url.Values{"code": {"111111"}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("backward jump unlocked the account: %d", r.status)
	}
}
