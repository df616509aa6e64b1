package bolt

import (
	"bytes"
	"context"
	"errors"

	bbolt "go.etcd.io/bbolt"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// GetMeta returns directory.ErrNotFound when name is absent.
func (s *Store) GetMeta(ctx context.Context, name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("bolt store: empty meta name")
	}
	var v []byte
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketMeta).Get([]byte(name))
		if raw == nil {
			return directory.ErrNotFound
		}
		v = bytes.Clone(raw) // bbolt's bytes are only valid inside the transaction
		return nil
	})
	return v, err
}

// PutMetaIfAbsent stores value unless name exists, and returns what is stored afterwards.
func (s *Store) PutMetaIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error) {
	if name == "" {
		return nil, errors.New("bolt store: empty meta name")
	}
	var v []byte
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if raw := b.Get([]byte(name)); raw != nil {
			v = bytes.Clone(raw)
			return nil
		}
		v = bytes.Clone(value)
		if v == nil {
			v = []byte{}
		}
		return b.Put([]byte(name), bytes.Clone(v))
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}
