package bolt

import (
	"errors"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/vectis/mfa-gateway/internal/directory"
)

// The sweeper removes single-use records nobody took once they have expired, and keeps the live ones.
func TestSweepRemovesExpiredOnceRecords(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	if err := s.PutOnce(ctx, "acme", "abandoned", []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOnce(ctx, "acme", "live", []byte("b"), time.Hour); err != nil {
		t.Fatal(err)
	}
	r, err := s.sweep(time.Now().Add(2 * time.Minute))
	if err != nil || r != (sweepResult{Once: 1}) {
		t.Fatalf("sweep = %+v, %v; want 1 single-use record removed", r, err)
	}
	n := 0
	if err := s.db.View(func(tx *bbolt.Tx) error { n = tx.Bucket(bucketOnce).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d single-use records left, want 1", n)
	}
	if v, err := s.TakeOnce(ctx, "acme", "live"); err != nil || string(v) != "b" {
		t.Fatalf("live record after sweep: %q, %v", v, err)
	}
	if _, err := s.TakeOnce(ctx, "acme", "abandoned"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("swept record: %v, want ErrNotFound", err)
	}
}
