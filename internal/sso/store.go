package sso

import (
	"context"
	"time"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// Store is what SSO sign-in needs from a backend besides the directory: single-use records for sign-in
// attempts, and the index from an IdP identity to the operator it is linked to.
type Store interface {
	// PutOnce stores value under (tag, key) for at most ttl (which must be positive). A key that is already
	// taken is refused with directory.ErrExists and keeps its value.
	PutOnce(ctx context.Context, tag, key string, value []byte, ttl time.Duration) error
	// TakeOnce returns the value under (tag, key) and deletes it in one atomic step, so of any number of
	// concurrent calls at most one gets it. An absent, already taken or expired record is directory.ErrNotFound.
	TakeOnce(ctx context.Context, tag, key string) ([]byte, error)
	// OperatorBySSOKey returns the operator of tenantID whose SSOKey is key; directory.ErrNotFound when none.
	// CreateOperator and UpdateOperator keep the index: within one tenant an SSO key links at most one
	// operator (a second claim is directory.ErrExists).
	OperatorBySSOKey(ctx context.Context, tenantID, key string) (directory.Operator, error)
}
