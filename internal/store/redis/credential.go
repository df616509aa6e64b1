package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/vectis/mfa-gateway/internal/credential"
)

// GetCredentials returns credential.ErrNotEnrolled when the operator has no active secret.
func (s *Store) GetCredentials(ctx context.Context, tenantID, userID string) (credential.Credentials, error) {
	var c credential.Credentials
	r, err := getCredentialsScript.Run(ctx, s.c, []string{credKey(tenantID, userID), recoveryKey(tenantID, userID)}).Slice()
	if err != nil {
		return c, fmt.Errorf("redis: get credentials: %w", err)
	}
	if len(r) == 0 || r[0] != int64(1) {
		return c, credential.ErrNotEnrolled
	}
	if len(r) != 5 {
		return c, fmt.Errorf("redis: get credentials: unexpected reply of %d values", len(r))
	}
	secret, _ := r[1].(string)
	enrolled, _ := r[2].(string)
	step, _ := r[3].(string)
	left, _ := r[4].(int64)
	c.SecretSealed = []byte(secret)
	if c.EnrolledAt, err = time.Parse(time.RFC3339Nano, enrolled); err != nil {
		return credential.Credentials{}, fmt.Errorf("redis: get credentials: enrollment time: %w", err)
	}
	if c.LastStep, err = strconv.ParseInt(step, 10, 64); err != nil {
		return credential.Credentials{}, fmt.Errorf("redis: get credentials: last step: %w", err)
	}
	c.RecoveryLeft = int(left)
	return c, nil
}

// ActivateTOTP enrolls the operator (secret, used step, recovery codes) only if it has no active secret.
func (s *Store) ActivateTOTP(ctx context.Context, tenantID, userID string, sealed []byte, step int64, recoveryHashes [][]byte, at time.Time) (bool, error) {
	args := make([]any, 0, 3+len(recoveryHashes))
	args = append(args, sealed, at.UTC().Format(time.RFC3339Nano), formatInt(step))
	for _, h := range recoveryHashes {
		args = append(args, h)
	}
	r, err := activateTOTPScript.Run(ctx, s.c, []string{credKey(tenantID, userID), recoveryKey(tenantID, userID)}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("redis: activate totp: %w", err)
	}
	return r == 1, nil
}

// UseStep records step as used if it is later than the last used one (compare-and-set in one script).
func (s *Store) UseStep(ctx context.Context, tenantID, userID string, step int64) (bool, error) {
	r, err := useStepScript.Run(ctx, s.c, []string{credKey(tenantID, userID)}, formatInt(step)).Int()
	if err != nil {
		return false, fmt.Errorf("redis: use step: %w", err)
	}
	return r == 1, nil
}

// ConsumeRecoveryCode removes hash from the operator's codes if present and says how many are left.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, tenantID, userID string, hash []byte) (bool, int, error) {
	r, err := consumeRecoveryScript.Run(ctx, s.c, []string{credKey(tenantID, userID), recoveryKey(tenantID, userID)}, hash).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redis: consume recovery code: %w", err)
	}
	if len(r) != 2 {
		return false, 0, fmt.Errorf("redis: consume recovery code: unexpected reply of %d values", len(r))
	}
	return r[0] == 1, int(r[1]), nil
}

// ReplaceRecoveryCodes makes hashes the operator's only codes; credential.ErrNotEnrolled without a secret.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes [][]byte) error {
	args := make([]any, len(hashes))
	for i, h := range hashes {
		args[i] = h
	}
	r, err := replaceRecoveryScript.Run(ctx, s.c, []string{credKey(tenantID, userID), recoveryKey(tenantID, userID)}, args...).Int()
	if err != nil {
		return fmt.Errorf("redis: replace recovery codes: %w", err)
	}
	if r != 1 {
		return credential.ErrNotEnrolled
	}
	return nil
}

// ResetMFA deletes the secret, used-step state and recovery codes (one DEL: both keys share the tag).
func (s *Store) ResetMFA(ctx context.Context, tenantID, userID string) error {
	if err := s.c.Del(ctx, credKey(tenantID, userID), recoveryKey(tenantID, userID)).Err(); err != nil {
		return fmt.Errorf("redis: reset mfa: %w", err)
	}
	return nil
}
