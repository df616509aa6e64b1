package caddymodule

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/credential"
	"github.com/vectis/mfa-gateway/internal/directory"
	"github.com/vectis/mfa-gateway/internal/gateway"
	"github.com/vectis/mfa-gateway/internal/lockout"
	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
)

// The gateway's metrics, served with Caddy's own on the admin endpoint's /metrics (and by a `metrics`
// handler, if the config has one). The collectors are process-wide, like Caddy's: a reload brings a new
// registry, and the counts carry on in it rather than starting again from zero. No label holds a tenant,
// an email or an address.
var metrics struct {
	once          sync.Once
	signIns       *prometheus.CounterVec
	lockouts      prometheus.Counter
	codeFailures  *prometheus.CounterVec
	ssoFailures   *prometheus.CounterVec
	storeDuration *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
}

func initMetrics() {
	metrics.once.Do(func() {
		const ns = "vectis"
		metrics.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "signins_total",
			Help: "Finished sign-in attempts by method (password, totp, recovery, sso) and result (success, failure, locked, throttled).",
		}, []string{"method", "result"})
		metrics.lockouts = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "lockouts_total",
			Help: "Operators locked out after too many wrong codes.",
		})
		metrics.codeFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "code_failures_total",
			Help: "Wrong second-factor codes by kind (totp, recovery).",
		}, []string{"kind"})
		metrics.ssoFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "sso_callback_failures_total",
			Help: "SSO callbacks that signed nobody in, by reason.",
		}, []string{"reason"})
		metrics.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "store_call_duration_seconds",
			Help:    "Latency of calls to the store (bolt or redis), by backend and operation.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 3},
		}, []string{"backend", "op"})
		metrics.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "store_errors_total",
			Help: "Store calls that failed (not counting answers such as not found), by backend and operation.",
		}, []string{"backend", "op"})
	})
}

// registerMetrics adds the collectors to a config's registry. Several vectis_mfa handlers in one config
// share a registry, so finding our own collector already there is fine.
func registerMetrics(reg *prometheus.Registry) error {
	initMetrics()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{metrics.signIns, metrics.lockouts, metrics.codeFailures,
		metrics.ssoFailures, metrics.storeDuration, metrics.storeErrors} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) && already.ExistingCollector == c {
				continue
			}
			return err
		}
	}
	return nil
}

// promMetrics is the gateway's Metrics hook on the collectors above.
type promMetrics struct{}

// Label values the gateway may pass; anything else is counted as "other", so that a mistake can never
// turn into a series per request.
var (
	signInMethods = map[string]bool{gateway.MethodPassword: true, gateway.MethodTOTP: true, gateway.MethodRecovery: true,
		gateway.MethodSSO: true, gateway.MethodUnknown: true}
	signInResults = map[string]bool{gateway.ResultSuccess: true, gateway.ResultFailure: true, gateway.ResultLocked: true,
		gateway.ResultThrottled: true}
	labelPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
)

func oneOf(v string, set map[string]bool) string {
	if set[v] {
		return v
	}
	return "other"
}

func (promMetrics) SignIn(method, result string) {
	initMetrics()
	metrics.signIns.WithLabelValues(oneOf(method, signInMethods), oneOf(result, signInResults)).Inc()
}

func (promMetrics) Lockout() {
	initMetrics()
	metrics.lockouts.Inc()
}

func (promMetrics) CodeFailure(kind string) {
	initMetrics()
	if kind != gateway.MethodTOTP && kind != gateway.MethodRecovery {
		kind = "other"
	}
	metrics.codeFailures.WithLabelValues(kind).Inc()
}

func (promMetrics) SSOCallbackFailure(reason string) {
	initMetrics()
	if !labelPattern.MatchString(reason) {
		reason = "other"
	}
	metrics.ssoFailures.WithLabelValues(reason).Inc()
}

// timedStore times every store call. It embeds the backend, so a method added to store.Store later still
// works (untimed) until it is listed here.
type timedStore struct {
	store.Store
	backend string
}

// newTimedStore wraps st; backend ("bolt" or "redis") labels its calls.
func newTimedStore(st store.Store, backend string) *timedStore {
	initMetrics()
	return &timedStore{Store: st, backend: backend}
}

// observe records one call that started at start. Answers the interfaces define (not found, exists, not
// enrolled) are results, not failures.
func (s *timedStore) observe(op string, start time.Time, err error) {
	metrics.storeDuration.WithLabelValues(s.backend, op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, directory.ErrNotFound) && !errors.Is(err, directory.ErrExists) &&
		!errors.Is(err, session.ErrNotFound) && !errors.Is(err, credential.ErrNotEnrolled) {
		metrics.storeErrors.WithLabelValues(s.backend, op).Inc()
	}
}

func (s *timedStore) PutTenant(ctx context.Context, t directory.Tenant) (err error) {
	defer func(start time.Time) { s.observe("put_tenant", start, err) }(time.Now())
	return s.Store.PutTenant(ctx, t)
}

func (s *timedStore) GetTenant(ctx context.Context, id string) (_ directory.Tenant, err error) {
	defer func(start time.Time) { s.observe("get_tenant", start, err) }(time.Now())
	return s.Store.GetTenant(ctx, id)
}

func (s *timedStore) ListTenants(ctx context.Context) (_ []directory.Tenant, err error) {
	defer func(start time.Time) { s.observe("list_tenants", start, err) }(time.Now())
	return s.Store.ListTenants(ctx)
}

func (s *timedStore) CreateOperator(ctx context.Context, o directory.Operator) (err error) {
	defer func(start time.Time) { s.observe("create_operator", start, err) }(time.Now())
	return s.Store.CreateOperator(ctx, o)
}

func (s *timedStore) UpdateOperator(ctx context.Context, o directory.Operator) (err error) {
	defer func(start time.Time) { s.observe("update_operator", start, err) }(time.Now())
	return s.Store.UpdateOperator(ctx, o)
}

func (s *timedStore) GetOperator(ctx context.Context, tenantID, id string) (_ directory.Operator, err error) {
	defer func(start time.Time) { s.observe("get_operator", start, err) }(time.Now())
	return s.Store.GetOperator(ctx, tenantID, id)
}

func (s *timedStore) OperatorByEmail(ctx context.Context, email string) (_ directory.Operator, err error) {
	defer func(start time.Time) { s.observe("operator_by_email", start, err) }(time.Now())
	return s.Store.OperatorByEmail(ctx, email)
}

func (s *timedStore) ListOperators(ctx context.Context, tenantID string) (_ []directory.Operator, err error) {
	defer func(start time.Time) { s.observe("list_operators", start, err) }(time.Now())
	return s.Store.ListOperators(ctx, tenantID)
}

func (s *timedStore) Empty(ctx context.Context) (_ bool, err error) {
	defer func(start time.Time) { s.observe("empty", start, err) }(time.Now())
	return s.Store.Empty(ctx)
}

func (s *timedStore) CreateSession(ctx context.Context, id []byte, sess session.Session) (err error) {
	defer func(start time.Time) { s.observe("create_session", start, err) }(time.Now())
	return s.Store.CreateSession(ctx, id, sess)
}

func (s *timedStore) GetSession(ctx context.Context, tenantID string, id []byte) (_ session.Session, err error) {
	defer func(start time.Time) { s.observe("get_session", start, err) }(time.Now())
	return s.Store.GetSession(ctx, tenantID, id)
}

func (s *timedStore) UpdateSession(ctx context.Context, id []byte, sess session.Session) (err error) {
	defer func(start time.Time) { s.observe("update_session", start, err) }(time.Now())
	return s.Store.UpdateSession(ctx, id, sess)
}

func (s *timedStore) DeleteSession(ctx context.Context, tenantID string, id []byte) (err error) {
	defer func(start time.Time) { s.observe("delete_session", start, err) }(time.Now())
	return s.Store.DeleteSession(ctx, tenantID, id)
}

func (s *timedStore) DeleteOperatorSessions(ctx context.Context, tenantID, userID string) (_ int, err error) {
	defer func(start time.Time) { s.observe("delete_operator_sessions", start, err) }(time.Now())
	return s.Store.DeleteOperatorSessions(ctx, tenantID, userID)
}

func (s *timedStore) Attempt(ctx context.Context, tag, key string, now time.Time, max int, window time.Duration) (_ lockout.Verdict, err error) {
	defer func(start time.Time) { s.observe("attempt", start, err) }(time.Now())
	return s.Store.Attempt(ctx, tag, key, now, max, window)
}

func (s *timedStore) Status(ctx context.Context, tag, key string, now time.Time) (_ lockout.Verdict, err error) {
	defer func(start time.Time) { s.observe("status", start, err) }(time.Now())
	return s.Store.Status(ctx, tag, key, now)
}

func (s *timedStore) Clear(ctx context.Context, tag, key string) (err error) {
	defer func(start time.Time) { s.observe("clear", start, err) }(time.Now())
	return s.Store.Clear(ctx, tag, key)
}

func (s *timedStore) GetCredentials(ctx context.Context, tenantID, userID string) (_ credential.Credentials, err error) {
	defer func(start time.Time) { s.observe("get_credentials", start, err) }(time.Now())
	return s.Store.GetCredentials(ctx, tenantID, userID)
}

func (s *timedStore) ActivateTOTP(ctx context.Context, tenantID, userID string, sealed []byte, step int64, recoveryHashes [][]byte, at time.Time) (_ bool, err error) {
	defer func(start time.Time) { s.observe("activate_totp", start, err) }(time.Now())
	return s.Store.ActivateTOTP(ctx, tenantID, userID, sealed, step, recoveryHashes, at)
}

func (s *timedStore) UseStep(ctx context.Context, tenantID, userID string, step int64) (_ bool, err error) {
	defer func(start time.Time) { s.observe("use_step", start, err) }(time.Now())
	return s.Store.UseStep(ctx, tenantID, userID, step)
}

func (s *timedStore) ConsumeRecoveryCode(ctx context.Context, tenantID, userID string, hash []byte) (_ bool, _ int, err error) {
	defer func(start time.Time) { s.observe("consume_recovery_code", start, err) }(time.Now())
	return s.Store.ConsumeRecoveryCode(ctx, tenantID, userID, hash)
}

func (s *timedStore) ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes [][]byte) (err error) {
	defer func(start time.Time) { s.observe("replace_recovery_codes", start, err) }(time.Now())
	return s.Store.ReplaceRecoveryCodes(ctx, tenantID, userID, hashes)
}

func (s *timedStore) ResetMFA(ctx context.Context, tenantID, userID string) (err error) {
	defer func(start time.Time) { s.observe("reset_mfa", start, err) }(time.Now())
	return s.Store.ResetMFA(ctx, tenantID, userID)
}

func (s *timedStore) PutOnce(ctx context.Context, tag, key string, value []byte, ttl time.Duration) (err error) {
	defer func(start time.Time) { s.observe("put_once", start, err) }(time.Now())
	return s.Store.PutOnce(ctx, tag, key, value, ttl)
}

func (s *timedStore) TakeOnce(ctx context.Context, tag, key string) (_ []byte, err error) {
	defer func(start time.Time) { s.observe("take_once", start, err) }(time.Now())
	return s.Store.TakeOnce(ctx, tag, key)
}

func (s *timedStore) OperatorBySSOKey(ctx context.Context, tenantID, key string) (_ directory.Operator, err error) {
	defer func(start time.Time) { s.observe("operator_by_sso_key", start, err) }(time.Now())
	return s.Store.OperatorBySSOKey(ctx, tenantID, key)
}

func (s *timedStore) GetMeta(ctx context.Context, name string) (_ []byte, err error) {
	defer func(start time.Time) { s.observe("get_meta", start, err) }(time.Now())
	return s.Store.GetMeta(ctx, name)
}

func (s *timedStore) PutMetaIfAbsent(ctx context.Context, name string, value []byte) (_ []byte, err error) {
	defer func(start time.Time) { s.observe("put_meta_if_absent", start, err) }(time.Now())
	return s.Store.PutMetaIfAbsent(ctx, name, value)
}

func (s *timedStore) Ping(ctx context.Context) (err error) {
	defer func(start time.Time) { s.observe("ping", start, err) }(time.Now())
	return s.Store.Ping(ctx)
}

func (s *timedStore) AppendAudit(ctx context.Context, tenantID string, e audit.Event, keep int) (err error) {
	defer func(start time.Time) { s.observe("append_audit", start, err) }(time.Now())
	return s.Store.AppendAudit(ctx, tenantID, e, keep)
}

func (s *timedStore) ListAudit(ctx context.Context, tenantID string, limit int) (_ []audit.Event, err error) {
	defer func(start time.Time) { s.observe("list_audit", start, err) }(time.Now())
	return s.Store.ListAudit(ctx, tenantID, limit)
}

// Interface guards
var (
	_ gateway.Metrics = promMetrics{}
	_ store.Store     = (*timedStore)(nil)
)
