package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/sso"
)

// Sentinel errors of the ops operations, next to the Service's; callers map them to 400/409.
var (
	// ErrInvalid marks a request that breaks a rule (a malformed email, a short password, unknown SSO
	// settings); the error's text says which, in plain words.
	ErrInvalid = errors.New("invalid request")
	// ErrExists marks something that is already there (a tenant id, an operator's email).
	ErrExists = errors.New("already exists")
	// ErrConflict marks a request the current state does not allow (enabling SSO with no settings).
	ErrConflict = errors.New("not possible in the current state")
	// ErrNoAuditTrail is returned when the store keeps no audit trail.
	ErrNoAuditTrail = errors.New("this store keeps no audit trail")
)

// Event types of the ops operations. They belong with the others in package audit; they live here until
// that contract takes them.
const (
	EventTenantAdded       = "tenant.added"
	EventSSOUpdated        = "sso.updated"
	EventBreakGlassAdded   = "breakglass.added"
	EventBreakGlassRemoved = "breakglass.removed"
)

// problem is an error with a plain-words message that still matches its kind with errors.Is.
type problem struct {
	kind error
	msg  string
}

func (p *problem) Error() string { return p.msg }
func (p *problem) Unwrap() error { return p.kind }

func errorf(kind error, format string, args ...any) error {
	return &problem{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Tools are what ops operations need beyond the store.
type Tools struct {
	// Hasher hashes new operators' passwords (argon2id).
	Hasher *directory.Hasher
	// Rand supplies operator ids and password salts (crypto/rand.Reader in production).
	Rand io.Reader
	// SealSSOSecret encrypts a tenant's SSO client secret for storage, bound to that tenant.
	SealSSOSecret func(tenantID string, secret []byte) ([]byte, error)
}

// Ops is the Service plus what ops (the CLI, through Caddy's admin API) and support use: tenants, SSO
// settings, break-glass admins, adding and importing operators, and the audit trail. Tenant-wide
// operations are for ops only (Actor kind "cli"); operator operations keep the Service's tenant
// confinement.
type Ops struct {
	*Service
	tools Tools
}

// NewOps makes an Ops over st. The arguments before t are the Service's (see New).
func NewOps(st Store, rec Recorder, now func() time.Time, lockAttempts int, t Tools) *Ops {
	return &Ops{Service: New(st, rec, now, lockAttempts), tools: t}
}

// opsOnly admits ops (the CLI) and nobody else: tenant admins manage operators of their own tenant, never
// tenants, SSO or break-glass settings.
func opsOnly(a Actor) error {
	if a.Kind == "cli" {
		return nil
	}
	return ErrForbidden
}

// TenantInfo is a tenant as the CLI shows it. It never carries the SSO client secret, sealed or not.
type TenantInfo struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	BillingEmail string    `json:"billing_email,omitempty"`
	BreakGlass   []string  `json:"break_glass,omitempty"`
	SSO          *SSOInfo  `json:"sso,omitempty"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	// Operators is the number of operators (tenant show only; listing every tenant does not count them).
	Operators *int `json:"operators,omitempty"`
	// Warnings name settings that will hurt later, such as SSO without a break-glass admin.
	Warnings []string `json:"warnings,omitempty"`
}

// SSOInfo is a tenant's SSO settings without the client secret.
type SSOInfo struct {
	Enabled  bool              `json:"enabled"`
	Provider string            `json:"provider"`
	Issuer   string            `json:"issuer,omitempty"`
	ClientID string            `json:"client_id"`
	Extra    map[string]string `json:"extra,omitempty"`
	// ClientSecretSet says whether a client secret is stored; the secret itself is never returned.
	ClientSecretSet bool `json:"client_secret_set"`
}

func tenantInfo(t directory.Tenant) TenantInfo {
	info := TenantInfo{ID: t.ID, Name: t.Name, BillingEmail: t.BillingEmail, BreakGlass: t.BreakGlass, CreatedAt: t.CreatedAt}
	if t.SSO != nil {
		info.SSO = &SSOInfo{Enabled: t.SSO.Enabled, Provider: t.SSO.Provider, Issuer: t.SSO.Issuer, ClientID: t.SSO.ClientID,
			Extra: t.SSO.Extra, ClientSecretSet: len(t.SSO.ClientSecretSealed) > 0}
	}
	if t.BillingEmail == "" {
		info.Warnings = append(info.Warnings, "no billing email on file: support cannot recover a sole admin's account")
	}
	if t.SSO != nil && t.SSO.Enabled && len(t.BreakGlass) == 0 {
		info.Warnings = append(info.Warnings, "SSO is enabled and no break-glass admin is named: if the identity provider fails, nobody can sign in")
	}
	return info
}

// TenantInput is a new tenant.
type TenantInput struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	BillingEmail string `json:"billing_email"`
}

// AddTenant creates a tenant with no operators and no SSO.
func (o *Ops) AddTenant(ctx context.Context, a Actor, in TenantInput) (TenantInfo, error) {
	if err := opsOnly(a); err != nil {
		return TenantInfo{}, err
	}
	if err := seedRules(directory.Seed{Tenants: []directory.SeedTenant{{ID: in.ID, Name: in.Name, BillingEmail: in.BillingEmail}}}, "tenants[0]: "); err != nil {
		return TenantInfo{}, err
	}
	switch _, err := o.st.GetTenant(ctx, in.ID); {
	case err == nil:
		return TenantInfo{}, errorf(ErrExists, "tenant %q already exists", in.ID)
	case !errors.Is(err, directory.ErrNotFound):
		return TenantInfo{}, err
	}
	t := directory.Tenant{ID: in.ID, Name: in.Name, BillingEmail: directory.NormalizeEmail(in.BillingEmail), CreatedAt: o.now().UTC()}
	if err := o.st.PutTenant(ctx, t); err != nil {
		return TenantInfo{}, err
	}
	o.record(ctx, audit.Event{Type: EventTenantAdded, Tenant: t.ID, Actor: a.String(), Detail: map[string]string{"name": t.Name}})
	return tenantInfo(t), nil
}

// ListTenants lists every tenant, by id.
func (o *Ops) ListTenants(ctx context.Context, a Actor) ([]TenantInfo, error) {
	if err := opsOnly(a); err != nil {
		return nil, err
	}
	ts, err := o.st.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	out := make([]TenantInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, tenantInfo(t))
	}
	return out, nil
}

// ShowTenant returns one tenant with its operator count.
func (o *Ops) ShowTenant(ctx context.Context, a Actor, tenantID string) (TenantInfo, error) {
	if err := opsOnly(a); err != nil {
		return TenantInfo{}, err
	}
	t, err := o.st.GetTenant(ctx, tenantID)
	if err != nil {
		return TenantInfo{}, notFound(err)
	}
	ops, err := o.st.ListOperators(ctx, tenantID)
	if err != nil {
		return TenantInfo{}, err
	}
	info := tenantInfo(t)
	n := len(ops)
	info.Operators = &n
	return info, nil
}

// SSOInput is a tenant's new SSO settings. An empty ClientSecret keeps the stored one.
type SSOInput struct {
	Provider     string            `json:"provider"`
	Issuer       string            `json:"issuer"`
	ClientID     string            `json:"client_id"`
	ClientSecret string            `json:"client_secret"`
	Extra        map[string]string `json:"extra"`
}

// String leaves the client secret out, so a stray %v cannot log it.
func (in SSOInput) String() string {
	return fmt.Sprintf("{provider:%s issuer:%s client_id:%s client_secret:[redacted] extra:%v}", in.Provider, in.Issuer, in.ClientID, in.Extra)
}

// GoString covers %#v.
func (in SSOInput) GoString() string { return in.String() }

// SetSSO stores a tenant's SSO settings, the client secret sealed. Whether SSO is enabled does not change
// (new settings start disabled): enabling is its own, audited step.
func (o *Ops) SetSSO(ctx context.Context, a Actor, tenantID string, in SSOInput) (TenantInfo, error) {
	if err := opsOnly(a); err != nil {
		return TenantInfo{}, err
	}
	t, err := o.st.GetTenant(ctx, tenantID)
	if err != nil {
		return TenantInfo{}, notFound(err)
	}
	extra := map[string]string{}
	for k, v := range in.Extra {
		extra[k] = v
	}
	if len(extra) == 0 {
		extra = nil
	}
	if err := sso.Check(in.Provider, in.Issuer, in.ClientID, extra); err != nil {
		return TenantInfo{}, &problem{kind: ErrInvalid, msg: err.Error()}
	}
	next := &directory.SSO{Provider: in.Provider, Issuer: in.Issuer, ClientID: in.ClientID, Extra: extra}
	secret := "kept"
	switch {
	case in.ClientSecret != "":
		if strings.TrimSpace(in.ClientSecret) != in.ClientSecret {
			return TenantInfo{}, errorf(ErrInvalid, "the client secret has spaces or a line break around it")
		}
		if o.tools.SealSSOSecret == nil {
			return TenantInfo{}, errors.New("cannot store the SSO client secret: no sealing key")
		}
		if next.ClientSecretSealed, err = o.tools.SealSSOSecret(tenantID, []byte(in.ClientSecret)); err != nil {
			return TenantInfo{}, fmt.Errorf("sealing the SSO client secret: %w", err)
		}
		secret = "replaced"
	case t.SSO != nil && len(t.SSO.ClientSecretSealed) > 0:
		next.ClientSecretSealed = t.SSO.ClientSecretSealed
	default:
		return TenantInfo{}, errorf(ErrInvalid, "a client secret is required: tenant %q has none stored", tenantID)
	}
	if t.SSO != nil {
		next.Enabled = t.SSO.Enabled
	}
	t.SSO = next
	if err := o.st.PutTenant(ctx, t); err != nil {
		return TenantInfo{}, err
	}
	// "client_credentials", not "…secret": the audit recorder drops detail keys that name a secret.
	o.record(ctx, audit.Event{Type: EventSSOUpdated, Tenant: t.ID, Actor: a.String(), Detail: map[string]string{
		"provider": next.Provider, "issuer": next.Issuer, "client_id": next.ClientID, "client_credentials": secret,
		"enabled": fmt.Sprint(next.Enabled)}})
	return tenantInfo(t), nil
}

// SetSSOEnabled turns a tenant's SSO on or off. The gateway reads tenants from the store at every sign-in,
// so every replica applies the change at the next sign-in; sessions signed in the way it rules out end
// (methodAllowed, internal/gateway/auth.go): at once through this gateway, within 2 s on the others.
func (o *Ops) SetSSOEnabled(ctx context.Context, a Actor, tenantID string, enabled bool) (TenantInfo, error) {
	if err := opsOnly(a); err != nil {
		return TenantInfo{}, err
	}
	t, err := o.st.GetTenant(ctx, tenantID)
	if err != nil {
		return TenantInfo{}, notFound(err)
	}
	if t.SSO == nil {
		if !enabled {
			return tenantInfo(t), nil
		}
		return TenantInfo{}, errorf(ErrConflict, "tenant %q has no SSO settings: set them first (tenant sso set)", tenantID)
	}
	if t.SSO.Enabled == enabled {
		return tenantInfo(t), nil
	}
	if enabled {
		// Settings stored by an older version, or by hand, must still pass today's rules before they decide
		// who signs in.
		if err := sso.Check(t.SSO.Provider, t.SSO.Issuer, t.SSO.ClientID, t.SSO.Extra); err != nil {
			return TenantInfo{}, &problem{kind: ErrConflict, msg: "the stored SSO settings are not usable: " + err.Error()}
		}
		if len(t.SSO.ClientSecretSealed) == 0 {
			return TenantInfo{}, errorf(ErrConflict, "tenant %q has no SSO client secret stored: set it first (tenant sso set)", tenantID)
		}
	}
	sc := *t.SSO
	sc.Enabled = enabled
	t.SSO = &sc
	if err := o.st.PutTenant(ctx, t); err != nil {
		return TenantInfo{}, err
	}
	ev := audit.SSODisabled
	if enabled {
		ev = audit.SSOEnabled
	}
	o.record(ctx, audit.Event{Type: ev, Tenant: t.ID, Actor: a.String(), Detail: map[string]string{"provider": sc.Provider}})
	return tenantInfo(t), nil
}

// AddBreakGlass names an admin of the tenant who always signs in with password and TOTP, even with SSO on.
func (o *Ops) AddBreakGlass(ctx context.Context, a Actor, tenantID, email string) (TenantInfo, error) {
	if err := opsOnly(a); err != nil {
		return TenantInfo{}, err
	}
	t, err := o.st.GetTenant(ctx, tenantID)
	if err != nil {
		return TenantInfo{}, notFound(err)
	}
	op, err := o.OperatorByEmail(ctx, a, tenantID, email)
	if err != nil {
		return TenantInfo{}, err
	}
	switch {
	case op.Role != directory.RoleAdmin:
		return TenantInfo{}, errorf(ErrConflict, "%s is not an admin of tenant %q; only admins can be break-glass accounts", op.Email, tenantID)
	case op.PasswordHash == "":
		return TenantInfo{}, errorf(ErrConflict, "%s has no password; a break-glass account signs in with password and authenticator app", op.Email)
	case t.IsBreakGlass(op.Email):
		return TenantInfo{}, errorf(ErrExists, "%s is already a break-glass admin of tenant %q", op.Email, tenantID)
	}
	t.BreakGlass = append(append([]string(nil), t.BreakGlass...), op.Email)
	if err := o.st.PutTenant(ctx, t); err != nil {
		return TenantInfo{}, err
	}
	o.record(ctx, audit.Event{Type: EventBreakGlassAdded, Tenant: t.ID, User: op.ID, Email: op.Email, Actor: a.String()})
	return tenantInfo(t), nil
}

// RemoveBreakGlass takes an email off the tenant's break-glass list. With SSO on, that admin signs in
// through the identity provider from their next sign-in.
func (o *Ops) RemoveBreakGlass(ctx context.Context, a Actor, tenantID, email string) (TenantInfo, error) {
	if err := opsOnly(a); err != nil {
		return TenantInfo{}, err
	}
	t, err := o.st.GetTenant(ctx, tenantID)
	if err != nil {
		return TenantInfo{}, notFound(err)
	}
	e := directory.NormalizeEmail(email)
	if !t.IsBreakGlass(e) {
		return TenantInfo{}, errorf(ErrNotFound, "%s is not a break-glass admin of tenant %q", e, tenantID)
	}
	var kept []string
	for _, b := range t.BreakGlass {
		if b != e {
			kept = append(kept, b)
		}
	}
	t.BreakGlass = kept
	if err := o.st.PutTenant(ctx, t); err != nil {
		return TenantInfo{}, err
	}
	ev := audit.Event{Type: EventBreakGlassRemoved, Tenant: t.ID, Email: e, Actor: a.String()}
	if op, err := o.st.OperatorByEmail(ctx, e); err == nil && op.TenantID == t.ID {
		ev.User = op.ID
	}
	o.record(ctx, ev)
	return tenantInfo(t), nil
}

// UserInput is a new operator. Password is hashed with argon2id and never stored or shown as given.
type UserInput struct {
	Email    string `json:"email"`
	Role     string `json:"role"`
	Password string `json:"password"`
	// NoPassword adds an operator who signs in only through the tenant's SSO (the tenant must have SSO
	// settings). Password must then be empty.
	NoPassword bool `json:"no_password"`
}

// String leaves the password out, so a stray %v cannot log it.
func (in UserInput) String() string {
	return fmt.Sprintf("{email:%s role:%s password:[redacted] no_password:%t}", in.Email, in.Role, in.NoPassword)
}

// GoString covers %#v.
func (in UserInput) GoString() string { return in.String() }

// AddUser creates an operator in a tenant. Emails are unique across all tenants.
func (o *Ops) AddUser(ctx context.Context, a Actor, tenantID string, in UserInput) (UserRow, error) {
	if err := allowed(a, tenantID); err != nil {
		return UserRow{}, err
	}
	t, err := o.st.GetTenant(ctx, tenantID)
	if err != nil {
		return UserRow{}, notFound(err)
	}
	if in.Role == "" {
		in.Role = string(directory.RoleMember)
	}
	check := directory.SeedUser{Email: in.Email, Tenant: tenantID, Role: directory.Role(in.Role), Password: in.Password}
	switch {
	case in.NoPassword && in.Password != "":
		return UserRow{}, errorf(ErrInvalid, "give a password or no_password, not both")
	case in.NoPassword && t.SSO == nil:
		return UserRow{}, errorf(ErrInvalid, "tenant %q has no SSO settings, so an operator without a password could never sign in", tenantID)
	case in.NoPassword:
		// The seed rules require a password; this stand-in satisfies them and is never stored.
		check.Password = "stand-in for the checks"
	}
	if err := seedRules(directory.Seed{Tenants: []directory.SeedTenant{{ID: tenantID, Name: "checks"}}, Users: []directory.SeedUser{check}}, "users[0]: "); err != nil {
		return UserRow{}, err
	}
	email := directory.NormalizeEmail(in.Email)
	switch _, err := o.st.OperatorByEmail(ctx, email); {
	case err == nil:
		return UserRow{}, errorf(ErrExists, "an operator with email %s already exists", email)
	case !errors.Is(err, directory.ErrNotFound):
		return UserRow{}, err
	}
	op, err := o.newOperator(ctx, tenantID, directory.SeedUser{Email: email, Role: directory.Role(in.Role), Password: in.Password})
	if err != nil {
		return UserRow{}, err
	}
	if err := o.st.CreateOperator(ctx, op); err != nil {
		if errors.Is(err, directory.ErrExists) {
			return UserRow{}, errorf(ErrExists, "an operator with email %s already exists", email)
		}
		return UserRow{}, err
	}
	o.record(ctx, audit.Event{Type: audit.OperatorAdded, Tenant: tenantID, User: op.ID, Email: op.Email, Actor: a.String(),
		Detail: map[string]string{"role": string(op.Role)}})
	return UserRow{ID: op.ID, Email: op.Email, Role: string(op.Role), Method: method(t, op)}, nil
}

// newOperator builds an operator with a fresh id, hashing a plain password.
func (o *Ops) newOperator(ctx context.Context, tenantID string, u directory.SeedUser) (directory.Operator, error) {
	id, err := newOperatorID(o.tools.Rand)
	if err != nil {
		return directory.Operator{}, err
	}
	hash := u.PasswordHash
	if u.Password != "" {
		if o.tools.Hasher == nil || o.tools.Rand == nil {
			return directory.Operator{}, errors.New("cannot hash the password: no password hasher")
		}
		// Hash errors name the cause (length, context, randomness), never the password.
		if hash, err = o.tools.Hasher.Hash(ctx, o.tools.Rand, u.Password); err != nil {
			return directory.Operator{}, fmt.Errorf("hashing the password: %w", err)
		}
	}
	return directory.Operator{ID: id, TenantID: tenantID, Email: directory.NormalizeEmail(u.Email), Role: u.Role,
		PasswordHash: hash, CreatedAt: o.now().UTC()}, nil
}

// idAlphabet is lower-case RFC 4648 base32: 32 symbols, so a byte's low 5 bits pick one without bias.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// newOperatorID returns "op_" and 20 base32 characters (100 bits), the same form a seed import gives.
func newOperatorID(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("generating operator id: no randomness source")
	}
	var b [20]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("generating operator id: %w", err)
	}
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return "op_" + string(b[:]), nil
}

// ImportResult counts what an import created.
type ImportResult struct {
	Tenants   int `json:"tenants"`
	Operators int `json:"operators"`
}

// Import adds the tenants and operators of a seed-format document (the file format `seed` reads at first
// start). Its tenants must be new; its users may belong to one of its tenants or to a tenant the store
// already holds. The whole document is checked, every password hashed and every secret sealed before the
// first write, so a mistake anywhere leaves the store as it was; only a store failure mid-way can leave part
// of it written, and the error then says so.
func (o *Ops) Import(ctx context.Context, a Actor, data []byte) (ImportResult, error) {
	var res ImportResult
	if err := opsOnly(a); err != nil {
		return res, err
	}
	seed, existing, err := o.parseImport(ctx, data)
	if err != nil {
		return res, err
	}

	// Operators of tenants already in the store: checked and hashed here, written after the new tenants.
	var newSeed directory.Seed
	newSeed.Tenants = seed.Tenants[:len(seed.Tenants)-len(existing)]
	// The document's own tenants first: "tenant already exists" is the likelier mistake (an import run twice),
	// and it explains every user of that tenant being refused too. SSO settings pass the provider's own
	// rules, so a tenant whose SSO could never work is refused now, not at its first sign-in.
	for i, t := range newSeed.Tenants {
		if t.SSO != nil {
			if err := sso.Check(t.SSO.Provider, t.SSO.Issuer, t.SSO.ClientID, t.SSO.Extra); err != nil {
				return res, errorf(ErrInvalid, "tenants[%d] (%s): %v", i, t.ID, err)
			}
		}
		switch _, err := o.st.GetTenant(ctx, t.ID); {
		case err == nil:
			return res, errorf(ErrExists, "tenants[%d]: tenant %q already exists", i, t.ID)
		case !errors.Is(err, directory.ErrNotFound):
			return res, err
		}
	}
	var later []directory.Operator
	for i, u := range seed.Users {
		if _, ok := existing[u.Tenant]; !ok {
			newSeed.Users = append(newSeed.Users, u)
			continue
		}
		email := directory.NormalizeEmail(u.Email)
		switch _, err := o.st.OperatorByEmail(ctx, email); {
		case err == nil:
			return res, errorf(ErrExists, "users[%d]: %s already exists", i, email)
		case !errors.Is(err, directory.ErrNotFound):
			return res, err
		}
		op, err := o.newOperator(ctx, u.Tenant, u)
		if err != nil {
			return res, fmt.Errorf("users[%d]: %w", i, err)
		}
		later = append(later, op)
	}

	if len(newSeed.Tenants) > 0 {
		var seal func(string, []byte) ([]byte, error)
		if o.tools.SealSSOSecret != nil {
			seal = o.tools.SealSSOSecret
		}
		r, err := directory.ImportSealed(ctx, o.st, newSeed, o.tools.Hasher, o.tools.Rand, seal, o.now().UTC())
		res.Tenants, res.Operators = r.Tenants, r.Operators
		if err != nil {
			if errors.Is(err, directory.ErrExists) {
				return res, &problem{kind: ErrExists, msg: err.Error()}
			}
			return res, o.partial(res, err)
		}
		for _, t := range newSeed.Tenants {
			o.record(ctx, audit.Event{Type: EventTenantAdded, Tenant: t.ID, Actor: a.String(), Detail: map[string]string{"name": t.Name, "via": "import"}})
		}
		for _, u := range newSeed.Users {
			ev := audit.Event{Type: audit.OperatorAdded, Tenant: u.Tenant, Email: directory.NormalizeEmail(u.Email), Actor: a.String(),
				Detail: map[string]string{"role": string(u.Role), "via": "import"}}
			if op, err := o.st.OperatorByEmail(ctx, ev.Email); err == nil {
				ev.User = op.ID
			}
			o.record(ctx, ev)
		}
	}
	for _, op := range later {
		if err := o.st.CreateOperator(ctx, op); err != nil {
			if errors.Is(err, directory.ErrExists) {
				err = errorf(ErrExists, "%s already exists (added while the import ran)", op.Email)
			}
			return res, o.partial(res, err)
		}
		res.Operators++
		o.record(ctx, audit.Event{Type: audit.OperatorAdded, Tenant: op.TenantID, User: op.ID, Email: op.Email, Actor: a.String(),
			Detail: map[string]string{"role": string(op.Role), "via": "import"}})
	}
	return res, nil
}

// partial says how much of an import was written before err.
func (o *Ops) partial(res ImportResult, err error) error {
	if res.Tenants == 0 && res.Operators == 0 {
		return err
	}
	return fmt.Errorf("import stopped after writing %d tenants and %d operators: %w", res.Tenants, res.Operators, err)
}

// parseImport checks data with the seed file's rules. Users of tenants that are not in data but are in the
// store are checked against those tenants: they are appended to the parsed seed's tenants (after data's own,
// so that error messages keep data's numbering) and returned in existing.
func (o *Ops) parseImport(ctx context.Context, data []byte) (directory.Seed, map[string]directory.Tenant, error) {
	var top struct {
		Tenants []json.RawMessage `json:"tenants"`
		Users   []json.RawMessage `json:"users"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&top); err != nil {
		// ParseSeed explains it in plain words (without echoing values, which may be passwords).
		_, perr := directory.ParseSeed(data)
		if perr == nil {
			perr = err
		}
		return directory.Seed{}, nil, &problem{kind: ErrInvalid, msg: perr.Error()}
	}
	inData := map[string]bool{}
	for _, raw := range top.Tenants {
		var t struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &t) == nil {
			inData[t.ID] = true
		}
	}
	existing := map[string]directory.Tenant{}
	var extra []any
	for _, raw := range top.Users {
		var u struct {
			Tenant string `json:"tenant"`
		}
		if json.Unmarshal(raw, &u) != nil || u.Tenant == "" || inData[u.Tenant] {
			continue
		}
		if _, done := existing[u.Tenant]; done {
			continue
		}
		t, err := o.st.GetTenant(ctx, u.Tenant)
		if errors.Is(err, directory.ErrNotFound) {
			continue // ParseSeed reports it as not one of the seed's tenants
		}
		if err != nil {
			return directory.Seed{}, nil, err
		}
		existing[t.ID] = t
		// Only what the rules read: break-glass lists refer to the seed's own users and stay out.
		extra = append(extra, map[string]string{"id": t.ID, "name": t.Name, "billing_email": t.BillingEmail})
	}
	if len(extra) > 0 {
		tenants := make([]any, 0, len(top.Tenants)+len(extra))
		for _, raw := range top.Tenants {
			tenants = append(tenants, raw)
		}
		tenants = append(tenants, extra...)
		var err error
		if data, err = json.Marshal(map[string]any{"tenants": tenants, "users": top.Users}); err != nil {
			return directory.Seed{}, nil, err
		}
	}
	seed, err := directory.ParseSeed(data)
	if err != nil {
		return directory.Seed{}, nil, &problem{kind: ErrInvalid, msg: err.Error()}
	}
	return seed, existing, nil
}

// seedRules applies the seed file's rules to one entry (one set of rules for every way in) and reports
// the problems without the entry's position, which means nothing outside a file.
func seedRules(s directory.Seed, prefix string) error {
	err := s.Validate()
	if err == nil {
		return nil
	}
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, prefix)
	}
	return &problem{kind: ErrInvalid, msg: strings.Join(lines, "\n")}
}

// ListAudit returns up to limit of the tenant's most recent audit events, newest first (limit 1 to
// audit.Keep; 0 means 100).
func (o *Ops) ListAudit(ctx context.Context, a Actor, tenantID string, limit int) ([]audit.Event, error) {
	if err := allowed(a, tenantID); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = 100
	}
	if limit < 0 || limit > audit.Keep {
		return nil, errorf(ErrInvalid, "limit must be between 1 and %d", audit.Keep)
	}
	if _, err := o.st.GetTenant(ctx, tenantID); err != nil {
		return nil, notFound(err)
	}
	as, ok := o.st.(audit.Store)
	if !ok {
		return nil, ErrNoAuditTrail
	}
	events, err := as.ListAudit(ctx, tenantID, limit)
	if err != nil {
		return nil, err
	}
	if events == nil {
		events = []audit.Event{}
	}
	return events, nil
}

// ResolveUser finds an operator of the tenant by email (anything with an "@") or by operator id. An operator
// of another tenant is not found.
func (o *Ops) ResolveUser(ctx context.Context, a Actor, tenantID, ref string) (directory.Operator, error) {
	if strings.Contains(ref, "@") {
		return o.OperatorByEmail(ctx, a, tenantID, ref)
	}
	_, op, err := o.operator(ctx, a, tenantID, ref)
	return op, err
}
