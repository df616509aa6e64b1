package caddymodule

import (
	"fmt"
	"os"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// A process started as a hash helper (directory.HelperEnv) serves password checks on its standard input and
// output and exits: it is this very binary, started by the gateway at nice 19 (see internal/directory/helper.go).
// It is answered here, in init, so it works in any binary that links the module — the gateway's own, or a
// Caddy built with xcaddy — and before Caddy's command line or any test runs.
func init() {
	if os.Getenv(directory.HelperEnv) != "1" {
		return
	}
	if err := directory.ServeHashHelper(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vectis hash helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// useHashHelper has this process's password checks done by helper processes of its own binary.
func useHashHelper() {
	exe, err := os.Executable()
	if err != nil {
		return // checks run in-process
	}
	directory.UseHashHelper([]string{exe})
}
