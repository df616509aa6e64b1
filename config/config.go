// Package config holds the gateway's typed, validated configuration and its defaults.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Defaults, stated once so docs, parser and code agree.
const (
	DefaultIssuer           = "Vectis"
	DefaultLockoutAttempts  = 5
	DefaultLockoutWindow    = 15 * time.Minute
	DefaultSessionIdle      = time.Hour
	DefaultSessionAbsolute  = 12 * time.Hour
	DefaultPendingLoginLife = 10 * time.Minute
	DefaultRecoveryCodes    = 10
)

// Config is the gateway's whole configuration after parsing. Zero values mean "use the default"
// until Normalize is called; after Normalize every field is set.
type Config struct {
	// PortalHosts pass straight through: exact names (case-insensitive, port ignored) or "*.example.com"
	// which matches exactly one extra label.
	PortalHosts []string
	// Storage says where state lives.
	Storage Storage
	// SecretKey is the 32-byte master key (encryption at rest, MACs). Required after Normalize.
	SecretKey []byte
	// Issuer is the otpauth issuer shown in authenticator apps.
	Issuer string
	// Seed is a JSON file imported once into an empty store.
	Seed string
	// LockoutAttempts failed code attempts within LockoutWindow lock the account for the rest of the window.
	LockoutAttempts int
	LockoutWindow   time.Duration
	// SessionIdle and SessionAbsolute bound a signed-in session.
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	// AuditWebhook, when set, receives every security event as JSON (retried with backoff, never blocking).
	AuditWebhook string
	// PendingLoginLife bounds the time between the password step and the code step.
	PendingLoginLife time.Duration
}

// Storage selects a backend.
type Storage struct {
	// Kind is "bolt" or "redis".
	Kind string
	// Path is the bolt file (Kind bolt).
	Path string
	// URL is the redis URL (Kind redis).
	URL string
}

// Normalize fills in defaults. It never overwrites a set field.
func (c *Config) Normalize() {
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.LockoutAttempts == 0 {
		c.LockoutAttempts = DefaultLockoutAttempts
	}
	if c.LockoutWindow == 0 {
		c.LockoutWindow = DefaultLockoutWindow
	}
	if c.SessionIdle == 0 {
		c.SessionIdle = DefaultSessionIdle
	}
	if c.SessionAbsolute == 0 {
		c.SessionAbsolute = DefaultSessionAbsolute
	}
	if c.PendingLoginLife == 0 {
		c.PendingLoginLife = DefaultPendingLoginLife
	}
	if c.Storage.Kind == "" {
		c.Storage.Kind = "bolt"
	}
	for i, h := range c.PortalHosts {
		c.PortalHosts[i] = strings.ToLower(strings.TrimSpace(h))
	}
}

// Validate reports the first problem in plain words. It only reads.
func (c *Config) Validate() error {
	var errs []error
	if len(c.SecretKey) != 32 {
		errs = append(errs, fmt.Errorf("secret_key must decode to exactly 32 bytes, got %d", len(c.SecretKey)))
	}
	switch c.Storage.Kind {
	case "bolt":
		if c.Storage.Path == "" {
			errs = append(errs, errors.New("storage bolt needs a file path"))
		}
	case "redis":
		if c.Storage.URL == "" {
			errs = append(errs, errors.New("storage redis needs a URL"))
		}
	default:
		errs = append(errs, fmt.Errorf("storage must be bolt or redis, not %q", c.Storage.Kind))
	}
	if c.LockoutAttempts < 1 || c.LockoutAttempts > 100 {
		errs = append(errs, fmt.Errorf("lockout attempts must be between 1 and 100, got %d", c.LockoutAttempts))
	}
	if c.LockoutWindow < time.Minute || c.LockoutWindow > 24*time.Hour {
		errs = append(errs, fmt.Errorf("lockout window must be between 1m and 24h, got %s", c.LockoutWindow))
	}
	if c.SessionIdle < time.Minute {
		errs = append(errs, fmt.Errorf("session idle must be at least 1m, got %s", c.SessionIdle))
	}
	if c.SessionAbsolute < c.SessionIdle {
		errs = append(errs, fmt.Errorf("session absolute (%s) must not be shorter than idle (%s)", c.SessionAbsolute, c.SessionIdle))
	}
	if strings.ContainsAny(c.Issuer, ":") || strings.TrimSpace(c.Issuer) == "" {
		errs = append(errs, fmt.Errorf("issuer must be non-empty and must not contain ':' (it is part of the otpauth label)"))
	}
	if c.AuditWebhook != "" {
		if u, err := url.Parse(c.AuditWebhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL may carry a token: never echo it.
			errs = append(errs, errors.New("audit_webhook must be an http:// or https:// URL"))
		}
	}
	for _, h := range c.PortalHosts {
		if err := ValidHostPattern(h); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ValidHostPattern checks one portal_hosts entry.
func ValidHostPattern(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || strings.ContainsAny(name, "*/:@ ") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return fmt.Errorf("portal host %q is not a host name or *.domain pattern", h)
	}
	return nil
}

// DecodeKey decodes a base64 (standard or URL, padded or not) 32-byte key.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("secret_key decodes to %d bytes; it must be 32 (generate one with: head -c32 /dev/urandom | base64)", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("secret_key is not valid base64 (generate one with: head -c32 /dev/urandom | base64)")
}

// MatchHost reports whether host (any case, optional port) matches one of the normalized patterns.
func MatchHost(patterns []string, host string) bool {
	if len(patterns) == 0 {
		return false
	}
	// Only a well-formed name may match: "[portal.example.com]" or "portal.example.com:abc" is not the portal,
	// and must not pass without sign-in.
	name, ok := hostName(host)
	if !ok {
		return false
	}
	host = strings.TrimSuffix(name, ".")
	for _, p := range patterns {
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			// "*." matches exactly one label: a.portal.example.com, never a.b.portal.example.com
			// nor portal.example.com itself.
			label, parent, found := strings.Cut(host, ".")
			if found && label != "" && parent == rest {
				return true
			}
			continue
		}
		if host == p {
			return true
		}
	}
	return false
}

// StripPort removes a :port suffix, handling bracketed IPv6 literals.
func StripPort(hostport string) string {
	if strings.IndexByte(hostport, ':') < 0 {
		// No port (the usual Host on :443 and :80): skip SplitHostPort, whose error allocates.
		return strings.Trim(hostport, "[]")
	}
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// hostName returns the lower-case DNS name of a Host header value (optional numeric port), or false when the
// value is not a plain host name (brackets, IP literals with ports are fine to refuse: portals have names).
func hostName(hostport string) (string, bool) {
	h := hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		port := hostport[i+1:]
		if port == "" || len(port) > 5 {
			return "", false
		}
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return "", false
			}
		}
		h = hostport[:i]
	}
	if h == "" || len(h) > 253 {
		return "", false
	}
	for j := 0; j < len(h); j++ {
		c := h[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "", false
		}
	}
	return strings.ToLower(h), true
}
