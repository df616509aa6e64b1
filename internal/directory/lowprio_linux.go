package directory

import (
	"os"
	"runtime"
	"sync"
	"syscall"
)

// lowerThisThread sets the calling OS thread's nice value to 19. On Linux, setpriority with PRIO_PROCESS
// and a thread id changes that one thread. Raising one's own nice value needs no privilege; if it fails
// anyway (a seccomp profile, say), hashing still works, at normal priority.
func lowerThisThread() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}

// isMainThread reports whether the calling thread is the process's first (its thread id is the process id).
func isMainThread() bool { return syscall.Gettid() == syscall.Getpid() }

var extraProcs sync.Once

// addHashingProcs raises GOMAXPROCS by n, once per process. A goroutine running argon2id holds one of Go's
// processors (P) for up to 10 ms between preemptions, and a lowered thread only runs when the kernel has a
// core to spare: without a P of their own, the hashing threads would hold Ps that requests queue behind.
// With n more Ps than cores, requests always find a P, and the kernel decides who gets a core: the request.
// (bench: under 200 concurrent wrong-password sign-ins, pass-through throughput 0.56× → 0.75× of idle, wrk p99
// 2.1× → 1.45×.) An operator's explicit GOMAXPROCS is left as set.
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
