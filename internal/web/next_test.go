package web

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		// Kept.
		{"root", "/", "/"},
		{"path with query", "/reports?x=1", "/reports?x=1"},
		{"fragment dropped", "/a/b?c=d#frag", "/a/b?c=d"},
		{"encoded space in query", "/search?q=hello%20world", "/search?q=hello%20world"},
		{"encoded percent", "/discount?pct=100%25", "/discount?pct=100%25"},
		{"url in query", "/go?to=https://example.com/x", "/go?to=https://example.com/x"},
		{"encoded utf-8 path", "/caf%C3%A9", "/caf%C3%A9"},
		{"encoded slash in segment", "/files/a%2Fb", "/files/a%2Fb"},
		{"double-encoded slash in segment", "/files/a%252Fb", "/files/a%252Fb"},
		{"dot-vectis look-alike", "/.vectisreports", "/.vectisreports"},
		{"vectis without dot", "/vectis/logout", "/vectis/logout"},
		{"trailing question mark", "/x?", "/x?"},
		{"colon in path", "/time/12:30", "/time/12:30"},

		// Empty and oversized.
		{"empty", "", "/"},
		{"fragment only", "#/x", "/"},
		{"too long", "/" + strings.Repeat("a", maxNextLen), "/"},

		// Other hosts.
		{"scheme-relative", "//evil.example", "/"},
		{"triple slash", "///evil.example", "/"},
		{"slash backslash", `/\evil.example`, "/"},
		{"double backslash", `\\evil.example`, "/"},
		{"backslash slash", `\/evil.example`, "/"},
		{"backslash later in path", `/a\..\\evil.example`, "/"},
		{"absolute https", "https://evil.example", "/"},
		{"absolute http", "http://evil.example/", "/"},
		{"scheme with single slash", "http:/evil.example", "/"},
		{"scheme without slash", "https:evil.example", "/"},
		{"userinfo trick", "//example.com@evil.example", "/"},
		{"relative path", "evil.example", "/"},
		{"dot-slash relative", "./x", "/"},
		{"query only", "?x=1", "/"},
		{"dot segments to double slash", "/x/..//evil.example", "/"},

		// Percent-encoded, once and more.
		{"encoded slashes", "/%2F%2Fevil.example", "/"},
		{"encoded lower-case slashes", "/%2f%2fevil.example", "/"},
		{"one encoded slash", "/%2Fevil.example", "/"},
		{"encoded backslash", "/%5Cevil.example", "/"},
		{"encoded backslash lower", "/%5cevil.example", "/"},
		{"double-encoded slashes", "/%252F%252Fevil.example", "/"},
		{"triple-encoded slashes", "/%25252F%25252Fevil.example", "/"},
		{"double-encoded backslash", "/%255Cevil.example", "/"},
		{"encoded whole url", "%2F%2Fevil.example", "/"},
		{"encoded scheme", "https%3A%2F%2Fevil.example", "/"},
		{"too many encoding layers", "/x%2525252525252541", "/"},

		// Schemes that run code.
		{"javascript", "javascript:alert(1)", "/"},
		{"javascript upper", "JavaScript:alert(1)", "/"},
		{"data url", "data:text/html,<script>alert(1)</script>", "/"},
		{"javascript after slash-less space", " javascript:alert(1)", "/"},

		// Whitespace and control characters, which browsers strip or fold.
		{"leading space", " /x", "/"},
		{"leading tab", "\t/x", "/"},
		{"leading newline", "\n/x", "/"},
		{"leading NUL", "\x00/x", "/"},
		{"leading form feed", "\f//evil.example", "/"},
		{"tab between slashes", "/\t/evil.example", "/"},
		{"newline between slashes", "/\n/evil.example", "/"},
		{"CR between slashes", "/\r/evil.example", "/"},
		{"encoded tab between slashes", "/%09/evil.example", "/"},
		{"encoded newline between slashes", "/%0A/evil.example", "/"},
		{"header injection", "/x\r\nSet-Cookie: a=b", "/"},
		{"encoded header injection", "/x%0d%0aSet-Cookie:%20a=b", "/"},
		{"trailing space", "/x ", "/"},
		{"DEL", "/x\x7f", "/"},
		{"raw utf-8", "/café", "/"},
		{"unicode slash look-alike", "/\u2215evil.example", "/"},
		{"fullwidth slash", "/／evil.example", "/"},

		// Gateway pages, to avoid landing on logout or looping through login.
		{"logout", "/.vectis/logout", "/"},
		{"login with next", "/.vectis/login?next=/x", "/"},
		{"gateway root", "/.vectis", "/"},
		{"gateway root slash", "/.vectis/", "/"},
		{"gateway with query", "/.vectis?x", "/"},
		{"gateway upper case", "/.VECTIS/logout", "/"},
		{"gateway encoded dot", "/%2Evectis/logout", "/"},
		{"gateway encoded slash", "/.vectis%2Flogout", "/"},
		{"gateway via dot segments", "/a/../.vectis/logout", "/"},
		{"gateway via encoded dot segments", "/a/%2E%2E/.vectis/logout", "/"},
		{"gateway via single dot", "/./.vectis/mfa", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeNext(tt.raw); got != tt.want {
				t.Errorf("SafeNext(%s) = %q, want %q", strconv.Quote(tt.raw), got, tt.want)
			}
		})
	}
}

func TestSafeNextLengthBoundary(t *testing.T) {
	atLimit := "/" + strings.Repeat("a", maxNextLen-1)
	if got := SafeNext(atLimit); got != atLimit {
		t.Errorf("a %d-byte path was refused", len(atLimit))
	}
	if got := SafeNext(atLimit + "a"); got != "/" {
		t.Errorf("a %d-byte path was kept", len(atLimit)+1)
	}
}

// Every kept value must resolve, against a gateway URL, to the same host: the property the table exists for.
func TestSafeNextStaysOnHost(t *testing.T) {
	base, _ := url.Parse("https://ops.example.com/.vectis/login")
	inputs := []string{
		"/reports?x=1", "/a/b?c=d#frag", "//evil.example", "/x/..//evil.example", "/%2F%2Fevil.example",
		"/go?to=https://evil.example", "/./x", "/a/../b",
	}
	for _, in := range inputs {
		out := SafeNext(in)
		ref, err := url.Parse(out)
		if err != nil {
			t.Errorf("SafeNext(%q) = %q does not parse: %v", in, out, err)
			continue
		}
		u := base.ResolveReference(ref)
		if u.Host != base.Host || u.Scheme != base.Scheme || strings.HasPrefix(u.Path, "//") {
			t.Errorf("SafeNext(%q) = %q resolves to %s", in, out, u)
		}
	}
}
