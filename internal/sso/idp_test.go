package sso

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// internet is every identity provider the tests talk to, behind one TLS server: the test HTTP client
// dials it whatever the host, and checks its certificate properly (as example.com), so the providers'
// real issuer URLs — https://login.microsoftonline.com/<tid>/v2.0, https://oauth.id.jumpcloud.com/ —
// appear in discovery and tokens exactly as in production.
type internet struct {
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string]http.HandlerFunc // "host/path" → handler
}

func newInternet(t *testing.T) *internet {
	n := &internet{routes: map[string]http.HandlerFunc{}}
	n.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		h := n.routes[r.Host+r.URL.Path]
		n.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func (n *internet) handle(rawURL string, h http.HandlerFunc) {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	n.mu.Lock()
	n.routes[u.Host+u.Path] = h
	n.mu.Unlock()
}

func (n *internet) client() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(n.srv.Certificate())
	addr := n.srv.Listener.Addr().String()
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
	}}
}

// grant is one authorization the fake IdP handed out: what the browser brought to its authorize endpoint.
type grant struct {
	clientID    string
	redirectURI string
	nonce       string
	challenge   string
	method      string
	used        bool
	accessToken string
}

// fakeIdP is one provider: discovery, JWKS (through oidctest.Server), token and userinfo endpoints.
type fakeIdP struct {
	t        *testing.T
	issuer   string // as its discovery document and tokens state it
	clientID string
	secret   string
	auth     string // client authentication it requires: AuthBasic or AuthPost
	keyID    string
	key      crypto.Signer
	alg      string
	keys     *oidctest.Server
	noUI     bool // no userinfo endpoint in discovery

	mu     sync.Mutex
	grants map[string]*grant // code → grant

	discoveryHits, tokenHits, userinfoHits, keyHits atomic.Int32
	// tokenStatus, when set, is the token endpoint's answer instead of tokens.
	tokenStatus atomic.Int32
	// claims builds the ID token's claims for a grant; sign signs them (default: the IdP's key).
	claims   func(g *grant) map[string]any
	sign     func(claims map[string]any) string
	userinfo func(g *grant) (int, any)
	// discoveryIssuer, when set, is what discovery claims instead of issuer (a misconfiguration).
	discoveryIssuer string
	// authEndpoint, when set, is the authorization endpoint discovery announces.
	authEndpoint  string
	discoveryDown atomic.Bool
}

// endpoint is where the IdP serves name, under its issuer's path (two Entra tenants share one host).
func (f *fakeIdP) endpoint(name string) string {
	return strings.TrimSuffix(f.issuer, "/") + "/_idp/" + name
}

func newFakeIdP(t *testing.T, n *internet, issuer, clientID, auth string, key crypto.Signer, alg string) *fakeIdP {
	f := &fakeIdP{t: t, issuer: issuer, clientID: clientID, secret: "secret-of-" + clientID + "-0123456789abcdef0123456789abcdef", auth: auth,
		keyID: "k1-" + alg, key: key, alg: alg, grants: map[string]*grant{}}
	f.keys = &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: f.keyID, Algorithm: alg}}}
	f.sign = func(c map[string]any) string {
		b, _ := json.Marshal(c)
		return oidctest.SignIDToken(f.key, f.keyID, f.alg, string(b))
	}
	n.handle(strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", f.discovery)
	n.handle(f.endpoint("keys"), func(w http.ResponseWriter, r *http.Request) {
		f.keyHits.Add(1)
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/keys"
		f.keys.ServeHTTP(w, r2)
	})
	n.handle(f.endpoint("token"), f.token)
	n.handle(f.endpoint("userinfo"), f.userinfoEndpoint)
	return f
}

func (f *fakeIdP) discovery(w http.ResponseWriter, r *http.Request) {
	f.discoveryHits.Add(1)
	if f.discoveryDown.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	iss := f.issuer
	if f.discoveryIssuer != "" {
		iss = f.discoveryIssuer
	}
	auth := f.endpoint("authorize")
	if f.authEndpoint != "" {
		auth = f.authEndpoint
	}
	doc := map[string]any{
		"issuer": iss, "authorization_endpoint": auth, "token_endpoint": f.endpoint("token"),
		"jwks_uri": f.endpoint("keys"), "response_types_supported": []string{"code"},
		"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{f.alg},
	}
	if !f.noUI {
		doc["userinfo_endpoint"] = f.endpoint("userinfo")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

// authorize is what the IdP's authorization endpoint does after the person signs in: it records the
// request and returns the code it would redirect back with.
func (f *fakeIdP) authorize(t *testing.T, authURL string) (code string, q url.Values) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != f.endpoint("authorize") {
		t.Fatalf("authorization URL %s is not the IdP's authorization endpoint %s", got, f.endpoint("authorize"))
	}
	q = u.Query()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	code = base64.RawURLEncoding.EncodeToString(b)
	f.mu.Lock()
	f.grants[code] = &grant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")}
	f.mu.Unlock()
	return code, q
}

func tokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func (f *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	f.tokenHits.Add(1)
	if s := f.tokenStatus.Load(); s != 0 {
		tokenError(w, int(s), "server_error")
		return
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		tokenError(w, 400, "invalid_request")
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	user, pass, basic := r.BasicAuth()
	switch {
	case f.auth == AuthBasic && basic && secret == "":
		// x/oauth2 escapes both parts of the header (RFC 6749 2.3.1).
		user, _ = url.QueryUnescape(user)
		pass, _ = url.QueryUnescape(pass)
		id, secret = user, pass
	case f.auth == AuthPost && !basic:
	default:
		tokenError(w, 401, "invalid_client")
		return
	}
	if id != f.clientID || secret != f.secret {
		tokenError(w, 401, "invalid_client")
		return
	}
	f.mu.Lock()
	g := f.grants[r.PostForm.Get("code")]
	if g == nil || g.used || r.PostForm.Get("grant_type") != "authorization_code" {
		f.mu.Unlock()
		tokenError(w, 400, "invalid_grant")
		return
	}
	g.used = true
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if g.method != "S256" || g.challenge != base64.RawURLEncoding.EncodeToString(sum[:]) {
		tokenError(w, 400, "invalid_grant")
		return
	}
	if r.PostForm.Get("redirect_uri") != g.redirectURI || g.clientID != id {
		tokenError(w, 400, "invalid_grant")
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	f.mu.Lock()
	g.accessToken = "at-" + base64.RawURLEncoding.EncodeToString(b)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": g.accessToken, "token_type": "Bearer", "expires_in": 3600, "id_token": f.sign(f.claims(g)),
	})
}

func (f *fakeIdP) userinfoEndpoint(w http.ResponseWriter, r *http.Request) {
	f.userinfoHits.Add(1)
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	var g *grant
	f.mu.Lock()
	for _, gr := range f.grants {
		if gr.accessToken != "" && gr.accessToken == tok {
			g = gr
		}
	}
	f.mu.Unlock()
	if g == nil {
		// Only this flow's access token opens userinfo.
		http.Error(w, "invalid_token", http.StatusUnauthorized)
		return
	}
	status, body := 404, any(nil)
	if f.userinfo != nil {
		status, body = f.userinfo(g)
	}
	if status != http.StatusOK {
		http.Error(w, "error", status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// sharedRSA is generated once: 2048-bit generation per table row would dominate the run time.
var sharedRSA = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func rsaKey(*testing.T) *rsa.PrivateKey { return sharedRSA() }

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// unsignedToken is a JWT with alg "none": header, payload and an empty signature.
func unsignedToken(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

// hmacToken signs claims with HS256 under key (the classic attack uses the client secret, or the
// IdP's public key bytes, as the HMAC key).
func hmacToken(key []byte, claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return oidctest.SignIDToken(key, "k1-RS256", "HS256", string(b))
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func unix(t time.Time) int64 { return t.Unix() }

// signWith signs claims with key (one the IdP may or may not publish).
func signWith(key crypto.Signer, kid, alg string, c map[string]any) string {
	b, _ := json.Marshal(c)
	return oidctest.SignIDToken(key, kid, alg, string(b))
}
