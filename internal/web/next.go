package web

import (
	"net/url"
	"path"
	"strings"
)

// maxNextLen bounds the next parameter; a longer one is not a page a person was on.
const maxNextLen = 2048

// maxDecodeRounds bounds repeated percent-decoding; more nested encoding than this is an attack, not a link.
const maxDecodeRounds = 4

// SafeNext returns where to send a browser after sign-in: raw itself (without its fragment) when it is a
// relative path on this host, otherwise "/". It enforces invariant 8 — post-login redirects go only to
// relative paths on the same host — against the usual open-redirect spellings: scheme-relative "//host",
// backslashes that browsers treat as slashes, tabs and newlines that browsers silently delete ("/\t/host"
// becomes "//host"), and any of those hidden under one or more layers of percent-encoding, since a server or
// proxy along the way may decode again. Gateway pages (/.vectis/…) also map to "/" so that sign-in can never
// land on logout or loop back to login.
func SafeNext(raw string) string {
	if raw == "" || len(raw) > maxNextLen {
		return "/"
	}
	// The fragment never reaches the server; dropping it also drops anything hidden inside it.
	raw, _, _ = strings.Cut(raw, "#")
	// The raw form is what lands in the Location header: printable ASCII only, so no spaces, controls or
	// raw UTF-8 (a correctly built next is already percent-encoded).
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] >= 0x7f {
			return "/"
		}
	}
	// A malformed escape ("/%", "/%zz") is not a URL reference at all; found by FuzzSafeNext.
	if _, err := url.ParseRequestURI(raw); err != nil {
		return "/"
	}
	layer := raw
	for round := 0; ; round++ {
		if !safeLayer(layer) {
			return "/"
		}
		decoded := percentDecode(layer)
		if decoded == layer {
			return raw
		}
		if round == maxDecodeRounds {
			return "/"
		}
		layer = decoded
	}
}

// safeLayer judges one decoding of the candidate.
func safeLayer(s string) bool {
	// Must be a path: a leading "/" rules out schemes ("javascript:", "https:"), and the second character
	// must not turn it into an authority ("//host", and "/\host" which browsers read the same way).
	if len(s) == 0 || s[0] != '/' {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	for i := 0; i < len(s); i++ {
		// Backslashes anywhere are refused: browsers fold them into slashes, and no page of ours needs one.
		// Control characters (tab, CR, LF, NUL, DEL) are stripped or mishandled by browsers and proxies.
		if c := s[i]; c == '\\' || c < ' ' || c == 0x7f {
			return false
		}
	}
	p, _, _ := strings.Cut(s, "?")
	// An empty path segment can become a leading "//" once dot segments are resolved ("/x/..//host"), and
	// no page needs one.
	if strings.Contains(p, "//") {
		return false
	}
	// Clean resolves dot segments the way the browser will ("/a/../.vectis/logout"); the prefix check is
	// case-insensitive because a case-folding path router would still reach the gateway.
	p = strings.ToLower(path.Clean(p))
	return p != "/.vectis" && !strings.HasPrefix(p, "/.vectis/")
}

// percentDecode decodes every valid %XX escape and leaves everything else (including a lone or malformed
// "%") as it is, so that "100%25" decodes to "100%" and then stays put instead of failing.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
