package gateway

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
	"github.com/vectis/mfa-gateway/internal/web"
)

// maxFormBytes bounds every gateway form post; real forms are well under 1 KiB.
const maxFormBytes = 16 << 10

// route serves the gateway's own pages under /.vectis/.
func (g *Gateway) route(w http.ResponseWriter, r *http.Request) {
	// Every gateway response — redirects included — carries the security headers (handlers may loosen
	// caching for public files).
	web.SetSecurityHeaders(w.Header())
	p := r.URL.Path
	if strings.HasPrefix(p, "/.vectis/static/") {
		if !getOrHead(w, r) {
			return
		}
		g.static.ServeHTTP(w, r)
		return
	}
	handlers := map[string]func(http.ResponseWriter, *http.Request){
		"/.vectis/login":                 g.login,
		"/.vectis/mfa":                   g.mfa,
		"/.vectis/mfa/recovery":          g.recovery,
		"/.vectis/enroll":                g.enroll,
		"/.vectis/enroll/qr.png":         g.qr,
		"/.vectis/logout":                g.logout,
		"/.vectis/jwks.json":             g.jwks,
		"/.vectis/healthz":               g.healthz,
		"/.vectis/account/2fa":           g.account,
		"/.vectis/admin/users":           g.adminUsers,
		"/.vectis/admin/users/reset-mfa": g.adminAction("reset-mfa"),
		"/.vectis/admin/users/unlock":    g.adminAction("unlock"),
		"/.vectis/sso/callback":          g.ssoCallback,
	}
	if allow, ok := pageMethods[p]; ok && !slices.Contains(strings.Split(allow, ", "), r.Method) {
		// Method first: a PUT to a form page is a 405 whatever the session state, before any store access.
		w.Header().Set("Allow", allow)
		web.SetSecurityHeaders(w.Header())
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h, ok := handlers[p]
	if !ok {
		g.message(w, http.StatusNotFound, "Page not found", "There is no gateway page at this address.",
			web.Link{Label: "Go to the start page", URL: "/"})
		return
	}
	h(w, r)
}

// getOrHead answers 405 for anything but GET/HEAD.
func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	web.SetSecurityHeaders(w.Header())
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// formPost checks method, size and CSRF of a form submission; false means an answer was already written.
func (g *Gateway) formPost(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			g.message(w, http.StatusRequestEntityTooLarge, "That was too much", "The form you sent is larger than any gateway form. Please start again.",
				web.Link{Label: "Start again", URL: "/.vectis/login"})
			return false
		}
		g.message(w, http.StatusBadRequest, "That request was not understood", "Please start again.",
			web.Link{Label: "Start again", URL: "/.vectis/login"})
		return false
	}
	if !g.checkCSRF(r) {
		g.badForm(w, r)
		return false
	}
	return true
}

// methods dispatches GET/HEAD and POST; anything else is 405.
func methods(w http.ResponseWriter, r *http.Request, get, post func()) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if get != nil {
			get()
			return
		}
	case http.MethodPost:
		if post != nil {
			post()
			return
		}
	}
	allow := []string{}
	if get != nil {
		allow = append(allow, "GET", "HEAD")
	}
	if post != nil {
		allow = append(allow, "POST")
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	web.SetSecurityHeaders(w.Header())
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// withStore runs fn with the store and a bounded context, answering 503 when the store is unavailable.
func (g *Gateway) withStore(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, st store.Store)) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	st, _, err := g.backend(ctx)
	if err != nil {
		g.unavailable(w, r, err)
		return
	}
	fn(ctx, st)
}

// pendingOr loads this browser's session and checks it is in one of the wanted states. Otherwise it sends the
// browser where it belongs (login, the other pending page, or onward) and returns nil.
func (g *Gateway) pendingOr(w http.ResponseWriter, r *http.Request, ctx context.Context, st store.Store, want session.State) *current {
	cur, err := g.loadSession(ctx, r, st)
	if err != nil {
		g.unavailable(w, r, err)
		return nil
	}
	switch {
	case cur == nil:
		g.message(w, http.StatusUnauthorized, "Your sign-in has expired",
			"For your security, a sign-in must be finished within 10 minutes. Please start again.",
			web.Link{Label: "Sign in", URL: "/.vectis/login"})
		return nil
	case cur.s.State == want:
		return cur
	case cur.s.State == session.StateActive:
		http.Redirect(w, r, web.SafeNext(cur.s.Next), http.StatusSeeOther)
	case cur.s.State == session.StateEnroll:
		http.Redirect(w, r, "/.vectis/enroll", http.StatusSeeOther)
	case cur.s.State == session.StateMFA:
		http.Redirect(w, r, "/.vectis/mfa", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/.vectis/login", http.StatusSeeOther)
	}
	return nil
}

func (g *Gateway) jwks(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	_, signer, err := g.backend(ctx)
	if err != nil {
		g.unavailable(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(signer.JWKS())
}

// healthz reports liveness and store reachability, nothing else.
func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	st, _, err := g.backend(ctx)
	if err == nil {
		err = st.Ping(ctx)
	}
	if err != nil {
		g.log.Warn("healthz: store unreachable", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "degraded", "store": "unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "store": "ok"})
}

// pageMethods lists, for each gateway page, the methods it answers (the Allow header of a 405).
var pageMethods = map[string]string{
	"/.vectis/login":                 "GET, HEAD, POST",
	"/.vectis/mfa":                   "GET, HEAD, POST",
	"/.vectis/mfa/recovery":          "GET, HEAD, POST",
	"/.vectis/enroll":                "GET, HEAD, POST",
	"/.vectis/enroll/qr.png":         "GET, HEAD",
	"/.vectis/logout":                "GET, HEAD, POST",
	"/.vectis/jwks.json":             "GET, HEAD",
	"/.vectis/healthz":               "GET, HEAD",
	"/.vectis/account/2fa":           "GET, HEAD, POST",
	"/.vectis/admin/users":           "GET, HEAD",
	"/.vectis/admin/users/reset-mfa": "POST",
	"/.vectis/admin/users/unlock":    "POST",
	"/.vectis/sso/callback":          "GET",
}
