// Package keys derives the gateway's encryption and MAC keys from the master secret_key and seals data at rest.
package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Sentinel errors of Open, checked with errors.Is.
var (
	// ErrUnknownKey: the ciphertext names a key id that is neither the current key nor a listed previous one
	// (the master key was rotated without keeping the old one in the ring).
	ErrUnknownKey = errors.New("sealed with an unknown key")
	// ErrCorrupt: truncated, tampered with, or bound to different associated data.
	ErrCorrupt = errors.New("sealed data is corrupt or belongs to someone else")
)

// MasterSize is the length of secret_key.
const MasterSize = 32

// Sealed layout: version | key id | nonce | ciphertext+tag.
const (
	version    = 1
	idSize     = 4
	nonceSize  = 12
	headerSize = 1 + idSize + nonceSize
	tagSize    = 16
)

// HKDF info labels. Each derived key has its own label, so no two purposes ever share key material; MAC
// labels carry the purpose after a prefix no other label uses.
const (
	labelID  = "vectis-gateway v1 key-id"
	labelEnc = "vectis-gateway v1 aes-256-gcm"
	labelMAC = "vectis-gateway v1 hmac-sha256 "
)

// Ring is the current master key plus the previous ones still accepted for opening older ciphertexts.
// It never exposes the master key; its String form shows only key ids.
type Ring struct {
	current  *entry
	previous []*entry
}

type entry struct {
	id     [idSize]byte
	master []byte
	aead   cipher.AEAD
}

// New builds a ring whose current key is master; previous keys (newest first) are used only by Open, so
// ciphertexts sealed before a rotation keep opening until they are re-sealed.
func New(master []byte, previous ...[]byte) (*Ring, error) {
	cur, err := newEntry(master)
	if err != nil {
		return nil, fmt.Errorf("current key: %w", err)
	}
	k := &Ring{current: cur}
	seen := map[[idSize]byte]bool{cur.id: true}
	for i, p := range previous {
		e, err := newEntry(p)
		if err != nil {
			return nil, fmt.Errorf("previous key %d: %w", i+1, err)
		}
		// A repeated id is either the same key listed twice or a 1-in-2^32 collision; either way Open could
		// not tell the keys apart, so refuse the configuration.
		if seen[e.id] {
			return nil, fmt.Errorf("previous key %d has the same key id (%x) as another key in the ring", i+1, e.id)
		}
		seen[e.id] = true
		k.previous = append(k.previous, e)
	}
	return k, nil
}

func newEntry(master []byte) (*entry, error) {
	if len(master) != MasterSize {
		return nil, fmt.Errorf("must be %d bytes, got %d", MasterSize, len(master))
	}
	e := &entry{master: bytes.Clone(master)}
	copy(e.id[:], derive(master, labelID, idSize))
	block, err := aes.NewCipher(derive(master, labelEnc, 32))
	if err != nil {
		return nil, err
	}
	if e.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return e, nil
}

// derive is HKDF-SHA256 without salt: the master key is already uniformly random, so the extract step needs
// no salt to produce a good PRK.
func derive(master []byte, label string, n int) []byte {
	out, err := hkdf.Key(sha256.New, master, nil, label, n)
	if err != nil {
		// Only possible for n > 255*32 bytes, which no caller asks for.
		panic("keys: " + err.Error())
	}
	return out
}

// KeyID is the current key's id (8 hex digits). It identifies, never reveals, the key: it is an HKDF output
// under its own label.
func (k *Ring) KeyID() string { return hex.EncodeToString(k.current.id[:]) }

// String keeps the master key out of logs and %v output.
func (k *Ring) String() string {
	return fmt.Sprintf("keys.Ring{current: %s, previous: %d}", k.KeyID(), len(k.previous))
}

// GoString covers %#v, which would otherwise print the key bytes.
func (k *Ring) GoString() string { return k.String() }

// Seal encrypts plaintext with AES-256-GCM under the current key and a random nonce from r. aad binds the
// ciphertext to its owner (for example "totp|tenant|user"): Open with any other aad fails, so a sealed value
// copied onto another record is useless.
func (k *Ring) Seal(r io.Reader, plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = version
	copy(out[1:], k.current.id[:])
	if _, err := io.ReadFull(r, out[1+idSize:headerSize]); err != nil {
		return nil, fmt.Errorf("reading nonce: %w", err)
	}
	return k.current.aead.Seal(out, out[1+idSize:headerSize], plaintext, gcmAAD(out[:1+idSize], aad)), nil
}

// Open reverses Seal with whichever key in the ring the ciphertext names.
func (k *Ring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < headerSize+tagSize {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(sealed))
	}
	if sealed[0] != version {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, sealed[0])
	}
	e := k.find(sealed[1 : 1+idSize])
	if e == nil {
		return nil, fmt.Errorf("%w (key id %x)", ErrUnknownKey, sealed[1:1+idSize])
	}
	pt, err := e.aead.Open(nil, sealed[1+idSize:headerSize], sealed[headerSize:], gcmAAD(sealed[:1+idSize], aad))
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}

// gcmAAD authenticates the header along with the caller's aad. The header has a fixed length, so the
// concatenation is unambiguous.
func gcmAAD(header, aad []byte) []byte {
	return append(bytes.Clone(header), aad...)
}

func (k *Ring) find(id []byte) *entry {
	if bytes.Equal(id, k.current.id[:]) {
		return k.current
	}
	for _, e := range k.previous {
		if bytes.Equal(id, e.id[:]) {
			return e
		}
	}
	return nil
}

// MACKey returns the current HMAC key for purpose (for example "recovery"). Keys for different purposes are
// independent, and none equals the encryption key.
func (k *Ring) MACKey(purpose string) []byte { return derive(k.current.master, labelMAC+purpose, 32) }

// MACKeys returns the purpose's key under the current master first, then under each previous one, so a
// verifier can still match values MACed before a rotation.
func (k *Ring) MACKeys(purpose string) [][]byte {
	keys := [][]byte{k.MACKey(purpose)}
	for _, e := range k.previous {
		keys = append(keys, derive(e.master, labelMAC+purpose, 32))
	}
	return keys
}

// MAC is HMAC-SHA256 under the purpose's key over parts, each preceded by its 8-byte length so that part
// boundaries are authenticated: ("ab", "c") and ("a", "bc") give different MACs.
func (k *Ring) MAC(purpose string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, k.MACKey(purpose))
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write(p)
	}
	return m.Sum(nil)
}
