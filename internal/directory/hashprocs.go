package directory

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// x/crypto/argon2 computes each segment of a hash in a goroutine of its own, and a goroutine in argon2id keeps
// its Go processor (P) until preempted, up to 10 ms. Under a flood of sign-in attempts the hashing slots are
// always busy, so without more Ps than slots a proxied request can wait behind a hash for a processor even
// while a core is idle. Once sign-ins queue for a slot, addHashingProcs gives the process one more P per
// slot, once: the hashes can then never hold every P, and the kernel shares the cores.
// (bench, 200 concurrent wrong-password sign-ins: pass-through throughput 0.54× → 0.75× of idle, wrk p99
// 2.2× → 1.4×; docs/performance.md.)
//
// An earlier version also ran each hash on an OS thread at nice 19. It did not do what it said: the thread
// only waited while argon2's own goroutines did the work on ordinary threads (found by a fresh-clone trial,
// measured from per-thread CPU time). A real low-priority hash needs its own process; see docs/performance.md.

// procsAdded, when set, is told once when the hashing processors are added (for a log line: a process-wide
// setting should not change silently).
var procsAdded atomic.Pointer[func(before, after int)]

// OnHashingProcsAdded registers f to hear of the GOMAXPROCS change addHashingProcs makes (once per process).
func OnHashingProcsAdded(f func(before, after int)) {
	if f == nil {
		procsAdded.Store(nil)
		return
	}
	procsAdded.Store(&f)
}

var extraProcs sync.Once

// addHashingProcs raises GOMAXPROCS by n, once per process. An operator's explicit GOMAXPROCS is left as set.
func addHashingProcs(n int) {
	extraProcs.Do(func() {
		if os.Getenv("GOMAXPROCS") != "" {
			return
		}
		before := runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
		if f := procsAdded.Load(); f != nil {
			(*f)(before, before+n)
		}
	})
}
