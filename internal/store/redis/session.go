package redis

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vectis/mfa-gateway/internal/session"
)

// sessionGrace is kept past a session's lifetime, so a record is never gone before the gateway has
// judged it expired by its own clock (the two clocks may differ a little).
const sessionGrace = time.Minute

// sessionTTL is the record's lifetime in Redis: its own length plus grace, measured as a duration from
// the session's timestamps — never as ExpiresAt against this machine's wall clock, which tests replace.
func sessionTTL(s session.Session) time.Duration {
	return max(s.ExpiresAt.Sub(s.CreatedAt), 0) + sessionGrace
}

// CreateSession stores s under id and adds it to the operator's index, in one script.
func (s *Store) CreateSession(ctx context.Context, id []byte, sess session.Session) error {
	if len(id) == 0 || sess.TenantID == "" || sess.UserID == "" {
		return errors.New("redis: create session: empty id, tenant or operator")
	}
	b, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("redis: create session: %w", err)
	}
	ttl := sessionTTL(sess).Milliseconds()
	keys := []string{sessionKey(sess.TenantID, id), sessionIndexKey(sess.TenantID, sess.UserID)}
	err = createSessionScript.Run(ctx, s.c, keys, b, ttl, hex.EncodeToString(id), sessionPrefix(sess.TenantID)).Err()
	if err != nil {
		return fmt.Errorf("redis: create session: %w", err)
	}
	return nil
}

// GetSession returns session.ErrNotFound when the session is absent, or when it belongs to another
// tenant (the tenant is part of the key). It does not judge expiry: the gateway does, by its clock.
func (s *Store) GetSession(ctx context.Context, tenantID string, id []byte) (session.Session, error) {
	var sess session.Session
	b, err := s.c.Get(ctx, sessionKey(tenantID, id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return sess, session.ErrNotFound
	}
	if err != nil {
		return sess, fmt.Errorf("redis: get session: %w", err)
	}
	if err := json.Unmarshal(b, &sess); err != nil {
		return session.Session{}, fmt.Errorf("redis: get session: %w", err)
	}
	if sess.TenantID != tenantID {
		return session.Session{}, session.ErrNotFound
	}
	return sess, nil
}

// UpdateSession replaces an existing session, keeping its TTL; session.ErrNotFound if it is gone
// (SET XX never brings back a session revoked meanwhile).
func (s *Store) UpdateSession(ctx context.Context, id []byte, sess session.Session) error {
	b, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("redis: update session: %w", err)
	}
	err = s.c.SetArgs(ctx, sessionKey(sess.TenantID, id), b, goredis.SetArgs{Mode: "XX", KeepTTL: true}).Err()
	if errors.Is(err, goredis.Nil) {
		return session.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("redis: update session: %w", err)
	}
	return nil
}

// DeleteSession removes one session and its index entry; an absent session is not an error.
func (s *Store) DeleteSession(ctx context.Context, tenantID string, id []byte) error {
	err := deleteSessionScript.Run(ctx, s.c, []string{sessionKey(tenantID, id)}, sessionIndexPrefix(tenantID), hex.EncodeToString(id)).Err()
	if err != nil {
		return fmt.Errorf("redis: delete session: %w", err)
	}
	return nil
}

// DeleteOperatorSessions removes every session and pending login of one operator, returning how many.
func (s *Store) DeleteOperatorSessions(ctx context.Context, tenantID, userID string) (int, error) {
	n, err := deleteOperatorSessionsScript.Run(ctx, s.c, []string{sessionIndexKey(tenantID, userID)}, sessionPrefix(tenantID)).Int()
	if err != nil {
		return 0, fmt.Errorf("redis: delete operator sessions: %w", err)
	}
	return n, nil
}

// formatInt spells an int64 for a script argument.
func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
