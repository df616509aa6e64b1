package bolt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/vectis/mfa-gateway/internal/credential"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "gateway.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// openTemp opens a store in a fresh directory and closes it when the test ends.
func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

var id32 = bytes.Repeat([]byte{0xab}, 32)

func TestReopenPersists(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutTenant(ctx, directory.Tenant{ID: "acme", Name: "Acme", CreatedAt: now}))
	must(s.CreateOperator(ctx, directory.Operator{ID: "u1", TenantID: "acme", Email: "alice@acme.example", Role: directory.RoleAdmin, CreatedAt: now}))
	must(s.CreateSession(ctx, id32, session.Session{TenantID: "acme", UserID: "u1", State: session.StateActive, ExpiresAt: now.Add(time.Hour)}))
	codes := [][]byte{[]byte("hash-1"), []byte("hash-2")}
	if ok, err := s.ActivateTOTP(ctx, "acme", "u1", []byte("sealed"), 100, codes, now); err != nil || !ok {
		t.Fatalf("ActivateTOTP = %v, %v", ok, err)
	}
	if ok, _, err := s.ConsumeRecoveryCode(ctx, "acme", "u1", codes[0]); err != nil || !ok {
		t.Fatalf("ConsumeRecoveryCode = %v, %v", ok, err)
	}
	if ok, err := s.UseStep(ctx, "acme", "u1", 101); err != nil || !ok {
		t.Fatalf("UseStep = %v, %v", ok, err)
	}
	for range 5 {
		if _, err := s.Attempt(ctx, "acme", "u1", now, 5, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutMetaIfAbsent(ctx, "signing_key", []byte("k1")); err != nil {
		t.Fatal(err)
	}
	must(s.Close())

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })

	if tn, err := s.GetTenant(ctx, "acme"); err != nil || tn.Name != "Acme" {
		t.Fatalf("tenant after reopen = %+v, %v", tn, err)
	}
	if o, err := s.OperatorByEmail(ctx, "alice@acme.example"); err != nil || o.ID != "u1" {
		t.Fatalf("operator after reopen = %+v, %v", o, err)
	}
	if sess, err := s.GetSession(ctx, "acme", id32); err != nil || sess.UserID != "u1" {
		t.Fatalf("session after reopen = %+v, %v", sess, err)
	}
	c, err := s.GetCredentials(ctx, "acme", "u1")
	if err != nil || string(c.SecretSealed) != "sealed" || c.LastStep != 101 || c.RecoveryLeft != 1 {
		t.Fatalf("credentials after reopen = %+v, %v", c, err)
	}
	// A used code and a used step stay used across a restart.
	if ok, left, err := s.ConsumeRecoveryCode(ctx, "acme", "u1", codes[0]); err != nil || ok || left != 1 {
		t.Fatalf("used code after reopen = %v, %d, %v; want false, 1", ok, left, err)
	}
	if ok, err := s.UseStep(ctx, "acme", "u1", 101); err != nil || ok {
		t.Fatalf("used step after reopen = %v, %v; want false", ok, err)
	}
	// And a lock survives a restart.
	if v, err := s.Attempt(ctx, "acme", "u1", now.Add(time.Minute), 5, 15*time.Minute); err != nil || v.Allowed || v.Count != 5 {
		t.Fatalf("lockout after reopen = %+v, %v; want refused at 5", v, err)
	}
	if v, err := s.GetMeta(ctx, "signing_key"); err != nil || string(v) != "k1" {
		t.Fatalf("meta after reopen = %q, %v", v, err)
	}
	if n, err := s.DeleteOperatorSessions(ctx, "acme", "u1"); err != nil || n != 1 {
		t.Fatalf("session index after reopen: DeleteOperatorSessions = %d, %v; want 1", n, err)
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "vectis")
	path := filepath.Join(dir, "gateway.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Fatalf("Path() = %q, want %q", s.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("file mode %v, want 0600", got)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Fatalf("directory mode %v, want 0700", got)
	}
}

func TestOpenUnwritablePath(t *testing.T) {
	tmp := t.TempDir()
	// A regular file where a directory should be: fails even for root, unlike a permission bit.
	blocker := filepath.Join(tmp, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		filepath.Join(blocker, "gateway.db"),
		filepath.Join(blocker, "sub", "gateway.db"),
		tmp, // a directory, not a file
	} {
		s, err := Open(path, Options{})
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) succeeded", path)
		}
		if want := "opening bolt store at " + path + ": "; !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("Open(%s) error %q, want it to start with %q", path, err, want)
		}
	}
	if _, err := Open("", Options{}); err == nil {
		t.Fatal("Open with an empty path succeeded")
	}
}

func TestOpenLockedFileTimesOut(t *testing.T) {
	// A second open of the same file (what an overlapping reload would do) fails after Timeout
	// instead of hanging.
	_, path := openTemp(t)
	start := time.Now()
	s, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, bolterrors.ErrTimeout) || !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open error = %v; want a timeout naming the lock and the path", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("second Open took %s", waited)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
	// Closed means no verdicts: a caller must see an error, never a zero value read as an answer.
	if _, err := s.Attempt(t.Context(), "acme", "u1", time.Now(), 5, time.Minute); err == nil {
		t.Fatal("Attempt after Close returned no error")
	}
}

func TestGetSessionLeavesExpiryToCaller(t *testing.T) {
	s, _ := openTemp(t)
	past := time.Now().Add(-30 * time.Minute)
	if err := s.CreateSession(t.Context(), id32, session.Session{TenantID: "acme", UserID: "u1", ExpiresAt: past}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSession(t.Context(), "acme", id32)
	if err != nil || !got.ExpiresAt.Equal(past) {
		t.Fatalf("GetSession of a session past ExpiresAt = %+v, %v; want it returned for the gateway to judge", got, err)
	}
}

func TestSweep(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sessions := []struct {
		name    string
		user    string
		expires time.Time
		kept    bool
	}{
		{"long expired", "u1", now.Add(-2 * time.Hour), false},
		{"just past the grace", "u1", now.Add(-time.Hour - time.Second), false},
		{"expired within the grace hour", "u1", now.Add(-30 * time.Minute), true},
		{"still valid", "u1", now.Add(time.Hour), true},
		{"other operator, expired", "u2", now.Add(-3 * time.Hour), false},
	}
	ids := make([][]byte, len(sessions))
	for i, x := range sessions {
		ids[i] = bytes.Repeat([]byte{byte(i + 1)}, 32)
		err := s.CreateSession(ctx, ids[i], session.Session{TenantID: "acme", UserID: x.user, ExpiresAt: x.expires})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Counters: one whose window ended long ago, one that ended within the hour, one running.
	for i, start := range []time.Time{now.Add(-3 * time.Hour), now.Add(-20 * time.Minute), now.Add(-5 * time.Minute)} {
		if _, err := s.Attempt(ctx, "acme", string(rune('a'+i)), start, 5, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	r, err := s.sweep(now)
	if err != nil {
		t.Fatal(err)
	}
	if r != (sweepResult{Sessions: 3, Counters: 1}) {
		t.Fatalf("sweep = %+v, want 3 sessions and 1 counter removed", r)
	}
	for i, x := range sessions {
		_, err := s.GetSession(ctx, "acme", ids[i])
		if kept := err == nil; kept != x.kept {
			t.Fatalf("%s: kept=%v (err %v), want kept=%v", x.name, kept, err, x.kept)
		}
	}
	// The index lost the swept sessions too: no stale entry is left, and revocation counts survivors only.
	var indexed int
	if err := s.db.View(func(tx *bbolt.Tx) error {
		indexed = countKeys(tx.Bucket(bucketUserSessions))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if indexed != 2 {
		t.Fatalf("%d index entries after sweep, want 2", indexed)
	}
	if n, err := s.DeleteOperatorSessions(ctx, "acme", "u1"); err != nil || n != 2 {
		t.Fatalf("DeleteOperatorSessions after sweep = %d, %v; want 2", n, err)
	}
	if v, _ := s.Status(ctx, "acme", "a", now.Add(-3*time.Hour)); v.Count != 0 {
		t.Fatalf("swept counter still counts: %+v", v)
	}
	if v, _ := s.Status(ctx, "acme", "c", now); v.Count != 1 {
		t.Fatalf("running counter swept: %+v", v)
	}
	// A second sweep finds nothing more.
	if r, err := s.sweep(now); err != nil || r != (sweepResult{}) {
		t.Fatalf("second sweep = %+v, %v", r, err)
	}
}

func TestSweepSkipsUnreadable(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSessions).Put([]byte("bad"), []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	old := bytes.Repeat([]byte{1}, 32)
	if err := s.CreateSession(t.Context(), old, session.Session{TenantID: "acme", UserID: "u1", ExpiresAt: time.Now().Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r, err := s.sweep(time.Now())
	if err != nil || r != (sweepResult{Sessions: 1, Unreadable: 1}) {
		t.Fatalf("sweep = %+v, %v; want the readable one removed and the bad one reported", r, err)
	}
}

func TestEmailNormalizedOnWrite(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t)
	if err := s.CreateOperator(ctx, directory.Operator{ID: "u1", TenantID: "acme", Email: " Alice@Acme.EXAMPLE ", Role: directory.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	o, err := s.OperatorByEmail(ctx, "alice@acme.example")
	if err != nil || o.Email != "alice@acme.example" {
		t.Fatalf("OperatorByEmail = %+v, %v; want the normalized email stored", o, err)
	}
	if _, err := s.OperatorByEmail(ctx, "ALICE@acme.example"); err != nil {
		t.Fatalf("OperatorByEmail with capitals: %v", err)
	}
	// A second account differing only in case would be a second identity for one mailbox.
	err = s.CreateOperator(ctx, directory.Operator{ID: "u2", TenantID: "globex", Email: "alice@ACME.example", Role: directory.RoleAdmin})
	if !errors.Is(err, directory.ErrExists) {
		t.Fatalf("CreateOperator with a case variant: %v, want ErrExists", err)
	}
	o.Role = directory.RoleMember
	o.Email = "ALICE@acme.example"
	if err := s.UpdateOperator(ctx, o); err != nil {
		t.Fatalf("UpdateOperator with a case variant of the same email: %v", err)
	}
}

func TestInvalidInputsAreErrors(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t)
	nul := "acme\x00u1"
	checks := []struct {
		name string
		err  error
	}{
		{"PutTenant without id", s.PutTenant(ctx, directory.Tenant{})},
		{"CreateOperator without email", s.CreateOperator(ctx, directory.Operator{ID: "u1", TenantID: "acme"})},
		{"CreateOperator with NUL in tenant", s.CreateOperator(ctx, directory.Operator{ID: "u1", TenantID: nul, Email: "a@b.c"})},
		{"CreateSession with empty id", s.CreateSession(ctx, nil, session.Session{TenantID: "acme", UserID: "u1"})},
		{"Clear with NUL in tag", s.Clear(ctx, nul, "k")},
	}
	for _, c := range checks {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	// NUL would let one key alias another ("acme\x00u1" + "k" against "acme" + "u1\x00k"): refused.
	if v, err := s.Attempt(ctx, nul, "k", time.Now(), 5, time.Minute); err == nil {
		t.Errorf("Attempt with NUL in tag = %+v, no error", v)
	}
	for _, max := range []int{0, -1} {
		if v, err := s.Attempt(ctx, "acme", "u1", time.Now(), max, time.Minute); err == nil {
			t.Errorf("Attempt with max %d = %+v, no error", max, v)
		}
	}
	if v, err := s.Attempt(ctx, "acme", "u1", time.Now(), 5, 0); err == nil {
		t.Errorf("Attempt with zero window = %+v, no error", v)
	}
	if _, err := s.GetOperator(ctx, "acme", "u1\x00x"); err == nil || errors.Is(err, directory.ErrNotFound) {
		t.Errorf("GetOperator with NUL: %v, want an input error", err)
	}
	if ok, err := s.ActivateTOTP(ctx, "acme", "u1", nil, 1, nil, time.Now()); err == nil || ok {
		t.Errorf("ActivateTOTP without a secret = %v, %v; want an error", ok, err)
	}
	if _, err := s.GetCredentials(ctx, "acme", "u1"); !errors.Is(err, credential.ErrNotEnrolled) {
		t.Errorf("a refused ActivateTOTP enrolled the operator: %v", err)
	}
	if ok, err := s.ActivateTOTP(ctx, "acme", "u1", []byte("s"), 1, [][]byte{{}}, time.Now()); err == nil || ok {
		t.Errorf("ActivateTOTP with an empty code hash = %v, %v; want an error", ok, err)
	}
	if _, err := s.GetCredentials(ctx, "acme", "u1"); !errors.Is(err, credential.ErrNotEnrolled) {
		t.Errorf("a failed ActivateTOTP left a half-written enrollment: %v", err)
	}
}

func TestStatusAllowed(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t)
	now := time.Now()
	if v, err := s.Status(ctx, "acme", "u1", now); err != nil || !v.Allowed || v.Count != 0 || !v.WindowEnd.IsZero() {
		t.Fatalf("Status of a missing counter = %+v, %v", v, err)
	}
	for i := range 5 {
		v, err := s.Status(ctx, "acme", "u1", now)
		if err != nil || (i > 0 && !v.Allowed) {
			t.Fatalf("Status at count %d = %+v, %v; want allowed", i, v, err)
		}
		if _, err := s.Attempt(ctx, "acme", "u1", now, 5, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Status(ctx, "acme", "u1", now); err != nil || v.Allowed || v.Count != 5 {
		t.Fatalf("Status when locked = %+v, %v; want not allowed at 5", v, err)
	}
	if v, err := s.Status(ctx, "acme", "u1", now.Add(time.Minute)); err != nil || !v.Allowed || v.Count != 0 {
		t.Fatalf("Status after the window = %+v, %v; want allowed at 0", v, err)
	}
}

func TestCanceledContext(t *testing.T) {
	s, _ := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping: %v, want context.Canceled", err)
	}
	if ok, err := s.UseStep(ctx, "acme", "u1", 1); !errors.Is(err, context.Canceled) || ok {
		t.Fatalf("UseStep = %v, %v; want context.Canceled", ok, err)
	}
}

func BenchmarkGetSession(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	sess := session.Session{TenantID: "acme", UserID: "u1", Email: "alice@acme.example", Role: "admin",
		State: session.StateActive, Auth: "password+totp", CreatedAt: time.Now(), LastSeen: time.Now(),
		ExpiresAt: time.Now().Add(12 * time.Hour), MFAAt: time.Now(), Next: "/dashboard"}
	if err := s.CreateSession(ctx, id32, sess); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetSession(ctx, "acme", id32); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAttempt(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// A fresh minute per call keeps every attempt a counted write (the common, fsync'd path)
		// rather than the cheaper refusal.
		if _, err := s.Attempt(ctx, "acme", "u1", now.Add(time.Duration(i)*time.Minute), 5, time.Minute); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
