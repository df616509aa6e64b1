package gateway

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/credential"
	"github.com/vectis/mfa-gateway/internal/lockout"
	"github.com/vectis/mfa-gateway/internal/recovery"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/totp"
	"github.com/vectis/mfa-gateway/internal/web"
)

// msgBadCode is the one message for every refused code: wrong, malformed, replayed, or already used.
const msgBadCode = "That code didn't work. Check your authenticator app and try again."

// lowCodes: with this many recovery codes or fewer left, every sign-in warns.
const lowCodes = 2

func lockKey(userID string) string { return lockout.CodeKey(userID) }

func secretAAD(tenant, user string) []byte  { return []byte("totp|" + tenant + "|" + user) }
func pendingAAD(tenant, user string) []byte { return []byte("pending-totp|" + tenant + "|" + user) }

// recoveryHash keys each code to its operator, so equal codes of two operators never share a hash.
func (g *Gateway) recoveryHash(tenant, user, normalized string) []byte {
	return recovery.Hash(g.keys.MACKey("recovery-code"), tenant+"|"+user+"|"+normalized)
}

func (g *Gateway) mfa(w http.ResponseWriter, r *http.Request) {
	g.withStore(w, r, func(ctx context.Context, st store.Store) {
		cur := g.pendingOr(w, r, ctx, st, session.StateMFA)
		if cur == nil {
			return
		}
		methods(w, r, func() { g.mfaPage(w, r, ctx, st, cur, http.StatusOK, "") }, func() {
			if !g.formPost(w, r) {
				return
			}
			g.codeAttempt(w, r, ctx, st, cur, func(now time.Time) (bool, error) {
				code, ok := totp.NormalizeCode(r.PostFormValue("code"))
				if !ok {
					return false, nil
				}
				return g.verifyTOTP(ctx, st, cur.s.TenantID, cur.s.UserID, code, now)
			}, func(now time.Time) {
				g.finishSignIn(w, r, ctx, st, cur, "password+totp", now, nil)
			}, func(status int) { g.mfaPage(w, r, ctx, st, cur, status, msgBadCode) })
		})
	})
}

func (g *Gateway) mfaPage(w http.ResponseWriter, r *http.Request, ctx context.Context, st store.Store, cur *current, status int, errMsg string) {
	p := web.Page{Title: "Two-factor authentication", Lead: "Enter the current code from your authenticator app.",
		CSRF: g.csrfToken(w, r), Error: errMsg}
	if c, err := st.GetCredentials(ctx, cur.s.TenantID, cur.s.UserID); err == nil && c.RecoveryLeft <= lowCodes {
		p.Notice = fmt.Sprintf("You have %d recovery code%s left. After signing in, generate new ones under Account → Two-factor authentication.",
			c.RecoveryLeft, plural(c.RecoveryLeft))
	}
	_ = g.pages.Render(w, status, "mfa", p)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// verifyTOTP checks code against the operator's active secret, and marks the step used: a step that has
// succeeded once (here or on another replica) is refused exactly like a wrong code.
func (g *Gateway) verifyTOTP(ctx context.Context, st store.Store, tenant, user, code string, now time.Time) (bool, error) {
	creds, err := st.GetCredentials(ctx, tenant, user)
	if errors.Is(err, credential.ErrNotEnrolled) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	secret, err := g.keys.Open(creds.SecretSealed, secretAAD(tenant, user))
	if err != nil {
		return false, fmt.Errorf("opening TOTP secret: %w", err)
	}
	step, ok := totp.Verify(secret, code, now)
	if !ok {
		return false, nil
	}
	return st.UseStep(ctx, tenant, user, step)
}

// codeAttempt runs one second-factor attempt under the lockout: check-and-count first (atomic, in the store),
// so parallel guesses beyond the limit are never evaluated; a success clears the count.
func (g *Gateway) codeAttempt(w http.ResponseWriter, r *http.Request, ctx context.Context, st store.Store, cur *current,
	check func(now time.Time) (bool, error), success func(now time.Time), failure func(status int)) {
	method := "password+totp"
	if r.URL.Path == "/.vectis/mfa/recovery" {
		method = "password+recovery"
	}
	now := g.now()
	v, err := st.Attempt(ctx, cur.s.TenantID, lockKey(cur.s.UserID), now, g.cfg.LockoutAttempts, g.cfg.LockoutWindow)
	if err != nil {
		g.unavailable(w, r, err)
		return
	}
	if !v.Allowed {
		g.event(ctx, audit.Event{Type: audit.SignInFailure, Tenant: cur.s.TenantID, User: cur.s.UserID, Email: cur.s.Email,
			Method: method, Reason: "locked", Detail: map[string]string{"locked_until": v.WindowEnd.UTC().Format(time.RFC3339)}})
		g.lockedPage(w, v, now)
		return
	}
	ok, err := check(now)
	if err != nil {
		g.unavailable(w, r, err)
		return
	}
	if ok {
		if err := st.Clear(ctx, cur.s.TenantID, lockKey(cur.s.UserID)); err != nil {
			g.unavailable(w, r, err)
			return
		}
		success(now)
		return
	}
	g.event(ctx, audit.Event{Type: audit.SignInFailure, Tenant: cur.s.TenantID, User: cur.s.UserID, Email: cur.s.Email,
		Method: method, Reason: "wrong code", Detail: map[string]string{"failures": fmt.Sprint(v.Count)}})
	if v.Count >= g.cfg.LockoutAttempts {
		g.event(ctx, audit.Event{Type: audit.Lockout, Tenant: cur.s.TenantID, User: cur.s.UserID, Email: cur.s.Email,
			Detail: map[string]string{"locked_until": v.WindowEnd.UTC().Format(time.RFC3339), "failures": fmt.Sprint(v.Count)}})
		g.lockedPage(w, v, now)
		return
	}
	failure(http.StatusUnauthorized)
}

func (g *Gateway) lockedPage(w http.ResponseWriter, v lockout.Verdict, now time.Time) {
	mins := int(math.Ceil(v.WindowEnd.Sub(now).Minutes()))
	if mins < 1 {
		mins = 1
	}
	w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(v.WindowEnd.Sub(now).Seconds()))))
	_ = g.pages.Render(w, http.StatusTooManyRequests, "message", web.Page{
		Title: "Too many attempts",
		Lead: fmt.Sprintf("For your security, code sign-in for this account is paused. Try again in %d minute%s. "+
			"If you did not make these attempts, tell your administrator.", mins, plural(mins)),
		Data:    map[string]int{"minutes": mins},
		Actions: []web.Link{{Label: "Back to sign-in", URL: "/.vectis/login"}},
	})
}

// finishSignIn turns a pending login into a full session under a new cookie and sends the operator on.
// If render is set it writes the response itself (recovery codes to show) instead of redirecting.
func (g *Gateway) finishSignIn(w http.ResponseWriter, r *http.Request, ctx context.Context, st store.Store, cur *current,
	auth string, now time.Time, render func()) {
	s := cur.s
	s.State, s.Auth, s.MFAAt = session.StateActive, auth, now
	s.CreatedAt, s.LastSeen, s.ExpiresAt = now, now, now.Add(g.cfg.SessionAbsolute)
	s.PendingSecret = nil
	if err := g.rotate(ctx, w, r, st, s, 0); err != nil {
		g.unavailable(w, r, err)
		return
	}
	g.event(ctx, audit.Event{Type: audit.SignInSuccess, Tenant: s.TenantID, User: s.UserID, Email: s.Email, Method: auth})
	if render != nil {
		render()
		return
	}
	http.Redirect(w, r, web.SafeNext(s.Next), http.StatusSeeOther)
}

func (g *Gateway) recovery(w http.ResponseWriter, r *http.Request) {
	g.withStore(w, r, func(ctx context.Context, st store.Store) {
		cur := g.pendingOr(w, r, ctx, st, session.StateMFA)
		if cur == nil {
			return
		}
		page := func(status int, msg string) {
			_ = g.pages.Render(w, status, "recovery", web.Page{Title: "Use a recovery code",
				Lead: "Enter one of the recovery codes you saved when you set up two-factor authentication.",
				CSRF: g.csrfToken(w, r), Error: msg})
		}
		methods(w, r, func() { page(http.StatusOK, "") }, func() {
			if !g.formPost(w, r) {
				return
			}
			left := 0
			g.codeAttempt(w, r, ctx, st, cur, func(now time.Time) (bool, error) {
				code, ok := recovery.Normalize(r.PostFormValue("code"))
				if !ok {
					return false, nil
				}
				used, n, err := st.ConsumeRecoveryCode(ctx, cur.s.TenantID, cur.s.UserID, g.recoveryHash(cur.s.TenantID, cur.s.UserID, code))
				left = n
				return used, err
			}, func(now time.Time) {
				g.finishSignIn(w, r, ctx, st, cur, "password+recovery", now, func() {
					g.event(ctx, audit.Event{Type: audit.RecoveryCodeUsed, Tenant: cur.s.TenantID, User: cur.s.UserID, Email: cur.s.Email,
						Detail: map[string]string{audit.DetailRecoveryLeft: fmt.Sprint(left)}})
					_ = g.pages.Render(w, http.StatusOK, "recovered", web.Page{Title: "Signed in with a recovery code",
						Lead: "That code is now used up and will not work again.", Next: web.SafeNext(cur.s.Next),
						Data: map[string]int{"Left": left}})
				})
			}, func(status int) { page(status, "That recovery code didn't work. Check it and try again.") })
		})
	})
}

// enroll: the first sign-in sets up TOTP. The secret is generated here, kept sealed in the pending login, and
// becomes the operator's only after a correct code; nothing the client posts besides `code` is used.
func (g *Gateway) enroll(w http.ResponseWriter, r *http.Request) {
	g.withStore(w, r, func(ctx context.Context, st store.Store) {
		cur := g.pendingOr(w, r, ctx, st, session.StateEnroll)
		if cur == nil {
			return
		}
		secret, err := g.pendingSecret(ctx, st, cur)
		if err != nil {
			g.unavailable(w, r, err)
			return
		}
		page := func(status int, msg string) {
			uri := totp.URI(g.cfg.Issuer, cur.s.Email, secret)
			_ = g.pages.Render(w, status, "enroll", web.Page{Title: "Set up two-factor authentication",
				Lead: "Your workspace requires a code from an authenticator app at every sign-in.",
				CSRF: g.csrfToken(w, r), Error: msg,
				Data: map[string]any{"URI": templateURL(uri), "ManualKey": totp.ManualKey(secret), "Account": cur.s.Email, "Issuer": g.cfg.Issuer}})
		}
		methods(w, r, func() { page(http.StatusOK, "") }, func() {
			if !g.formPost(w, r) {
				return
			}
			now := g.now()
			code, ok := totp.NormalizeCode(r.PostFormValue("code"))
			step, match := int64(0), false
			if ok {
				step, match = totp.Verify(secret, code, now)
			}
			if !match {
				g.log.Info("enrollment code refused", "tenant", cur.s.TenantID, "user", cur.s.UserID)
				page(http.StatusUnauthorized, "That code didn't match. Make sure you scanned the code above and that your phone's clock is set automatically.")
				return
			}
			codes, hashes, err := g.newRecoveryCodes(cur.s.TenantID, cur.s.UserID)
			if err != nil {
				g.internal(w, r, err)
				return
			}
			sealed, err := g.keys.Seal(g.rand, secret, secretAAD(cur.s.TenantID, cur.s.UserID))
			if err != nil {
				g.internal(w, r, err)
				return
			}
			activated, err := st.ActivateTOTP(ctx, cur.s.TenantID, cur.s.UserID, sealed, step, hashes, now)
			if err != nil {
				g.unavailable(w, r, err)
				return
			}
			if !activated {
				// Enrolled meanwhile (another tab): this pending login must prove the active secret instead.
				_ = st.DeleteSession(ctx, cur.s.TenantID, cur.id[:])
				g.clearSessionCookie(w, r)
				g.message(w, http.StatusConflict, "Two-factor authentication is already set up",
					"This account finished setting up two-factor authentication elsewhere. Please sign in again with a code.",
					web.Link{Label: "Sign in", URL: "/.vectis/login"})
				return
			}
			g.event(ctx, audit.Event{Type: audit.Enrolled, Tenant: cur.s.TenantID, User: cur.s.UserID, Email: cur.s.Email})
			g.finishSignIn(w, r, ctx, st, cur, "password+totp", now, func() {
				g.showCodes(w, r, codes, web.SafeNext(cur.s.Next), "Save your recovery codes")
			})
		})
	})
}

// showCodes renders freshly made recovery codes, once. The download is a data: URL so the codes never
// have to be kept on the server to be fetched again.
func (g *Gateway) showCodes(w http.ResponseWriter, r *http.Request, codes []string, next, title string) {
	text := "Vectis recovery codes\nEach code works once.\n\n" + strings.Join(codes, "\n") + "\n"
	_ = g.pages.Render(w, http.StatusOK, "codes", web.Page{Title: title, Next: next,
		Data: map[string]any{"Codes": codes, "Download": templateURL("data:text/plain;charset=utf-8," + url.PathEscape(text))}})
}

// pendingSecret returns the enrollment secret of this pending login, generating and sealing it on first use.
func (g *Gateway) pendingSecret(ctx context.Context, st store.Store, cur *current) ([]byte, error) {
	aad := pendingAAD(cur.s.TenantID, cur.s.UserID)
	if len(cur.s.PendingSecret) > 0 {
		return g.keys.Open(cur.s.PendingSecret, aad)
	}
	secret, err := totp.NewSecret(g.rand)
	if err != nil {
		return nil, err
	}
	sealed, err := g.keys.Seal(g.rand, secret, aad)
	if err != nil {
		return nil, err
	}
	cur.s.PendingSecret = sealed
	if err := st.UpdateSession(ctx, cur.id[:], cur.s); err != nil {
		return nil, err
	}
	return secret, nil
}

// qr serves the pending enrollment's QR code, only to the pending login that owns it.
func (g *Gateway) qr(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	g.withStore(w, r, func(ctx context.Context, st store.Store) {
		cur, err := g.loadSession(ctx, r, st)
		if err != nil {
			g.unavailable(w, r, err)
			return
		}
		if cur == nil || cur.s.State != session.StateEnroll || len(cur.s.PendingSecret) == 0 {
			web.SetSecurityHeaders(w.Header())
			http.Error(w, "no enrollment in progress", http.StatusNotFound)
			return
		}
		secret, err := g.keys.Open(cur.s.PendingSecret, pendingAAD(cur.s.TenantID, cur.s.UserID))
		if err != nil {
			g.internal(w, r, err)
			return
		}
		png, err := totp.QRPNG(totp.URI(g.cfg.Issuer, cur.s.Email, secret), 256)
		if err != nil {
			g.internal(w, r, err)
			return
		}
		web.SetSecurityHeaders(w.Header())
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	})
}

// templateURL marks the data: download link as safe for href. Safe because every byte of it is our own
// text, percent-escaped; html/template would otherwise replace any data: URL with a placeholder.
func templateURL(s string) template.URL { return template.URL(s) }
