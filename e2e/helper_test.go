package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procStat returns a process's (or thread's) stat fields after the command name: [0] is the state, [1] the
// parent pid, [16] the nice value.
func procStat(path string) ([]string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return nil, false
	}
	return strings.Fields(string(b[i+2:])), true
}

// hashHelpers returns the pids of the gateway's hash helpers: its children started with VECTIS_HASH_HELPER=1.
func hashHelpers(t *testing.T, parent int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, f := range stats {
		st, ok := procStat(f)
		if !ok || st[1] != strconv.Itoa(parent) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err == nil && bytes.Contains(env, []byte("VECTIS_HASH_HELPER=1\x00")) {
			out = append(out, pid)
		}
	}
	return out
}

// The real binary checks passwords in a helper process of itself, every thread of it at nice 19, started at
// the first check and gone with the gateway.
func TestPasswordChecksRunInALowPriorityHelper(t *testing.T) {
	g := startGateway(t, standardCaddyfile)
	if got := hashHelpers(t, g.cmd.Process.Pid); len(got) != 0 {
		t.Fatalf("helpers %v before any password check", got)
	}
	c := g.newClient()
	enroll(t, g, c, adminEmail, "/")
	helpers := hashHelpers(t, g.cmd.Process.Pid)
	if len(helpers) != 1 {
		t.Fatalf("%d hash helpers after a sign-in, want 1", len(helpers))
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", helpers[0]))
	if len(tasks) == 0 {
		t.Fatal("the helper has no threads")
	}
	for _, f := range tasks {
		if st, ok := procStat(f); ok && st[16] != "19" {
			t.Fatalf("helper thread %s at nice %s, want 19", f, st[16])
		}
	}
	if st, ok := procStat(fmt.Sprintf("/proc/%d/stat", g.cmd.Process.Pid)); !ok || st[16] != "0" {
		t.Fatalf("the gateway itself runs at nice %v", st)
	}
	g.stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, ok := procStat(fmt.Sprintf("/proc/%d/stat", helpers[0]))
		if !ok || st[0] == "Z" {
			return // gone (or a zombie waiting for its new parent to reap it)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hash helper outlived the gateway (state %s)", st[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
