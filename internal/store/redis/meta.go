package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// GetMeta returns directory.ErrNotFound when name is absent.
func (s *Store) GetMeta(ctx context.Context, name string) ([]byte, error) {
	b, err := s.c.Get(ctx, metaKey(name)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, directory.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis: get meta: %w", err)
	}
	return b, nil
}

// PutMetaIfAbsent stores value unless name exists and returns what is stored afterwards, in one script
// (SET NX, then GET), so replicas racing to create the signing key all end up with the same one.
func (s *Store) PutMetaIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error) {
	str, err := putMetaScript.Run(ctx, s.c, []string{metaKey(name)}, value).Text()
	if err != nil {
		return nil, fmt.Errorf("redis: put meta: %w", err)
	}
	return []byte(str), nil
}
