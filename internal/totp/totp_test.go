package totp

import (
	"bytes"
	"errors"
	"image/png"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqhotp "github.com/pquerna/otp/hotp"
)

// rfcSecret is the SHA1 seed of RFC 6238 Appendix B.
var rfcSecret = []byte("12345678901234567890")

// RFC 6238 Appendix B, SHA1 rows. The 6-digit code is the same truncated value mod 10^6, i.e. the last six
// digits of the 8-digit code.
var rfcVectors = []struct {
	unix  int64
	step  int64
	code8 string
}{
	{59, 0x1, "94287082"},
	{1111111109, 0x23523EC, "07081804"},
	{1111111111, 0x23523ED, "14050471"},
	{1234567890, 0x273EF07, "89005924"},
	{2000000000, 0x3F940AA, "69279037"},
	{20000000000, 0x27BC86AA, "65353130"},
}

func TestRFC6238Vectors(t *testing.T) {
	for _, v := range rfcVectors {
		t.Run(strconv.FormatInt(v.unix, 10), func(t *testing.T) {
			now := time.Unix(v.unix, 0)
			if got := StepAt(now); got != v.step {
				t.Fatalf("StepAt = %#x, want %#x", got, v.step)
			}
			if got := hotp(rfcSecret, uint64(v.step), 8); got != v.code8 {
				t.Errorf("8-digit code = %s, want %s", got, v.code8)
			}
			want6 := v.code8[2:]
			if got := CodeAt(rfcSecret, v.step); got != want6 {
				t.Errorf("CodeAt = %s, want %s", got, want6)
			}
			// A second, independent implementation of the same truncation.
			lib, err := pqhotp.GenerateCodeCustom(EncodeSecret(rfcSecret), uint64(v.step),
				pqhotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil || lib != want6 {
				t.Errorf("pquerna hotp = %q, %v; want %s", lib, err, want6)
			}
			if step, ok := Verify(rfcSecret, want6, now); !ok || step != v.step {
				t.Errorf("Verify(%s) = %d, %v; want %d, true", want6, step, ok, v.step)
			}
		})
	}
}

// oathtool is the reference authenticator: if it disagrees with us, phones will too.
func oathtool(t *testing.T, secret []byte, unix int64, digits int) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "--base32", EncodeSecret(secret),
		"--now", "@"+strconv.FormatInt(unix, 10), "-d", strconv.Itoa(digits)).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestRFCVectorsAgainstOathtool(t *testing.T) {
	for _, v := range rfcVectors {
		if got := oathtool(t, rfcSecret, v.unix, 8); got != v.code8 {
			t.Errorf("oathtool -d 8 at %d = %s, want %s", v.unix, got, v.code8)
		}
		if got, want := oathtool(t, rfcSecret, v.unix, 6), CodeAt(rfcSecret, StepAt(time.Unix(v.unix, 0))); got != want {
			t.Errorf("oathtool -d 6 at %d = %s, CodeAt = %s", v.unix, got, want)
		}
	}
}

func TestCodeAtMatchesOathtoolForRandomSecrets(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	times := []int64{0, 29, 30, 1700000000, 1700000029, 1700000030, 4102444800}
	for i := range 4 {
		secret, err := NewSecret(rng)
		if err != nil {
			t.Fatal(err)
		}
		for _, unix := range times {
			want := oathtool(t, secret, unix, 6)
			if got := CodeAt(secret, StepAt(time.Unix(unix, 0))); got != want {
				t.Errorf("secret %d at %d: CodeAt = %s, oathtool = %s", i, unix, got, want)
			}
		}
	}
}

func TestVerifySkew(t *testing.T) {
	secret := []byte("0123456789abcdefghij")
	now := time.Unix(1700000015, 0)
	cur := StepAt(now)
	tests := []struct {
		name   string
		offset int64
		ok     bool
	}{
		{"two steps early", -2, false},
		{"one step early", -1, true},
		{"current", 0, true},
		{"one step late", 1, true},
		{"two steps late", 2, false},
		{"far future", 1000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := CodeAt(secret, cur+tt.offset)
			step, ok := Verify(secret, code, now)
			if ok != tt.ok {
				t.Fatalf("Verify ok = %v, want %v", ok, tt.ok)
			}
			if ok && step != cur+tt.offset {
				t.Errorf("step = %d, want %d", step, cur+tt.offset)
			}
			if !ok && step != 0 {
				t.Errorf("refused code returned step %d", step)
			}
		})
	}
}

func TestVerifyReturnsHighestMatchingStep(t *testing.T) {
	// Steps 37079356 and 37079357 share the code 186519 under the RFC secret (found by search); a code that
	// matches two steps in the window must report the later one, or a replay guard keyed on the step could
	// accept the same code twice.
	const first, second = 37079356, 37079357
	code := CodeAt(rfcSecret, first)
	if CodeAt(rfcSecret, second) != code {
		t.Fatal("fixture broken: the two steps no longer share a code")
	}
	for _, nowStep := range []int64{first, second} {
		step, ok := Verify(rfcSecret, code, time.Unix(nowStep*Period, 0))
		if !ok || step != second {
			t.Errorf("now in step %d: Verify = %d, %v; want %d, true", nowStep, step, ok, second)
		}
	}
	// In the window around first-1 only the earlier step is visible.
	if step, ok := Verify(rfcSecret, code, time.Unix((first-1)*Period, 0)); !ok || step != first {
		t.Errorf("now in step %d: Verify = %d, %v; want %d, true", first-1, step, ok, first)
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"123456", "123456", true},
		{"000000", "000000", true},
		{" 123456 ", "123456", true},
		{"\t123456", "123456", true},
		{"123 456", "123456", true},
		{"123-456", "123456", true},
		{" 123 456 ", "123456", true},
		{"", "", false},
		{"      ", "", false},
		{"12345", "", false},
		{"1234567", "", false},
		{"12345a", "", false},
		{"12 3456", "", false},
		{"12 34 56", "", false},
		{"123  456", "", false},
		{"123--456", "", false},
		{"123_456", "", false},
		{"123.456", "", false},
		{"123\n456", "", false},
		{"123456\n", "", false},
		{"+12345", "", false},
		{"-12345", "", false},
		{"+123456", "", false},
		{"１２３４５６", "", false},       // fullwidth digits
		{"١٢٣٤٥٦", "", false},       // Arabic-Indic digits
		{"१२३४५६", "", false},       // Devanagari digits
		{"12345\u0663", "", false},  // one Arabic-Indic digit
		{"123\u00a0456", "", false}, // no-break space
		{"123\u2011456", "", false}, // non-breaking hyphen
		{"123456\x00", "", false},
		{"0x1234", "", false},
		{"1e5000", "", false},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, ok := NormalizeCode(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("NormalizeCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestVerifyRefusesMalformed(t *testing.T) {
	now := time.Unix(1111111111, 0)
	good := CodeAt(rfcSecret, StepAt(now))
	fullwidth := strings.Map(func(r rune) rune { return r - '0' + '０' }, good)
	tests := []struct {
		name   string
		secret []byte
		code   string
		ok     bool
	}{
		{"correct", rfcSecret, good, true},
		{"correct with middle space", rfcSecret, good[:3] + " " + good[3:], true},
		{"correct with middle hyphen", rfcSecret, good[:3] + "-" + good[3:], true},
		{"fullwidth spelling of the correct code", rfcSecret, fullwidth, false},
		{"signed", rfcSecret, "+" + good, false},
		{"8-digit form", rfcSecret, "14" + good, false},
		{"prefix", rfcSecret, good[:5], false},
		{"empty", rfcSecret, "", false},
		{"empty secret", nil, CodeAt(nil, StepAt(now)), false},
		{"wrong secret", []byte("another secret value"), good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := Verify(tt.secret, tt.code, now); ok != tt.ok {
				t.Errorf("Verify(%q) ok = %v, want %v", tt.code, ok, tt.ok)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	s, err := NewSecret(bytes.NewReader(bytes.Repeat([]byte{0xAB}, 64)))
	if err != nil || len(s) != SecretSize || s[0] != 0xAB {
		t.Fatalf("NewSecret = %x, %v", s, err)
	}
	if _, err := NewSecret(bytes.NewReader(make([]byte, SecretSize-1))); err == nil {
		t.Fatal("NewSecret accepted a short random source")
	}
	failing := errReader{errors.New("entropy gone")}
	if _, err := NewSecret(failing); err == nil || !strings.Contains(err.Error(), "entropy gone") {
		t.Fatalf("NewSecret error = %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestEncodingAndManualKey(t *testing.T) {
	if got, want := EncodeSecret(rfcSecret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; got != want {
		t.Errorf("EncodeSecret = %s, want %s", got, want)
	}
	if got, want := ManualKey(rfcSecret), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"; got != want {
		t.Errorf("ManualKey = %q, want %q", got, want)
	}
	// Lengths that are not a multiple of 5 bytes would pad; the encoding must not.
	if got := EncodeSecret([]byte{1, 2, 3}); strings.Contains(got, "=") {
		t.Errorf("EncodeSecret padded: %s", got)
	}
	if got, want := ManualKey([]byte{0xff, 0xff, 0xff}), "7777 6"; got != want {
		t.Errorf("ManualKey(short) = %q, want %q", got, want)
	}
}

func TestURI(t *testing.T) {
	got := URI("Vectis", "alice@example.com", rfcSecret)
	want := "otpauth://totp/Vectis:alice@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Vectis&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Fatalf("URI =\n%s\nwant\n%s", got, want)
	}

	tests := []struct{ issuer, account string }{
		{"Acme Co", "bob+ops@example.com"},
		{"R&D/Ops?", "x:y@example.com"},
		{"Zoë 100%", "a#b@example.com"},
	}
	for _, tt := range tests {
		uri := URI(tt.issuer, tt.account, rfcSecret)
		if strings.ContainsAny(uri, " #") || strings.Count(uri, "?") != 1 || strings.Count(uri, ":") != 2 {
			t.Errorf("URI(%q, %q) = %s: unescaped delimiter", tt.issuer, tt.account, uri)
		}
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatalf("url.Parse(%s): %v", uri, err)
		}
		label := strings.TrimPrefix(u.Path, "/")
		iss, acct, _ := strings.Cut(u.EscapedPath()[1:], ":")
		iss, _ = url.PathUnescape(iss)
		acct, _ = url.PathUnescape(acct)
		if u.Scheme != "otpauth" || u.Host != "totp" || iss != tt.issuer || acct != tt.account {
			t.Errorf("URI(%q, %q): scheme %q host %q label %q split to %q / %q", tt.issuer, tt.account, u.Scheme, u.Host, label, iss, acct)
		}
		q := u.Query()
		if q.Get("issuer") != tt.issuer || q.Get("secret") != EncodeSecret(rfcSecret) ||
			q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
			t.Errorf("URI(%q, %q) query = %v", tt.issuer, tt.account, q)
		}
		// The key URI must also parse in the library apps commonly share code with.
		key, err := otp.NewKeyFromURL(uri)
		if err != nil || key.Issuer() != tt.issuer || key.AccountName() != tt.account || key.Secret() != EncodeSecret(rfcSecret) {
			t.Errorf("otp.NewKeyFromURL: issuer %q account %q err %v", key.Issuer(), key.AccountName(), err)
		}
	}
}

func TestQRPNGDecodesWithZbar(t *testing.T) {
	uris := []string{
		URI("Vectis", "alice@example.com", rfcSecret),
		URI("Acme Co", "very.long.operator.name+tag@subdomain.example-msp.com", bytes.Repeat([]byte{0x5a}, SecretSize)),
	}
	for i, uri := range uris {
		for _, size := range []int{0, 256} {
			data, err := QRPNG(uri, size)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("png.Decode: %v", err)
			}
			if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() < size {
				t.Errorf("size %d: image is %v", size, b)
			}
			// The corner pixel lies in the quiet zone and must be white.
			if r, _, _, _ := img.At(0, 0).RGBA(); r != 0xffff {
				t.Errorf("size %d: corner pixel is not white", size)
			}
			path := filepath.Join(t.TempDir(), "qr"+strconv.Itoa(i)+".png")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", path).Output()
			if err != nil {
				t.Fatalf("zbarimg (size %d): %v", size, err)
			}
			if got := strings.TrimRight(string(out), "\n"); got != uri {
				t.Errorf("zbarimg decoded\n%q\nwant\n%q", got, uri)
			}
		}
	}
}
