package directory

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Parameters for new password hashes: argon2id with 19 MiB of memory, 2 passes and 1 lane — the OWASP
// Password Storage Cheat Sheet's minimum configuration. Memory hardness is what makes GPU cracking of a
// leaked store expensive; we stay at the minimum rather than above it because every sign-in attempt (and
// every Burn for an unknown email) costs this much memory, and the Hasher's semaphore multiplies it by the
// number of concurrent hashes: 19 MiB × max(1, GOMAXPROCS/2) must fit comfortably beside Caddy.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Limits on imported hashes. A hash's parameters decide how much memory and time checking a password costs,
// so a hash from outside (seed file, import) is refused when verifying it would let a stream of wrong
// passwords exhaust the gateway: 256 MiB, 10 passes, 16 lanes; bcrypt cost 15 (about 2 s a check).
const (
	maxArgonMemory  = 262144 // KiB
	maxArgonTime    = 10
	maxArgonThreads = 16
	maxBcryptCost   = 15
	// minSaltLen and the hash-length bounds come from the PHC string format's recommendations.
	minSaltLen, maxSaltLen = 8, 64
	minHashLen, maxHashLen = 16, 64
)

// maxPasswordLen bounds what is hashed. Argon2 copes with any length, but nobody types more, and a cap keeps
// a megabyte-long "password" from being a cheap way to make the server work.
const maxPasswordLen = 1024

// ErrPasswordTooLong is returned by Hash for passwords over maxPasswordLen bytes.
var ErrPasswordTooLong = fmt.Errorf("password is longer than %d bytes", maxPasswordLen)

// dummyHash is an argon2id hash (with the current parameters) of a random password nobody knows. Burn
// verifies against it so that an unknown email costs the same time and memory as a known one.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$HhnVc070hWeMby7+cVbCxA$SocEHAL3AVw4mA+1eapOYGD5wYXVELyJKp0elCDUOFg"

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// Hasher hashes and verifies passwords with a bound on concurrent work: each argon2id run holds its memory
// for tens of milliseconds, so without a bound a burst of sign-in attempts could exhaust the host's memory.
// Callers wait for a slot (or for their context to end) instead. Once they queue, the process gets a Go
// processor per slot more (hashprocs.go), so hashes cannot hold every processor requests need.
type Hasher struct {
	sem    chan struct{}
	shared bool // the process-wide slots of NewHasher(0)
}

// NewHasher returns a Hasher running at most maxConcurrent hashes at once. 0 (or less) means the process-wide
// default: max(1, GOMAXPROCS/2) slots — half the cores — shared by every NewHasher(0) in the process, so two
// sites, or the old and new configuration during a reload, do not double the hashing a flood can cause.
func NewHasher(maxConcurrent int) *Hasher {
	if maxConcurrent <= 0 {
		return &Hasher{sem: sharedSlots(), shared: true}
	}
	return &Hasher{sem: make(chan struct{}, maxConcurrent)}
}

// sharedSlots is the process-wide semaphore, sized from GOMAXPROCS as it is before the hashing threads add
// their own processor (addHashingProcs).
var sharedSlots = sync.OnceValue(func() chan struct{} { return make(chan struct{}, defaultHashSlots()) })

func defaultHashSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

func (h *Hasher) acquire(ctx context.Context) error {
	if h.sem == nil {
		// A zero Hasher would block forever on the nil channel; fail loudly instead.
		panic("directory: Hasher used without NewHasher")
	}
	// Checked first so that an already-cancelled request never starts work, even when a slot is free.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	if h.shared && helpers.Load() == nil {
		// Sign-ins are queueing for the hash: a burst, or an attack. From now on the process keeps one Go
		// processor per slot for the hashing threads, so a hash never takes one the proxied requests need.
		addHashingProcs(cap(h.sem))
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// helpers is the helper pool for the process-wide hasher, or nil (computed in-process).
func (h *Hasher) helpers() *helperPool {
	if !h.shared {
		return nil
	}
	return helpers.Load()
}

// Hash returns a PHC string for password with a fresh salt from r (crypto/rand.Reader in production).
func (h *Hasher) Hash(ctx context.Context, r io.Reader, password string) (string, error) {
	if len(password) > maxPasswordLen {
		return "", ErrPasswordTooLong
	}
	salt := make([]byte, argonSaltLen)
	if _, err := io.ReadFull(r, salt); err != nil {
		return "", fmt.Errorf("reading salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	var key []byte
	if p := h.helpers(); p != nil {
		if res, err := p.do(helperRequest{Op: "hash", Password: password, Salt: salt}); err == nil && res.Err == "" && len(res.Key) == argonKeyLen {
			key = res.Key
		}
	}
	if key == nil {
		key = argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded (argon2id PHC string or bcrypt). A wrong password is
// (false, nil); an error means the stored hash is unusable or ctx ended while waiting for a slot.
// The comparison is constant-time.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	hash, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	// An over-long password cannot match anything Hash produced; it still pays for one hash so that length
	// does not change the timing of the answer.
	if p := h.helpers(); p != nil {
		if res, err := p.do(helperRequest{Op: "verify", Encoded: encoded, Password: password}); err == nil && res.Err == "" {
			return res.OK && len(password) <= maxPasswordLen, nil
		}
		// The helper failed (and was killed): check in-process, so a sign-in never depends on it.
	}
	ok := hash.verify(password)
	return ok && len(password) <= maxPasswordLen, nil
}

// Burn does the work of one Verify against a hash nobody can match, for sign-in attempts with an unknown
// email or a disabled operator: the response then takes as long as for a real operator's wrong password.
func (h *Hasher) Burn(ctx context.Context, password string) {
	_, _ = h.Verify(ctx, dummyHash, password)
}

// CheckHash reports, in plain words, why an imported password hash cannot be used; nil when it can.
// Accepted: argon2id PHC strings ($argon2id$v=19$m=…,t=…,p=…$salt$hash) within the limits above, and
// bcrypt $2a$, $2b$, $2y$ hashes up to cost 15.
func CheckHash(encoded string) error {
	_, err := parseHash(encoded)
	return err
}

// parsedHash is a stored hash ready to check a password against.
type parsedHash interface {
	verify(password string) bool
}

// parseHash never puts the encoded hash in its errors: the messages end up in import reports and logs.
func parseHash(encoded string) (parsedHash, error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		return parseArgon2id(encoded)
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		return parseBcrypt(encoded)
	case strings.HasPrefix(encoded, "$argon2i$"), strings.HasPrefix(encoded, "$argon2d$"):
		return nil, errors.New("password hash uses argon2i or argon2d; only argon2id is accepted")
	case encoded == "":
		return nil, errors.New("password hash is empty")
	default:
		return nil, errors.New("password hash is not an argon2id PHC string ($argon2id$…) or a bcrypt hash ($2a$, $2b$, $2y$)")
	}
}

type argon2idHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parseArgon2id(encoded string) (*argon2idHash, error) {
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		return nil, errors.New("argon2id hash must have the form $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("argon2id hash must be version 19 (v=19)")
	}
	m, t, p, err := parseArgonParams(parts[3])
	if err != nil {
		return nil, err
	}
	switch {
	case m > maxArgonMemory:
		return nil, fmt.Errorf("argon2id memory m=%d KiB is above the limit of %d KiB: checking passwords against it would be unsafe under load", m, maxArgonMemory)
	case t > maxArgonTime:
		return nil, fmt.Errorf("argon2id passes t=%d is above the limit of %d: checking passwords against it would be unsafe under load", t, maxArgonTime)
	case p > maxArgonThreads:
		return nil, fmt.Errorf("argon2id parallelism p=%d is above the limit of %d", p, maxArgonThreads)
	case t < 1 || p < 1:
		return nil, errors.New("argon2id passes t and parallelism p must be at least 1")
	case m < 8*p:
		return nil, fmt.Errorf("argon2id memory m=%d KiB is below the minimum of 8 KiB per lane", m)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return nil, errors.New("argon2id salt is not unpadded base64")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return nil, errors.New("argon2id hash value is not unpadded base64")
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return nil, fmt.Errorf("argon2id salt is %d bytes; it must be %d to %d", len(salt), minSaltLen, maxSaltLen)
	}
	if len(key) < minHashLen || len(key) > maxHashLen {
		return nil, fmt.Errorf("argon2id hash value is %d bytes; it must be %d to %d", len(key), minHashLen, maxHashLen)
	}
	return &argon2idHash{memory: m, time: t, threads: uint8(p), salt: salt, key: key}, nil
}

// parseArgonParams reads "m=…,t=…,p=…" in that order (the order every encoder writes).
func parseArgonParams(s string) (m, t, p uint32, err error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return 0, 0, 0, errors.New("argon2id parameters must be m=…,t=…,p=…")
	}
	var vals [3]uint32
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(fields[i], name)
		// Decimal digits only: ParseUint alone would also take "+5" or leading zeros of any length.
		if !ok || digits == "" || len(digits) > 10 || strings.Trim(digits, "0123456789") != "" {
			return 0, 0, 0, errors.New("argon2id parameters must be m=…,t=…,p=… with decimal numbers")
		}
		v, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return 0, 0, 0, errors.New("argon2id parameter is out of range")
		}
		vals[i] = uint32(v)
	}
	return vals[0], vals[1], vals[2], nil
}

func (a *argon2idHash) verify(password string) bool {
	got := argon2.IDKey([]byte(password), a.salt, a.time, a.memory, a.threads, uint32(len(a.key)))
	return subtle.ConstantTimeCompare(got, a.key) == 1
}

type bcryptHash []byte

func parseBcrypt(encoded string) (bcryptHash, error) {
	cost, err := bcrypt.Cost([]byte(encoded))
	if err != nil || len(encoded) != 60 {
		return nil, errors.New("bcrypt hash is malformed (expected 60 characters: $2b$NN$ then 53 of salt and hash)")
	}
	if cost > maxBcryptCost {
		return nil, fmt.Errorf("bcrypt cost %d is above the limit of %d: checking passwords against it would be unsafe under load", cost, maxBcryptCost)
	}
	return bcryptHash(encoded), nil
}

// verify uses bcrypt's own constant-time comparison. bcrypt reads only the first 72 bytes of a password;
// that is the algorithm's limit, accepted for imported hashes (new hashes are argon2id).
func (b bcryptHash) verify(password string) bool {
	return bcrypt.CompareHashAndPassword(b, []byte(password)) == nil
}
