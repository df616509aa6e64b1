package caddymodule

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/vectis/mfa-gateway/internal/admin"
)

// cliEnv runs the vectis command tree in-process against the admin API served over real HTTP on a
// loopback port. (The e2e tests run the built binary against a running gateway.)
type cliEnv struct {
	*apiEnv
	addr string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	e := newAPIEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveAdmin(e.route, w, r) }))
	t.Cleanup(srv.Close)
	return &cliEnv{apiEnv: e, addr: strings.TrimPrefix(srv.URL, "http://")}
}

// run executes `vectis args...` with stdin; it returns stdout, stderr and whether the command failed.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	root := &cobra.Command{Use: "vectis", SilenceUsage: true}
	vectisCommand(root)
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func (e *cliEnv) run(stdin string, args ...string) (string, string, error) {
	e.t.Helper()
	return runCLI(e.t, stdin, append([]string{"--address", e.addr}, args...)...)
}

// ok runs a command that must succeed and returns its output.
func (e *cliEnv) ok(stdin string, args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(stdin, args...)
	if err != nil {
		e.t.Fatalf("vectis %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// fails runs a command that must fail with one "error:" line that says want.
func (e *cliEnv) fails(want, stdin string, args ...string) {
	e.t.Helper()
	out, errOut, err := e.run(stdin, args...)
	if err == nil {
		e.t.Fatalf("vectis %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	if !strings.HasPrefix(errOut, "error: ") || !strings.Contains(errOut, want) {
		e.t.Errorf("vectis %s: stderr %q, want an error line saying %q", strings.Join(args, " "), errOut, want)
	}
	if out != "" {
		e.t.Errorf("a failed command printed to stdout: %q", out)
	}
}

func TestCLITablesAndJSON(t *testing.T) {
	e := newCLIEnv(t)
	out := e.ok("", "tenant", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TENANT") || !strings.HasPrefix(lines[1], "acme ") || !strings.Contains(lines[2], "billing@beta.example") {
		t.Errorf("tenant list:\n%s", out)
	}
	out = e.ok("", "--json", "tenant", "list")
	var ts []admin.TenantInfo
	if err := json.Unmarshal([]byte(out), &ts); err != nil || len(ts) != 2 {
		t.Errorf("--json tenant list: %v\n%s", err, out)
	}

	out = e.ok("", "tenant", "add", "--tenant", "gamma", "--name", "Gamma IT")
	if !strings.Contains(out, "Added tenant gamma (Gamma IT).") {
		t.Errorf("tenant add: %q", out)
	}
	_, errOut, _ := e.run("", "tenant", "show", "--tenant", "gamma")
	if !strings.Contains(errOut, "warning: no billing email on file") {
		t.Errorf("no warning for a tenant without billing email: %q", errOut)
	}

	const pw = "piped in password"
	out = e.ok(pw+"\n", "user", "add", "--tenant", "gamma", "--user", "Ops@Gamma.example", "--role", "admin")
	if !strings.Contains(out, "Added ops@gamma.example to tenant gamma as admin") {
		t.Errorf("user add: %q", out)
	}
	if op := e.operator("ops@gamma.example"); !strings.HasPrefix(op.PasswordHash, "$argon2id$") {
		t.Errorf("stored %q", op.PasswordHash)
	}
	out = e.ok("", "user", "list", "--tenant", "gamma")
	if !strings.Contains(out, "EMAIL") || !strings.Contains(out, "ops@gamma.example") || !strings.Contains(out, "password") {
		t.Errorf("user list:\n%s", out)
	}
	out = e.ok("", "user", "disable", "--tenant", "gamma", "--user", "ops@gamma.example")
	if !strings.Contains(out, "Disabled ops@gamma.example in tenant gamma; their sessions ended.") {
		t.Errorf("disable: %q", out)
	}
	out = e.ok("", "--json", "sessions", "revoke", "--tenant", "gamma", "--user", "ops@gamma.example")
	var res userResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.SessionsEnded == nil || *res.SessionsEnded != 0 {
		t.Errorf("--json sessions revoke: %v %s", err, out)
	}

	seed := filepath.Join(t.TempDir(), "import.json")
	if err := os.WriteFile(seed, []byte(`{"users":[{"email":"new@acme.example","tenant":"acme","role":"member","password":"imported pw 1"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("", "user", "import", seed); !strings.Contains(out, "Imported 0 tenants and 1 operator.") {
		t.Errorf("import: %q", out)
	}
	if out := e.ok(`{"tenants":[{"id":"eps","name":"E"}]}`, "user", "import", "-"); !strings.Contains(out, "Imported 1 tenant and 0 operators.") {
		t.Errorf("import from stdin: %q", out)
	}

	out = e.ok("", "audit", "list", "--tenant", "gamma", "--limit", "5")
	if !strings.HasPrefix(out, "TIME") || !strings.Contains(out, "operator.disabled") || !strings.Contains(out, "tenant.added") {
		t.Errorf("audit list:\n%s", out)
	}
}

func TestCLIFailures(t *testing.T) {
	e := newCLIEnv(t)
	e.fails("--tenant is required", "", "user", "list")
	e.fails("no such operator or tenant", "", "user", "disable", "--tenant", "beta", "--user", "admin@acme.example")
	e.fails("password must be at least 8 characters", "short\n", "user", "add", "--tenant", "beta", "--user", "x@beta.example")
	e.fails("more than one line", "one\ntwo\n", "user", "add", "--tenant", "beta", "--user", "x@beta.example")
	e.fails("no password or secret on standard input", "", "user", "add", "--tenant", "beta", "--user", "x@beta.example")
	e.fails("requester email does not match", "", "support", "reset-mfa", "--tenant", "acme", "--user", "admin@acme.example",
		"--requester-email", "someone@else.example", "--ticket", "T-9")
	e.fails("--ticket is required", "", "support", "reset-mfa", "--tenant", "acme", "--user", "admin@acme.example", "--requester-email", "billing@acme.example")
	e.fails(`unknown command "frobnicate"`, "", "user", "frobnicate")
	e.fails("needs one of", "", "tenant")
	e.fails("--extra \"jit\" must look like KEY=VALUE", "", "tenant", "sso", "set", "--tenant", "beta", "--provider", "oidc", "--client-id", "c", "--extra", "jit")
	if op := e.operator("admin@acme.example"); op.Disabled {
		t.Error("a refused cross-tenant disable went through")
	}
	// Multi-line validation errors keep the first line as the reason and indent the rest.
	_, errOut, err := e.run(`{"users":[{"email":"a","tenant":"acme","role":"x","password":"p"}]}`, "user", "import", "-")
	if err == nil || !strings.HasPrefix(errOut, "error: users[0]: ") || !strings.Contains(errOut, "\n  users[0]: role") {
		t.Errorf("import errors: %q", errOut)
	}

	// No gateway at the address: one line that says where it looked.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	_, errOut, err = runCLI(t, "", "--address", dead, "tenant", "list")
	if err == nil || !strings.HasPrefix(errOut, "error: cannot reach Caddy's admin endpoint at "+dead) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("unreachable: %v %q", err, errOut)
	}
}

// TestCLISecretsNotFromArgs: the client secret and passwords come from standard input only, and the secret
// is never printed back.
func TestCLISecretsNotFromArgs(t *testing.T) {
	e := newCLIEnv(t)
	const secret = "client-secret-from-stdin"
	out := e.ok(secret+"\r\n", "tenant", "sso", "set", "--tenant", "beta", "--provider", "oidc", "--issuer", "http://127.0.0.1:9/oidc",
		"--client-id", "beta-app", "--extra", "jit=true")
	if !strings.Contains(out, "oidc (disabled)") || !strings.Contains(out, "tenant sso enable --tenant beta") || strings.Contains(out, secret) {
		t.Errorf("sso set: %q", out)
	}
	for _, args := range [][]string{{"tenant", "show", "--tenant", "beta"}, {"--json", "tenant", "show", "--tenant", "beta"}, {"audit", "list", "--tenant", "beta"}} {
		if out := e.ok("", args...); strings.Contains(out, secret) {
			t.Errorf("%v shows the secret:\n%s", args, out)
		}
	}
	if out := e.ok("", "tenant", "show", "--tenant", "beta"); !strings.Contains(out, "stored (never shown)") || !strings.Contains(out, "jit:") {
		t.Errorf("tenant show:\n%s", out)
	}
	// --keep-secret reads nothing and keeps the stored secret.
	e.ok("", "tenant", "sso", "set", "--tenant", "beta", "--provider", "oidc", "--issuer", "http://127.0.0.1:9/oidc", "--client-id", "beta-app-2", "--keep-secret")
	if out := e.ok("", "tenant", "sso", "enable", "--tenant", "beta"); !strings.Contains(out, "SSO is on for tenant beta") {
		t.Errorf("enable: %q", out)
	}
	for _, args := range [][]string{
		{"user", "add", "--tenant", "beta", "--user", "x@beta.example", "--password", "hunter2hunter2"},
		{"tenant", "sso", "set", "--tenant", "beta", "--provider", "oidc", "--client-id", "c", "--client-secret", "s"},
	} {
		if _, errOut, err := e.run("", args...); err == nil || !strings.Contains(errOut, "unknown flag") {
			t.Errorf("%v: %v %q", args, err, errOut)
		}
	}
	// An SSO-only operator needs no password at all.
	if out := e.ok("", "user", "add", "--tenant", "beta", "--user", "sso-user@beta.example", "--no-password"); strings.Contains(out, "authenticator") {
		t.Errorf("an SSO operator was told to set up an authenticator: %q", out)
	}
}

func TestReadSecret(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{"pw-123456\n", "pw-123456", ""},
		{"pw-123456", "pw-123456", ""},
		{"pw with spaces \r\n\n", "pw with spaces ", ""},
		{"", "", "no password"},
		{"\nsecond", "", "no password"},
		{"a\nb\n", "", "more than one line"},
		{strings.Repeat("x", 70<<10), "", "too long"},
	}
	for _, tc := range cases {
		cmd := &cobra.Command{}
		cmd.SetIn(strings.NewReader(tc.in))
		got, err := readSecret(cmd, "Password: ", true)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.20q: %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%.20q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCLIAddressFromConfig(t *testing.T) {
	e := newCLIEnv(t)
	dir := t.TempDir()
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte("{\n\tadmin "+e.addr+"\n}\n\nhttp://127.0.0.1:1 {\n\trespond ok\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, "", "--config", cf, "--adapter", "caddyfile", "tenant", "list")
	if err != nil || !strings.Contains(out, "acme") {
		t.Fatalf("--config: %v %s %s", err, out, errOut)
	}
	if errOut != "" {
		t.Errorf("reading the config printed %q", errOut)
	}
	// The adapter follows from the file name, as for caddy reload; a JSON config needs none.
	named := filepath.Join(dir, "site.caddyfile")
	js := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(named, []byte("{\n\tadmin "+e.addr+"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(js, []byte(`{"admin":{"listen":"`+e.addr+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{named, js} {
		if out, errOut, err := runCLI(t, "", "--config", f, "tenant", "list"); err != nil || !strings.Contains(out, "acme") {
			t.Errorf("--config %s: %v %s %s", filepath.Base(f), err, out, errOut)
		}
	}
	if _, errOut, err := runCLI(t, "", "--config", filepath.Join(dir, "missing"), "tenant", "list"); err == nil || !strings.Contains(errOut, "reading the admin address from the config") {
		t.Errorf("a missing config: %v %q", err, errOut)
	}
	// Like caddy reload, an adjacent ./Caddyfile is read when no --config is given.
	t.Chdir(dir)
	if out, errOut, err := runCLI(t, "", "tenant", "list"); err != nil || !strings.Contains(out, "acme") {
		t.Fatalf("adjacent Caddyfile: %v %s %s", err, out, errOut)
	}
}
