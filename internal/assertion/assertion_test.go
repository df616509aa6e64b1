package assertion

import (
	"context"
	"crypto"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

func newSigner(t *testing.T) *Signer {
	t.Helper()
	der, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(der)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The assertion must verify with an independent JOSE implementation using only the published JWKS.
func TestAssertionVerifiesAgainstJWKS(t *testing.T) {
	s := newSigner(t)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0].KeyID != s.KeyID() {
		t.Fatalf("jwks: %+v", set.Keys)
	}
	now := time.Now()
	tok, err := s.For([32]byte{1}, Claims{Issuer: "vectis-gateway", Audience: "app.example", Subject: "op_1", Tenant: "acme", Role: "admin", AMR: []string{"pwd", "otp"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	ks := &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{set.Keys[0].Key}}
	v := oidc.NewVerifier("vectis-gateway", ks, &oidc.Config{ClientID: "app.example", SupportedSigningAlgs: []string{"ES256"}})
	idt, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if idt.Subject != "op_1" || idt.Expiry.Sub(idt.IssuedAt) != Lifetime {
		t.Fatalf("claims: sub=%s life=%s", idt.Subject, idt.Expiry.Sub(idt.IssuedAt))
	}
	// Tampering with the payload breaks the signature.
	bad := tok[:len(tok)-90] + "A" + tok[len(tok)-89:]
	if _, err := v.Verify(context.Background(), bad); err == nil {
		t.Fatal("tampered token verified")
	}
}

func TestAssertionCacheReusesAndRenews(t *testing.T) {
	s := newSigner(t)
	c := Claims{Issuer: "i", Audience: "a", Subject: "s"}
	t0 := time.Unix(1_700_000_000, 0)
	a, _ := s.For([32]byte{1}, c, t0)
	b, _ := s.For([32]byte{1}, c, t0.Add(3*time.Minute))
	if a != b {
		t.Fatal("assertion re-signed within its reuse period")
	}
	d, _ := s.For([32]byte{1}, c, t0.Add(4*time.Minute+time.Second))
	if d == a {
		t.Fatal("assertion with under a minute left was handed out")
	}
	cl, err := s.Verify(d)
	if err != nil || cl.Expiry-(t0.Add(4*time.Minute+time.Second)).Unix() != int64(Lifetime/time.Second) {
		t.Fatalf("renewed claims %+v err %v", cl, err)
	}
	other, _ := s.For([32]byte{2}, c, t0)
	if other == a {
		t.Fatal("two sessions share an assertion")
	}
	s.Forget([32]byte{1})
	e, _ := s.For([32]byte{1}, c, t0.Add(time.Minute))
	if e == a {
		t.Fatal("forgotten session's assertion reused")
	}
}

// A cached assertion is reused only for the very claims it carries: a session whose role, email or method
// changed gets a new one at once, not after the reuse period.
func TestAssertionCacheKeyedByClaims(t *testing.T) {
	s := newSigner(t)
	t0 := time.Unix(1_700_000_000, 0)
	base := Claims{Issuer: "i", Audience: "a", Subject: "s", Email: "e@x", Tenant: "t", Role: "member", AMR: []string{"pwd", "otp", "mfa"}}
	a, _ := s.For([32]byte{1}, base, t0)
	same := base
	same.AMR = []string{"pwd", "otp", "mfa"} // equal contents, another slice
	if b, _ := s.For([32]byte{1}, same, t0.Add(time.Second)); b != a {
		t.Fatal("equal claims re-signed")
	}
	for name, change := range map[string]func(*Claims){
		"role":  func(c *Claims) { c.Role = "admin" },
		"email": func(c *Claims) { c.Email = "f@x" },
		"amr":   func(c *Claims) { c.AMR = []string{"fed"} },
		"sub":   func(c *Claims) { c.Subject = "s2" },
		"iss":   func(c *Claims) { c.Issuer = "j" },
	} {
		c := base
		change(&c)
		tok, _ := s.For([32]byte{1}, c, t0.Add(2*time.Second))
		got, err := s.Verify(tok)
		if err != nil || tok == a || got.Role != c.Role || got.Email != c.Email || got.Subject != c.Subject ||
			got.Issuer != c.Issuer || !slices.Equal(got.AMR, c.AMR) {
			t.Fatalf("%s changed: got %+v (err %v)", name, got, err)
		}
		s.For([32]byte{1}, base, t0) // back to the base claims for the next row
	}
}
