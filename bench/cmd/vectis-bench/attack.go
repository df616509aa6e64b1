package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// attackResult is what the attack subcommand prints (JSON) when it ends.
type attackResult struct {
	Workers  int              `json:"workers"`
	Attempts int64            `json:"attempts"`
	Statuses map[string]int64 `json:"statuses"`
	Errors   int64            `json:"errors"`
	Seconds  float64          `json:"seconds"`
	Sources  int64            `json:"source_addresses"`
}

// attemptsPerSource stays under the gateway's per-address failure throttle (100 in the lockout window), so
// every attempt reaches the password hash: the worst case for the gateway, as from a botnet with many
// addresses. Each attempt names a new unknown email, so the per-account throttle never engages either;
// an unknown email costs the same hash as a known one (the gateway burns one on purpose).
const attemptsPerSource = 50

// maxAttempts bounds the attack by count as well as by time.
const maxAttempts = 2_000_000

// attackMain runs `workers` concurrent wrong-password sign-ins against base for d, each worker from its own
// loopback source address (127.10.x.y), fetching the login form's csrf token like a browser would.
func attackMain(args []string) int {
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	base := fs.String("url", "", "gateway base URL (loopback)")
	workers := fs.Int("workers", 200, "concurrent sign-ins")
	d := fs.Duration("duration", 10*time.Second, "how long to attack")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	u, err := url.Parse(*base)
	if err != nil || u.Hostname() != "127.0.0.1" {
		fmt.Fprintln(os.Stderr, "attack: -url must be a loopback http://127.0.0.1:PORT URL")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *d)
	defer cancel()
	res := attack(ctx, *base, *workers)
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

func attack(ctx context.Context, base string, workers int) attackResult {
	var (
		attempts, errs, sources atomic.Int64
		mu                      sync.Mutex
		statuses                = map[string]int64{}
	)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && attempts.Load() < maxAttempts {
				k := sources.Add(1)
				// 127.10.0.0/16 holds 65,536 source addresses, far more than a run uses.
				src := net.IPv4(127, 10, byte(k>>8), byte(k))
				c := attackClient(src)
				tok, err := loginCSRF(ctx, c, base)
				if err != nil {
					errs.Add(1)
					if sleepCtx(ctx, 100*time.Millisecond) != nil {
						return
					}
					continue
				}
				for i := 0; i < attemptsPerSource && ctx.Err() == nil; i++ {
					st, err := wrongPassword(ctx, c, base, tok)
					if ctx.Err() != nil {
						return // cut off by the end of the attack: neither an attempt nor an error
					}
					attempts.Add(1)
					if err != nil {
						errs.Add(1)
						continue
					}
					mu.Lock()
					statuses[strconv.Itoa(st)]++
					mu.Unlock()
				}
				c.CloseIdleConnections()
			}
		}()
	}
	wg.Wait()
	return attackResult{Workers: workers, Attempts: attempts.Load(), Statuses: statuses, Errors: errs.Load(),
		Seconds: time.Since(start).Seconds(), Sources: sources.Load()}
}

func attackClient(src net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 5 * time.Second}
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1},
		Jar:       jar,
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// loginCSRF fetches the login page (which sets the pre-login csrf cookie in the jar) and returns its token.
func loginCSRF(ctx context.Context, c *http.Client, base string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.vectis/login", nil)
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("login page (status %d) has no csrf field", res.StatusCode)
	}
	return htmlUnescape(string(m[1])), nil
}

func wrongPassword(ctx context.Context, c *http.Client, base, tok string) (int, error) {
	r := make([]byte, 8)
	_, _ = rand.Read(r)
	form := url.Values{
		"email":    {"nobody-" + hex.EncodeToString(r) + "@attack.example"},
		"password": {"wrong-" + hex.EncodeToString(r)},
		"csrf":     {tok},
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/.vectis/login", stringsReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}
