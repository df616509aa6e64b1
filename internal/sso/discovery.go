package sso

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Defaults of DiscoveryOptions.
const (
	DefaultDiscoveryTTL   = time.Hour
	DefaultDiscoveryRetry = 15 * time.Second
	DefaultHTTPTimeout    = 10 * time.Second
	// maxProviders bounds the cache; past it, entries that are no longer fresh are dropped.
	maxProviders = 10000
)

// ErrMisconfigured marks a tenant's settings that cannot work as they are (an issuer whose discovery
// document names another issuer, settings that fail Check). Ops must fix them; retrying will not help.
var ErrMisconfigured = errors.New("sso: settings do not match the identity provider")

// DiscoveryOptions tune NewDiscovery. Zero values take the defaults.
type DiscoveryOptions struct {
	// HTTPClient makes every request to identity providers: discovery, keys, token, userinfo
	// (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// TTL is how long a discovery document and its key set are used before they are fetched again
	// (default 1h). Keys that are not in the cached set are fetched at once by go-oidc, so a rotation
	// does not wait for the TTL; a removed key stops working within it.
	TTL time.Duration
	// Retry is how long after a failed fetch the next one may start (default 15 s), so a down IdP is not
	// hammered by every sign-in.
	Retry time.Duration
	// Now is the clock for the cache's freshness (default time.Now). Token checks use the RP's clock.
	Now func() time.Time
}

// Discovery fetches providers' discovery documents lazily, on the first sign-in that needs one, and caches
// them with their signing keys by issuer. Sharing by issuer is safe across tenants — the document and keys
// are public, and every check that binds a token to a tenant (client id, tid, hd, nonce) runs per sign-in —
// and means thousands of Google or JumpCloud tenants cost one fetch. It is safe for concurrent use and
// meant to live as long as the process, across config reloads.
type Discovery struct {
	client *http.Client
	ttl    time.Duration
	retry  time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*discoEntry
}

type discoEntry struct {
	mu      sync.Mutex // held during a fetch: one fetch per issuer at a time, the others wait for it
	p       *oidc.Provider
	fresh   time.Time // p is used without a new fetch until then
	retryAt time.Time // after a failure, no new fetch before then
	lastErr error
}

// NewDiscovery makes an empty cache. It does no I/O.
func NewDiscovery(o DiscoveryOptions) *Discovery {
	d := &Discovery{client: o.HTTPClient, ttl: o.TTL, retry: o.Retry, now: o.Now, entries: map[string]*discoEntry{}}
	if d.client == nil {
		d.client = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if d.ttl <= 0 {
		d.ttl = DefaultDiscoveryTTL
	}
	if d.retry <= 0 {
		d.retry = DefaultDiscoveryRetry
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// clientContext carries the HTTP client to go-oidc and x/oauth2.
func (d *Discovery) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, d.client)
}

// provider returns the issuer's discovered provider, fetching it when absent or stale. After a failed
// refresh the last good document keeps serving (its keys are still the IdP's), so a short IdP blip does
// not stop sign-ins; with no good document the error is returned until the retry delay has passed.
func (d *Discovery) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	d.mu.Lock()
	e := d.entries[issuer]
	if e == nil {
		if len(d.entries) >= maxProviders {
			d.evictLocked()
		}
		e = &discoEntry{}
		d.entries[issuer] = e
	}
	d.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := d.now()
	if e.p != nil && now.Before(e.fresh) {
		return e.p, nil
	}
	if now.Before(e.retryAt) {
		if e.p != nil {
			return e.p, nil
		}
		return nil, e.lastErr
	}
	// Not the caller's cancellation: a fetch others wait for must not fail because one browser left.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultHTTPTimeout)
	defer cancel()
	p, err := oidc.NewProvider(d.clientContext(fctx), issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			err = fmt.Errorf("%w: the discovery document at %s names issuer %q", ErrMisconfigured, issuer, mismatch.Discovered)
		} else {
			err = fmt.Errorf("%w: discovery of %s: %v", ErrUnavailable, issuer, err)
		}
		e.retryAt, e.lastErr = now.Add(d.retry), err
		if e.p != nil {
			return e.p, nil
		}
		return nil, err
	}
	e.p, e.fresh, e.retryAt, e.lastErr = p, now.Add(d.ttl), time.Time{}, nil
	return p, nil
}

// evictLocked drops entries that are not fresh and not being fetched. d.mu is held.
func (d *Discovery) evictLocked() {
	now := d.now()
	for iss, e := range d.entries {
		if !e.mu.TryLock() {
			continue
		}
		stale := e.p == nil || !now.Before(e.fresh)
		e.mu.Unlock()
		if stale {
			delete(d.entries, iss)
		}
	}
}
