package directory

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the hash helper (as the gateway's binary does, through caddymodule's init):
// started with HelperEnv=1 it serves, or misbehaves as VECTIS_TEST_HELPER_MODE says.
func TestMain(m *testing.M) {
	if os.Getenv(HelperEnv) == "1" {
		switch os.Getenv("VECTIS_TEST_HELPER_MODE") {
		case "hang":
			fmt.Println(helperReady)
			time.Sleep(time.Hour)
		case "garbage":
			fmt.Println(helperReady)
			fmt.Println("this is not an answer")
			time.Sleep(time.Hour)
		}
		if err := ServeHashHelper(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// withHelpers makes the process-wide hasher use helpers started from this test binary in mode.
func withHelpers(t *testing.T, argv0, mode string) *helperPool {
	t.Helper()
	p := newHelperPool([]string{argv0}, []string{"VECTIS_TEST_HELPER_MODE=" + mode}, 1)
	old := helpers.Swap(p)
	t.Cleanup(func() {
		helpers.Store(old)
		for {
			select {
			case hp := <-p.idle:
				hp.kill()
			default:
				return
			}
		}
	})
	return p
}

// niceOfProcess is the lowest nice value among the process's threads (all of them must be lowered).
func niceOfProcess(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of %d: %v", pid, err)
	}
	low := 100
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		n, _ := strconv.Atoi(fields[16]) // field 19 of stat: nice
		low = min(low, n)
	}
	return low
}

// Through the helper, hashes and checks give what the in-process code gives, and the helper — every thread
// of it, argon2's goroutines' included — runs at nice 19.
func TestHashHelperAnswersLikeInProcess(t *testing.T) {
	p := withHelpers(t, os.Args[0], "")
	h := NewHasher(0)
	local := NewHasher(1) // not the shared hasher: always in-process
	ctx := context.Background()
	enc, err := h.Hash(ctx, bytes.NewReader(make([]byte, 16)), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := local.Hash(ctx, bytes.NewReader(make([]byte, 16)), "correct horse")
	if enc != want {
		t.Fatalf("helper hash %q, in-process %q", enc, want)
	}
	for _, c := range []struct {
		enc, pw string
		want    bool
	}{{enc, "correct horse", true}, {enc, "wrong", false}, {dummyHash, "x", false},
		{"$2a$04$0123456789012345678901uTvOHPXtI2L0/wHE8r1gGCIlXqU6VEW", "x", false}} {
		got, err := h.Verify(ctx, c.enc, c.pw)
		if err != nil && !strings.HasPrefix(c.enc, "$2a$") {
			t.Fatal(err)
		}
		if err == nil && got != c.want {
			t.Errorf("Verify(%.20s…, %q) = %v through the helper, want %v", c.enc, c.pw, got, c.want)
		}
	}
	if n := p.failures.Load(); n != 0 {
		t.Fatalf("%d helper failures", n)
	}
	var hp *helperProc
	select {
	case hp = <-p.idle:
	default:
		t.Fatal("no idle helper after the checks")
	}
	defer func() { p.idle <- hp }()
	if n := niceOfProcess(t, hp.cmd.Process.Pid); n != 19 {
		t.Fatalf("a helper thread runs at nice %d, want 19 everywhere", n)
	}
}

// A helper that cannot start, hangs, answers nonsense or dies is killed and the check is made in-process: a
// sign-in never depends on the helper.
func TestHashHelperFailuresFallBackInProcess(t *testing.T) {
	defer func(d time.Duration) { helperTimeout = d }(helperTimeout)
	helperTimeout = 300 * time.Millisecond
	ctx := context.Background()
	enc, _ := NewHasher(1).Hash(ctx, bytes.NewReader(make([]byte, 16)), "correct horse")
	for _, c := range []struct{ name, argv0, mode string }{
		{"cannot start", "/nonexistent/vectis-gateway", ""},
		{"hangs", os.Args[0], "hang"},
		{"answers nonsense", os.Args[0], "garbage"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := withHelpers(t, c.argv0, c.mode)
			h := NewHasher(0)
			if ok, err := h.Verify(ctx, enc, "correct horse"); !ok || err != nil {
				t.Fatalf("right password = %v, %v", ok, err)
			}
			if ok, err := h.Verify(ctx, enc, "wrong"); ok || err != nil {
				t.Fatalf("wrong password = %v, %v", ok, err)
			}
			if p.failures.Load() < 2 {
				t.Fatalf("failures = %d, want each check counted", p.failures.Load())
			}
			if len(p.idle) != 0 {
				t.Fatal("a failed helper was kept for reuse")
			}
		})
	}
	t.Run("dies between checks", func(t *testing.T) {
		p := withHelpers(t, os.Args[0], "")
		h := NewHasher(0)
		if ok, _ := h.Verify(ctx, enc, "correct horse"); !ok {
			t.Fatal("first check")
		}
		hp := <-p.idle
		_ = hp.cmd.Process.Signal(syscall.SIGKILL)
		time.Sleep(50 * time.Millisecond)
		p.idle <- hp
		if ok, err := h.Verify(ctx, enc, "correct horse"); !ok || err != nil {
			t.Fatalf("check after the helper died = %v, %v", ok, err)
		}
		if ok, err := h.Verify(ctx, enc, "correct horse"); !ok || err != nil || p.failures.Load() != 1 {
			t.Fatalf("a new helper was not started: %v, %v, failures %d", ok, err, p.failures.Load())
		}
	})
}
