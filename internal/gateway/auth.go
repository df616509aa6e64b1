package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vectis/mfa-gateway/internal/assertion"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/web"
)

// touchEvery bounds how often a request writes last-seen: idle expiry is accurate to this, and the hot
// path reads without writing on all other requests.
const touchEvery = time.Minute

// current is a session found for the request.
type current struct {
	tok string
	id  [32]byte
	s   session.Session
}

// loadSession finds this browser's session. (nil, nil) means none or no longer valid; an error means the
// machinery failed and the caller must deny with 503. A cache hit makes no store call and sets no timer;
// a store call gets storeTimeout of its own.
func (g *Gateway) loadSession(ctx context.Context, r *http.Request, st store.Store) (*current, error) {
	tok := g.sessionToken(r)
	if tok == "" {
		return nil, nil
	}
	tenant, id, ok := parseToken(tok)
	if !ok {
		return nil, nil
	}
	now := g.now()
	s, hit := g.sessions.get(id, now)
	if !hit {
		key := id // the closure's own copy, so id itself stays on the stack on the hit path
		var err error
		s, err = g.sessions.load(ctx, id, now, func(ctx context.Context) (session.Session, error) {
			return g.readSession(ctx, st, tenant, key, now)
		})
		if errors.Is(err, session.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if s.TenantID != tenant || !now.Before(s.ExpiresAt) ||
		(s.State == session.StateActive && !now.Before(s.LastSeen.Add(g.cfg.SessionIdle))) {
		// Expired: remove it now so a stale cookie cannot come back (best effort; the record is dead anyway).
		dctx, cancel := context.WithTimeout(ctx, storeTimeout)
		_ = st.DeleteSession(dctx, tenant, id[:])
		cancel()
		return nil, nil
	}
	return &current{tok: tok, id: id, s: s}, nil
}

// readSession reads a session from the store for the cache. An active session is also checked against its
// tenant as it is now: a session stays valid only while the way it was signed in is still how this operator
// signs in (methodAllowed). One that is not is deleted and reads as not found.
func (g *Gateway) readSession(ctx context.Context, st store.Store, tenant string, id [32]byte, now time.Time) (session.Session, error) {
	s, err := st.GetSession(ctx, tenant, id[:])
	if err != nil || s.State != session.StateActive {
		return s, err
	}
	t, ok := g.tenants.get(tenant, now)
	if !ok {
		gen := g.tenants.generation()
		t, err = st.GetTenant(ctx, tenant)
		if errors.Is(err, directory.ErrNotFound) {
			return session.Session{}, session.ErrNotFound
		}
		if err != nil {
			return session.Session{}, err
		}
		g.tenants.putIf(tenant, t, now, gen)
	}
	if !methodAllowed(t, s) {
		g.log.Info("session ended: the tenant's sign-in settings changed since it began",
			"tenant", s.TenantID, "user", s.UserID, "auth", s.Auth)
		_ = st.DeleteSession(ctx, tenant, id[:])
		return session.Session{}, session.ErrNotFound
	}
	return s, nil
}

// methodAllowed reports whether a session signed in with s.Auth is still how its operator signs in to t:
// through the tenant's IdP (SSO on, the same provider, not a break-glass admin), or with a password and a
// second factor (SSO off, or a break-glass admin). So turning SSO on ends the password sessions of everyone
// but the break-glass admins, taking an admin off the break-glass list ends their password session, and
// turning SSO off (an IdP that can no longer be trusted, say) ends every session the IdP vouched for.
func methodAllowed(t directory.Tenant, s session.Session) bool {
	ssoOn := t.SSO != nil && t.SSO.Enabled
	if provider, ok := strings.CutPrefix(s.Auth, "sso:"); ok {
		return ssoOn && provider == t.SSO.Provider && !t.IsBreakGlass(s.Email)
	}
	return !ssoOn || t.IsBreakGlass(s.Email)
}

// passAuthenticated lets a fully signed-in operator through with identity headers; anything else is denied.
// It is the hot path: on a cached session it makes no store call, sets no timer and allocates little.
func (g *Gateway) passAuthenticated(w http.ResponseWriter, r *http.Request, next Next) error {
	ctx := r.Context()
	st, signer, err := g.backend(ctx)
	if err != nil {
		g.unavailable(w, r, err)
		return nil
	}
	cur, err := g.loadSession(ctx, r, st)
	if err != nil {
		g.unavailable(w, r, err)
		return nil
	}
	if cur == nil || cur.s.State != session.StateActive {
		g.unauthenticated(w, r)
		return nil
	}
	now := g.now()
	if now.Sub(cur.s.LastSeen) >= touchEvery && g.sessions.beginTouch(cur.id) {
		// One request per session writes last-seen; the others in flight meanwhile go on without writing.
		cur.s.LastSeen = now
		tctx, cancel := context.WithTimeout(ctx, storeTimeout)
		err := st.UpdateSession(tctx, cur.id[:], cur.s) // the store wrapper drops the cached copy after it
		cancel()
		g.sessions.endTouch(cur.id)
		if err != nil {
			if errors.Is(err, session.ErrNotFound) {
				g.unauthenticated(w, r) // revoked between read and write
				return nil
			}
			g.unavailable(w, r, err)
			return nil
		}
	}
	tok, err := signer.For(cur.id, assertion.Claims{
		Issuer: g.opts.AssertionIssuer, Audience: hostOnly(r), Subject: cur.s.UserID, Email: cur.s.Email,
		Tenant: cur.s.TenantID, Role: cur.s.Role, AMR: amr(cur.s.Auth),
	}, now)
	if err != nil {
		g.unavailable(w, r, err)
		return nil
	}
	id := Identity{UserID: cur.s.UserID, Email: cur.s.Email, TenantID: cur.s.TenantID, Role: cur.s.Role, Auth: cur.s.Auth}
	setIdentityHeaders(r.Header, id, tok)
	stripGatewayCookies(r)
	if g.opts.OnIdentity != nil {
		g.opts.OnIdentity(r, id)
	}
	return next(w, r)
}

// setIdentityHeaders sets the six identity headers (names already canonical, so they are assigned
// directly, with one backing array for the six values: this runs on every authenticated request).
func setIdentityHeaders(h http.Header, id Identity, assertion string) {
	v := [...]string{id.UserID, id.Email, id.TenantID, id.Role, id.Auth, assertion}
	vals := v[:]
	h["X-Vectis-User-Id"] = vals[0:1:1]
	h["X-Vectis-Email"] = vals[1:2:2]
	h["X-Vectis-Tenant"] = vals[2:3:3]
	h["X-Vectis-Role"] = vals[3:4:4]
	h["X-Vectis-Auth"] = vals[4:5:5]
	h["X-Vectis-Assertion"] = vals[5:6:6]
}

// The amr values are shared, read-only slices (RFC 8176 names), so the hot path allocates none.
var (
	amrPasswordTOTP     = []string{"pwd", "otp", "mfa"}
	amrPasswordRecovery = []string{"pwd", "mfa"}
	amrFederated        = []string{"fed"}
)

// amr maps the session's method to RFC 8176 values. The result is shared: callers must not modify it.
func amr(auth string) []string {
	switch {
	case auth == "password+totp":
		return amrPasswordTOTP
	case auth == "password+recovery":
		return amrPasswordRecovery
	case strings.HasPrefix(auth, "sso:"):
		return amrFederated
	}
	return []string{auth}
}

// wantsHTML tells a browser navigation (gets a redirect to the login page) from XHR/API calls (get 401 JSON).
func wantsHTML(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.Header.Get("X-Requested-With") != "" {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func loginURL(next string) string {
	if next == "" {
		return "/.vectis/login"
	}
	return "/.vectis/login?next=" + url.QueryEscape(next)
}

func (g *Gateway) unauthenticated(w http.ResponseWriter, r *http.Request) {
	next := web.SafeNext(r.URL.RequestURI())
	if wantsHTML(r) {
		web.SetSecurityHeaders(w.Header())
		http.Redirect(w, r, loginURL(next), http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthenticated", "login_url": loginURL(next)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	web.SetSecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
