package bolt

import (
	"bytes"
	"context"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/vectis/mfa-gateway/internal/credential"
)

// credRecord is the stored TOTP state. The recovery codes live beside it as a set (a nested bucket of
// hash keys), so using one is an exact-bytes lookup and delete, and the count left is the set's size.
type credRecord struct {
	SecretSealed []byte    `json:"secret"`
	EnrolledAt   time.Time `json:"enrolled_at"`
	LastStep     int64     `json:"last_step"`
}

// GetCredentials returns credential.ErrNotEnrolled when the operator has no active secret.
func (s *Store) GetCredentials(ctx context.Context, tenantID, userID string) (credential.Credentials, error) {
	ck, err := key(tenantID, userID)
	if err != nil {
		return credential.Credentials{}, err
	}
	var c credential.Credentials
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		var rec credRecord
		found, err := getJSON(tx.Bucket(bucketCredentials), "credentials", ck, &rec)
		if err != nil {
			return err
		}
		if !found {
			return credential.ErrNotEnrolled
		}
		c = credential.Credentials{
			SecretSealed: rec.SecretSealed,
			EnrolledAt:   rec.EnrolledAt,
			LastStep:     rec.LastStep,
			RecoveryLeft: countKeys(tx.Bucket(bucketRecovery).Bucket(ck)),
		}
		return nil
	})
	if err != nil {
		return credential.Credentials{}, err
	}
	return c, nil
}

// ActivateTOTP enrolls the operator unless a secret is already active (then false, nothing changed).
func (s *Store) ActivateTOTP(ctx context.Context, tenantID, userID string, sealed []byte, step int64, recoveryHashes [][]byte, at time.Time) (bool, error) {
	if len(sealed) == 0 {
		return false, errors.New("bolt store: activating TOTP without a secret")
	}
	ck, err := key(tenantID, userID)
	if err != nil {
		return false, err
	}
	activated := false
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		creds := tx.Bucket(bucketCredentials)
		if creds.Get(ck) != nil {
			return nil
		}
		if err := putJSON(creds, "credentials", ck, credRecord{SecretSealed: sealed, EnrolledAt: at, LastStep: step}); err != nil {
			return err
		}
		if err := replaceCodes(tx, ck, recoveryHashes); err != nil {
			return err
		}
		activated = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return activated, nil
}

// UseStep records step if it is later than every step used before; the check and the write are one
// transaction, so one code cannot be replayed by a parallel request.
func (s *Store) UseStep(ctx context.Context, tenantID, userID string, step int64) (bool, error) {
	ck, err := key(tenantID, userID)
	if err != nil {
		return false, err
	}
	used := false
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		creds := tx.Bucket(bucketCredentials)
		var rec credRecord
		found, err := getJSON(creds, "credentials", ck, &rec)
		if err != nil || !found || step <= rec.LastStep {
			return err
		}
		rec.LastStep = step
		if err := putJSON(creds, "credentials", ck, rec); err != nil {
			return err
		}
		used = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return used, nil
}

// ConsumeRecoveryCode deletes hash from the operator's set if it is there: (true, left). Otherwise
// (false, left), and (false, 0) for an operator who is not enrolled.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, tenantID, userID string, hash []byte) (bool, int, error) {
	ck, err := key(tenantID, userID)
	if err != nil {
		return false, 0, err
	}
	var (
		consumed bool
		left     int
	)
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketCredentials).Get(ck) == nil {
			return nil
		}
		codes := tx.Bucket(bucketRecovery).Bucket(ck)
		if codes == nil {
			return nil
		}
		if len(hash) > 0 && codes.Get(hash) != nil {
			if err := codes.Delete(hash); err != nil {
				return err
			}
			consumed = true
		}
		left = countKeys(codes)
		return nil
	})
	if err != nil {
		return false, 0, err
	}
	return consumed, left, nil
}

// ReplaceRecoveryCodes makes hashes the operator's only codes, in one transaction with the check that
// the operator is enrolled.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes [][]byte) error {
	ck, err := key(tenantID, userID)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketCredentials).Get(ck) == nil {
			return credential.ErrNotEnrolled
		}
		return replaceCodes(tx, ck, hashes)
	})
}

// ResetMFA deletes the secret, the used-step state and the recovery codes.
func (s *Store) ResetMFA(ctx context.Context, tenantID, userID string) error {
	ck, err := key(tenantID, userID)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketCredentials).Delete(ck); err != nil {
			return err
		}
		return deleteCodes(tx, ck)
	})
}

// replaceCodes drops the operator's code set and writes hashes as the new one.
func replaceCodes(tx *bbolt.Tx, ck []byte, hashes [][]byte) error {
	if err := deleteCodes(tx, ck); err != nil {
		return err
	}
	codes, err := tx.Bucket(bucketRecovery).CreateBucket(ck)
	if err != nil {
		return err
	}
	for _, h := range hashes {
		if len(h) == 0 {
			return errors.New("bolt store: empty recovery-code hash")
		}
		// bbolt keeps a reference to the key until commit; a copy keeps the caller free to reuse its slice.
		if err := codes.Put(bytes.Clone(h), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

func deleteCodes(tx *bbolt.Tx, ck []byte) error {
	err := tx.Bucket(bucketRecovery).DeleteBucket(ck)
	if errors.Is(err, bolterrors.ErrBucketNotFound) {
		return nil
	}
	return err
}

// countKeys counts the keys of b (nil counts as empty). Code sets hold ten keys, so a walk is cheap.
func countKeys(b *bbolt.Bucket) int {
	if b == nil {
		return 0
	}
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}
