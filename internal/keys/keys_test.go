package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func master(b byte) []byte { return bytes.Repeat([]byte{b}, MasterSize) }

func mustRing(t *testing.T, cur []byte, prev ...[]byte) *Ring {
	t.Helper()
	k, err := New(cur, prev...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewRefusesBadKeys(t *testing.T) {
	tests := []struct {
		name string
		cur  []byte
		prev [][]byte
	}{
		{"empty", nil, nil},
		{"short", make([]byte, 31), nil},
		{"long", make([]byte, 33), nil},
		{"short previous", master(1), [][]byte{make([]byte, 16)}},
		{"previous equals current", master(1), [][]byte{master(1)}},
		{"previous listed twice", master(1), [][]byte{master(2), master(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cur, tt.prev...); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustRing(t, master(1))
	aad := []byte("totp|acme|op_1")
	for _, pt := range [][]byte{{}, []byte("x"), []byte("12345678901234567890"), bytes.Repeat([]byte("z"), 4096)} {
		sealed, err := k.Seal(rand.Reader, pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != headerSize+len(pt)+tagSize {
			t.Errorf("sealed length %d for %d-byte plaintext", len(sealed), len(pt))
		}
		if len(pt) > 4 && bytes.Contains(sealed, pt) {
			t.Error("plaintext visible in sealed output")
		}
		got, err := k.Open(sealed, aad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("Open = %q, %v; want %q", got, err, pt)
		}
	}
}

func TestSealFormat(t *testing.T) {
	k := mustRing(t, master(1))
	nonce := bytes.Repeat([]byte{0xAA}, nonceSize)
	sealed, err := k.Seal(bytes.NewReader(nonce), []byte("secret"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != 1 {
		t.Errorf("version byte = %d", sealed[0])
	}
	if got := fmt.Sprintf("%x", sealed[1:5]); got != k.KeyID() {
		t.Errorf("key id bytes %s, KeyID %s", got, k.KeyID())
	}
	if !bytes.Equal(sealed[5:17], nonce) {
		t.Errorf("nonce = %x", sealed[5:17])
	}
	// Decrypt independently with the documented derivation, proving the layout and the AAD construction.
	block, _ := aes.NewCipher(derive(master(1), labelEnc, 32))
	gcm, _ := cipher.NewGCM(block)
	pt, err := gcm.Open(nil, sealed[5:17], sealed[17:], append(append([]byte{}, sealed[:5]...), "aad"...))
	if err != nil || string(pt) != "secret" {
		t.Errorf("independent open = %q, %v", pt, err)
	}
	// The nonce comes from r, so a failing reader must fail Seal rather than reuse a nonce.
	if _, err := k.Seal(bytes.NewReader(nonce[:5]), []byte("secret"), nil); err == nil {
		t.Error("Seal succeeded with a short random source")
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	k := mustRing(t, master(1))
	a, _ := k.Seal(rand.Reader, []byte("same"), nil)
	b, _ := k.Seal(rand.Reader, []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

func TestOpenDetectsEveryTamperedByte(t *testing.T) {
	k := mustRing(t, master(1))
	aad := []byte("totp|acme|op_1")
	sealed, err := k.Seal(rand.Reader, []byte("JBSWY3DPEHPK3PXP"), aad)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(sealed)
			bad[i] ^= flip
			_, err := k.Open(bad, aad)
			switch {
			case i >= 1 && i < 1+idSize:
				// A changed key id names a key the ring does not hold.
				if !errors.Is(err, ErrUnknownKey) {
					t.Fatalf("byte %d ^ %#x: err = %v, want ErrUnknownKey", i, flip, err)
				}
			default:
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("byte %d ^ %#x: err = %v, want ErrCorrupt", i, flip, err)
				}
			}
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	k := mustRing(t, master(1))
	aad := []byte("totp|acme|op_1")
	sealed, _ := k.Seal(rand.Reader, []byte("secret"), aad)
	other := mustRing(t, master(2))
	fromOther, _ := other.Seal(rand.Reader, []byte("secret"), aad)

	tests := []struct {
		name   string
		sealed []byte
		aad    []byte
		want   error
	}{
		{"other user's aad", sealed, []byte("totp|acme|op_2"), ErrCorrupt},
		{"other tenant's aad", sealed, []byte("totp|beta|op_1"), ErrCorrupt},
		{"no aad", sealed, nil, ErrCorrupt},
		{"aad with extra byte", sealed, append(bytes.Clone(aad), 0), ErrCorrupt},
		{"truncated tag", sealed[:len(sealed)-1], aad, ErrCorrupt},
		{"header only", sealed[:headerSize], aad, ErrCorrupt},
		{"empty", nil, aad, ErrCorrupt},
		{"extra trailing byte", append(bytes.Clone(sealed), 0), aad, ErrCorrupt},
		{"sealed under a key not in the ring", fromOther, aad, ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := k.Open(tt.sealed, tt.aad)
			if !errors.Is(err, tt.want) || pt != nil {
				t.Fatalf("Open = %q, %v; want %v", pt, err, tt.want)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	old := mustRing(t, master(1))
	aad := []byte("sso|acme")
	sealedOld, _ := old.Seal(rand.Reader, []byte("client-secret"), aad)

	rotated := mustRing(t, master(2), master(1))
	if rotated.KeyID() == old.KeyID() {
		t.Fatal("rotated ring kept the old key id")
	}
	got, err := rotated.Open(sealedOld, aad)
	if err != nil || string(got) != "client-secret" {
		t.Fatalf("rotated ring opening old ciphertext = %q, %v", got, err)
	}
	// New seals use the new key, which the old ring does not know.
	sealedNew, _ := rotated.Seal(rand.Reader, []byte("client-secret"), aad)
	if fmt.Sprintf("%x", sealedNew[1:5]) != rotated.KeyID() {
		t.Error("rotated ring sealed under a previous key")
	}
	if _, err := old.Open(sealedNew, aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old ring opening new ciphertext: %v, want ErrUnknownKey", err)
	}
	// Dropping the old key from the ring makes its ciphertexts unreadable, with the right error.
	if _, err := mustRing(t, master(2)).Open(sealedOld, aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("ring without the old key: %v, want ErrUnknownKey", err)
	}
	// MACKeys lists the current key first, then the previous one's.
	mk := rotated.MACKeys("recovery")
	if len(mk) != 2 || !bytes.Equal(mk[0], rotated.MACKey("recovery")) || !bytes.Equal(mk[1], old.MACKey("recovery")) {
		t.Error("MACKeys does not list current then previous keys")
	}
}

func TestMAC(t *testing.T) {
	k := mustRing(t, master(1))
	tests := []struct {
		name string
		a, b []byte
	}{
		{"part boundary moves", k.MAC("p", []byte("ab"), []byte("c")), k.MAC("p", []byte("a"), []byte("bc"))},
		{"empty part vs none", k.MAC("p", []byte("a"), []byte{}), k.MAC("p", []byte("a"))},
		{"joined vs split", k.MAC("p", []byte("abc")), k.MAC("p", []byte("ab"), []byte("c"))},
		{"different purpose", k.MAC("session", []byte("x")), k.MAC("recovery", []byte("x"))},
		{"different master", k.MAC("p", []byte("x")), mustRing(t, master(2)).MAC("p", []byte("x"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if bytes.Equal(tt.a, tt.b) {
				t.Fatal("MACs collide")
			}
		})
	}
	if !bytes.Equal(k.MAC("p", []byte("x"), []byte("y")), mustRing(t, master(1)).MAC("p", []byte("x"), []byte("y"))) {
		t.Error("MAC is not deterministic")
	}
}

func TestDerivedKeysAreDistinct(t *testing.T) {
	m := master(7)
	k := mustRing(t, m)
	all := map[string]string{
		"master":     string(m),
		"encryption": string(derive(m, labelEnc, 32)),
		"recovery":   string(k.MACKey("recovery")),
		"session":    string(k.MACKey("session")),
		"empty":      string(k.MACKey("")),
	}
	seen := map[string]string{}
	for name, v := range all {
		if len(v) != 32 {
			t.Errorf("%s key is %d bytes", name, len(v))
		}
		if prev, dup := seen[v]; dup {
			t.Errorf("%s key equals %s key", name, prev)
		}
		seen[v] = name
	}
}

func TestRingNeverPrintsKeyMaterial(t *testing.T) {
	m := []byte("THIS-IS-THE-MASTER-KEY-32-BYTES!")
	k := mustRing(t, m, master(3))
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, k)
		if strings.Contains(out, "MASTER") || strings.Contains(out, fmt.Sprintf("%x", m[:8])) || !strings.Contains(out, k.KeyID()) {
			t.Errorf("%s printed %q", format, out)
		}
	}
}
