package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/vectis/mfa-gateway/internal/admin"
	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/keys"
	"github.com/vectis/mfa-gateway/internal/sso"
	"github.com/vectis/mfa-gateway/internal/store"
)

const apiSeed = `{"tenants":[
	{"id":"acme","name":"Acme MSP","billing_email":"billing@acme.example"},
	{"id":"beta","name":"Beta MSP","billing_email":"billing@beta.example"}],
 "users":[
	{"email":"admin@acme.example","tenant":"acme","role":"admin","password":"acme admin pw"},
	{"email":"tech@acme.example","tenant":"acme","role":"member","password":"acme tech pw"},
	{"email":"boss@beta.example","tenant":"beta","role":"admin","password":"beta boss pw"}]}`

// apiEnv is a provisioned vectis_mfa handler on a bolt file with the seed above, and the admin API that
// finds it the way Caddy's admin server would (through the live-handler registry).
type apiEnv struct {
	t     *testing.T
	h     *Handler
	route caddy.AdminHandler
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	dataDir(t)
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seed, []byte(apiSeed), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &Handler{SecretKey: testKeyB64, Seed: seed, Storage: &Storage{Type: "bolt", Path: filepath.Join(dir, "g.db")}}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	routes := new(AdminAPI).Routes()
	if len(routes) != 1 || routes[0].Pattern != "/vectis/" {
		t.Fatalf("routes = %+v", routes)
	}
	return &apiEnv{t: t, h: h, route: routes[0].Handler}
}

// answer is one admin API response as Caddy's admin server would send it.
type answer struct {
	status int
	body   string
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(a.body), v); err != nil {
		t.Fatalf("answer %d is not the JSON expected: %v\n%s", a.status, err, a.body)
	}
}

func (a answer) errorText() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(a.body), &e)
	return e.Error
}

// serveAdmin runs an admin handler and writes its error the way Caddy's admin server does
// (admin.go, handleError): the APIError's status, and {"error": message}.
func serveAdmin(h caddy.AdminHandler, w http.ResponseWriter, r *http.Request) {
	err := h.ServeHTTP(w, r)
	if err == nil {
		return
	}
	var apiErr caddy.APIError
	if !errors.As(err, &apiErr) {
		apiErr = caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	if apiErr.HTTPStatus == 0 {
		apiErr.HTTPStatus = http.StatusInternalServerError
	}
	if apiErr.Message == "" && apiErr.Err != nil {
		apiErr.Message = apiErr.Err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(apiErr.HTTPStatus)
	_ = json.NewEncoder(w).Encode(apiErr)
}

// do sends a request with a JSON content type (unless the method is GET); hdr is extra headers as pairs.
func (e *apiEnv) do(method, path, body string, hdr ...string) answer {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if method != http.MethodGet {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	serveAdmin(e.route, w, r)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return answer{status: w.Code, body: w.Body.String()}
}

func (e *apiEnv) want(a answer, status int, contains ...string) {
	e.t.Helper()
	if a.status != status {
		e.t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	for _, c := range contains {
		if !strings.Contains(a.body, c) {
			e.t.Errorf("answer does not contain %q: %s", c, a.body)
		}
	}
}

func (e *apiEnv) store() store.Store {
	e.t.Helper()
	st, err := e.h.store.open(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *apiEnv) operator(email string) directory.Operator {
	e.t.Helper()
	o, err := e.store().OperatorByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatalf("%s: %v", email, err)
	}
	return o
}

func (e *apiEnv) events(tenant string) []audit.Event {
	e.t.Helper()
	a := e.do(http.MethodGet, "/vectis/tenants/"+tenant+"/audit?limit=1000", "")
	e.want(a, http.StatusOK)
	var evs []audit.Event
	a.decode(e.t, &evs)
	return evs
}

func TestAdminAPIModule(t *testing.T) {
	info := AdminAPI{}.CaddyModule()
	if info.ID != "admin.api.vectis" {
		t.Errorf("module id %q", info.ID)
	}
	if _, ok := info.New().(caddy.AdminRouter); !ok {
		t.Error("the module is not an AdminRouter")
	}
}

func TestAdminAPITenants(t *testing.T) {
	e := newAPIEnv(t)
	a := e.do(http.MethodPost, "/vectis/tenants", `{"id":"gamma","name":"Gamma IT","billing_email":"billing@gamma.example"}`)
	e.want(a, http.StatusCreated, `"id":"gamma"`)

	var list []admin.TenantInfo
	a = e.do(http.MethodGet, "/vectis/tenants", "")
	e.want(a, http.StatusOK)
	a.decode(t, &list)
	if len(list) != 3 || list[0].ID != "acme" || list[2].ID != "gamma" {
		t.Errorf("list = %+v", list)
	}
	var show admin.TenantInfo
	a = e.do(http.MethodGet, "/vectis/tenants/acme", "")
	e.want(a, http.StatusOK)
	a.decode(t, &show)
	if show.Operators == nil || *show.Operators != 2 || show.BillingEmail != "billing@acme.example" {
		t.Errorf("show = %+v", show)
	}
	if a.body[0] == '[' || !strings.HasSuffix(a.body, "\n") {
		t.Errorf("show answer %q", a.body)
	}

	cases := []struct {
		name, method, path, body string
		status                   int
		says                     string
	}{
		{"unknown tenant", "GET", "/vectis/tenants/nope", "", 404, "no such operator or tenant"},
		{"duplicate", "POST", "/vectis/tenants", `{"id":"acme","name":"Again"}`, 409, `tenant \"acme\" already exists`},
		{"invalid id", "POST", "/vectis/tenants", `{"id":"Not_OK","name":"x"}`, 400, "lower-case letters"},
		{"unknown field", "POST", "/vectis/tenants", `{"id":"delta","nmae":"x"}`, 400, `unknown field \"nmae\"`},
		{"wrong type", "POST", "/vectis/tenants", `{"id":"delta","name":7}`, 400, `field \"name\" must be a JSON string`},
		{"not an object", "POST", "/vectis/tenants", `["delta"]`, 400, "must be a JSON object"},
		{"bad JSON", "POST", "/vectis/tenants", `{"id":"delta",`, 400, "not valid JSON"},
		{"trailing data", "POST", "/vectis/tenants", `{"id":"delta","name":"D"} {"id":"x"}`, 400, "unexpected data after the JSON object"},
		{"too large", "POST", "/vectis/tenants", `{"id":"delta","name":"` + strings.Repeat("x", maxBodyBytes) + `"}`, 413, "larger than"},
		{"no endpoint", "GET", "/vectis/nothing", "", 404, "no vectis admin endpoint at /vectis/nothing"},
		{"wrong method", "DELETE", "/vectis/tenants", "", 405, "allowed: GET, POST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.want(e.do(tc.method, tc.path, tc.body), tc.status, tc.says)
		})
	}
	e.t = t
	if _, err := e.store().GetTenant(context.Background(), "delta"); !errors.Is(err, directory.ErrNotFound) {
		t.Error("a refused request created tenant delta")
	}

	// Without Content-Type: application/json a change is refused (a web page cannot send that type
	// cross-site without a preflight), and nothing happens.
	r := httptest.NewRequest(http.MethodPost, "/vectis/tenants", strings.NewReader(`{"id":"delta","name":"D"}`))
	r.Header.Set("Content-Type", "text/plain")
	w := httptest.NewRecorder()
	serveAdmin(e.route, w, r)
	if w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain POST: %d %s", w.Code, w.Body)
	}
	if _, err := e.store().GetTenant(context.Background(), "delta"); !errors.Is(err, directory.ErrNotFound) {
		t.Error("a text/plain POST created a tenant")
	}
}

func TestAdminAPISSO(t *testing.T) {
	e := newAPIEnv(t)
	const secret = "the-client-secret-value"
	body := `{"provider":"oidc","issuer":"http://127.0.0.1:9999/oidc","client_id":"beta-client","client_secret":"` + secret + `","extra":{"jit":"true"}}`
	a := e.do(http.MethodPut, "/vectis/tenants/beta/sso", body, "Vectis-Actor", "alice")
	e.want(a, http.StatusOK, `"client_secret_set":true`, `"enabled":false`)
	if strings.Contains(a.body, secret) {
		t.Fatalf("the answer carries the client secret: %s", a.body)
	}
	tn, err := e.store().GetTenant(context.Background(), "beta")
	if err != nil || tn.SSO == nil || bytes.Contains(tn.SSO.ClientSecretSealed, []byte(secret)) || tn.SSO.Extra["jit"] != "true" {
		t.Fatalf("stored %+v %v", tn.SSO, err)
	}
	// Sealed under the configured key and bound to the tenant, as the SSO sign-in opens it.
	ring, err := keys.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := ring.Open(tn.SSO.ClientSecretSealed, sso.SecretAAD("beta")); err != nil || string(p) != secret {
		t.Errorf("the stored secret does not open as beta's: %v", err)
	}
	if _, err := ring.Open(tn.SSO.ClientSecretSealed, sso.SecretAAD("acme")); err == nil {
		t.Error("beta's secret opens as acme's")
	}

	e.want(e.do(http.MethodGet, "/vectis/tenants/beta", ""), http.StatusOK, `"provider":"oidc"`)
	e.want(e.do(http.MethodPost, "/vectis/tenants/beta/sso/enable", ""), http.StatusOK, `"enabled":true`, "break-glass")
	e.want(e.do(http.MethodPost, "/vectis/tenants/acme/sso/enable", ""), http.StatusConflict, "no SSO settings")
	e.want(e.do(http.MethodPost, "/vectis/tenants/beta/sso/enable", `{"force":true}`), http.StatusBadRequest, `unknown field \"force\"`)
	e.want(e.do(http.MethodPut, "/vectis/tenants/beta/sso", `{"provider":"okta","client_id":"x","client_secret":"y"}`), http.StatusBadRequest, "issuer is required for Okta")
	e.want(e.do(http.MethodPut, "/vectis/tenants/beta/sso", `{"provider":"oidc","client_id":"x","client_secret":"y","secret":"z"}`), http.StatusBadRequest, `unknown field \"secret\"`)

	e.want(e.do(http.MethodPost, "/vectis/tenants/beta/break-glass", `{"email":"boss@beta.example"}`), http.StatusOK, `"break_glass":["boss@beta.example"]`)
	e.want(e.do(http.MethodPost, "/vectis/tenants/beta/break-glass", `{"email":"admin@acme.example"}`), http.StatusNotFound)
	e.want(e.do(http.MethodDelete, "/vectis/tenants/beta/break-glass/boss@beta.example", ""), http.StatusOK)
	e.want(e.do(http.MethodDelete, "/vectis/tenants/beta/break-glass/boss@beta.example", ""), http.StatusNotFound, "not a break-glass admin")
	e.want(e.do(http.MethodPost, "/vectis/tenants/beta/sso/disable", ""), http.StatusOK, `"enabled":false`)

	evs := e.events("beta")
	types := map[string]string{}
	for _, ev := range evs {
		types[ev.Type] = ev.Actor
		if strings.Contains(fmt.Sprint(ev), secret) {
			t.Errorf("an audit event carries the secret: %+v", ev)
		}
	}
	for _, want := range []string{admin.EventSSOUpdated, audit.SSOEnabled, audit.SSODisabled, admin.EventBreakGlassAdded, admin.EventBreakGlassRemoved} {
		if _, ok := types[want]; !ok {
			t.Errorf("no %s event in %v", want, types)
		}
	}
	if types[admin.EventSSOUpdated] != "cli:alice" || types[audit.SSOEnabled] != "cli" {
		t.Errorf("actors %v", types)
	}
}

func TestAdminAPIUsers(t *testing.T) {
	e := newAPIEnv(t)
	const pw = "new operator password"
	a := e.do(http.MethodPost, "/vectis/tenants/beta/users", `{"email":"New@Beta.example","role":"member","password":"`+pw+`"}`)
	e.want(a, http.StatusCreated, `"email":"new@beta.example"`, `"method":"password"`)
	if strings.Contains(a.body, pw) || strings.Contains(a.body, "argon2") {
		t.Errorf("the answer shows the password or its hash: %s", a.body)
	}
	if op := e.operator("new@beta.example"); !strings.HasPrefix(op.PasswordHash, "$argon2id$") {
		t.Errorf("stored hash %q", op.PasswordHash)
	}
	a = e.do(http.MethodPost, "/vectis/tenants/beta/users", `{"email":"x@beta.example","password":"short"}`)
	e.want(a, http.StatusBadRequest, "password must be at least 8 characters")
	if strings.Contains(a.body, `"short"`) {
		t.Error("the refusal echoes the password")
	}
	e.want(e.do(http.MethodPost, "/vectis/tenants/beta/users", `{"email":"tech@acme.example","password":"`+pw+`"}`), http.StatusConflict, "already exists")

	var rows []admin.UserRow
	a = e.do(http.MethodGet, "/vectis/tenants/acme/users", "")
	e.want(a, http.StatusOK)
	a.decode(t, &rows)
	if len(rows) != 2 || rows[0].Email != "admin@acme.example" || rows[1].Role != "member" {
		t.Errorf("rows %+v", rows)
	}

	tech := e.operator("tech@acme.example")
	for _, step := range []struct{ action, user, done string }{
		{"disable", "tech@acme.example", `"done":"disabled"`},
		{"enable", tech.ID, `"done":"enabled"`},
		{"reset-mfa", "TECH@acme.example", `"done":"mfa reset"`},
		{"unlock", "tech@acme.example", `"done":"unlocked"`},
		{"sessions/revoke", "tech@acme.example", `"sessions_ended":0`},
	} {
		e.want(e.do(http.MethodPost, "/vectis/tenants/acme/users/"+step.user+"/"+step.action, ""), http.StatusOK, step.done, `"user":"`+tech.ID+`"`)
	}
	if e.operator("tech@acme.example").Disabled {
		t.Error("tech is still disabled after enable")
	}

	// Another tenant's operator is not found, by email or by id, and nothing changes.
	boss := e.operator("boss@beta.example")
	for _, action := range []string{"disable", "reset-mfa", "unlock", "sessions/revoke"} {
		for _, ref := range []string{"boss@beta.example", boss.ID} {
			e.want(e.do(http.MethodPost, "/vectis/tenants/acme/users/"+ref+"/"+action, ""), http.StatusNotFound, "no such operator")
		}
	}
	if e.operator("boss@beta.example").Disabled {
		t.Error("a cross-tenant disable went through")
	}
	for _, ev := range e.events("beta") {
		if ev.User == boss.ID && ev.Type != audit.OperatorAdded {
			t.Errorf("a cross-tenant action left event %+v", ev)
		}
	}
	e.want(e.do(http.MethodPost, "/vectis/tenants/acme/users/tech@acme.example/disable", `{"now":true}`), http.StatusBadRequest, "unknown field")
	e.want(e.do(http.MethodGet, "/vectis/tenants/acme/users/tech@acme.example/disable", ""), http.StatusMethodNotAllowed)

	types := map[string]bool{}
	for _, ev := range e.events("acme") {
		types[ev.Type] = true
	}
	for _, want := range []string{audit.OperatorDisabled, audit.OperatorEnabled, audit.MFAReset, audit.Unlock, audit.SessionsRevoked} {
		if !types[want] {
			t.Errorf("no %s event: %v", want, types)
		}
	}
	e.want(e.do(http.MethodGet, "/vectis/tenants/acme/audit?limit=x", ""), http.StatusBadRequest, "limit must be a number")
	e.want(e.do(http.MethodGet, "/vectis/tenants/acme/audit?limit=0", ""), http.StatusBadRequest, "limit must be between 1 and 1000")
	e.want(e.do(http.MethodGet, "/vectis/tenants/nope/audit", ""), http.StatusNotFound)
}

func TestAdminAPIImport(t *testing.T) {
	e := newAPIEnv(t)
	doc := `{"tenants":[{"id":"gamma","name":"Gamma"}],"users":[
		{"email":"g@gamma.example","tenant":"gamma","role":"admin","password":"gamma admin pw"},
		{"email":"joiner@acme.example","tenant":"acme","role":"member","password":"joiner pw 123"}]}`
	e.want(e.do(http.MethodPost, "/vectis/import", doc), http.StatusCreated, `{"tenants":1,"operators":2}`)
	if op := e.operator("joiner@acme.example"); op.TenantID != "acme" {
		t.Errorf("joiner %+v", op)
	}
	a := e.do(http.MethodPost, "/vectis/import", `{"users":[{"email":"x@acme.example","tenant":"acme","role":"boss","password":"secret pw 1"}]}`)
	e.want(a, http.StatusBadRequest, "users[0]: role must be admin or member")
	if strings.Contains(a.body, "secret pw 1") {
		t.Error("the refusal shows the password")
	}
	e.want(e.do(http.MethodPost, "/vectis/import", doc), http.StatusConflict, `tenant \"gamma\" already exists`)
	e.want(e.do(http.MethodPost, "/vectis/import", `{"tenants":[{"id":"big","name":"`+strings.Repeat("x", maxImportBytes)+`"}]}`), http.StatusRequestEntityTooLarge)
}

func TestAdminAPISupport(t *testing.T) {
	e := newAPIEnv(t)
	send := func(body string) answer {
		return e.do(http.MethodPost, "/vectis/support/reset-mfa", body, "Vectis-Actor", "sam")
	}
	e.want(send(`{"tenant":"acme","user":"admin@acme.example","requester_email":"ceo@acme.example","ticket":"T-1"}`),
		http.StatusForbidden, "billing email")
	e.want(send(`{"tenant":"acme","user":"tech@acme.example","requester_email":"billing@acme.example","ticket":"T-2"}`),
		http.StatusForbidden, "not an admin")
	e.want(send(`{"tenant":"acme","user":"admin@acme.example","requester_email":"billing@acme.example"}`),
		http.StatusBadRequest, "ticket reference is required")
	e.want(send(`{"tenant":"acme","user":"boss@beta.example","requester_email":"billing@acme.example","ticket":"T-3"}`),
		http.StatusNotFound)
	e.want(send(`{"tenant":"acme","user":"admin@acme.example","requester_email":"billing@acme.example","ticket":"T-4","why":"x"}`),
		http.StatusBadRequest, `unknown field \"why\"`)

	denied := 0
	for _, ev := range e.events("acme") {
		if ev.Type == audit.SupportRecoveryDenied {
			denied++
			if ev.Actor != "support:sam" || ev.Reason == "" {
				t.Errorf("refusal event %+v", ev)
			}
		}
	}
	if denied != 4 {
		t.Errorf("%d refusals audited, want 4", denied)
	}

	a := send(`{"tenant":"acme","user":"Admin@acme.example","requester_email":" BILLING@acme.example ","ticket":"T-42","engineer":"Sam Support"}`)
	e.want(a, http.StatusOK, `"ticket":"T-42"`, `"user":"admin@acme.example"`)
	ev := e.events("acme")[0]
	if ev.Type != audit.SupportRecovery || ev.Actor != "support:Sam Support" || ev.Detail["ticket"] != "T-42" || ev.Time.IsZero() {
		t.Errorf("recovery event %+v", ev)
	}
}

func TestAdminAPIActorHeader(t *testing.T) {
	e := newAPIEnv(t)
	for _, bad := range []string{"two words", strings.Repeat("x", maxActorNameLength+1), "tab\there"} {
		e.want(e.do(http.MethodPost, "/vectis/tenants", `{"id":"delta","name":"D"}`, "Vectis-Actor", bad), http.StatusBadRequest, "Vectis-Actor")
	}
	e.want(e.do(http.MethodPost, "/vectis/tenants", `{"id":"delta","name":"D"}`, "Vectis-Actor", "root"), http.StatusCreated)
	if ev := e.events("delta")[0]; ev.Actor != "cli:root" || ev.Type != admin.EventTenantAdded {
		t.Errorf("event %+v", ev)
	}
}

func TestAdminAPIFindsOneStore(t *testing.T) {
	dataDir(t)
	route := new(AdminAPI).Routes()[0].Handler
	get := func() answer {
		w := httptest.NewRecorder()
		serveAdmin(route, w, httptest.NewRequest(http.MethodGet, "/vectis/tenants", nil))
		return answer{w.Code, w.Body.String()}
	}
	if a := get(); a.status != http.StatusServiceUnavailable || !strings.Contains(a.errorText(), "no vectis_mfa handler") {
		t.Errorf("with no handler: %d %s", a.status, a.body)
	}
	a := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "bolt", Path: filepath.Join(t.TempDir(), "a.db")}}
	if err := provision(t, a); err != nil {
		t.Fatal(err)
	}
	if r := get(); r.status != http.StatusOK || r.body != "[]\n" {
		t.Errorf("with one handler: %d %s", r.status, r.body)
	}
	b := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "bolt", Path: filepath.Join(t.TempDir(), "b.db")}}
	if err := provision(t, b); err != nil {
		t.Fatal(err)
	}
	if r := get(); r.status != http.StatusConflict || !strings.Contains(r.errorText(), "different storage") {
		t.Errorf("with two stores: %d %s", r.status, r.body)
	}
	// A handler sharing the first store is fine.
	if err := b.Cleanup(); err != nil {
		t.Fatal(err)
	}
	c := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "bolt", Path: a.cfg.Storage.Path}}
	if err := provision(t, c); err != nil {
		t.Fatal(err)
	}
	if r := get(); r.status != http.StatusOK {
		t.Errorf("two handlers, one store: %d %s", r.status, r.body)
	}
}
