package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// PutTenant creates or replaces a tenant. The record is written before the tenant joins the tenant list,
// so a listing never names a tenant it cannot read.
func (s *Store) PutTenant(ctx context.Context, t directory.Tenant) error {
	if t.ID == "" {
		return errors.New("redis: put tenant: empty tenant id")
	}
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("redis: put tenant: %w", err)
	}
	if err := s.c.Set(ctx, tenantKey(t.ID), b, 0).Err(); err != nil {
		return fmt.Errorf("redis: put tenant: %w", err)
	}
	if err := s.c.SAdd(ctx, tenantsKey(), t.ID).Err(); err != nil {
		return fmt.Errorf("redis: put tenant: %w", err)
	}
	return nil
}

// GetTenant returns directory.ErrNotFound for an unknown id.
func (s *Store) GetTenant(ctx context.Context, id string) (directory.Tenant, error) {
	var t directory.Tenant
	b, err := s.c.Get(ctx, tenantKey(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return t, directory.ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("redis: get tenant: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("redis: get tenant: %w", err)
	}
	return t, nil
}

// ListTenants returns every tenant, ordered by id. The tenant list spans hash slots, so the records are
// read in one pipeline of GETs (an MGET would fail on Cluster).
func (s *Store) ListTenants(ctx context.Context) ([]directory.Tenant, error) {
	ids, err := s.c.SMembers(ctx, tenantsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: list tenants: %w", err)
	}
	slices.Sort(ids)
	cmds := make([]*goredis.StringCmd, len(ids))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, tenantKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("redis: list tenants: %w", err)
	}
	out := make([]directory.Tenant, 0, len(ids))
	for _, cmd := range cmds {
		b, err := cmd.Bytes()
		if errors.Is(err, goredis.Nil) {
			continue // an id that only has operators (see tenantsKey) has no record
		}
		if err != nil {
			return nil, fmt.Errorf("redis: list tenants: %w", err)
		}
		var t directory.Tenant
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("redis: list tenants: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// CreateOperator stores a new operator; directory.ErrExists when the email is taken in any tenant or the
// id is taken in its tenant.
//
// The email index lives under its own hash tag (emails are unique across tenants), so it cannot be in
// one script with the operator record. The email is reserved first with SETNX — which settles races
// between replicas — then the operator is written; if that fails the reservation is rolled back.
// Not atomic at one edge: if the process dies, or Redis becomes unreachable, between the reservation and
// a failed rollback, the email stays reserved with no operator behind it. OperatorByEmail then answers
// ErrNotFound and CreateOperator ErrExists for that email; deleting the key
// vectis:{e:<first 8 hex of sha256(email)>}:email:<email> frees it (the warning logged names the operator).
func (s *Store) CreateOperator(ctx context.Context, o directory.Operator) error {
	if o.TenantID == "" || o.ID == "" {
		return errors.New("redis: create operator: empty tenant or operator id")
	}
	o.Email = directory.NormalizeEmail(o.Email)
	if o.Email == "" {
		return errors.New("redis: create operator: empty email")
	}
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("redis: create operator: %w", err)
	}
	ref, err := json.Marshal([2]string{o.TenantID, o.ID})
	if err != nil {
		return fmt.Errorf("redis: create operator: %w", err)
	}
	// Listed before anything is written, so Empty never reports an empty store while an operator exists;
	// a failed create leaves a tenant id that ListTenants skips (it has no record).
	if err := s.c.SAdd(ctx, tenantsKey(), o.TenantID).Err(); err != nil {
		return fmt.Errorf("redis: create operator: %w", err)
	}
	ek := emailKey(o.Email)
	reserved, err := s.c.SetNX(ctx, ek, ref, 0).Result()
	if err != nil {
		return fmt.Errorf("redis: create operator: %w", err)
	}
	if !reserved {
		return directory.ErrExists
	}
	keys := []string{operatorKey(o.TenantID, o.ID), operatorSetKey(o.TenantID)}
	if o.SSOKey != "" {
		keys = append(keys, ssoKeyPrefix(o.TenantID)+o.SSOKey)
	}
	created, err := createOperatorScript.Run(ctx, s.c, keys, b, o.ID).Int()
	if err == nil && created == 1 {
		return nil
	}
	// Undo the reservation. A fresh context: the caller's may be the reason the write failed.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultReadTimeout+DefaultWriteTimeout)
	defer cancel()
	if rerr := releaseEmailScript.Run(rctx, s.c, []string{ek}, ref).Err(); rerr != nil {
		s.log.Warn("redis: could not release the email reservation of a failed operator create; the email stays taken until its index key is deleted",
			"tenant", o.TenantID, "operator", o.ID, "error", rerr)
	}
	if err != nil {
		return fmt.Errorf("redis: create operator: %w", err)
	}
	return directory.ErrExists
}

// UpdateOperator replaces an existing operator with the same tenant, id and email; directory.ErrNotFound
// otherwise (the email is part of the identity: it is indexed, and changing it here would bypass the index).
func (s *Store) UpdateOperator(ctx context.Context, o directory.Operator) error {
	o.Email = directory.NormalizeEmail(o.Email)
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("redis: update operator: %w", err)
	}
	keys := []string{operatorKey(o.TenantID, o.ID)}
	if o.SSOKey != "" {
		keys = append(keys, ssoKeyPrefix(o.TenantID)+o.SSOKey)
	}
	r, err := updateOperatorScript.Run(ctx, s.c, keys, b, o.Email, o.ID, ssoKeyPrefix(o.TenantID), o.SSOKey).Int()
	if err != nil {
		return fmt.Errorf("redis: update operator: %w", err)
	}
	switch r {
	case 1:
		return nil
	case -1:
		return fmt.Errorf("redis: update operator: the email of an operator cannot change: %w", directory.ErrNotFound)
	case -2:
		return fmt.Errorf("redis: update operator: SSO key: %w", directory.ErrExists)
	default:
		return directory.ErrNotFound
	}
}

// GetOperator returns directory.ErrNotFound for an unknown (tenant, id).
func (s *Store) GetOperator(ctx context.Context, tenantID, id string) (directory.Operator, error) {
	var o directory.Operator
	b, err := s.c.Get(ctx, operatorKey(tenantID, id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return o, directory.ErrNotFound
	}
	if err != nil {
		return o, fmt.Errorf("redis: get operator: %w", err)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("redis: get operator: %w", err)
	}
	return o, nil
}

// OperatorByEmail looks up by normalized email; directory.ErrNotFound when unknown.
func (s *Store) OperatorByEmail(ctx context.Context, email string) (directory.Operator, error) {
	email = directory.NormalizeEmail(email)
	b, err := s.c.Get(ctx, emailKey(email)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return directory.Operator{}, directory.ErrNotFound
	}
	if err != nil {
		return directory.Operator{}, fmt.Errorf("redis: operator by email: %w", err)
	}
	var ref [2]string
	if err := json.Unmarshal(b, &ref); err != nil {
		return directory.Operator{}, fmt.Errorf("redis: operator by email: %w", err)
	}
	o, err := s.GetOperator(ctx, ref[0], ref[1])
	if err != nil {
		return o, err
	}
	// A reservation left by a failed create may point at an id later reused with another email.
	if o.Email != email {
		return directory.Operator{}, directory.ErrNotFound
	}
	return o, nil
}

// OperatorBySSOKey returns the operator of tenantID linked to the IdP identity key.
func (s *Store) OperatorBySSOKey(ctx context.Context, tenantID, key string) (directory.Operator, error) {
	if tenantID == "" || key == "" {
		return directory.Operator{}, directory.ErrNotFound
	}
	id, err := s.c.Get(ctx, ssoKeyPrefix(tenantID)+key).Result()
	if errors.Is(err, goredis.Nil) {
		return directory.Operator{}, directory.ErrNotFound
	}
	if err != nil {
		return directory.Operator{}, fmt.Errorf("redis: operator by SSO key: %w", err)
	}
	o, err := s.GetOperator(ctx, tenantID, id)
	if err != nil {
		return directory.Operator{}, err
	}
	// A stale entry must not resolve to anyone.
	if o.SSOKey != key {
		return directory.Operator{}, directory.ErrNotFound
	}
	return o, nil
}

// ListOperators returns a tenant's operators ordered by email.
func (s *Store) ListOperators(ctx context.Context, tenantID string) ([]directory.Operator, error) {
	ids, err := s.c.SMembers(ctx, operatorSetKey(tenantID)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: list operators: %w", err)
	}
	if len(ids) == 0 {
		return []directory.Operator{}, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = operatorKey(tenantID, id)
	}
	// One MGET: every key shares the tenant's hash tag.
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: list operators: %w", err)
	}
	out := make([]directory.Operator, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var o directory.Operator
		if err := json.Unmarshal([]byte(str), &o); err != nil {
			return nil, fmt.Errorf("redis: list operators: %w", err)
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b directory.Operator) int { return strings.Compare(a.Email, b.Email) })
	return out, nil
}

// Empty reports whether the store holds no tenant and no operator: both add their tenant id to one set.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	n, err := s.c.SCard(ctx, tenantsKey()).Result()
	if err != nil {
		return false, fmt.Errorf("redis: empty: %w", err)
	}
	return n == 0, nil
}
