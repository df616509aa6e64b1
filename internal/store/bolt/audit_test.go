package bolt

import (
	"testing"

	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/store/storetest"
)

func TestAuditConformance(t *testing.T) {
	storetest.RunAudit(t, func(t *testing.T) audit.Store {
		s, _ := openTemp(t)
		return s
	})
}

// A trail written before a restart is still there, and appending after it continues the sequence.
func TestAuditSurvivesReopen(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	for _, typ := range []string{audit.SignInFailure, audit.Lockout} {
		if err := s.AppendAudit(ctx, "acme", audit.Event{Type: typ, Tenant: "acme"}, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.AppendAudit(ctx, "acme", audit.Event{Type: audit.Unlock, Tenant: "acme"}, 2); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListAudit(ctx, "acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != audit.Unlock || got[1].Type != audit.Lockout {
		t.Fatalf("trail after reopen = %+v; want unlock, lockout", got)
	}
}
