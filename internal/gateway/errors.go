package gateway

import (
	"encoding/base32"
	"io"
	"net/http"
	"strings"

	"github.com/vectis/mfa-gateway/internal/web"
)

// newRef makes the short reference id shown on an error page and written into the matching log line.
func (g *Gateway) newRef() string {
	b := make([]byte, 5)
	if _, err := io.ReadFull(g.rand, b); err != nil {
		return "unknown"
	}
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

// unavailable answers a machinery failure (store down or slow): 503, fail closed, no internals shown.
func (g *Gateway) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	ref := g.newRef()
	g.log.Error("store unavailable; request denied", "ref", ref, "path", r.URL.Path, "error", err)
	w.Header().Set("Retry-After", "30")
	if !wantsHTML(r) && !strings.HasPrefix(r.URL.Path, "/.vectis/") {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable", "ref": ref})
		return
	}
	_ = g.pages.Render(w, http.StatusServiceUnavailable, "message", web.Page{
		Title:   "Sign-in is temporarily unavailable",
		Lead:    "The gateway cannot reach its session store right now, so it is keeping the door closed. Please try again in a minute. If this persists, contact your Vectis administrator with the reference below.",
		Ref:     ref,
		Actions: []web.Link{{Label: "Try again", URL: "/.vectis/login"}},
	})
}

// internal answers an unexpected failure that is not the store (a bug): 500 with a reference, never the text.
func (g *Gateway) internal(w http.ResponseWriter, r *http.Request, err error) {
	ref := g.newRef()
	g.log.Error("internal error; request denied", "ref", ref, "path", r.URL.Path, "error", err)
	_ = g.pages.Render(w, http.StatusInternalServerError, "message", web.Page{
		Title:   "Something went wrong",
		Lead:    "The gateway could not complete this step. Nothing was changed. Please start again; if it keeps happening, contact your administrator with the reference below.",
		Ref:     ref,
		Actions: []web.Link{{Label: "Start again", URL: "/.vectis/login"}},
	})
}

// message renders a plain page with a heading, a sentence and links.
func (g *Gateway) message(w http.ResponseWriter, status int, title, lead string, links ...web.Link) {
	_ = g.pages.Render(w, status, "message", web.Page{Title: title, Lead: lead, Actions: links})
}

func (g *Gateway) badForm(w http.ResponseWriter, r *http.Request) {
	g.message(w, http.StatusForbidden, "This form has expired",
		"For your security the page you submitted is no longer valid (it may have been open too long, or opened in another tab). Please start again.",
		web.Link{Label: "Start again", URL: "/.vectis/login"})
}
