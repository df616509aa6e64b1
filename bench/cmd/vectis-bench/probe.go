package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// probeResult is a fixed-rate latency measurement. Latencies are in milliseconds.
type probeResult struct {
	Rate     int     `json:"rate"`
	Sent     int     `json:"sent"`
	OK       int     `json:"ok"`
	Failed   int     `json:"failed"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	P999     float64 `json:"p99_9_ms"`
	Max      float64 `json:"max_ms"`
	Duration float64 `json:"seconds"`
}

// probe sends GET url at a fixed rate for d and records each request's latency from the moment it was due
// (not from when it went out), so a stall in the server shows in the figures rather than silently lowering
// the rate (coordinated omission). Unlike wrk's closed loop, which keeps the machine saturated and so
// measures mostly queueing, this shows what one request costs at a load the machine carries easily.
func probe(ctx context.Context, url string, headers http.Header, rate int, d time.Duration) probeResult {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256, DisableCompression: true, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	// Warm the connection pool so the first requests do not pay for TCP set-up.
	var warm sync.WaitGroup
	for range 8 {
		warm.Add(1)
		go func() {
			defer warm.Done()
			if res, err := c.Do(newGet(ctx, url, headers)); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	warm.Wait()

	n := int(float64(rate) * d.Seconds())
	lat := make([]float64, n)
	okv := make([]bool, n)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	// Bound the requests in flight: a server that stops answering must not make the probe grow without limit.
	sem := make(chan struct{}, 512)
	sent := 0
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			if sleepCtx(ctx, wait) != nil {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		sent++
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := c.Do(newGet(ctx, url, headers))
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				okv[i] = res.StatusCode == http.StatusOK
			}
			lat[i] = float64(time.Since(due)) / float64(time.Millisecond)
		}(i, due)
	}
	wg.Wait()
	r := probeResult{Rate: rate, Sent: sent, Duration: time.Since(start).Seconds()}
	var good []float64
	for i := 0; i < sent; i++ {
		if okv[i] {
			good = append(good, lat[i])
		}
	}
	r.OK, r.Failed = len(good), sent-len(good)
	slices.Sort(good)
	r.P50, r.P90, r.P99, r.P999 = pct(good, 50), pct(good, 90), pct(good, 99), pct(good, 99.9)
	if len(good) > 0 {
		r.Max = good[len(good)-1]
	}
	return r
}

// newGet builds a GET with headers; a Host header becomes the request's Host (Go sends req.Host, not
// Header["Host"]).
func newGet(ctx context.Context, url string, headers http.Header) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header = headers.Clone()
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
		req.Header.Del("Host")
	}
	return req
}

// pct is the nearest-rank percentile of sorted values.
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
