// Package audit records security events: a structured log line, the tenant's last 1,000 in the store, and an
// optional webhook that never blocks or fails a sign-in.
package audit

import (
	"context"
	"time"
)

// Event types. One name for one thing, in code, logs, the admin page and the webhook.
const (
	SignInSuccess         = "signin.success"
	SignInFailure         = "signin.failure"
	Lockout               = "lockout"
	Unlock                = "unlock"
	Enrolled              = "enroll"
	RecoveryCodeUsed      = "recovery.used"
	RecoveryRegenerated   = "recovery.regenerated"
	MFAReset              = "mfa.reset"
	OperatorDisabled      = "operator.disabled"
	OperatorEnabled       = "operator.enabled"
	OperatorAdded         = "operator.added"
	SSOEnabled            = "sso.enabled"
	SSODisabled           = "sso.disabled"
	BreakGlassSignIn      = "breakglass.signin"
	SupportRecovery       = "support.reset"
	SupportRecoveryDenied = "support.reset.denied"
	SessionsRevoked       = "sessions.revoked"
)

// Event is one security event. It never carries a secret, code, password, cookie or token.
type Event struct {
	Time   time.Time         `json:"time"`
	Type   string            `json:"type"`
	Tenant string            `json:"tenant"`
	User   string            `json:"user,omitempty"`  // operator id
	Email  string            `json:"email,omitempty"` // operator email
	Actor  string            `json:"actor,omitempty"` // who acted: the operator, an admin's email, "cli", "support"
	Method string            `json:"method,omitempty"`
	Reason string            `json:"reason,omitempty"`
	Detail map[string]string `json:"detail,omitempty"`
}

// Keep is how many events per tenant the store keeps.
const Keep = 1000

// Store keeps each tenant's most recent events.
type Store interface {
	// AppendAudit adds e to the tenant's trail and trims it to the newest keep events (one atomic step).
	AppendAudit(ctx context.Context, tenantID string, e Event, keep int) error
	// ListAudit returns up to limit events of the tenant, newest first.
	ListAudit(ctx context.Context, tenantID string, limit int) ([]Event, error)
}
