package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("vectis_mfa", parseCaddyfile)
	// vectis_mfa must decide before anything can answer or proxy a request. "redir" is the first
	// directive in Caddy's standard order that can answer one; everything above it (tracing, map,
	// vars, fs, root, log_*, header, request_body, timeouts) only sets variables, response headers or
	// limits, which should apply to the gateway's own pages too. So the gateway runs before redir,
	// and therefore before method/rewrite/uri/try_files (it sees the URI the browser sent, which is
	// what its login redirect must return to), basic_auth, forward_auth, handle/route blocks, respond,
	// reverse_proxy, php_fastcgi and file_server.
	httpcaddyfile.RegisterDirectiveOrder("vectis_mfa", httpcaddyfile.Before, "redir")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	if err := m.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return m, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	vectis_mfa [<matcher>] {
//	    portal_hosts <host...>
//	    storage bolt [<path>] | storage redis <url>
//	    secret_key <base64>
//	    issuer <name>
//	    seed <file>
//	    lockout <attempts> <window>
//	    session [idle <duration>] [absolute <duration>]
//	    secure_cookies
//	    audit_webhook <url>
//	}
//
// Every subdirective is optional and, except portal_hosts (which adds to the list), may appear once.
// A <host> is an exact name or *.domain. secret_key, seed, and the storage path and url accept
// runtime placeholders such as {env.VECTIS_GATEWAY_KEY}. Durations use Caddy's syntax (90s, 15m,
// 12h, 1d). A matcher, if given, must still match /.vectis/* or the sign-in pages become unreachable.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		sub, line, file := d.Val(), d.Line(), d.File()
		if seen[sub] && sub != "portal_hosts" {
			return d.Errf("vectis_mfa: %s is set more than once", sub)
		}
		seen[sub] = true

		var err error
		switch sub {
		case "portal_hosts":
			hosts := d.RemainingArgs()
			if len(hosts) == 0 {
				return d.ArgErr()
			}
			h.PortalHosts = append(h.PortalHosts, hosts...)
		case "storage":
			h.Storage, err = parseStorage(d)
		case "secret_key":
			h.SecretKey, err = oneArg(d)
		case "issuer":
			h.Issuer, err = oneArg(d)
		case "seed":
			h.Seed, err = oneArg(d)
		case "lockout":
			h.Lockout, err = parseLockout(d)
		case "session":
			h.Session, err = parseSession(d)
		case "audit_webhook":
			h.AuditWebhook, err = oneArg(d)
		case "secure_cookies":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.SecureCookies = true
		default:
			return d.Errf("vectis_mfa: unrecognized subdirective %q", sub)
		}
		if err != nil {
			return err
		}
		// No subdirective takes a block; "issuer x {" must not silently swallow what follows.
		// The argument parsers stop before an unquoted "{" on the same line, so look for one.
		if d.Next() {
			if d.Val() == "{" && d.Line() == line && d.File() == file {
				return d.Errf("vectis_mfa: %s does not take a block", sub)
			}
			d.Prev()
		}
	}
	return nil
}

// oneArg reads exactly one argument.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	var v string
	if !d.AllArgs(&v) {
		return "", d.ArgErr()
	}
	return v, nil
}

func parseStorage(d *caddyfile.Dispenser) (*Storage, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	s := &Storage{Type: d.Val()}
	switch s.Type {
	case "bolt":
		if d.NextArg() {
			s.Path = d.Val()
		}
	case "redis":
		if !d.NextArg() {
			return nil, d.Err("vectis_mfa: storage redis needs a URL")
		}
		s.URL = d.Val()
	default:
		return nil, d.Errf("vectis_mfa: unknown storage type %q (want bolt or redis)", s.Type)
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	return s, nil
}

func parseLockout(d *caddyfile.Dispenser) (*Lockout, error) {
	var attempts, window string
	if !d.AllArgs(&attempts, &window) {
		return nil, d.ArgErr()
	}
	n, err := strconv.Atoi(attempts)
	// Zero would read as "use the default" later; refuse it here rather than surprise.
	if err != nil || n < 1 {
		return nil, d.Errf("vectis_mfa: lockout attempts must be a positive integer, not %q", attempts)
	}
	w, err := parseDuration(d, "lockout window", window)
	if err != nil {
		return nil, err
	}
	return &Lockout{Attempts: n, Window: w}, nil
}

func parseSession(d *caddyfile.Dispenser) (*Session, error) {
	args := d.RemainingArgs()
	if len(args) == 0 || len(args)%2 != 0 {
		return nil, d.ArgErr()
	}
	s := new(Session)
	for i := 0; i < len(args); i += 2 {
		var dst *caddy.Duration
		switch args[i] {
		case "idle":
			dst = &s.Idle
		case "absolute":
			dst = &s.Absolute
		default:
			return nil, d.Errf("vectis_mfa: session setting must be idle or absolute, not %q", args[i])
		}
		if *dst != 0 {
			return nil, d.Errf("vectis_mfa: session %s is set more than once", args[i])
		}
		v, err := parseDuration(d, "session "+args[i], args[i+1])
		if err != nil {
			return nil, err
		}
		*dst = v
	}
	return s, nil
}

func parseDuration(d *caddyfile.Dispenser, what, s string) (caddy.Duration, error) {
	v, err := caddy.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, d.Errf("vectis_mfa: %s must be a positive duration like 15m, not %q", what, s)
	}
	return caddy.Duration(v), nil
}
