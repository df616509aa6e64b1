package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Seed is a parsed seed/import file:
//
//	{"tenants": [{"id", "name", "billing_email", "break_glass": [emails], "sso": {…}}],
//	 "users":   [{"email", "tenant", "role", "password" | "password_hash"}]}
//
// It holds plain passwords and SSO client secrets: never log it (its String methods redact them).
type Seed struct {
	Tenants []SeedTenant
	Users   []SeedUser
}

// SeedTenant is one entry of "tenants".
type SeedTenant struct {
	ID           string
	Name         string
	BillingEmail string
	BreakGlass   []string
	SSO          *SeedSSO // nil: password sign-in only
}

// SeedSSO is a tenant's "sso" object: the same settings as the CLI's tenant sso set.
type SeedSSO struct {
	Provider     string // okta | entra | google | jumpcloud | oidc
	Issuer       string
	ClientID     string
	ClientSecret string
	// Extra holds the provider's own fields (for example Entra's tenant_id), all string values.
	Extra map[string]string
}

// SeedUser is one entry of "users". Exactly one of Password and PasswordHash is set.
type SeedUser struct {
	Email        string
	Tenant       string
	Role         Role
	Password     string
	PasswordHash string
}

// String redacts the client secret so a stray %v cannot leak it.
func (s SeedSSO) String() string {
	return fmt.Sprintf("{provider:%s issuer:%s client_id:%s client_secret:[redacted] extra:%v}", s.Provider, s.Issuer, s.ClientID, s.Extra)
}

// GoString covers %#v.
func (s SeedSSO) GoString() string { return s.String() }

// String redacts the password so a stray %v cannot leak it.
func (u SeedUser) String() string {
	pw := "none"
	switch {
	case u.Password != "":
		pw = "[redacted]"
	case u.PasswordHash != "":
		pw = "[hash]"
	}
	return fmt.Sprintf("{email:%s tenant:%s role:%s password:%s}", u.Email, u.Tenant, u.Role, pw)
}

// GoString covers %#v.
func (u SeedUser) GoString() string { return u.String() }

// SSO providers a seed may name.
var ssoProviders = map[string]bool{"okta": true, "entra": true, "google": true, "jumpcloud": true, "oidc": true}

var (
	extraKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

const (
	minPasswordLen = 8 // characters
	maxNameLen     = 200
	maxEmailLen    = 254 // the longest address SMTP can carry
	maxErrorsShown = 20
)

// The JSON shapes, kept apart from the exported types so that decoding can be strict per entry.
type seedJSON struct {
	Tenants []json.RawMessage `json:"tenants"`
	Users   []json.RawMessage `json:"users"`
}

type tenantJSON struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	BillingEmail string          `json:"billing_email"`
	BreakGlass   []string        `json:"break_glass"`
	SSO          json.RawMessage `json:"sso"`
}

type userJSON struct {
	Email        string `json:"email"`
	Tenant       string `json:"tenant"`
	Role         string `json:"role"`
	Password     string `json:"password"`
	PasswordHash string `json:"password_hash"`
}

// ParseSeed decodes and validates a seed file. Decoding is strict — an unknown field is an error naming it —
// and every problem found is reported, each naming its entry ("users[3]: role must be admin or member").
// No error message contains a password or a client secret.
func ParseSeed(data []byte) (Seed, error) {
	var top seedJSON
	if err := decodeStrict(data, &top); err != nil {
		return Seed{}, fmt.Errorf("seed: %s", describeJSONError(data, err, "the seed"))
	}
	var s Seed
	var errs []error
	for i, raw := range top.Tenants {
		where := fmt.Sprintf("tenants[%d]", i)
		var tj tenantJSON
		if err := decodeStrict(raw, &tj); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", where, describeJSONError(raw, err, "a tenant")))
			continue
		}
		t := SeedTenant{ID: tj.ID, Name: tj.Name, BillingEmail: tj.BillingEmail, BreakGlass: tj.BreakGlass}
		if len(tj.SSO) > 0 && string(tj.SSO) != "null" {
			sso, err := parseSeedSSO(tj.SSO)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			t.SSO = sso
		}
		s.Tenants = append(s.Tenants, t)
	}
	for i, raw := range top.Users {
		var uj userJSON
		if err := decodeStrict(raw, &uj); err != nil {
			errs = append(errs, fmt.Errorf("users[%d]: %s", i, describeJSONError(raw, err, "a user")))
			continue
		}
		s.Users = append(s.Users, SeedUser{Email: uj.Email, Tenant: uj.Tenant, Role: Role(uj.Role), Password: uj.Password, PasswordHash: uj.PasswordHash})
	}
	// Entries that failed to decode are reported already; validating the rest would renumber them and
	// report knock-on errors (a user whose tenant failed to decode), so stop here.
	if len(errs) > 0 {
		return Seed{}, joinErrors(errs)
	}
	if err := s.Validate(); err != nil {
		return Seed{}, err
	}
	return s, nil
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// describeJSONError turns encoding/json errors into plain words. Syntax errors report a line and column but
// never the offending character, which could be part of a password.
func describeJSONError(data []byte, err error, what string) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := lineCol(data, syn.Offset)
		return fmt.Sprintf("not valid JSON (line %d, column %d)", line, col)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("%s must be a JSON object, not %s", what, withArticle(typ.Value))
		}
		return fmt.Sprintf("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), withArticle(typ.Value))
	case errors.Is(err, io.EOF):
		return "empty input"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "not valid JSON (it ends too early)"
	default:
		// Unknown fields: `json: unknown field "passwd"`, which names the field and nothing else.
		return strings.TrimPrefix(err.Error(), "json: ")
	}
}

// withArticle turns encoding/json's value kinds ("array", "number", …) into "an array", "a number".
func withArticle(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	default:
		return "a " + goKind
	}
}

func lineCol(data []byte, offset int64) (line, col int) {
	offset = min(offset, int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

func parseSeedSSO(raw json.RawMessage) (*SeedSSO, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, errors.New("sso must be a JSON object")
	}
	sso := &SeedSSO{Extra: map[string]string{}}
	known := map[string]*string{
		"provider": &sso.Provider, "issuer": &sso.Issuer, "client_id": &sso.ClientID, "client_secret": &sso.ClientSecret,
	}
	// Sorted, so that the first error reported does not depend on map order.
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var v string
		if err := json.Unmarshal(fields[name], &v); err != nil {
			return nil, fmt.Errorf("sso.%s must be a string", name)
		}
		if dst, ok := known[name]; ok {
			*dst = v
			continue
		}
		if !extraKeyPattern.MatchString(name) {
			return nil, fmt.Errorf("sso field %q is not a valid provider field name (lower-case letters, digits, _)", name)
		}
		sso.Extra[name] = v
	}
	if len(sso.Extra) == 0 {
		sso.Extra = nil
	}
	return sso, nil
}

// Validate checks a seed's contents, reporting every problem found (up to a limit), each naming its entry.
func (s Seed) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(s.Tenants) == 0 {
		add("seed has no tenants")
	}
	tenants := map[string]int{}
	for i, t := range s.Tenants {
		where := fmt.Sprintf("tenants[%d]", i)
		if !ValidTenantID(t.ID) {
			add("%s: id %q must be 1 to 63 lower-case letters, digits or hyphens, starting with a letter or digit", where, t.ID)
		} else if j, dup := tenants[t.ID]; dup {
			add("%s: id %q is already used by tenants[%d]", where, t.ID, j)
		} else {
			tenants[t.ID] = i
		}
		if strings.TrimSpace(t.Name) == "" {
			add("%s: name is required", where)
		} else if problem := textProblem(t.Name, maxNameLen); problem != "" {
			add("%s: name %s", where, problem)
		}
		if t.BillingEmail != "" {
			if problem := emailProblem(t.BillingEmail); problem != "" {
				add("%s: billing_email %s", where, problem)
			}
		}
		if t.SSO != nil {
			for _, p := range ssoProblems(*t.SSO) {
				add("%s: %s", where, p)
			}
		}
	}

	type account struct {
		index  int
		tenant string
		role   Role
	}
	users := map[string]account{}
	for i, u := range s.Users {
		where := fmt.Sprintf("users[%d]", i)
		email := NormalizeEmail(u.Email)
		if problem := emailProblem(u.Email); problem != "" {
			add("%s: email %s", where, problem)
		} else if prev, dup := users[email]; dup {
			add("%s: email %s is already used by users[%d] (emails are compared without regard to case)", where, email, prev.index)
		} else {
			users[email] = account{i, u.Tenant, u.Role}
		}
		if u.Tenant == "" {
			add("%s: tenant is required", where)
		} else if _, ok := tenants[u.Tenant]; !ok {
			add("%s: tenant %q is not one of the seed's tenants", where, u.Tenant)
		}
		if !u.Role.Valid() {
			add("%s: role must be admin or member", where)
		}
		switch {
		case u.Password != "" && u.PasswordHash != "":
			add("%s: give either password or password_hash, not both", where)
		case u.Password == "" && u.PasswordHash == "":
			add("%s: password or password_hash is required", where)
		case u.Password != "":
			// The message states the rule, never the password.
			if !utf8.ValidString(u.Password) {
				add("%s: password is not valid UTF-8", where)
			} else if utf8.RuneCountInString(u.Password) < minPasswordLen {
				add("%s: password must be at least %d characters", where, minPasswordLen)
			} else if len(u.Password) > maxPasswordLen {
				add("%s: password must be at most %d bytes", where, maxPasswordLen)
			}
		default:
			if err := CheckHash(u.PasswordHash); err != nil {
				add("%s: password_hash: %v", where, err)
			}
		}
	}

	for i, t := range s.Tenants {
		seen := map[string]bool{}
		for j, e := range t.BreakGlass {
			where := fmt.Sprintf("tenants[%d].break_glass[%d]", i, j)
			email := NormalizeEmail(e)
			a, ok := users[email]
			switch {
			case seen[email]:
				add("%s: %s is listed twice", where, email)
			case !ok:
				add("%s: %s is not one of the seed's users", where, email)
			case a.tenant != t.ID:
				add("%s: %s belongs to tenant %q, not %q", where, email, a.tenant, t.ID)
			case a.role != RoleAdmin:
				add("%s: %s must have role admin to be a break-glass account", where, email)
			}
			seen[email] = true
		}
	}
	return joinErrors(errs)
}

// joinErrors joins up to maxErrorsShown errors, one per line, and says how many more there were.
func joinErrors(errs []error) error {
	if len(errs) > maxErrorsShown {
		more := len(errs) - maxErrorsShown
		errs = append(errs[:maxErrorsShown:maxErrorsShown], fmt.Errorf("… and %d more problems", more))
	}
	return errors.Join(errs...)
}

// emailProblem returns what is wrong with an email address, or "". The check is deliberately shallow — one
// "@" with something on each side, no spaces or control characters — because the authority on an address
// is the mail system (and the IdP), not this file.
func emailProblem(s string) string {
	e := NormalizeEmail(s)
	local, domain, ok := strings.Cut(e, "@")
	switch {
	case e == "":
		return "is required"
	case !ok || strings.Contains(domain, "@"):
		return fmt.Sprintf("%q must contain exactly one @", s)
	case local == "" || domain == "":
		return fmt.Sprintf("%q needs text before and after the @", s)
	case len(e) > maxEmailLen:
		return fmt.Sprintf("is longer than %d characters", maxEmailLen)
	case strings.IndexFunc(e, func(r rune) bool { return r <= ' ' || r == 0x7f || r == utf8.RuneError }) >= 0:
		return fmt.Sprintf("%q contains spaces or control characters", s)
	}
	return ""
}

// textProblem checks a display string.
func textProblem(s string, maxLen int) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case utf8.RuneCountInString(s) > maxLen:
		return fmt.Sprintf("is longer than %d characters", maxLen)
	case strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0:
		return "contains control characters"
	}
	return ""
}

// ssoProblems checks the settings that do not depend on the provider's own fields; the sso package checks
// those when it builds the provider.
func ssoProblems(s SeedSSO) []string {
	var p []string
	if !ssoProviders[s.Provider] {
		p = append(p, fmt.Sprintf("sso.provider %q must be one of okta, entra, google, jumpcloud, oidc", s.Provider))
	}
	if s.ClientID == "" {
		p = append(p, "sso.client_id is required")
	}
	if s.ClientSecret == "" {
		p = append(p, "sso.client_secret is required")
	}
	switch {
	case s.Issuer == "" && (s.Provider == "okta" || s.Provider == "oidc"):
		p = append(p, fmt.Sprintf("sso.issuer is required for provider %s", s.Provider))
	case s.Issuer != "":
		if problem := issuerProblem(s.Provider, s.Issuer); problem != "" {
			p = append(p, "sso.issuer "+problem)
		}
	}
	return p
}

// issuerProblem requires https, except that the generic oidc provider may use http on a loopback address
// (local IdPs in tests and demos): anywhere else plain http would let the network forge identities.
func issuerProblem(provider, issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%q must be an absolute https URL without query or fragment", issuer)
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if provider == "oidc" && isLoopback(u.Hostname()) {
			return ""
		}
		return fmt.Sprintf("%q must use https (http is allowed only for provider oidc on a loopback address)", issuer)
	default:
		return fmt.Sprintf("%q must be an https URL", issuer)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ImportResult counts what Import created.
type ImportResult struct {
	Tenants   int
	Operators int
}

// idAlphabet is lower-case RFC 4648 base32; 32 symbols, so a byte's low 5 bits pick one without bias.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// newOperatorID returns "op_" and 20 base32 characters (100 bits) from r.
func newOperatorID(r io.Reader) (string, error) {
	var b [20]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("generating operator id: %w", err)
	}
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return "op_" + string(b[:]), nil
}

// Import writes a validated seed into st: its tenants (an SSO client secret sealed with seal, SSO enabled
// when the tenant has an sso object) and its operators (plain passwords hashed with h, random ids and salts
// from r). It refuses, before writing anything, a seed naming a tenant id or an email the store already
// holds, and does all hashing and sealing before the first write, so a slow or failing step cannot leave
// half a seed behind; only a store failure mid-way can, and the result then counts what was written.
func Import(ctx context.Context, st Store, s Seed, h *Hasher, r io.Reader, seal func(plaintext []byte) ([]byte, error), now time.Time) (ImportResult, error) {
	var bound func(string, []byte) ([]byte, error)
	if seal != nil {
		bound = func(_ string, p []byte) ([]byte, error) { return seal(p) }
	}
	return ImportSealed(ctx, st, s, h, r, bound, now)
}

// ImportSealed is Import with a seal function that is told the tenant, so each client secret can be bound to
// its tenant (a sealed secret copied into another tenant's record then does not open).
func ImportSealed(ctx context.Context, st Store, s Seed, h *Hasher, r io.Reader, seal func(tenantID string, plaintext []byte) ([]byte, error), now time.Time) (ImportResult, error) {
	var res ImportResult
	if err := s.Validate(); err != nil {
		return res, err
	}
	for i, t := range s.Tenants {
		switch _, err := st.GetTenant(ctx, t.ID); {
		case err == nil:
			return res, fmt.Errorf("tenants[%d]: tenant %q already exists: %w", i, t.ID, ErrExists)
		case !errors.Is(err, ErrNotFound):
			return res, fmt.Errorf("tenants[%d]: checking for tenant %q: %w", i, t.ID, err)
		}
	}
	for i, u := range s.Users {
		switch _, err := st.OperatorByEmail(ctx, NormalizeEmail(u.Email)); {
		case err == nil:
			return res, fmt.Errorf("users[%d]: %s already exists: %w", i, NormalizeEmail(u.Email), ErrExists)
		case !errors.Is(err, ErrNotFound):
			return res, fmt.Errorf("users[%d]: checking for %s: %w", i, NormalizeEmail(u.Email), err)
		}
	}

	tenants := make([]Tenant, 0, len(s.Tenants))
	for i, t := range s.Tenants {
		tenant := Tenant{ID: t.ID, Name: t.Name, BillingEmail: NormalizeEmail(t.BillingEmail), CreatedAt: now}
		for _, e := range t.BreakGlass {
			tenant.BreakGlass = append(tenant.BreakGlass, NormalizeEmail(e))
		}
		if t.SSO != nil {
			if seal == nil {
				return res, fmt.Errorf("tenants[%d]: cannot store the SSO client secret: no sealing key", i)
			}
			sealed, err := seal(t.ID, []byte(t.SSO.ClientSecret))
			if err != nil {
				return res, fmt.Errorf("tenants[%d]: sealing the SSO client secret: %w", i, err)
			}
			tenant.SSO = &SSO{
				Enabled:            true,
				Provider:           t.SSO.Provider,
				Issuer:             t.SSO.Issuer,
				ClientID:           t.SSO.ClientID,
				ClientSecretSealed: sealed,
				Extra:              cloneMap(t.SSO.Extra),
			}
		}
		tenants = append(tenants, tenant)
	}

	operators := make([]Operator, 0, len(s.Users))
	for i, u := range s.Users {
		id, err := newOperatorID(r)
		if err != nil {
			return res, fmt.Errorf("users[%d]: %w", i, err)
		}
		hash := u.PasswordHash
		if u.Password != "" {
			if h == nil {
				return res, fmt.Errorf("users[%d]: cannot hash the password: no password hasher", i)
			}
			// Hash errors name the cause (context, randomness, length), never the password.
			if hash, err = h.Hash(ctx, r, u.Password); err != nil {
				return res, fmt.Errorf("users[%d]: hashing password: %w", i, err)
			}
		}
		operators = append(operators, Operator{
			ID:           id,
			TenantID:     u.Tenant,
			Email:        NormalizeEmail(u.Email),
			Role:         u.Role,
			PasswordHash: hash,
			CreatedAt:    now,
		})
	}

	for i, t := range tenants {
		if err := st.PutTenant(ctx, t); err != nil {
			return res, fmt.Errorf("tenants[%d]: storing tenant %q: %w", i, t.ID, err)
		}
		res.Tenants++
	}
	for i, o := range operators {
		if err := st.CreateOperator(ctx, o); err != nil {
			return res, fmt.Errorf("users[%d]: storing %s: %w", i, o.Email, err)
		}
		res.Operators++
	}
	return res, nil
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
