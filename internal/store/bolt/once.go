package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// onceRecord is a single-use value with the wall-clock time after which it no longer exists.
type onceRecord struct {
	Value   []byte    `json:"v"`
	Expires time.Time `json:"exp"`
}

// PutOnce stores value under (tag, key) until ttl has passed; directory.ErrExists if the key is taken.
func (s *Store) PutOnce(ctx context.Context, tag, k string, value []byte, ttl time.Duration) error {
	if tag == "" || k == "" {
		return errors.New("bolt store: single-use record without tag or key")
	}
	if ttl <= 0 {
		return fmt.Errorf("bolt store: single-use record needs a positive lifetime, got %s", ttl)
	}
	ok, err := key(tag, k)
	if err != nil {
		return err
	}
	// The lifetime is judged by the wall clock, as Redis judges a TTL by its own: it bounds how long the
	// record takes space. Callers that care about validity keep their own expiry inside the value and
	// judge it with their own clock.
	now := time.Now()
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOnce)
		var cur onceRecord
		found, err := getJSON(b, "single-use record", ok, &cur)
		if err != nil {
			return err
		}
		if found && now.Before(cur.Expires) {
			return fmt.Errorf("single-use record: %w", directory.ErrExists)
		}
		return putJSON(b, "single-use record", ok, onceRecord{Value: bytes.Clone(value), Expires: now.Add(ttl)})
	})
}

// TakeOnce returns and deletes the value under (tag, key) in one write transaction, so concurrent takers
// are serialized and at most one finds it. An expired record is deleted too, and reads as absent.
func (s *Store) TakeOnce(ctx context.Context, tag, k string) ([]byte, error) {
	ok, err := key(tag, k)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var v []byte
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOnce)
		var rec onceRecord
		found, err := getJSON(b, "single-use record", ok, &rec)
		if err != nil {
			return err
		}
		if !found {
			return nil
		}
		if err := b.Delete(ok); err != nil {
			return err
		}
		if now.Before(rec.Expires) {
			v = rec.Value
			if v == nil {
				v = []byte{}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, directory.ErrNotFound
	}
	return v, nil
}
