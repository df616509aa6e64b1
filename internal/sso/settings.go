package sso

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"golang.org/x/oauth2"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// Provider names, as a tenant's settings spell them.
const (
	Okta      = "okta"
	Entra     = "entra"
	Google    = "google"
	JumpCloud = "jumpcloud"
	Generic   = "oidc"
)

// Published issuers of the providers that have one issuer for every customer.
const (
	GoogleIssuer    = "https://accounts.google.com"
	JumpCloudIssuer = "https://oauth.id.jumpcloud.com/" // with its trailing slash, exactly as JumpCloud publishes it
)

// EntraCloudHosts are the sign-in hosts of Microsoft's clouds; the first is the default.
var EntraCloudHosts = []string{
	"login.microsoftonline.com",        // worldwide
	"login.microsoftonline.us",         // US Government
	"login.partner.microsoftonline.cn", // China, operated by 21Vianet
	"login.chinacloudapi.cn",           // China, the older name
}

// Extra setting names (directory.SSO.Extra keys).
const (
	ExtraJIT             = "jit"               // "true": create unknown operators as members at first sign-in
	ExtraTokenAuthMethod = "token_auth_method" // client_secret_basic | client_secret_post
	ExtraEntraTenantID   = "tenant_id"         // Entra: the Directory (tenant) ID, a GUID
	ExtraEntraCloudHost  = "cloud_host"        // Entra: one of EntraCloudHosts
	ExtraGoogleDomains   = "hosted_domains"    // Google: comma-separated Workspace domains allowed to sign in
)

// Token endpoint client authentication methods (RFC 8414 names).
const (
	AuthBasic = "client_secret_basic"
	AuthPost  = "client_secret_post"
)

// Signing algorithms. Only asymmetric ones: with HS256 the "key" would be the client secret, which
// every holder of the secret can sign with, and "none" is no signature at all.
var (
	rsaOnly       = []string{"RS256"}
	anyAsymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

var (
	guidPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	oktaAuthzPath = regexp.MustCompile(`^/oauth2/[A-Za-z0-9]+$`)
)

// Settings is one tenant's identity-provider configuration, checked and ready for sign-in.
type Settings struct {
	TenantID string
	Provider string
	// Issuer is exactly the iss the provider's tokens and discovery document carry.
	Issuer       string
	ClientID     string
	ClientSecret string // never printed: see String
	// EntraTenantID is the GUID every Entra token's tid must equal.
	EntraTenantID string
	// GoogleDomains are the Workspace domains whose hd claim is accepted (lower case).
	GoogleDomains []string
	// JIT creates an unknown operator as a member at first sign-in, when the IdP vouches for the email.
	JIT bool
	// AuthStyle is how the client authenticates at the token endpoint.
	AuthStyle oauth2.AuthStyle
	// Algorithms are the ID token signing algorithms accepted.
	Algorithms []string
}

// String leaves the client secret out, so a stray %v cannot log it.
func (s Settings) String() string {
	return fmt.Sprintf("{tenant:%s provider:%s issuer:%s client_id:%s client_secret:[redacted]}", s.TenantID, s.Provider, s.Issuer, s.ClientID)
}

// GoString covers %#v.
func (s Settings) GoString() string { return s.String() }

// Label is the provider's name as people know it.
func (s Settings) Label() string { return Label(s.Provider) }

// Label names a provider for pages.
func Label(provider string) string {
	switch provider {
	case Okta:
		return "Okta"
	case Entra:
		return "Microsoft Entra ID"
	case Google:
		return "Google Workspace"
	case JumpCloud:
		return "JumpCloud"
	default:
		return "your identity provider"
	}
}

// SecretAAD is the associated data a tenant's client secret is sealed with: naming the tenant means a
// sealed secret copied into another tenant's record does not open.
func SecretAAD(tenantID string) []byte { return []byte("sso-client-secret|" + tenantID) }

// Check reports, in plain words, every problem with SSO settings as they would be stored (seed file,
// CLI): the provider, its issuer, the client id and the provider's own fields. It does not see the client
// secret, which is stored sealed.
func Check(provider, issuer, clientID string, extra map[string]string) error {
	_, errs := derive("", directory.SSO{Provider: provider, Issuer: issuer, ClientID: clientID, Extra: extra})
	return errors.Join(errs...)
}

// NewSettings turns a tenant's stored settings and its opened client secret into Settings. The error says what
// is wrong in plain words (it never contains the secret).
func NewSettings(tenantID string, s directory.SSO, clientSecret string) (Settings, error) {
	out, errs := derive(tenantID, s)
	if clientSecret == "" {
		errs = append(errs, errors.New("sso client secret is empty"))
	}
	if len(errs) > 0 {
		return Settings{}, errors.Join(errs...)
	}
	out.ClientSecret = clientSecret
	return out, nil
}

func derive(tenantID string, s directory.SSO) (Settings, []error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	out := Settings{TenantID: tenantID, Provider: s.Provider, ClientID: s.ClientID, Algorithms: rsaOnly}

	if strings.TrimSpace(s.ClientID) == "" {
		add("sso client_id is required")
	} else if s.ClientID != strings.TrimSpace(s.ClientID) || len(s.ClientID) > 255 {
		add("sso client_id %q has spaces around it or is too long", s.ClientID)
	}

	allowed := map[string]bool{ExtraJIT: true, ExtraTokenAuthMethod: true}
	auth := AuthBasic
	switch s.Provider {
	case Entra:
		allowed[ExtraEntraTenantID], allowed[ExtraEntraCloudHost] = true, true
		auth = AuthPost
		tid := strings.ToLower(strings.TrimSpace(s.Extra[ExtraEntraTenantID]))
		host := strings.ToLower(strings.TrimSpace(s.Extra[ExtraEntraCloudHost]))
		if host == "" {
			host = EntraCloudHosts[0]
		}
		switch {
		case tid == "":
			add("sso tenant_id is required for Entra: copy the Directory (tenant) ID, a GUID, from the app registration's Overview page")
		case tid == "common" || tid == "organizations" || tid == "consumers":
			add("sso tenant_id %q is one of Entra's shared endpoints, which accept accounts of any Microsoft tenant; use your own Directory (tenant) ID, a GUID, so that only your tenant's accounts can sign in", tid)
		case !guidPattern.MatchString(tid):
			add("sso tenant_id %q is not a GUID: use the Directory (tenant) ID from the app registration's Overview page, not a domain name", s.Extra[ExtraEntraTenantID])
		}
		if !slices.Contains(EntraCloudHosts, host) {
			add("sso cloud_host %q is not a Microsoft sign-in host; use one of %s", host, strings.Join(EntraCloudHosts, ", "))
		}
		out.EntraTenantID = tid
		want := "https://" + host + "/" + tid + "/v2.0"
		switch {
		case s.Issuer == "":
			out.Issuer = want
		case s.Issuer != want && len(errs) == 0:
			add("sso issuer %q does not match tenant_id and cloud_host: Entra's issuer is %s (the v2.0 endpoint, no trailing slash); leave issuer empty to have it derived", s.Issuer, want)
		default:
			out.Issuer = s.Issuer
		}
	case Google:
		allowed[ExtraGoogleDomains] = true
		auth = AuthPost
		if s.Issuer != "" && s.Issuer != GoogleIssuer {
			add("sso issuer %q is not Google's: Google's issuer is %s (leave issuer empty to have it set)", s.Issuer, GoogleIssuer)
		}
		out.Issuer = GoogleIssuer
		raw := s.Extra[ExtraGoogleDomains]
		for _, d := range strings.Split(raw, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			switch {
			case d == "":
			case d == "gmail.com" || d == "googlemail.com":
				add("sso hosted_domains cannot include %s: personal Google accounts carry no hosted domain; list your Workspace domains", d)
			case !domainPattern.MatchString(d):
				add("sso hosted_domains entry %q is not a domain name", d)
			case slices.Contains(out.GoogleDomains, d):
			default:
				out.GoogleDomains = append(out.GoogleDomains, d)
			}
		}
		if strings.TrimSpace(raw) == "" {
			add("sso hosted_domains is required for Google: list your Workspace domains (comma-separated); without it any Google account could sign in")
		}
	case JumpCloud:
		switch s.Issuer {
		case "", JumpCloudIssuer:
		case strings.TrimSuffix(JumpCloudIssuer, "/"):
			add("sso issuer %q lacks JumpCloud's trailing slash: JumpCloud's issuer is exactly %s, and tokens carry it with the slash", s.Issuer, JumpCloudIssuer)
		default:
			add("sso issuer %q is not JumpCloud's: JumpCloud's issuer is exactly %s (leave issuer empty to have it set)", s.Issuer, JumpCloudIssuer)
		}
		out.Issuer = JumpCloudIssuer
	case Okta:
		out.Issuer = s.Issuer
		if s.Issuer == "" {
			add("sso issuer is required for Okta: your Okta domain (https://yourorg.okta.com) for the org authorization server, or https://yourorg.okta.com/oauth2/<server id> for a custom one")
			break
		}
		u, problem := parseIssuer(Okta, s.Issuer)
		if problem != "" {
			add("sso issuer %s", problem)
			break
		}
		switch {
		case u.Path == "" || oktaAuthzPath.MatchString(u.Path):
		case strings.HasSuffix(u.Path, "/"):
			add("sso issuer %q ends with a slash; Okta's issuers do not (https://yourorg.okta.com or https://yourorg.okta.com/oauth2/<server id>)", s.Issuer)
		case strings.Contains(u.Path, "/v1/"):
			add("sso issuer %q is an endpoint, not the issuer: use https://yourorg.okta.com for the org authorization server, or https://yourorg.okta.com/oauth2/<server id> for a custom one", s.Issuer)
		default:
			add("sso issuer %q is not an Okta issuer: use https://yourorg.okta.com for the org authorization server, or https://yourorg.okta.com/oauth2/<server id> for a custom one", s.Issuer)
		}
	case Generic:
		out.Issuer = s.Issuer
		out.Algorithms = anyAsymmetric
		if s.Issuer == "" {
			add("sso issuer is required for provider oidc")
		} else if _, problem := parseIssuer(Generic, s.Issuer); problem != "" {
			add("sso issuer %s", problem)
		}
	default:
		add("sso provider %q must be one of okta, entra, google, jumpcloud, oidc", s.Provider)
		return out, errs
	}

	names := make([]string, 0, len(s.Extra))
	for k := range s.Extra {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !allowed[k] {
			add("sso field %q is not a setting of provider %s (its settings: %s)", k, s.Provider, strings.Join(sortedKeys(allowed), ", "))
		}
	}
	switch v := s.Extra[ExtraJIT]; v {
	case "", "false":
	case "true":
		out.JIT = true
	default:
		add("sso jit must be \"true\" or \"false\", not %q", v)
	}
	if v := s.Extra[ExtraTokenAuthMethod]; v != "" {
		auth = v
	}
	switch auth {
	case AuthBasic:
		out.AuthStyle = oauth2.AuthStyleInHeader
	case AuthPost:
		out.AuthStyle = oauth2.AuthStyleInParams
	default:
		add("sso token_auth_method must be %s or %s, not %q", AuthBasic, AuthPost, auth)
	}
	return out, errs
}

// parseIssuer requires an absolute https URL without query or fragment; plain http only for the generic
// provider on a loopback address (local IdPs in tests and demos), where no network sits in between.
func parseIssuer(provider, issuer string) (*url.URL, string) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Sprintf("%q must be an absolute https URL without query or fragment", issuer)
	}
	switch u.Scheme {
	case "https":
		return u, ""
	case "http":
		if provider == Generic && isLoopback(u.Hostname()) {
			return u, ""
		}
		return nil, fmt.Sprintf("%q must use https (http is allowed only for provider oidc on a loopback address)", issuer)
	default:
		return nil, fmt.Sprintf("%q must be an https URL", issuer)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
