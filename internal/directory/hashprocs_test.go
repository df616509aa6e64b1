package directory

import (
	"context"
	"runtime"
	"testing"
	"time"
)

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
