package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vectis/mfa-gateway/internal/audit"
)

// auditKey is the tenant's trail: a list of audit.Event JSON values, newest at the head.
func auditKey(tenant string) string { return tagged(tenant) + "audit" }

// appendAuditScript pushes an event and trims the list to the newest keep, in one step, so concurrent
// appends from several replicas never leave the trail longer than keep.
// KEYS: audit. ARGV: json, keep. Returns the list's length before trimming.
var appendAuditScript = goredis.NewScript(`
local n = redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return n
`)

// AppendAudit adds e to the tenant's trail and trims it to the newest keep events, in one script.
func (s *Store) AppendAudit(ctx context.Context, tenantID string, e audit.Event, keep int) error {
	if tenantID == "" {
		return errors.New("redis: append audit: empty tenant")
	}
	if keep <= 0 {
		return fmt.Errorf("redis: append audit: the trail must keep at least one event, got %d", keep)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("redis: append audit: %w", err)
	}
	if err := appendAuditScript.Run(ctx, s.c, []string{auditKey(tenantID)}, b, keep).Err(); err != nil {
		return fmt.Errorf("redis: append audit: %w", err)
	}
	return nil
}

// ListAudit returns up to limit of the tenant's events, newest first (one LRANGE).
func (s *Store) ListAudit(ctx context.Context, tenantID string, limit int) ([]audit.Event, error) {
	if limit <= 0 || tenantID == "" {
		return nil, nil
	}
	raw, err := s.c.LRange(ctx, auditKey(tenantID), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: list audit: %w", err)
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]audit.Event, 0, len(raw))
	for _, v := range raw {
		var e audit.Event
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			return nil, fmt.Errorf("redis: list audit: decoding event: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}
