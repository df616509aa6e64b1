package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/vectis/mfa-gateway/internal/admin"
	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/totp"
	"github.com/vectis/mfa-gateway/internal/web"
)

// adminFreshness: admin actions need a second-factor check within this long; otherwise a code is asked first.
const adminFreshness = 15 * time.Minute

// adminSession loads the signed-in tenant admin, or answers (login redirect / 403) and returns nil.
func (g *Gateway) adminSession(w http.ResponseWriter, r *http.Request, ctx context.Context, st store.Store) *current {
	cur, err := g.loadSession(ctx, r, st)
	if err != nil {
		g.unavailable(w, r, err)
		return nil
	}
	if cur == nil || cur.s.State != session.StateActive {
		g.unauthenticated(w, r)
		return nil
	}
	if cur.s.Role != "admin" {
		g.message(w, http.StatusForbidden, "Admins only", "Only your workspace's admins can manage operators.",
			web.Link{Label: "Back to Vectis", URL: "/"})
		return nil
	}
	// The role in the session may be stale: check the directory (a demoted or disabled admin loses it now).
	op, err := st.GetOperator(ctx, cur.s.TenantID, cur.s.UserID)
	if err != nil || op.Disabled || string(op.Role) != "admin" {
		g.message(w, http.StatusForbidden, "Admins only", "Only your workspace's admins can manage operators.",
			web.Link{Label: "Back to Vectis", URL: "/"})
		return nil
	}
	return cur
}

func (g *Gateway) adminService(st store.Store) *admin.Service {
	return admin.New(st, g.recorder, g.now, g.cfg.LockoutAttempts)
}

func (g *Gateway) adminUsers(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	g.withStore(w, r, func(ctx context.Context, st store.Store) {
		cur := g.adminSession(w, r, ctx, st)
		if cur == nil {
			return
		}
		g.renderAdminUsers(w, r, ctx, st, cur, http.StatusOK, r.URL.Query().Get("done"))
	})
}

func (g *Gateway) renderAdminUsers(w http.ResponseWriter, r *http.Request, ctx context.Context, st store.Store, cur *current, status int, notice string) {
	a := admin.Actor{Kind: "admin", Email: cur.s.Email, Tenant: cur.s.TenantID}
	rows, err := g.adminService(st).ListUsers(ctx, a, cur.s.TenantID)
	if err != nil {
		g.unavailable(w, r, err)
		return
	}
	raw, _ := g.recentEvents(ctx, st, cur.s.TenantID, 50)
	type eventRow struct {
		Time         time.Time
		Label, Email string
		Actor        string
	}
	events := make([]eventRow, 0, len(raw))
	for _, e := range raw {
		label, ok := eventLabels[e.Type]
		if !ok {
			label = e.Type
		}
		if e.Type == audit.SignInFailure && e.Reason != "" {
			label += " (" + e.Reason + ")"
		}
		events = append(events, eventRow{Time: e.Time, Label: label, Email: e.Email, Actor: e.Actor})
	}
	msg := map[string]string{"reset": "Two-factor authentication was reset. The operator will set up a new authenticator at their next sign-in.",
		"unlock": "The account is unlocked."}[notice]
	_ = g.pages.Render(w, status, "admin_users", web.Page{Title: "Users", Lead: "Operators of your workspace.",
		CSRF: g.csrfToken(w, r), Notice: msg, Email: cur.s.Email,
		Data: map[string]any{"Rows": rows, "Me": cur.s.UserID, "Events": events, "Now": g.now()}})
}

// adminAction serves POST /.vectis/admin/users/reset-mfa and /unlock. The target is looked up inside the admin's
// own tenant only: an id from another tenant is "not found", whatever the form says.
func (g *Gateway) adminAction(action string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		methods(w, r, nil, func() {
			if !g.formPost(w, r) {
				return
			}
			g.withStore(w, r, func(ctx context.Context, st store.Store) {
				cur := g.adminSession(w, r, ctx, st)
				if cur == nil {
					return
				}
				target := r.PostFormValue("user")
				a := admin.Actor{Kind: "admin", Email: cur.s.Email, Tenant: cur.s.TenantID}
				svc := g.adminService(st)
				op, err := st.GetOperator(ctx, cur.s.TenantID, target)
				if err != nil {
					g.message(w, http.StatusForbidden, "Not allowed", "That operator is not in your workspace.",
						web.Link{Label: "Back to users", URL: "/.vectis/admin/users"})
					return
				}
				if g.now().Sub(cur.s.MFAAt) > adminFreshness {
					g.reverify(w, r, ctx, st, cur, action, target)
					return
				}
				if action == "reset-mfa" && r.PostFormValue("confirm") != "yes" {
					_ = g.pages.Render(w, http.StatusOK, "admin_confirm", web.Page{Title: "Reset two-factor authentication?",
						Lead: "This signs " + op.Email + " out everywhere, deletes their authenticator and recovery codes, and makes them set up a new authenticator at their next sign-in.",
						CSRF: g.csrfToken(w, r), Data: map[string]string{"User": op.ID, "Email": op.Email, "Action": action}})
					return
				}
				switch action {
				case "reset-mfa":
					err = svc.ResetMFA(ctx, a, cur.s.TenantID, op.ID)
				case "unlock":
					err = svc.Unlock(ctx, a, cur.s.TenantID, op.ID)
				}
				switch {
				case errors.Is(err, admin.ErrNotPassword):
					g.message(w, http.StatusConflict, "Managed by your identity provider", err.Error(),
						web.Link{Label: "Back to users", URL: "/.vectis/admin/users"})
					return
				case errors.Is(err, admin.ErrForbidden), errors.Is(err, admin.ErrNotFound):
					g.message(w, http.StatusForbidden, "Not allowed", "That operator is not in your workspace.",
						web.Link{Label: "Back to users", URL: "/.vectis/admin/users"})
					return
				case err != nil:
					g.unavailable(w, r, err)
					return
				}
				done := map[string]string{"reset-mfa": "reset", "unlock": "unlock"}[action]
				if op.ID == cur.s.UserID && action == "reset-mfa" {
					// Resetting yourself ends your own session too.
					g.clearSessionCookie(w, r)
					http.Redirect(w, r, "/.vectis/login", http.StatusSeeOther)
					return
				}
				http.Redirect(w, r, "/.vectis/admin/users?done="+done, http.StatusSeeOther)
			})
		})
	}
}

// reverify asks for a current code before an admin action when the last second factor is older than
// adminFreshness; on success the action form is shown again to be confirmed.
func (g *Gateway) reverify(w http.ResponseWriter, r *http.Request, ctx context.Context, st store.Store, cur *current, action, target string) {
	if cur.s.Auth != "password+totp" && cur.s.Auth != "password+recovery" {
		// SSO admins prove themselves again at their IdP.
		g.message(w, http.StatusUnauthorized, "Please sign in again",
			"Admin actions need a recent sign-in. Sign in again, then repeat the action.",
			web.Link{Label: "Sign in", URL: loginURL("/.vectis/admin/users")})
		return
	}
	page := func(status int, msg string) {
		_ = g.pages.Render(w, status, "admin_reverify", web.Page{Title: "Confirm it's you",
			Lead: "Admin actions need a fresh code from your authenticator app.", CSRF: g.csrfToken(w, r), Error: msg,
			Data: map[string]string{"User": target, "Action": action}})
	}
	if r.PostFormValue("code") == "" {
		page(http.StatusOK, "")
		return
	}
	g.codeAttempt(w, r, ctx, st, cur, func(now time.Time) (bool, error) {
		code, ok := totp.NormalizeCode(r.PostFormValue("code"))
		if !ok {
			return false, nil
		}
		return g.verifyTOTP(ctx, st, cur.s.TenantID, cur.s.UserID, code, now)
	}, func(now time.Time) {
		cur.s.MFAAt = now
		if err := st.UpdateSession(ctx, cur.id[:], cur.s); err != nil {
			g.unavailable(w, r, err)
			return
		}
		http.Redirect(w, r, "/.vectis/admin/users", http.StatusSeeOther)
	}, func(status int) { page(status, msgBadCode) })
}

// eventLabels are the admin page's words for audit event types.
var eventLabels = map[string]string{
	audit.SignInSuccess:         "Signed in",
	audit.SignInFailure:         "Sign-in refused",
	audit.Lockout:               "Locked after failed codes",
	audit.Unlock:                "Unlocked",
	audit.Enrolled:              "Set up two-factor",
	audit.RecoveryCodeUsed:      "Used a recovery code",
	audit.RecoveryRegenerated:   "New recovery codes",
	audit.MFAReset:              "Two-factor reset",
	audit.OperatorDisabled:      "Disabled",
	audit.OperatorEnabled:       "Enabled",
	audit.OperatorAdded:         "Added",
	audit.SSOEnabled:            "SSO turned on",
	audit.SSODisabled:           "SSO turned off",
	audit.BreakGlassSignIn:      "Break-glass sign-in",
	audit.SupportRecovery:       "Support recovery",
	audit.SupportRecoveryDenied: "Support recovery refused",
	audit.SessionsRevoked:       "Signed out everywhere",
}
