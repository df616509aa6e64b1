package recovery

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	mrand "math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var displayForm = regexp.MustCompile(`^[23456789abcdefghjkmnpqrstvwxyz]{5}-[23456789abcdefghjkmnpqrstvwxyz]{5}$`)

func TestGenerate(t *testing.T) {
	codes, err := Generate(rand.Reader, Count)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != Count {
		t.Fatalf("got %d codes, want %d", len(codes), Count)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !displayForm.MatchString(c) {
			t.Errorf("code %q is not in display form", c)
		}
		if strings.ContainsAny(c, "0o1liu") {
			t.Errorf("code %q contains a confusable character", c)
		}
		n, ok := Normalize(c)
		if !ok || n != strings.ReplaceAll(c, "-", "") {
			t.Errorf("Normalize(%q) = %q, %v", c, n, ok)
		}
		if seen[c] {
			t.Errorf("duplicate code %q", c)
		}
		seen[c] = true
	}
}

func TestGenerateIsDeterministicGivenTheReader(t *testing.T) {
	// The codes come only from r (no hidden randomness), so tests elsewhere can inject a seeded reader.
	a, _ := Generate(mrand.NewChaCha8([32]byte{9}), Count)
	b, _ := Generate(mrand.NewChaCha8([32]byte{9}), Count)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatal("same reader, different codes")
	}
}

// repeatReader returns the same block forever, so every draw yields the same code.
type repeatReader struct{ block []byte }

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.block[i%len(r.block)]
	}
	return len(p), nil
}

func TestGenerateEdges(t *testing.T) {
	tests := []struct {
		name    string
		r       func() *bytes.Reader
		n       int
		wantErr bool
	}{
		{"zero codes", func() *bytes.Reader { return bytes.NewReader(make([]byte, 1000)) }, 0, true},
		{"negative", func() *bytes.Reader { return bytes.NewReader(make([]byte, 1000)) }, -1, true},
		{"too many", func() *bytes.Reader { return bytes.NewReader(make([]byte, 1000)) }, maxCodes + 1, true},
		{"reader runs dry", func() *bytes.Reader { return bytes.NewReader(make([]byte, 5)) }, 1, true},
		{"all bytes rejected", func() *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{0xff}, 100000)) }, 1, true},
		{"one code from zeros", func() *bytes.Reader { return bytes.NewReader(make([]byte, 1000)) }, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			codes, err := Generate(tt.r(), tt.n)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Generate err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (len(codes) != tt.n || codes[0] != "22222-22222") {
				t.Fatalf("codes = %v", codes)
			}
		})
	}

	// A reader that can only ever produce one code cannot fill a set of two distinct ones: it must fail
	// (the draw loop ends when the reader runs dry) rather than return a duplicate.
	if codes, err := Generate(bytes.NewReader(make([]byte, 10000)), 2); err == nil {
		t.Fatalf("Generate returned %v from a constant source", codes)
	}
}

func TestGenerateIsUniform(t *testing.T) {
	// Rejection sampling must not favour the first symbols as a modulo would: over 310,000 symbols each of
	// the 30 should appear about 10,300 times. 10% slack is over 10 standard deviations for a fair draw,
	// while folding 5-bit values mod 30 would give two symbols double weight (~19,000 each).
	codes, err := Generate(mrand.NewChaCha8([32]byte{1}), maxCodes)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[rune]int{}
	for i := range 30 {
		more, err := Generate(mrand.NewChaCha8([32]byte{byte(i), 7}), maxCodes)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, more...)
	}
	total := 0
	for _, c := range codes {
		for _, r := range strings.ReplaceAll(c, "-", "") {
			counts[r]++
			total++
		}
	}
	if len(counts) != len(alphabet) {
		t.Fatalf("saw %d distinct symbols, want %d", len(counts), len(alphabet))
	}
	want := total / len(alphabet)
	for r, n := range counts {
		if n < want*9/10 || n > want*11/10 {
			t.Errorf("symbol %q appeared %d times, expected about %d", r, n, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"7kq2m-x9fpd", "7kq2mx9fpd", true},
		{"7kq2mx9fpd", "7kq2mx9fpd", true},
		{"7KQ2M-X9FPD", "7kq2mx9fpd", true},
		{"7Kq2M-x9FpD", "7kq2mx9fpd", true},
		{"  7kq2m-x9fpd  ", "7kq2mx9fpd", true},
		{"\t7kq2m-x9fpd", "7kq2mx9fpd", true},
		{"7kq2m x9fpd", "7kq2mx9fpd", true},
		{"", "", false},
		{"7kq2m-x9fp", "", false},
		{"7kq2m-x9fpdd", "", false},
		{"7kq2mx9fp", "", false},
		{"7kq2-mx9fpd", "", false},
		{"7kq2m--x9fpd", "", false},
		{"7kq2m_x9fpd", "", false},
		{"0kq2m-x9fpd", "", false}, // zero is not in the alphabet
		{"okq2m-x9fpd", "", false},
		{"1kq2m-x9fpd", "", false},
		{"lkq2m-x9fpd", "", false},
		{"ikq2m-x9fpd", "", false},
		{"ukq2m-x9fpd", "", false},
		{"Okq2m-x9fpd", "", false},
		{"7\u212aq2m-x9fpd", "", false}, // Kelvin sign, which Unicode lower-cases to 'k'
		{"７kq2m-x9fpd", "", false},      // fullwidth digit
		{"7kq2m\u2010x9fpd", "", false}, // Unicode hyphen
		{"7kq2m-x9fpd\n", "", false},
		{"7kq2m-x9fpd\x00", "", false},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, ok := Normalize(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestHash(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	other := []byte("fedcba9876543210fedcba9876543210")
	h := Hash(key, "7kq2mx9fpd")

	m := hmac.New(sha256.New, key)
	m.Write([]byte("7kq2mx9fpd"))
	if want := m.Sum(nil); !bytes.Equal(h, want) {
		t.Fatalf("Hash = %s, want HMAC-SHA256 %s", hex.EncodeToString(h), hex.EncodeToString(want))
	}
	tests := []struct {
		name string
		key  []byte
		code string
		same bool
	}{
		{"same key and code", key, "7kq2mx9fpd", true},
		{"other key", other, "7kq2mx9fpd", false},
		{"other code", key, "7kq2mx9fpe", false},
		{"display form is not normalized", key, "7kq2m-x9fpd", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bytes.Equal(Hash(tt.key, tt.code), h); got != tt.same {
				t.Errorf("equal = %v, want %v", got, tt.same)
			}
		})
	}
	if len(h) != sha256.Size {
		t.Errorf("hash is %d bytes", len(h))
	}
}
