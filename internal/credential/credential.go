// Package credential defines an operator's second-factor state (TOTP secret, used steps, recovery codes) as stored.
package credential

import (
	"context"
	"errors"
	"time"
)

// ErrNotEnrolled is returned for an operator without an active TOTP secret.
var ErrNotEnrolled = errors.New("not enrolled")

// Credentials are one operator's second-factor state.
type Credentials struct {
	// SecretSealed is the TOTP secret sealed by keys.Box (AES-256-GCM, key id inside).
	SecretSealed []byte    `json:"secret"`
	EnrolledAt   time.Time `json:"enrolled_at"`
	// LastStep is the highest TOTP time step that has succeeded; only later steps are accepted (replay).
	LastStep int64 `json:"last_step"`
	// RecoveryLeft is how many unused recovery codes remain.
	RecoveryLeft int `json:"recovery_left"`
}

// Store keeps TOTP secrets, used steps and recovery-code hashes. Every method is one atomic step.
type Store interface {
	// GetCredentials returns ErrNotEnrolled when the operator has no active secret.
	GetCredentials(ctx context.Context, tenantID, userID string) (Credentials, error)
	// ActivateTOTP stores the secret, marks step as used and makes recoveryHashes the operator's codes —
	// only if the operator has no active secret yet; returns false (nothing changed) otherwise.
	ActivateTOTP(ctx context.Context, tenantID, userID string, sealed []byte, step int64, recoveryHashes [][]byte, at time.Time) (bool, error)
	// UseStep records step as used if step > LastStep and returns true; false (nothing changed) otherwise,
	// and false when the operator is not enrolled.
	UseStep(ctx context.Context, tenantID, userID string, step int64) (bool, error)
	// ConsumeRecoveryCode removes hash from the operator's codes if present: (true, codes left).
	// (false, codes left) when it is not one of them (or the operator is not enrolled: (false, 0)).
	ConsumeRecoveryCode(ctx context.Context, tenantID, userID string, hash []byte) (bool, int, error)
	// ReplaceRecoveryCodes makes hashes the operator's only codes (every older code dies at once).
	// ErrNotEnrolled when the operator has no active secret.
	ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes [][]byte) error
	// ResetMFA deletes the secret, used-step state and recovery codes. Absent state is not an error.
	ResetMFA(ctx context.Context, tenantID, userID string) error
}
