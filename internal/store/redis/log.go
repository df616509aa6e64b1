package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// go-redis logs through one process-wide logger (dial failures, Sentinel master changes), by default
// to stderr. Open routes it to the Logger it is given; the most recent one wins, which fits Caddy
// reloads, where each new configuration's logger replaces the old one. go-redis never logs passwords.
var (
	clientLog     atomic.Pointer[slog.Logger]
	clientLogOnce sync.Once
)

type clientLogger struct{}

func (clientLogger) Printf(ctx context.Context, format string, v ...any) {
	if l := clientLog.Load(); l != nil {
		l.InfoContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "), "component", "go-redis")
	}
}

func routeClientLog(l *slog.Logger) {
	clientLog.Store(l)
	clientLogOnce.Do(func() { goredis.SetLogger(clientLogger{}) })
}
