package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/vectis/mfa-gateway/config"
	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/credential"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/web"
)

// msgBadLogin is the one message for every wrong email, password, or unusable account: nothing says which.
const msgBadLogin = "That email and password do not match an account that can sign in here."

func (g *Gateway) login(w http.ResponseWriter, r *http.Request) {
	methods(w, r, func() { g.loginPage(w, r, http.StatusOK, "", "") }, func() { g.loginPost(w, r) })
}

// loginPage renders the login form: the email alone, or (once an email is known) email and password.
// A valid ?tenant= adds a "company account" button that starts that workspace's SSO without an email.
func (g *Gateway) loginPage(w http.ResponseWriter, r *http.Request, status int, email, errMsg string) {
	next := web.SafeNext(r.FormValue("next"))
	data := map[string]any{}
	if t := r.FormValue("tenant"); directory.ValidTenantID(t) {
		data["Tenant"] = t
	}
	_ = g.pages.Render(w, status, "login", web.Page{
		Title: "Sign in", Lead: "Sign in to your Vectis workspace.",
		CSRF: g.csrfToken(w, r), Next: next, Email: email, Error: errMsg, Data: data,
	})
}

// loginEmailStep is the login form's first step: an operator of a workspace that signs in through an
// identity provider is sent there; everyone else, unknown addresses included (so the step does not say
// who has an account), is asked for the password. A tenant field instead of an email (the "company
// account" button) starts that workspace's SSO, for people the IdP may create just in time.
func (g *Gateway) loginEmailStep(w http.ResponseWriter, r *http.Request, email string) {
	next := web.SafeNext(r.PostFormValue("next"))
	hint := r.PostFormValue("tenant")
	switch {
	case email == "" && !directory.ValidTenantID(hint):
		g.loginPage(w, r, http.StatusBadRequest, "", "Enter your work email.")
		return
	case len(email) > 320:
		g.loginPage(w, r, http.StatusBadRequest, "", "That is not an email address.")
		return
	}
	g.withStore(w, r, func(ctx context.Context, st store.Store) {
		if email == "" {
			t, err := st.GetTenant(ctx, hint)
			if err != nil && !errors.Is(err, directory.ErrNotFound) {
				g.unavailable(w, r, err)
				return
			}
			if err != nil || t.SSO == nil || !t.SSO.Enabled {
				g.loginPage(w, r, http.StatusNotFound, "", "This workspace does not sign in with a company account. Enter your work email.")
				return
			}
			g.startSSO(w, r, st, t, "", next)
			return
		}
		op, err := st.OperatorByEmail(ctx, email)
		if err != nil && !errors.Is(err, directory.ErrNotFound) {
			g.unavailable(w, r, err)
			return
		}
		if err == nil && !op.Disabled {
			t, err := st.GetTenant(ctx, op.TenantID)
			if err != nil {
				g.unavailable(w, r, err)
				return
			}
			if ssoActive(t, op) {
				g.startSSO(w, r, st, t, op.Email, next)
				return
			}
		}
		g.loginPage(w, r, http.StatusOK, email, "")
	})
}

func (g *Gateway) loginPost(w http.ResponseWriter, r *http.Request) {
	if !g.formPost(w, r) {
		return
	}
	email := directory.NormalizeEmail(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	if password == "" && !r.PostForm.Has("password") {
		// The email-first step (a form that does not carry a password field at all).
		g.loginEmailStep(w, r, email)
		return
	}
	if email == "" || password == "" || len(email) > 320 || len(password) > 1024 {
		g.loginPage(w, r, http.StatusUnauthorized, email, msgBadLogin)
		return
	}
	g.withStore(w, r, func(ctx context.Context, st store.Store) {
		now := g.now()
		ip := g.clientIP(r)
		// Password guessing has its own throttles (never the code counter): per client address, counting
		// failures only so a whole office behind one NAT can still sign in; and per email address, keyed the
		// same way whether or not the account exists, so the throttle does not reveal which emails are real.
		ipv, err := st.Status(ctx, "pw", "ip:"+ip, now)
		if err != nil {
			g.unavailable(w, r, err)
			return
		}
		if ipv.Count >= passwordIPLimit {
			g.event(ctx, audit.Event{Type: audit.SignInFailure, Method: "password", Reason: "throttled", Detail: map[string]string{"by": "client address", "client": ip}})
			g.throttledPage(w, ipv.WindowEnd, now)
			return
		}
		acctKey := "acct:" + hashHex(email)
		av, err := st.Attempt(ctx, "pw", acctKey, now, passwordAccountLimit, g.cfg.LockoutWindow)
		if err != nil {
			g.unavailable(w, r, err)
			return
		}
		if !av.Allowed {
			g.event(ctx, audit.Event{Type: audit.SignInFailure, Email: email, Method: "password", Reason: "throttled", Detail: map[string]string{"by": "account", "client": ip}})
			g.throttledPage(w, av.WindowEnd, now)
			return
		}
		fail := func() {
			if _, err := st.Attempt(ctx, "pw", "ip:"+ip, now, passwordIPLimit, g.cfg.LockoutWindow); err != nil {
				g.log.Warn("counting a failed password for the client address", "error", err)
			}
			g.loginPage(w, r, http.StatusUnauthorized, email, msgBadLogin)
		}
		op, err := st.OperatorByEmail(ctx, email)
		if err != nil && !errors.Is(err, directory.ErrNotFound) {
			g.unavailable(w, r, err)
			return
		}
		var tenant directory.Tenant
		if err == nil && !op.Disabled {
			var terr error
			if tenant, terr = st.GetTenant(ctx, op.TenantID); terr != nil {
				g.unavailable(w, r, terr)
				return
			}
			// An SSO operator never signs in with a password here, whatever was typed (JIT-created ones
			// have none): the page sends them to their IdP.
			if ssoActive(tenant, op) {
				g.ssoRequired(w, r, tenant, op.Email, web.SafeNext(r.PostFormValue("next")))
				return
			}
		}
		if err != nil || op.Disabled || op.PasswordHash == "" {
			// Same work as a real check, so response time does not reveal whether the account exists.
			g.hasher.Burn(ctx, password)
			ev := audit.Event{Type: audit.SignInFailure, Method: "password", Reason: "unknown or unusable account", Detail: map[string]string{"client": ip}}
			if err == nil { // a known but disabled (or password-less) account: its tenant's trail shows the attempt
				ev.Tenant, ev.User, ev.Email = op.TenantID, op.ID, op.Email
			}
			g.event(ctx, ev)
			fail()
			return
		}
		ok, err := g.hasher.Verify(ctx, op.PasswordHash, password)
		if err != nil {
			g.unavailable(w, r, err)
			return
		}
		if !ok {
			g.event(ctx, audit.Event{Type: audit.SignInFailure, Tenant: op.TenantID, User: op.ID, Email: op.Email, Method: "password", Reason: "wrong password", Detail: map[string]string{"client": ip}})
			fail()
			return
		}
		if err := st.Clear(ctx, "pw", acctKey); err != nil {
			g.unavailable(w, r, err)
			return
		}
		state := session.StateMFA
		if _, err := st.GetCredentials(ctx, op.TenantID, op.ID); errors.Is(err, credential.ErrNotEnrolled) {
			state = session.StateEnroll
		} else if err != nil {
			g.unavailable(w, r, err)
			return
		}
		s := session.Session{
			TenantID: op.TenantID, UserID: op.ID, Email: op.Email, Role: string(op.Role), State: state,
			CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(g.cfg.PendingLoginLife),
			Next: web.SafeNext(r.PostFormValue("next")),
		}
		if err := g.rotate(ctx, w, r, st, s, 0); err != nil {
			g.unavailable(w, r, err)
			return
		}
		if tenant.IsBreakGlass(op.Email) {
			g.event(ctx, audit.Event{Type: audit.BreakGlassSignIn, Tenant: op.TenantID, User: op.ID, Email: op.Email, Method: "password", Detail: map[string]string{"client": ip}})
		}
		if state == session.StateEnroll {
			http.Redirect(w, r, "/.vectis/enroll", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/.vectis/mfa", http.StatusSeeOther)
	})
}

// rotate replaces this browser's session (if any) with a new one under a fresh cookie value: after the
// password step and after MFA, so a cookie planted or seen before sign-in is worthless after it.
func (g *Gateway) rotate(ctx context.Context, w http.ResponseWriter, r *http.Request, st store.Store, s session.Session, maxAge int64) error {
	if old := g.sessionToken(r); old != "" {
		if tenant, id, ok := parseToken(old); ok {
			if err := st.DeleteSession(ctx, tenant, id[:]); err != nil {
				return err
			}
			if sg := g.signer.Load(); sg != nil {
				sg.Forget(id)
			}
		}
	}
	tok, id, err := g.newToken(s.TenantID)
	if err != nil {
		return err
	}
	if err := st.CreateSession(ctx, id[:], s); err != nil {
		return err
	}
	g.setSessionCookie(w, r, tok, s.ExpiresAt.Sub(s.CreatedAt))
	return nil
}

// Password throttles (see docs/decisions.md): generous enough for a busy office, tight enough to stop guessing.
const (
	passwordAccountLimit = 10
	passwordIPLimit      = 100
)

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// clientIP is the socket peer, or what Caddy's trusted-proxy handling decided (Options.ClientIP) — never a raw
// X-Forwarded-For, which any client can write.
func (g *Gateway) clientIP(r *http.Request) string {
	if g.opts.ClientIP != nil {
		if ip := g.opts.ClientIP(r); ip != "" {
			return ip
		}
	}
	return config.StripPort(r.RemoteAddr)
}

func (g *Gateway) throttledPage(w http.ResponseWriter, until, now time.Time) {
	mins := int(math.Ceil(until.Sub(now).Minutes()))
	if mins < 1 {
		mins = 1
	}
	w.Header().Set("Retry-After", fmt.Sprint(mins*60))
	g.message(w, http.StatusTooManyRequests, "Too many sign-in attempts",
		fmt.Sprintf("For your security, password sign-in is paused for a while. Try again in %d minute%s.", mins, plural(mins)))
}
