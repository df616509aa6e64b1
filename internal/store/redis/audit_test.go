package redis

import (
	"testing"

	"github.com/vectis/mfa-gateway/internal/audit"
	"github.com/vectis/mfa-gateway/internal/store/redis/redistest"
	"github.com/vectis/mfa-gateway/internal/store/storetest"
)

func TestAuditConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.RunAudit(t, func(t *testing.T) audit.Store { return openClosed(t, srv.URL()) })
}

// The cluster run proves the trail's key stays under its tenant's hash tag (the script touches one key,
// but a tenant id with braces must not move it to another node's slot mid-script).
func TestAuditConformanceCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	storetest.RunAudit(t, func(t *testing.T) audit.Store { return openClosed(t, c.URL()) })
}

// openClosed is openFresh with Close registered for the end of the test.
func openClosed(t *testing.T, url string) *Store {
	s := openFresh(t, url)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
