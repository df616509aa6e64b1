// Package session issues, looks up and revokes server-side sessions and pending logins.
package session

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for an unknown or expired session.
var ErrNotFound = errors.New("session not found")

// State says how far a sign-in has come.
type State string

const (
	// StateMFA: password verified, TOTP (or recovery code) still owed.
	StateMFA State = "mfa"
	// StateEnroll: password verified, operator has no active secret and must enroll.
	StateEnroll State = "enroll"
	// StateActive: fully authenticated.
	StateActive State = "active"
)

// Session is a server-side record looked up by the SHA-256 of the cookie value. A pending login
// (StateMFA, StateEnroll) is a session too, so one per-operator index revokes both at once.
type Session struct {
	TenantID  string    `json:"tenant"`
	UserID    string    `json:"user"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	State     State     `json:"state"`
	Auth      string    `json:"auth,omitempty"` // password+totp | password+recovery | sso:<provider>
	CreatedAt time.Time `json:"created"`
	LastSeen  time.Time `json:"seen"`
	// ExpiresAt is the absolute end (pending logins: created + 10 min; sessions: created + absolute).
	ExpiresAt time.Time `json:"expires"`
	// MFAAt is when the last second factor succeeded (admin actions want a recent one).
	MFAAt time.Time `json:"mfa_at,omitempty"`
	// Next is the sanitized path to continue to after sign-in.
	Next string `json:"next,omitempty"`
	// PendingSecret is the sealed TOTP secret offered during enrollment (StateEnroll only).
	PendingSecret []byte `json:"pending_secret,omitempty"`
}

// Store is what sessions need from a backend. id is the SHA-256 of the cookie value (32 bytes);
// the cookie itself is never stored.
type Store interface {
	// CreateSession stores s under id and adds it to the operator's index.
	// The backend may drop it after s.ExpiresAt.
	CreateSession(ctx context.Context, id []byte, s Session) error
	// GetSession returns ErrNotFound when absent. It does not judge expiry: the gateway does, with its own clock.
	GetSession(ctx context.Context, tenantID string, id []byte) (Session, error)
	// UpdateSession replaces an existing session; ErrNotFound if it is gone (revoked meanwhile).
	UpdateSession(ctx context.Context, id []byte, s Session) error
	// DeleteSession removes one session; deleting an absent one is not an error.
	DeleteSession(ctx context.Context, tenantID string, id []byte) error
	// DeleteOperatorSessions removes every session and pending login of one operator, returning how many.
	DeleteOperatorSessions(ctx context.Context, tenantID, userID string) (int, error)
}
