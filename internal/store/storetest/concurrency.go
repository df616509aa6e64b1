package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/store"
)

// racers is how many goroutines submit at once: enough to overlap on every backend, well above the limits.
const racers = 20

type verdict struct {
	ok   bool
	left int
	err  error
}

func countOK(t *testing.T, rs []verdict) int {
	t.Helper()
	n := 0
	for i, r := range rs {
		if r.err != nil {
			t.Fatalf("racer %d: %v", i, r.err)
		}
		if r.ok {
			n++
		}
	}
	return n
}

// These are the security properties the whole design leans on (invariants 4 and 5): check-and-count and
// check-and-use are single atomic steps, so a burst of parallel submissions gets no more than one go.
var concurrencyTests = []test{
	{"AttemptCountsExactly", func(t *testing.T, s store.Store) {
		now := lockBase()
		rs := parallel(racers, func(int) verdict {
			v, err := s.Attempt(ctx(t), "acme", "u1", now, lockMax, lockWindow)
			return verdict{ok: v.Allowed, left: v.Count, err: err}
		})
		if n := countOK(t, rs); n != lockMax {
			t.Fatalf("%d parallel attempts with max %d: %d allowed, want exactly %d", racers, lockMax, n, lockMax)
		}
		// Each allowed attempt saw its own count: 1..max, each once.
		seen := map[int]bool{}
		for _, r := range rs {
			if r.ok {
				if seen[r.left] || r.left < 1 || r.left > lockMax {
					t.Fatalf("allowed attempts reported counts %v; want 1..%d each once", rs, lockMax)
				}
				seen[r.left] = true
			}
		}
		v, err := s.Status(ctx(t), "acme", "u1", now)
		if err != nil || v.Count != lockMax {
			t.Fatalf("Status after the burst = %+v, %v; want Count %d", v, err, lockMax)
		}
	}},
	{"RecoveryCodeOnce", func(t *testing.T, s store.Store) {
		codes := hashes("r", 10)
		activate(t, s, "acme", "u1", []byte("sealed"), firstStep, codes)
		rs := parallel(racers, func(int) verdict {
			ok, left, err := s.ConsumeRecoveryCode(ctx(t), "acme", "u1", codes[0])
			return verdict{ok, left, err}
		})
		if n := countOK(t, rs); n != 1 {
			t.Fatalf("%d parallel uses of one recovery code: %d succeeded, want exactly 1", racers, n)
		}
		for _, r := range rs {
			if r.ok && r.left != 9 {
				t.Fatalf("the winning use reported %d left, want 9", r.left)
			}
		}
		wantCreds(t, s, "acme", "u1", []byte("sealed"), firstStep, 9)
	}},
	{"DistinctRecoveryCodesInParallel", func(t *testing.T, s store.Store) {
		// Parallel uses of different codes all succeed and the count drops by exactly their number.
		codes := hashes("r", 10)
		activate(t, s, "acme", "u1", []byte("sealed"), firstStep, codes)
		rs := parallel(racers, func(i int) verdict {
			ok, left, err := s.ConsumeRecoveryCode(ctx(t), "acme", "u1", codes[i%10])
			return verdict{ok, left, err}
		})
		if n := countOK(t, rs); n != 10 {
			t.Fatalf("%d parallel uses of 10 codes (each twice): %d succeeded, want 10", racers, n)
		}
		wantCreds(t, s, "acme", "u1", []byte("sealed"), firstStep, 0)
	}},
	{"UseStepOnce", func(t *testing.T, s store.Store) {
		activate(t, s, "acme", "u1", []byte("sealed"), firstStep, hashes("r", 10))
		rs := parallel(racers, func(int) verdict {
			ok, err := s.UseStep(ctx(t), "acme", "u1", firstStep+1)
			return verdict{ok: ok, err: err}
		})
		if n := countOK(t, rs); n != 1 {
			t.Fatalf("%d parallel uses of one TOTP step: %d succeeded, want exactly 1", racers, n)
		}
		wantCreds(t, s, "acme", "u1", []byte("sealed"), firstStep+1, 10)
	}},
	{"ActivateTOTPOnce", func(t *testing.T, s store.Store) {
		rs := parallel(racers, func(i int) verdict {
			ok, err := s.ActivateTOTP(ctx(t), "acme", "u1", fmt.Appendf(nil, "sealed-%d", i), firstStep,
				hashes(fmt.Sprintf("r%d-", i), 10), base)
			return verdict{ok: ok, err: err}
		})
		if n := countOK(t, rs); n != 1 {
			t.Fatalf("%d parallel activations: %d succeeded, want exactly 1", racers, n)
		}
		winner := -1
		for i, r := range rs {
			if r.ok {
				winner = i
			}
		}
		// The stored secret and codes are the winner's, not a mix.
		wantCreds(t, s, "acme", "u1", fmt.Appendf(nil, "sealed-%d", winner), firstStep, 10)
		loser := (winner + 1) % racers
		wantConsume(t, s, "a losing activation's code", hashes(fmt.Sprintf("r%d-", loser), 10)[0], false, 10)
		wantConsume(t, s, "the winning activation's code", hashes(fmt.Sprintf("r%d-", winner), 10)[0], true, 9)
	}},
	{"CreateOperatorEmailOnce", func(t *testing.T, s store.Store) {
		// Two tenants racing to claim one email: exactly one gets it, the rest see ErrExists.
		rs := parallel(racers, func(i int) verdict {
			err := s.CreateOperator(ctx(t), operator(fmt.Sprintf("t%d", i), "u1", "shared@example.com", directory.RoleAdmin))
			if errors.Is(err, directory.ErrExists) {
				return verdict{}
			}
			return verdict{ok: err == nil, err: err}
		})
		if n := countOK(t, rs); n != 1 {
			t.Fatalf("%d parallel creations with one email: %d succeeded, want exactly 1", racers, n)
		}
		o, err := s.OperatorByEmail(ctx(t), "shared@example.com")
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			if r.ok && o.TenantID != fmt.Sprintf("t%d", i) {
				t.Fatalf("email points at %s, but t%d won", o.TenantID, i)
			}
		}
	}},
	{"PutMetaIfAbsentAgrees", func(t *testing.T, s store.Store) {
		type got struct {
			v   []byte
			err error
		}
		rs := parallel(racers, func(i int) got {
			v, err := s.PutMetaIfAbsent(ctx(t), "signing_key", fmt.Appendf(nil, "key-%d", i))
			return got{v, err}
		})
		for i, r := range rs {
			if r.err != nil {
				t.Fatalf("racer %d: %v", i, r.err)
			}
			if !sameBytes(r.v, rs[0].v) {
				t.Fatalf("racers disagree: %q vs %q", r.v, rs[0].v)
			}
		}
		stored, err := s.GetMeta(ctx(t), "signing_key")
		if err != nil || !sameBytes(stored, rs[0].v) {
			t.Fatalf("GetMeta = %q, %v; want %q", stored, err, rs[0].v)
		}
		var offered bool
		for i := range racers {
			offered = offered || string(stored) == fmt.Sprintf("key-%d", i)
		}
		if !offered {
			t.Fatalf("stored %q was never offered", stored)
		}
	}},
	{"SessionRevokeWhileUpdating", func(t *testing.T, s store.Store) {
		// Updates racing a revocation must never resurrect the session.
		id := sessionID("a")
		sess := newSession("acme", "u1", "active")
		mustCreateSession(t, s, id, sess)
		rs := parallel(racers, func(i int) verdict {
			if i == racers/2 {
				n, err := s.DeleteOperatorSessions(ctx(t), "acme", "u1")
				return verdict{ok: n == 1, err: err}
			}
			up := sess
			up.LastSeen = up.LastSeen.Add(time.Duration(i) * time.Second)
			return verdict{err: ignoreNotFound(s.UpdateSession(ctx(t), id, up))}
		})
		if n := countOK(t, rs); n != 1 {
			t.Fatal("DeleteOperatorSessions did not report the one session")
		}
		wantNoSession(t, s, "acme", id, "after revocation raced with updates")
	}},
}
