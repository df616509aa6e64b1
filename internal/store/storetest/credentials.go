package storetest

import (
	"errors"
	"testing"

	"github.com/vectis/mfa-gateway/internal/credential"
	"github.com/vectis/mfa-gateway/internal/store"
)

const firstStep = int64(59_000_000) // a realistic TOTP step (unix time / 30)

func activate(t *testing.T, s store.Store, tenantID, userID string, sealed []byte, step int64, codes [][]byte) {
	t.Helper()
	ok, err := s.ActivateTOTP(ctx(t), tenantID, userID, sealed, step, codes, base)
	if err != nil || !ok {
		t.Fatalf("ActivateTOTP(%s/%s) = %v, %v; want true", tenantID, userID, ok, err)
	}
}

func wantCreds(t *testing.T, s store.Store, tenantID, userID string, sealed []byte, lastStep int64, left int) {
	t.Helper()
	c, err := s.GetCredentials(ctx(t), tenantID, userID)
	if err != nil {
		t.Fatalf("GetCredentials(%s/%s): %v", tenantID, userID, err)
	}
	if !sameBytes(c.SecretSealed, sealed) || !c.EnrolledAt.Equal(base) || c.LastStep != lastStep || c.RecoveryLeft != left {
		t.Fatalf("GetCredentials = {secret:%x enrolled:%s last:%d left:%d}, want {secret:%x enrolled:%s last:%d left:%d}",
			c.SecretSealed, c.EnrolledAt, c.LastStep, c.RecoveryLeft, sealed, base, lastStep, left)
	}
}

func wantNotEnrolled(t *testing.T, s store.Store, tenantID, userID string) {
	t.Helper()
	if c, err := s.GetCredentials(ctx(t), tenantID, userID); !errors.Is(err, credential.ErrNotEnrolled) {
		t.Fatalf("GetCredentials(%s/%s) = %+v, %v; want ErrNotEnrolled", tenantID, userID, c, err)
	}
}

func consume(t *testing.T, s store.Store, tenantID, userID string, h []byte) (bool, int) {
	t.Helper()
	ok, left, err := s.ConsumeRecoveryCode(ctx(t), tenantID, userID, h)
	if err != nil {
		t.Fatalf("ConsumeRecoveryCode: %v", err)
	}
	return ok, left
}

func wantConsume(t *testing.T, s store.Store, what string, h []byte, wantOK bool, wantLeft int) {
	t.Helper()
	ok, left := consume(t, s, "acme", "u1", h)
	if ok != wantOK || left != wantLeft {
		t.Fatalf("%s: ConsumeRecoveryCode = %v, %d; want %v, %d", what, ok, left, wantOK, wantLeft)
	}
}

func useStep(t *testing.T, s store.Store, tenantID, userID string, step int64) bool {
	t.Helper()
	ok, err := s.UseStep(ctx(t), tenantID, userID, step)
	if err != nil {
		t.Fatalf("UseStep(%d): %v", step, err)
	}
	return ok
}

var credentialTests = []test{
	{"NotEnrolled", func(t *testing.T, s store.Store) {
		wantNotEnrolled(t, s, "acme", "u1")
		if useStep(t, s, "acme", "u1", firstStep) {
			t.Fatal("UseStep for an operator who is not enrolled = true")
		}
		if ok, left := consume(t, s, "acme", "u1", hash("anything")); ok || left != 0 {
			t.Fatalf("ConsumeRecoveryCode not enrolled = %v, %d; want false, 0", ok, left)
		}
		if err := s.ReplaceRecoveryCodes(ctx(t), "acme", "u1", hashes("r", 10)); !errors.Is(err, credential.ErrNotEnrolled) {
			t.Fatalf("ReplaceRecoveryCodes not enrolled: %v, want ErrNotEnrolled", err)
		}
		// Replacing codes must not have enrolled anyone or left codes behind.
		wantNotEnrolled(t, s, "acme", "u1")
		if ok, _ := consume(t, s, "acme", "u1", hashes("r", 10)[0]); ok {
			t.Fatal("a code given to a refused ReplaceRecoveryCodes works")
		}
		if err := s.ResetMFA(ctx(t), "acme", "u1"); err != nil {
			t.Fatalf("ResetMFA with nothing stored: %v", err)
		}
	}},
	{"ActivateOnlyOnce", func(t *testing.T, s store.Store) {
		codes := hashes("r", 10)
		activate(t, s, "acme", "u1", []byte("sealed-1"), firstStep, codes)
		wantCreds(t, s, "acme", "u1", []byte("sealed-1"), firstStep, 10)

		// A second enrollment (a replayed or racing confirm) must not swap the secret or the codes.
		other := hashes("x", 10)
		ok, err := s.ActivateTOTP(ctx(t), "acme", "u1", []byte("sealed-2"), firstStep+100, other, base.Add(1))
		if err != nil || ok {
			t.Fatalf("second ActivateTOTP = %v, %v; want false", ok, err)
		}
		wantCreds(t, s, "acme", "u1", []byte("sealed-1"), firstStep, 10)
		wantConsume(t, s, "code from the refused activation", other[0], false, 10)
		wantConsume(t, s, "original code", codes[0], true, 9)

		// Enrollment is per operator and per tenant.
		wantNotEnrolled(t, s, "acme", "u2")
		wantNotEnrolled(t, s, "globex", "u1")
		activate(t, s, "globex", "u1", []byte("sealed-g"), firstStep, hashes("g", 3))
		wantCreds(t, s, "globex", "u1", []byte("sealed-g"), firstStep, 3)
		wantCreds(t, s, "acme", "u1", []byte("sealed-1"), firstStep, 9)
	}},
	{"UseStepOnlyIncreasing", func(t *testing.T, s store.Store) {
		activate(t, s, "acme", "u1", []byte("sealed"), firstStep, hashes("r", 10))
		rows := []struct {
			step int64
			want bool
			why  string
		}{
			{firstStep, false, "the step used to confirm enrollment"},
			{firstStep - 1, false, "an earlier step"},
			{firstStep + 1, true, "the next step"},
			{firstStep + 1, false, "the same step again (replay)"},
			{firstStep + 5, true, "a later step"},
			{firstStep + 3, false, "a step between old and new"},
			{firstStep + 5, false, "the latest step again"},
			{firstStep + 6, true, "the step after"},
		}
		for _, r := range rows {
			if got := useStep(t, s, "acme", "u1", r.step); got != r.want {
				t.Fatalf("UseStep(%s) = %v, want %v", r.why, got, r.want)
			}
		}
		wantCreds(t, s, "acme", "u1", []byte("sealed"), firstStep+6, 10)
		// Another operator's steps are its own.
		activate(t, s, "acme", "u2", []byte("sealed-2"), firstStep, hashes("u2-", 3))
		if !useStep(t, s, "acme", "u2", firstStep+1) {
			t.Fatal("u2's step refused because of u1's")
		}
	}},
	{"ConsumeRecoveryCode", func(t *testing.T, s store.Store) {
		codes := hashes("r", 10)
		activate(t, s, "acme", "u1", []byte("sealed"), firstStep, codes)
		wantConsume(t, s, "first use", codes[3], true, 9)
		wantConsume(t, s, "same code again", codes[3], false, 9)
		wantConsume(t, s, "unknown code", hash("not a code"), false, 9)
		// Comparison is by exact bytes: a prefix or a one-bit change is another hash.
		wantConsume(t, s, "prefix of a code", codes[4][:16], false, 9)
		flipped := append([]byte(nil), codes[4]...)
		flipped[31] ^= 1
		wantConsume(t, s, "code with one bit flipped", flipped, false, 9)
		wantConsume(t, s, "empty hash", []byte{}, false, 9)
		// Another operator's code is not this operator's.
		activate(t, s, "acme", "u2", []byte("sealed-2"), firstStep, hashes("u2-", 2))
		wantConsume(t, s, "another operator's code", hashes("u2-", 2)[0], false, 9)
		for i, c := range codes {
			if i == 3 {
				continue
			}
			ok, _ := consume(t, s, "acme", "u1", c)
			if !ok {
				t.Fatalf("code %d refused", i)
			}
		}
		wantCreds(t, s, "acme", "u1", []byte("sealed"), firstStep, 0)
		wantConsume(t, s, "after all are used", codes[0], false, 0)
		if ok, left := consume(t, s, "acme", "u2", hashes("u2-", 2)[1]); !ok || left != 1 {
			t.Fatalf("u2's code = %v, %d; want true, 1", ok, left)
		}
	}},
	{"ReplaceRecoveryCodes", func(t *testing.T, s store.Store) {
		old := hashes("old", 10)
		activate(t, s, "acme", "u1", []byte("sealed"), firstStep, old)
		wantConsume(t, s, "old code before regenerating", old[0], true, 9)
		fresh := hashes("new", 10)
		if err := s.ReplaceRecoveryCodes(ctx(t), "acme", "u1", fresh); err != nil {
			t.Fatal(err)
		}
		wantCreds(t, s, "acme", "u1", []byte("sealed"), firstStep, 10)
		for i, h := range old {
			if ok, _ := consume(t, s, "acme", "u1", h); ok {
				t.Fatalf("old code %d still works after regenerating", i)
			}
		}
		wantConsume(t, s, "new code", fresh[9], true, 9)
		// Replacing again with fewer codes leaves exactly those.
		if err := s.ReplaceRecoveryCodes(ctx(t), "acme", "u1", fresh[:2]); err != nil {
			t.Fatal(err)
		}
		wantConsume(t, s, "code not in the latest set", fresh[5], false, 2)
		wantConsume(t, s, "code in the latest set", fresh[1], true, 1)
		// The secret and used steps are untouched by regenerating codes.
		if useStep(t, s, "acme", "u1", firstStep) {
			t.Fatal("ReplaceRecoveryCodes reset the used-step state")
		}
	}},
	{"ResetMFA", func(t *testing.T, s store.Store) {
		codes := hashes("r", 10)
		activate(t, s, "acme", "u1", []byte("sealed"), firstStep, codes)
		if !useStep(t, s, "acme", "u1", firstStep+10) {
			t.Fatal("UseStep refused")
		}
		activate(t, s, "acme", "u2", []byte("sealed-u2"), firstStep, hashes("u2-", 10))
		if err := s.ResetMFA(ctx(t), "acme", "u1"); err != nil {
			t.Fatal(err)
		}
		wantNotEnrolled(t, s, "acme", "u1")
		if ok, left := consume(t, s, "acme", "u1", codes[0]); ok || left != 0 {
			t.Fatalf("old code after reset = %v, %d; want false, 0", ok, left)
		}
		if useStep(t, s, "acme", "u1", firstStep+11) {
			t.Fatal("UseStep after reset = true")
		}
		// Re-enrollment works, with a fresh used-step state (a lower step than before is fine now).
		fresh := hashes("fresh", 10)
		activate(t, s, "acme", "u1", []byte("sealed-again"), firstStep+5, fresh)
		wantCreds(t, s, "acme", "u1", []byte("sealed-again"), firstStep+5, 10)
		if ok, _ := consume(t, s, "acme", "u1", codes[1]); ok {
			t.Fatal("a code from before the reset works after re-enrollment")
		}
		wantConsume(t, s, "code from re-enrollment", fresh[0], true, 9)
		// The other operator kept everything.
		wantCreds(t, s, "acme", "u2", []byte("sealed-u2"), firstStep, 10)
		if err := s.ResetMFA(ctx(t), "acme", "u1"); err != nil {
			t.Fatal(err)
		}
		if err := s.ResetMFA(ctx(t), "acme", "u1"); err != nil {
			t.Fatalf("second ResetMFA: %v", err)
		}
	}},
}
