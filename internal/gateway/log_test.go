package gateway

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// logBuf captures the gateway's log so tests can check what was (and was not) written.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

var testLogs sync.Map // *testing.T → *logBuf

func testLogger(t *testing.T) *slog.Logger {
	lb := &logBuf{}
	testLogs.Store(t, lb)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", lb.String())
		}
		testLogs.Delete(t)
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func logsOf(t *testing.T) string {
	if v, ok := testLogs.Load(t); ok {
		return v.(*logBuf).String()
	}
	return ""
}
