package sso

import (
	"context"
	"errors"
	"testing"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// Nothing is fetched until a sign-in needs it; then once per issuer, for every tenant on it.
func TestDiscoveryIsLazyAndSharedByIssuer(t *testing.T) {
	e := newEnv(t)
	g := e.fx["google"]
	if n := g.idp.discoveryHits.Load(); n != 0 {
		t.Fatalf("discovery fetched %d times before any sign-in", n)
	}
	beta := settingsFor(t, "beta", directory.SSO{Provider: Google, ClientID: "beta.apps.googleusercontent.com",
		Extra: map[string]string{ExtraGoogleDomains: "beta.example"}}, "s")
	for _, s := range []Settings{g.settings, beta, g.settings} {
		if _, err := e.rp.Begin(context.Background(), s, redirectURL, "/", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.signIn(g); err != nil {
		t.Fatal(err)
	}
	if n := g.idp.discoveryHits.Load(); n != 1 {
		t.Fatalf("discovery fetched %d times for one issuer, want 1", n)
	}
	if n := g.idp.keyHits.Load(); n != 1 {
		t.Fatalf("keys fetched %d times, want 1", n)
	}
	if _, err := e.signIn(g); err != nil {
		t.Fatal(err)
	}
	if n := g.idp.keyHits.Load(); n != 1 {
		t.Fatalf("keys fetched %d times after a second sign-in, want 1 (cached)", n)
	}
	// After the TTL the document and its keys are fetched again.
	e.clk.Add(DefaultDiscoveryTTL)
	if _, err := e.signIn(g); err != nil {
		t.Fatal(err)
	}
	if d, k := g.idp.discoveryHits.Load(), g.idp.keyHits.Load(); d != 2 || k != 2 {
		t.Fatalf("after the TTL: %d discovery and %d key fetches, want 2 and 2", d, k)
	}
}

func TestDiscoveryFailureIsRetriedAfterTheDelay(t *testing.T) {
	e := newEnv(t)
	f := e.fx["oidc"]
	f.idp.discoveryDown.Store(true)
	for range 3 {
		if _, err := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", ""); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Begin with discovery down: %v, want ErrUnavailable", err)
		}
	}
	if n := f.idp.discoveryHits.Load(); n != 1 {
		t.Fatalf("a down IdP was asked %d times within the retry delay, want 1", n)
	}
	f.idp.discoveryDown.Store(false)
	e.clk.Add(DefaultDiscoveryRetry)
	if _, err := e.signIn(f); err != nil {
		t.Fatalf("after the retry delay: %v", err)
	}
	// Once known, a failed refresh keeps the last good document in use.
	f.idp.discoveryDown.Store(true)
	e.clk.Add(DefaultDiscoveryTTL)
	if _, err := e.signIn(f); err != nil {
		t.Fatalf("refresh failed with a good document cached: %v", err)
	}
}

func TestDiscoveryIssuerMismatchIsMisconfigured(t *testing.T) {
	e := newEnv(t)
	f := e.fx["jumpcloud"]
	f.idp.discoveryIssuer = "https://oauth.id.jumpcloud.com" // the slash-less spelling
	_, err := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", "")
	if !errors.Is(err, ErrMisconfigured) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("discovery naming another issuer: %v, want ErrMisconfigured", err)
	}
}

func TestNewDoesNoIO(t *testing.T) {
	e := newEnv(t)
	d := NewDiscovery(DiscoveryOptions{HTTPClient: e.net.client()})
	_ = NewRP(d, Options{})
	for name, f := range e.fx {
		if n := f.idp.discoveryHits.Load() + f.idp.keyHits.Load() + f.idp.tokenHits.Load(); n != 0 {
			t.Errorf("%s: %d requests before any sign-in", name, n)
		}
	}
}

// The browser is sent to the authorization endpoint by a page of ours: a discovery document naming a
// script or plain-http URL there is refused.
func TestAuthorizationEndpointMustBeAWebAddress(t *testing.T) {
	for _, bad := range []string{"javascript:alert(1)//", "http://idp.example.test/authorize", "data:text/html,hi", "/relative"} {
		e := newEnv(t)
		f := e.fx["oidc"]
		f.idp.authEndpoint = bad
		if _, err := e.rp.Begin(context.Background(), f.settings, redirectURL, "/", ""); !errors.Is(err, ErrMisconfigured) {
			t.Errorf("authorization endpoint %q: %v, want ErrMisconfigured", bad, err)
		}
	}
}
