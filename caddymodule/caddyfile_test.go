package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the current adapter output")

// adapt runs the real Caddyfile adapter, as `caddy adapt` does.
func adapt(t *testing.T, filename string, body []byte) ([]byte, error) {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": filename})
	for _, w := range warnings {
		t.Errorf("adapter warning: %s", w.String())
	}
	return out, err
}

func TestCaddyfileGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.caddyfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := adapt(t, "Caddyfile", body)
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			golden := strings.TrimSuffix(in, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("adapted JSON differs from %s (go test -update rewrites it):\n%s", golden, got.Bytes())
			}
		})
	}
}

// TestDirectiveOrder pins the reason for the registered order: vectis_mfa decides before every
// directive that can answer or proxy a request, however the Caddyfile lists them.
func TestDirectiveOrder(t *testing.T) {
	body, err := os.ReadFile("testdata/full.caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, err := adapt(t, "Caddyfile", body)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []struct {
							Routes []struct {
								Handle []map[string]any `json:"handle"`
							} `json:"routes"`
						} `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	srv, ok := cfg.Apps.HTTP.Servers["srv0"]
	if !ok || len(srv.Routes) != 1 || len(srv.Routes[0].Handle) != 1 {
		t.Fatalf("unexpected config shape: %s", out)
	}
	// The site's subroute runs its routes in order, and each route its handlers in order (the
	// adapter merges neighbouring directives without matchers into one route). Flatten that into
	// the order the handlers run in.
	var order []string
	for _, r := range srv.Routes[0].Handle[0].Routes {
		for _, h := range r.Handle {
			n, _ := h["handler"].(string)
			order = append(order, n)
		}
	}
	pos := func(handler string) int {
		for i, n := range order {
			if n == handler {
				return i
			}
		}
		t.Fatalf("handler %q not in adapted routes %v", handler, order)
		return -1
	}
	mfa := pos("vectis_mfa")
	// header only sets response headers; it stays ahead so they apply to the gateway's pages too.
	if h := pos("headers"); h > mfa {
		t.Errorf("header runs after vectis_mfa: %v", order)
	}
	for _, later := range []string{"static_response", "rewrite", "authentication", "reverse_proxy", "file_server", "subroute"} {
		if p := pos(later); p < mfa {
			t.Errorf("%s (handler %d) runs before vectis_mfa (handler %d): %v", later, p, mfa, order)
		}
	}
	if mfa != 1 {
		t.Errorf("vectis_mfa is handler %d, want 1 (right after header): %v", mfa, order)
	}
}

func TestCaddyfileErrors(t *testing.T) {
	const site = "app.example.com {\n\tvectis_mfa {\n%s\n\t}\n\treverse_proxy 127.0.0.1:8080\n}\n"
	cases := []struct {
		name  string
		block string // inserted at line 3
		want  string
		line  int // the Caddyfile line the error must name
	}{
		{"unknown subdirective", "\t\tportal_host a.example.com", `unrecognized subdirective "portal_host"`, 3},
		{"unknown subdirective after a good one", "\t\tissuer X\n\t\tlockut 5 15m", `unrecognized subdirective "lockut"`, 4},
		{"portal_hosts without hosts", "\t\tportal_hosts", "wrong argument count", 3},
		{"storage without type", "\t\tstorage", "wrong argument count", 3},
		{"unknown storage type", "\t\tstorage etcd http://x", `unknown storage type "etcd"`, 3},
		{"redis without url", "\t\tstorage redis", "needs a URL", 3},
		{"bolt with two paths", "\t\tstorage bolt /a /b", "wrong argument count", 3},
		{"redis with extra arg", "\t\tstorage redis redis://x:1 extra", "wrong argument count", 3},
		{"secret_key without value", "\t\tsecret_key", "wrong argument count", 3},
		{"secret_key with two values", "\t\tsecret_key a b", "wrong argument count", 3},
		{"issuer twice", "\t\tissuer A\n\t\tissuer B", "issuer is set more than once", 4},
		{"seed extra", "\t\tseed a.json b.json", "wrong argument count", 3},
		{"lockout one arg", "\t\tlockout 5", "wrong argument count", 3},
		{"lockout three args", "\t\tlockout 5 15m 1", "wrong argument count", 3},
		{"lockout not a number", "\t\tlockout five 15m", `lockout attempts must be a positive integer, not "five"`, 3},
		{"lockout zero", "\t\tlockout 0 15m", "positive integer", 3},
		{"lockout bad window", "\t\tlockout 5 fifteen", `lockout window must be a positive duration like 15m, not "fifteen"`, 3},
		{"lockout negative window", "\t\tlockout 5 -15m", "positive duration", 3},
		{"session empty", "\t\tsession", "wrong argument count", 3},
		{"session odd args", "\t\tsession idle", "wrong argument count", 3},
		{"session unknown key", "\t\tsession max 1h", `must be idle or absolute, not "max"`, 3},
		{"session bad duration", "\t\tsession idle 1hour", `session idle must be a positive duration`, 3},
		{"session idle twice", "\t\tsession idle 1h idle 2h", "session idle is set more than once", 3},
		{"secure_cookies with arg", "\t\tsecure_cookies true", "wrong argument count", 3},
		{"subdirective with a block", "\t\tissuer X {\n\t\t\tfoo\n\t\t}", "issuer does not take a block", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(site, "%s", tc.block, 1)
			_, err := adapt(t, "Caddyfile", []byte(body))
			if err == nil {
				t.Fatalf("adapted without error:\n%s", body)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			at := "Caddyfile:" + strconv.Itoa(tc.line)
			if !strings.Contains(err.Error(), at) {
				t.Errorf("error %q does not name %s", err, at)
			}
		})
	}

	t.Run("argument on the directive line", func(t *testing.T) {
		_, err := adapt(t, "Caddyfile", []byte("app.example.com {\n\tvectis_mfa extra\n}\n"))
		if err == nil || !strings.Contains(err.Error(), "Caddyfile:2") {
			t.Fatalf("want an error at Caddyfile:2, got %v", err)
		}
	})
}

// TestUnmarshalCaddyfileFields checks the parsed values directly, including defaults left unset.
func TestUnmarshalCaddyfileFields(t *testing.T) {
	body, err := os.ReadFile("testdata/full.caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, err := adapt(t, "Caddyfile", body)
	if err != nil {
		t.Fatal(err)
	}
	// Find the handler object by its module name anywhere in the config.
	var h *Handler
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "vectis_mfa" {
				raw, _ := json.Marshal(v)
				h = new(Handler)
				if err := json.Unmarshal(raw, h); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var doc any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	walk(doc)
	if h == nil {
		t.Fatalf("no vectis_mfa handler in %s", out)
	}
	want := Handler{
		PortalHosts:   []string{"portal.example.com", "*.portal.example.com", "customers.example.net"},
		Storage:       &Storage{Type: "redis", URL: "redis://127.0.0.1:6379/0"},
		SecretKey:     "{env.VECTIS_GATEWAY_KEY}",
		Issuer:        "Vectis MSP",
		Seed:          "/etc/vectis/seed.json",
		Lockout:       &Lockout{Attempts: 5, Window: minutes(15)},
		Session:       &Session{Idle: minutes(60), Absolute: minutes(720)},
		SecureCookies: true,
	}
	gotJSON, _ := json.Marshal(h)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("parsed\n%s\nwant\n%s", gotJSON, wantJSON)
	}
}
