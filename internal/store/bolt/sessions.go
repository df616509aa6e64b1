package bolt

import (
	"context"
	"encoding/hex"
	"errors"

	bbolt "go.etcd.io/bbolt"

	"github.com/vectis/mfa-gateway/internal/session"
)

// sessionKey is the hex form of the session id (the SHA-256 of the cookie), readable in a dump.
func sessionKey(id []byte) ([]byte, error) {
	if len(id) == 0 {
		return nil, errors.New("bolt store: empty session id")
	}
	return hex.AppendEncode(nil, id), nil
}

// indexKey is the per-operator index entry that lets DeleteOperatorSessions find every session.
func indexKey(tenantID, userID string, sk []byte) ([]byte, error) {
	return key(tenantID, userID, string(sk))
}

// sessionKeys returns a session's record key and its operator-index key.
func sessionKeys(id []byte, sess session.Session) (sk, ik []byte, err error) {
	if sk, err = sessionKey(id); err != nil {
		return nil, nil, err
	}
	ik, err = indexKey(sess.TenantID, sess.UserID, sk)
	return sk, ik, err
}

// CreateSession stores sess under id and adds it to its operator's index. Reusing an id (which a
// 256-bit random cookie never does) replaces the old record and its index entry.
func (s *Store) CreateSession(ctx context.Context, id []byte, sess session.Session) error {
	sk, ik, err := sessionKeys(id, sess)
	if err != nil {
		return err
	}
	// Batched: in a busy gateway many sessions' last-seen touches fall due together (see batch).
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		sessions, index := tx.Bucket(bucketSessions), tx.Bucket(bucketUserSessions)
		var old session.Session
		found, err := getJSON(sessions, "session", sk, &old)
		if err != nil {
			return err
		}
		if found {
			if err := unindex(index, old, sk); err != nil {
				return err
			}
		}
		if err := index.Put(ik, []byte{}); err != nil {
			return err
		}
		return putJSON(sessions, "session", sk, sess)
	})
}

// GetSession returns session.ErrNotFound when the id is unknown or belongs to another tenant. It does
// not judge ExpiresAt: the gateway does, with its injected clock; the sweeper removes the leftovers.
func (s *Store) GetSession(ctx context.Context, tenantID string, id []byte) (session.Session, error) {
	var sess session.Session
	sk, err := sessionKey(id)
	if err != nil {
		return sess, err
	}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketSessions), "session", sk, &sess)
		if err != nil {
			return err
		}
		if !found || sess.TenantID != tenantID {
			return session.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return session.Session{}, err
	}
	return sess, nil
}

// UpdateSession replaces an existing session of sess.TenantID. A session deleted meanwhile (logout,
// revocation) gives session.ErrNotFound and stays deleted: saving a stale copy must not revive it.
func (s *Store) UpdateSession(ctx context.Context, id []byte, sess session.Session) error {
	sk, ik, err := sessionKeys(id, sess)
	if err != nil {
		return err
	}
	// Batched: in a busy gateway many sessions' last-seen touches fall due together (see batch).
	return s.batch(ctx, func(tx *bbolt.Tx) error {
		sessions, index := tx.Bucket(bucketSessions), tx.Bucket(bucketUserSessions)
		var old session.Session
		found, err := getJSON(sessions, "session", sk, &old)
		if err != nil {
			return err
		}
		if !found || old.TenantID != sess.TenantID {
			return session.ErrNotFound
		}
		if old.UserID != sess.UserID {
			// Not something the gateway does, but the index must follow the record if it ever happens.
			if err := unindex(index, old, sk); err != nil {
				return err
			}
			if err := index.Put(ik, []byte{}); err != nil {
				return err
			}
		}
		return putJSON(sessions, "session", sk, sess)
	})
}

// DeleteSession removes one session of tenantID; an absent one (or another tenant's) is left as it is.
func (s *Store) DeleteSession(ctx context.Context, tenantID string, id []byte) error {
	sk, err := sessionKey(id)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		_, err := deleteSession(tx, tenantID, sk)
		return err
	})
}

// DeleteOperatorSessions removes every session and pending login of one operator and returns how many.
func (s *Store) DeleteOperatorSessions(ctx context.Context, tenantID, userID string) (int, error) {
	p, err := prefix(tenantID, userID)
	if err != nil {
		return 0, err
	}
	n := 0
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		index := tx.Bucket(bucketUserSessions)
		for _, ik := range keysWithPrefix(index, p) {
			deleted, err := deleteSession(tx, tenantID, ik[len(p):])
			if err != nil {
				return err
			}
			if deleted {
				n++
			}
			// Drop the entry even when its session was already gone, so the index cannot grow stale.
			if err := index.Delete(ik); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// deleteSession removes the session at sk and its index entry if it belongs to tenantID.
func deleteSession(tx *bbolt.Tx, tenantID string, sk []byte) (bool, error) {
	sessions := tx.Bucket(bucketSessions)
	var old session.Session
	found, err := getJSON(sessions, "session", sk, &old)
	if err != nil || !found || old.TenantID != tenantID {
		return false, err
	}
	if err := unindex(tx.Bucket(bucketUserSessions), old, sk); err != nil {
		return false, err
	}
	return true, sessions.Delete(sk)
}

func unindex(index *bbolt.Bucket, old session.Session, sk []byte) error {
	ik, err := indexKey(old.TenantID, old.UserID, sk)
	if err != nil {
		return err
	}
	return index.Delete(ik)
}
