// Package lockout counts failed code attempts per operator and locks the account for the rest of the window.
package lockout

import (
	"context"
	"time"
)

// Verdict is the outcome of one atomic check-and-count.
type Verdict struct {
	// Allowed is false when the key was already locked; the attempt was not counted and must not be evaluated.
	Allowed bool
	// Count is the number of attempts in the current window, this one included.
	Count int
	// WindowEnd is when the current window ends (the lock, if any, lifts then).
	WindowEnd time.Time
}

// Store is what lockout needs from a backend. tag is the hash tag (tenant id, or "ip" for client
// addresses); key names the counter within it. Both operations are single atomic steps.
type Store interface {
	// Attempt: if the window (started at the first attempt) has ended or none exists, start a new one
	// at now with count 1; else if count >= max refuse (Allowed=false, not counted); else count++.
	Attempt(ctx context.Context, tag, key string, now time.Time, max int, window time.Duration) (Verdict, error)
	// Status reads the counter without changing it. A missing or ended window gives Count 0.
	Status(ctx context.Context, tag, key string, now time.Time) (Verdict, error)
	// Clear removes the counter.
	Clear(ctx context.Context, tag, key string) error
}

// CodeKey names an operator's second-factor failure counter (tag: the tenant id). Wrong passwords use other
// keys: they never touch this counter.
func CodeKey(userID string) string { return "code:" + userID }
