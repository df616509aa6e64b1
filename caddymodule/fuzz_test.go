package caddymodule

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzUnmarshalCaddyfile: any directive body is either accepted or refused with an error — never a panic.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, s := range []string{
		"vectis_mfa {\n portal_hosts a.example *.b.example\n storage bolt /x.db\n lockout 5 15m\n session idle 1h absolute 12h\n}",
		"vectis_mfa {\n storage redis redis://127.0.0.1:6379/0\n secret_key {env.K}\n secure_cookies\n}",
		"vectis_mfa {\n lockout five\n}", "vectis_mfa {\n session idle\n}", "vectis_mfa x", "vectis_mfa {\n issuer \"a b\" {\n}\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		var h Handler
		_ = h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	})
}

// FuzzAdminAPIDecode: any request body gets a verdict; a refusal is a 400/413 API error that never echoes
// the body's values (a body may carry a password or client secret).
func FuzzAdminAPIDecode(f *testing.F) {
	for _, s := range []string{`{"email":"a@b","role":"admin","password":"s3cret-pw"}`, `{"password":1}`, `[]`, `{"x":"s3cret-pw"}`,
		`{"email":"a@b"} {}`, `{`, ``, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in struct {
			Email    string `json:"email"`
			Role     string `json:"role"`
			Password string `json:"password"`
		}
		r := httptest.NewRequest("POST", "/vectis/tenants/acme/users", bytes.NewReader(body))
		err := decode(r, &in)
		if err == nil {
			return
		}
		var api caddy.APIError
		if !errors.As(err, &api) || (api.HTTPStatus != 400 && api.HTTPStatus != 413) {
			t.Fatalf("decode error is not a 400/413 API error: %v", err)
		}
		// Only an unknown field's NAME may be quoted back; values never are.
		if strings.Contains(err.Error(), "s3cret-pw") && !strings.Contains(err.Error(), "unknown field") {
			t.Fatalf("error echoes a secret: %v", err)
		}
	})
}
