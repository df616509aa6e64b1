package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/store"
)

// onceLife is the lifetime of single-use records in tests that do not wait for expiry.
const onceLife = 10 * time.Minute

func mustPutOnce(t *testing.T, s store.Store, tag, key string, v []byte) {
	t.Helper()
	if err := s.PutOnce(ctx(t), tag, key, v, onceLife); err != nil {
		t.Fatalf("PutOnce(%q, %q): %v", tag, key, err)
	}
}

func wantTaken(t *testing.T, s store.Store, tag, key string, want []byte) {
	t.Helper()
	got, err := s.TakeOnce(ctx(t), tag, key)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("TakeOnce(%q, %q) = %q, %v; want %q", tag, key, got, err, want)
	}
}

func wantGone(t *testing.T, s store.Store, tag, key string) {
	t.Helper()
	if got, err := s.TakeOnce(ctx(t), tag, key); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("TakeOnce(%q, %q) = %q, %v; want ErrNotFound", tag, key, got, err)
	}
}

// Single-use records carry SSO sign-in attempts: a state value that could be taken twice would let a
// replayed callback sign in again.
var onceTests = []test{
	{"TakeReturnsOnceThenNotFound", func(t *testing.T, s store.Store) {
		v := []byte("attempt\x00with binary {data} and 100%")
		mustPutOnce(t, s, "acme", "k1", v)
		wantTaken(t, s, "acme", "k1", v)
		wantGone(t, s, "acme", "k1")
		wantGone(t, s, "acme", "never-put")
	}},
	{"PutRefusesATakenKey", func(t *testing.T, s store.Store) {
		mustPutOnce(t, s, "acme", "k1", []byte("first"))
		if err := s.PutOnce(ctx(t), "acme", "k1", []byte("second"), onceLife); !errors.Is(err, directory.ErrExists) {
			t.Fatalf("second PutOnce of one key: %v, want ErrExists", err)
		}
		wantTaken(t, s, "acme", "k1", []byte("first"))
		// Once taken, the key may be used again.
		mustPutOnce(t, s, "acme", "k1", []byte("third"))
		wantTaken(t, s, "acme", "k1", []byte("third"))
	}},
	{"TagsAndKeysAreSeparate", func(t *testing.T, s store.Store) {
		// Hash-tag and separator characters must not let one (tag, key) alias another.
		pairs := [][2]string{{"acme", "k"}, {"beta", "k"}, {"acme", "k}"}, {"acme}", "k"}, {"ac", "me:k"},
			{"ac{me", "k"}, {"acme", "%7Dk"}, {"acme%7D", "k"}}
		for i, p := range pairs {
			mustPutOnce(t, s, p[0], p[1], []byte{byte('a' + i)})
		}
		for i, p := range pairs {
			wantTaken(t, s, p[0], p[1], []byte{byte('a' + i)})
		}
	}},
	{"RefusesANonPositiveLifetime", func(t *testing.T, s store.Store) {
		for _, ttl := range []time.Duration{0, -time.Second} {
			if err := s.PutOnce(ctx(t), "acme", "k", []byte("v"), ttl); err == nil {
				t.Fatalf("PutOnce with lifetime %s succeeded", ttl)
			}
		}
		wantGone(t, s, "acme", "k")
	}},
	{"ExpiresAfterItsLifetime", func(t *testing.T, s store.Store) {
		// The one wait in the suite: the lifetime is the backend's own (Redis TTL, bolt's wall clock).
		if err := s.PutOnce(ctx(t), "acme", "short", []byte("v"), 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		mustPutOnce(t, s, "acme", "long", []byte("w"))
		time.Sleep(500 * time.Millisecond)
		wantGone(t, s, "acme", "short")
		wantTaken(t, s, "acme", "long", []byte("w"))
		// An expired key is free again.
		mustPutOnce(t, s, "acme", "short", []byte("x"))
		wantTaken(t, s, "acme", "short", []byte("x"))
	}},
	{"ConcurrentTakersGetItOnce", func(t *testing.T, s store.Store) {
		mustPutOnce(t, s, "acme", "state", []byte("v"))
		type result struct {
			v   []byte
			err error
		}
		rs := parallel(racers, func(int) result {
			v, err := s.TakeOnce(ctx(t), "acme", "state")
			return result{v, err}
		})
		got := 0
		for i, r := range rs {
			switch {
			case r.err == nil && bytes.Equal(r.v, []byte("v")):
				got++
			case errors.Is(r.err, directory.ErrNotFound):
			default:
				t.Fatalf("racer %d: %q, %v", i, r.v, r.err)
			}
		}
		if got != 1 {
			t.Fatalf("%d parallel takes of one record: %d got it, want exactly 1", racers, got)
		}
	}},
}

func withSSOKey(o directory.Operator, key string) directory.Operator {
	o.SSOKey = key
	return o
}

func wantBySSOKey(t *testing.T, s store.Store, tenantID, key string, want directory.Operator) {
	t.Helper()
	got, err := s.OperatorBySSOKey(ctx(t), tenantID, key)
	if err != nil {
		t.Fatalf("OperatorBySSOKey(%s, %q): %v", tenantID, key, err)
	}
	wantOperator(t, got, want)
}

func wantNoSSOKey(t *testing.T, s store.Store, tenantID, key string) {
	t.Helper()
	if got, err := s.OperatorBySSOKey(ctx(t), tenantID, key); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("OperatorBySSOKey(%s, %q) = %s, %v; want ErrNotFound", tenantID, key, got.ID, err)
	}
}

const (
	keyAlice = "https://idp.acme.example|00u1alice"
	keyBob   = "https://idp.acme.example|00u2bob"
	keyEntra = "9188040d-6c67-4c5b-b112-36a304b66dad/00000000-0000-0000-66f3-3332eca7ea81"
)

// The SSO key index maps an IdP identity to the one operator it signs in as; a stale or shared entry would
// sign one person in as another.
var ssoKeyTests = []test{
	{"CreateWithKeyIsFound", func(t *testing.T, s store.Store) {
		alice := withSSOKey(operator("acme", "u1", "alice@acme.example", directory.RoleMember), keyAlice)
		entra := withSSOKey(operator("acme", "u2", "eve@acme.example", directory.RoleAdmin), keyEntra)
		mustCreate(t, s, alice)
		mustCreate(t, s, entra)
		mustCreate(t, s, operator("acme", "u3", "carol@acme.example", directory.RoleMember))
		wantBySSOKey(t, s, "acme", keyAlice, alice)
		wantBySSOKey(t, s, "acme", keyEntra, entra)
		wantNoSSOKey(t, s, "acme", keyBob)
		wantNoSSOKey(t, s, "acme", "")
		// The index is per tenant: tenant B never resolves tenant A's identity.
		wantNoSSOKey(t, s, "beta", keyAlice)
	}},
	{"CreateRefusesATakenKey", func(t *testing.T, s store.Store) {
		alice := withSSOKey(operator("acme", "u1", "alice@acme.example", directory.RoleMember), keyAlice)
		mustCreate(t, s, alice)
		bob := withSSOKey(operator("acme", "u2", "bob@acme.example", directory.RoleMember), keyAlice)
		if err := s.CreateOperator(ctx(t), bob); !errors.Is(err, directory.ErrExists) {
			t.Fatalf("CreateOperator with another operator's SSO key: %v, want ErrExists", err)
		}
		// Nothing of the refused operator was written: its email and id are still free.
		if _, err := s.OperatorByEmail(ctx(t), "bob@acme.example"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("refused operator's email resolves: %v", err)
		}
		if _, err := s.GetOperator(ctx(t), "acme", "u2"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("refused operator's id resolves: %v", err)
		}
		mustCreate(t, s, withSSOKey(bob, keyBob))
		wantBySSOKey(t, s, "acme", keyAlice, alice)
		// Another tenant may hold the same key: tenants have separate IdP settings.
		other := withSSOKey(operator("beta", "u1", "alice@beta.example", directory.RoleMember), keyAlice)
		mustCreate(t, s, other)
		wantBySSOKey(t, s, "beta", keyAlice, other)
		wantBySSOKey(t, s, "acme", keyAlice, alice)
	}},
	{"UpdateLinksMovesAndUnlinks", func(t *testing.T, s store.Store) {
		alice := operator("acme", "u1", "alice@acme.example", directory.RoleMember)
		mustCreate(t, s, alice)
		wantNoSSOKey(t, s, "acme", keyAlice)

		alice.SSOKey = keyAlice // first link
		if err := s.UpdateOperator(ctx(t), alice); err != nil {
			t.Fatal(err)
		}
		wantBySSOKey(t, s, "acme", keyAlice, alice)

		alice.Disabled = true // an unrelated change keeps the link (and the lookup shows the new record)
		if err := s.UpdateOperator(ctx(t), alice); err != nil {
			t.Fatal(err)
		}
		wantBySSOKey(t, s, "acme", keyAlice, alice)

		alice.SSOKey = keyBob // relinked to another identity: the old one no longer resolves
		if err := s.UpdateOperator(ctx(t), alice); err != nil {
			t.Fatal(err)
		}
		wantNoSSOKey(t, s, "acme", keyAlice)
		wantBySSOKey(t, s, "acme", keyBob, alice)

		alice.SSOKey = "" // unlinked (an admin reset)
		if err := s.UpdateOperator(ctx(t), alice); err != nil {
			t.Fatal(err)
		}
		wantNoSSOKey(t, s, "acme", keyBob)
		got, err := s.GetOperator(ctx(t), "acme", "u1")
		if err != nil {
			t.Fatal(err)
		}
		wantOperator(t, got, alice)
	}},
	{"UpdateRefusesAnotherOperatorsKey", func(t *testing.T, s store.Store) {
		alice := withSSOKey(operator("acme", "u1", "alice@acme.example", directory.RoleMember), keyAlice)
		bob := withSSOKey(operator("acme", "u2", "bob@acme.example", directory.RoleMember), keyBob)
		mustCreate(t, s, alice)
		mustCreate(t, s, bob)
		stolen := bob
		stolen.SSOKey = keyAlice
		stolen.Role = directory.RoleAdmin
		if err := s.UpdateOperator(ctx(t), stolen); !errors.Is(err, directory.ErrExists) {
			t.Fatalf("UpdateOperator onto another operator's SSO key: %v, want ErrExists", err)
		}
		// Nothing changed: not the record, not either link.
		got, err := s.GetOperator(ctx(t), "acme", "u2")
		if err != nil {
			t.Fatal(err)
		}
		wantOperator(t, got, bob)
		wantBySSOKey(t, s, "acme", keyAlice, alice)
		wantBySSOKey(t, s, "acme", keyBob, bob)
	}},
	{"ConcurrentLinksOfOneKeyOneWins", func(t *testing.T, s store.Store) {
		ops := make([]directory.Operator, racers)
		for i := range ops {
			ops[i] = operator("acme", "u"+string(rune('a'+i)), "op"+string(rune('a'+i))+"@acme.example", directory.RoleMember)
			mustCreate(t, s, ops[i])
		}
		errs := parallel(racers, func(i int) error {
			o := ops[i]
			o.SSOKey = keyAlice
			return s.UpdateOperator(ctx(t), o)
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("operators %d and %d both linked one SSO key", winner, i)
				}
				winner = i
			case !errors.Is(err, directory.ErrExists):
				t.Fatalf("racer %d: %v", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no racer linked the key")
		}
		want := ops[winner]
		want.SSOKey = keyAlice
		wantBySSOKey(t, s, "acme", keyAlice, want)
	}},
}
