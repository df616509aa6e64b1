package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeStore is an in-memory Store. failCreateAfter > 0 makes the n-th CreateOperator call fail.
type fakeStore struct {
	tenants         map[string]Tenant
	operators       map[string]Operator // by normalized email
	creates         int
	failCreateAfter int
	failGet         error
}

func newFakeStore() *fakeStore {
	return &fakeStore{tenants: map[string]Tenant{}, operators: map[string]Operator{}}
}

func (f *fakeStore) PutTenant(_ context.Context, t Tenant) error { f.tenants[t.ID] = t; return nil }

func (f *fakeStore) GetTenant(_ context.Context, id string) (Tenant, error) {
	if f.failGet != nil {
		return Tenant{}, f.failGet
	}
	t, ok := f.tenants[id]
	if !ok {
		return Tenant{}, ErrNotFound
	}
	return t, nil
}

func (f *fakeStore) ListTenants(context.Context) ([]Tenant, error) {
	var out []Tenant
	for _, t := range f.tenants {
		out = append(out, t)
	}
	return out, nil
}

func (f *fakeStore) CreateOperator(_ context.Context, o Operator) error {
	f.creates++
	if f.failCreateAfter > 0 && f.creates >= f.failCreateAfter {
		return errors.New("disk full")
	}
	if _, ok := f.operators[o.Email]; ok {
		return ErrExists
	}
	f.operators[o.Email] = o
	return nil
}

func (f *fakeStore) UpdateOperator(_ context.Context, o Operator) error {
	if _, ok := f.operators[o.Email]; !ok {
		return ErrNotFound
	}
	f.operators[o.Email] = o
	return nil
}

func (f *fakeStore) GetOperator(_ context.Context, tenantID, id string) (Operator, error) {
	for _, o := range f.operators {
		if o.TenantID == tenantID && o.ID == id {
			return o, nil
		}
	}
	return Operator{}, ErrNotFound
}

func (f *fakeStore) OperatorByEmail(_ context.Context, email string) (Operator, error) {
	o, ok := f.operators[email]
	if !ok {
		return Operator{}, ErrNotFound
	}
	return o, nil
}

func (f *fakeStore) ListOperators(_ context.Context, tenantID string) ([]Operator, error) {
	var out []Operator
	for _, o := range f.operators {
		if o.TenantID == tenantID {
			out = append(out, o)
		}
	}
	return out, nil
}

func (f *fakeStore) Empty(context.Context) (bool, error) {
	return len(f.tenants) == 0 && len(f.operators) == 0, nil
}

var _ Store = (*fakeStore)(nil)

// Passwords used in the fixtures; tests assert none of them ever shows up in an error.
const (
	alicePassword = "alice-correct-horse"
	bobPassword   = "bob-battery-staple"
	ssoSecret     = "s3cr3t-client-value"
)

var validSeed = `{
  "tenants": [
    {"id": "acme", "name": "Acme MSP", "billing_email": "Billing@Acme.example",
     "break_glass": ["ALICE@acme.example"],
     "sso": {"provider": "entra", "issuer": "https://login.microsoftonline.com/0000/v2.0",
             "client_id": "cid-1", "client_secret": "` + ssoSecret + `", "tenant_id": "0000"}},
    {"id": "beta-2", "name": "Beta"}
  ],
  "users": [
    {"email": "Alice@Acme.example", "tenant": "acme", "role": "admin", "password": "` + alicePassword + `"},
    {"email": "carol@acme.example", "tenant": "acme", "role": "member",
     "password_hash": "$argon2id$v=19$m=16384,t=2,p=1$dmVjdGlzLXNhbHQtMDAwMQ$NjG2cQpbMIgcU+2xjK3K1sCb8Co2ZXUMw1EQgF/U9bk"},
    {"email": "bob@beta.example", "tenant": "beta-2", "role": "admin", "password": "` + bobPassword + `"},
    {"email": "dave@beta.example", "tenant": "beta-2", "role": "member", "password_hash": "` + openBSDVector + `"}
  ]
}`

func TestParseSeedValid(t *testing.T) {
	s, err := ParseSeed([]byte(validSeed))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tenants) != 2 || len(s.Users) != 4 {
		t.Fatalf("got %d tenants, %d users", len(s.Tenants), len(s.Users))
	}
	acme := s.Tenants[0]
	if acme.SSO == nil || acme.SSO.Provider != "entra" || acme.SSO.ClientSecret != ssoSecret || acme.SSO.Extra["tenant_id"] != "0000" || len(acme.SSO.Extra) != 1 {
		t.Errorf("acme SSO = %+v", acme.SSO)
	}
	if s.Tenants[1].SSO != nil {
		t.Error("beta has SSO")
	}
	if s.Users[1].PasswordHash == "" || s.Users[0].Role != RoleAdmin {
		t.Errorf("users = %v", s.Users)
	}
	// %v of a parsed seed must not print secrets.
	for _, format := range []string{"%v", "%+v", "%#v"} {
		out := fmt.Sprintf(format, s)
		if strings.Contains(out, alicePassword) || strings.Contains(out, ssoSecret) {
			t.Errorf("%s of the seed leaks a secret: %s", format, out)
		}
	}
}

func TestParseSeedAcceptsLoopbackHTTPForOIDC(t *testing.T) {
	for _, issuer := range []string{"http://127.0.0.1:5556/oidc", "http://localhost:8080", "http://[::1]:9000/x", "https://idp.example.com"} {
		seed := `{"tenants":[{"id":"t","name":"T","sso":{"provider":"oidc","issuer":"` + issuer + `","client_id":"c","client_secret":"s"}}]}`
		if _, err := ParseSeed([]byte(seed)); err != nil {
			t.Errorf("issuer %s: %v", issuer, err)
		}
	}
}

// seedWith builds a one-tenant seed around the given tenant and user JSON fragments.
func seedWith(tenant, users string) string {
	if tenant == "" {
		tenant = `{"id":"acme","name":"Acme"}`
	}
	return `{"tenants":[` + tenant + `],"users":[` + users + `]}`
}

const okUser = `{"email":"ok@acme.example","tenant":"acme","role":"admin","password":"long-enough-pw"}`

func TestParseSeedRefuses(t *testing.T) {
	tests := []struct {
		name string
		seed string
		want string
	}{
		{"not JSON", `{"tenants": [`, "not valid JSON"},
		{"syntax error shows line, not content", "{\"tenants\": [],\n \"users\": [{\"password\": \"hunter2\" x}]}", "line 2, column"},
		{"trailing data", seedWith("", okUser) + ` {}`, "unexpected data after the JSON value"},
		{"top level array", `[]`, "the seed must be a JSON object, not an array"},
		{"empty input", ``, "empty input"},
		{"no tenants", `{"tenants":[],"users":[]}`, "seed has no tenants"},
		{"unknown top-level field", `{"tenants":[],"user":[]}`, `unknown field "user"`},
		{"unknown tenant field", seedWith(`{"id":"acme","name":"Acme","billing":"x"}`, okUser), `tenants[0]: unknown field "billing"`},
		{"unknown user field", seedWith("", `{"email":"a@acme.example","tenant":"acme","role":"admin","passwd":"long-enough-pw"}`), `users[0]: unknown field "passwd"`},
		{"user is not an object", seedWith("", `"a@acme.example"`), "users[0]: a user must be a JSON object, not a string"},
		{"role is a number", seedWith("", `{"email":"a@acme.example","tenant":"acme","role":1,"password":"long-enough-pw"}`), `users[0]: field "role" must be a string, not a number`},
		{"break_glass not a list", seedWith(`{"id":"acme","name":"Acme","break_glass":"a@acme.example"}`, okUser), `tenants[0]: field "break_glass" must be a list, not a string`},

		{"tenant id upper case", seedWith(`{"id":"Acme","name":"Acme"}`, ""), `tenants[0]: id "Acme" must be`},
		{"tenant id leading hyphen", seedWith(`{"id":"-acme","name":"Acme"}`, ""), `tenants[0]: id "-acme" must be`},
		{"tenant id empty", seedWith(`{"name":"Acme"}`, ""), `tenants[0]: id "" must be`},
		{"tenant id too long", seedWith(`{"id":"`+strings.Repeat("a", 64)+`","name":"Acme"}`, ""), `tenants[0]: id`},
		{"tenant id with dot", seedWith(`{"id":"ac.me","name":"Acme"}`, ""), `tenants[0]: id "ac.me" must be`},
		{"duplicate tenant", `{"tenants":[{"id":"acme","name":"A"},{"id":"acme","name":"B"}]}`, `tenants[1]: id "acme" is already used by tenants[0]`},
		{"tenant without name", seedWith(`{"id":"acme"}`, ""), "tenants[0]: name is required"},
		{"tenant name with newline", seedWith(`{"id":"acme","name":"A\ncme"}`, ""), "tenants[0]: name contains control characters"},
		{"bad billing email", seedWith(`{"id":"acme","name":"Acme","billing_email":"billing.acme.example"}`, ""), "tenants[0]: billing_email \"billing.acme.example\" must contain exactly one @"},

		{"email without @", seedWith("", `{"email":"a.acme.example","tenant":"acme","role":"admin","password":"long-enough-pw"}`), "users[0]: email \"a.acme.example\" must contain exactly one @"},
		{"email with two @", seedWith("", `{"email":"a@b@acme.example","tenant":"acme","role":"admin","password":"long-enough-pw"}`), "users[0]: email \"a@b@acme.example\" must contain exactly one @"},
		{"email with nothing before @", seedWith("", `{"email":"@acme.example","tenant":"acme","role":"admin","password":"long-enough-pw"}`), "users[0]: email \"@acme.example\" needs text before and after"},
		{"email with space", seedWith("", `{"email":"a b@acme.example","tenant":"acme","role":"admin","password":"long-enough-pw"}`), "contains spaces"},
		{"email missing", seedWith("", `{"tenant":"acme","role":"admin","password":"long-enough-pw"}`), "users[0]: email is required"},
		{"unknown tenant", seedWith("", `{"email":"a@acme.example","tenant":"nope","role":"admin","password":"long-enough-pw"}`), `users[0]: tenant "nope" is not one of the seed's tenants`},
		{"tenant missing", seedWith("", `{"email":"a@acme.example","role":"admin","password":"long-enough-pw"}`), "users[0]: tenant is required"},
		{"bad role", seedWith("", okUser+`,{"email":"b@acme.example","tenant":"acme","role":"owner","password":"long-enough-pw"}`), "users[1]: role must be admin or member"},
		{"role case", seedWith("", `{"email":"b@acme.example","tenant":"acme","role":"Admin","password":"long-enough-pw"}`), "users[0]: role must be admin or member"},
		{"role missing", seedWith("", `{"email":"b@acme.example","tenant":"acme","password":"long-enough-pw"}`), "users[0]: role must be admin or member"},
		{"both password and hash", seedWith("", `{"email":"a@acme.example","tenant":"acme","role":"admin","password":"long-enough-pw","password_hash":"`+openBSDVector+`"}`), "users[0]: give either password or password_hash, not both"},
		{"neither password nor hash", seedWith("", `{"email":"a@acme.example","tenant":"acme","role":"admin"}`), "users[0]: password or password_hash is required"},
		{"short password", seedWith("", `{"email":"a@acme.example","tenant":"acme","role":"admin","password":"hunter2"}`), "users[0]: password must be at least 8 characters"},
		{"short password in multibyte characters", seedWith("", `{"email":"a@acme.example","tenant":"acme","role":"admin","password":"ééééééé"}`), "at least 8 characters"},
		{"bad hash", seedWith("", `{"email":"a@acme.example","tenant":"acme","role":"admin","password_hash":"$argon2id$v=19$m=524288,t=2,p=1$dmVjdGlzLXNhbHQtMDAwMQ$NjG2cQpbMIgcU+2xjK3K1sCb8Co2ZXUMw1EQgF/U9bk"}`), "users[0]: password_hash: argon2id memory m=524288 KiB is above the limit"},
		{"plain text in hash field", seedWith("", `{"email":"a@acme.example","tenant":"acme","role":"admin","password_hash":"hunter2hunter2"}`), "users[0]: password_hash: password hash is not an argon2id"},
		{"duplicate email ignoring case", seedWith("", okUser+`,{"email":"OK@Acme.Example","tenant":"acme","role":"member","password":"long-enough-pw"}`), "users[1]: email ok@acme.example is already used by users[0]"},

		{"break-glass not a user", seedWith(`{"id":"acme","name":"Acme","break_glass":["ghost@acme.example"]}`, okUser), "tenants[0].break_glass[0]: ghost@acme.example is not one of the seed's users"},
		{"break-glass is a member", seedWith(`{"id":"acme","name":"Acme","break_glass":["m@acme.example"]}`, `{"email":"m@acme.example","tenant":"acme","role":"member","password":"long-enough-pw"}`), "tenants[0].break_glass[0]: m@acme.example must have role admin"},
		{"break-glass of another tenant", `{"tenants":[{"id":"acme","name":"A","break_glass":["b@beta.example"]},{"id":"beta","name":"B"}],"users":[{"email":"b@beta.example","tenant":"beta","role":"admin","password":"long-enough-pw"}]}`, `tenants[0].break_glass[0]: b@beta.example belongs to tenant "beta", not "acme"`},
		{"break-glass listed twice", seedWith(`{"id":"acme","name":"Acme","break_glass":["ok@acme.example","OK@acme.example"]}`, okUser), "tenants[0].break_glass[1]: ok@acme.example is listed twice"},

		{"sso not an object", seedWith(`{"id":"acme","name":"Acme","sso":"okta"}`, okUser), "tenants[0]: sso must be a JSON object"},
		{"sso unknown provider", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"auth0","issuer":"https://x.example","client_id":"c","client_secret":"s"}}`, okUser), `tenants[0]: sso.provider "auth0" must be one of`},
		{"sso missing client id", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"google","client_secret":"s"}}`, okUser), "tenants[0]: sso.client_id is required"},
		{"sso missing client secret", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"google","client_id":"c"}}`, okUser), "tenants[0]: sso.client_secret is required"},
		{"sso okta without issuer", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"okta","client_id":"c","client_secret":"s"}}`, okUser), "tenants[0]: sso.issuer is required for provider okta"},
		{"sso extra field not a string", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"entra","client_id":"c","client_secret":"s","tenant_id":5}}`, okUser), "tenants[0]: sso.tenant_id must be a string"},
		{"sso enabled flag is not a field", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"google","client_id":"c","client_secret":"s","enabled":false}}`, okUser), "tenants[0]: sso.enabled must be a string"},
		{"sso odd field name", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"google","client_id":"c","client_secret":"s","Tenant-ID":"x"}}`, okUser), `sso field "Tenant-ID" is not a valid provider field name`},
		{"sso http issuer for okta", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"okta","issuer":"http://127.0.0.1/","client_id":"c","client_secret":"s"}}`, okUser), "must use https"},
		{"sso http issuer off loopback", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"oidc","issuer":"http://idp.example.com","client_id":"c","client_secret":"s"}}`, okUser), "must use https"},
		{"sso http issuer on look-alike host", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"oidc","issuer":"http://127.0.0.1.evil.example","client_id":"c","client_secret":"s"}}`, okUser), "must use https"},
		{"sso issuer not absolute", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"oidc","issuer":"idp.example.com","client_id":"c","client_secret":"s"}}`, okUser), "must be an absolute https URL"},
		{"sso issuer with query", seedWith(`{"id":"acme","name":"Acme","sso":{"provider":"oidc","issuer":"https://idp.example.com/?x=1","client_id":"c","client_secret":"s"}}`, okUser), "without query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSeed([]byte(tt.seed))
			if err == nil {
				t.Fatalf("ParseSeed accepted it: %v", s)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain %q", err, tt.want)
			}
			for _, secret := range []string{"hunter2", "long-enough-pw", "ééééééé", `"s"`} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error contains the secret %q: %v", secret, err)
				}
			}
		})
	}
}

func TestParseSeedReportsEveryProblem(t *testing.T) {
	seed := seedWith("", `{"email":"x","tenant":"acme","role":"admin","password":"long-enough-pw"},
		{"email":"y@acme.example","tenant":"nope","role":"boss","password":"short"}`)
	_, err := ParseSeed([]byte(seed))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"users[0]: email", `users[1]: tenant "nope"`, "users[1]: role", "users[1]: password must be"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// A huge broken file yields a bounded message.
	var users []string
	for i := range 100 {
		users = append(users, fmt.Sprintf(`{"email":"u%d@acme.example","tenant":"acme","role":"x","password":"long-enough-pw"}`, i))
	}
	_, err = ParseSeed([]byte(seedWith("", strings.Join(users, ","))))
	if lines := strings.Count(err.Error(), "\n") + 1; lines != maxErrorsShown+1 || !strings.Contains(err.Error(), "and 80 more problems") {
		t.Errorf("got %d lines:\n%v", lines, err)
	}
}

// sealRecorder stands in for keys.Ring.Seal: it records what it sealed and returns an opaque value.
type sealRecorder struct {
	sealed [][]byte
	err    error
}

func (s *sealRecorder) seal(pt []byte) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	s.sealed = append(s.sealed, bytes.Clone(pt))
	return append([]byte("SEALED:"), byte(len(s.sealed))), nil
}

var opID = regexp.MustCompile(`^op_[a-z2-7]{20}$`)

func TestImport(t *testing.T) {
	s, err := ParseSeed([]byte(validSeed))
	if err != nil {
		t.Fatal(err)
	}
	st := newFakeStore()
	rec := &sealRecorder{}
	h := NewHasher(0)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := Import(context.Background(), st, s, h, rand.NewChaCha8([32]byte{4}), rec.seal, now)
	if err != nil {
		t.Fatal(err)
	}
	if res != (ImportResult{Tenants: 2, Operators: 4}) {
		t.Errorf("result = %+v", res)
	}

	acme := st.tenants["acme"]
	if acme.Name != "Acme MSP" || acme.BillingEmail != "billing@acme.example" || !slices.Equal(acme.BreakGlass, []string{"alice@acme.example"}) || !acme.CreatedAt.Equal(now) {
		t.Errorf("acme = %+v", acme)
	}
	if !acme.IsBreakGlass("Alice@acme.example") {
		t.Error("alice is not break-glass")
	}
	sso := acme.SSO
	if sso == nil || !sso.Enabled || sso.Provider != "entra" || sso.ClientID != "cid-1" || sso.Issuer != "https://login.microsoftonline.com/0000/v2.0" || sso.Extra["tenant_id"] != "0000" {
		t.Fatalf("acme SSO = %+v", sso)
	}
	if string(sso.ClientSecretSealed) != "SEALED:\x01" || len(rec.sealed) != 1 || string(rec.sealed[0]) != ssoSecret {
		t.Errorf("client secret not sealed as expected: stored %q, sealed %q", sso.ClientSecretSealed, rec.sealed)
	}
	if st.tenants["beta-2"].SSO != nil {
		t.Error("beta got SSO")
	}

	ids := map[string]bool{}
	for _, o := range st.operators {
		if !opID.MatchString(o.ID) {
			t.Errorf("operator id %q", o.ID)
		}
		if ids[o.ID] {
			t.Errorf("duplicate id %q", o.ID)
		}
		ids[o.ID] = true
		if !o.CreatedAt.Equal(now) || o.Disabled {
			t.Errorf("operator %s: %+v", o.Email, o)
		}
	}
	alice, ok := st.operators["alice@acme.example"]
	if !ok || alice.TenantID != "acme" || alice.Role != RoleAdmin {
		t.Fatalf("alice = %+v (emails must be stored normalized)", alice)
	}
	if strings.Contains(alice.PasswordHash, alicePassword) || !strings.HasPrefix(alice.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("alice hash = %q", alice.PasswordHash)
	}
	for email, pw := range map[string]string{"alice@acme.example": alicePassword, "bob@beta.example": bobPassword,
		"carol@acme.example": "correct horse battery staple", "dave@beta.example": "U*U"} {
		ok, err := h.Verify(context.Background(), st.operators[email].PasswordHash, pw)
		if !ok || err != nil {
			t.Errorf("%s: password does not verify: %v %v", email, ok, err)
		}
	}
	if st.operators["dave@beta.example"].PasswordHash != openBSDVector {
		t.Error("imported bcrypt hash was not kept verbatim")
	}

	// Importing again refuses: the tenants exist now.
	res, err = Import(context.Background(), st, s, h, rand.NewChaCha8([32]byte{5}), rec.seal, now)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), `tenants[0]: tenant "acme" already exists`) || res != (ImportResult{}) {
		t.Errorf("second import = %+v, %v", res, err)
	}
}

func TestImportIsDeterministicGivenTheReader(t *testing.T) {
	s, _ := ParseSeed([]byte(validSeed))
	run := func() map[string]Operator {
		st := newFakeStore()
		if _, err := Import(context.Background(), st, s, NewHasher(0), rand.NewChaCha8([32]byte{6}), (&sealRecorder{}).seal, time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		return st.operators
	}
	a, b := run(), run()
	for email := range a {
		if a[email] != b[email] {
			t.Errorf("%s differs between runs with the same reader", email)
		}
	}
}

func TestImportWritesNothingOnEarlyFailure(t *testing.T) {
	s, _ := ParseSeed([]byte(validSeed))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	existing := func(st *fakeStore) {
		st.operators["bob@beta.example"] = Operator{ID: "op_x", Email: "bob@beta.example"}
	}

	tests := []struct {
		name    string
		ctx     context.Context
		prepare func(*fakeStore)
		seal    func([]byte) ([]byte, error)
		hasher  *Hasher
		r       func() *bytes.Reader
		want    string
	}{
		{"email already in store", context.Background(), existing, (&sealRecorder{}).seal, NewHasher(0), nil, "users[2]: bob@beta.example already exists"},
		{"store lookup fails", context.Background(), func(st *fakeStore) { st.failGet = errors.New("store down") }, (&sealRecorder{}).seal, NewHasher(0), nil, "tenants[0]: checking for tenant \"acme\": store down"},
		{"sealing fails", context.Background(), nil, (&sealRecorder{err: errors.New("no key")}).seal, NewHasher(0), nil, "tenants[0]: sealing the SSO client secret: no key"},
		{"no sealer", context.Background(), nil, nil, NewHasher(0), nil, "tenants[0]: cannot store the SSO client secret"},
		{"no hasher", context.Background(), nil, (&sealRecorder{}).seal, nil, nil, "users[0]: cannot hash the password"},
		{"context cancelled", cancelled, nil, (&sealRecorder{}).seal, NewHasher(0), nil, "users[0]: hashing password: context canceled"},
		{"randomness runs out", context.Background(), nil, (&sealRecorder{}).seal, NewHasher(0), func() *bytes.Reader { return bytes.NewReader(make([]byte, 30)) }, "users[0]: hashing password: reading salt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			if tt.prepare != nil {
				tt.prepare(st)
			}
			before := len(st.operators)
			var r io.Reader = rand.NewChaCha8([32]byte{7})
			if tt.r != nil {
				r = tt.r()
			}
			res, err := Import(tt.ctx, st, s, tt.hasher, r, tt.seal, time.Unix(0, 0))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Import error = %v; want it to contain %q", err, tt.want)
			}
			if res != (ImportResult{}) || len(st.tenants) != 0 || len(st.operators) != before {
				t.Errorf("wrote despite failing: result %+v, %d tenants, %d operators", res, len(st.tenants), len(st.operators))
			}
			for _, secret := range []string{alicePassword, bobPassword, ssoSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error contains a secret: %v", err)
				}
			}
		})
	}
}

func TestImportReportsPartialStoreFailure(t *testing.T) {
	s, _ := ParseSeed([]byte(validSeed))
	st := newFakeStore()
	st.failCreateAfter = 3
	res, err := Import(context.Background(), st, s, NewHasher(0), rand.NewChaCha8([32]byte{8}), (&sealRecorder{}).seal, time.Unix(0, 0))
	if err == nil || !strings.Contains(err.Error(), "users[2]: storing bob@beta.example: disk full") {
		t.Fatalf("err = %v", err)
	}
	if res != (ImportResult{Tenants: 2, Operators: 2}) {
		t.Errorf("result = %+v, want 2 tenants and 2 operators written", res)
	}
	if strings.Contains(err.Error(), bobPassword) {
		t.Error("error contains the password")
	}
}

func TestImportValidatesHandBuiltSeeds(t *testing.T) {
	// Callers may build a Seed without ParseSeed (the CLI's user add); Import must not trust it.
	s := Seed{
		Tenants: []SeedTenant{{ID: "acme", Name: "Acme"}},
		Users:   []SeedUser{{Email: "a@acme.example", Tenant: "acme", Role: "root", Password: "pw"}},
	}
	st := newFakeStore()
	_, err := Import(context.Background(), st, s, NewHasher(0), rand.NewChaCha8([32]byte{}), nil, time.Unix(0, 0))
	if err == nil || !strings.Contains(err.Error(), "users[0]: role must be admin or member") || len(st.tenants) != 0 {
		t.Fatalf("Import = %v with %d tenants written", err, len(st.tenants))
	}
	if strings.Contains(err.Error(), `"pw"`) || strings.Contains(err.Error(), " pw") {
		t.Errorf("error contains the password: %v", err)
	}
}
