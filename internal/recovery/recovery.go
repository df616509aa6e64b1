// Package recovery makes one-time recovery codes and the keyed hashes under which they are stored.
package recovery

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Count is how many codes an operator gets at enrollment and at each regeneration.
const Count = 10

// alphabet is lower-case letters and digits without the characters people misread or mistype for one
// another: 0/o, 1/l/i, and u (v/u in some fonts). That leaves 30 symbols, so a 10-character code carries
// 10·log2(30) ≈ 49 bits — far beyond what 5 guesses per 15 minutes can reach.
const alphabet = "23456789abcdefghjkmnpqrstvwxyz"

// length is the number of code characters; codes are shown as two groups of length/2 joined by a hyphen.
const length = 10

// maxCodes bounds n in Generate: far above Count, low enough that a bad argument cannot exhaust memory.
const maxCodes = 1000

// Generate returns n distinct codes drawn uniformly from r (crypto/rand.Reader in production), in their
// display form "7kq2m-x9fpd".
func Generate(r io.Reader, n int) ([]string, error) {
	if n < 1 || n > maxCodes {
		return nil, fmt.Errorf("recovery code count must be between 1 and %d, got %d", maxCodes, n)
	}
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	for len(codes) < n {
		c, err := generateOne(r)
		if err != nil {
			return nil, err
		}
		// A repeat is a ~2^-49 event with a good reader; skipping it keeps "each works once" literally true.
		if seen[c] {
			continue
		}
		seen[c] = true
		codes = append(codes, c[:length/2]+"-"+c[length/2:])
	}
	return codes, nil
}

// errNoRandomness stops a reader whose bytes are all rejected (say, all 0xff) from looping forever. With a
// real random source a round rejects all 20 bytes with probability (2/32)^20, so maxRounds is never reached.
var errNoRandomness = errors.New("random source yields no usable bytes for recovery codes")

const maxRounds = 100

// generateOne draws length symbols by rejection sampling: a byte's low 5 bits index the alphabet when they
// fall below 30 and are discarded otherwise, so every symbol is equally likely (a plain modulo would favour
// the first symbols).
func generateOne(r io.Reader) (string, error) {
	var out [length]byte
	buf := make([]byte, 2*length)
	n := 0
	for round := 0; n < length; round++ {
		if round == maxRounds {
			return "", errNoRandomness
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("reading randomness for recovery codes: %w", err)
		}
		for _, b := range buf {
			if v := int(b & 31); v < len(alphabet) && n < length {
				out[n] = alphabet[v]
				n++
			}
		}
	}
	return string(out[:]), nil
}

// Normalize turns what an operator typed into the canonical 10-character form: surrounding spaces and tabs
// are dropped, letters may be any case, and the middle hyphen (or a space in its place) is optional. Anything
// outside the alphabet — including Unicode look-alikes, which are never folded — is refused.
func Normalize(s string) (string, bool) {
	s = strings.Trim(s, " \t")
	if len(s) == length+1 && (s[length/2] == '-' || s[length/2] == ' ') {
		s = s[:length/2] + s[length/2+1:]
	}
	if len(s) != length {
		return "", false
	}
	var out [length]byte
	for i := 0; i < length; i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A' // ASCII only: strings.ToLower would fold e.g. the Kelvin sign into 'k'
		}
		if strings.IndexByte(alphabet, c) < 0 {
			return "", false
		}
		out[i] = c
	}
	return string(out[:]), true
}

// Hash is the stored form of a normalized code: HMAC-SHA256 under a key derived from the gateway's secret
// key, so a copy of the store alone cannot be brute-forced offline.
func Hash(key []byte, normalized string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(normalized))
	return m.Sum(nil)
}
