package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/credential"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/keys"
	"github.com/vectis/mfa-gateway/internal/lockout"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/sso"
	"github.com/vectis/mfa-gateway/internal/store/bolt"
)

// events is a Recorder that keeps what it is given.
type events struct {
	mu  sync.Mutex
	all []audit.Event
}

func (e *events) Record(_ context.Context, ev audit.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) last(t *testing.T) audit.Event {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.all) == 0 {
		t.Fatal("no audit event recorded")
	}
	return e.all[len(e.all)-1]
}

func (e *events) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.all)
}

type opsEnv struct {
	ops  *Ops
	st   *bolt.Store
	ring *keys.Ring
	rec  *events
	now  time.Time
	hash *directory.Hasher
}

var (
	cli     = Actor{Kind: "cli", Email: "ops-person"}
	acmeAdm = Actor{Kind: "admin", Email: "admin@acme.example", Tenant: "acme"}
	ctxb    = context.Background()
)

// newOpsEnv is a real bolt store with tenant acme (admin + member) and tenant beta (one admin).
func newOpsEnv(t *testing.T) *opsEnv {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, err := keys.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	e := &opsEnv{st: st, ring: ring, rec: &events{}, now: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), hash: directory.NewHasher(0)}
	e.ops = NewOps(st, e.rec, func() time.Time { return e.now }, 5, Tools{
		Hasher: e.hash, Rand: rand.Reader,
		SealSSOSecret: func(tenant string, p []byte) ([]byte, error) { return ring.Seal(rand.Reader, p, sso.SecretAAD(tenant)) },
	})
	seed, err := directory.ParseSeed([]byte(`{"tenants":[
		{"id":"acme","name":"Acme MSP","billing_email":"billing@acme.example"},
		{"id":"beta","name":"Beta MSP","billing_email":"billing@beta.example"}],
	 "users":[
		{"email":"admin@acme.example","tenant":"acme","role":"admin","password":"acme admin pw"},
		{"email":"tech@acme.example","tenant":"acme","role":"member","password":"acme tech pw"},
		{"email":"boss@beta.example","tenant":"beta","role":"admin","password":"beta boss pw"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := directory.Import(ctxb, st, seed, e.hash, rand.Reader, nil, e.now); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *opsEnv) op(t *testing.T, email string) directory.Operator {
	t.Helper()
	o, err := e.st.OperatorByEmail(ctxb, email)
	if err != nil {
		t.Fatalf("%s: %v", email, err)
	}
	return o
}

func (e *opsEnv) tenant(t *testing.T, id string) directory.Tenant {
	t.Helper()
	tn, err := e.st.GetTenant(ctxb, id)
	if err != nil {
		t.Fatalf("tenant %s: %v", id, err)
	}
	return tn
}

func wantErr(t *testing.T, err, kind error, contains ...string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want %v", err, kind)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not say %q", err, c)
		}
	}
}

func TestAddTenant(t *testing.T) {
	e := newOpsEnv(t)
	info, err := e.ops.AddTenant(ctxb, cli, TenantInput{ID: "gamma", Name: "Gamma IT", BillingEmail: " Billing@Gamma.Example "})
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "gamma" || info.BillingEmail != "billing@gamma.example" || len(info.Warnings) != 0 {
		t.Errorf("info = %+v", info)
	}
	if got := e.tenant(t, "gamma"); got.Name != "Gamma IT" || !got.CreatedAt.Equal(e.now) {
		t.Errorf("stored %+v", got)
	}
	if ev := e.rec.last(t); ev.Type != EventTenantAdded || ev.Tenant != "gamma" || ev.Actor != "cli:ops-person" {
		t.Errorf("event %+v", ev)
	}

	n := e.rec.count()
	cases := []struct {
		name string
		in   TenantInput
		a    Actor
		kind error
		says string
	}{
		{"existing id", TenantInput{ID: "acme", Name: "Again"}, cli, ErrExists, `tenant "acme" already exists`},
		{"bad id", TenantInput{ID: "Acme_2", Name: "x"}, cli, ErrInvalid, "lower-case letters"},
		{"no name", TenantInput{ID: "delta"}, cli, ErrInvalid, "name is required"},
		{"bad billing email", TenantInput{ID: "delta", Name: "D", BillingEmail: "nobody"}, cli, ErrInvalid, "billing_email"},
		{"tenant admin", TenantInput{ID: "delta", Name: "D"}, acmeAdm, ErrForbidden, ""},
		{"support", TenantInput{ID: "delta", Name: "D"}, Actor{Kind: "support"}, ErrForbidden, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ops.AddTenant(ctxb, tc.a, tc.in)
			wantErr(t, err, tc.kind, tc.says)
			if strings.Contains(err.Error(), "tenants[0]") {
				t.Errorf("error %q carries the seed file's entry position", err)
			}
		})
	}
	if e.rec.count() != n {
		t.Error("a refused tenant add was recorded as done")
	}
	if got := e.tenant(t, "acme"); got.Name != "Acme MSP" {
		t.Error("adding an existing tenant id replaced it")
	}
	if info, err := e.ops.AddTenant(ctxb, cli, TenantInput{ID: "delta", Name: "Delta"}); err != nil || len(info.Warnings) != 1 ||
		!strings.Contains(info.Warnings[0], "billing email") {
		t.Errorf("a tenant without billing email: %+v %v, want a warning", info, err)
	}
}

func TestListAndShowTenants(t *testing.T) {
	e := newOpsEnv(t)
	ts, err := e.ops.ListTenants(ctxb, cli)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].ID != "acme" || ts[1].ID != "beta" || ts[0].Operators != nil {
		t.Errorf("list = %+v", ts)
	}
	info, err := e.ops.ShowTenant(ctxb, cli, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if info.Operators == nil || *info.Operators != 2 || info.BillingEmail != "billing@acme.example" {
		t.Errorf("show = %+v", info)
	}
	_, err = e.ops.ShowTenant(ctxb, cli, "nope")
	wantErr(t, err, ErrNotFound)
	_, err = e.ops.ListTenants(ctxb, acmeAdm)
	wantErr(t, err, ErrForbidden)
	_, err = e.ops.ShowTenant(ctxb, acmeAdm, "acme")
	wantErr(t, err, ErrForbidden)
}

func TestSetSSO(t *testing.T) {
	e := newOpsEnv(t)
	const secret = "s3cret-client-value"
	in := SSOInput{Provider: "okta", Issuer: "https://acme.okta.com", ClientID: "0oa123"}

	_, err := e.ops.SetSSO(ctxb, cli, "beta", in)
	wantErr(t, err, ErrInvalid, "client secret is required")

	bad := in
	bad.Provider, bad.ClientSecret = "ldap", secret
	_, err = e.ops.SetSSO(ctxb, cli, "beta", bad)
	wantErr(t, err, ErrInvalid, "must be one of okta, entra, google, jumpcloud, oidc")
	bad = in
	bad.Issuer, bad.ClientSecret = "http://acme.okta.com", secret
	_, err = e.ops.SetSSO(ctxb, cli, "beta", bad)
	wantErr(t, err, ErrInvalid, "https")
	bad = in
	bad.ClientSecret, bad.Extra = secret, map[string]string{"tenant_id": "x"}
	_, err = e.ops.SetSSO(ctxb, cli, "beta", bad)
	wantErr(t, err, ErrInvalid, "not a setting of provider okta")
	bad = in
	bad.ClientSecret = secret + "\n"
	_, err = e.ops.SetSSO(ctxb, cli, "beta", bad)
	wantErr(t, err, ErrInvalid, "line break")
	_, err = e.ops.SetSSO(ctxb, acmeAdm, "acme", SSOInput{Provider: "okta", Issuer: in.Issuer, ClientID: "x", ClientSecret: secret})
	wantErr(t, err, ErrForbidden)
	_, err = e.ops.SetSSO(ctxb, cli, "nope", SSOInput{Provider: "okta", Issuer: in.Issuer, ClientID: "x", ClientSecret: secret})
	wantErr(t, err, ErrNotFound)
	if e.tenant(t, "beta").SSO != nil {
		t.Fatal("refused settings were stored")
	}

	in.ClientSecret = secret
	info, err := e.ops.SetSSO(ctxb, cli, "beta", in)
	if err != nil {
		t.Fatal(err)
	}
	if info.SSO == nil || info.SSO.Enabled || !info.SSO.ClientSecretSet || info.SSO.Provider != "okta" {
		t.Errorf("info = %+v", info.SSO)
	}
	stored := e.tenant(t, "beta").SSO
	if stored == nil || bytes.Contains(stored.ClientSecretSealed, []byte(secret)) {
		t.Fatal("secret not stored sealed")
	}
	// Bound to its tenant: it opens as beta's, not as anyone else's.
	if p, err := e.ring.Open(stored.ClientSecretSealed, sso.SecretAAD("beta")); err != nil || string(p) != secret {
		t.Errorf("the stored secret does not open as beta's: %v", err)
	}
	if _, err := e.ring.Open(stored.ClientSecretSealed, sso.SecretAAD("acme")); err == nil {
		t.Error("beta's sealed secret opens as acme's")
	}
	out, _ := json.Marshal(info)
	if strings.Contains(string(out), secret) || strings.Contains(string(out), "sealed") {
		t.Errorf("tenant info carries the secret: %s", out)
	}
	ev := e.rec.last(t)
	if ev.Type != EventSSOUpdated || ev.Detail["client_credentials"] != "replaced" || ev.Detail["provider"] != "okta" {
		t.Errorf("event %+v", ev)
	}
	if s := fmt.Sprintf("%v %+v %#v", ev, in, in); strings.Contains(s, secret) {
		t.Errorf("event or input formatting shows the secret: %s", s)
	}

	// Enabled survives a settings change, and an empty secret keeps the stored one.
	if _, err := e.ops.SetSSOEnabled(ctxb, cli, "beta", true); err != nil {
		t.Fatal(err)
	}
	in.ClientSecret, in.ClientID = "", "0oa456"
	if info, err = e.ops.SetSSO(ctxb, cli, "beta", in); err != nil {
		t.Fatal(err)
	}
	after := e.tenant(t, "beta").SSO
	if !after.Enabled || after.ClientID != "0oa456" || !bytes.Equal(after.ClientSecretSealed, stored.ClientSecretSealed) {
		t.Errorf("update: enabled %t client %q, secret kept %t", after.Enabled, after.ClientID, bytes.Equal(after.ClientSecretSealed, stored.ClientSecretSealed))
	}
	if ev := e.rec.last(t); ev.Detail["client_credentials"] != "kept" {
		t.Errorf("event %+v", ev)
	}
}

func TestSSOEnableDisable(t *testing.T) {
	e := newOpsEnv(t)
	_, err := e.ops.SetSSOEnabled(ctxb, cli, "acme", true)
	wantErr(t, err, ErrConflict, "no SSO settings")
	if _, err := e.ops.SetSSOEnabled(ctxb, cli, "acme", false); err != nil {
		t.Errorf("disabling SSO a tenant never had: %v", err)
	}
	_, err = e.ops.SetSSOEnabled(ctxb, cli, "nope", true)
	wantErr(t, err, ErrNotFound)
	_, err = e.ops.SetSSOEnabled(ctxb, acmeAdm, "acme", true)
	wantErr(t, err, ErrForbidden)

	if _, err := e.ops.SetSSO(ctxb, cli, "acme", SSOInput{Provider: "google", ClientID: "g", ClientSecret: "x",
		Extra: map[string]string{"hosted_domains": "acme.example"}}); err != nil {
		t.Fatal(err)
	}
	n := e.rec.count()
	info, err := e.ops.SetSSOEnabled(ctxb, cli, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	if !info.SSO.Enabled || !e.tenant(t, "acme").SSO.Enabled {
		t.Error("SSO not enabled")
	}
	if len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], "break-glass") {
		t.Errorf("no warning about a missing break-glass admin: %q", info.Warnings)
	}
	if ev := e.rec.last(t); ev.Type != audit.SSOEnabled || ev.Tenant != "acme" || ev.Actor != "cli:ops-person" {
		t.Errorf("event %+v", ev)
	}
	// Enabling again changes nothing and records nothing.
	if _, err := e.ops.SetSSOEnabled(ctxb, cli, "acme", true); err != nil || e.rec.count() != n+1 {
		t.Errorf("second enable: %v, %d events", err, e.rec.count()-n)
	}
	// ListUsers now says the operators sign in with SSO.
	rows, err := e.ops.ListUsers(ctxb, cli, "acme")
	if err != nil || rows[0].Method != "sso" {
		t.Errorf("rows %+v %v", rows, err)
	}
	if _, err := e.ops.SetSSOEnabled(ctxb, cli, "acme", false); err != nil || e.tenant(t, "acme").SSO.Enabled {
		t.Fatalf("disable: %v", err)
	}
	if ev := e.rec.last(t); ev.Type != audit.SSODisabled {
		t.Errorf("event %+v", ev)
	}

	// Stored settings that fail today's rules cannot be turned on.
	tn := e.tenant(t, "acme")
	tn.SSO.Extra = nil
	if err := e.st.PutTenant(ctxb, tn); err != nil {
		t.Fatal(err)
	}
	_, err = e.ops.SetSSOEnabled(ctxb, cli, "acme", true)
	wantErr(t, err, ErrConflict, "hosted_domains")
}

func TestBreakGlass(t *testing.T) {
	e := newOpsEnv(t)
	_, err := e.ops.AddBreakGlass(ctxb, cli, "acme", "tech@acme.example")
	wantErr(t, err, ErrConflict, "not an admin")
	_, err = e.ops.AddBreakGlass(ctxb, cli, "acme", "boss@beta.example")
	wantErr(t, err, ErrNotFound)
	_, err = e.ops.AddBreakGlass(ctxb, acmeAdm, "acme", "admin@acme.example")
	wantErr(t, err, ErrForbidden)

	info, err := e.ops.AddBreakGlass(ctxb, cli, "acme", " Admin@Acme.Example ")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.BreakGlass) != 1 || info.BreakGlass[0] != "admin@acme.example" || !e.tenant(t, "acme").IsBreakGlass("admin@acme.example") {
		t.Errorf("break-glass = %q", info.BreakGlass)
	}
	if ev := e.rec.last(t); ev.Type != EventBreakGlassAdded || ev.User != e.op(t, "admin@acme.example").ID {
		t.Errorf("event %+v", ev)
	}
	_, err = e.ops.AddBreakGlass(ctxb, cli, "acme", "admin@acme.example")
	wantErr(t, err, ErrExists)

	// An admin without a password (SSO only) cannot be a break-glass account.
	if _, err := e.ops.SetSSO(ctxb, cli, "acme", SSOInput{Provider: "okta", Issuer: "https://acme.okta.com", ClientID: "c", ClientSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ops.AddUser(ctxb, cli, "acme", UserInput{Email: "sso-admin@acme.example", Role: "admin", NoPassword: true}); err != nil {
		t.Fatal(err)
	}
	_, err = e.ops.AddBreakGlass(ctxb, cli, "acme", "sso-admin@acme.example")
	wantErr(t, err, ErrConflict, "no password")

	if _, err := e.ops.RemoveBreakGlass(ctxb, cli, "acme", "ADMIN@acme.example"); err != nil {
		t.Fatal(err)
	}
	if e.tenant(t, "acme").IsBreakGlass("admin@acme.example") {
		t.Error("still break-glass after remove")
	}
	if ev := e.rec.last(t); ev.Type != EventBreakGlassRemoved || ev.Email != "admin@acme.example" {
		t.Errorf("event %+v", ev)
	}
	_, err = e.ops.RemoveBreakGlass(ctxb, cli, "acme", "admin@acme.example")
	wantErr(t, err, ErrNotFound, "not a break-glass admin")
}

func TestAddUser(t *testing.T) {
	e := newOpsEnv(t)
	const pw = "a long enough password"
	row, err := e.ops.AddUser(ctxb, cli, "beta", UserInput{Email: " New@Beta.Example", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if row.Email != "new@beta.example" || row.Role != "member" || row.Method != "password" || !strings.HasPrefix(row.ID, "op_") || len(row.ID) != 23 {
		t.Errorf("row = %+v", row)
	}
	op := e.op(t, "new@beta.example")
	if op.TenantID != "beta" || !strings.HasPrefix(op.PasswordHash, "$argon2id$") || strings.Contains(op.PasswordHash, pw) {
		t.Fatalf("stored %+v", op)
	}
	if ok, err := e.hash.Verify(ctxb, op.PasswordHash, pw); !ok || err != nil {
		t.Errorf("the stored hash does not verify the password: %v", err)
	}
	if ev := e.rec.last(t); ev.Type != audit.OperatorAdded || ev.User != op.ID || ev.Detail["role"] != "member" {
		t.Errorf("event %+v", ev)
	}

	// A tenant admin may add operators to their own tenant only.
	if _, err := e.ops.AddUser(ctxb, acmeAdm, "acme", UserInput{Email: "third@acme.example", Role: "admin", Password: pw}); err != nil {
		t.Errorf("tenant admin adding to own tenant: %v", err)
	}
	n := e.rec.count()
	cases := []struct {
		name   string
		a      Actor
		tenant string
		in     UserInput
		kind   error
		says   string
	}{
		{"email taken in another tenant", cli, "beta", UserInput{Email: "admin@acme.example", Password: pw}, ErrExists, "already exists"},
		{"short password", cli, "beta", UserInput{Email: "x@beta.example", Password: "short"}, ErrInvalid, "password must be at least 8 characters"},
		{"no password at all", cli, "beta", UserInput{Email: "x@beta.example"}, ErrInvalid, "password"},
		{"bad role", cli, "beta", UserInput{Email: "x@beta.example", Role: "owner", Password: pw}, ErrInvalid, "role must be admin or member"},
		{"bad email", cli, "beta", UserInput{Email: "x at beta", Password: pw}, ErrInvalid, "email"},
		{"no password without SSO", cli, "beta", UserInput{Email: "x@beta.example", NoPassword: true}, ErrInvalid, "no SSO settings"},
		{"password and no_password", cli, "beta", UserInput{Email: "x@beta.example", NoPassword: true, Password: pw}, ErrInvalid, "not both"},
		{"unknown tenant", cli, "nope", UserInput{Email: "x@beta.example", Password: pw}, ErrNotFound, ""},
		{"other tenant's admin", acmeAdm, "beta", UserInput{Email: "x@beta.example", Password: pw}, ErrForbidden, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ops.AddUser(ctxb, tc.a, tc.tenant, tc.in)
			wantErr(t, err, tc.kind, tc.says)
			if tc.in.Password != "" && strings.Contains(err.Error(), tc.in.Password) {
				t.Errorf("error %q shows the password", err)
			}
			if strings.Contains(err.Error(), "users[0]") {
				t.Errorf("error %q carries the seed file's entry position", err)
			}
		})
	}
	if e.rec.count() != n {
		t.Error("a refused add was recorded")
	}
	if _, err := e.st.OperatorByEmail(ctxb, "x@beta.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Error("a refused add created the operator")
	}
	if s := fmt.Sprintf("%v %+v %#v", UserInput{Password: pw}, UserInput{Password: pw}, UserInput{Password: pw}); strings.Contains(s, pw) {
		t.Errorf("UserInput formatting shows the password: %s", s)
	}
}

func TestImport(t *testing.T) {
	e := newOpsEnv(t)
	doc := `{"tenants":[
		{"id":"gamma","name":"Gamma","billing_email":"b@gamma.example","break_glass":["g1@gamma.example"],
		 "sso":{"provider":"okta","issuer":"https://gamma.okta.com","client_id":"g","client_secret":"gamma-secret"}},
		{"id":"delta","name":"Delta",
		 "sso":{"provider":"oidc","issuer":"http://127.0.0.1:9/oidc","client_id":"d","client_secret":"delta-secret"}}],
	 "users":[
		{"email":"g1@gamma.example","tenant":"gamma","role":"admin","password":"gamma admin pw"},
		{"email":"d1@delta.example","tenant":"delta","role":"member","password":"delta member pw"},
		{"email":"joiner@acme.example","tenant":"acme","role":"member","password":"joiner pw 123"},
		{"email":"legacy@beta.example","tenant":"beta","role":"admin","password_hash":"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}]}`
	res, err := e.ops.Import(ctxb, cli, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if res.Tenants != 2 || res.Operators != 4 {
		t.Errorf("result %+v", res)
	}
	for email, tenant := range map[string]string{"g1@gamma.example": "gamma", "d1@delta.example": "delta", "joiner@acme.example": "acme", "legacy@beta.example": "beta"} {
		if op := e.op(t, email); op.TenantID != tenant || op.PasswordHash == "" {
			t.Errorf("%s: %+v", email, op)
		}
	}
	if op := e.op(t, "joiner@acme.example"); !strings.HasPrefix(op.PasswordHash, "$argon2id$") {
		t.Errorf("plain password not hashed with argon2id: %q", op.PasswordHash[:10])
	}
	// Each imported SSO secret is sealed for its own tenant.
	for tenant, secret := range map[string]string{"gamma": "gamma-secret", "delta": "delta-secret"} {
		tn := e.tenant(t, tenant)
		if p, err := e.ring.Open(tn.SSO.ClientSecretSealed, sso.SecretAAD(tenant)); err != nil || string(p) != secret || !tn.SSO.Enabled {
			t.Errorf("%s: secret opens %q, %v; enabled %t", tenant, p, err, tn.SSO.Enabled)
		}
	}
	if !e.tenant(t, "gamma").IsBreakGlass("g1@gamma.example") {
		t.Error("break-glass list not imported")
	}
	added := map[string]int{}
	for _, ev := range e.rec.all {
		added[ev.Type]++
		if ev.Type == audit.OperatorAdded && (ev.User == "" || ev.Detail["via"] != "import") {
			t.Errorf("event %+v", ev)
		}
	}
	if added[EventTenantAdded] != 2 || added[audit.OperatorAdded] != 4 {
		t.Errorf("events %v", added)
	}

	// Refusals leave the store as it was.
	n := e.rec.count()
	cases := []struct {
		name, doc string
		kind      error
		says      string
	}{
		{"existing tenant in the document", `{"tenants":[{"id":"acme","name":"Acme again"}],"users":[]}`, ErrExists, `tenant "acme" already exists`},
		{"existing email for an existing tenant", `{"users":[{"email":"tech@acme.example","tenant":"acme","role":"member","password":"whatever 123"}]}`, ErrExists, "tech@acme.example already exists"},
		{"existing email for a new tenant", `{"tenants":[{"id":"eps","name":"E"}],"users":[{"email":"tech@acme.example","tenant":"eps","role":"member","password":"whatever 123"}]}`, ErrExists, "already exists"},
		{"unknown tenant", `{"users":[{"email":"x@y.example","tenant":"nope","role":"member","password":"whatever 123"}]}`, ErrInvalid, `tenant "nope"`},
		{"unknown field", `{"users":[{"email":"x@acme.example","tenant":"acme","role":"member","passwd":"whatever 123"}]}`, ErrInvalid, `unknown field "passwd"`},
		{"unknown top-level field", `{"tenants":[],"operators":[]}`, ErrInvalid, `unknown field "operators"`},
		{"not JSON", `{"users":[`, ErrInvalid, "JSON"},
		{"unusable SSO settings", `{"tenants":[{"id":"eps","name":"E","sso":{"provider":"google","client_id":"c","client_secret":"s"}}]}`, ErrInvalid, "tenants[0] (eps): sso hosted_domains is required"},
		{"short password, mixed", `{"tenants":[{"id":"eps","name":"E"}],"users":[{"email":"x@eps.example","tenant":"eps","role":"member","password":"whatever 123"},{"email":"y@acme.example","tenant":"acme","role":"member","password":"short"}]}`, ErrInvalid, "users[1]: password must be at least 8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ops.Import(ctxb, cli, []byte(tc.doc))
			wantErr(t, err, tc.kind, tc.says)
			if strings.Contains(err.Error(), "whatever 123") || strings.Contains(err.Error(), "short\"") {
				t.Errorf("error %q shows a password", err)
			}
		})
	}
	if e.rec.count() != n {
		t.Error("a refused import recorded events")
	}
	for _, email := range []string{"x@eps.example", "x@y.example", "x@acme.example"} {
		if _, err := e.st.OperatorByEmail(ctxb, email); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("a refused import created %s", email)
		}
	}
	if _, err := e.st.GetTenant(ctxb, "eps"); !errors.Is(err, directory.ErrNotFound) {
		t.Error("a refused import created tenant eps")
	}
	_, err = e.ops.Import(ctxb, acmeAdm, []byte(doc))
	wantErr(t, err, ErrForbidden)
}

func TestResolveUser(t *testing.T) {
	e := newOpsEnv(t)
	tech := e.op(t, "tech@acme.example")
	for _, ref := range []string{"tech@acme.example", " TECH@acme.example", tech.ID} {
		if op, err := e.ops.ResolveUser(ctxb, cli, "acme", ref); err != nil || op.ID != tech.ID {
			t.Errorf("%q: %+v %v", ref, op, err)
		}
	}
	boss := e.op(t, "boss@beta.example")
	for _, ref := range []string{"boss@beta.example", boss.ID, "nobody@acme.example", "op_nope"} {
		_, err := e.ops.ResolveUser(ctxb, cli, "acme", ref)
		wantErr(t, err, ErrNotFound)
	}
	_, err := e.ops.ResolveUser(ctxb, acmeAdm, "beta", boss.ID)
	wantErr(t, err, ErrForbidden)
}

func TestListAudit(t *testing.T) {
	e := newOpsEnv(t)
	for i := range 3 {
		if err := e.st.AppendAudit(ctxb, "acme", audit.Event{Time: e.now.Add(time.Duration(i) * time.Second), Type: audit.Unlock, Tenant: "acme",
			Detail: map[string]string{"n": fmt.Sprint(i)}}, audit.Keep); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.AppendAudit(ctxb, "beta", audit.Event{Time: e.now, Type: audit.Unlock, Tenant: "beta"}, audit.Keep); err != nil {
		t.Fatal(err)
	}
	evs, err := e.ops.ListAudit(ctxb, cli, "acme", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Detail["n"] != "2" || evs[1].Detail["n"] != "1" {
		t.Errorf("events %+v", evs)
	}
	if evs, err := e.ops.ListAudit(ctxb, acmeAdm, "acme", 0); err != nil || len(evs) != 3 {
		t.Errorf("default limit: %d %v", len(evs), err)
	}
	if evs, err := e.ops.ListAudit(ctxb, cli, "beta", 10); err != nil || len(evs) != 1 || evs[0].Tenant != "beta" {
		t.Errorf("beta: %+v %v", evs, err)
	}
	if evs, err := e.ops.AddTenant(ctxb, cli, TenantInput{ID: "empty", Name: "E"}); err != nil {
		t.Fatal(evs, err)
	}
	if evs, err := e.ops.ListAudit(ctxb, cli, "empty", 10); err != nil || evs == nil || len(evs) != 0 {
		t.Errorf("an empty trail: %#v %v (want an empty, non-nil list)", evs, err)
	}
	_, err = e.ops.ListAudit(ctxb, acmeAdm, "beta", 10)
	wantErr(t, err, ErrForbidden)
	_, err = e.ops.ListAudit(ctxb, cli, "nope", 10)
	wantErr(t, err, ErrNotFound)
	for _, n := range []int{-1, audit.Keep + 1} {
		_, err = e.ops.ListAudit(ctxb, cli, "acme", n)
		wantErr(t, err, ErrInvalid, "limit")
	}
}

// TestSupportReset covers support's sole-admin recovery rules through the Service: the requester must be
// the billing email on file (trimmed, any case), the target an admin of that tenant, a ticket given; every
// refusal is audited and changes nothing.
func TestSupportReset(t *testing.T) {
	e := newOpsEnv(t)
	adm := e.op(t, "admin@acme.example")
	tech := e.op(t, "tech@acme.example")
	enroll := func(o directory.Operator) {
		t.Helper()
		if ok, err := e.st.ActivateTOTP(ctxb, o.TenantID, o.ID, []byte("sealed"), 1, [][]byte{[]byte("h1")}, e.now); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if err := e.st.CreateSession(ctxb, []byte("session-"+o.ID), session.Session{TenantID: o.TenantID, UserID: o.ID,
			State: session.StateActive, CreatedAt: e.now, ExpiresAt: e.now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	enroll(adm)
	enroll(tech)

	refusals := []struct {
		name, user, requester, ticket string
		kind                          error
	}{
		{"wrong billing email", "admin@acme.example", "ceo@acme.example", "T-1", ErrBadRequester},
		{"other tenant's billing email", "admin@acme.example", "billing@beta.example", "T-1", ErrBadRequester},
		{"member target", "tech@acme.example", "billing@acme.example", "T-2", ErrNotAdmin},
		{"other tenant's admin", "boss@beta.example", "billing@acme.example", "T-3", ErrNotFound},
		{"no ticket", "admin@acme.example", "billing@acme.example", "  ", ErrNoTicket},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			err := e.ops.SupportResetMFA(ctxb, "sam", "acme", tc.user, tc.requester, tc.ticket)
			wantErr(t, err, tc.kind)
			ev := e.rec.last(t)
			if ev.Type != audit.SupportRecoveryDenied || ev.Actor != "support:sam" || ev.Reason == "" || ev.Detail["ticket"] != tc.ticket {
				t.Errorf("refusal not audited: %+v", ev)
			}
		})
	}
	for _, o := range []directory.Operator{adm, tech} {
		if _, err := e.st.GetCredentials(ctxb, o.TenantID, o.ID); err != nil {
			t.Errorf("%s lost their authenticator in a refused recovery: %v", o.Email, err)
		}
	}
	// Lock the admin too: recovery clears the lockout with the rest.
	for range 5 {
		if _, err := e.st.Attempt(ctxb, "acme", lockout.CodeKey(adm.ID), e.now, 5, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.ops.SupportResetMFA(ctxb, "sam", "acme", " ADMIN@acme.example", "  Billing@ACME.example ", " T-42 "); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.GetCredentials(ctxb, "acme", adm.ID); !errors.Is(err, credential.ErrNotEnrolled) {
		t.Errorf("admin still enrolled after support recovery: %v", err)
	}
	if _, err := e.st.GetSession(ctxb, "acme", []byte("session-"+adm.ID)); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("admin's session survived support recovery: %v", err)
	}
	if v, err := e.st.Status(ctxb, "acme", lockout.CodeKey(adm.ID), e.now); err != nil || v.Count != 0 {
		t.Errorf("lockout survived support recovery: %+v %v", v, err)
	}
	ev := e.rec.last(t)
	if ev.Type != audit.SupportRecovery || ev.Actor != "support:sam" || ev.Detail["ticket"] != "T-42" ||
		ev.Detail["requester"] != "billing@acme.example" || ev.User != adm.ID || ev.Time.IsZero() {
		t.Errorf("recovery event %+v", ev)
	}
}
