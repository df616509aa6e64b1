package storetest

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/vectis/mfa-gateway/internal/audit"
)

// RunAudit runs the audit trail cases. Each calls open for a fresh, empty store; open arranges its closing
// (t.Cleanup). Cases do not run in parallel with each other, so backends sharing one server may reset it in open.
func RunAudit(t *testing.T, open func(t *testing.T) audit.Store) {
	for _, tc := range auditTests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.run(t, s)
		})
	}
}

var auditTests = []struct {
	name string
	run  func(t *testing.T, s audit.Store)
}{
	{"NewestFirstRoundTrip", func(t *testing.T, s audit.Store) {
		if got, err := s.ListAudit(ctx(t), "acme", 10); err != nil || len(got) != 0 {
			t.Fatalf("ListAudit of an empty trail = %v, %v; want none", got, err)
		}
		want := []audit.Event{
			{Time: base, Type: audit.SignInFailure, Tenant: "acme", Email: "alice@acme.example", Method: "password", Reason: "bad password"},
			{Time: base.Add(time.Second), Type: audit.Lockout, Tenant: "acme", User: "u1", Email: "alice@acme.example"},
			{Time: base.Add(2 * time.Second), Type: audit.MFAReset, Tenant: "acme", User: "u1", Email: "alice@acme.example",
				Actor: "admin:bob@acme.example", Detail: map[string]string{"sessions_ended": "2", "ticket": "T-1"}},
		}
		for _, e := range want {
			if err := s.AppendAudit(ctx(t), "acme", e, audit.Keep); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ListAudit(ctx(t), "acme", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("ListAudit returned %d events, want %d", len(got), len(want))
		}
		for i, g := range got {
			if w := want[len(want)-1-i]; !sameEvent(g, w) {
				t.Fatalf("event %d = %+v, want %+v (newest first, every field kept)", i, g, w)
			}
		}
	}},
	{"TrimToKeep", func(t *testing.T, s audit.Store) {
		// 1,005 events with the production keep: the trail holds the newest 1,000, in order.
		const n = audit.Keep + 5
		for i := range n {
			if err := s.AppendAudit(ctx(t), "acme", numbered(i), audit.Keep); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ListAudit(ctx(t), "acme", 2*audit.Keep)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != audit.Keep {
			t.Fatalf("%d events after %d appends with keep %d, want %d", len(got), n, audit.Keep, audit.Keep)
		}
		for i, e := range got {
			if want := strconv.Itoa(n - 1 - i); e.Detail["n"] != want {
				t.Fatalf("event %d is #%s, want #%s: the oldest must go, newest first", i, e.Detail["n"], want)
			}
		}
	}},
	{"KeepChanges", func(t *testing.T, s audit.Store) {
		appendN(t, s, "acme", 0, 5, 3)
		expectNumbers(t, s, "acme", 10, 4, 3, 2)
		// A smaller keep trims more than one event in one append.
		appendN(t, s, "acme", 5, 1, 2)
		expectNumbers(t, s, "acme", 10, 5, 4)
		// A larger keep lets the trail grow again.
		appendN(t, s, "acme", 6, 3, 10)
		expectNumbers(t, s, "acme", 10, 8, 7, 6, 5, 4)
		// keep 1 holds only the latest.
		appendN(t, s, "acme", 9, 1, 1)
		expectNumbers(t, s, "acme", 10, 9)
	}},
	{"Limit", func(t *testing.T, s audit.Store) {
		appendN(t, s, "acme", 0, 5, audit.Keep)
		expectNumbers(t, s, "acme", 1, 4)
		expectNumbers(t, s, "acme", 3, 4, 3, 2)
		expectNumbers(t, s, "acme", 5, 4, 3, 2, 1, 0)
		expectNumbers(t, s, "acme", 50, 4, 3, 2, 1, 0)
		for _, limit := range []int{0, -1} {
			if got, err := s.ListAudit(ctx(t), "acme", limit); err != nil || len(got) != 0 {
				t.Fatalf("ListAudit with limit %d = %d events, %v; want none", limit, len(got), err)
			}
		}
	}},
	{"TenantIsolation", func(t *testing.T, s audit.Store) {
		// Ids that a careless key scheme would fold together: a prefix, hash-tag braces, a separator.
		tenants := []string{"acme", "acme2", "acme}", "{acme}", "acme:audit", "acme\x00x", "globex"}
		for i, tn := range tenants {
			appendN(t, s, tn, i*10, i+1, audit.Keep)
		}
		// Trimming one tenant leaves the others alone.
		appendN(t, s, "acme", 100, 1, 1)
		for i, tn := range tenants {
			got, err := s.ListAudit(ctx(t), tn, 100)
			if err != nil {
				t.Fatal(err)
			}
			wantLen := i + 1
			if tn == "acme" {
				wantLen = 1
			}
			if len(got) != wantLen {
				t.Fatalf("tenant %q holds %d events, want %d", tn, len(got), wantLen)
			}
			for _, e := range got {
				if e.Tenant != tn {
					t.Fatalf("tenant %q lists an event of %q", tn, e.Tenant)
				}
			}
		}
		if got, err := s.ListAudit(ctx(t), "initech", 10); err != nil || len(got) != 0 {
			t.Fatalf("tenant without events lists %d, %v", len(got), err)
		}
	}},
	{"InvalidInput", func(t *testing.T, s audit.Store) {
		if err := s.AppendAudit(ctx(t), "", numbered(0), audit.Keep); err == nil {
			t.Error("AppendAudit without a tenant: no error")
		}
		for _, keep := range []int{0, -1} {
			if err := s.AppendAudit(ctx(t), "acme", numbered(0), keep); err == nil {
				t.Errorf("AppendAudit with keep %d: no error", keep)
			}
		}
		if got, err := s.ListAudit(ctx(t), "acme", 10); err != nil || len(got) != 0 {
			t.Fatalf("a refused append stored something: %d events, %v", len(got), err)
		}
	}},
	{"ConcurrentAppendsKeepExactly", func(t *testing.T, s audit.Store) {
		// Append and trim are one step: parallel writers (gateway replicas) never leave more than keep,
		// and lose nothing that should stay.
		const keep, per = 50, 5
		errs := parallel(racers, func(i int) error {
			for j := range per {
				e := numbered(i*per + j)
				if err := s.AppendAudit(ctx(t), "acme", e, keep); err != nil {
					return err
				}
			}
			return nil
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
		}
		got, err := s.ListAudit(ctx(t), "acme", 10*keep)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != keep {
			t.Fatalf("%d events after %d parallel appends with keep %d, want %d", len(got), racers*per, keep, keep)
		}
		seen := map[string]bool{}
		for _, e := range got {
			if seen[e.Detail["n"]] {
				t.Fatalf("event #%s listed twice", e.Detail["n"])
			}
			seen[e.Detail["n"]] = true
		}
		// Each writer's own events stay in its order (newest first).
		last := map[int]int{}
		for _, e := range got {
			n, _ := strconv.Atoi(e.Detail["n"])
			w := n / per
			if prev, ok := last[w]; ok && n > prev {
				t.Fatalf("writer %d: #%d listed after its later #%d", w, n, prev)
			}
			last[w] = n
		}
	}},
}

// numbered is an event whose Detail["n"] identifies it.
func numbered(i int) audit.Event {
	return audit.Event{Time: base.Add(time.Duration(i) * time.Second), Type: audit.SignInSuccess, Tenant: "acme",
		User: "u1", Method: "password+totp", Detail: map[string]string{"n": strconv.Itoa(i)}}
}

// appendN appends events from..from+count-1 to tenant with keep.
func appendN(t *testing.T, s audit.Store, tenant string, from, count, keep int) {
	t.Helper()
	for i := from; i < from+count; i++ {
		e := numbered(i)
		e.Tenant = tenant
		if err := s.AppendAudit(ctx(t), tenant, e, keep); err != nil {
			t.Fatalf("AppendAudit(%q, #%d, keep %d): %v", tenant, i, keep, err)
		}
	}
}

// expectNumbers lists tenant with limit and checks the numbers returned, in order.
func expectNumbers(t *testing.T, s audit.Store, tenant string, limit int, want ...int) {
	t.Helper()
	got, err := s.ListAudit(ctx(t), tenant, limit)
	if err != nil {
		t.Fatal(err)
	}
	var nums []string
	for _, e := range got {
		nums = append(nums, e.Detail["n"])
	}
	var wantS []string
	for _, w := range want {
		wantS = append(wantS, strconv.Itoa(w))
	}
	if fmt.Sprint(nums) != fmt.Sprint(wantS) {
		t.Fatalf("ListAudit(%q, %d) = %v, want %v", tenant, limit, nums, wantS)
	}
}

func sameEvent(a, b audit.Event) bool {
	if !a.Time.Equal(b.Time) || a.Type != b.Type || a.Tenant != b.Tenant || a.User != b.User || a.Email != b.Email ||
		a.Actor != b.Actor || a.Method != b.Method || a.Reason != b.Reason || len(a.Detail) != len(b.Detail) {
		return false
	}
	for k, v := range b.Detail {
		if a.Detail[k] != v {
			return false
		}
	}
	return true
}
