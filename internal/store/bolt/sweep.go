package bolt

import (
	"bytes"
	"encoding/json"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// sweepResult counts what one sweep removed, and what it could not read (left in place, logged).
type sweepResult struct {
	Sessions   int
	Counters   int
	Once       int
	Unreadable int
}

// sweepLoop removes expired records every sweepInterval until Close. Sessions are judged by the gateway
// on every request; this only keeps the file from growing with sessions nobody will present again.
func (s *Store) sweepLoop() {
	defer close(s.swept)
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			// The sweeper's cut-off is the one place the wall clock is right: it is about disk space,
			// not about whether a session is valid.
			r, err := s.sweep(time.Now())
			switch {
			case err != nil:
				s.log.Warn("bolt store sweep failed", "error", err)
			case r.Unreadable > 0:
				s.log.Warn("bolt store sweep skipped unreadable records", "unreadable", r.Unreadable,
					"sessions_removed", r.Sessions, "lockout_counters_removed", r.Counters, "single_use_removed", r.Once)
			case r.Sessions+r.Counters+r.Once > 0:
				s.log.Debug("bolt store sweep", "sessions_removed", r.Sessions, "lockout_counters_removed", r.Counters,
					"single_use_removed", r.Once)
			}
		}
	}
}

// sweep deletes, in one transaction, sessions whose ExpiresAt is more than sweepGrace before now (with
// their index entries), lockout counters whose window ended that long ago, and expired single-use records.
func (s *Store) sweep(now time.Time) (sweepResult, error) {
	cutoff := now.Add(-sweepGrace)
	var r sweepResult
	err := s.db.Update(func(tx *bbolt.Tx) error {
		r = sweepResult{}
		type deadSession struct {
			key    []byte
			tenant string
		}
		var deadSessions []deadSession
		var deadCounters [][]byte
		if err := tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			var sess struct {
				TenantID  string    `json:"tenant"`
				ExpiresAt time.Time `json:"expires"`
			}
			if json.Unmarshal(v, &sess) != nil {
				r.Unreadable++
				return nil
			}
			if sess.ExpiresAt.Before(cutoff) {
				deadSessions = append(deadSessions, deadSession{bytes.Clone(k), sess.TenantID})
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketLockout).ForEach(func(k, v []byte) error {
			var rec lockRecord
			if json.Unmarshal(v, &rec) != nil {
				r.Unreadable++
				return nil
			}
			if rec.End.Before(cutoff) {
				deadCounters = append(deadCounters, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		// Single-use records end at their own expiry (TakeOnce already treats them as gone); the grace
		// above is for records the gateway judges, which these are not.
		var deadOnce [][]byte
		if err := tx.Bucket(bucketOnce).ForEach(func(k, v []byte) error {
			var rec onceRecord
			if json.Unmarshal(v, &rec) != nil {
				r.Unreadable++
				return nil
			}
			if !now.Before(rec.Expires) {
				deadOnce = append(deadOnce, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		// Deletes come after the walks: deleting under a live cursor can skip keys.
		for _, k := range deadOnce {
			if err := tx.Bucket(bucketOnce).Delete(k); err != nil {
				return err
			}
			r.Once++
		}
		for _, d := range deadSessions {
			if _, err := deleteSession(tx, d.tenant, d.key); err != nil {
				return err
			}
			r.Sessions++
		}
		for _, lk := range deadCounters {
			if err := tx.Bucket(bucketLockout).Delete(lk); err != nil {
				return err
			}
			r.Counters++
		}
		return nil
	})
	if err != nil {
		return sweepResult{}, err
	}
	return r, nil
}
