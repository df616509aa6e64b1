package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vectis/mfa-gateway/internal/admin"
	"github.com/vectis/mfa-gateway/internal/audit"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "vectis",
		Usage: "<tenant|user|sessions|support|audit> <action> [flags]",
		Short: "Manages the running Vectis MFA gateway's tenants, operators and SSO",
		Long: `
Manages the tenants, operators, SSO settings and break-glass admins of a
running Vectis MFA gateway through Caddy's admin API (the admin.api.vectis
module), the way 'caddy reload' talks to a running Caddy. Every change is
audited in the tenant's trail.

The admin endpoint is found like 'caddy reload' finds it: --address if given,
else the admin listener of --config (or of ./Caddyfile), else localhost:2019.

Output is a human-readable table; --json prints the API's JSON instead. On
failure the exit status is 1 and the reason is printed on one line (a
validation failure lists each problem on the lines after it).

Passwords and client secrets are never taken from the command line (other
users of the machine could read them): they are asked for at a terminal, or
read from standard input when it is not one.

  vectis tenant add --tenant ID --name NAME [--billing-email ADDR]
  vectis tenant list
  vectis tenant show --tenant ID
  vectis tenant sso set --tenant ID --provider P [--issuer URL] --client-id ID [--extra KEY=VALUE]... [--keep-secret]
  vectis tenant sso enable|disable --tenant ID
  vectis tenant break-glass add|remove --tenant ID --user EMAIL
  vectis user add --tenant ID --user EMAIL [--role member|admin] [--no-password]
  vectis user import FILE|-
  vectis user list --tenant ID
  vectis user disable|enable|reset-mfa|unlock --tenant ID --user EMAIL
  vectis sessions revoke --tenant ID --user EMAIL
  vectis support reset-mfa --tenant ID --user EMAIL --requester-email ADDR --ticket REF [--engineer NAME]
  vectis audit list --tenant ID [--limit N]
`,
		CobraFunc: vectisCommand,
	})
}

// cli is one run of a vectis subcommand.
type cli struct {
	cmd     *cobra.Command
	address string
	config  string
	adapter string
	json    bool
}

func vectisCommand(root *cobra.Command) {
	c := &cli{}
	pf := root.PersistentFlags()
	pf.StringVar(&c.address, "address", "", "Address of Caddy's admin endpoint, if not the one in the config")
	pf.StringVarP(&c.config, "config", "c", "", "Config file to read the admin endpoint's address from")
	pf.StringVarP(&c.adapter, "adapter", "a", "", "Name of the config adapter for --config")
	pf.BoolVar(&c.json, "json", false, "Print JSON instead of a table")
	root.RunE = group

	tenant := subgroup(root, "tenant", "Manages tenants (Vectis workspaces)")
	tenant.AddCommand(
		c.command("add", "Adds a tenant", c.tenantAdd, func(f *cobra.Command) {
			f.Flags().String("tenant", "", "Tenant id: lower-case letters, digits and hyphens (required)")
			f.Flags().String("name", "", "Display name (required)")
			f.Flags().String("billing-email", "", "Billing email on file; support's sole-admin recovery checks requesters against it")
		}),
		c.command("list", "Lists tenants", c.tenantList, nil),
		c.command("show", "Shows one tenant", c.tenantShow, tenantFlag),
	)
	ssoCmd := subgroup(tenant, "sso", "Manages a tenant's single sign-on")
	ssoCmd.AddCommand(
		c.command("set", "Stores a tenant's SSO settings (the client secret is read from a prompt or standard input)", c.ssoSet, func(f *cobra.Command) {
			tenantFlag(f)
			f.Flags().String("provider", "", "okta, entra, google, jumpcloud or oidc (required)")
			f.Flags().String("issuer", "", "The provider's issuer URL (required for okta and oidc; derived for the others)")
			f.Flags().String("client-id", "", "The OIDC client id (required)")
			f.Flags().StringArray("extra", nil, "A provider setting as KEY=VALUE (tenant_id, cloud_host, hosted_domains, jit, token_auth_method); repeatable")
			f.Flags().Bool("keep-secret", false, "Keep the stored client secret instead of reading a new one")
		}),
		c.command("enable", "Turns a tenant's SSO on (at each operator's next sign-in)", c.ssoEnable(true), tenantFlag),
		c.command("disable", "Turns a tenant's SSO off (at each operator's next sign-in)", c.ssoEnable(false), tenantFlag),
	)
	bg := subgroup(tenant, "break-glass", "Manages a tenant's break-glass admins (password + TOTP even with SSO on)")
	bg.AddCommand(
		c.command("add", "Makes an admin a break-glass account", c.breakGlass(true), userFlags),
		c.command("remove", "Takes an admin off the break-glass list", c.breakGlass(false), userFlags),
	)

	userCmd := subgroup(root, "user", "Manages operators")
	userCmd.AddCommand(
		c.command("add", "Adds an operator (the password is read from a prompt or standard input)", c.userAdd, func(f *cobra.Command) {
			userFlags(f)
			f.Flags().String("role", "member", "member or admin")
			f.Flags().Bool("no-password", false, "Add an operator who signs in only through the tenant's SSO")
		}),
		c.importCommand(),
		c.command("list", "Lists a tenant's operators", c.userList, tenantFlag),
		c.command("disable", "Disables an operator and ends their sessions at once", c.userAction("disable"), userFlags),
		c.command("enable", "Enables a disabled operator", c.userAction("enable"), userFlags),
		c.command("reset-mfa", "Clears an operator's authenticator and recovery codes and ends their sessions; they enroll at next sign-in", c.userAction("reset-mfa"), userFlags),
		c.command("unlock", "Clears an operator's code lockout", c.userAction("unlock"), userFlags),
	)
	sessions := subgroup(root, "sessions", "Manages sign-in sessions")
	sessions.AddCommand(c.command("revoke", "Ends every session and half-finished sign-in of an operator", c.userAction("sessions/revoke"), userFlags))

	support := subgroup(root, "support", "Support's audited recovery operations")
	support.AddCommand(c.command("reset-mfa", "Sole-admin recovery: resets an admin's MFA after checking the requester against the billing email on file", c.supportReset, func(f *cobra.Command) {
		userFlags(f)
		f.Flags().String("requester-email", "", "Email of the person asking; must equal the tenant's billing email on file (required)")
		f.Flags().String("ticket", "", "Support ticket reference, kept in the audit trail (required)")
		f.Flags().String("engineer", "", "Support engineer named in the audit trail (default: your user name)")
	}))

	auditCmd := subgroup(root, "audit", "Reads a tenant's audit trail")
	auditCmd.AddCommand(c.command("list", "Lists a tenant's most recent security events, newest first", c.auditList, func(f *cobra.Command) {
		tenantFlag(f)
		f.Flags().Int("limit", 50, fmt.Sprintf("How many events (1 to %d)", audit.Keep))
	}))
}

func tenantFlag(f *cobra.Command) {
	f.Flags().String("tenant", "", "Tenant id (required)")
}

func userFlags(f *cobra.Command) {
	tenantFlag(f)
	f.Flags().String("user", "", "The operator's email (required)")
}

// group is the action of a command that only holds subcommands: it names what is missing.
func group(cmd *cobra.Command, args []string) error {
	cmd.SilenceErrors = true
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	err := fmt.Errorf("%s needs one of: %s (see --help)", cmd.CommandPath(), strings.Join(names, ", "))
	if len(args) > 0 {
		err = fmt.Errorf("unknown command %q for %s; use one of: %s", args[0], cmd.CommandPath(), strings.Join(names, ", "))
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "error:", err)
	return err
}

func subgroup(parent *cobra.Command, name, short string) *cobra.Command {
	g := &cobra.Command{Use: name, Short: short, RunE: group}
	parent.AddCommand(g)
	return g
}

// command makes a leaf command whose failures print one "error:" line and exit with status 1.
func (c *cli) command(name, short string, run func(cmd *cobra.Command, args []string) error, flags func(*cobra.Command)) *cobra.Command {
	cmd := &cobra.Command{Use: name, Short: short, Args: cobra.NoArgs}
	if flags != nil {
		flags(cmd)
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c.cmd = cmd
		err := run(cmd, args)
		if err != nil {
			// Caddy would log it as a JSON line; a person wants the reason.
			cmd.SilenceErrors = true
			msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "\n  ")
			fmt.Fprintln(cmd.ErrOrStderr(), "error:", msg)
		}
		return err
	}
	return cmd
}

// need returns the values of required string flags, or an error naming the first missing one.
func need(cmd *cobra.Command, names ...string) ([]string, error) {
	vals := make([]string, len(names))
	for i, n := range names {
		v, err := cmd.Flags().GetString(n)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("--%s is required", n)
		}
		vals[i] = strings.TrimSpace(v)
	}
	return vals, nil
}

func flagString(cmd *cobra.Command, name string) string {
	v, _ := cmd.Flags().GetString(name)
	return strings.TrimSpace(v)
}

func flagBool(cmd *cobra.Command, name string) bool {
	v, _ := cmd.Flags().GetBool(name)
	return v
}

// adminAddress finds the admin endpoint the way `caddy reload` does: --address, else the admin listener of
// --config (or of an adjacent ./Caddyfile), else Caddy's default.
func (c *cli) adminAddress() (string, error) {
	if c.address != "" {
		return c.address, nil
	}
	cfg, file, err := loadConfig(c.config, c.adapter)
	if err != nil {
		return "", fmt.Errorf("reading the admin address from the config: %w", err)
	}
	addr, err := caddycmd.DetermineAdminAPIAddress("", cfg, file, c.adapter)
	if err != nil {
		return "", fmt.Errorf("finding the admin address: %w", err)
	}
	return addr, nil
}

// loadConfig reads and adapts the config as caddycmd.LoadConfig does, minus its log lines, which would
// clutter a command whose output is a table or JSON.
func loadConfig(file, adapter string) ([]byte, string, error) {
	if adapter != "" && file == "" {
		return nil, "", errors.New("--adapter needs --config")
	}
	if file == "" {
		if _, err := os.Stat("Caddyfile"); errors.Is(err, fs.ErrNotExist) {
			return nil, "", nil
		} else if err != nil {
			return nil, "", err
		}
		file = "Caddyfile"
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, "", err
	}
	if base := filepath.Base(file); adapter == "" && (strings.HasPrefix(base, "Caddyfile") || filepath.Ext(base) == ".caddyfile") {
		adapter = "caddyfile"
	}
	if adapter == "" {
		return data, file, nil
	}
	a := caddyconfig.GetAdapter(adapter)
	if a == nil {
		return nil, "", fmt.Errorf("unrecognized config adapter: %s", adapter)
	}
	data, _, err = a.Adapt(data, map[string]any{"filename": file})
	if err != nil {
		return nil, "", fmt.Errorf("adapting %s with %s: %w", file, adapter, err)
	}
	return data, file, nil
}

// call sends one request to the admin API and returns the answer's body. body is sent as JSON; a []byte
// is sent as it is. An error answer becomes an error carrying the API's message.
func (c *cli) call(method, path string, body any, timeout time.Duration) ([]byte, error) {
	addr, err := c.adminAddress()
	if err != nil {
		return nil, err
	}
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil || na.PortRangeSize() > 1 {
		return nil, fmt.Errorf("invalid admin address %q", addr)
	}
	if na.IsFdNetwork() {
		return nil, fmt.Errorf("admin address %q is a file descriptor; give --address", addr)
	}
	origin := "http://" + na.JoinHostPort(0)
	dialAddr := na.JoinHostPort(0)
	if na.IsUnixNetwork() {
		// Unix sockets carry no host; Caddy accepts 127.0.0.1. "|0220"-style permission bits are not part of
		// the path.
		origin = "http://127.0.0.1"
		dialAddr, _, _ = strings.Cut(na.Host, "|")
	}

	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, origin+path, rd)
	if err != nil {
		return nil, err
	}
	if !na.IsUnixNetwork() {
		req.Header.Set("Origin", origin)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	if name := actorName(); name != "" {
		req.Header.Set("Vectis-Actor", name)
	}
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, na.Network, dialAddr)
		},
	}}
	resp, err := hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return nil, fmt.Errorf("cannot reach Caddy's admin endpoint at %s (is the gateway running? see --address and --config): %v", addr, op.Err)
		}
		return nil, fmt.Errorf("admin endpoint at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer from %s: %w", addr, err)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("the admin endpoint at %s has no vectis API (is this the Vectis gateway?)", addr)
		}
		return nil, fmt.Errorf("admin endpoint at %s answered %s", addr, resp.Status)
	}
	return data, nil
}

// do calls the API and prints the answer: as indented JSON with --json, else through human.
func (c *cli) do(method, path string, body any, timeout time.Duration, out any, human func()) error {
	data, err := c.call(method, path, body, timeout)
	if err != nil {
		return err
	}
	w := c.cmd.OutOrStdout()
	if c.json {
		var buf bytes.Buffer
		if err := json.Indent(&buf, bytes.TrimSpace(data), "", "  "); err != nil {
			return fmt.Errorf("the admin endpoint answered with something that is not JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("reading the admin endpoint's answer: %w", err)
		}
	}
	human()
	return nil
}

func (c *cli) printf(format string, args ...any) {
	fmt.Fprintf(c.cmd.OutOrStdout(), format, args...)
}

func (c *cli) warnings(ws []string) {
	for _, w := range ws {
		fmt.Fprintln(c.cmd.ErrOrStderr(), "warning:", w)
	}
}

func (c *cli) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(c.cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// How long the CLI waits: a little longer than the API's own bounds, so the API's answer arrives first.
const (
	shortTimeout        = apiTimeout + 10*time.Second
	importClientTimeout = importTimeout + time.Minute
)

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func pathOf(parts ...string) string {
	var b strings.Builder
	b.WriteString("/vectis")
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

func (c *cli) tenantAdd(cmd *cobra.Command, _ []string) error {
	v, err := need(cmd, "tenant", "name")
	if err != nil {
		return err
	}
	var t admin.TenantInfo
	in := admin.TenantInput{ID: v[0], Name: v[1], BillingEmail: flagString(cmd, "billing-email")}
	return c.do(http.MethodPost, "/vectis/tenants", in, shortTimeout, &t, func() {
		c.printf("Added tenant %s (%s).\n", t.ID, t.Name)
		c.warnings(t.Warnings)
	})
}

func ssoSummary(s *admin.SSOInfo) string {
	switch {
	case s == nil:
		return "-"
	case s.Enabled:
		return s.Provider + " (enabled)"
	}
	return s.Provider + " (disabled)"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *cli) tenantList(*cobra.Command, []string) error {
	var ts []admin.TenantInfo
	return c.do(http.MethodGet, "/vectis/tenants", nil, shortTimeout, &ts, func() {
		rows := make([][]string, 0, len(ts))
		for _, t := range ts {
			rows = append(rows, []string{t.ID, t.Name, orDash(t.BillingEmail), ssoSummary(t.SSO), orDash(strings.Join(t.BreakGlass, ","))})
		}
		c.table("TENANT\tNAME\tBILLING EMAIL\tSSO\tBREAK-GLASS", rows)
	})
}

func (c *cli) tenantShow(cmd *cobra.Command, _ []string) error {
	v, err := need(cmd, "tenant")
	if err != nil {
		return err
	}
	var t admin.TenantInfo
	return c.do(http.MethodGet, pathOf("tenants", v[0]), nil, shortTimeout, &t, func() {
		rows := [][]string{{"Tenant:", t.ID}, {"Name:", t.Name}, {"Billing email:", orDash(t.BillingEmail)}}
		if !t.CreatedAt.IsZero() {
			rows = append(rows, []string{"Created:", t.CreatedAt.UTC().Format(time.RFC3339)})
		}
		if t.Operators != nil {
			rows = append(rows, []string{"Operators:", fmt.Sprint(*t.Operators)})
		}
		rows = append(rows, []string{"SSO:", ssoSummary(t.SSO)})
		if s := t.SSO; s != nil {
			secret := "not stored"
			if s.ClientSecretSet {
				secret = "stored (never shown)"
			}
			rows = append(rows, []string{"  Issuer:", orDash(s.Issuer)}, []string{"  Client id:", s.ClientID}, []string{"  Client secret:", secret})
			keys := make([]string, 0, len(s.Extra))
			for k := range s.Extra {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				rows = append(rows, []string{"  " + k + ":", s.Extra[k]})
			}
		}
		rows = append(rows, []string{"Break-glass:", orDash(strings.Join(t.BreakGlass, ", "))})
		tw := tabwriter.NewWriter(c.cmd.OutOrStdout(), 0, 0, 1, ' ', 0)
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		tw.Flush()
		c.warnings(t.Warnings)
	})
}

func (c *cli) ssoSet(cmd *cobra.Command, _ []string) error {
	v, err := need(cmd, "tenant", "provider", "client-id")
	if err != nil {
		return err
	}
	in := admin.SSOInput{Provider: v[1], Issuer: flagString(cmd, "issuer"), ClientID: v[2], Extra: map[string]string{}}
	extras, _ := cmd.Flags().GetStringArray("extra")
	for _, kv := range extras {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("--extra %q must look like KEY=VALUE", kv)
		}
		k = strings.TrimSpace(k)
		if _, dup := in.Extra[k]; dup {
			return fmt.Errorf("--extra %s is given twice", k)
		}
		in.Extra[k] = strings.TrimSpace(val)
	}
	if !flagBool(cmd, "keep-secret") {
		if in.ClientSecret, err = readSecret(cmd, "Client secret for "+v[0]+": ", false); err != nil {
			return err
		}
	}
	var t admin.TenantInfo
	return c.do(http.MethodPut, pathOf("tenants", v[0], "sso"), in, shortTimeout, &t, func() {
		c.printf("Stored the SSO settings of tenant %s: %s.\n", t.ID, ssoSummary(t.SSO))
		if t.SSO != nil && !t.SSO.Enabled {
			c.printf("Turn SSO on with: %s vectis tenant sso enable --tenant %s\n", binName(), t.ID)
		}
		c.warnings(t.Warnings)
	})
}

func (c *cli) ssoEnable(enabled bool) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		v, err := need(cmd, "tenant")
		if err != nil {
			return err
		}
		action := "disable"
		if enabled {
			action = "enable"
		}
		var t admin.TenantInfo
		return c.do(http.MethodPost, pathOf("tenants", v[0], "sso", action), nil, shortTimeout, &t, func() {
			state := "off"
			if t.SSO != nil && t.SSO.Enabled {
				state = "on"
			}
			c.printf("SSO is %s for tenant %s; it applies at each operator's next sign-in.\n", state, t.ID)
			c.warnings(t.Warnings)
		})
	}
}

func (c *cli) breakGlass(add bool) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		v, err := need(cmd, "tenant", "user")
		if err != nil {
			return err
		}
		var t admin.TenantInfo
		human := func() {
			if add {
				c.printf("%s is a break-glass admin of tenant %s: password and authenticator app, even with SSO on.\n", strings.ToLower(v[1]), t.ID)
			} else {
				c.printf("%s is no longer a break-glass admin of tenant %s.\n", strings.ToLower(v[1]), t.ID)
			}
			c.warnings(t.Warnings)
		}
		if add {
			return c.do(http.MethodPost, pathOf("tenants", v[0], "break-glass"), map[string]string{"email": v[1]}, shortTimeout, &t, human)
		}
		return c.do(http.MethodDelete, pathOf("tenants", v[0], "break-glass", v[1]), nil, shortTimeout, &t, human)
	}
}

func (c *cli) userAdd(cmd *cobra.Command, _ []string) error {
	v, err := need(cmd, "tenant", "user")
	if err != nil {
		return err
	}
	in := admin.UserInput{Email: v[1], Role: flagString(cmd, "role"), NoPassword: flagBool(cmd, "no-password")}
	if !in.NoPassword {
		if in.Password, err = readSecret(cmd, "Password for "+v[1]+": ", true); err != nil {
			return err
		}
	}
	var row admin.UserRow
	return c.do(http.MethodPost, pathOf("tenants", v[0], "users"), in, shortTimeout, &row, func() {
		c.printf("Added %s to tenant %s as %s (id %s).\n", row.Email, v[0], row.Role, row.ID)
		if row.Method != "sso" {
			c.printf("They set up their authenticator app at their first sign-in.\n")
		}
	})
}

func (c *cli) importCommand() *cobra.Command {
	cmd := c.command("import", "Imports tenants and operators from a seed-format JSON file (- for standard input)", c.userImport, nil)
	cmd.Use = "import FILE|-"
	cmd.Args = cobra.ExactArgs(1)
	return cmd
}

func (c *cli) userImport(cmd *cobra.Command, args []string) error {
	var r io.Reader
	if args[0] == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxImportBytes+1))
	if err != nil {
		return err
	}
	if len(data) > maxImportBytes {
		return fmt.Errorf("%s is larger than %d bytes; split it", args[0], maxImportBytes)
	}
	var res admin.ImportResult
	return c.do(http.MethodPost, "/vectis/import", data, importClientTimeout, &res, func() {
		c.printf("Imported %d tenant%s and %d operator%s.\n", res.Tenants, plural(res.Tenants, "", "s"), res.Operators, plural(res.Operators, "", "s"))
	})
}

func (c *cli) userList(cmd *cobra.Command, _ []string) error {
	v, err := need(cmd, "tenant")
	if err != nil {
		return err
	}
	var users []admin.UserRow
	return c.do(http.MethodGet, pathOf("tenants", v[0], "users"), nil, shortTimeout, &users, func() {
		rows := make([][]string, 0, len(users))
		for _, u := range users {
			enrolled, codes, locked, status := "no", "-", "-", "active"
			if u.Enrolled {
				enrolled, codes = "yes", fmt.Sprint(u.RecoveryLeft)
			}
			if !u.LockedUntil.IsZero() {
				locked = u.LockedUntil.UTC().Format(time.RFC3339)
			}
			if u.Disabled {
				status = "disabled"
			}
			rows = append(rows, []string{u.Email, u.Role, u.Method, enrolled, codes, locked, status, u.ID})
		}
		c.table("EMAIL\tROLE\tMETHOD\tENROLLED\tRECOVERY CODES\tLOCKED UNTIL\tSTATUS\tID", rows)
	})
}

func (c *cli) userAction(action string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		v, err := need(cmd, "tenant", "user")
		if err != nil {
			return err
		}
		var res userResult
		return c.do(http.MethodPost, pathOf("tenants", v[0], "users", v[1])+"/"+action, nil, shortTimeout, &res, func() {
			switch action {
			case "disable":
				c.printf("Disabled %s in tenant %s; their sessions ended.\n", res.Email, res.Tenant)
			case "enable":
				c.printf("Enabled %s in tenant %s.\n", res.Email, res.Tenant)
			case "reset-mfa":
				c.printf("Reset the MFA of %s in tenant %s: sessions ended, authenticator and recovery codes cleared; they enroll again at their next sign-in.\n", res.Email, res.Tenant)
			case "unlock":
				c.printf("Unlocked %s in tenant %s.\n", res.Email, res.Tenant)
			case "sessions/revoke":
				n := 0
				if res.SessionsEnded != nil {
					n = *res.SessionsEnded
				}
				c.printf("Ended %d session%s of %s in tenant %s.\n", n, plural(n, "", "s"), res.Email, res.Tenant)
			}
		})
	}
}

func (c *cli) supportReset(cmd *cobra.Command, _ []string) error {
	v, err := need(cmd, "tenant", "user", "requester-email", "ticket")
	if err != nil {
		return err
	}
	in := supportRequest{Tenant: v[0], User: v[1], RequesterEmail: v[2], Ticket: v[3], Engineer: flagString(cmd, "engineer")}
	var res map[string]string
	return c.do(http.MethodPost, "/vectis/support/reset-mfa", in, shortTimeout, &res, func() {
		c.printf("Reset the MFA of %s in tenant %s (ticket %s); they enroll again at their next sign-in.\n", res["user"], res["tenant"], res["ticket"])
	})
}

func (c *cli) auditList(cmd *cobra.Command, _ []string) error {
	v, err := need(cmd, "tenant")
	if err != nil {
		return err
	}
	limit, _ := cmd.Flags().GetInt("limit")
	var events []audit.Event
	return c.do(http.MethodGet, pathOf("tenants", v[0], "audit")+fmt.Sprintf("?limit=%d", limit), nil, shortTimeout, &events, func() {
		rows := make([][]string, 0, len(events))
		for _, e := range events {
			keys := make([]string, 0, len(e.Detail))
			for k := range e.Detail {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var detail []string
			for _, k := range keys {
				detail = append(detail, k+"="+e.Detail[k])
			}
			rows = append(rows, []string{e.Time.UTC().Format(time.RFC3339), e.Type, orDash(e.Email), orDash(e.Actor),
				orDash(e.Method), orDash(e.Reason), orDash(strings.Join(detail, " "))})
		}
		c.table("TIME\tEVENT\tEMAIL\tACTOR\tMETHOD\tREASON\tDETAIL", rows)
	})
}

// readSecret reads a password or client secret: from a prompt without echo when standard input is a
// terminal (twice when confirm is set), else the first line of standard input. Never from argv.
func readSecret(cmd *cobra.Command, prompt string, confirm bool) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		errw := cmd.ErrOrStderr()
		fmt.Fprint(errw, prompt)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(errw)
		if err != nil {
			return "", fmt.Errorf("reading from the terminal: %w", err)
		}
		if confirm {
			fmt.Fprint(errw, "Again: ")
			second, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(errw)
			if err != nil {
				return "", fmt.Errorf("reading from the terminal: %w", err)
			}
			if !bytes.Equal(first, second) {
				return "", errors.New("the two entries differ")
			}
		}
		if len(first) == 0 {
			return "", errors.New("nothing was entered")
		}
		return string(first), nil
	}
	data, err := io.ReadAll(io.LimitReader(in, 64<<10+1))
	if err != nil {
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	if len(data) > 64<<10 {
		return "", errors.New("standard input is too long for a password or secret")
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10+1)
	var lines []string
	for sc.Scan() {
		lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	switch {
	case len(lines) == 0 || lines[0] == "":
		return "", errors.New("no password or secret on standard input (pipe it in, or run at a terminal to be asked)")
	case len(lines) > 1:
		return "", errors.New("standard input has more than one line; give the password or secret alone")
	}
	return lines[0], nil
}

// actorName is the local user, named in the audit trail next to "cli".
func actorName() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = os.Getenv("USER")
	}
	if len(name) > maxActorNameLength || strings.IndexFunc(name, func(c rune) bool { return c <= ' ' || c >= 0x7f }) >= 0 {
		return ""
	}
	return name
}

func binName() string {
	if len(os.Args) > 0 && os.Args[0] != "" {
		return filepath.Base(os.Args[0])
	}
	return "vectis-gateway"
}
