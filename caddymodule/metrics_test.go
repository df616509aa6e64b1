package caddymodule

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vectis/mfa-gateway/internal/gateway"
)

// value reads a counter's current count.
func value(m prometheus.Metric) float64 {
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		panic(err)
	}
	return out.GetCounter().GetValue()
}

// gathered returns the metric families of reg by name.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]bool {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	return names
}

// TestMetricsAcrossReloads provisions handlers the way a config load and a reload do: each load has its
// own registry, two handlers in one config share it, and the counts carry on across loads.
func TestMetricsAcrossReloads(t *testing.T) {
	dataDir(t)
	path := filepath.Join(t.TempDir(), "g.db")
	load := func() (*prometheus.Registry, *Handler, *Handler) {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		t.Cleanup(cancel)
		var hs []*Handler
		for range 2 {
			h := &Handler{SecretKey: testKeyB64, Storage: &Storage{Type: "bolt", Path: path}}
			if err := h.Provision(ctx); err != nil {
				t.Fatalf("provision: %v", err)
			}
			t.Cleanup(func() { _ = h.Cleanup() })
			hs = append(hs, h)
		}
		return ctx.GetMetricsRegistry(), hs[0], hs[1]
	}
	reg1, h1, _ := load()
	names := gathered(t, reg1)
	if !names["vectis_lockouts_total"] {
		t.Fatalf("vectis_lockouts_total is not in the config's registry: %v", names)
	}

	st, err := h1.store.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	calls := func() int {
		t.Helper()
		fams, err := reg1.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() != "vectis_store_call_duration_seconds" {
				continue
			}
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["backend"] == "bolt" && labels["op"] == "get_tenant" {
					return int(m.GetHistogram().GetSampleCount())
				}
			}
		}
		return 0
	}
	before := calls()
	errsBefore := value(metrics.storeErrors.WithLabelValues("bolt", "get_tenant"))
	if _, err := st.GetTenant(context.Background(), "nope"); err == nil {
		t.Fatal("found a tenant in an empty store")
	}
	if got := calls(); got != before+1 {
		t.Errorf("get_tenant calls %d → %d, want one more", before, got)
	}
	if got := value(metrics.storeErrors.WithLabelValues("bolt", "get_tenant")); got != errsBefore {
		t.Errorf("a not-found answer counted as a store error (%v → %v)", errsBefore, got)
	}

	// A reload: a new registry gets the same collectors, and a count made before is still there.
	promMetrics{}.Lockout()
	n := value(metrics.lockouts)
	reg2, _, _ := load()
	if reg2 == reg1 {
		t.Fatal("the reload reused the registry; the test proves nothing")
	}
	if !gathered(t, reg2)["vectis_lockouts_total"] {
		t.Error("the reloaded config's registry lacks the gateway's metrics")
	}
	if got := value(metrics.lockouts); got != n {
		t.Errorf("lockouts %v after the reload, want %v", got, n)
	}
}

func TestMetricsRegistryConflict(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	// Someone else's collector under our name is a real conflict, not "already ours".
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "vectis_lockouts_total", Help: "not ours"})
	reg.MustRegister(other)
	if err := registerMetrics(reg); err == nil {
		t.Error("registering over a foreign collector of the same name succeeded")
	}
	if err := registerMetrics(prometheus.NewPedanticRegistry()); err != nil {
		t.Errorf("a fresh registry: %v", err)
	}
}

func TestMetricsHookLabels(t *testing.T) {
	initMetrics()
	m := promMetrics{}
	count := value

	ok := metrics.signIns.WithLabelValues(gateway.MethodTOTP, gateway.ResultSuccess)
	before := count(ok)
	m.SignIn(gateway.MethodTOTP, gateway.ResultSuccess)
	if count(ok) != before+1 {
		t.Error("sign-in not counted")
	}
	// Values outside the fixed sets become "other": no caller can mint a series per user.
	other := metrics.signIns.WithLabelValues("other", "other")
	before = count(other)
	m.SignIn("ana@example.com", "wrong password for ana")
	if count(other) != before+1 {
		t.Error("an unknown method/result was not counted as other")
	}
	kind := metrics.codeFailures.WithLabelValues("recovery")
	before = count(kind)
	m.CodeFailure(gateway.MethodRecovery)
	if count(kind) != before+1 {
		t.Error("recovery code failure not counted")
	}
	for _, reason := range []string{gateway.SSOFailState, "Bad Reason With Spaces", strings.Repeat("a", 40)} {
		want := reason
		if reason != gateway.SSOFailState {
			want = "other"
		}
		c := metrics.ssoFailures.WithLabelValues(want)
		before := count(c)
		m.SSOCallbackFailure(reason)
		if count(c) != before+1 {
			t.Errorf("SSO failure %q not counted as %q", reason, want)
		}
	}
}
