package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/web"
)

// logout: GET shows a one-button confirmation (a link or image cannot sign anyone out); POST revokes the
// session server-side, with the form's CSRF token or a same-origin Origin header.
func (g *Gateway) logout(w http.ResponseWriter, r *http.Request) {
	methods(w, r, func() {
		_ = g.pages.Render(w, http.StatusOK, "logout", web.Page{
			Title: "Sign out?", Lead: "You will need your password and a code to sign in again.", CSRF: g.csrfToken(w, r)})
	}, func() {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				g.message(w, http.StatusRequestEntityTooLarge, "That was too much", "The form you sent is larger than any gateway form.",
					web.Link{Label: "Back", URL: "/"})
				return
			}
			// Unparseable body: fall through; only a same-origin Origin can still sign out.
		}
		if !g.checkCSRF(r) && !g.sameOrigin(r) {
			g.badForm(w, r)
			return
		}
		g.withStore(w, r, func(ctx context.Context, st store.Store) {
			if tok := g.sessionToken(r); tok != "" {
				if tenant, id, ok := parseToken(tok); ok {
					if err := st.DeleteSession(ctx, tenant, id[:]); err != nil {
						g.unavailable(w, r, err)
						return
					}
					if sg := g.signer.Load(); sg != nil {
						sg.Forget(id)
					}
				}
			}
			g.clearSessionCookie(w, r)
			g.message(w, http.StatusOK, "You are signed out", "Your session has ended on this device.",
				web.Link{Label: "Sign in again", URL: "/.vectis/login"})
		})
	})
}
