// Package admin is the set of audited operations tenant admins, ops and support perform on operators and tenants.
package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/credential"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/lockout"
	"github.com/vectis/mfa-gateway/internal/session"
)

// Sentinel errors; callers map them to 403/404/409 and one-line CLI reasons.
var (
	ErrForbidden    = errors.New("not allowed")
	ErrNotFound     = errors.New("no such operator or tenant")
	ErrNotPassword  = errors.New("operator signs in with SSO; MFA reset and recovery apply only to password accounts")
	ErrBadRequester = errors.New("requester email does not match the tenant's billing email on file")
	ErrNotAdmin     = errors.New("target is not an admin of that tenant")
	ErrNoTicket     = errors.New("a ticket reference is required")
)

// Store is what admin operations need.
type Store interface {
	directory.Store
	session.Store
	credential.Store
	lockout.Store
}

// Recorder receives audit events.
type Recorder interface {
	Record(ctx context.Context, e audit.Event)
}

// Actor is who performs an operation.
type Actor struct {
	// Kind is "admin" (a tenant admin through the pages), "cli" (ops through the admin API), or "support".
	Kind string
	// Email identifies an admin or names the support engineer.
	Email string
	// Tenant is the admin's own tenant (Kind admin only): every operation is confined to it.
	Tenant string
}

func (a Actor) String() string {
	if a.Email != "" {
		return a.Kind + ":" + a.Email
	}
	return a.Kind
}

// Service performs the operations.
type Service struct {
	st    Store
	audit Recorder
	now   func() time.Time
	// lockWindow is the lockout window, to report "locked until".
	lockAttempts int
}

// New makes a Service. lockAttempts is the configured lockout limit (a count at or above it is a lock).
func New(st Store, rec Recorder, now func() time.Time, lockAttempts int) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, audit: rec, now: now, lockAttempts: lockAttempts}
}

// UserRow is one operator as the admin page and CLI show it.
type UserRow struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Role         string    `json:"role"`
	Method       string    `json:"method"` // password | sso | break-glass
	Enrolled     bool      `json:"enrolled"`
	RecoveryLeft int       `json:"recovery_left"`
	LockedUntil  time.Time `json:"locked_until,omitzero"`
	Disabled     bool      `json:"disabled"`
}

// allowed confines tenant admins to their own tenant (invariant 9). Ops (cli) and support act on any tenant.
func allowed(a Actor, tenant string) error {
	switch a.Kind {
	case "cli", "support":
		return nil
	case "admin":
		if a.Tenant != "" && a.Tenant == tenant {
			return nil
		}
	}
	return ErrForbidden
}

// ListUsers lists a tenant's operators with their sign-in method and second-factor state.
func (s *Service) ListUsers(ctx context.Context, a Actor, tenantID string) ([]UserRow, error) {
	if err := allowed(a, tenantID); err != nil {
		return nil, err
	}
	t, err := s.st.GetTenant(ctx, tenantID)
	if err != nil {
		return nil, notFound(err)
	}
	ops, err := s.st.ListOperators(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	rows := make([]UserRow, 0, len(ops))
	for _, o := range ops {
		row := UserRow{ID: o.ID, Email: o.Email, Role: string(o.Role), Disabled: o.Disabled, Method: method(t, o)}
		c, err := s.st.GetCredentials(ctx, tenantID, o.ID)
		switch {
		case err == nil:
			row.Enrolled, row.RecoveryLeft = true, c.RecoveryLeft
		case !errors.Is(err, credential.ErrNotEnrolled):
			return nil, err
		}
		v, err := s.st.Status(ctx, tenantID, lockout.CodeKey(o.ID), now)
		if err != nil {
			return nil, err
		}
		if v.Count >= s.lockAttempts && now.Before(v.WindowEnd) {
			row.LockedUntil = v.WindowEnd
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Email < rows[j].Email })
	return rows, nil
}

func method(t directory.Tenant, o directory.Operator) string {
	switch {
	case t.IsBreakGlass(o.Email):
		return "break-glass"
	case t.SSO != nil && t.SSO.Enabled:
		return "sso"
	}
	return "password"
}

// operator loads a target inside the actor's reach.
func (s *Service) operator(ctx context.Context, a Actor, tenantID, userID string) (directory.Tenant, directory.Operator, error) {
	if err := allowed(a, tenantID); err != nil {
		return directory.Tenant{}, directory.Operator{}, err
	}
	t, err := s.st.GetTenant(ctx, tenantID)
	if err != nil {
		return t, directory.Operator{}, notFound(err)
	}
	o, err := s.st.GetOperator(ctx, tenantID, userID)
	if err != nil {
		return t, o, notFound(err)
	}
	return t, o, nil
}

// OperatorByEmail resolves an email inside a tenant (CLI convenience); another tenant's operator is not found.
func (s *Service) OperatorByEmail(ctx context.Context, a Actor, tenantID, email string) (directory.Operator, error) {
	if err := allowed(a, tenantID); err != nil {
		return directory.Operator{}, err
	}
	o, err := s.st.OperatorByEmail(ctx, directory.NormalizeEmail(email))
	if err != nil || o.TenantID != tenantID {
		return directory.Operator{}, ErrNotFound
	}
	return o, nil
}

func notFound(err error) error {
	if errors.Is(err, directory.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// ResetMFA clears the operator's secret, recovery codes, used steps and lockout, and ends every session and
// half-finished sign-in at once; the next sign-in enrolls. Password accounts only (break-glass included).
func (s *Service) ResetMFA(ctx context.Context, a Actor, tenantID, userID string) error {
	t, o, err := s.operator(ctx, a, tenantID, userID)
	if err != nil {
		return err
	}
	if method(t, o) == "sso" {
		return ErrNotPassword
	}
	return s.reset(ctx, a, o, audit.MFAReset, nil)
}

func (s *Service) reset(ctx context.Context, a Actor, o directory.Operator, event string, detail map[string]string) error {
	// Sessions first: if a later step fails, the operator is signed out (safe), never left signed in
	// with a half-reset second factor.
	n, err := s.st.DeleteOperatorSessions(ctx, o.TenantID, o.ID)
	if err != nil {
		return err
	}
	if err := s.st.ResetMFA(ctx, o.TenantID, o.ID); err != nil {
		return err
	}
	if err := s.st.Clear(ctx, o.TenantID, lockout.CodeKey(o.ID)); err != nil {
		return err
	}
	// A pending login created between the first delete and the reset would still hold a pre-reset state:
	// end those too.
	m, err := s.st.DeleteOperatorSessions(ctx, o.TenantID, o.ID)
	if err != nil {
		return err
	}
	if detail == nil {
		detail = map[string]string{}
	}
	detail["sessions_ended"] = fmt.Sprint(n + m)
	s.record(ctx, audit.Event{Type: event, Tenant: o.TenantID, User: o.ID, Email: o.Email, Actor: a.String(), Detail: detail})
	return nil
}

// Unlock clears an operator's code lockout.
func (s *Service) Unlock(ctx context.Context, a Actor, tenantID, userID string) error {
	_, o, err := s.operator(ctx, a, tenantID, userID)
	if err != nil {
		return err
	}
	if err := s.st.Clear(ctx, tenantID, lockout.CodeKey(o.ID)); err != nil {
		return err
	}
	s.record(ctx, audit.Event{Type: audit.Unlock, Tenant: tenantID, User: o.ID, Email: o.Email, Actor: a.String()})
	return nil
}

// SetDisabled disables (ending every session at once) or re-enables an operator.
func (s *Service) SetDisabled(ctx context.Context, a Actor, tenantID, userID string, disabled bool) error {
	_, o, err := s.operator(ctx, a, tenantID, userID)
	if err != nil {
		return err
	}
	o.Disabled = disabled
	if err := s.st.UpdateOperator(ctx, o); err != nil {
		return err
	}
	ev := audit.OperatorEnabled
	if disabled {
		ev = audit.OperatorDisabled
		if _, err := s.st.DeleteOperatorSessions(ctx, tenantID, o.ID); err != nil {
			return err
		}
	}
	s.record(ctx, audit.Event{Type: ev, Tenant: tenantID, User: o.ID, Email: o.Email, Actor: a.String()})
	return nil
}

// RevokeSessions ends every session and pending login of an operator.
func (s *Service) RevokeSessions(ctx context.Context, a Actor, tenantID, userID string) (int, error) {
	_, o, err := s.operator(ctx, a, tenantID, userID)
	if err != nil {
		return 0, err
	}
	n, err := s.st.DeleteOperatorSessions(ctx, tenantID, o.ID)
	if err != nil {
		return 0, err
	}
	s.record(ctx, audit.Event{Type: audit.SessionsRevoked, Tenant: tenantID, User: o.ID, Email: o.Email, Actor: a.String(),
		Detail: map[string]string{"sessions_ended": fmt.Sprint(n)}})
	return n, nil
}

// SupportResetMFA is support's sole-admin recovery: the requester email must equal the tenant's billing email on
// file (trimmed, case-insensitive), the target must be an admin of that tenant, and a ticket is required. Refusals
// are audited too.
func (s *Service) SupportResetMFA(ctx context.Context, engineer, tenantID, email, requester, ticket string) error {
	a := Actor{Kind: "support", Email: engineer}
	deny := func(err error) error {
		s.record(ctx, audit.Event{Type: audit.SupportRecoveryDenied, Tenant: tenantID, Email: directory.NormalizeEmail(email),
			Actor: a.String(), Reason: err.Error(), Detail: map[string]string{"ticket": ticket, "requester": directory.NormalizeEmail(requester)}})
		return err
	}
	if strings.TrimSpace(ticket) == "" {
		return deny(ErrNoTicket)
	}
	t, err := s.st.GetTenant(ctx, tenantID)
	if err != nil {
		return deny(notFound(err))
	}
	if t.BillingEmail == "" || directory.NormalizeEmail(requester) != directory.NormalizeEmail(t.BillingEmail) {
		return deny(ErrBadRequester)
	}
	o, err := s.st.OperatorByEmail(ctx, directory.NormalizeEmail(email))
	if err != nil || o.TenantID != tenantID {
		return deny(ErrNotFound)
	}
	if o.Role != directory.RoleAdmin {
		return deny(ErrNotAdmin)
	}
	if method(t, o) == "sso" {
		return deny(ErrNotPassword)
	}
	return s.reset(ctx, a, o, audit.SupportRecovery, map[string]string{"ticket": strings.TrimSpace(ticket),
		"requester": directory.NormalizeEmail(requester)})
}

func (s *Service) record(ctx context.Context, e audit.Event) {
	if s.audit != nil {
		if e.Time.IsZero() {
			e.Time = s.now()
		}
		s.audit.Record(ctx, e)
	}
}
