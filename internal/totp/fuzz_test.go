package totp

import "testing"

// FuzzNormalizeCode: an accepted code is exactly six ASCII digits; nothing else ever reaches the comparison.
func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", " 123 456 ", "123-456", "１２３４５６", "12345", "1234567", "+12345", "١٢٣٤٥٦"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := NormalizeCode(s)
		if !ok {
			return
		}
		if len(c) != 6 {
			t.Fatalf("NormalizeCode(%q) = %q", s, c)
		}
		for i := 0; i < len(c); i++ {
			if c[i] < '0' || c[i] > '9' {
				t.Fatalf("NormalizeCode(%q) = %q", s, c)
			}
		}
	})
}
