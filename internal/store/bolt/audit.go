package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/vectis/mfa-gateway/internal/audit"
)

// bucketAudit holds one nested bucket per tenant: big-endian sequence number → audit.Event (JSON). Keys sort
// in the order events were appended, and only the oldest are ever deleted, so a tenant's keys are always
// one unbroken run from its first kept event to the bucket's sequence.
var bucketAudit = []byte("audit")

// AppendAudit adds e to the tenant's trail and deletes the oldest events beyond keep, in one transaction.
func (s *Store) AppendAudit(ctx context.Context, tenantID string, e audit.Event, keep int) error {
	if tenantID == "" {
		return errors.New("bolt store: audit event without tenant")
	}
	if keep <= 0 {
		return fmt.Errorf("bolt store: audit trail must keep at least one event, got %d", keep)
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		// Created here rather than at Open, so a file written by an older gateway gains the bucket on use.
		root, err := tx.CreateBucketIfNotExists(bucketAudit)
		if err != nil {
			return fmt.Errorf("bolt store: audit bucket: %w", err)
		}
		b, err := root.CreateBucketIfNotExists([]byte(tenantID))
		if err != nil {
			return fmt.Errorf("bolt store: tenant audit bucket: %w", err)
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := putJSON(b, "audit event", seqKey(seq), e); err != nil {
			return err
		}
		// Oldest first: re-seek after each delete, because deleting under a live cursor can skip a key.
		c := b.Cursor()
		for k, _ := c.First(); k != nil && len(k) == 8 && seq-binary.BigEndian.Uint64(k)+1 > uint64(keep); k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListAudit returns up to limit of the tenant's events, newest first.
func (s *Store) ListAudit(ctx context.Context, tenantID string, limit int) ([]audit.Event, error) {
	if limit <= 0 || tenantID == "" {
		return nil, nil
	}
	var out []audit.Event
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		root := tx.Bucket(bucketAudit)
		if root == nil {
			return nil
		}
		b := root.Bucket([]byte(tenantID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e audit.Event
			if err := unmarshal(v, "audit event", &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func seqKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}
