package directory

import (
	"runtime"
	"sync/atomic"
)

// procsAdded, when set, is told once when the hashing threads add their processors (for a log line: a
// process-wide setting should not change silently).
var procsAdded atomic.Pointer[func(before, after int)]

// OnHashingProcsAdded registers f to hear of the GOMAXPROCS change addHashingProcs makes (once per process).
func OnHashingProcsAdded(f func(before, after int)) {
	if f == nil {
		procsAdded.Store(nil)
		return
	}
	procsAdded.Store(&f)
}

// Password hashing runs on OS threads of its own at the lowest scheduling priority (nice 19 on Linux), so
// that a flood of sign-in attempts — each one argon2id, tens of milliseconds of one core — takes only CPU
// time the proxied traffic leaves unused: the kernel runs a request's thread first whenever both want a
// core. (Go's own scheduler cannot do this: a goroutine in argon2id keeps its P until preempted, 10 ms.)
//
// A thread, once lowered, is never handed back to the Go scheduler for other goroutines: its worker
// goroutine stays locked to it and exits while still locked, which makes the runtime end the thread.

// idleHashThreads keeps lowered threads for reuse; a burst beyond it starts more (the Hasher's semaphore
// bounds how many run at once) and the extras end when the burst does.
var idleHashThreads = make(chan chan func(), 8)

// runLowPriority runs f on a low-priority thread and returns when f has.
func runLowPriority(f func()) {
	var w chan func()
	select {
	case w = <-idleHashThreads:
	default:
		w = make(chan func())
		go hashThread(w)
	}
	done := make(chan struct{})
	w <- func() {
		defer close(done)
		f()
	}
	<-done
	select {
	case idleHashThreads <- w:
	default:
		close(w)
	}
}

func hashThread(w chan func()) {
	runtime.LockOSThread()
	if isMainThread() {
		// The process's first thread stands for the whole process in ps and top (a "nice 19" Caddy would
		// puzzle whoever looks), and the runtime cannot end it: leave it alone and try another.
		runtime.UnlockOSThread()
		go hashThread(w)
		return
	}
	// No UnlockOSThread from here on: see above.
	lowerThisThread()
	for f := range w {
		f()
	}
}
