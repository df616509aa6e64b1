package gateway

import (
	"fmt"
	"slices"
	"testing"

	"github.com/vectis/mfa-gateway/internal/audit"
)

// countingMetrics records each call as one line.
type countingMetrics struct{ calls []string }

func (m *countingMetrics) SignIn(method, result string) {
	m.calls = append(m.calls, fmt.Sprintf("signin %s %s", method, result))
}
func (m *countingMetrics) Lockout()                { m.calls = append(m.calls, "lockout") }
func (m *countingMetrics) CodeFailure(kind string) { m.calls = append(m.calls, "code "+kind) }
func (m *countingMetrics) SSOCallbackFailure(reason string) {
	m.calls = append(m.calls, "sso "+reason)
}

func TestObserveMapsEventsToMetrics(t *testing.T) {
	cases := []struct {
		name string
		e    audit.Event
		want []string
	}{
		{"totp sign-in", audit.Event{Type: audit.SignInSuccess, Method: "password+totp"}, []string{"signin totp success"}},
		{"recovery sign-in", audit.Event{Type: audit.SignInSuccess, Method: "password+recovery"}, []string{"signin recovery success"}},
		{"sso sign-in", audit.Event{Type: audit.SignInSuccess, Method: "sso:okta"}, []string{"signin sso success"}},
		{"wrong totp", audit.Event{Type: audit.SignInFailure, Method: "password+totp", Reason: "wrong code"}, []string{"signin totp failure", "code totp"}},
		{"wrong recovery code", audit.Event{Type: audit.SignInFailure, Method: "password+recovery", Reason: "wrong code"}, []string{"signin recovery failure", "code recovery"}},
		{"code while locked", audit.Event{Type: audit.SignInFailure, Method: "password+totp", Reason: "locked"}, []string{"signin totp locked"}},
		{"wrong password", audit.Event{Type: audit.SignInFailure, Method: "password", Reason: "wrong password"}, []string{"signin password failure"}},
		{"throttled", audit.Event{Type: audit.SignInFailure, Method: "password", Reason: "throttled"}, []string{"signin password throttled"}},
		{"no method", audit.Event{Type: audit.SignInFailure, Reason: "wrong code"}, []string{"signin unknown failure"}},
		{"lockout", audit.Event{Type: audit.Lockout}, []string{"lockout"}},
		{"not a sign-in", audit.Event{Type: audit.MFAReset}, nil},
	}
	for _, tc := range cases {
		m := &countingMetrics{}
		observe(m, tc.e)
		if !slices.Equal(m.calls, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, m.calls, tc.want)
		}
	}
	observe(nil, audit.Event{Type: audit.Lockout}) // no hook configured: nothing to call, no panic
}
