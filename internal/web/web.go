// Package web renders the gateway's own pages: embedded templates, one layout, security headers on every response.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy applies to every gateway page: no scripts at all, styles and images only from
// the gateway itself, never framed (clickjacking on the code and reset forms), forms post only to us.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// Page is the data every template receives.
type Page struct {
	Title   string // <title> and <h1>
	Lead    string // a sentence under the heading
	CSRF    string
	Next    string
	Email   string
	Error   string // shown next to the field it concerns (the code or password field)
	Notice  string // a neutral message (signed out, codes low)
	Ref     string // error reference id, also in the log line
	Status  int
	Data    any // page-specific values
	Actions []Link
}

// Link is a labelled URL.
type Link struct {
	Label string
	URL   string
}

// Renderer holds the parsed templates.
type Renderer struct {
	pages map[string]*template.Template
}

// New parses every page against the shared layout.
func New() (*Renderer, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		r.pages[n[len("templates/"):len(n)-len(".html")]] = t
	}
	return r, nil
}

// SetSecurityHeaders sets the headers every gateway response carries. Gateway pages are never cached:
// several of them show secrets (QR code, manual key, recovery codes) and all of them carry CSRF tokens.
func SetSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// Render writes page name with status. A template failure writes a bare 500 (never the error text).
func (r *Renderer) Render(w http.ResponseWriter, status int, name string, p Page) error {
	t, ok := r.pages[name]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return errUnknownPage(name)
	}
	p.Status = status
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return err
	}
	SetSecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

type errUnknownPage string

func (e errUnknownPage) Error() string { return "web: unknown page " + string(e) }

// Static serves the stylesheet (cacheable: it holds nothing secret).
func Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.FileServer(http.FS(sub))
	return http.StripPrefix("/.vectis/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	}))
}
