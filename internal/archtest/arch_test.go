// Package archtest keeps the dependency direction honest: only caddymodule (and main) may import
// Caddy, and config is standard library only.
package archtest

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const (
	module    = "github.com/vectis/mfa-gateway"
	caddyRoot = "github.com/caddyserver/caddy"
)

// pkg is the part of `go list -json` output these tests read.
type pkg struct {
	ImportPath string
	ForTest    string
	Standard   bool
	Deps       []string
}

// list runs `go list -deps -json` over patterns and returns every package it reports: the named ones
// and all their dependencies. -e keeps a half-written package elsewhere in the tree from hiding the
// rest; -test also checks what the tests of those packages pull in.
func list(t *testing.T, test bool, patterns ...string) []pkg {
	t.Helper()
	args := []string{"list", "-e", "-deps", "-json=ImportPath,ForTest,Standard,Deps"}
	if test {
		args = append(args, "-test")
	}
	cmd := exec.Command("go", append(args, patterns...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// caddyDeps returns the Caddy packages among deps.
func caddyDeps(deps []string) []string {
	var out []string
	for _, d := range deps {
		if d == caddyRoot || strings.HasPrefix(d, caddyRoot+"/") {
			out = append(out, d)
		}
	}
	return out
}

// ours reports whether p is one of the checked packages (or a test build of one), as opposed to a
// dependency go list reported alongside.
func ours(p pkg, prefixes ...string) bool {
	name := p.ImportPath
	if p.ForTest != "" {
		name = p.ForTest
	}
	name, _, _ = strings.Cut(name, " ") // "x [x.test]"
	name = strings.TrimSuffix(name, ".test")
	for _, pre := range prefixes {
		if name == pre || strings.HasPrefix(name, pre+"/") {
			return true
		}
	}
	return false
}

func TestNoCaddyBelowTheAdapter(t *testing.T) {
	checked := map[string]bool{}
	for _, p := range list(t, true, "../...", "../../config/...") {
		if !ours(p, module+"/internal", module+"/config") {
			continue
		}
		checked[p.ImportPath] = true
		if bad := caddyDeps(append(p.Deps, p.ImportPath)); len(bad) > 0 {
			t.Errorf("%s depends on Caddy (%s and %d more); only caddymodule may import it", p.ImportPath, bad[0], len(bad)-1)
		}
	}
	// Guard against passing vacuously (a wrong pattern would check nothing).
	for _, want := range []string{module + "/config", module + "/internal/gateway", module + "/internal/store"} {
		if !checked[want] {
			t.Errorf("%s was not checked; the go list patterns are wrong", want)
		}
	}
}

func TestConfigIsStandardLibraryOnly(t *testing.T) {
	found := false
	for _, p := range list(t, false, "../../config") {
		if p.ImportPath == module+"/config" {
			found = true
			continue
		}
		if !p.Standard {
			t.Errorf("config depends on non-standard package %s", p.ImportPath)
		}
	}
	if !found {
		t.Fatal("config package not listed; the go list pattern is wrong")
	}
}

// TestDetectorSeesCaddy proves the check above can fail: the adapter itself must show up as
// depending on Caddy.
func TestDetectorSeesCaddy(t *testing.T) {
	for _, p := range list(t, false, "../../caddymodule") {
		if p.ImportPath == module+"/caddymodule" {
			if len(caddyDeps(p.Deps)) == 0 {
				t.Fatal("caddymodule shows no Caddy dependency; the detector is broken")
			}
			return
		}
	}
	t.Fatal("caddymodule not listed")
}
