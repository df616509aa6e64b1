// Command vectis-bench is the side-by-side performance bench of issue 7; bench/run builds it and its
// subjects and runs it. In front of one fixed upstream on loopback it starts bare Caddy, the gateway on
// bolt and on Redis, oauth2-proxy, and Caddy forward_auth to oauth2-proxy, signs in to each the way a
// person does, and measures them with wrk in alternating rounds; then the gateway under a wrong-password
// attack, and the gateway with 100,000 operators and 50,000 sessions stored. It prints markdown tables and
// writes everything it measured to a JSON file.
//
// Subcommands used by the bench itself: `upstream` (the fixed upstream server) and `attack` (concurrent
// wrong-password sign-ins, in its own process so its CPU is not the probe's).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "upstream":
			os.Exit(upstreamMain(os.Args[2:]))
		case "attack":
			os.Exit(attackMain(os.Args[2:]))
		case "burn":
			os.Exit(burnMain(os.Args[2:]))
		}
	}
	os.Exit(runMain(os.Args[1:]))
}

// options are the bench's flags.
type options struct {
	Duration      time.Duration `json:"duration"`
	ProbeDuration time.Duration `json:"probe_duration"`
	// AttackProbeDuration is the probe length in the login-under-attack measurement: at its low rate, a
	// longer probe gives its p99 enough samples (1,000 a round at 100 req/s and 10 s).
	AttackProbeDuration time.Duration `json:"attack_probe_duration"`
	Warmup              time.Duration `json:"warmup"`
	Rounds              int           `json:"rounds"`
	Connections         int           `json:"connections"`
	Threads             int           `json:"threads"`
	Rate                int           `json:"probe_rate"`
	AttackRate          int           `json:"attack_probe_rate"`
	Attackers           int           `json:"attackers"`
	Operators           int           `json:"operators"`
	Sessions            int           `json:"sessions"`
	Quick               bool          `json:"quick"`
	Profile             bool          `json:"profile"`
	Only                string        `json:"only,omitempty"`

	gatewayBin, oauth2ProxyBin, wrkBin, redisBin, out string
	keep                                              bool
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("vectis-bench", flag.ContinueOnError)
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "wrk run length, per scenario per round")
	fs.DurationVar(&o.ProbeDuration, "probe-duration", 3*time.Second, "fixed-rate latency probe length, per scenario per round")
	fs.DurationVar(&o.AttackProbeDuration, "attack-probe-duration", 10*time.Second, "probe length in the login-under-attack measurement (idle, floor and attack), per round")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unrecorded wrk run per scenario before the first round")
	fs.IntVar(&o.Rounds, "rounds", 4, "rounds; each runs every scenario once, the order reversed every other round")
	fs.IntVar(&o.Connections, "connections", 64, "wrk connections")
	fs.IntVar(&o.Threads, "threads", 2, "wrk threads")
	fs.IntVar(&o.Rate, "rate", 1000, "fixed-rate probe: requests per second")
	fs.IntVar(&o.AttackRate, "attack-rate", 100, "fixed-rate probe during the attack (and its idle twin): requests per second")
	fs.IntVar(&o.Attackers, "attackers", 200, "concurrent wrong-password sign-ins in the attack")
	fs.IntVar(&o.Operators, "operators", 100_000, "operators preloaded into each large store")
	fs.IntVar(&o.Sessions, "sessions", 50_000, "live sessions preloaded into each large store")
	fs.BoolVar(&o.Quick, "quick", false, "smoke run of about two minutes: 3-s runs, one round, a 10,000-operator large store")
	fs.BoolVar(&o.Profile, "profile", true, "CPU-profile bare Caddy and the gateway (bolt) during an extra scenario-1 and scenario-2 run each")
	fs.StringVar(&o.Only, "only", "", "comma-separated subset of scenario ids (1,1H,2,3,4,5,6,2L,3L,1R,2R,3R,attack); default all")
	fs.StringVar(&o.gatewayBin, "gateway", "bin/vectis-gateway", "gateway binary (Caddy with vectis_mfa); also serves bare Caddy and forward_auth")
	fs.StringVar(&o.oauth2ProxyBin, "oauth2-proxy", "bin/bench/oauth2-proxy", "oauth2-proxy binary")
	fs.StringVar(&o.wrkBin, "wrk", "wrk", "wrk binary")
	fs.StringVar(&o.redisBin, "redis-server", "redis-server", "redis-server binary")
	fs.StringVar(&o.out, "out", "bench/results", "directory for the JSON results and profiles")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (configs, logs, stores) after the run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.Quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]func(){
			"duration":              func() { o.Duration = 3 * time.Second },
			"probe-duration":        func() { o.ProbeDuration = 2 * time.Second },
			"attack-probe-duration": func() { o.AttackProbeDuration = 3 * time.Second },
			"warmup":                func() { o.Warmup = time.Second },
			"rounds":                func() { o.Rounds = 1 },
			"operators":             func() { o.Operators = 10_000 },
			"sessions":              func() { o.Sessions = 5_000 },
		}
		for name, apply := range quick {
			if !set[name] { // an explicit flag wins over --quick
				apply()
			}
		}
	}
	switch {
	case o.Duration < time.Second || o.ProbeDuration < time.Second || o.AttackProbeDuration < time.Second:
		return o, errors.New("-duration, -probe-duration and -attack-probe-duration must be at least 1s (wrk counts whole seconds)")
	case o.Rounds < 1 || o.Connections < 1 || o.Threads < 1 || o.Rate < 1 || o.AttackRate < 1 || o.Attackers < 1:
		return o, errors.New("-rounds, -connections, -threads, -rate, -attack-rate and -attackers must be positive")
	case o.Connections < o.Threads:
		return o, errors.New("wrk needs at least as many connections as threads")
	case o.Sessions > o.Operators || o.Sessions < 1:
		return o, errors.New("-sessions must be between 1 and -operators (one session per preloaded operator)")
	}
	for _, p := range []*string{&o.wrkBin, &o.redisBin} {
		path, err := exec.LookPath(*p)
		if err != nil {
			return o, fmt.Errorf("%s is not installed (Debian packages wrk and redis-server)", *p)
		}
		*p = path
	}
	for _, p := range []*string{&o.gatewayBin, &o.oauth2ProxyBin} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return o, err
		}
		if _, err := os.Stat(abs); err != nil {
			return o, fmt.Errorf("%s not found (bench/run builds it)", *p)
		}
		*p = abs
	}
	return o, nil
}

func runMain(args []string) int {
	o, err := parseOptions(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "vectis-bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{o: o, started: time.Now()}
	report, err := b.run(ctx)
	// The working directory (configs, logs) is kept when anything went wrong, for a look at the logs.
	b.teardown(err == nil && len(report.Problems) == 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vectis-bench:", err)
		return 1
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "vectis-bench:", err)
		return 1
	}
	stamp := b.started.UTC().Format("20060102T150405Z")
	path := filepath.Join(o.out, stamp+".json")
	for _, pr := range report.Profiles {
		for _, f := range []struct{ name, data string }{{".cpu.pprof", pr.raw}, {".cpu.top.txt", pr.Top}} {
			p := filepath.Join(o.out, stamp+".s"+pr.Scenario+f.name)
			if err := os.WriteFile(p, []byte(f.data), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "vectis-bench:", err)
				return 1
			}
			pr.Files = append(pr.Files, p)
		}
	}
	data, _ := json.MarshalIndent(report, "", "  ")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "vectis-bench:", err)
		return 1
	}
	fmt.Print(report.markdown())
	fmt.Printf("\nJSON: %s\n", path)
	if len(report.Problems) > 0 {
		fmt.Fprintf(os.Stderr, "\nvectis-bench: %d measurement problem(s); the figures above are not trustworthy:\n  %s\n",
			len(report.Problems), strings.Join(report.Problems, "\n  "))
		return 1
	}
	return 0
}
