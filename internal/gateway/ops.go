package gateway

import (
	"context"
	"errors"
	"strings"

	"github.com/vectis/mfa-gateway/internal/admin"
	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/sso"
)

// Admin returns the audited ops operations over this gateway's store, for Caddy's admin API and the CLI
// behind it. It opens (and bootstraps) the store if no request has yet; a store that cannot be opened is
// an error for which Unavailable reports true.
func (g *Gateway) Admin(ctx context.Context) (*admin.Ops, error) {
	st, _, err := g.backend(ctx)
	if err != nil {
		return nil, err
	}
	return admin.NewOps(st, g.recorder, g.now, g.cfg.LockoutAttempts, admin.Tools{
		Hasher:        g.hasher,
		Rand:          g.rand,
		SealSSOSecret: g.sealSSOSecret,
	}), nil
}

// Unavailable reports whether err means the store could not be reached (answer 503, try again later).
func Unavailable(err error) bool { return errors.Is(err, errStoreUnavailable) }

// sealSSOSecret encrypts a tenant's SSO client secret under the master key, bound to the tenant (as
// ssoSettings opens it): a sealed secret copied into another tenant's record does not open.
func (g *Gateway) sealSSOSecret(tenantID string, secret []byte) ([]byte, error) {
	return g.keys.Seal(g.rand, secret, sso.SecretAAD(tenantID))
}

// Metrics receives counts from the request flow, for dashboards and alerts (Caddy's Prometheus registry in
// production). Methods must be cheap and must not block. Every label comes from a small fixed set: never a
// tenant, email or address, which would make one series per person.
type Metrics interface {
	// SignIn counts a finished sign-in attempt. method is one of the Method* constants, result one of the
	// Result* constants.
	SignIn(method, result string)
	// Lockout counts an operator locked out after too many wrong codes.
	Lockout()
	// CodeFailure counts one wrong code; kind is MethodTOTP or MethodRecovery.
	CodeFailure(kind string)
	// SSOCallbackFailure counts an SSO callback that signed nobody in; reason is one of the SSOFail* constants.
	SSOCallbackFailure(reason string)
}

// Sign-in methods and results, as metric labels.
const (
	MethodPassword = "password" // the password step alone (refused before any code)
	MethodTOTP     = "totp"     // password + authenticator code
	MethodRecovery = "recovery" // password + recovery code
	MethodSSO      = "sso"
	MethodUnknown  = "unknown"

	ResultSuccess   = "success"
	ResultFailure   = "failure"
	ResultLocked    = "locked"    // refused because the account is locked
	ResultThrottled = "throttled" // refused by the password throttles
)

// Reasons an SSO callback fails, as metric labels.
const (
	SSOFailState    = "state"     // missing, expired, reused or foreign state
	SSOFailIdP      = "idp_error" // the identity provider returned an error
	SSOFailExchange = "exchange"  // the code exchange at the token endpoint failed
	SSOFailToken    = "id_token"  // the ID token failed verification (signature, iss, aud, exp, nonce, …)
	SSOFailTenant   = "tenant"    // the token belongs to another tenant (tid, hd, issuer)
	SSOFailOperator = "operator"  // no such operator, disabled, or not allowed to sign in this way
	SSOFailConfig   = "config"    // the tenant's SSO settings are unusable
	SSOFailStore    = "store"     // the store failed
	SSOFailOther    = "other"     // anything else
)

// observe turns an audit event into metric counts, so the flow reports each outcome once: to the audit trail,
// and through it to the metrics. m may be nil.
func observe(m Metrics, e audit.Event) {
	if m == nil {
		return
	}
	switch e.Type {
	case audit.SignInSuccess:
		m.SignIn(methodLabel(e.Method), ResultSuccess)
	case audit.SignInFailure:
		method := methodLabel(e.Method)
		switch e.Reason {
		case "locked":
			m.SignIn(method, ResultLocked)
		case "throttled":
			m.SignIn(method, ResultThrottled)
		default:
			m.SignIn(method, ResultFailure)
		}
		if e.Reason == "wrong code" && (method == MethodTOTP || method == MethodRecovery) {
			m.CodeFailure(method)
		}
	case audit.Lockout:
		m.Lockout()
	}
}

// methodLabel maps an event's method (the X-Vectis-Auth form: password+totp, password+recovery,
// sso:<provider>) to a label.
func methodLabel(m string) string {
	switch {
	case m == "password+totp" || m == "totp":
		return MethodTOTP
	case m == "password+recovery" || m == "recovery":
		return MethodRecovery
	case m == "password":
		return MethodPassword
	case m == "sso" || strings.HasPrefix(m, "sso:"):
		return MethodSSO
	}
	return MethodUnknown
}
