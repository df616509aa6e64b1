// Package totp implements RFC 6238 time-based one-time codes with an injected clock.
package totp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
)

// The parameters every authenticator app supports; changing any of them breaks enrolled operators.
const (
	// Period is the length of one time step in seconds.
	Period = 30
	// Digits is the length of a code.
	Digits = 6
	// SecretSize is the secret length in bytes: 160 bits, the RFC 4226 recommendation and the HMAC-SHA1 block
	// output size.
	SecretSize = 20
)

// b32 is the secret's text form: RFC 4648 base32, upper case, no padding (what otpauth URIs and apps expect).
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret reads SecretSize bytes from r (crypto/rand.Reader in production).
func NewSecret(r io.Reader) ([]byte, error) {
	s := make([]byte, SecretSize)
	if _, err := io.ReadFull(r, s); err != nil {
		return nil, fmt.Errorf("reading TOTP secret: %w", err)
	}
	return s, nil
}

// EncodeSecret returns the base32 form of secret (upper case, no padding).
func EncodeSecret(secret []byte) string { return b32.EncodeToString(secret) }

// ManualKey returns the encoded secret in groups of four separated by spaces, for typing into an app by hand.
func ManualKey(secret []byte) string {
	enc := EncodeSecret(secret)
	var b strings.Builder
	for i := 0; i < len(enc); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(enc[i:min(i+4, len(enc))])
	}
	return b.String()
}

// URI returns the otpauth key URI that authenticator apps scan:
// otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER&algorithm=SHA1&digits=6&period=30.
func URI(issuer, account string, secret []byte) string {
	return "otpauth://totp/" + labelEscape(issuer) + ":" + labelEscape(account) +
		"?secret=" + EncodeSecret(secret) +
		"&issuer=" + paramEscape(issuer) +
		"&algorithm=SHA1&digits=" + fmt.Sprint(Digits) + "&period=" + fmt.Sprint(Period)
}

// labelEscape path-escapes one half of the label. A colon inside either half would move the issuer/account
// split, so it is escaped too (url.PathEscape leaves ':' alone).
func labelEscape(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
}

// paramEscape query-escapes a parameter value. Spaces become %20 rather than '+': both are valid in a query,
// but some authenticator apps show a '+' literally, and a literal '+' is already escaped as %2B.
func paramEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// quietZone is the white border, in modules, that the QR specification requires around the symbol; without it
// scanners (zbar, phone cameras) often fail to find the finder patterns.
const quietZone = 4

// minModule is the smallest module size in pixels: at one or two pixels per module zbar (and phone cameras
// filming a screen) miss codes that decode fine at four.
const minModule = 4

// QRPNG renders uri as a black-on-white QR code PNG size pixels square, or larger when size is too small to
// give every module minModule pixels plus the quiet zone. Modules are whole pixels so the code stays sharp.
func QRPNG(uri string, size int) ([]byte, error) {
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("encoding QR code: %w", err)
	}
	modules := code.Bounds().Dx()
	total := modules + 2*quietZone
	scale := max(minModule, size/total)
	side := max(size, total*scale)
	offset := (side - modules*scale) / 2

	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	// Index 0 (white) is the zero value, so only dark modules need drawing.
	for y := range modules {
		for x := range modules {
			if r, _, _, _ := code.At(x, y).RGBA(); r >= 0x8000 {
				continue // light module
			}
			for dy := range scale {
				row := (offset+y*scale+dy)*img.Stride + offset + x*scale
				for dx := range scale {
					img.Pix[row+dx] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encoding QR PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// StepAt returns the RFC 6238 time step containing t.
func StepAt(t time.Time) int64 {
	u := t.Unix()
	step := u / Period
	if u < 0 && u%Period != 0 {
		step-- // floor, not truncation toward zero (only matters before 1970, but keeps steps contiguous)
	}
	return step
}

// CodeAt returns the Digits-long code for secret at time step.
func CodeAt(secret []byte, step int64) string { return hotp(secret, uint64(step), Digits) }

// hotp is RFC 4226: HMAC-SHA1 over the big-endian counter, dynamic truncation, decimal digits.
func hotp(secret []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	value := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, value%mod)
}

// NormalizeCode accepts what people type or paste: surrounding ASCII spaces and tabs, and one space or hyphen
// in the middle ("123 456", "123-456", the way apps display codes). Anything else must be exactly Digits ASCII
// digits: Unicode and fullwidth digits, signs and other separators are refused rather than folded, so only
// one spelling of a code ever reaches the comparison.
func NormalizeCode(s string) (string, bool) {
	s = strings.Trim(s, " \t")
	if len(s) == Digits+1 && (s[Digits/2] == ' ' || s[Digits/2] == '-') {
		s = s[:Digits/2] + s[Digits/2+1:]
	}
	if len(s) != Digits {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}

// Verify checks code against the steps just before, at and just after now (±30 s of clock skew). All three
// are computed and compared in constant time, with no early exit, so timing does not tell which step (if
// any) matched. It returns the highest matching step; the caller must record it as used (replay protection)
// before treating the code as accepted.
func Verify(secret []byte, code string, now time.Time) (step int64, ok bool) {
	code, valid := NormalizeCode(code)
	if !valid || len(secret) == 0 {
		return 0, false
	}
	cur := StepAt(now)
	var best int64
	var found int
	for s := cur - 1; s <= cur+1; s++ {
		eq := subtle.ConstantTimeCompare([]byte(CodeAt(secret, s)), []byte(code))
		// Steps ascend, so a later match replaces an earlier one; the mask keeps the update branch-free.
		mask := -int64(eq)
		best = best&^mask | s&mask
		found |= eq
	}
	if found == 0 {
		return 0, false
	}
	return best, true
}
