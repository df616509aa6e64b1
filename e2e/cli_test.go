package e2e

// The ops CLI (`vectis-gateway vectis …`) run as its own process against a running gateway process,
// on bolt and on Redis: every operation, and what each one does to operators' sign-ins and sessions.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/store/redis/redistest"
)

// cliRun is one finished CLI process.
type cliRun struct {
	args           []string
	stdout, stderr string
	code           int
}

// vectis runs the gateway binary's `vectis` command against g's admin endpoint, with stdin.
func (g *gw) vectis(t *testing.T, stdin string, args ...string) cliRun {
	t.Helper()
	full := append([]string{"vectis", "--address", fmt.Sprintf("127.0.0.1:%d", g.adminPort)}, args...)
	return runBinary(t, g, stdin, full...)
}

func runBinary(t *testing.T, g *gw, stdin string, args ...string) cliRun {
	t.Helper()
	cmd := exec.Command(gatewayBin, args...)
	cmd.Dir = t.TempDir() // no ./Caddyfile: the address comes from the flags
	cmd.Env = g.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", args, err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish within 90s", args)
	}
	r := cliRun{args: args, stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("running %v: %v", args, err)
	}
	fmt.Fprintf(g.out, "---- cli %v: exit %d\n%s%s", args[1:], r.code, r.stdout, r.stderr)
	return r
}

// ok runs a command that must succeed and returns its standard output.
func (g *gw) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := g.vectis(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("vectis %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// refused runs a command that must fail: exit status 1, nothing on stdout, and one "error:" line saying want.
func (g *gw) refused(t *testing.T, want, stdin string, args ...string) {
	t.Helper()
	r := g.vectis(t, stdin, args...)
	if r.code != 1 {
		t.Fatalf("vectis %s: exit %d, want 1\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "error: ") || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("vectis %s: stderr %q, want one error line saying %q", strings.Join(args, " "), r.stderr, want)
	}
	if r.stdout != "" {
		t.Errorf("vectis %s printed to stdout on failure: %q", strings.Join(args, " "), r.stdout)
	}
}

// auditEvent is an audit trail entry as `audit list --json` prints it.
type auditEvent struct {
	Type   string            `json:"type"`
	Email  string            `json:"email"`
	Actor  string            `json:"actor"`
	Reason string            `json:"reason"`
	Time   time.Time         `json:"time"`
	Detail map[string]string `json:"detail"`
}

func (g *gw) auditTrail(t *testing.T, tenant string) []auditEvent {
	t.Helper()
	var evs []auditEvent
	out := g.ok(t, "", "--json", "audit", "list", "--tenant", tenant, "--limit", "1000")
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		t.Fatalf("audit list --json: %v\n%s", err, out)
	}
	return evs
}

// tryPassword submits the login form with email and password and returns the status and where the
// gateway sent the browser ("" when it did not redirect).
func tryPassword(t *testing.T, c *client, email, password string) (int, string) {
	t.Helper()
	r := c.navigate("/.vectis/login?next=%2Fwork")
	if r.status != http.StatusOK {
		t.Fatalf("GET /.vectis/login: %d", r.status)
	}
	p := parsePage(t, r)
	r = c.submit(p, p.formWith(t, "email"), url.Values{"email": {email}, "password": {password}})
	if r.status != http.StatusSeeOther {
		return r.status, ""
	}
	loc := r.location(t, c.hostHeader())
	u, _ := url.Parse(loc)
	return r.status, u.Path
}

// lockedRowRE matches tech's row in `user list` with a locked-until time.
var lockedRowRE = regexp.MustCompile(`(?m)^tech@acme\.example .* \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ `)

// tryRecovery submits code on c's recovery-code page if c has one; otherwise it returns the refusal.
func tryRecovery(t *testing.T, c *client, code string) *resp {
	t.Helper()
	r := c.navigate("/.vectis/mfa/recovery")
	if r.status != http.StatusOK {
		return r
	}
	p := parsePage(t, r)
	return c.submit(p, p.formWith(t, "code"), url.Values{"code": {code}})
}

// reachesUpstream reports whether c's session gets a request through to the upstream now.
func reachesUpstream(g *gw, c *client) bool {
	return g.reached(c.do(http.MethodGet, "/work", nil, http.Header{"Accept": {"application/json"}}))
}

func TestCLIBolt(t *testing.T) {
	t.Parallel()
	g := startGateway(t, standardCaddyfile)
	cliScenario(t, g, "bolt")
}

func TestCLIRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.StartAOF(t)
	key := randomKey(t)
	g := startGatewayWith(t, redisCaddyfile, map[string]any{"Redis": rs.URL(), "SharedKey": key})
	g.key = key
	cliScenario(t, g, "redis")
}

// cliScenario runs every CLI operation against g, one after the other, as ops would.
func cliScenario(t *testing.T, g *gw, backend string) {
	const (
		bossPassword   = "beta boss password 1"
		memberPassword = "beta member password 1"
		ssoSecret      = "beta-idp-client-secret-value"
	)

	// Tenants.
	out := g.ok(t, "", "tenant", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "TENANT") ||
		!strings.HasPrefix(lines[1], "acme ") || !strings.Contains(lines[1], "billing@acme.example") {
		t.Errorf("tenant list:\n%s", out)
	}
	out = g.ok(t, "", "tenant", "add", "--tenant", "beta", "--name", "Beta MSP", "--billing-email", "billing@beta.example")
	if !strings.Contains(out, "Added tenant beta (Beta MSP).") {
		t.Errorf("tenant add: %q", out)
	}
	g.refused(t, `tenant "beta" already exists`, "", "tenant", "add", "--tenant", "beta", "--name", "Again")
	g.refused(t, "lower-case letters", "", "tenant", "add", "--tenant", "Bad_Id", "--name", "x")
	var tenants []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(g.ok(t, "", "--json", "tenant", "list")), &tenants); err != nil || len(tenants) != 2 || tenants[1].ID != "beta" {
		t.Errorf("tenant list --json: %v %+v", err, tenants)
	}
	if out := g.ok(t, "", "tenant", "show", "--tenant", "acme"); !strings.Contains(out, "Operators:") || !strings.Contains(out, "Acme MSP") {
		t.Errorf("tenant show:\n%s", out)
	}
	g.refused(t, "no such operator or tenant", "", "tenant", "show", "--tenant", "nope")

	// Operators: added with a password from standard input, hashed, able to sign in (and enroll).
	out = g.ok(t, bossPassword+"\n", "user", "add", "--tenant", "beta", "--user", "Boss@Beta.example", "--role", "admin")
	if !strings.Contains(out, "Added boss@beta.example to tenant beta as admin") {
		t.Errorf("user add: %q", out)
	}
	if _, loc := tryPassword(t, g.newClient(), "boss@beta.example", bossPassword); loc != "/.vectis/enroll" {
		t.Errorf("the new operator's first sign-in went to %q, want /.vectis/enroll", loc)
	}
	g.refused(t, "password must be at least 8 characters", "short\n", "user", "add", "--tenant", "beta", "--user", "x@beta.example")
	g.refused(t, "already exists", bossPassword+"\n", "user", "add", "--tenant", "acme", "--user", "boss@beta.example")
	g.refused(t, "no password or secret on standard input", "", "user", "add", "--tenant", "beta", "--user", "x@beta.example")
	if r := g.vectis(t, "", "user", "add", "--tenant", "beta", "--user", "x@beta.example", "--password", "x"); r.code == 0 || !strings.Contains(r.stderr, "unknown flag") {
		t.Errorf("a password on the command line was not refused: %d %q", r.code, r.stderr)
	}
	imp := `{"tenants":[{"id":"gamma","name":"Gamma IT","billing_email":"billing@gamma.example"}],"users":[
		{"email":"member@beta.example","tenant":"beta","role":"member","password":"` + memberPassword + `"},
		{"email":"ops@gamma.example","tenant":"gamma","role":"admin","password":"gamma ops password"}]}`
	if out := g.ok(t, imp, "user", "import", "-"); !strings.Contains(out, "Imported 1 tenant and 2 operators.") {
		t.Errorf("user import: %q", out)
	}
	g.refused(t, `tenant "gamma" already exists`, imp, "user", "import", "-")
	if _, loc := tryPassword(t, g.newClient(), "member@beta.example", memberPassword); loc != "/.vectis/enroll" {
		t.Errorf("an imported operator's first sign-in went to %q", loc)
	}
	out = g.ok(t, "", "user", "list", "--tenant", "beta")
	if !strings.HasPrefix(out, "EMAIL") || !strings.Contains(out, "boss@beta.example") || !strings.Contains(out, "member@beta.example") ||
		strings.Contains(out, "acme.example") {
		t.Errorf("user list --tenant beta:\n%s", out)
	}

	// Reset MFA while the operator holds a full session and a half-finished sign-in: both die, the old
	// recovery codes are refused, and the next sign-in enrolls.
	tech := enroll(t, g, g.newClient(), memberEmail, "/work")
	half := g.newClient()
	if loc := passwordStep(t, half, memberEmail, "/work"); !strings.HasPrefix(loc, "/.vectis/mfa") {
		t.Fatalf("half-finished sign-in went to %q", loc)
	}
	// A cross-tenant attempt is refused and changes nothing.
	for _, action := range []string{"reset-mfa", "disable", "unlock"} {
		g.refused(t, "no such operator or tenant", "", "user", action, "--tenant", "beta", "--user", memberEmail)
	}
	g.refused(t, "no such operator or tenant", "", "sessions", "revoke", "--tenant", "beta", "--user", memberEmail)
	if !reachesUpstream(g, tech.c) {
		t.Fatal("a refused cross-tenant command ended the operator's session")
	}
	out = g.ok(t, "", "user", "reset-mfa", "--tenant", "acme", "--user", memberEmail)
	if !strings.Contains(out, "Reset the MFA of tech@acme.example in tenant acme") {
		t.Errorf("reset-mfa: %q", out)
	}
	if reachesUpstream(g, tech.c) {
		t.Error("the full session survived the MFA reset")
	}
	if r := tryRecovery(t, half, tech.codes[0]); r.status == http.StatusOK || reachesUpstream(g, half) {
		t.Errorf("the half-finished sign-in survived the reset, with an old recovery code (%d)", r.status)
	}
	fresh := g.newClient()
	if loc := passwordStep(t, fresh, memberEmail, "/work"); loc != "/.vectis/enroll" {
		t.Errorf("after the reset the next sign-in went to %q, want /.vectis/enroll", loc)
	}
	if r := tryRecovery(t, fresh, tech.codes[1]); r.status == http.StatusOK || reachesUpstream(g, fresh) {
		t.Errorf("an old recovery code worked after the reset (%d)", r.status)
	}

	// The next sign-in enrolls; then disable ends that session at once and refuses sign-in; enable restores.
	tech = enroll(t, g, g.newClient(), memberEmail, "/work")
	out = g.ok(t, "", "user", "disable", "--tenant", "acme", "--user", memberEmail)
	if !strings.Contains(out, "Disabled tech@acme.example in tenant acme; their sessions ended.") {
		t.Errorf("disable: %q", out)
	}
	if reachesUpstream(g, tech.c) {
		t.Error("a disabled operator's live session still reaches the upstream")
	}
	if _, loc := tryPassword(t, g.newClient(), memberEmail, demoUser(t, memberEmail).Password); loc == "/.vectis/mfa" || loc == "/.vectis/enroll" {
		t.Errorf("a disabled operator passed the password step (to %q)", loc)
	}
	if out := g.ok(t, "", "user", "list", "--tenant", "acme"); !strings.Contains(out, "disabled") {
		t.Errorf("user list does not show the disabled operator:\n%s", out)
	}
	g.ok(t, "", "user", "enable", "--tenant", "acme", "--user", memberEmail)
	c := g.newClient()
	if r, left := recoverySignIn(t, c, memberEmail, tech.codes[0], "/work"); left != 9 {
		t.Fatalf("sign-in with a recovery code after enable: %d, %d codes left", r.status, left)
	}
	if !reachesUpstream(g, c) {
		t.Error("the re-enabled operator's new session does not reach the upstream")
	}

	// Lockout, then unlock.
	locked := g.newClient()
	if loc := passwordStep(t, locked, memberEmail, "/work"); !strings.HasPrefix(loc, "/.vectis/mfa") {
		t.Fatalf("password step went to %q", loc)
	}
	wrong := wrongCode(t, tech.secret, stepNow())
	for range 5 {
		mfaStep(t, locked, wrong)
	}
	checkLocked(t, "a sixth code", mfaStep(t, locked, wrong))
	if out := g.ok(t, "", "user", "list", "--tenant", "acme"); !lockedRowRE.MatchString(out) {
		t.Errorf("user list does not show until when the operator is locked:\n%s", out)
	}
	if out := g.ok(t, "", "user", "unlock", "--tenant", "acme", "--user", memberEmail); !strings.Contains(out, "Unlocked tech@acme.example") {
		t.Errorf("unlock: %q", out)
	}
	if r, left := recoverySignIn(t, g.newClient(), memberEmail, tech.codes[1], "/work"); left != 8 {
		t.Errorf("sign-in after unlock: %d, %d codes left", r.status, left)
	}

	// Sessions revoke ends every session of the operator.
	out = g.ok(t, "", "sessions", "revoke", "--tenant", "acme", "--user", memberEmail)
	if !strings.Contains(out, "Ended ") || strings.Contains(out, "Ended 0 ") {
		t.Errorf("sessions revoke: %q", out)
	}
	if reachesUpstream(g, c) {
		t.Error("a revoked session still reaches the upstream")
	}

	// Support's sole-admin recovery: refused (and audited) for a wrong requester or a non-admin target.
	adm := enroll(t, g, g.newClient(), adminEmail, "/work")
	g.refused(t, "requester email does not match the tenant's billing email on file", "",
		"support", "reset-mfa", "--tenant", "acme", "--user", adminEmail, "--requester-email", "ceo@acme.example", "--ticket", "SUP-1", "--engineer", "sam")
	g.refused(t, "requester email does not match", "",
		"support", "reset-mfa", "--tenant", "acme", "--user", adminEmail, "--requester-email", "billing@beta.example", "--ticket", "SUP-2", "--engineer", "sam")
	g.refused(t, "target is not an admin of that tenant", "",
		"support", "reset-mfa", "--tenant", "acme", "--user", memberEmail, "--requester-email", "billing@acme.example", "--ticket", "SUP-3", "--engineer", "sam")
	g.refused(t, "no such operator or tenant", "",
		"support", "reset-mfa", "--tenant", "acme", "--user", "boss@beta.example", "--requester-email", "billing@acme.example", "--ticket", "SUP-4", "--engineer", "sam")
	g.refused(t, "--ticket is required", "",
		"support", "reset-mfa", "--tenant", "acme", "--user", adminEmail, "--requester-email", "billing@acme.example")
	if !reachesUpstream(g, adm.c) {
		t.Fatal("a refused support recovery ended the admin's session")
	}
	out = g.ok(t, "", "support", "reset-mfa", "--tenant", "acme", "--user", "Admin@acme.example",
		"--requester-email", "  BILLING@Acme.example ", "--ticket", "SUP-42", "--engineer", "sam")
	if !strings.Contains(out, "Reset the MFA of admin@acme.example in tenant acme (ticket SUP-42)") {
		t.Errorf("support reset-mfa: %q", out)
	}
	if reachesUpstream(g, adm.c) {
		t.Error("the admin's session survived support recovery")
	}
	if loc := passwordStep(t, g.newClient(), adminEmail, "/work"); !strings.HasPrefix(loc, "/.vectis/enroll") {
		t.Errorf("after support recovery the admin's next sign-in went to %q, want enrollment", loc)
	}
	evs := g.auditTrail(t, "acme")
	denied, recovered := 0, 0
	for _, ev := range evs {
		switch ev.Type {
		case "support.reset.denied":
			denied++
			if ev.Actor != "support:sam" || ev.Reason == "" || ev.Detail["ticket"] == "" || ev.Time.IsZero() {
				t.Errorf("refusal entry %+v", ev)
			}
		case "support.reset":
			recovered++
			if ev.Actor != "support:sam" || ev.Detail["ticket"] != "SUP-42" || ev.Email != adminEmail || ev.Time.IsZero() {
				t.Errorf("recovery entry %+v", ev)
			}
		}
	}
	// Four refusals reached the gateway (the one without --ticket stopped in the CLI).
	if denied != 4 || recovered != 1 {
		t.Errorf("audit trail has %d support refusals and %d recoveries, want 4 and 1", denied, recovered)
	}
	kinds := map[string]string{}
	for _, ev := range evs {
		if _, seen := kinds[ev.Type]; !seen {
			kinds[ev.Type] = ev.Actor
		}
	}
	for _, want := range []string{"mfa.reset", "operator.disabled", "operator.enabled", "unlock", "sessions.revoked", "lockout"} {
		if _, ok := kinds[want]; !ok {
			t.Errorf("no %s entry in acme's audit trail: %v", want, kinds)
		}
	}
	if a := kinds["operator.disabled"]; !strings.HasPrefix(a, "cli") {
		t.Errorf("the disable was recorded as done by %q, want the CLI", a)
	}
	if out := g.ok(t, "", "audit", "list", "--tenant", "acme", "--limit", "3"); !strings.HasPrefix(out, "TIME") || strings.Count(out, "\n") != 4 {
		t.Errorf("audit list --limit 3:\n%s", out)
	}

	// SSO: settings with the secret from standard input, enabled and disabled at runtime; break-glass.
	out = g.ok(t, ssoSecret+"\n", "tenant", "sso", "set", "--tenant", "beta", "--provider", "oidc",
		"--issuer", "http://127.0.0.1:9/oidc", "--client-id", "beta-gateway")
	if !strings.Contains(out, "oidc (disabled)") {
		t.Errorf("sso set: %q", out)
	}
	g.refused(t, "sso issuer is required for Okta", ssoSecret+"\n", "tenant", "sso", "set", "--tenant", "beta", "--provider", "okta", "--client-id", "x")
	show := g.ok(t, "", "--json", "tenant", "show", "--tenant", "beta")
	if strings.Contains(show, ssoSecret) || !strings.Contains(show, `"client_secret_set": true`) {
		t.Errorf("tenant show --json:\n%s", show)
	}
	out = g.ok(t, "", "tenant", "sso", "enable", "--tenant", "beta")
	if !strings.Contains(out, "SSO is on for tenant beta") {
		t.Errorf("sso enable: %q", out)
	}
	if r := g.vectis(t, "", "tenant", "show", "--tenant", "beta"); !strings.Contains(r.stderr, "warning: SSO is enabled and no break-glass admin") {
		t.Errorf("no break-glass warning: %q", r.stderr)
	}
	// The change applies at the next sign-in: the password no longer leads to a second factor.
	if _, loc := tryPassword(t, g.newClient(), "member@beta.example", memberPassword); loc == "/.vectis/enroll" || loc == "/.vectis/mfa" {
		t.Errorf("with SSO on, an SSO operator's password still led to %q", loc)
	}
	if _, loc := tryPassword(t, g.newClient(), "boss@beta.example", bossPassword); loc == "/.vectis/enroll" || loc == "/.vectis/mfa" {
		t.Errorf("with SSO on, a non-break-glass admin's password still led to %q", loc)
	}
	g.ok(t, "", "tenant", "break-glass", "add", "--tenant", "beta", "--user", "boss@beta.example")
	g.refused(t, "not an admin", "", "tenant", "break-glass", "add", "--tenant", "beta", "--user", "member@beta.example")
	if _, loc := tryPassword(t, g.newClient(), "boss@beta.example", bossPassword); loc != "/.vectis/enroll" {
		t.Errorf("a break-glass admin's password led to %q, want enrollment (password + TOTP)", loc)
	}
	g.ok(t, "", "tenant", "break-glass", "remove", "--tenant", "beta", "--user", "boss@beta.example")
	if _, loc := tryPassword(t, g.newClient(), "boss@beta.example", bossPassword); loc == "/.vectis/enroll" {
		t.Errorf("after break-glass remove the admin's password still led to enrollment")
	}
	g.ok(t, "", "tenant", "sso", "disable", "--tenant", "beta")
	if _, loc := tryPassword(t, g.newClient(), "member@beta.example", memberPassword); loc != "/.vectis/enroll" {
		t.Errorf("with SSO off again, the password led to %q, want enrollment", loc)
	}
	betaKinds := map[string]bool{}
	for _, ev := range g.auditTrail(t, "beta") {
		betaKinds[ev.Type] = true
	}
	for _, want := range []string{"tenant.added", "operator.added", "sso.updated", "sso.enabled", "sso.disabled", "breakglass.added", "breakglass.removed"} {
		if !betaKinds[want] {
			t.Errorf("no %s entry in beta's audit trail: %v", want, betaKinds)
		}
	}

	// The address can come from the config file, as for caddy reload.
	if r := runBinary(t, g, "", "vectis", "--config", g.config, "--adapter", "caddyfile", "tenant", "list"); r.code != 0 || !strings.Contains(r.stdout, "gamma") || r.stderr != "" {
		t.Errorf("--config: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Metrics on the admin endpoint, through Caddy's Prometheus registry.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", g.adminPort))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`vectis_store_call_duration_seconds_bucket{backend="` + backend + `",op="get_session"`,
		`vectis_store_call_duration_seconds_count{backend="` + backend + `",op="create_operator"}`,
		"vectis_lockouts_total",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Secrets given to the CLI never reach the log.
	log := g.log()
	for name, secret := range map[string]string{"a password": bossPassword, "an imported password": memberPassword, "the SSO client secret": ssoSecret} {
		if strings.Contains(log, secret) {
			t.Errorf("the gateway log contains %s", name)
		}
	}
}

// TestCLIWithoutGateway: no admin endpoint at the address is a one-line failure, not a hang or a trace.
func TestCLIWithoutGateway(t *testing.T) {
	t.Parallel()
	g := &gw{t: t, out: &lockedBuffer{}, adminPort: freePort(t)}
	r := g.vectis(t, "", "tenant", "list")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: cannot reach Caddy's admin endpoint at 127.0.0.1:") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
