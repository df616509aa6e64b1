package main

import (
	"math"
	"testing"
)

// A wrk 4.1 report as it prints it (from a run against the bench upstream), plus the two lines it adds
// only when something went wrong.
const wrkSample = `Running 1s test @ http://127.0.0.1:18777/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.94ms    2.90ms  29.08ms   93.76%
    Req/Sec    10.20k     3.85k   13.52k    70.00%
  Latency Distribution
     50%  133.00us
     75%  227.00us
     90%    2.04ms
     99%    1.02s
  10236 requests in 1.01s, 2.39MB read
  Socket errors: connect 1, read 2, write 0, timeout 4
  Non-2xx or 3xx responses: 17
Requests/sec:  10154.29
Transfer/sec:      2.37MB
`

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkSample)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 10236, Seconds: 1.01, RPS: 10154.29, P50: 0.133, P75: 0.227, P90: 2.04, P99: 1020,
		Non2xx3xx: 17, SocketErrors: 7}
	if r.Requests != want.Requests || !near(r.Seconds, want.Seconds) || !near(r.RPS, want.RPS) ||
		!near(r.P50, want.P50) || !near(r.P75, want.P75) || !near(r.P90, want.P90) || !near(r.P99, want.P99) ||
		r.Non2xx3xx != want.Non2xx3xx || r.SocketErrors != want.SocketErrors {
		t.Fatalf("parseWrk:\n got %+v\nwant %+v", r, want)
	}
}

func TestParseWrkRefusesReportWithoutLatency(t *testing.T) {
	// Without --latency wrk prints no distribution: the run cannot give p50/p99, so it must not pass as one.
	noLatency := "  10 requests in 1.00s, 1.00KB read\nRequests/sec:     10.00\n"
	if _, err := parseWrk(noLatency); err == nil {
		t.Fatal("parseWrk accepted a report without the latency distribution")
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name may hold spaces and parentheses; fields are counted from the last ')'.
	line := []byte("18469 (a) b (c) R 18444 18444 8837 0 -1 4194304 98 0 0 0 250 150 0 0 20 0 1 0 376875 3133440 360\n")
	got, err := parseStatCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 400 / clockTicks; !near(got, want) {
		t.Fatalf("parseStatCPU = %v, want %v", got, want)
	}
	if _, err := parseStatCPU([]byte("18469 (x) R 1 2")); err == nil {
		t.Fatal("parseStatCPU accepted a short line")
	}
}

func TestParseVmHWM(t *testing.T) {
	got, err := parseVmHWM([]byte("Name:\tcaddy\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n"))
	if err != nil || !near(got, 2) {
		t.Fatalf("parseVmHWM = %v, %v; want 2 MiB", got, err)
	}
	if _, err := parseVmHWM([]byte("Name:\tcaddy\n")); err == nil {
		t.Fatal("parseVmHWM found a VmHWM that is not there")
	}
}

func TestPct(t *testing.T) {
	v := make([]float64, 1000)
	for i := range v {
		v[i] = float64(i + 1)
	}
	for _, c := range []struct{ p, want float64 }{{50, 500}, {99, 990}, {99.9, 999}, {100, 1000}} {
		if got := pct(v, c.p); got != c.want {
			t.Errorf("pct(1..1000, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := pct(nil, 99); got != 0 {
		t.Errorf("pct(empty) = %v, want 0", got)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{7: "7", 1000: "1,000", 50000: "50,000", 100000: "100,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseProcStatBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice: idle and iowait are not busy.
	got, err := parseProcStatBusy([]byte("cpu  100 20 30 5000 400 5 6 7 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := 168 / clockTicks; !near(got, want) {
		t.Fatalf("parseProcStatBusy = %v, want %v", got, want)
	}
	if _, err := parseProcStatBusy([]byte("intr 1 2 3\n")); err == nil {
		t.Fatal("parseProcStatBusy accepted a file without the cpu line")
	}
}

func TestParseStoreCalls(t *testing.T) {
	m := `# HELP vectis_store_call_duration_seconds Latency of calls to the store.
# TYPE vectis_store_call_duration_seconds histogram
vectis_store_call_duration_seconds_bucket{backend="bolt",op="get_session",le="0.0002"} 10
vectis_store_call_duration_seconds_sum{backend="bolt",op="get_session"} 0.01
vectis_store_call_duration_seconds_count{backend="bolt",op="get_session"} 42
vectis_store_call_duration_seconds_count{backend="bolt",op="update_session"} 3
vectis_store_calls_other{op="get_session"} 999
`
	got := parseStoreCalls(m)
	if len(got) != 2 || got["get_session"] != 42 || got["update_session"] != 3 {
		t.Fatalf("parseStoreCalls = %v, want get_session 42 and update_session 3", got)
	}
}
