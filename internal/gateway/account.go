package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/credential"
	"github.com/vectis/mfa-gateway/internal/recovery"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/totp"
	"github.com/vectis/mfa-gateway/internal/web"
)

// account serves Account → Two-factor authentication: status, codes left, regenerate (with a current TOTP,
// which counts toward the lockout), and sign out everywhere.
func (g *Gateway) account(w http.ResponseWriter, r *http.Request) {
	g.withStore(w, r, func(ctx context.Context, st store.Store) {
		cur, err := g.loadSession(ctx, r, st)
		if err != nil {
			g.unavailable(w, r, err)
			return
		}
		if cur == nil || cur.s.State != session.StateActive {
			g.unauthenticated(w, r)
			return
		}
		creds, err := st.GetCredentials(ctx, cur.s.TenantID, cur.s.UserID)
		if err != nil && !errors.Is(err, credential.ErrNotEnrolled) {
			g.unavailable(w, r, err)
			return
		}
		enrolled := err == nil
		page := func(status int, msg, notice string) {
			_ = g.pages.Render(w, status, "account", web.Page{Title: "Two-factor authentication", CSRF: g.csrfToken(w, r),
				Error: msg, Notice: notice, Email: cur.s.Email,
				Data: map[string]any{"Enrolled": enrolled, "Since": creds.EnrolledAt.UTC().Format("2 Jan 2006"),
					"Left": creds.RecoveryLeft, "Low": creds.RecoveryLeft <= lowCodes, "Auth": cur.s.Auth}})
		}
		methods(w, r, func() { page(http.StatusOK, "", "") }, func() {
			if !g.formPost(w, r) {
				return
			}
			switch r.PostFormValue("action") {
			case "regenerate":
				if !enrolled {
					page(http.StatusConflict, "", "This account has no authenticator set up, so there are no recovery codes to replace.")
					return
				}
				if r.PostFormValue("confirm") != "yes" {
					page(http.StatusBadRequest, "Tick the box to confirm that your old codes will stop working.", "")
					return
				}
				g.codeAttempt(w, r, ctx, st, cur, func(now time.Time) (bool, error) {
					code, ok := totp.NormalizeCode(r.PostFormValue("code"))
					if !ok {
						return false, nil
					}
					return g.verifyTOTP(ctx, st, cur.s.TenantID, cur.s.UserID, code, now)
				}, func(now time.Time) {
					codes, hashes, err := g.newRecoveryCodes(cur.s.TenantID, cur.s.UserID)
					if err != nil {
						g.internal(w, r, err)
						return
					}
					if err := st.ReplaceRecoveryCodes(ctx, cur.s.TenantID, cur.s.UserID, hashes); err != nil {
						g.unavailable(w, r, err)
						return
					}
					cur.s.MFAAt = now
					_ = st.UpdateSession(ctx, cur.id[:], cur.s)
					g.event(ctx, audit.Event{Type: audit.RecoveryRegenerated, Tenant: cur.s.TenantID, User: cur.s.UserID, Email: cur.s.Email, Actor: cur.s.Email})
					g.showCodes(w, r, codes, "/.vectis/account/2fa", "Your new recovery codes")
				}, func(status int) { page(status, msgBadCode, "") })
			case "signout-all":
				n, err := st.DeleteOperatorSessions(ctx, cur.s.TenantID, cur.s.UserID)
				if err != nil {
					g.unavailable(w, r, err)
					return
				}
				g.event(ctx, audit.Event{Type: audit.SessionsRevoked, Tenant: cur.s.TenantID, User: cur.s.UserID, Email: cur.s.Email,
					Actor: cur.s.Email, Detail: map[string]string{"sessions_ended": fmt.Sprint(n)}})
				g.clearSessionCookie(w, r)
				g.message(w, http.StatusOK, "Signed out everywhere",
					fmt.Sprintf("%d session%s ended, including this one.", n, plural(n)),
					web.Link{Label: "Sign in again", URL: "/.vectis/login"})
			default:
				page(http.StatusBadRequest, "", "Choose an action.")
			}
		})
	})
}

// newRecoveryCodes makes a fresh set and their per-operator hashes.
func (g *Gateway) newRecoveryCodes(tenant, user string) ([]string, [][]byte, error) {
	codes, err := recovery.Generate(g.rand, recovery.Count)
	if err != nil {
		return nil, nil, err
	}
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		n, ok := recovery.Normalize(c)
		if !ok {
			return nil, nil, fmt.Errorf("generated recovery code does not normalize")
		}
		hashes[i] = g.recoveryHash(tenant, user, n)
	}
	return codes, hashes, nil
}
