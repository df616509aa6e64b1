package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vectis/mfa-gateway/internal/lockout"
)

// Attempt is the atomic check-and-count (see attemptScript): one round trip, judged by the caller's now.
func (s *Store) Attempt(ctx context.Context, tag, key string, now time.Time, max int, window time.Duration) (lockout.Verdict, error) {
	if max < 1 || window <= 0 {
		return lockout.Verdict{}, errors.New("redis: lockout attempt: max and window must be positive")
	}
	r, err := attemptScript.Run(ctx, s.c, []string{lockKey(tag, key)},
		now.Unix(), now.Nanosecond(), now.UnixMilli(), max,
		int64(window/time.Second), int64(window%time.Second)).Int64Slice()
	if err != nil {
		return lockout.Verdict{}, fmt.Errorf("redis: lockout attempt: %w", err)
	}
	if len(r) != 4 {
		return lockout.Verdict{}, fmt.Errorf("redis: lockout attempt: unexpected reply of %d values", len(r))
	}
	return lockout.Verdict{Allowed: r[0] == 1, Count: int(r[1]), WindowEnd: time.Unix(r[2], r[3])}, nil
}

// Status reads the counter without changing it. A missing or ended window (ended once now reaches its
// end) gives Count 0 and Allowed; otherwise Allowed says whether the next attempt, at the limit the last
// counted one used, would be counted.
func (s *Store) Status(ctx context.Context, tag, key string, now time.Time) (lockout.Verdict, error) {
	v, err := s.c.HMGet(ctx, lockKey(tag, key), "end_s", "end_ns", "n", "max").Result()
	if err != nil {
		return lockout.Verdict{}, fmt.Errorf("redis: lockout status: %w", err)
	}
	endS, ok1 := parseField(v, 0)
	endNs, ok2 := parseField(v, 1)
	n, ok3 := parseField(v, 2)
	limit, ok4 := parseField(v, 3)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return lockout.Verdict{Allowed: true}, nil
	}
	end := time.Unix(endS, endNs)
	if !now.Before(end) {
		return lockout.Verdict{Allowed: true}, nil
	}
	return lockout.Verdict{Allowed: n < limit, Count: int(n), WindowEnd: end}, nil
}

func parseField(v []any, i int) (int64, bool) {
	if i >= len(v) {
		return 0, false
	}
	str, ok := v[i].(string)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(str, 10, 64)
	return n, err == nil
}

// Clear removes the counter.
func (s *Store) Clear(ctx context.Context, tag, key string) error {
	if err := s.c.Del(ctx, lockKey(tag, key)).Err(); err != nil {
		return fmt.Errorf("redis: lockout clear: %w", err)
	}
	return nil
}
