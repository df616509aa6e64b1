// Package directory holds tenants and operators: who may sign in, with which role, and how.
package directory

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Sentinel errors shared by every store implementation (checked with errors.Is).
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Role is an operator's role within its tenant.
type Role string

const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleMember }

// Tenant is a Vectis workspace.
type Tenant struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	BillingEmail string    `json:"billing_email,omitempty"`
	BreakGlass   []string  `json:"break_glass,omitempty"` // normalized emails
	SSO          *SSO      `json:"sso,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// SSO is a tenant's identity-provider settings. ClientSecret is stored encrypted (see keys.Box).
type SSO struct {
	Enabled            bool              `json:"enabled"`
	Provider           string            `json:"provider"`
	Issuer             string            `json:"issuer"`
	ClientID           string            `json:"client_id"`
	ClientSecretSealed []byte            `json:"client_secret_sealed,omitempty"`
	Extra              map[string]string `json:"extra,omitempty"`
}

// IsBreakGlass reports whether email is one of the tenant's break-glass admins.
func (t Tenant) IsBreakGlass(email string) bool {
	email = NormalizeEmail(email)
	for _, e := range t.BreakGlass {
		if e == email {
			return true
		}
	}
	return false
}

// Operator is a person who signs in to one tenant.
type Operator struct {
	ID           string    `json:"id"`
	TenantID     string    `json:"tenant"`
	Email        string    `json:"email"` // normalized, unique across all tenants
	Role         Role      `json:"role"`
	PasswordHash string    `json:"password_hash,omitempty"`
	Disabled     bool      `json:"disabled,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// SSOKey links the operator to an IdP identity ("tid/oid" for Entra, "issuer|sub" elsewhere).
	SSOKey string `json:"sso_key,omitempty"`
}

// NormalizeEmail is the one spelling of an email address used for lookups.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Store is what the directory needs from a backend.
type Store interface {
	// PutTenant creates or replaces a tenant.
	PutTenant(ctx context.Context, t Tenant) error
	// GetTenant returns ErrNotFound for an unknown id.
	GetTenant(ctx context.Context, id string) (Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
	// CreateOperator fails with ErrExists when the email is taken (in any tenant).
	CreateOperator(ctx context.Context, o Operator) error
	// UpdateOperator replaces an existing operator (same id, same email); ErrNotFound otherwise.
	UpdateOperator(ctx context.Context, o Operator) error
	// GetOperator returns ErrNotFound for an unknown (tenant, id).
	GetOperator(ctx context.Context, tenantID, id string) (Operator, error)
	// OperatorByEmail looks up by normalized email; ErrNotFound when unknown.
	OperatorByEmail(ctx context.Context, email string) (Operator, error)
	ListOperators(ctx context.Context, tenantID string) ([]Operator, error)
	// Empty reports whether the store holds no tenant and no operator (seed import runs only then).
	Empty(ctx context.Context) (bool, error)
}

// ValidTenantID reports whether s is a tenant id: 1–63 of [a-z0-9-], not starting with '-'. Ids route store
// keys (Redis hash tags) and appear in cookie values, so every parser of outside input checks them this way.
func ValidTenantID(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}
