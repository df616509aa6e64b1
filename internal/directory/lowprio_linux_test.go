package directory

import (
	"context"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// niceOfThisThread is the calling thread's nice value (the raw syscall returns 20 - nice).
func niceOfThisThread(t *testing.T) int {
	r, _, errno := syscall.RawSyscall(syscall.SYS_GETPRIORITY, syscall.PRIO_PROCESS, uintptr(syscall.Gettid()), 0)
	if errno != 0 {
		t.Fatalf("getpriority: %v", errno)
	}
	return 20 - int(r)
}

// Hashes run on threads at nice 19, and those threads never go back to running other goroutines: every
// other thread of the process stays at its normal priority.
func TestHashingRunsOnLoweredThreads(t *testing.T) {
	var nice int
	runLowPriority(func() { nice = niceOfThisThread(t) })
	if nice != 19 {
		t.Fatalf("hash ran at nice %d, want 19", nice)
	}
	// Use the lowered threads hard (several at once, more than are kept idle), then look at every thread
	// the scheduler gives ordinary goroutines.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				runLowPriority(func() { runtime.Gosched() })
			}
		}()
	}
	wg.Wait()
	bad := make(chan int, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if n := niceOfThisThread(t); n != 0 {
				bad <- n
			}
		}()
	}
	wg.Wait()
	close(bad)
	for n := range bad {
		t.Fatalf("an ordinary goroutine ran on a thread at nice %d", n)
	}
	// And the real thing: Verify of a known hash is right on a lowered thread.
	h := NewHasher(1)
	ok, err := h.Verify(context.Background(), dummyHash, "not it")
	if ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}

// When sign-ins queue for the process-wide slots, the process gains one Go processor per slot (once), so the
// hashing threads never hold one that requests need; an operator's explicit GOMAXPROCS is left alone.
func TestQueueingForAHashAddsProcessors(t *testing.T) {
	t.Setenv("GOMAXPROCS", "") // as when the operator has not set it
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)
	heard := make(chan [2]int, 1)
	OnHashingProcsAdded(func(b, a int) { heard <- [2]int{b, a} })
	defer OnHashingProcsAdded(nil)
	h := NewHasher(0)
	slots := cap(h.sem)
	for range slots {
		if err := h.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS changed to %d without any queueing", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = h.acquire(ctx) // cancelled at once: checked before anything else, so no change yet
	waiting, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.acquire(waiting) }()
	for deadline := time.Now().Add(5 * time.Second); runtime.GOMAXPROCS(0) == before && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := runtime.GOMAXPROCS(0); got != before+slots {
		t.Fatalf("GOMAXPROCS = %d after a sign-in queued, want %d", got, before+slots)
	}
	select {
	case told := <-heard:
		if told != [2]int{before, before + slots} {
			t.Fatalf("the hook heard %v, want [%d %d]", told, before, before+slots)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hook was not told of the change")
	}
	stop()
	if err := <-done; err == nil {
		t.Fatal("acquire succeeded with every slot taken")
	}
	for range slots {
		h.release()
	}
}

// The process's first thread is never lowered, however the scheduler places the hashing goroutines: it is the
// one ps and top show for the whole process.
func TestMainThreadNeverLowered(t *testing.T) {
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runLowPriority(func() {
				if isMainThread() {
					t.Error("a hash ran on the main thread")
				}
			})
		}()
	}
	wg.Wait()
	r, _, errno := syscall.RawSyscall(syscall.SYS_GETPRIORITY, syscall.PRIO_PROCESS, uintptr(syscall.Getpid()), 0)
	if errno != 0 || 20-int(r) != 0 {
		t.Fatalf("main thread nice = %d (errno %v)", 20-int(r), errno)
	}
}
