package directory

import (
	"os"
	"runtime"
	"testing"
)

// Keeps the main goroutine on the process's first thread until TestMain, so TestMain can hand hashThread
// that very thread, which the scheduler only sometimes would.
func init() { runtime.LockOSThread() }

// onMainThread is what a hash handed to a worker started on the main thread saw: whether it ran there.
var onMainThread = -1

func TestMain(m *testing.M) {
	w := make(chan func())
	done := make(chan struct{})
	go func() {
		w <- func() {
			if isMainThread() {
				onMainThread = 1
			} else {
				onMainThread = 0
			}
			close(done)
		}
		<-done
		close(w)
	}()
	hashThread(w) // on the main thread: must step aside, start a worker elsewhere and return
	<-done
	runtime.UnlockOSThread()
	os.Exit(m.Run())
}

func TestWorkerStartedOnTheMainThreadMovesOff(t *testing.T) {
	if onMainThread != 0 {
		t.Fatalf("a hash worker started on the main thread ran its hash there (%d)", onMainThread)
	}
}
