// Package storetest is the conformance suite every store.Store backend runs, so bolt and redis keep one meaning.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/session"
	"github.com/vectis/mfa-gateway/internal/store"
)

// Run runs the whole suite. Each subtest calls open for a fresh, empty store and closes it when the
// subtest ends (so open must not close it itself; it may register other cleanup, such as removing a
// file or flushing a database, with t.Cleanup). Subtests do not run in parallel with each other, so
// backends that share one server may reset it in open.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Directory", directoryTests},
		{"Sessions", sessionTests},
		{"Lockout", lockoutTests},
		{"Credentials", credentialTests},
		{"Meta", metaTests},
		{"Once", onceTests},
		{"SSOKeys", ssoKeyTests},
		{"Concurrency", concurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					s := open(t)
					if s == nil {
						t.Fatal("open returned a nil store")
					}
					t.Cleanup(func() {
						if err := s.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					})
					tc.run(t, s)
				})
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// base is a fixed instant for fields the store only keeps (never judges), so comparisons are exact.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// hash derives a 32-byte value the way recovery-code HMACs look: arbitrary bytes, NULs and slashes included.
func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// hashes returns n distinct hashes named prefix0..prefixN-1.
func hashes(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = hash(prefix + string(rune('a'+i)))
	}
	return out
}

// sessionID is a 32-byte id like the SHA-256 of a cookie value.
func sessionID(s string) []byte { return hash("session:" + s) }

func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) }

// parallel runs f n times at once: every goroutine waits at a start barrier so the calls really overlap.
// It returns the results in goroutine order.
func parallel[T any](n int, f func(i int) T) []T {
	out := make([]T, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func ctx(t *testing.T) context.Context { return t.Context() }

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

// ignoreNotFound turns the session-gone answer into success, for racers that may lose to a revocation.
func ignoreNotFound(err error) error {
	if errors.Is(err, session.ErrNotFound) {
		return nil
	}
	return err
}
