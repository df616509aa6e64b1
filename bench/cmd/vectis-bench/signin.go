package main

import (
	"context"
	"encoding/base32"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/vectis/mfa-gateway/internal/totp"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// browser is a cookie jar that does not follow redirects, so every step of a sign-in is checked.
type browser struct {
	c    *http.Client
	base string
}

func newBrowser(base string, follow bool) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &browser{c: c, base: base}
}

func (b *browser) do(ctx context.Context, method, path string, form url.Values) (int, string, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return 0, "", "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	res, err := b.c.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(data), nil
}

// post fetches the form page at path and submits it with fields plus the page's csrf token.
func (b *browser) post(ctx context.Context, path string, fields url.Values) (int, string, string, error) {
	st, _, page, err := b.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, "", "", err
	}
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		return 0, "", "", fmt.Errorf("GET %s: status %d, no csrf field", path, st)
	}
	fields.Set("csrf", htmlUnescape(m[1]))
	return b.do(ctx, http.MethodPost, path, fields)
}

// cookieHeader is the Cookie header value the jar would send to the base URL.
func (b *browser) cookieHeader() string {
	u, _ := url.Parse(b.base + "/")
	var parts []string
	for _, c := range b.c.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

var otpauthRE = regexp.MustCompile(`data-otpauth-uri="([^"]+)"`)

// gatewaySession signs in through the real flow — login form with its csrf token, first-sign-in
// enrollment with a TOTP code computed from the page's otpauth URI — and returns the session cookie.
func gatewaySession(ctx context.Context, base, email, password string) (string, error) {
	b := newBrowser(base, false)
	st, loc, body, err := b.post(ctx, "/.vectis/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return "", err
	}
	if st != http.StatusSeeOther || loc != "/.vectis/enroll" {
		return "", fmt.Errorf("sign-in: status %d to %q, want 303 to /.vectis/enroll: %.300s", st, loc, body)
	}
	_, _, page, err := b.do(ctx, http.MethodGet, "/.vectis/enroll", nil)
	if err != nil {
		return "", err
	}
	m := otpauthRE.FindStringSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("enrollment page has no otpauth URI: %.300s", page)
	}
	u, err := url.Parse(htmlUnescape(m[1]))
	if err != nil {
		return "", err
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.Query().Get("secret"))
	if err != nil {
		return "", fmt.Errorf("otpauth secret: %w", err)
	}
	code := totp.CodeAt(secret, totp.StepAt(time.Now()))
	st, _, body, err = b.post(ctx, "/.vectis/enroll", url.Values{"code": {code}})
	if err != nil {
		return "", err
	}
	if st != http.StatusOK || !strings.Contains(body, "data-recovery-code") {
		return "", fmt.Errorf("enrollment: status %d, no recovery codes shown: %.300s", st, body)
	}
	// Only the session cookie: the pre-login csrf cookie plays no part in a signed-in request.
	for _, part := range strings.Split(b.cookieHeader(), "; ") {
		if strings.HasPrefix(part, "vectis_session=") {
			return part, nil
		}
	}
	return "", fmt.Errorf("no vectis_session cookie after enrollment")
}

// idp is a mock OpenID provider on loopback for oauth2-proxy (it runs discovery at start and redeems the
// one sign-in the bench makes; it plays no part in the measured requests).
type idp struct {
	m *mockoidc.MockOIDC
}

func startIdP() (*idp, error) {
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		return nil, err
	}
	// Tokens outlive any run, so no session expires or refreshes mid-measurement.
	m.AccessTTL, m.RefreshTTL = 24*time.Hour, 48*time.Hour
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if err := m.Start(ln, nil); err != nil {
		return nil, err
	}
	return &idp{m: m}, nil
}

func (i *idp) stop() { _ = i.m.Shutdown() }

// oauth2ProxySession signs in through oauth2-proxy once (start → mock IdP → callback) and returns the Cookie
// header carrying its session (oauth2-proxy splits a large session over _oauth2_proxy_0, _1, …).
func oauth2ProxySession(ctx context.Context, base string) (string, error) {
	b := newBrowser(base, true)
	st, _, body, err := b.do(ctx, http.MethodGet, "/oauth2/start?rd=%2F", nil)
	if err != nil {
		return "", err
	}
	if st != http.StatusOK || !strings.Contains(body, "vectis-bench upstream") {
		return "", fmt.Errorf("oauth2-proxy sign-in ended with status %d, not at the upstream: %.300s", st, body)
	}
	var parts []string
	for _, part := range strings.Split(b.cookieHeader(), "; ") {
		if strings.HasPrefix(part, "_oauth2_proxy") && !strings.HasPrefix(part, "_oauth2_proxy_csrf") {
			parts = append(parts, part)
		}
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("no _oauth2_proxy cookie after sign-in")
	}
	return strings.Join(parts, "; "), nil
}
