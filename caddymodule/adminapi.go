package caddymodule

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/vectis/mfa-gateway/internal/admin"
	"github.com/vectis/mfa-gateway/internal/gateway"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI serves the gateway's ops endpoints under /vectis/ on Caddy's admin endpoint (loopback by
// default): tenants, SSO settings, break-glass admins, operators, session revocation, support's
// sole-admin recovery and the audit trail. The `vectis-gateway vectis …` CLI is its client. It acts on
// the store of the running vectis_mfa handler; every change is audited with the actor "cli" (and the
// name in the Vectis-Actor request header, when given).
//
// Requests that change something must be sent with Content-Type: application/json, which a web page
// cannot do across sites without a CORS preflight that this endpoint never grants. Bodies are JSON,
// decoded strictly: an unknown field is a 400 that names it.
//
//	GET    /vectis/tenants
//	POST   /vectis/tenants                                   {"id","name","billing_email"}
//	GET    /vectis/tenants/{tenant}
//	PUT    /vectis/tenants/{tenant}/sso                      {"provider","issuer","client_id","client_secret","extra"}
//	POST   /vectis/tenants/{tenant}/sso/enable
//	POST   /vectis/tenants/{tenant}/sso/disable
//	POST   /vectis/tenants/{tenant}/break-glass              {"email"}
//	DELETE /vectis/tenants/{tenant}/break-glass/{email}
//	GET    /vectis/tenants/{tenant}/users
//	POST   /vectis/tenants/{tenant}/users                    {"email","role","password" | "no_password"}
//	POST   /vectis/tenants/{tenant}/users/{user}/disable     ({user}: an email or an operator id)
//	POST   /vectis/tenants/{tenant}/users/{user}/enable
//	POST   /vectis/tenants/{tenant}/users/{user}/reset-mfa
//	POST   /vectis/tenants/{tenant}/users/{user}/unlock
//	POST   /vectis/tenants/{tenant}/users/{user}/sessions/revoke
//	GET    /vectis/tenants/{tenant}/audit?limit=N
//	POST   /vectis/import                                    a seed file: {"tenants":[…],"users":[…]}
//	POST   /vectis/support/reset-mfa                         {"tenant","user","requester_email","ticket","engineer"}
type AdminAPI struct {
	// ops finds the live gateway's operations; nil means the running vectis_mfa handler's (tests set it).
	ops func(ctx context.Context) (*admin.Ops, error)
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.vectis",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Request limits. A seed import of thousands of operators is a few MB and hashes every password; the rest
// are small and quick.
const (
	maxBodyBytes       = 64 << 10
	maxImportBytes     = 8 << 20
	apiTimeout         = 30 * time.Second
	importTimeout      = 10 * time.Minute
	maxActorNameLength = 64
)

// apiHandler is one endpoint: it writes a JSON answer, or returns an error (an APIError sets the status).
type apiHandler func(w http.ResponseWriter, r *http.Request, ops *admin.Ops, actor admin.Actor) error

type errSlot struct{}

// Routes returns the one route Caddy mounts; the endpoints below it are dispatched by method and path.
func (api *AdminAPI) Routes() []caddy.AdminRoute {
	mux := http.NewServeMux()
	handle := func(pattern string, limit int64, timeout time.Duration, h apiHandler) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			slot := r.Context().Value(errSlot{}).(*error)
			*slot = api.run(w, r, limit, timeout, h)
		})
	}
	handle("GET /vectis/tenants", 0, apiTimeout, listTenants)
	handle("POST /vectis/tenants", maxBodyBytes, apiTimeout, addTenant)
	handle("GET /vectis/tenants/{tenant}", 0, apiTimeout, showTenant)
	handle("PUT /vectis/tenants/{tenant}/sso", maxBodyBytes, apiTimeout, setSSO)
	handle("POST /vectis/tenants/{tenant}/sso/enable", maxBodyBytes, apiTimeout, ssoEnabled(true))
	handle("POST /vectis/tenants/{tenant}/sso/disable", maxBodyBytes, apiTimeout, ssoEnabled(false))
	handle("POST /vectis/tenants/{tenant}/break-glass", maxBodyBytes, apiTimeout, addBreakGlass)
	handle("DELETE /vectis/tenants/{tenant}/break-glass/{email}", maxBodyBytes, apiTimeout, removeBreakGlass)
	handle("GET /vectis/tenants/{tenant}/users", 0, apiTimeout, listUsers)
	handle("POST /vectis/tenants/{tenant}/users", maxBodyBytes, apiTimeout, addUser)
	for _, action := range []string{"disable", "enable", "reset-mfa", "unlock", "sessions/revoke"} {
		handle("POST /vectis/tenants/{tenant}/users/{user}/"+action, maxBodyBytes, apiTimeout, userAction(action))
	}
	handle("GET /vectis/tenants/{tenant}/audit", 0, apiTimeout, listAudit)
	handle("POST /vectis/import", maxImportBytes, importTimeout, importSeed)
	handle("POST /vectis/support/reset-mfa", maxBodyBytes, apiTimeout, supportReset)

	serve := func(w http.ResponseWriter, r *http.Request) error {
		if _, pattern := mux.Handler(r); pattern == "" {
			return noRoute(mux, r)
		}
		var err error
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), errSlot{}, &err)))
		return err
	}
	return []caddy.AdminRoute{{Pattern: "/vectis/", Handler: caddy.AdminHandlerFunc(serve)}}
}

// noRoute answers a path or method no endpoint serves, as JSON like every other answer here.
func noRoute(mux *http.ServeMux, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed,
			Err: fmt.Errorf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))}
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no vectis admin endpoint at %s", r.URL.Path)}
}

// run checks the request, finds the live gateway and calls h with a bounded context.
func (api *AdminAPI) run(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration, h apiHandler) error {
	if r.Method != http.MethodGet {
		// The CSRF defence: a cross-site form or fetch without preflight cannot send this type.
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/json" {
			return caddy.APIError{HTTPStatus: http.StatusUnsupportedMediaType,
				Err: errors.New("send requests that change something with Content-Type: application/json")}
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, max(limit, 1))
	actor, err := actorOf(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	find := api.ops
	if find == nil {
		find = liveOps
	}
	ops, err := find(ctx)
	if err != nil {
		return apiError(err)
	}
	return h(w, r.WithContext(ctx), ops, actor)
}

// actorOf is ops' identity for the audit trail: "cli", with the name the CLI sends (the local user).
func actorOf(r *http.Request) (admin.Actor, error) {
	a := admin.Actor{Kind: "cli"}
	name := r.Header.Get("Vectis-Actor")
	if name == "" {
		return a, nil
	}
	if len(name) > maxActorNameLength || strings.IndexFunc(name, func(c rune) bool { return c <= ' ' || c >= 0x7f }) >= 0 {
		return a, caddy.APIError{HTTPStatus: http.StatusBadRequest,
			Err: fmt.Errorf("the Vectis-Actor header must be 1 to %d printable characters without spaces", maxActorNameLength)}
	}
	a.Email = name
	return a, nil
}

// liveOps reaches the store of the running vectis_mfa handler. Admin API modules get no configuration of
// their own, so the handlers register themselves (see liveGateways).
func liveOps(ctx context.Context) (*admin.Ops, error) {
	hs := liveGateways()
	if len(hs) == 0 {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable,
			Err: errors.New("no vectis_mfa handler is running in this Caddy; check the config")}
	}
	newest := hs[len(hs)-1]
	for _, h := range hs {
		// Writing to one of several stores would be a guess; during a reload that changes the storage the old
		// and new handlers overlap for a moment, and a retry finds one.
		if h.store.key != newest.store.key {
			return nil, caddy.APIError{HTTPStatus: http.StatusConflict,
				Err: errors.New("this Caddy runs vectis_mfa handlers with different storage; the admin API needs exactly one store (or retry if a reload is under way)")}
		}
	}
	return newest.gw.Admin(ctx)
}

// apiError turns an operation's error into a status and a plain-words message.
func apiError(err error) error {
	var apiErr caddy.APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	status := http.StatusInternalServerError
	switch {
	case gateway.Unavailable(err), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	case errors.Is(err, admin.ErrInvalid), errors.Is(err, admin.ErrNoTicket):
		status = http.StatusBadRequest
	case errors.Is(err, admin.ErrForbidden), errors.Is(err, admin.ErrBadRequester), errors.Is(err, admin.ErrNotAdmin):
		status = http.StatusForbidden
	case errors.Is(err, admin.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, admin.ErrExists), errors.Is(err, admin.ErrConflict), errors.Is(err, admin.ErrNotPassword):
		status = http.StatusConflict
	}
	return caddy.APIError{HTTPStatus: status, Err: err}
}

// decode reads a JSON body strictly into v: one object, no unknown fields, nothing after it. An empty body
// is an empty object. The messages name fields and positions, never values, which may be passwords.
func decode(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return caddy.APIError{HTTPStatus: http.StatusRequestEntityTooLarge,
				Err: fmt.Errorf("request body is larger than %d bytes", tooBig.Limit)}
		}
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("reading the request body: %w", err)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	msg := err.Error()
	switch {
	case errors.As(err, &syn):
		msg = fmt.Sprintf("not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		msg = fmt.Sprintf("field %q must be a JSON %s, not %s", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value)
	case errors.As(err, &typ):
		msg = fmt.Sprintf("the body must be a JSON object, not %s", typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "not valid JSON (it ends too early)"
	default:
		msg = strings.TrimPrefix(msg, "json: ") // unknown field "x": names the field only
	}
	return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("request body: " + msg)}
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	return "number"
}

// noBody accepts an empty body or an empty JSON object, for actions that take no input.
func noBody(r *http.Request) error {
	var none struct{}
	return decode(r, &none)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}

func listTenants(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	ts, err := ops.ListTenants(r.Context(), a)
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, ts)
}

func addTenant(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	var in admin.TenantInput
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := ops.AddTenant(r.Context(), a, in)
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusCreated, t)
}

func showTenant(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	t, err := ops.ShowTenant(r.Context(), a, r.PathValue("tenant"))
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, t)
}

func setSSO(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	var in admin.SSOInput
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := ops.SetSSO(r.Context(), a, r.PathValue("tenant"), in)
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, t)
}

func ssoEnabled(enabled bool) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
		if err := noBody(r); err != nil {
			return err
		}
		t, err := ops.SetSSOEnabled(r.Context(), a, r.PathValue("tenant"), enabled)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, t)
	}
}

func addBreakGlass(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := ops.AddBreakGlass(r.Context(), a, r.PathValue("tenant"), in.Email)
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, t)
}

func removeBreakGlass(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	if err := noBody(r); err != nil {
		return err
	}
	t, err := ops.RemoveBreakGlass(r.Context(), a, r.PathValue("tenant"), r.PathValue("email"))
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, t)
}

func listUsers(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	rows, err := ops.ListUsers(r.Context(), a, r.PathValue("tenant"))
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, rows)
}

func addUser(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	var in admin.UserInput
	if err := decode(r, &in); err != nil {
		return err
	}
	row, err := ops.AddUser(r.Context(), a, r.PathValue("tenant"), in)
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusCreated, row)
}

// userResult is the answer to an action on one operator.
type userResult struct {
	Tenant        string `json:"tenant"`
	User          string `json:"user"`
	Email         string `json:"email"`
	Done          string `json:"done"`
	SessionsEnded *int   `json:"sessions_ended,omitempty"`
}

func userAction(action string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
		if err := noBody(r); err != nil {
			return err
		}
		ctx, tenant := r.Context(), r.PathValue("tenant")
		op, err := ops.ResolveUser(ctx, a, tenant, r.PathValue("user"))
		if err != nil {
			return apiError(err)
		}
		res := userResult{Tenant: tenant, User: op.ID, Email: op.Email}
		switch action {
		case "disable":
			err, res.Done = ops.SetDisabled(ctx, a, tenant, op.ID, true), "disabled"
		case "enable":
			err, res.Done = ops.SetDisabled(ctx, a, tenant, op.ID, false), "enabled"
		case "reset-mfa":
			err, res.Done = ops.ResetMFA(ctx, a, tenant, op.ID), "mfa reset"
		case "unlock":
			err, res.Done = ops.Unlock(ctx, a, tenant, op.ID), "unlocked"
		case "sessions/revoke":
			var n int
			n, err = ops.RevokeSessions(ctx, a, tenant, op.ID)
			res.Done, res.SessionsEnded = "sessions revoked", &n
		}
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, res)
	}
}

func listAudit(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("limit must be a number, not %q", s)}
		}
		limit = n
		if limit == 0 {
			limit = -1 // an explicit 0 is out of range, not "the default"
		}
	}
	events, err := ops.ListAudit(r.Context(), a, r.PathValue("tenant"), limit)
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, events)
}

func importSeed(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return caddy.APIError{HTTPStatus: http.StatusRequestEntityTooLarge,
				Err: fmt.Errorf("import is larger than %d bytes; split it", tooBig.Limit)}
		}
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("reading the request body: %w", err)}
	}
	res, err := ops.Import(r.Context(), a, data)
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusCreated, res)
}

// supportRequest is support's sole-admin recovery.
type supportRequest struct {
	Tenant         string `json:"tenant"`
	User           string `json:"user"`
	RequesterEmail string `json:"requester_email"`
	Ticket         string `json:"ticket"`
	// Engineer names the support engineer in the audit trail; default: the Vectis-Actor name.
	Engineer string `json:"engineer"`
}

func supportReset(w http.ResponseWriter, r *http.Request, ops *admin.Ops, a admin.Actor) error {
	var in supportRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	// Every refusal, a missing field included, goes through SupportResetMFA so that it is audited.
	engineer := cmp.Or(strings.TrimSpace(in.Engineer), a.Email)
	if err := ops.SupportResetMFA(r.Context(), engineer, in.Tenant, in.User, in.RequesterEmail, in.Ticket); err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, map[string]string{"tenant": in.Tenant, "user": strings.ToLower(strings.TrimSpace(in.User)),
		"ticket": strings.TrimSpace(in.Ticket), "done": "mfa reset"})
}

// Interface guards
var (
	_ caddy.Module      = (*AdminAPI)(nil)
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
