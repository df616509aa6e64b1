// Package gateway is the request flow: portal pass-through, gateway pages, session check, identity headers.
package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/vectis/mfa-gateway/config"
	"github.com/vectis/mfa-gateway/internal/store"
)

// Next is the rest of the handler chain (Caddy's next handler, or a plain handler in tests).
type Next func(w http.ResponseWriter, r *http.Request) error

// Identity is what the gateway vouches for on an authenticated request.
type Identity struct {
	UserID   string
	Email    string
	TenantID string
	Role     string
	Auth     string
}

// Options carries the injected parts. Zero values get real defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the randomness source (default crypto/rand.Reader).
	Rand io.Reader
	// OnIdentity is called for each authenticated request before it is passed on (Caddy placeholders).
	OnIdentity func(r *http.Request, id Identity)
	// Secure forces the Secure cookie attribute even on plain HTTP (behind a TLS-terminating proxy).
	Secure bool
}

// OpenFunc opens the store. The gateway calls it lazily on the first request that needs the store
// and again after a failure, so start-up and `caddy validate` never touch the network.
type OpenFunc func(ctx context.Context) (store.Store, error)

// Gateway is one configured instance.
type Gateway struct {
	cfg  config.Config
	open OpenFunc
	opts Options
}

// New builds a gateway from a normalized, validated configuration.
func New(cfg config.Config, open OpenFunc, opts Options) (*Gateway, error) {
	return &Gateway{cfg: cfg, open: open, opts: opts}, nil
}

// Handle serves one request: gateway pages, portal pass-through, or an authenticated pass-through to next.
func (g *Gateway) Handle(w http.ResponseWriter, r *http.Request, next Next) error {
	return next(w, r)
}

// Close releases what New made (not the store: its opener's owner releases that).
func (g *Gateway) Close() error { return nil }
