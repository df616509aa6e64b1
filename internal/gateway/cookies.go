package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vectis/mfa-gateway/config"
	"github.com/vectis/mfa-gateway/internal/directory"
)

// Cookie names. Over TLS the __Host- prefix stops a sibling host (a portal subdomain, say) from planting or
// shadowing the cookie; on plain-HTTP localhost demos browsers refuse __Host- cookies, so the plain name is used.
const (
	sessionCookie       = "vectis_session"
	sessionCookieSecure = "__Host-vectis_session"
	csrfCookie          = "vectis_csrf"
	csrfCookieSecure    = "__Host-vectis_csrf"
)

// tokenBytes is the random part of a session cookie: 256 bits.
const tokenBytes = 32

func (g *Gateway) secure(r *http.Request) bool { return g.opts.Secure || r.TLS != nil }

func (g *Gateway) sessionCookieName(r *http.Request) string {
	if g.secure(r) {
		return sessionCookieSecure
	}
	return sessionCookie
}

func (g *Gateway) csrfCookieName(r *http.Request) string {
	if g.secure(r) {
		return csrfCookieSecure
	}
	return csrfCookie
}

// newToken returns a cookie value "<tenant>.<43 base64url chars>" and its store id (SHA-256 of the whole value).
// The tenant prefix only routes the lookup (Redis Cluster hash tag); changing it changes the hash, so it
// grants nothing.
func (g *Gateway) newToken(tenant string) (string, [32]byte, error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(g.rand, b); err != nil {
		return "", [32]byte{}, err
	}
	v := tenant + "." + base64.RawURLEncoding.EncodeToString(b)
	return v, sha256.Sum256([]byte(v)), nil
}

// parseToken validates the cookie's shape before any store access, so junk never becomes a store key.
func parseToken(v string) (tenant string, id [32]byte, ok bool) {
	if len(v) > 120 {
		return "", id, false
	}
	i := strings.LastIndexByte(v, '.')
	if i <= 0 {
		return "", id, false
	}
	tenant, rnd := v[:i], v[i+1:]
	if !directory.ValidTenantID(tenant) || len(rnd) != 43 {
		return "", id, false
	}
	// Decoded into a stack buffer: this runs on every authenticated request.
	var raw [tokenBytes]byte
	if n, err := base64.RawURLEncoding.Decode(raw[:], []byte(rnd)); err != nil || n != tokenBytes {
		return "", id, false
	}
	var buf [120]byte // v is at most 120 bytes (checked above): hashed without a heap copy
	return tenant, sha256.Sum256(buf[:copy(buf[:], v)]), true
}

// sessionToken returns the session cookie's value from the request, if any (only our exact name counts).
func (g *Gateway) sessionToken(r *http.Request) string {
	return cookieValue(r.Header, g.sessionCookieName(r))
}

// cookieValue returns the value of the first cookie called name in the request's Cookie lines, without
// parsing every cookie into a slice as r.Cookies() does (it runs on every authenticated request). Like
// net/http it trims blanks around each pair and one pair of double quotes around the value; the caller
// validates the value's shape (parseToken), so a malformed one is refused there.
func cookieValue(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.Trim(part, " \t")
			k, v, ok := strings.Cut(part, "=")
			if !ok || strings.Trim(k, " \t") != name { // net/http trims blanks around the name too
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

func (g *Gateway) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: g.sessionCookieName(r), Value: value, Path: "/", HttpOnly: true, Secure: g.secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge / time.Second),
	})
}

func (g *Gateway) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: g.sessionCookieName(r), Value: "", Path: "/", HttpOnly: true,
		Secure: g.secure(r), SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// csrfToken binds a form to this browser: to the session cookie when there is one, otherwise to a random
// pre-login cookie (set here when missing). The field is a MAC, so the cookie alone does not reveal it.
func (g *Gateway) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if tok := g.sessionToken(r); tok != "" {
		return g.csrfFor("s", tok)
	}
	name := g.csrfCookieName(r)
	if c, err := r.Cookie(name); err == nil && len(c.Value) == 43 {
		return g.csrfFor("p", c.Value)
	}
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(g.rand, b); err != nil {
		return ""
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", HttpOnly: true, Secure: g.secure(r),
		SameSite: http.SameSiteStrictMode})
	// Make the new cookie visible to a token computed later in this same request.
	r.AddCookie(&http.Cookie{Name: name, Value: v})
	return g.csrfFor("p", v)
}

func (g *Gateway) csrfFor(kind, v string) string {
	return base64.RawURLEncoding.EncodeToString(g.keys.MAC("csrf", []byte(kind), []byte(v))[:24])
}

// checkCSRF accepts the form's token if it matches the session-bound or pre-login token of this browser.
func (g *Gateway) checkCSRF(r *http.Request) bool {
	got := r.PostFormValue("csrf")
	if got == "" {
		return false
	}
	if tok := g.sessionToken(r); tok != "" {
		// With a session, only the session-bound token counts: a pre-login token can be minted by anyone
		// who can plant a cookie (a sibling host, on plain HTTP), so it must not authorize session actions.
		return subtle.ConstantTimeCompare([]byte(got), []byte(g.csrfFor("s", tok))) == 1
	}
	if c, err := r.Cookie(g.csrfCookieName(r)); err == nil && c.Value != "" &&
		subtle.ConstantTimeCompare([]byte(got), []byte(g.csrfFor("p", c.Value))) == 1 {
		return true
	}
	return false
}

// sameOrigin reports whether the request's Origin header names this very origin — scheme and host (logout
// without a token).
func (g *Gateway) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	scheme := "http"
	if g.secure(r) {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

// stripGatewayCookies removes only the gateway's cookies from the proxied request, keeping the app's own.
func stripGatewayCookies(r *http.Request) { filterHeaderList(r.Header, "Cookie", ";", isGatewayCookie) }

// isGatewayCookie reports whether one "name=value" pair of a Cookie header is one of the gateway's cookies.
func isGatewayCookie(pair string) bool {
	name, _, _ := strings.Cut(pair, "=")
	switch name = strings.TrimSpace(name); {
	case name == sessionCookie, name == sessionCookieSecure, name == csrfCookie, name == csrfCookieSecure,
		// SSO attempt cookies (vectis_sso_<id>) are the gateway's too.
		strings.HasPrefix(name, "vectis_sso_"), strings.HasPrefix(name, "__Host-vectis_sso_"):
		return true
	}
	return false
}

// hostOnly is the request host without port, lower case (the assertion's audience).
func hostOnly(r *http.Request) string { return strings.ToLower(config.StripPort(r.Host)) }
