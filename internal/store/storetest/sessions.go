package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
)

// newSession builds a session that ends in the future of the wall clock: backends may use ExpiresAt as
// a storage lifetime (a Redis TTL), so a past ExpiresAt would let them drop it before the test looks.
func newSession(tenantID, userID string, state session.State) session.Session {
	created := time.Now().UTC().Truncate(time.Second)
	return session.Session{
		TenantID:  tenantID,
		UserID:    userID,
		Email:     userID + "@" + tenantID + ".example",
		Role:      "member",
		State:     state,
		Auth:      "password+totp",
		CreatedAt: created,
		LastSeen:  created,
		ExpiresAt: created.Add(2 * time.Hour),
		MFAAt:     created,
		Next:      "/tickets?id=7",
	}
}

func normSession(s session.Session) session.Session {
	s.CreatedAt = s.CreatedAt.UTC()
	s.LastSeen = s.LastSeen.UTC()
	s.ExpiresAt = s.ExpiresAt.UTC()
	s.MFAAt = s.MFAAt.UTC()
	return s
}

func wantSession(t *testing.T, got, want session.Session) {
	t.Helper()
	if !reflect.DeepEqual(normSession(got), normSession(want)) {
		t.Fatalf("session mismatch\n got %+v\nwant %+v", got, want)
	}
}

func mustCreateSession(t *testing.T, s store.Store, id []byte, sess session.Session) {
	t.Helper()
	if err := s.CreateSession(ctx(t), id, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

func wantNoSession(t *testing.T, s store.Store, tenantID string, id []byte, why string) {
	t.Helper()
	if got, err := s.GetSession(ctx(t), tenantID, id); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("%s: GetSession = %+v, %v; want session.ErrNotFound", why, got, err)
	}
}

func wantHasSession(t *testing.T, s store.Store, tenantID string, id []byte, why string) {
	t.Helper()
	if _, err := s.GetSession(ctx(t), tenantID, id); err != nil {
		t.Fatalf("%s: GetSession: %v; want the session", why, err)
	}
}

var sessionTests = []test{
	{"CreateGet", func(t *testing.T, s store.Store) {
		id := sessionID("a")
		sess := newSession("acme", "u1", session.StateActive)
		mustCreateSession(t, s, id, sess)
		got, err := s.GetSession(ctx(t), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		wantSession(t, got, sess)

		pending := newSession("acme", "u1", session.StateEnroll)
		pending.Auth = ""
		pending.MFAAt = time.Time{}
		pending.PendingSecret = hash("sealed secret")
		pid := sessionID("pending")
		mustCreateSession(t, s, pid, pending)
		got, err = s.GetSession(ctx(t), "acme", pid)
		if err != nil {
			t.Fatal(err)
		}
		wantSession(t, got, pending)

		wantNoSession(t, s, "acme", sessionID("never issued"), "unknown id")
	}},
	{"TenantIsolation", func(t *testing.T, s store.Store) {
		id := sessionID("a")
		sess := newSession("acme", "u1", session.StateActive)
		mustCreateSession(t, s, id, sess)
		wantNoSession(t, s, "globex", id, "asked with another tenant")

		// Neither update nor delete through another tenant touches it.
		other := sess
		other.TenantID = "globex"
		if err := s.UpdateSession(ctx(t), id, other); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("UpdateSession via another tenant: %v, want session.ErrNotFound", err)
		}
		if err := s.DeleteSession(ctx(t), "globex", id); err != nil {
			t.Fatalf("DeleteSession via another tenant: %v", err)
		}
		got, err := s.GetSession(ctx(t), "acme", id)
		if err != nil {
			t.Fatalf("session gone after another tenant's delete: %v", err)
		}
		wantSession(t, got, sess)
		if n, err := s.DeleteOperatorSessions(ctx(t), "globex", "u1"); err != nil || n != 0 {
			t.Fatalf("DeleteOperatorSessions(globex, u1) = %d, %v; want 0", n, err)
		}
		wantHasSession(t, s, "acme", id, "after another tenant's DeleteOperatorSessions")
	}},
	{"Update", func(t *testing.T, s store.Store) {
		id := sessionID("a")
		sess := newSession("acme", "u1", session.StateMFA)
		sess.Auth = ""
		mustCreateSession(t, s, id, sess)
		sess.State = session.StateActive
		sess.Auth = "password+recovery"
		sess.LastSeen = sess.LastSeen.Add(5 * time.Minute)
		sess.MFAAt = sess.LastSeen
		sess.Next = ""
		if err := s.UpdateSession(ctx(t), id, sess); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSession(ctx(t), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		wantSession(t, got, sess)
		if err := s.UpdateSession(ctx(t), sessionID("never issued"), sess); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("UpdateSession unknown id: %v, want session.ErrNotFound", err)
		}
		wantNoSession(t, s, "acme", sessionID("never issued"), "Update of an unknown id must not create it")
	}},
	{"UpdateAfterDelete", func(t *testing.T, s store.Store) {
		// A request that loaded the session before a revocation must not bring it back by saving it.
		id := sessionID("a")
		sess := newSession("acme", "u1", session.StateActive)
		mustCreateSession(t, s, id, sess)
		if err := s.DeleteSession(ctx(t), "acme", id); err != nil {
			t.Fatal(err)
		}
		wantNoSession(t, s, "acme", id, "after DeleteSession")
		sess.LastSeen = sess.LastSeen.Add(time.Minute)
		if err := s.UpdateSession(ctx(t), id, sess); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("UpdateSession after delete: %v, want session.ErrNotFound", err)
		}
		wantNoSession(t, s, "acme", id, "after UpdateSession of a deleted session")

		id2 := sessionID("b")
		mustCreateSession(t, s, id2, sess)
		if _, err := s.DeleteOperatorSessions(ctx(t), "acme", "u1"); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateSession(ctx(t), id2, sess); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("UpdateSession after DeleteOperatorSessions: %v, want session.ErrNotFound", err)
		}
		wantNoSession(t, s, "acme", id2, "after UpdateSession of a revoked session")
	}},
	{"DeleteAbsent", func(t *testing.T, s store.Store) {
		if err := s.DeleteSession(ctx(t), "acme", sessionID("never issued")); err != nil {
			t.Fatalf("DeleteSession of an absent session: %v, want nil", err)
		}
		id := sessionID("a")
		mustCreateSession(t, s, id, newSession("acme", "u1", session.StateActive))
		for i := range 2 {
			if err := s.DeleteSession(ctx(t), "acme", id); err != nil {
				t.Fatalf("DeleteSession #%d: %v", i+1, err)
			}
		}
		if n, err := s.DeleteOperatorSessions(ctx(t), "acme", "u1"); err != nil || n != 0 {
			t.Fatalf("DeleteOperatorSessions after the only session was deleted = %d, %v; want 0", n, err)
		}
	}},
	{"DeleteOperatorSessions", func(t *testing.T, s store.Store) {
		type entry struct {
			id   []byte
			sess session.Session
		}
		mine := []entry{
			{sessionID("u1-laptop"), newSession("acme", "u1", session.StateActive)},
			{sessionID("u1-phone"), newSession("acme", "u1", session.StateActive)},
			{sessionID("u1-mfa"), newSession("acme", "u1", session.StateMFA)},
			{sessionID("u1-enroll"), newSession("acme", "u1", session.StateEnroll)},
		}
		others := []entry{
			{sessionID("u2"), newSession("acme", "u2", session.StateActive)},
			{sessionID("u2-mfa"), newSession("acme", "u2", session.StateMFA)},
			// The same user id in another tenant is another operator.
			{sessionID("globex-u1"), newSession("globex", "u1", session.StateActive)},
			// A user id that extends u1 must not be caught by a prefix match.
			{sessionID("u10"), newSession("acme", "u10", session.StateActive)},
		}
		for _, e := range append(append([]entry{}, mine...), others...) {
			mustCreateSession(t, s, e.id, e.sess)
		}
		n, err := s.DeleteOperatorSessions(ctx(t), "acme", "u1")
		if err != nil {
			t.Fatal(err)
		}
		if n != len(mine) {
			t.Fatalf("DeleteOperatorSessions = %d, want %d", n, len(mine))
		}
		for _, e := range mine {
			wantNoSession(t, s, "acme", e.id, "revoked session or pending login")
		}
		for _, e := range others {
			got, err := s.GetSession(ctx(t), e.sess.TenantID, e.id)
			if err != nil {
				t.Fatalf("another operator's session (%s/%s) died: %v", e.sess.TenantID, e.sess.UserID, err)
			}
			wantSession(t, got, e.sess)
		}
		if n, err := s.DeleteOperatorSessions(ctx(t), "acme", "u1"); err != nil || n != 0 {
			t.Fatalf("second DeleteOperatorSessions = %d, %v; want 0", n, err)
		}
		if n, err := s.DeleteOperatorSessions(ctx(t), "acme", "nobody"); err != nil || n != 0 {
			t.Fatalf("DeleteOperatorSessions for an operator without sessions = %d, %v; want 0", n, err)
		}
		// Sessions created after a revocation belong to the operator again and are counted afresh.
		fresh := sessionID("u1-new")
		mustCreateSession(t, s, fresh, newSession("acme", "u1", session.StateActive))
		if n, err := s.DeleteOperatorSessions(ctx(t), "acme", "u1"); err != nil || n != 1 {
			t.Fatalf("DeleteOperatorSessions after a new sign-in = %d, %v; want 1", n, err)
		}
	}},
	{"DeletedSessionLeavesIndex", func(t *testing.T, s store.Store) {
		// A session deleted on its own is not counted again by a later revocation of its operator.
		a, b := sessionID("a"), sessionID("b")
		mustCreateSession(t, s, a, newSession("acme", "u1", session.StateActive))
		mustCreateSession(t, s, b, newSession("acme", "u1", session.StateActive))
		if err := s.DeleteSession(ctx(t), "acme", a); err != nil {
			t.Fatal(err)
		}
		if n, err := s.DeleteOperatorSessions(ctx(t), "acme", "u1"); err != nil || n != 1 {
			t.Fatalf("DeleteOperatorSessions = %d, %v; want 1", n, err)
		}
		wantNoSession(t, s, "acme", b, "after revocation")
	}},
	{"CanceledContext", func(t *testing.T, s store.Store) {
		// A store that cannot answer must say so: a nil error here would let a caller treat garbage as a verdict.
		id := sessionID("a")
		mustCreateSession(t, s, id, newSession("acme", "u1", session.StateActive))
		c, cancel := contextWithCancel(t)
		cancel()
		if _, err := s.GetSession(c, "acme", id); err == nil {
			t.Fatal("GetSession with a canceled context returned no error")
		}
	}},
}
