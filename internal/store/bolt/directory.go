package bolt

import (
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// PutTenant creates or replaces a tenant.
func (s *Store) PutTenant(ctx context.Context, t directory.Tenant) error {
	if t.ID == "" {
		return errors.New("bolt store: tenant without id")
	}
	k, err := key(t.ID)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return putJSON(tx.Bucket(bucketTenants), "tenant", k, t)
	})
}

// GetTenant returns directory.ErrNotFound for an unknown id.
func (s *Store) GetTenant(ctx context.Context, id string) (directory.Tenant, error) {
	var t directory.Tenant
	k, err := key(id)
	if err != nil {
		return t, err
	}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketTenants), "tenant", k, &t)
		if err == nil && !found {
			err = directory.ErrNotFound
		}
		return err
	})
	return t, err
}

// ListTenants returns every tenant, ordered by id.
func (s *Store) ListTenants(ctx context.Context) ([]directory.Tenant, error) {
	var out []directory.Tenant
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTenants).ForEach(func(_, v []byte) error {
			var t directory.Tenant
			if err := unmarshal(v, "tenant", &t); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// CreateOperator stores a new operator under its normalized email. The email index and the record are
// written in one transaction, so two tenants racing for one email cannot both get it.
func (s *Store) CreateOperator(ctx context.Context, o directory.Operator) error {
	o.Email = directory.NormalizeEmail(o.Email)
	if o.TenantID == "" || o.ID == "" || o.Email == "" {
		return errors.New("bolt store: operator needs a tenant, an id and an email")
	}
	ok, err := key(o.TenantID, o.ID)
	if err != nil {
		return err
	}
	ek, err := key(o.Email)
	if err != nil {
		return err
	}
	var sk []byte
	if o.SSOKey != "" {
		if sk, err = key(o.TenantID, o.SSOKey); err != nil {
			return err
		}
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		emails, ops, ssoKeys := tx.Bucket(bucketEmails), tx.Bucket(bucketOperators), tx.Bucket(bucketSSOKeys)
		if emails.Get(ek) != nil {
			return fmt.Errorf("operator email: %w", directory.ErrExists)
		}
		if ops.Get(ok) != nil {
			return fmt.Errorf("operator id: %w", directory.ErrExists)
		}
		if sk != nil {
			if ssoKeys.Get(sk) != nil {
				return fmt.Errorf("operator SSO key: %w", directory.ErrExists)
			}
			if err := ssoKeys.Put(sk, []byte(o.ID)); err != nil {
				return err
			}
		}
		if err := emails.Put(ek, ok); err != nil {
			return err
		}
		return putJSON(ops, "operator", ok, o)
	})
}

// UpdateOperator replaces an existing operator. The email is its identity across tenants, so a record
// with another email is not this operator: directory.ErrNotFound, nothing changed.
func (s *Store) UpdateOperator(ctx context.Context, o directory.Operator) error {
	o.Email = directory.NormalizeEmail(o.Email)
	ok, err := key(o.TenantID, o.ID)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		ops := tx.Bucket(bucketOperators)
		var old directory.Operator
		found, err := getJSON(ops, "operator", ok, &old)
		if err != nil {
			return err
		}
		if !found {
			return directory.ErrNotFound
		}
		if old.Email != o.Email {
			return fmt.Errorf("operator email cannot change through an update: %w", directory.ErrNotFound)
		}
		if err := reindexSSOKey(tx.Bucket(bucketSSOKeys), o.TenantID, o.ID, old.SSOKey, o.SSOKey); err != nil {
			return err
		}
		return putJSON(ops, "operator", ok, o)
	})
}

// reindexSSOKey moves operator id's SSO key index entry from oldKey to newKey (either may be empty). A new
// key held by another operator of the tenant is directory.ErrExists, and the caller's transaction then
// writes nothing: one IdP identity never links two operators.
func reindexSSOKey(b *bbolt.Bucket, tenantID, id, oldKey, newKey string) error {
	if newKey != "" {
		nk, err := key(tenantID, newKey)
		if err != nil {
			return err
		}
		if owner := b.Get(nk); owner != nil && string(owner) != id {
			return fmt.Errorf("operator SSO key: %w", directory.ErrExists)
		}
		if err := b.Put(nk, []byte(id)); err != nil {
			return err
		}
	}
	if oldKey != "" && oldKey != newKey {
		okk, err := key(tenantID, oldKey)
		if err != nil {
			return err
		}
		// Only our own entry: the index must never lose another operator's link.
		if owner := b.Get(okk); owner != nil && string(owner) == id {
			return b.Delete(okk)
		}
	}
	return nil
}

// OperatorBySSOKey returns the operator of tenantID linked to the IdP identity key.
func (s *Store) OperatorBySSOKey(ctx context.Context, tenantID, ssoKey string) (directory.Operator, error) {
	var o directory.Operator
	if tenantID == "" || ssoKey == "" {
		return o, directory.ErrNotFound
	}
	sk, err := key(tenantID, ssoKey)
	if err != nil {
		return o, err
	}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		id := tx.Bucket(bucketSSOKeys).Get(sk)
		if id == nil {
			return directory.ErrNotFound
		}
		ok, err := key(tenantID, string(id))
		if err != nil {
			return err
		}
		found, err := getJSON(tx.Bucket(bucketOperators), "operator", ok, &o)
		if err == nil && (!found || o.SSOKey != ssoKey) {
			// A stale entry must not resolve to anyone.
			o, err = directory.Operator{}, directory.ErrNotFound
		}
		return err
	})
	return o, err
}

// GetOperator returns directory.ErrNotFound for an unknown (tenant, id).
func (s *Store) GetOperator(ctx context.Context, tenantID, id string) (directory.Operator, error) {
	var o directory.Operator
	ok, err := key(tenantID, id)
	if err != nil {
		return o, err
	}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketOperators), "operator", ok, &o)
		if err == nil && !found {
			err = directory.ErrNotFound
		}
		return err
	})
	return o, err
}

// OperatorByEmail looks up by email (normalized here too, so a caller's stray capital cannot miss).
func (s *Store) OperatorByEmail(ctx context.Context, email string) (directory.Operator, error) {
	var o directory.Operator
	ek, err := key(directory.NormalizeEmail(email))
	if err != nil {
		return o, err
	}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		ok := tx.Bucket(bucketEmails).Get(ek)
		if ok == nil {
			return directory.ErrNotFound
		}
		found, err := getJSON(tx.Bucket(bucketOperators), "operator", ok, &o)
		if err == nil && !found {
			// An index entry without its record would be a bug; it must still not resolve to anyone.
			err = directory.ErrNotFound
		}
		return err
	})
	return o, err
}

// ListOperators returns the tenant's operators, ordered by id; none for an unknown tenant.
func (s *Store) ListOperators(ctx context.Context, tenantID string) ([]directory.Operator, error) {
	p, err := prefix(tenantID)
	if err != nil {
		return nil, err
	}
	var out []directory.Operator
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketOperators).Cursor()
		for k, v := c.Seek(p); k != nil && hasPrefix(k, p); k, v = c.Next() {
			var o directory.Operator
			if err := unmarshal(v, "operator", &o); err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	return out, err
}

// Empty reports whether the store holds no tenant and no operator.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	empty := false
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		tk, _ := tx.Bucket(bucketTenants).Cursor().First()
		ok, _ := tx.Bucket(bucketOperators).Cursor().First()
		empty = tk == nil && ok == nil
		return nil
	})
	return empty, err
}
