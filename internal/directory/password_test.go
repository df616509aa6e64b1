package directory

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// Vectors made with the argon2 reference implementation's command-line tool (Debian package argon2), e.g.
//
//	echo -n "correct horse battery staple" | argon2 "vectis-salt-0003" -id -t 2 -k 19456 -p 1 -l 32 -e
//
// so our PHC parsing and argon2id computation are checked against an independent encoder.
var argonCLIVectors = []struct {
	name, password, encoded string
}{
	{"our parameters", "correct horse battery staple", "$argon2id$v=19$m=19456,t=2,p=1$dmVjdGlzLXNhbHQtMDAwMw$93kaVlHmwCteRjZcI+B0ngeK+pdkHTfWMWJGt8Q/qno"},
	{"16 MiB", "correct horse battery staple", "$argon2id$v=19$m=16384,t=2,p=1$dmVjdGlzLXNhbHQtMDAwMQ$NjG2cQpbMIgcU+2xjK3K1sCb8Co2ZXUMw1EQgF/U9bk"},
	{"64 MiB, 4 lanes", "correct horse battery staple", "$argon2id$v=19$m=65536,t=3,p=4$dmVjdGlzLXNhbHQtMDAwMg$e72yc7yBYLTntljGeNATKGzUb1zy+L+vwsb/nodFURw"},
	{"non-ASCII password, 16-byte hash", "Pässwörd ünïcode", "$argon2id$v=19$m=8192,t=1,p=2$dmVjdGlzLXNhbHQtMDAwNA$czUOBLFzJLyQlisVEj1rEQ"},
}

// The OpenBSD bcrypt test vector for "U*U"; $2b$ and $2y$ differ from $2a$ only for passwords over 255 bytes,
// so the same hash under each prefix must verify.
const openBSDVector = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"

func TestVerifyAcceptedFormats(t *testing.T) {
	h := NewHasher(0)
	ctx := context.Background()
	type vector struct{ name, password, encoded string }
	vectors := []vector{
		{"bcrypt $2a$ OpenBSD", "U*U", openBSDVector},
		{"bcrypt $2b$", "U*U", "$2b$" + openBSDVector[4:]},
		{"bcrypt $2y$", "U*U", "$2y$" + openBSDVector[4:]},
	}
	for _, v := range argonCLIVectors {
		vectors = append(vectors, vector{"argon2 CLI " + v.name, v.password, v.encoded})
	}
	gen, _ := bcrypt.GenerateFromPassword([]byte("hunter22hunter22"), bcrypt.MinCost)
	vectors = append(vectors, vector{"bcrypt generated", "hunter22hunter22", string(gen)})

	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			if err := CheckHash(v.encoded); err != nil {
				t.Fatalf("CheckHash: %v", err)
			}
			ok, err := h.Verify(ctx, v.encoded, v.password)
			if err != nil || !ok {
				t.Fatalf("Verify(right password) = %v, %v", ok, err)
			}
			for _, wrong := range []string{"", v.password + "x", "x" + v.password, swapCase(v.password), v.password[:len(v.password)-1]} {
				ok, err := h.Verify(ctx, v.encoded, wrong)
				if err != nil || ok {
					t.Errorf("Verify(%q) = %v, %v; want false, nil", wrong, ok, err)
				}
			}
		})
	}
}

// swapCase turns "U*U" into "u*u" and "Abc" into "aBC": a wrong password that differs only in case.
func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		if l := unicode.ToLower(r); l != r {
			return l
		}
		return unicode.ToUpper(r)
	}, s)
}

var phcForm = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHash(t *testing.T) {
	h := NewHasher(0)
	ctx := context.Background()
	salt := bytes.Repeat([]byte{7}, 64)
	a, err := h.Hash(ctx, bytes.NewReader(salt), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !phcForm.MatchString(a) {
		t.Fatalf("Hash = %q, not the expected PHC form", a)
	}
	if err := CheckHash(a); err != nil {
		t.Errorf("CheckHash(own hash): %v", err)
	}
	if ok, err := h.Verify(ctx, a, "correct horse battery staple"); !ok || err != nil {
		t.Errorf("Verify(own hash) = %v, %v", ok, err)
	}
	// Same salt and password give the same string (the salt is the only randomness); a new salt changes it.
	b, _ := h.Hash(ctx, bytes.NewReader(salt), "correct horse battery staple")
	c, _ := h.Hash(ctx, bytes.NewReader(bytes.Repeat([]byte{8}, 64)), "correct horse battery staple")
	if a != b || a == c {
		t.Errorf("salt handling: a=%s b=%s c=%s", a, b, c)
	}

	if _, err := h.Hash(ctx, bytes.NewReader(salt[:3]), "pw"); err == nil {
		t.Error("Hash succeeded with a short random source")
	}
	long := strings.Repeat("x", maxPasswordLen+1)
	if _, err := h.Hash(ctx, bytes.NewReader(salt), long); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("Hash(long) err = %v", err)
	}
	if ok, err := h.Verify(ctx, a, long); ok || err != nil {
		t.Errorf("Verify(long) = %v, %v", ok, err)
	}
}

func TestCheckHashRefuses(t *testing.T) {
	const salt, key = "dmVjdGlzLXNhbHQtMDAwMw", "93kaVlHmwCteRjZcI+B0ngeK+pdkHTfWMWJGt8Q/qno"
	argon := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	tests := []struct {
		name, encoded, want string
	}{
		{"empty", "", "empty"},
		{"plain text", "hunter2", "not an argon2id"},
		{"md5 crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "not an argon2id"},
		{"sha512 crypt", "$6$rounds=5000$salt$hash", "not an argon2id"},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "only argon2id"},
		{"argon2d", "$argon2d$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "only argon2id"},
		{"memory over limit", argon("m=262145,t=2,p=1"), "m=262145 KiB is above the limit"},
		{"memory far over limit", argon("m=4194304,t=2,p=1"), "above the limit"},
		{"passes over limit", argon("m=19456,t=11,p=1"), "t=11 is above the limit"},
		{"lanes over limit", argon("m=19456,t=2,p=17"), "p=17 is above the limit"},
		{"zero passes", argon("m=19456,t=0,p=1"), "at least 1"},
		{"zero lanes", argon("m=19456,t=2,p=0"), "at least 1"},
		{"memory below 8 KiB per lane", argon("m=31,t=2,p=4"), "below the minimum"},
		{"old version", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key, "version 19"},
		{"no version", "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key, "form"},
		{"parameters out of order", argon("t=2,m=19456,p=1"), "m=…,t=…,p=…"},
		{"missing parameter", argon("m=19456,t=2"), "m=…,t=…,p=…"},
		{"extra parameter", argon("m=19456,t=2,p=1,k=1"), "m=…,t=…,p=…"},
		{"signed number", argon("m=+19456,t=2,p=1"), "decimal"},
		{"hex number", argon("m=0x4c00,t=2,p=1"), "decimal"},
		{"number overflows", argon("m=99999999999,t=2,p=1"), "decimal"},
		{"number overflows uint32", argon("m=4294967296,t=2,p=1"), "out of range"},
		{"padded salt", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key, "salt is not unpadded base64"},
		{"bad hash base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:40] + "!!!", "not unpadded base64"},
		{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key, "salt is 4 bytes"},
		{"short hash", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$c2hvcnQ", "hash value is 5 bytes"},
		{"missing hash", "$argon2id$v=19$m=19456,t=2,p=1$" + salt, "form"},
		{"trailing field", argon("m=19456,t=2,p=1") + "$x", "form"},
		{"bcrypt $2x$", "$2x$" + openBSDVector[4:], "not an argon2id"},
		{"bcrypt $2$", "$2$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "not an argon2id"},
		{"bcrypt cost over limit", "$2b$16" + openBSDVector[6:], "cost 16 is above the limit"},
		{"bcrypt cost 31", "$2b$31" + openBSDVector[6:], "cost 31 is above the limit"},
		{"bcrypt truncated", openBSDVector[:50], "malformed"},
		{"bcrypt with trailing data", openBSDVector + "x", "malformed"},
		{"bcrypt cost not a number", "$2b$xx" + openBSDVector[6:], "malformed"},
	}
	h := NewHasher(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckHash(tt.encoded)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckHash = %v; want an error containing %q", err, tt.want)
			}
			// Error text goes to import reports and logs: it must not repeat the hash.
			if len(tt.encoded) > 20 && (strings.Contains(err.Error(), salt) || strings.Contains(err.Error(), tt.encoded[len(tt.encoded)-16:])) {
				t.Errorf("error repeats the hash: %v", err)
			}
			// Verify refuses the same hashes (a tampered store must not become a denial of service).
			if ok, err := h.Verify(context.Background(), tt.encoded, "password"); ok || err == nil {
				t.Errorf("Verify = %v, %v; want false and an error", ok, err)
			}
		})
	}
}

func TestCheckHashLimitsAreInclusive(t *testing.T) {
	// The exact limits are accepted (only CheckHash: verifying at 256 MiB would be slow for a unit test).
	for _, enc := range []string{
		"$argon2id$v=19$m=262144,t=10,p=16$dmVjdGlzLXNhbHQtMDAwMw$93kaVlHmwCteRjZcI+B0ngeK+pdkHTfWMWJGt8Q/qno",
		"$2b$15" + openBSDVector[6:],
	} {
		if err := CheckHash(enc); err != nil {
			t.Errorf("CheckHash(limit) = %v", err)
		}
	}
}

func TestDummyHashMatchesCurrentParameters(t *testing.T) {
	// Burn only hides whether an email exists if it costs what a real check costs, i.e. if the dummy hash
	// uses exactly the parameters Hash writes today.
	p, err := parseArgon2id(dummyHash)
	if err != nil {
		t.Fatal(err)
	}
	if p.memory != argonMemory || p.time != argonTime || p.threads != argonThreads || len(p.key) != argonKeyLen || len(p.salt) != argonSaltLen {
		t.Fatalf("dummy hash parameters m=%d t=%d p=%d key=%d salt=%d differ from Hash's", p.memory, p.time, p.threads, len(p.key), len(p.salt))
	}
}

func extraProcsAdded() bool { return runtime.GOMAXPROCS(0) != procsAtStart }

var procsAtStart = runtime.GOMAXPROCS(0)

func TestNewHasherDefault(t *testing.T) {
	if got, want := cap(NewHasher(0).sem), max(1, runtime.GOMAXPROCS(0)/2); got != want && !extraProcsAdded() {
		t.Errorf("default concurrency = %d, want %d", got, want)
	}
	// Every NewHasher(0) in the process shares one set of slots (two sites, or both configurations during
	// a reload, must not double the hashing a flood causes).
	if a, b := NewHasher(0), NewHasher(-3); a.sem != b.sem || !a.shared {
		t.Error("NewHasher(0) and NewHasher(-3) do not share the process-wide slots")
	}
	if got := cap(NewHasher(3).sem); got != 3 || NewHasher(3).sem == NewHasher(3).sem {
		t.Errorf("NewHasher(3): %d slots of its own expected", got)
	}
}

func TestHasherWaitsForASlotAndHonoursContext(t *testing.T) {
	h := NewHasher(2)
	bg := context.Background()
	enc, err := h.Hash(bg, bytes.NewReader(make([]byte, 16)), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	// Occupy both slots, as two slow hashes in flight would.
	for range 2 {
		if err := h.acquire(bg); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if ok, err := h.Verify(short, enc, "correct horse"); ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify with all slots busy = %v, %v; want DeadlineExceeded", ok, err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("Verify returned after %v without waiting for a slot", waited)
	}
	cancelled, cancelNow := context.WithCancel(bg)
	cancelNow()
	if _, err := h.Hash(cancelled, bytes.NewReader(make([]byte, 16)), "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with cancelled context: %v", err)
	}
	// Burn waits for a slot too, so floods of unknown emails are bounded like everything else.
	burnDone := make(chan struct{})
	burnCtx, burnCancel := context.WithCancel(bg)
	go func() { h.Burn(burnCtx, "guess"); close(burnDone) }()
	select {
	case <-burnDone:
		t.Fatal("Burn ran while every slot was busy")
	case <-time.After(50 * time.Millisecond):
	}
	burnCancel()
	<-burnDone

	// A freed slot lets a waiting Verify proceed.
	result := make(chan bool)
	go func() {
		ok, _ := h.Verify(bg, enc, "correct horse")
		result <- ok
	}()
	time.Sleep(20 * time.Millisecond)
	h.release()
	if !<-result {
		t.Error("Verify after a slot was freed failed")
	}
	h.release()
	// An already-cancelled context never starts work, even with free slots.
	if _, err := h.Verify(cancelled, enc, "correct horse"); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with cancelled context and free slots: %v", err)
	}
	if len(h.sem) != 0 {
		t.Errorf("%d slots still held", len(h.sem))
	}
}

func TestZeroHasherPanicsInsteadOfHanging(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("zero Hasher did not panic")
		}
	}()
	var h Hasher
	h.Burn(context.Background(), "x")
}
