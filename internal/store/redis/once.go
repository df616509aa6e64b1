package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// PutOnce stores value under (tag, key) with a TTL of ttl, unless the key exists (SET NX PX: one command,
// so two replicas cannot both create it); directory.ErrExists then.
func (s *Store) PutOnce(ctx context.Context, tag, key string, value []byte, ttl time.Duration) error {
	if tag == "" || key == "" {
		return errors.New("redis: put once: empty tag or key")
	}
	// PX takes whole milliseconds; a shorter positive lifetime would round to 0, which Redis refuses.
	if ttl < time.Millisecond {
		return fmt.Errorf("redis: put once: lifetime must be at least 1ms, got %s", ttl)
	}
	ok, err := s.c.SetNX(ctx, onceKey(tag, key), value, ttl).Result()
	if err != nil {
		return fmt.Errorf("redis: put once: %w", err)
	}
	if !ok {
		return fmt.Errorf("redis: put once: %w", directory.ErrExists)
	}
	return nil
}

// TakeOnce reads and deletes the record with GETDEL (Redis 6.2 or later): one command, so of any number
// of replicas taking the same key at once, exactly one gets the value.
func (s *Store) TakeOnce(ctx context.Context, tag, key string) ([]byte, error) {
	v, err := s.c.GetDel(ctx, onceKey(tag, key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, directory.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis: take once: %w", err)
	}
	return v, nil
}
