// Package assertion signs the short-lived ES256 identity assertion the upstream receives, and publishes its JWKS.
package assertion

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"slices"
	"sync"
	"time"
)

// Lifetime is the assertion's exp - iat (DESIGN: at most 5 minutes).
const Lifetime = 5 * time.Minute

// reuseFor is how long a cached assertion is handed out again: it is re-signed once less than a minute of
// its life is left, so the upstream never receives one that expires in under 60 s.
const reuseFor = Lifetime - time.Minute

// Claims are the assertion's contents.
type Claims struct {
	Issuer   string   `json:"iss"`
	Audience string   `json:"aud"`
	Subject  string   `json:"sub"`
	Email    string   `json:"email"`
	Tenant   string   `json:"tenant"`
	Role     string   `json:"role"`
	AMR      []string `json:"amr"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
}

// Signer signs assertions with one P-256 key and caches them per session, so the hot path does not sign.
type Signer struct {
	key    *ecdsa.PrivateKey
	kid    string
	header string // base64url of the fixed JOSE header
	jwks   []byte

	mu    sync.Mutex
	cache map[cacheKey]cached
}

type cacheKey struct {
	session  [32]byte
	audience string
}

type cached struct {
	token  string
	signed time.Time
	claims Claims // what token says (without iat/exp): a session whose claims changed gets a new token
}

// maxCache bounds memory: when full, the cache is dropped and refills (each entry costs one signature).
const maxCache = 200_000

// GenerateKey makes a new signing key and returns it DER-encoded (for sealing into the store).
func GenerateKey(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), r)
	if err != nil {
		return nil, err
	}
	return x509.MarshalECPrivateKey(k)
}

// NewSigner loads a DER-encoded P-256 key.
func NewSigner(der []byte) (*Signer, error) {
	k, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, err
	}
	if k.Curve != elliptic.P256() {
		return nil, errors.New("assertion: signing key is not P-256")
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pub)
	s := &Signer{key: k, kid: base64.RawURLEncoding.EncodeToString(sum[:12]), cache: map[cacheKey]cached{}}
	hdr, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": s.kid})
	s.header = base64.RawURLEncoding.EncodeToString(hdr)
	ecdh, err := k.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := ecdh.Bytes() // 0x04 || X || Y
	s.jwks, _ = json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": s.kid,
		"x": base64.RawURLEncoding.EncodeToString(raw[1:33]),
		"y": base64.RawURLEncoding.EncodeToString(raw[33:65]),
	}}})
	return s, nil
}

// JWKS returns the public key set document.
func (s *Signer) JWKS() []byte { return s.jwks }

// KeyID returns the key id in the JOSE header.
func (s *Signer) KeyID() string { return s.kid }

// For returns a signed assertion for session (its store id) and claims c, reusing a cached one while it has
// at least a minute left. c.IssuedAt/Expiry are filled from now.
func (s *Signer) For(session [32]byte, c Claims, now time.Time) (string, error) {
	k := cacheKey{session: session, audience: c.Audience}
	s.mu.Lock()
	e, ok := s.cache[k]
	s.mu.Unlock()
	if ok && !now.Before(e.signed) && now.Sub(e.signed) < reuseFor && sameClaims(e.claims, c) {
		return e.token, nil
	}
	c.IssuedAt = now.Unix()
	c.Expiry = now.Add(Lifetime).Unix()
	tok, err := s.Sign(c)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if len(s.cache) >= maxCache {
		s.cache = map[cacheKey]cached{}
	}
	s.cache[k] = cached{token: tok, signed: now, claims: c}
	s.mu.Unlock()
	return tok, nil
}

// sameClaims compares everything but iat and exp.
func sameClaims(a, b Claims) bool {
	return a.Issuer == b.Issuer && a.Audience == b.Audience && a.Subject == b.Subject && a.Email == b.Email &&
		a.Tenant == b.Tenant && a.Role == b.Role && slices.Equal(a.AMR, b.AMR)
}

// Forget drops cached assertions of a session (on sign-out, so a revoked session's token is not reused).
func (s *Signer) Forget(session [32]byte) {
	s.mu.Lock()
	for k := range s.cache {
		if k.session == session {
			delete(s.cache, k)
		}
	}
	s.mu.Unlock()
}

// Sign produces a compact JWS (ES256) of c.
func (s *Signer) Sign(c Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signingInput := s.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	h := sha256.Sum256([]byte(signingInput))
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, h[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// Verify checks a token's signature with the signer's public key (tests and tooling).
func (s *Signer) Verify(token string) (Claims, error) {
	var c Claims
	parts := splitDots(token)
	if len(parts) != 3 || parts[0] != s.header {
		return c, errors.New("assertion: malformed token")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return c, errors.New("assertion: malformed signature")
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(&s.key.PublicKey, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return c, errors.New("assertion: bad signature")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(payload, &c)
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
