package storetest

import (
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/lockout"
	"github.com/vectis/mfa-gateway/internal/store"
)

// lockBase is the start of a lockout scenario. It is near the wall clock, although the store must judge
// windows only by the injected now, because a backend may also hand the window to its server as a
// storage lifetime (a Redis TTL), and a scenario far in the past would then vanish before it is read.
func lockBase() time.Time { return time.Now().UTC().Truncate(time.Second) }

const (
	lockMax    = 5
	lockWindow = 15 * time.Minute
)

// at is an offset from base written as minutes and seconds, to read like the rows' names.
func at(min, sec int) time.Duration {
	return time.Duration(min)*time.Minute + time.Duration(sec)*time.Second
}

// step is one Attempt at base+at and the verdict it must give (the window end as an offset from base).
type step struct {
	at      time.Duration
	allowed bool
	count   int
	end     time.Duration
}

func wantVerdict(t *testing.T, what string, got lockout.Verdict, allowed bool, count int, end time.Time) {
	t.Helper()
	if got.Allowed != allowed || got.Count != count || !got.WindowEnd.Equal(end) {
		t.Fatalf("%s = {Allowed:%v Count:%d WindowEnd:%s}, want {Allowed:%v Count:%d WindowEnd:%s}",
			what, got.Allowed, got.Count, got.WindowEnd.UTC().Format(time.TimeOnly),
			allowed, count, end.UTC().Format(time.TimeOnly))
	}
}

func attempt(t *testing.T, s store.Store, tag, key string, now time.Time) lockout.Verdict {
	t.Helper()
	v, err := s.Attempt(ctx(t), tag, key, now, lockMax, lockWindow)
	if err != nil {
		t.Fatalf("Attempt(%s, %s): %v", tag, key, err)
	}
	return v
}

func status(t *testing.T, s store.Store, tag, key string, now time.Time) lockout.Verdict {
	t.Helper()
	v, err := s.Status(ctx(t), tag, key, now)
	if err != nil {
		t.Fatalf("Status(%s, %s): %v", tag, key, err)
	}
	return v
}

// lockoutRows are the documented window semantics with max 5 and a 15-minute window: the window opens at
// the first attempt, an attempt at count >= max is refused and not counted, and at WindowEnd (inclusive)
// a new window starts with count 1.
var lockoutRows = []struct {
	name  string
	steps []step
}{
	{"attempts at minutes 0,1,2,3 then 15:01 → new window, count 1", []step{
		{at(0, 0), true, 1, at(15, 0)},
		{at(1, 0), true, 2, at(15, 0)},
		{at(2, 0), true, 3, at(15, 0)},
		{at(3, 0), true, 4, at(15, 0)},
		{at(15, 1), true, 1, at(30, 1)},
	}},
	{"0,1,2,3,14:59 → 5th counted, 6th at 14:59.5 refused, at 15:00 after first a new window", []step{
		{at(0, 0), true, 1, at(15, 0)},
		{at(1, 0), true, 2, at(15, 0)},
		{at(2, 0), true, 3, at(15, 0)},
		{at(3, 0), true, 4, at(15, 0)},
		{at(14, 59), true, 5, at(15, 0)},
		{at(14, 59) + 500*time.Millisecond, false, 5, at(15, 0)}, // half a second before the end
		{at(15, 0), true, 1, at(30, 0)},
	}},
	{"locked for the rest of the window; refusals neither count nor extend it", []step{
		{at(0, 0), true, 1, at(15, 0)},
		{at(0, 1), true, 2, at(15, 0)},
		{at(0, 2), true, 3, at(15, 0)},
		{at(0, 3), true, 4, at(15, 0)},
		{at(0, 4), true, 5, at(15, 0)},
		{at(0, 5), false, 5, at(15, 0)},
		{at(7, 30), false, 5, at(15, 0)},
		{at(14, 59), false, 5, at(15, 0)},
		{at(15, 0), true, 1, at(30, 0)},
		{at(15, 1), true, 2, at(30, 0)},
	}},
	{"a new window after a lock counts to the limit again", []step{
		{at(0, 0), true, 1, at(15, 0)},
		{at(0, 1), true, 2, at(15, 0)},
		{at(0, 2), true, 3, at(15, 0)},
		{at(0, 3), true, 4, at(15, 0)},
		{at(0, 4), true, 5, at(15, 0)},
		{at(20, 0), true, 1, at(35, 0)},
		{at(21, 0), true, 2, at(35, 0)},
		{at(22, 0), true, 3, at(35, 0)},
		{at(23, 0), true, 4, at(35, 0)},
		{at(24, 0), true, 5, at(35, 0)},
		{at(25, 0), false, 5, at(35, 0)},
	}},
	{"window is anchored at the first attempt, not slid by later ones", []step{
		{at(0, 0), true, 1, at(15, 0)},
		{at(14, 0), true, 2, at(15, 0)},
		{at(15, 30), true, 1, at(30, 30)},
		{at(30, 29), true, 2, at(30, 30)},
	}},
}

var lockoutTests = []test{
	{"WindowTable", func(t *testing.T, s store.Store) {
		base := lockBase()
		for i, row := range lockoutRows {
			t.Run(row.name, func(t *testing.T) {
				// Each row uses its own key (and clears it) so rows cannot disturb each other.
				key := "user:" + string(rune('a'+i))
				if err := s.Clear(ctx(t), "acme", key); err != nil {
					t.Fatal(err)
				}
				for _, st := range row.steps {
					now := base.Add(st.at)
					v := attempt(t, s, "acme", key, now)
					wantVerdict(t, "Attempt at +"+st.at.String(), v, st.allowed, st.count, base.Add(st.end))
				}
			})
		}
	}},
	{"LimitOfOne", func(t *testing.T, s store.Store) {
		base := lockBase()
		v, err := s.Attempt(ctx(t), "acme", "u1", base, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		wantVerdict(t, "first", v, true, 1, base.Add(time.Minute))
		v, err = s.Attempt(ctx(t), "acme", "u1", base.Add(59*time.Second), 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		wantVerdict(t, "second", v, false, 1, base.Add(time.Minute))
	}},
	{"Status", func(t *testing.T, s store.Store) {
		base := lockBase()
		if v := status(t, s, "acme", "u1", base); v.Count != 0 {
			t.Fatalf("Status of a missing counter: Count %d, want 0", v.Count)
		}
		attempt(t, s, "acme", "u1", base)
		attempt(t, s, "acme", "u1", base.Add(time.Minute))
		// Reading is not counting.
		for range 3 {
			v := status(t, s, "acme", "u1", base.Add(2*time.Minute))
			if v.Count != 2 || !v.WindowEnd.Equal(base.Add(lockWindow)) {
				t.Fatalf("Status = %+v, want Count 2 ending at +15m", v)
			}
		}
		wantVerdict(t, "Attempt after Status", attempt(t, s, "acme", "u1", base.Add(3*time.Minute)), true, 3, base.Add(lockWindow))
		if v := status(t, s, "acme", "u1", base.Add(lockWindow-time.Second)); v.Count != 3 {
			t.Fatalf("Status one second before the end: Count %d, want 3", v.Count)
		}
		if v := status(t, s, "acme", "u1", base.Add(lockWindow)); v.Count != 0 {
			t.Fatalf("Status at the window end: Count %d, want 0", v.Count)
		}
		if v := status(t, s, "acme", "u1", base.Add(time.Hour)); v.Count != 0 {
			t.Fatalf("Status after the window: Count %d, want 0", v.Count)
		}
	}},
	{"StatusOfLocked", func(t *testing.T, s store.Store) {
		base := lockBase()
		for i := range lockMax + 2 {
			attempt(t, s, "acme", "u1", base.Add(time.Duration(i)*time.Second))
		}
		v := status(t, s, "acme", "u1", base.Add(time.Minute))
		if v.Count != lockMax || !v.WindowEnd.Equal(base.Add(lockWindow)) {
			t.Fatalf("Status of a locked counter = %+v, want Count %d ending at +15m", v, lockMax)
		}
	}},
	{"Clear", func(t *testing.T, s store.Store) {
		base := lockBase()
		for i := range lockMax {
			attempt(t, s, "acme", "u1", base.Add(time.Duration(i)*time.Second))
		}
		wantVerdict(t, "locked", attempt(t, s, "acme", "u1", base.Add(time.Minute)), false, lockMax, base.Add(lockWindow))
		if err := s.Clear(ctx(t), "acme", "u1"); err != nil {
			t.Fatal(err)
		}
		if v := status(t, s, "acme", "u1", base.Add(time.Minute)); v.Count != 0 {
			t.Fatalf("Status after Clear: Count %d, want 0", v.Count)
		}
		// An admin unlock starts a fresh window at the next attempt.
		now := base.Add(2 * time.Minute)
		wantVerdict(t, "Attempt after Clear", attempt(t, s, "acme", "u1", now), true, 1, now.Add(lockWindow))
		if err := s.Clear(ctx(t), "acme", "never-counted"); err != nil {
			t.Fatalf("Clear of a missing counter: %v", err)
		}
	}},
	{"KeysAndTagsIndependent", func(t *testing.T, s store.Store) {
		base := lockBase()
		for i := range lockMax {
			attempt(t, s, "acme", "u1", base.Add(time.Duration(i)*time.Second))
		}
		wantVerdict(t, "acme/u1 locked", attempt(t, s, "acme", "u1", base.Add(time.Minute)), false, lockMax, base.Add(lockWindow))
		now := base.Add(2 * time.Minute)
		// Per account, never global: the same key under another tag, and another key under the same tag, are free.
		wantVerdict(t, "globex/u1", attempt(t, s, "globex", "u1", now), true, 1, now.Add(lockWindow))
		wantVerdict(t, "acme/u2", attempt(t, s, "acme", "u2", now), true, 1, now.Add(lockWindow))
		wantVerdict(t, "ip/u1", attempt(t, s, "ip", "u1", now), true, 1, now.Add(lockWindow))
		// Keys that would collide under naive concatenation stay apart.
		wantVerdict(t, "acme/u1x", attempt(t, s, "acme", "u1x", now), true, 1, now.Add(lockWindow))
		wantVerdict(t, "acmeu/1", attempt(t, s, "acmeu", "1", now), true, 1, now.Add(lockWindow))
		// Clearing one counter leaves the others.
		if err := s.Clear(ctx(t), "globex", "u1"); err != nil {
			t.Fatal(err)
		}
		if v := status(t, s, "acme", "u1", now); v.Count != lockMax {
			t.Fatalf("acme/u1 after clearing globex/u1: Count %d, want %d", v.Count, lockMax)
		}
		if v := status(t, s, "acme", "u2", now); v.Count != 1 {
			t.Fatalf("acme/u2 after clearing globex/u1: Count %d, want 1", v.Count)
		}
	}},
	{"CanceledContext", func(t *testing.T, s store.Store) {
		base := lockBase()
		c, cancel := contextWithCancel(t)
		cancel()
		// An Attempt that did not happen must not read as allowed.
		if v, err := s.Attempt(c, "acme", "u1", base, lockMax, lockWindow); err == nil {
			t.Fatalf("Attempt with a canceled context = %+v, nil error", v)
		}
	}},
}
