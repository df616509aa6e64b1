package sso

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/vectis/mfa-gateway/internal/directory"
)

func TestCheckSettings(t *testing.T) {
	x := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tid := "9188040d-6c67-4c5b-b112-36a304b66dad"
	cases := []struct {
		name     string
		provider string
		issuer   string
		client   string
		extra    map[string]string
		want     string // substring of the error; "" for valid
	}{
		{"entra ok", Entra, "", "c", x("tenant_id", tid), ""},
		{"entra GUID in capitals", Entra, "", "c", x("tenant_id", strings.ToUpper(tid)), ""},
		{"entra ok with its derived issuer", Entra, "https://login.microsoftonline.com/" + tid + "/v2.0", "c", x("tenant_id", tid), ""},
		{"entra US government cloud", Entra, "https://login.microsoftonline.us/" + tid + "/v2.0", "c", x("tenant_id", tid, "cloud_host", "login.microsoftonline.us"), ""},
		{"entra common", Entra, "", "c", x("tenant_id", "common"), "shared endpoints"},
		{"entra organizations", Entra, "", "c", x("tenant_id", "organizations"), "shared endpoints"},
		{"entra consumers", Entra, "", "c", x("tenant_id", "Consumers"), "shared endpoints"},
		{"entra domain instead of GUID", Entra, "", "c", x("tenant_id", "contoso.onmicrosoft.com"), "not a GUID"},
		{"entra without tenant_id", Entra, "", "c", nil, "tenant_id is required"},
		{"entra v1 issuer", Entra, "https://sts.windows.net/" + tid + "/", "c", x("tenant_id", tid), "v2.0 endpoint"},
		{"entra issuer with trailing slash", Entra, "https://login.microsoftonline.com/" + tid + "/v2.0/", "c", x("tenant_id", tid), "does not match"},
		{"entra unknown cloud", Entra, "", "c", x("tenant_id", tid, "cloud_host", "login.evil.example"), "not a Microsoft sign-in host"},
		{"entra hosted_domains is Google's", Entra, "", "c", x("tenant_id", tid, "hosted_domains", "a.example"), `"hosted_domains" is not a setting of provider entra`},

		{"google ok", Google, "", "c", x("hosted_domains", "acme.example, acme-labs.example"), ""},
		{"google with its issuer", Google, GoogleIssuer, "c", x("hosted_domains", "acme.example"), ""},
		{"google without hosted domains", Google, "", "c", nil, "hosted_domains is required"},
		{"google gmail", Google, "", "c", x("hosted_domains", "gmail.com"), "personal Google accounts"},
		{"google bad domain", Google, "", "c", x("hosted_domains", "acme"), "not a domain name"},
		{"google other issuer", Google, "https://accounts.google.com/", "c", x("hosted_domains", "acme.example"), "not Google's"},

		{"jumpcloud ok", JumpCloud, "", "c", nil, ""},
		{"jumpcloud exact issuer", JumpCloud, "https://oauth.id.jumpcloud.com/", "c", nil, ""},
		{"jumpcloud without the trailing slash", JumpCloud, "https://oauth.id.jumpcloud.com", "c", nil, "trailing slash"},
		{"jumpcloud other issuer", JumpCloud, "https://console.jumpcloud.com/", "c", nil, "not JumpCloud's"},

		{"okta org server", Okta, "https://acme.okta.com", "c", nil, ""},
		{"okta custom server", Okta, "https://acme.okta.com/oauth2/default", "c", nil, ""},
		{"okta custom server id", Okta, "https://login.acme.example/oauth2/aus1a2b3c4D5e6F7g8", "c", nil, ""},
		{"okta without issuer", Okta, "", "c", nil, "issuer is required for Okta"},
		{"okta trailing slash", Okta, "https://acme.okta.com/oauth2/default/", "c", nil, "ends with a slash"},
		{"okta endpoint pasted", Okta, "https://acme.okta.com/oauth2/v1/authorize", "c", nil, "an endpoint, not the issuer"},
		{"okta http", Okta, "http://acme.okta.com", "c", nil, "must use https"},
		{"okta plain path", Okta, "https://acme.okta.com/app/x", "c", nil, "not an Okta issuer"},

		{"oidc ok", Generic, "https://idp.example.test/realms/acme", "c", nil, ""},
		{"oidc http loopback", Generic, "http://127.0.0.1:5556/oidc", "c", x("token_auth_method", "client_secret_post"), ""},
		{"oidc http localhost", Generic, "http://localhost:5556/oidc", "c", nil, ""},
		{"oidc http elsewhere", Generic, "http://idp.example.test", "c", nil, "must use https"},
		{"oidc without issuer", Generic, "", "c", nil, "issuer is required"},
		{"oidc with query", Generic, "https://idp.example.test/?x=1", "c", nil, "without query"},
		{"oidc with userinfo", Generic, "https://u:p@idp.example.test/", "c", nil, "without query"},

		{"unknown provider", "saml", "https://x.example", "c", nil, "must be one of"},
		{"no client id", JumpCloud, "", "", nil, "client_id is required"},
		{"client id with spaces", JumpCloud, "", " c ", nil, "spaces"},
		{"jit true", JumpCloud, "", "c", x("jit", "true"), ""},
		{"jit yes", JumpCloud, "", "c", x("jit", "yes"), `jit must be "true" or "false"`},
		{"bad token auth", JumpCloud, "", "c", x("token_auth_method", "private_key_jwt"), "token_auth_method must be"},
		{"unknown field", Okta, "https://acme.okta.com", "c", x("authorization_server", "default"), `"authorization_server" is not a setting of provider okta`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.provider, c.issuer, c.client, c.extra)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Check = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestNewSettingsDerives(t *testing.T) {
	tid := "9188040d-6c67-4c5b-b112-36a304b66dad"
	cases := []struct {
		sso    directory.SSO
		issuer string
		auth   oauth2.AuthStyle
		algs   string
	}{
		{directory.SSO{Provider: Entra, ClientID: "c", Extra: map[string]string{"tenant_id": strings.ToUpper(tid)}},
			"https://login.microsoftonline.com/" + tid + "/v2.0", oauth2.AuthStyleInParams, "[RS256]"},
		{directory.SSO{Provider: Google, ClientID: "c", Extra: map[string]string{"hosted_domains": "Acme.example"}},
			GoogleIssuer, oauth2.AuthStyleInParams, "[RS256]"},
		{directory.SSO{Provider: JumpCloud, ClientID: "c"}, JumpCloudIssuer, oauth2.AuthStyleInHeader, "[RS256]"},
		{directory.SSO{Provider: Okta, ClientID: "c", Issuer: "https://acme.okta.com"}, "https://acme.okta.com", oauth2.AuthStyleInHeader, "[RS256]"},
		{directory.SSO{Provider: Generic, ClientID: "c", Issuer: "http://127.0.0.1:1/oidc", Extra: map[string]string{"token_auth_method": "client_secret_post", "jit": "true"}},
			"http://127.0.0.1:1/oidc", oauth2.AuthStyleInParams, fmt.Sprint(anyAsymmetric)},
	}
	for _, c := range cases {
		s, err := NewSettings("acme", c.sso, "the-secret")
		if err != nil {
			t.Fatalf("%s: %v", c.sso.Provider, err)
		}
		if s.Issuer != c.issuer || s.AuthStyle != c.auth || fmt.Sprint(s.Algorithms) != c.algs || s.TenantID != "acme" || s.ClientSecret != "the-secret" {
			t.Errorf("%s: %+v", c.sso.Provider, s)
		}
		for _, a := range s.Algorithms {
			if strings.HasPrefix(a, "HS") || a == "none" {
				t.Errorf("%s accepts %s", c.sso.Provider, a)
			}
		}
		if out := fmt.Sprintf("%v %+v %#v %s", s, s, s, s); strings.Contains(out, "the-secret") {
			t.Errorf("printing settings shows the client secret: %s", out)
		}
	}
	if s, _ := NewSettings("acme", cases[0].sso, "x"); s.EntraTenantID != tid {
		t.Errorf("Entra tenant id %q, want lower case %q", s.EntraTenantID, tid)
	}
	if s, _ := NewSettings("acme", cases[1].sso, "x"); fmt.Sprint(s.GoogleDomains) != "[acme.example]" {
		t.Errorf("Google domains %v", s.GoogleDomains)
	}
	if s, _ := NewSettings("acme", cases[4].sso, "x"); !s.JIT {
		t.Error("jit=true not read")
	}
	if _, err := NewSettings("acme", cases[2].sso, ""); err == nil {
		t.Error("an empty client secret was accepted")
	}
}
