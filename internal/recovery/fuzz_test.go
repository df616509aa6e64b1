package recovery

import "testing"

// FuzzNormalize: an accepted recovery code is the canonical 10-character form from the code alphabet, and
// normalizing it again is a no-op.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"7kq2m-x9fpd", "7KQ2MX9FPD", " 7kq2m x9fpd ", "7kq2m--x9fpd", "ｋ", "0000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := Normalize(s)
		if !ok {
			return
		}
		if len(n) != 10 {
			t.Fatalf("Normalize(%q) = %q", s, n)
		}
		if again, ok := Normalize(n); !ok || again != n {
			t.Fatalf("Normalize not idempotent: %q → %q → %q", s, n, again)
		}
	})
}
