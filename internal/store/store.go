// Package store names the whole set of capabilities a backend (bolt, redis) provides to the gateway.
package store

import (
	"context"

	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/credential"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/lockout"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/sso"
)

// Meta keeps small gateway-wide values (the sealed signing key, the seed marker).
type Meta interface {
	// GetMeta returns directory.ErrNotFound when absent.
	GetMeta(ctx context.Context, name string) ([]byte, error)
	// PutMetaIfAbsent stores value unless name exists, and returns what is stored afterwards
	// (so concurrent replicas agree on one value).
	PutMetaIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error)
}

// Store is every capability the request flow uses.
type Store interface {
	directory.Store
	session.Store
	lockout.Store
	credential.Store
	sso.Store
	audit.Store
	Meta
	// Ping reports reachability (healthz, recovery after an outage).
	Ping(ctx context.Context) error
	// Close releases the backend.
	Close() error
}
