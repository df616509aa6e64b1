package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/sso"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/web"
)

// ssoDiscovery is shared by every gateway in the process: discovery documents and signing keys are
// public and cached by issuer, so they outlive config reloads and thousands of tenants on one provider
// cost one fetch. Tenant settings are never cached: each sign-in reads them from the store, so enabling,
// disabling or changing SSO takes effect on the next sign-in on every replica.
var ssoDiscovery = sso.NewDiscovery(sso.DiscoveryOptions{})

// idpTimeout bounds the IdP round trips of one request (discovery, token, userinfo); they run outside the
// store's shorter deadline.
const idpTimeout = 20 * time.Second

// callbackPath is the OIDC redirect URI's path (registered at each tenant's IdP).
const callbackPath = "/.vectis/sso/callback"

// Per-attempt cookie names: one cookie per sign-in, named after the attempt, so two sign-ins started in
// parallel in one browser each find their own. Over TLS the __Host- prefix stops a sibling host from
// planting one.
const (
	ssoCookiePrefix       = "vectis_sso_"
	ssoCookiePrefixSecure = "__Host-vectis_sso_"
)

func (g *Gateway) relyingParty() *sso.RP {
	return sso.NewRP(ssoDiscovery, sso.Options{Now: g.now, Rand: g.rand})
}

func (g *Gateway) ssoCookieName(r *http.Request, attemptID string) string {
	if g.secure(r) {
		return ssoCookiePrefixSecure + attemptID
	}
	return ssoCookiePrefix + attemptID
}

// ssoActive reports whether op signs in through the tenant's IdP: SSO is on and op is not break-glass.
func ssoActive(t directory.Tenant, op directory.Operator) bool {
	return t.SSO != nil && t.SSO.Enabled && !t.IsBreakGlass(op.Email)
}

// ssoSettings opens the tenant's client secret and checks its settings, fresh from the store record.
func (g *Gateway) ssoSettings(t directory.Tenant) (sso.Settings, error) {
	if t.SSO == nil {
		return sso.Settings{}, fmt.Errorf("%w: tenant %s has no SSO settings", sso.ErrMisconfigured, t.ID)
	}
	secret, err := g.keys.Open(t.SSO.ClientSecretSealed, sso.SecretAAD(t.ID))
	if err != nil {
		return sso.Settings{}, fmt.Errorf("%w: opening tenant %s's client secret (was secret_key changed?): %v", sso.ErrMisconfigured, t.ID, err)
	}
	s, err := sso.NewSettings(t.ID, *t.SSO, string(secret))
	if err != nil {
		return sso.Settings{}, fmt.Errorf("%w: tenant %s: %v", sso.ErrMisconfigured, t.ID, err)
	}
	return s, nil
}

func attemptAAD(tenant, key string) []byte { return []byte("sso-attempt|" + tenant + "|" + key) }

// startSSO sends the browser to the tenant's IdP: it records the attempt (single use, 10 minutes), sets
// the per-attempt cookie and answers with a page that moves on to the IdP by itself.
//
// Not a 303: the gateway's pages allow form-action 'self' only, and Chrome applies form-action to every
// redirect that follows a form submission, so a 303 from the email form to the IdP would be blocked. A
// page that navigates on its own (meta refresh, plus a link) is a new navigation, not a form's redirect.
func (g *Gateway) startSSO(w http.ResponseWriter, r *http.Request, st store.Store, t directory.Tenant, loginHint, next string) {
	settings, err := g.ssoSettings(t)
	if err != nil {
		g.ssoMisconfigured(w, r, t.ID, err)
		return
	}
	ictx, cancel := context.WithTimeout(r.Context(), idpTimeout)
	defer cancel()
	start, err := g.relyingParty().Begin(ictx, settings, g.callbackURL(r), next, loginHint)
	if err != nil {
		g.ssoFailed(w, r, t.ID, settings.Label(), err)
		return
	}
	raw, err := json.Marshal(start.Attempt)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	key := sso.StateKey(start.State)
	sealed, err := g.keys.Seal(g.rand, raw, attemptAAD(t.ID, key))
	if err != nil {
		g.internal(w, r, err)
		return
	}
	sctx, scancel := context.WithTimeout(r.Context(), pageTimeout)
	defer scancel()
	if err := st.PutOnce(sctx, t.ID, key, sealed, sso.AttemptLife); err != nil {
		g.unavailable(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: g.ssoCookieName(r, start.Attempt.ID), Value: start.BrowserSecret, Path: "/", HttpOnly: true,
		Secure: g.secure(r),
		// Lax, not Strict: the IdP sends the browser back with a cross-site top-level GET, which Lax
		// cookies accompany and Strict ones do not.
		SameSite: http.SameSiteLaxMode, MaxAge: int(sso.AttemptLife / time.Second),
	})
	g.log.Info("sso sign-in started", "tenant", t.ID, "attempt", start.Attempt.ID, "provider", settings.Provider)
	_ = g.pages.Render(w, http.StatusOK, "sso-redirect", web.Page{
		Title: "Continuing to " + settings.Label(),
		Lead:  "Your workspace signs in through " + settings.Label() + ". Taking you there now…",
		// sso.Begin has checked the URL is https (or loopback http for the generic provider): html/template
		// escapes but does not filter a meta refresh's content.
		Data: map[string]any{"URL": start.URL, "Refresh": "0;url=" + start.URL, "Provider": settings.Label()},
	})
}

// callbackURL is this host's redirect URI. The browser's Host is the only name it can come back to; an IdP
// only redirects to URIs registered for the client, so a forged Host gets no code.
func (g *Gateway) callbackURL(r *http.Request) string {
	scheme := "http"
	if g.secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + callbackPath
}

// ssoCallback finishes a sign-in at the IdP. Order matters: the attempt is taken (single use) first, then
// the browser binding is checked, and only then does the code go to the IdP's token endpoint — so a
// replayed state or a callback in another browser never reaches the IdP.
func (g *Gateway) ssoCallback(w http.ResponseWriter, r *http.Request) {
	// GET only: a HEAD (a link checker, a prefetch) would spend the attempt without finishing it.
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		web.SetSecurityHeaders(w.Header())
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	tenantID, key, ok := sso.ParseState(q.Get("state"))
	if !ok {
		g.log.Info("sso callback refused", "reason", "malformed or missing state")
		g.ssoMetric(SSOFailState)
		g.ssoStartAgain(w, http.StatusBadRequest, "This sign-in link is not valid",
			"It did not come from a sign-in started here. Please sign in again.")
		return
	}
	sctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	st, _, err := g.backend(sctx)
	if err != nil {
		g.unavailable(w, r, err)
		return
	}
	raw, err := st.TakeOnce(sctx, tenantID, key)
	if errors.Is(err, directory.ErrNotFound) {
		g.log.Info("sso callback refused", "reason", "unknown, expired or already used state", "tenant", tenantID)
		g.ssoMetric(SSOFailState)
		g.ssoStartAgain(w, http.StatusBadRequest, "This sign-in has expired",
			"A sign-in link works once, within 10 minutes. Please sign in again.")
		return
	}
	if err != nil {
		g.unavailable(w, r, err)
		return
	}
	var a sso.Attempt
	plain, err := g.keys.Open(raw, attemptAAD(tenantID, key))
	if err == nil {
		err = json.Unmarshal(plain, &a)
	}
	if err != nil || a.Tenant != tenantID {
		g.log.Warn("sso callback refused", "reason", "unreadable attempt record", "tenant", tenantID, "error", err)
		g.ssoMetric(SSOFailState)
		g.ssoStartAgain(w, http.StatusBadRequest, "This sign-in has expired", "Please sign in again.")
		return
	}
	cookieName := g.ssoCookieName(r, a.ID)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: g.secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	var browser string
	if c, err := r.Cookie(cookieName); err == nil {
		browser = c.Value
	}
	if !a.CheckBrowser(browser) {
		// A code and state carried into another browser: the login-CSRF that would sign the victim in as
		// the attacker. The attempt is already spent.
		g.log.Warn("sso callback refused", "reason", "no matching attempt cookie in this browser", "tenant", tenantID, "attempt", a.ID)
		g.ssoMetric(SSOFailState)
		g.ssoStartAgain(w, http.StatusBadRequest, "This sign-in was started in another browser",
			"For your security, finish signing in in the browser where you started. Please sign in again here.")
		return
	}
	if idpErr := q.Get("error"); idpErr != "" {
		g.log.Info("sso sign-in ended at the IdP", "tenant", tenantID, "attempt", a.ID, "idp_error", logToken(idpErr))
		g.ssoMetric(SSOFailIdP)
		g.ssoStartAgain(w, http.StatusForbidden, "Your identity provider did not sign you in",
			"The sign-in was cancelled or refused at your company's sign-in page. You can try again.")
		return
	}
	t, err := st.GetTenant(sctx, tenantID)
	if errors.Is(err, directory.ErrNotFound) || (err == nil && (t.SSO == nil || !t.SSO.Enabled)) {
		g.log.Info("sso callback refused", "reason", "SSO is off for the tenant", "tenant", tenantID, "attempt", a.ID)
		g.ssoMetric(SSOFailConfig)
		g.ssoStartAgain(w, http.StatusForbidden, "Company sign-in is switched off",
			"Your workspace no longer signs in through an identity provider. Sign in with your email and password.")
		return
	}
	if err != nil {
		g.unavailable(w, r, err)
		return
	}
	settings, err := g.ssoSettings(t)
	if err != nil {
		g.ssoMisconfigured(w, r, t.ID, err)
		return
	}
	ictx, icancel := context.WithTimeout(r.Context(), idpTimeout)
	defer icancel()
	id, err := g.relyingParty().Finish(ictx, settings, a, q.Get("code"))
	if err != nil {
		g.ssoFailed(w, r, t.ID, settings.Label(), err)
		return
	}
	// A fresh store deadline: the IdP round trips may have used up the first one.
	sctx2, cancel2 := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel2()
	op, ok := g.ssoOperator(w, r, sctx2, st, t, settings, id)
	if !ok {
		return
	}
	s := session.Session{TenantID: op.TenantID, UserID: op.ID, Email: op.Email, Role: string(op.Role), Next: web.SafeNext(a.Next)}
	g.finishSignIn(w, r, sctx2, st, &current{s: s}, ssoAuth(settings.Provider), g.now(), nil)
}

// ssoOperator maps the IdP's identity to an operator of tenant t: through the stored link first; else
// through an email the IdP verified, linking it; else by creating a member (only with jit on). Anything
// else gets a page telling the person to ask their admin. ok=false means a response was written.
func (g *Gateway) ssoOperator(w http.ResponseWriter, r *http.Request, ctx context.Context, st store.Store, t directory.Tenant,
	s sso.Settings, id sso.Identity) (directory.Operator, bool) {
	refuse := func(reason string) (directory.Operator, bool) {
		g.log.Warn("sso sign-in refused", "tenant", t.ID, "reason", reason, "provider", s.Provider, "email_source", id.EmailSource, "note", id.Note)
		g.ssoMetric(SSOFailOperator)
		g.ssoAskAdmin(w, s.Label(), id)
		return directory.Operator{}, false
	}
	op, err := st.OperatorBySSOKey(ctx, t.ID, id.Key)
	switch {
	case err == nil:
	case !errors.Is(err, directory.ErrNotFound):
		g.unavailable(w, r, err)
		return directory.Operator{}, false
	case id.Email == "" || !id.EmailVerified:
		// First link only through an email the IdP verified; preferred_username and upn never count.
		return refuse("identity not linked and no verified email")
	default:
		op, err = st.OperatorByEmail(ctx, id.Email)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			if !s.JIT {
				return refuse("no operator with the verified email")
			}
			if op, err = g.createSSOOperator(ctx, st, t, id); err != nil {
				if errors.Is(err, directory.ErrExists) {
					return refuse("just-in-time creation collided with an existing operator")
				}
				g.unavailable(w, r, err)
				return directory.Operator{}, false
			}
			g.log.Info("operator created at first SSO sign-in", "tenant", t.ID, "user", op.ID, "provider", s.Provider)
		case err != nil:
			g.unavailable(w, r, err)
			return directory.Operator{}, false
		case op.TenantID != t.ID:
			// Invariant 9: tenant A's IdP never signs in an operator of tenant B.
			return refuse("the verified email belongs to an operator of another tenant")
		case op.SSOKey != "":
			return refuse("the operator is linked to another identity of the IdP")
		case op.Disabled:
			return refuse("operator disabled")
		case t.IsBreakGlass(op.Email):
			return refuse("break-glass accounts are never linked to the IdP")
		default:
			op.SSOKey = id.Key
			if err := st.UpdateOperator(ctx, op); err != nil {
				if errors.Is(err, directory.ErrExists) || errors.Is(err, directory.ErrNotFound) {
					return refuse("linking lost a race with another change of the operator")
				}
				g.unavailable(w, r, err)
				return directory.Operator{}, false
			}
			g.log.Info("operator linked to an SSO identity", "tenant", t.ID, "user", op.ID, "provider", s.Provider, "email_source", id.EmailSource)
		}
	}
	if op.TenantID != t.ID {
		return refuse("linked operator of another tenant")
	}
	if op.Disabled {
		g.log.Warn("sso sign-in refused", "tenant", t.ID, "user", op.ID, "reason", "operator disabled")
		g.ssoMetric(SSOFailOperator)
		g.message(w, http.StatusForbidden, "Your account is disabled",
			"Your Vectis account in this workspace is disabled. Ask your workspace administrator.")
		return directory.Operator{}, false
	}
	if t.IsBreakGlass(op.Email) {
		// Break-glass admins are for when the IdP cannot be trusted or reached: they always prove a
		// password and a code here, never the IdP's word.
		g.log.Warn("sso sign-in refused", "tenant", t.ID, "user", op.ID, "reason", "break-glass account")
		g.ssoMetric(SSOFailOperator)
		g.message(w, http.StatusForbidden, "Sign in with your password",
			"This is an emergency (break-glass) account: it always signs in with its password and authenticator code.",
			web.Link{Label: "Sign in with a password", URL: "/.vectis/login"})
		return directory.Operator{}, false
	}
	return op, true
}

// createSSOOperator makes a member of t for an IdP identity with a verified email (just-in-time creation).
func (g *Gateway) createSSOOperator(ctx context.Context, st store.Store, t directory.Tenant, id sso.Identity) (directory.Operator, error) {
	opID, err := newOperatorID(g.rand)
	if err != nil {
		return directory.Operator{}, err
	}
	op := directory.Operator{ID: opID, TenantID: t.ID, Email: id.Email, Role: directory.RoleMember, CreatedAt: g.now(), SSOKey: id.Key}
	return op, st.CreateOperator(ctx, op)
}

// newOperatorID is "op_" and 20 lower-case base32 characters (100 bits), the seed import's format.
func newOperatorID(r io.Reader) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [20]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("generating operator id: %w", err)
	}
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return "op_" + string(b[:]), nil
}

// ssoRequired answers a password sign-in of an SSO operator: passwords are not how they sign in, and the
// page offers the way that is.
func (g *Gateway) ssoRequired(w http.ResponseWriter, r *http.Request, t directory.Tenant, email, next string) {
	label := sso.Label(t.SSO.Provider)
	g.log.Info("sign-in refused", "reason", "password sign-in of an SSO operator", "tenant", t.ID, "method", "password")
	_ = g.pages.Render(w, http.StatusForbidden, "sso-required", web.Page{
		Title: "Sign in with your company account",
		Lead:  "Your workspace signs in through " + label + ", not with a password here. Your identity provider checks your second factor.",
		CSRF:  g.csrfToken(w, r), Next: next, Email: email,
		Data: map[string]any{"Provider": label},
	})
}

// ssoAskAdmin is the page for an IdP identity that is not (and cannot become) a Vectis operator here.
func (g *Gateway) ssoAskAdmin(w http.ResponseWriter, label string, id sso.Identity) {
	lead := label + " signed you in, but no Vectis account in this workspace is linked to that identity. " +
		"Ask your workspace administrator to add you (or to link your account)."
	if id.Email != "" && !id.EmailVerified {
		lead = label + " signed you in, but did not confirm that " + id.Email + " is a verified address, so it cannot be linked " +
			"to a Vectis account. Ask your workspace administrator to add or link your account."
	} else if id.Email != "" {
		lead = label + " signed you in as " + id.Email + ", but that is not a Vectis account in this workspace that can sign in " +
			"this way. Ask your workspace administrator to add you (or to link your account)."
	}
	g.message(w, http.StatusForbidden, "Ask your administrator for access", lead,
		web.Link{Label: "Back to sign-in", URL: "/.vectis/login"})
}

// ssoFailed answers a Begin or Finish error: a refusal (403, one message for every reason, the reason in the
// log), an unreachable IdP (502), or settings that cannot work (see ssoMisconfigured).
func (g *Gateway) ssoFailed(w http.ResponseWriter, r *http.Request, tenant, label string, err error) {
	var ref *sso.Refused
	switch {
	case errors.As(err, &ref):
		id := g.newRef()
		g.log.Warn("sso sign-in refused", "tenant", tenant, "reason", ref.Reason, "ref", id)
		g.ssoMetric(SSOFailToken)
		_ = g.pages.Render(w, http.StatusForbidden, "message", web.Page{
			Title: "We could not sign you in",
			Lead: "The answer from " + label + " could not be accepted for this workspace. Please sign in again; if it keeps " +
				"happening, give your administrator the reference below.",
			Ref: id, Actions: []web.Link{{Label: "Sign in again", URL: "/.vectis/login"}},
		})
	case errors.Is(err, sso.ErrMisconfigured):
		g.ssoMisconfigured(w, r, tenant, err)
	default:
		id := g.newRef()
		g.log.Error("identity provider unavailable; sign-in denied", "tenant", tenant, "ref", id, "error", err)
		g.ssoMetric(SSOFailExchange)
		w.Header().Set("Retry-After", "30")
		_ = g.pages.Render(w, http.StatusBadGateway, "message", web.Page{
			Title: label + " cannot be reached",
			Lead:  "The gateway could not reach your company's sign-in service. Please try again in a minute.",
			Ref:   id, Actions: []web.Link{{Label: "Try again", URL: "/.vectis/login"}},
		})
	}
}

func (g *Gateway) ssoMisconfigured(w http.ResponseWriter, r *http.Request, tenant string, err error) {
	id := g.newRef()
	g.log.Error("tenant SSO settings do not work; sign-in denied", "tenant", tenant, "ref", id, "error", err)
	_ = g.pages.Render(w, http.StatusInternalServerError, "message", web.Page{
		Title: "Company sign-in is not set up correctly",
		Lead:  "Your workspace's identity provider settings do not work. Give your administrator the reference below.",
		Ref:   id, Actions: []web.Link{{Label: "Back to sign-in", URL: "/.vectis/login"}},
	})
}

func (g *Gateway) ssoStartAgain(w http.ResponseWriter, status int, title, lead string) {
	g.message(w, status, title, lead, web.Link{Label: "Sign in again", URL: "/.vectis/login"})
}

// logToken keeps an IdP-supplied error code loggable: short, and only the characters OAuth error codes use.
func logToken(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' {
			return r
		}
		return '?'
	}, s)
}

// ssoAuth is an SSO session's method, as X-Vectis-Auth carries it.
func ssoAuth(provider string) string { return "sso:" + provider }
