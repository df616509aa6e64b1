package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run reports. Latencies are in milliseconds.
type wrkResult struct {
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	RPS          float64 `json:"rps"`
	P50          float64 `json:"p50_ms"`
	P75          float64 `json:"p75_ms"`
	P90          float64 `json:"p90_ms"`
	P99          float64 `json:"p99_ms"`
	Non2xx3xx    int64   `json:"non_2xx_3xx"`
	SocketErrors int64   `json:"socket_errors"`
	// CPUSeconds is wrk's own CPU time (user+system): on a small machine it competes with what it measures.
	CPUSeconds float64 `json:"wrk_cpu_seconds"`
}

// wrkLoad is one wrk invocation.
type wrkLoad struct {
	url         string
	headers     []string // "Name: value"
	script      string   // Lua script path, or ""
	scriptArgs  []string
	threads     int
	connections int
	duration    time.Duration
}

func runWrk(ctx context.Context, bin string, l wrkLoad) (wrkResult, error) {
	args := []string{"-t", strconv.Itoa(l.threads), "-c", strconv.Itoa(l.connections),
		"-d", fmt.Sprintf("%ds", int(l.duration.Round(time.Second)/time.Second)), "--latency", "--timeout", "5s"}
	for _, h := range l.headers {
		args = append(args, "-H", h)
	}
	if l.script != "" {
		args = append(args, "-s", l.script)
	}
	args = append(args, l.url)
	if len(l.scriptArgs) > 0 {
		args = append(append(args, "--"), l.scriptArgs...)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s%s", err, out.String(), errb.String())
	}
	r, err := parseWrk(out.String())
	if err != nil {
		return r, fmt.Errorf("%w\n%s", err, out.String())
	}
	r.CPUSeconds = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return r, nil
}

var (
	wrkTotalRE   = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),`)
	wrkRPSRE     = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)`)
	wrkPctRE     = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$`)
	wrkNon2xxRE  = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	wrkSocketsRE = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk 4's text report (with --latency).
func parseWrk(s string) (wrkResult, error) {
	var r wrkResult
	m := wrkTotalRE.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("wrk output has no request total")
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	secs, err := toMillis(m[2], m[3])
	if err != nil {
		return r, err
	}
	r.Seconds = secs / 1000
	m = wrkRPSRE.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("wrk output has no Requests/sec")
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	pcts := wrkPctRE.FindAllStringSubmatch(s, -1)
	if len(pcts) != 4 {
		return r, fmt.Errorf("wrk output has %d latency percentiles, want 4 (was --latency given?)", len(pcts))
	}
	for _, p := range pcts {
		v, err := toMillis(p[2], p[3])
		if err != nil {
			return r, err
		}
		switch p[1] {
		case "50":
			r.P50 = v
		case "75":
			r.P75 = v
		case "90":
			r.P90 = v
		case "99":
			r.P99 = v
		}
	}
	if m := wrkNon2xxRE.FindStringSubmatch(s); m != nil {
		r.Non2xx3xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSocketsRE.FindStringSubmatch(s); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			r.SocketErrors += n
		}
	}
	return r, nil
}

// toMillis converts a wrk duration ("812.00us", "1.20ms", "2.01s", "1.00m") to milliseconds.
func toMillis(num, unit string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return 0, fmt.Errorf("wrk duration %q: %v", num+unit, err)
	}
	switch unit {
	case "us":
		return v / 1000, nil
	case "ms":
		return v, nil
	case "s":
		return v * 1000, nil
	case "m":
		return v * 60_000, nil
	case "h":
		return v * 3_600_000, nil
	}
	return 0, fmt.Errorf("wrk duration unit %q", unit)
}

// rotateScript makes each wrk request carry the next cookie of a file (one Cookie header value a line), so
// consecutive requests belong to different sessions. Each wrk thread starts at its own offset.
const rotateScript = `-- vectis-bench: one session cookie per request, rotating over the file given after --.
local n = 0
function setup(thread)
  thread:set("offset", n * 7919)
  n = n + 1
end
local cookies, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do cookies[#cookies + 1] = line end
  i = (offset or 0) % #cookies
end
function request()
  i = i % #cookies + 1
  return wrk.format(nil, nil, { ["Cookie"] = cookies[i] })
end
`
