package bolt

import (
	"context"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/vectis/mfa-gateway/internal/lockout"
)

// lockRecord is one counter's current window.
type lockRecord struct {
	Count int       `json:"count"`
	End   time.Time `json:"end"`
	// Max is the limit the last counted attempt used, so Status can say whether the next one would pass.
	Max int `json:"max"`
}

// Attempt is the atomic check-and-count: a new window at now when none is running (the window has
// ended once now reaches its end), a refusal without counting at count >= max, a count otherwise.
func (s *Store) Attempt(ctx context.Context, tag, k string, now time.Time, max int, window time.Duration) (lockout.Verdict, error) {
	if max < 1 || window <= 0 {
		return lockout.Verdict{}, errors.New("bolt store: lockout needs max >= 1 and a positive window")
	}
	lk, err := key(tag, k)
	if err != nil {
		return lockout.Verdict{}, err
	}
	var v lockout.Verdict
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLockout)
		var rec lockRecord
		found, err := getJSON(b, "lockout counter", lk, &rec)
		if err != nil {
			return err
		}
		switch {
		case !found || !now.Before(rec.End):
			rec = lockRecord{Count: 1, End: now.Add(window), Max: max}
		case rec.Count >= max:
			v = lockout.Verdict{Allowed: false, Count: rec.Count, WindowEnd: rec.End}
			return nil
		default:
			rec.Count++
			rec.Max = max
		}
		v = lockout.Verdict{Allowed: true, Count: rec.Count, WindowEnd: rec.End}
		return putJSON(b, "lockout counter", lk, rec)
	})
	if err != nil {
		return lockout.Verdict{}, err
	}
	return v, nil
}

// Status reads the counter without changing it. A missing or ended window gives Count 0 and Allowed;
// otherwise Allowed says whether the next attempt (at the limit last used) would be counted.
func (s *Store) Status(ctx context.Context, tag, k string, now time.Time) (lockout.Verdict, error) {
	lk, err := key(tag, k)
	if err != nil {
		return lockout.Verdict{}, err
	}
	v := lockout.Verdict{Allowed: true}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		var rec lockRecord
		found, err := getJSON(tx.Bucket(bucketLockout), "lockout counter", lk, &rec)
		if err != nil || !found || !now.Before(rec.End) {
			return err
		}
		v = lockout.Verdict{Allowed: rec.Count < rec.Max, Count: rec.Count, WindowEnd: rec.End}
		return nil
	})
	if err != nil {
		return lockout.Verdict{}, err
	}
	return v, nil
}

// Clear removes the counter (an admin unlock); a missing one is not an error.
func (s *Store) Clear(ctx context.Context, tag, k string) error {
	lk, err := key(tag, k)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketLockout).Delete(lk)
	})
}
