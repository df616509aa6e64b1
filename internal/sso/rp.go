package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// Timing rules of a sign-in.
const (
	// AttemptLife bounds the time from the redirect to the IdP to the callback.
	AttemptLife = 10 * time.Minute
	// Leeway is the clock skew tolerated on exp, iat and nbf. go-oidc allows none on exp; more than a
	// minute would let a token outlive its stated life noticeably.
	Leeway = 60 * time.Second
)

// Scopes asked of every provider: the ID token, and the email claims the first link needs.
var Scopes = []string{oidc.ScopeOpenID, "email", "profile"}

// randomBytes is the size of state, nonce, PKCE verifier and browser binding: 256 bits each.
const randomBytes = 32

// Options tune an RP. Zero values take real defaults.
type Options struct {
	Now  func() time.Time // default time.Now
	Rand io.Reader        // default crypto/rand.Reader
}

// RP is the relying party: it starts sign-ins and checks the IdP's answers. It keeps no state of its own
// between the two (the caller stores the Attempt), so any replica can finish what another started.
type RP struct {
	d    *Discovery
	now  func() time.Time
	rand io.Reader
}

// NewRP makes a relying party on a discovery cache (which may be shared). It does no I/O.
func NewRP(d *Discovery, o Options) *RP {
	rp := &RP{d: d, now: o.Now, rand: o.Rand}
	if rp.now == nil {
		rp.now = time.Now
	}
	if rp.rand == nil {
		rp.rand = rand.Reader
	}
	return rp
}

// Attempt is one sign-in in flight, kept server-side (single use) between Begin and Finish. It holds
// secrets (nonce, PKCE verifier): store it sealed and never log it.
type Attempt struct {
	Tenant string `json:"tenant"`
	// ID is short and names the browser-binding cookie, so parallel sign-ins in one browser do not collide.
	ID string `json:"id"`
	// BrowserHash is the SHA-256 of the binding cookie's value (the value itself is only in the browser).
	BrowserHash []byte `json:"browser"`
	Nonce       string `json:"nonce"`
	Verifier    string `json:"verifier"`
	// Next is where to continue after sign-in (already sanitized by the caller).
	Next        string `json:"next,omitempty"`
	RedirectURL string `json:"redirect"`
	// Provider, Issuer and ClientID are the settings the attempt was started with; Finish refuses an
	// attempt whose tenant's settings changed meanwhile.
	Provider  string    `json:"provider"`
	Issuer    string    `json:"issuer"`
	ClientID  string    `json:"client"`
	CreatedAt time.Time `json:"created"`
	ExpiresAt time.Time `json:"expires"`
}

// String leaves the secrets out.
func (a Attempt) String() string {
	return fmt.Sprintf("{tenant:%s id:%s provider:%s created:%s}", a.Tenant, a.ID, a.Provider, a.CreatedAt.Format(time.RFC3339))
}

// GoString covers %#v.
func (a Attempt) GoString() string { return a.String() }

// CheckBrowser reports whether value is this attempt's binding cookie value (constant time).
func (a Attempt) CheckBrowser(value string) bool {
	if value == "" || len(a.BrowserHash) != sha256.Size {
		return false
	}
	sum := sha256.Sum256([]byte(value))
	return subtle.ConstantTimeCompare(sum[:], a.BrowserHash) == 1
}

// Start is what Begin hands the caller.
type Start struct {
	// URL is the IdP's authorization URL to send the browser to.
	URL string
	// State is the state parameter; StateKey(State) is where to store Attempt.
	State string
	// Attempt is the server-side record; store it for AttemptLife under StateKey(State).
	Attempt Attempt
	// BrowserSecret goes into the per-attempt cookie named after Attempt.ID; only its hash is stored.
	BrowserSecret string
}

// Begin starts a sign-in with s: it generates state, nonce (each 256 bits), a PKCE S256 verifier and the
// browser binding, and builds the authorization URL. The first sign-in of an issuer fetches its discovery
// document here. next must already be sanitized; loginHint (an email) only prefills the IdP's form.
func (rp *RP) Begin(ctx context.Context, s Settings, redirectURL, next, loginHint string) (Start, error) {
	p, err := rp.d.provider(ctx, s.Issuer)
	if err != nil {
		return Start{}, err
	}
	// The browser is sent to this URL by a page of ours: it must be a web address on the IdP's side of
	// the same trust (https, or http exactly where the issuer itself may be http), never javascript: or data:.
	if _, problem := parseIssuer(s.Provider, p.Endpoint().AuthURL); problem != "" {
		return Start{}, fmt.Errorf("%w: authorization endpoint %s", ErrMisconfigured, problem)
	}
	vals := make([]string, 4)
	for i := range vals {
		if vals[i], err = rp.random(); err != nil {
			return Start{}, err
		}
	}
	state := s.TenantID + "." + vals[0]
	nonce, verifier, browser := vals[1], vals[2], vals[3]
	idb := make([]byte, 5)
	if _, err := io.ReadFull(rp.rand, idb); err != nil {
		return Start{}, fmt.Errorf("sso: reading randomness: %w", err)
	}
	now := rp.now()
	bh := sha256.Sum256([]byte(browser))
	a := Attempt{
		Tenant: s.TenantID, ID: strings.ToLower(base32.StdEncoding.EncodeToString(idb)), BrowserHash: bh[:],
		Nonce: nonce, Verifier: verifier, Next: next, RedirectURL: redirectURL,
		Provider: s.Provider, Issuer: s.Issuer, ClientID: s.ClientID,
		CreatedAt: now, ExpiresAt: now.Add(AttemptLife),
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if loginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", loginHint))
	}
	if s.Provider == Google && len(s.GoogleDomains) == 1 {
		// Only a hint to Google's account chooser: the hd claim of the token is what Finish checks.
		opts = append(opts, oauth2.SetAuthURLParam("hd", s.GoogleDomains[0]))
	}
	u := rp.oauth2Config(s, p, redirectURL).AuthCodeURL(state, opts...)
	return Start{URL: u, State: state, Attempt: a, BrowserSecret: browser}, nil
}

func (rp *RP) oauth2Config(s Settings, p *oidc.Provider, redirectURL string) *oauth2.Config {
	ep := p.Endpoint()
	ep.AuthStyle = s.AuthStyle
	return &oauth2.Config{ClientID: s.ClientID, ClientSecret: s.ClientSecret, Endpoint: ep, RedirectURL: redirectURL, Scopes: Scopes}
}

func (rp *RP) random() (string, error) {
	b := make([]byte, randomBytes)
	if _, err := io.ReadFull(rp.rand, b); err != nil {
		return "", fmt.Errorf("sso: reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// stateRandomLen is the length of the random part of a state value (base64url of 32 bytes).
const stateRandomLen = 43

// ParseState checks a state value's shape before any store access, and returns the tenant it names
// (which only routes the lookup: the key is a hash of the whole value, so changing the tenant part finds
// nothing) and the key its attempt is stored under.
func ParseState(state string) (tenant, key string, ok bool) {
	if len(state) > 64+1+stateRandomLen {
		return "", "", false
	}
	i := strings.LastIndexByte(state, '.')
	if i <= 0 || len(state)-i-1 != stateRandomLen {
		return "", "", false
	}
	tenant, rnd := state[:i], state[i+1:]
	if !directory.ValidTenantID(tenant) {
		return "", "", false
	}
	if b, err := base64.RawURLEncoding.DecodeString(rnd); err != nil || len(b) != randomBytes {
		return "", "", false
	}
	return tenant, StateKey(state), true
}

// StateKey is where the attempt of state is stored: a hash, so the store never holds a usable state.
func StateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// Identity is who the IdP says signed in, after every check.
type Identity struct {
	Provider string
	Issuer   string
	Subject  string
	// Key is the stable link key: "tid/oid" for Entra, "issuer|sub" elsewhere.
	Key string
	// Email is normalized; "" when the IdP gave none.
	Email string
	// EmailVerified is true only when the same verified document that carries Email says so with a JSON
	// boolean true (Entra: or xms_edov true, when it sends no email_verified at all).
	EmailVerified bool
	// EmailSource says which document Email came from: "id_token" or "userinfo".
	EmailSource string
	// Note explains, for the log, why there is no verified email (userinfo failed, ...).
	Note string
}

// Finish completes a sign-in: it exchanges code (with the attempt's PKCE verifier) at the token endpoint
// of the tenant's IdP and checks the ID token with go-oidc (signature with pinned algorithms, issuer,
// audience) and with what go-oidc leaves to the caller: nonce, azp, exp/iat/nbf with Leeway, a token issued
// before the attempt began, at_hash, and the provider's tenant binding (Entra tid, Google hd). Where the ID
// token lacks email or email_verified it asks the userinfo endpoint with this flow's access token.
//
// The caller has already taken the attempt (single use) and checked the browser binding; Finish checks
// that the attempt belongs to s's tenant and settings before anything reaches the network. A *Refused error
// is a verdict; ErrUnavailable and ErrMisconfigured are failures.
func (rp *RP) Finish(ctx context.Context, s Settings, a Attempt, code string) (Identity, error) {
	now := rp.now()
	switch {
	case a.Tenant != s.TenantID:
		return Identity{}, refuse("attempt of tenant %q used to sign in to tenant %q", a.Tenant, s.TenantID)
	case a.Provider != s.Provider || a.Issuer != s.Issuer || a.ClientID != s.ClientID:
		return Identity{}, refuse("the tenant's SSO settings changed after the sign-in began")
	case !now.Before(a.ExpiresAt):
		return Identity{}, refuse("attempt expired at %s", a.ExpiresAt.Format(time.RFC3339))
	case code == "" || len(code) > 4096:
		return Identity{}, refuse("no usable authorization code")
	}
	p, err := rp.d.provider(ctx, s.Issuer)
	if err != nil {
		return Identity{}, err
	}
	hctx := rp.d.clientContext(ctx)
	tok, err := rp.oauth2Config(s, p, a.RedirectURL).Exchange(hctx, code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		return Identity{}, exchangeError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, refuse("the token response has no id_token")
	}
	v := p.Verifier(&oidc.Config{
		ClientID:             s.ClientID,
		SupportedSigningAlgs: s.Algorithms,
		// go-oidc's expiry check has no leeway; ours below has Leeway and also checks iat.
		SkipExpiryCheck: true,
		Now:             rp.now,
	})
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return Identity{}, refuse("ID token: %v", err)
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, refuse("ID token claims: %v", err)
	}
	if err := checkTimes(claims, now, a.CreatedAt); err != nil {
		return Identity{}, err
	}
	if idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(a.Nonce)) != 1 {
		return Identity{}, refuse("nonce does not match this sign-in")
	}
	azp := stringClaim(claims, "azp")
	if len(idt.Audience) > 1 && azp == "" {
		return Identity{}, refuse("token has %d audiences and no azp", len(idt.Audience))
	}
	if azp != "" && azp != s.ClientID {
		return Identity{}, refuse("token was issued to client %q (azp), not this tenant's", azp)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, refuse("at_hash: %v", err)
		}
	}
	if !cleanID(idt.Subject) {
		return Identity{}, refuse("token has no usable sub")
	}
	id := Identity{Provider: s.Provider, Issuer: s.Issuer, Subject: idt.Subject, Key: s.Issuer + "|" + idt.Subject}

	switch s.Provider {
	case Entra:
		tid, oid := strings.ToLower(stringClaim(claims, "tid")), strings.ToLower(stringClaim(claims, "oid"))
		if tid != s.EntraTenantID {
			return Identity{}, refuse("Entra token of tenant %q, not the configured %q", tid, s.EntraTenantID)
		}
		if !guidPattern.MatchString(oid) {
			return Identity{}, refuse("Entra token has no usable oid")
		}
		id.Key = tid + "/" + oid
	case Google:
		hd := strings.ToLower(stringClaim(claims, "hd"))
		if hd == "" {
			return Identity{}, refuse("Google token has no hd claim (a personal Google account)")
		}
		if !slices.Contains(s.GoogleDomains, hd) {
			return Identity{}, refuse("Google token of hosted domain %q, not one of the allowed %v", hd, s.GoogleDomains)
		}
	}

	email, verified, hasEmail, hasVerified := emailClaims(claims)
	if s.Provider == Entra && hasEmail && !hasVerified {
		// Entra never sends email_verified for work accounts; its optional claim xms_edov (email domain
		// owner verified) is the tenant's statement that it owns the address's domain.
		verified = isTrue(claims["xms_edov"])
		hasVerified = verified
	}
	switch {
	case hasEmail && hasVerified:
		id.Email, id.EmailVerified, id.EmailSource = email, verified, "id_token"
	case p.UserInfoEndpoint() == "":
		id.Email, id.EmailSource, id.Note = email, "id_token", "no email_verified in the ID token and no userinfo endpoint"
	default:
		// Okta's org authorization server, among others, leaves profile claims out of the ID token.
		ui, err := p.UserInfo(hctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			id.Email, id.EmailSource, id.Note = email, "id_token", fmt.Sprintf("userinfo: %v", err)
			break
		}
		if ui.Subject != idt.Subject {
			// OIDC Core 5.3.2: a userinfo response for another subject must not be used — and here it
			// means the access token is not this sign-in's.
			return Identity{}, refuse("userinfo sub %q differs from the ID token's", ui.Subject)
		}
		var uc map[string]json.RawMessage
		if err := ui.Claims(&uc); err != nil {
			id.Note = fmt.Sprintf("userinfo claims: %v", err)
			break
		}
		// Email and its verification must come from one document: the ID token's email is never
		// combined with userinfo's email_verified.
		uemail, uverified, _, _ := emailClaims(uc)
		id.Email, id.EmailVerified, id.EmailSource = uemail, uverified, "userinfo"
		if uemail == "" {
			id.Note = "userinfo has no email"
		}
	}
	if id.Email != "" && !plausibleEmail(id.Email) {
		id.Email, id.EmailVerified, id.Note = "", false, "the IdP's email is not an address"
	}
	if id.Email != "" && !id.EmailVerified && id.Note == "" {
		id.Note = "the IdP does not say the email is verified"
	}
	return id, nil
}

// exchangeError sorts a failed code exchange: the IdP refusing the code (4xx) is a verdict, anything
// else (no answer, 5xx) is the IdP being unavailable. Only the OAuth error code is kept: a response
// body is the IdP's text and is not logged.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		code := re.ErrorCode
		if code == "" {
			code = http.StatusText(re.Response.StatusCode)
		}
		return refuse("the token endpoint refused the code: %s", code)
	}
	if errors.As(err, &re) && re.Response != nil {
		return fmt.Errorf("%w: token endpoint answered %d", ErrUnavailable, re.Response.StatusCode)
	}
	if errors.As(err, &re) {
		return fmt.Errorf("%w: token endpoint: %s", ErrUnavailable, re.ErrorCode)
	}
	return fmt.Errorf("%w: token endpoint: %v", ErrUnavailable, err)
}

// checkTimes applies exp, nbf and iat with Leeway: exp and iat are required, a token from the future is
// refused, and so is one issued before this sign-in began (it cannot be the answer to it).
func checkTimes(claims map[string]json.RawMessage, now, began time.Time) error {
	exp, ok := timeClaim(claims, "exp")
	if !ok {
		return refuse("token has no exp")
	}
	if now.After(exp.Add(Leeway)) {
		return refuse("token expired at %s", exp.Format(time.RFC3339))
	}
	if nbf, ok := timeClaim(claims, "nbf"); ok && now.Add(Leeway).Before(nbf) {
		return refuse("token not valid before %s", nbf.Format(time.RFC3339))
	} else if !ok && claims["nbf"] != nil {
		return refuse("token has an unreadable nbf")
	}
	iat, ok := timeClaim(claims, "iat")
	if !ok {
		return refuse("token has no iat")
	}
	if now.Add(Leeway).Before(iat) {
		return refuse("token issued in the future (%s)", iat.Format(time.RFC3339))
	}
	if iat.Before(began.Add(-Leeway)) {
		return refuse("stale token: issued %s, before this sign-in began", iat.Format(time.RFC3339))
	}
	return nil
}

func timeClaim(claims map[string]json.RawMessage, name string) (time.Time, bool) {
	raw, ok := claims[name]
	if !ok {
		return time.Time{}, false
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsNaN(f) || f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

func stringClaim(claims map[string]json.RawMessage, name string) string {
	var s string
	if raw, ok := claims[name]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// isTrue is true only for the JSON literal true: "true" as a string, 1, or anything else is not a yes.
func isTrue(raw json.RawMessage) bool { return strings.TrimSpace(string(raw)) == "true" }

// emailClaims reads email and email_verified from one document. preferred_username and upn are never
// read: they are names an admin or user can set, not addresses anyone proved.
func emailClaims(claims map[string]json.RawMessage) (email string, verified, hasEmail, hasVerified bool) {
	email = directory.NormalizeEmail(stringClaim(claims, "email"))
	_, hasVerified = claims["email_verified"]
	return email, email != "" && isTrue(claims["email_verified"]), email != "", hasVerified
}

func plausibleEmail(e string) bool {
	local, domain, ok := strings.Cut(e, "@")
	return ok && local != "" && domain != "" && !strings.Contains(domain, "@") && len(e) <= 254 &&
		strings.IndexFunc(e, func(r rune) bool { return r <= ' ' || r == 0x7f || r == utf8.RuneError }) < 0
}

// cleanID accepts an IdP identifier (sub, oid) that can go into a store key: non-empty, bounded, printable.
func cleanID(s string) bool {
	return s != "" && len(s) <= 255 && utf8.ValidString(s) &&
		strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) < 0
}
