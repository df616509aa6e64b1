package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// wrkRun is one wrk run of one scenario, with the CPU time spent meanwhile.
type wrkRun struct {
	Round int `json:"round"`
	wrkResult
	// CPUSeconds is the scenario's own processes (front end and store), from /proc/<pid>/stat.
	CPUSeconds float64 `json:"cpu_seconds"`
	// UpstreamCPUSeconds is the fixed upstream's (the same work in every scenario).
	UpstreamCPUSeconds float64 `json:"upstream_cpu_seconds"`
	// UpstreamRequests and UpstreamIdentified are what the upstream counted during the run.
	UpstreamRequests   int64 `json:"upstream_requests"`
	UpstreamIdentified int64 `json:"upstream_identified"`
	// ForeignCores is the CPU the rest of the machine used during the run, in cores (of the machine's).
	ForeignCores float64 `json:"foreign_cores"`
}

// scenario aggregates a scenario's runs over the rounds.
type scenario struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Processes []string `json:"processes"`
	Baseline  string   `json:"baseline,omitempty"`
	Runs      []wrkRun `json:"runs"`
	// RPS is all requests over all run time; P50 and P99 the mean of the runs' values.
	RPS float64 `json:"rps"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	// CPUPer10k is the scenario's processes' CPU seconds per 10,000 requests; OtherCPUPer10k is wrk's and
	// the upstream's, which share the same cores.
	CPUPer10k float64 `json:"cpu_seconds_per_10k"`
	// ForeignCores is the mean, over the runs, of the CPU other processes took meanwhile.
	ForeignCores   float64 `json:"foreign_cores"`
	OtherCPUPer10k float64 `json:"wrk_and_upstream_cpu_seconds_per_10k"`
	// PeakRSSMiB is the sum of the processes' VmHWM at the end of the run; FrontEndRSSMiB the first
	// process's alone (the gateway, Caddy or oauth2-proxy, without its store).
	PeakRSSMiB     float64            `json:"peak_rss_mib"`
	FrontEndRSSMiB float64            `json:"front_end_peak_rss_mib"`
	PeakRSSByProc  map[string]float64 `json:"peak_rss_mib_by_process,omitempty"`
	RPSRatio       float64            `json:"rps_ratio,omitempty"`
	// RoundRatios are the throughput ratios within each round (this run and its baseline's, minutes apart
	// at most): their spread shows how much the machine drifted.
	RoundRatios []float64 `json:"rps_ratio_by_round,omitempty"`
	CPURatio    float64   `json:"cpu_ratio,omitempty"`
	P99AddedMs  float64   `json:"p99_added_ms,omitempty"`

	// StoreCallsPerRequest is, by operation, how many store calls the gateway made per measured request
	// (from its own metrics; the session cache keeps this far below one).
	StoreCallsPerRequest map[string]float64 `json:"store_calls_per_request,omitempty"`

	Probes []probeRound `json:"probes,omitempty"`
	// ProbeP50 and ProbeP99 are the means over the rounds of the fixed-rate probe.
	ProbeP50        float64 `json:"probe_p50_ms,omitempty"`
	ProbeP99        float64 `json:"probe_p99_ms,omitempty"`
	ProbeP99AddedMs float64 `json:"probe_p99_added_ms,omitempty"`
}

type probeRound struct {
	Round int `json:"round"`
	probeResult
}

type attackRound struct {
	Round int `json:"round"`
	attackResult
	AttackerCPUSeconds      float64 `json:"attacker_cpu_seconds"`
	GatewayPeakRSSBeforeMiB float64 `json:"gateway_peak_rss_before_mib"`
	GatewayPeakRSSAfterMiB  float64 `json:"gateway_peak_rss_after_mib"`
}

type profileResult struct {
	Scenario string   `json:"scenario"`
	Process  string   `json:"process"`
	Seconds  int      `json:"seconds"`
	Top      string   `json:"top"`
	Files    []string `json:"files,omitempty"`
	raw      string
}

type machine struct {
	CPUs         int               `json:"cpus"`
	CPUModel     string            `json:"cpu_model"`
	MemTotalMiB  int               `json:"mem_total_mib"`
	Kernel       string            `json:"kernel"`
	LoadAvgStart string            `json:"loadavg_start"`
	LoadAvgEnd   string            `json:"loadavg_end"`
	Versions     map[string]string `json:"versions"`
}

type verdict struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Goal  string  `json:"goal"`
	Met   bool    `json:"met"`
	// Info marks a figure shown for context that the run cannot judge (see Note).
	Info bool   `json:"info,omitempty"`
	Note string `json:"note,omitempty"`
}

type report struct {
	Started   time.Time            `json:"started"`
	Seconds   float64              `json:"seconds"`
	Command   string               `json:"command"`
	Options   options              `json:"options"`
	Machine   machine              `json:"machine"`
	Scenarios []*scenario          `json:"scenarios"`
	byKey     map[string]*scenario `json:"-"`
	Attack    []attackRound        `json:"attack,omitempty"`
	Scale     struct {
		BoltPreloadSeconds  float64 `json:"bolt_preload_seconds,omitempty"`
		RedisPreloadSeconds float64 `json:"redis_preload_seconds,omitempty"`
		BoltFileMiB         float64 `json:"bolt_file_mib,omitempty"`
	} `json:"scale"`
	Targets  []verdict        `json:"targets"`
	Profiles []*profileResult `json:"profiles,omitempty"`
	Problems []string         `json:"problems,omitempty"`
}

func newReport(o options) *report {
	r := &report{Started: time.Now().UTC(), Options: o, byKey: map[string]*scenario{},
		Command: "bench/run " + strings.Join(os.Args[1:], " ")}
	r.Command = strings.TrimSpace(r.Command)
	r.Machine = machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), MemTotalMiB: memTotalMiB(),
		Kernel: readTrim("/proc/sys/kernel/osrelease"), LoadAvgStart: loadAvg()}
	return r
}

func (r *report) scenario(key string, t *target) *scenario {
	s := r.byKey[key]
	if s == nil {
		s = &scenario{ID: key, Name: t.name, Baseline: t.base}
		for _, p := range t.procs {
			s.Processes = append(s.Processes, p.name)
		}
		if strings.Contains(key, "/") {
			s.Baseline = ""
		}
		r.byKey[key] = s
		r.Scenarios = append(r.Scenarios, s)
	}
	return s
}

// addWrk records a run and checks that it measured what it claims: no error answers, and (for the
// signed-in scenarios) every request counted at the upstream with an identity.
func (r *report) addWrk(key string, t *target, run wrkRun, connections int) {
	s := r.scenario(key, t)
	s.Runs = append(s.Runs, run)
	bad := func(format string, args ...any) {
		r.Problems = append(r.Problems, fmt.Sprintf("scenario %s round %d: ", key, run.Round)+fmt.Sprintf(format, args...))
	}
	if run.Non2xx3xx > 0 {
		bad("%d responses were not 2xx/3xx", run.Non2xx3xx)
	}
	if run.SocketErrors > 0 {
		bad("%d socket errors", run.SocketErrors)
	}
	// wrk counts completed responses; the upstream may also have seen the requests in flight at the end.
	if d := run.UpstreamRequests - run.Requests; d < 0 || d > int64(2*connections) {
		bad("wrk counted %d responses but the upstream %d requests", run.Requests, run.UpstreamRequests)
	}
	if t.auth && run.UpstreamIdentified != run.UpstreamRequests {
		bad("%d of %d requests reached the upstream without identity headers", run.UpstreamRequests-run.UpstreamIdentified, run.UpstreamRequests)
	}
}

func (r *report) addProbe(key string, t *target, round int, p probeResult) {
	s := r.scenario(key, t)
	s.Probes = append(s.Probes, probeRound{Round: round, probeResult: p})
	if p.Failed > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("scenario %s round %d probe: %d of %d requests failed", key, round, p.Failed, p.Sent))
	}
}

func (r *report) addAttack(a attackRound) { r.Attack = append(r.Attack, a) }

func (r *report) setRSS(id string, per map[string]float64, frontEnd string) {
	s := r.byKey[id]
	if s == nil {
		return
	}
	s.PeakRSSByProc = per
	s.PeakRSSMiB = 0
	for _, v := range per {
		s.PeakRSSMiB += v
	}
	s.FrontEndRSSMiB = per[frontEnd]
}

// finish aggregates the rounds, computes the ratios, and judges the targets.
func (r *report) finish() {
	r.Seconds = time.Since(r.Started).Seconds()
	for _, s := range r.Scenarios {
		var req int64
		var secs, cpu, other float64
		for _, run := range s.Runs {
			req += run.Requests
			secs += run.Seconds
			cpu += run.CPUSeconds
			other += run.wrkResult.CPUSeconds + run.UpstreamCPUSeconds
			s.P50 += run.P50 / float64(len(s.Runs))
			s.P99 += run.P99 / float64(len(s.Runs))
			s.ForeignCores += run.ForeignCores / float64(len(s.Runs))
		}
		if secs > 0 {
			s.RPS = float64(req) / secs
		}
		if req > 0 {
			s.CPUPer10k = cpu / float64(req) * 10_000
			s.OtherCPUPer10k = other / float64(req) * 10_000
		}
		for _, p := range s.Probes {
			s.ProbeP50 += p.P50 / float64(len(s.Probes))
			s.ProbeP99 += p.P99 / float64(len(s.Probes))
		}
	}
	for _, s := range r.Scenarios {
		b := r.byKey[s.Baseline]
		if b == nil || b == s {
			continue
		}
		if b.RPS > 0 {
			s.RPSRatio = s.RPS / b.RPS
		}
		for _, run := range s.Runs {
			for _, base := range b.Runs {
				if base.Round == run.Round && base.RPS > 0 {
					s.RoundRatios = append(s.RoundRatios, run.RPS/base.RPS)
				}
			}
		}
		if b.CPUPer10k > 0 {
			s.CPURatio = s.CPUPer10k / b.CPUPer10k
		}
		s.P99AddedMs = s.P99 - b.P99
		if len(s.Probes) > 0 && len(b.Probes) > 0 {
			s.ProbeP99AddedMs = s.ProbeP99 - b.ProbeP99
		}
	}
	r.judge()
}

func (r *report) judge() {
	get := func(id string) *scenario { return r.byKey[id] }
	s1, s2, s3, s4, s5, s6 := get("1"), get("2"), get("3"), get("4"), get("5"), get("6")
	add := func(name string, v float64, goal string, met bool, note string) {
		r.Targets = append(r.Targets, verdict{Name: name, Value: v, Goal: goal, Met: met, Note: note})
	}
	spread := func(s *scenario) string {
		if len(s.RoundRatios) < 2 {
			return ""
		}
		lo, hi := slices.Min(s.RoundRatios), slices.Max(s.RoundRatios)
		return fmt.Sprintf("rounds %.2f–%.2f", lo, hi)
	}
	if s1 != nil && s2 != nil {
		add("scenario 2 throughput / scenario 1", s2.RPSRatio, "≥ 0.95", s2.RPSRatio >= 0.95, spread(s2))
		add("scenario 2 p99 added, wrk closed loop (ms)", s2.P99AddedMs, "≤ 0.2", s2.P99AddedMs <= 0.2,
			fmt.Sprintf("%d connections kept busy: queueing, not judged", r.Options.Connections))
		r.Targets[len(r.Targets)-1].Info = true
		if len(s2.Probes) > 0 {
			add(fmt.Sprintf("scenario 2 p99 added at %d req/s (ms)", r.Options.Rate), s2.ProbeP99AddedMs, "≤ 0.2", s2.ProbeP99AddedMs <= 0.2, "fixed-rate probe")
		}
	}
	if s1h := get("1H"); s1h != nil && s2 != nil {
		add("scenario 2 throughput / scenario 1H (bare Caddy sending the same six identity headers)", s2.RPS/s1h.RPS, "—", true,
			fmt.Sprintf("the gateway's own cost, the identity payload netted out; 1H / 1 = %.3f", s1h.RPSRatio))
		r.Targets[len(r.Targets)-1].Info = true
		if len(s2.Probes) > 0 && len(s1h.Probes) > 0 {
			add("scenario 2 p99 added vs 1H at fixed rate (ms)", s2.ProbeP99-s1h.ProbeP99, "—", true, "the gateway's own latency, the identity payload netted out")
			r.Targets[len(r.Targets)-1].Info = true
		}
	}
	if s1 != nil && s3 != nil {
		add("scenario 3 throughput / scenario 1", s3.RPSRatio, "≥ 0.90", s3.RPSRatio >= 0.90, spread(s3))
	}
	if s1 != nil && s4 != nil {
		add("scenario 4 throughput / scenario 1", s4.RPSRatio, "≥ 0.99", s4.RPSRatio >= 0.99, spread(s4))
	}
	if s2 != nil && s5 != nil {
		add("scenario 2 throughput / scenario 5", s2.RPS/s5.RPS, "> 1", s2.RPS > s5.RPS, "")
	}
	if s2 != nil && s6 != nil {
		add("scenario 2 throughput / scenario 6", s2.RPS/s6.RPS, "≥ 2", s2.RPS >= 2*s6.RPS, "")
	}
	idle, atk, floor := get("attack/idle"), get("attack/attack"), get("attack/floor")
	if idle != nil && atk != nil && idle.ProbeP99 > 0 {
		note := fmt.Sprintf("%d concurrent wrong-password sign-ins", r.Options.Attackers)
		if floor != nil {
			note += fmt.Sprintf("; floor (one core of argon2id in another process, no gateway work) %.2f×", floor.ProbeP99/idle.ProbeP99)
		}
		add(fmt.Sprintf("pass-through p99 under attack / idle, at %d req/s", r.Options.AttackRate), atk.ProbeP99/idle.ProbeP99, "≤ 2", atk.ProbeP99 <= 2*idle.ProbeP99, note)
		if idle.P99 > 0 {
			add("pass-through p99 under attack / idle, wrk closed loop", atk.P99/idle.P99, "≤ 2", atk.P99 <= 2*idle.P99, note)
		}
	}
	for _, p := range [][2]string{{"2L", "2"}, {"3L", "3"}} {
		big, small := get(p[0]), get(p[1])
		if big == nil || small == nil || small.CPUPer10k == 0 || small.FrontEndRSSMiB == 0 {
			continue
		}
		add(fmt.Sprintf("scenario %s / %s CPU per request (large store / small)", p[0], p[1]), big.CPUPer10k/small.CPUPer10k, "≈ 1 (flat)", big.CPUPer10k <= 1.1*small.CPUPer10k, "")
		add(fmt.Sprintf("scenario %s / %s gateway peak RSS (large store / small)", p[0], p[1]), big.FrontEndRSSMiB/small.FrontEndRSSMiB, "≈ 1 (flat)", big.FrontEndRSSMiB <= 1.25*small.FrontEndRSSMiB, "")
	}
}

func (r *report) markdown() string {
	var b strings.Builder
	o := r.Options
	fmt.Fprintf(&b, "\n## vectis-bench, %s\n\n", r.Started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %d MiB memory, Linux %s; load average %s at start, %s at end.\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemTotalMiB, r.Machine.Kernel, r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd)
	fmt.Fprintf(&b, "wrk: %d threads, %d connections, %s per scenario per round, %d round(s), scenarios alternating. Run took %s.\n\n",
		o.Threads, o.Connections, o.Duration, o.Rounds, time.Duration(r.Seconds*float64(time.Second)).Round(time.Second))

	b.WriteString("### Throughput (wrk, closed loop)\n\n")
	b.WriteString("| # | scenario | req/s | × base | p50 ms | p99 ms | CPU s / 10k req | × base | wrk+upstream CPU s / 10k | peak RSS MiB (front end + store) | other load, cores |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Scenarios {
		if len(s.Runs) == 0 || strings.Contains(s.ID, "/") {
			continue
		}
		rss := fmt.Sprintf("%.0f", s.FrontEndRSSMiB)
		if len(s.PeakRSSByProc) > 1 {
			rss += fmt.Sprintf(" + %.0f", s.PeakRSSMiB-s.FrontEndRSSMiB)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %.2f | %.2f | %.3f | %s | %.3f | %s | %.2f |\n", s.ID, s.Name, s.RPS, ratio(s.RPSRatio, s.Baseline),
			s.P50, s.P99, s.CPUPer10k, ratio(s.CPURatio, s.Baseline), s.OtherCPUPer10k, rss, s.ForeignCores)
	}
	b.WriteString("\n× base: against scenario 1, or 1R for the rotating-cookie rows. CPU: the scenario's own processes (front end, and the store where it has one). Other load: CPU that processes outside the bench took during the runs (mean, in cores of the machine's); anything above a few hundredths moved that row's figures.\n")

	var withCalls []*scenario
	for _, s := range r.Scenarios {
		if len(s.StoreCallsPerRequest) > 0 && !strings.Contains(s.ID, "/") {
			withCalls = append(withCalls, s)
		}
	}
	if len(withCalls) > 0 {
		b.WriteString("\nStore calls per request (the gateway's own metrics, measured rounds):")
		for _, s := range withCalls {
			var ops []string
			for op := range s.StoreCallsPerRequest {
				ops = append(ops, op)
			}
			slices.Sort(ops)
			var parts []string
			for _, op := range ops {
				parts = append(parts, fmt.Sprintf("%s %.4f", op, s.StoreCallsPerRequest[op]))
			}
			fmt.Fprintf(&b, " %s: %s;", s.ID, strings.Join(parts, ", "))
		}
		b.WriteString("\n")
	}

	var probed []*scenario
	for _, s := range r.Scenarios {
		if len(s.Probes) > 0 && !strings.Contains(s.ID, "/") {
			probed = append(probed, s)
		}
	}
	if len(probed) > 0 {
		fmt.Fprintf(&b, "\n### Latency at a fixed %d req/s (open loop, %s per round)\n\n", o.Rate, o.ProbeDuration)
		b.WriteString("| # | scenario | p50 ms | p99 ms | p99 added vs 1, ms |\n|---|---|---:|---:|---:|\n")
		for _, s := range probed {
			added := "—"
			if b := r.byKey[s.Baseline]; b != nil && b != s && len(b.Probes) > 0 {
				added = fmt.Sprintf("%+.3f", s.ProbeP99AddedMs)
			}
			fmt.Fprintf(&b, "| %s | %s | %.3f | %.3f | %s |\n", s.ID, s.Name, s.ProbeP50, s.ProbeP99, added)
		}
	}

	if idle, atk := r.byKey["attack/idle"], r.byKey["attack/attack"]; idle != nil && atk != nil {
		fmt.Fprintf(&b, "\n### Login under attack (%d concurrent wrong-password sign-ins, each from its own address)\n\n", o.Attackers)
		floor := r.byKey["attack/floor"]
		b.WriteString("| measurement | idle | under attack | ratio | floor: idle + one core of argon2id in another process | ratio |\n|---|---:|---:|---:|---:|---:|\n")
		row := func(name string, a, c float64, f string) {
			fl := "— | —"
			if floor != nil {
				var v float64
				switch {
				case strings.Contains(name, "p50 at"):
					v = floor.ProbeP50
				case strings.Contains(name, "p99 at"):
					v = floor.ProbeP99
				case strings.Contains(name, "req/s, wrk"):
					v = floor.RPS
				case strings.Contains(name, "p99, wrk"):
					v = floor.P99
				}
				fl = fmt.Sprintf(f+" | %.2f", v, v/a)
			}
			fmt.Fprintf(&b, "| %s | "+f+" | "+f+" | %.2f | %s |\n", name, a, c, c/a, fl)
		}
		row(fmt.Sprintf("pass-through p50 at %d req/s, ms", o.AttackRate), idle.ProbeP50, atk.ProbeP50, "%.3f")
		row(fmt.Sprintf("pass-through p99 at %d req/s, ms", o.AttackRate), idle.ProbeP99, atk.ProbeP99, "%.3f")
		row("pass-through req/s, wrk", idle.RPS, atk.RPS, "%.0f")
		row("pass-through p99, wrk, ms", idle.P99, atk.P99, "%.2f")
		var attempts int64
		var secs, cpu float64
		statuses := map[string]int64{}
		var rssBefore, rssAfter float64
		if len(r.Attack) > 0 {
			rssBefore = r.Attack[0].GatewayPeakRSSBeforeMiB // before the first attack; later rounds start after one
		}
		for _, a := range r.Attack {
			attempts += a.Attempts
			secs += a.Seconds
			cpu += a.AttackerCPUSeconds
			for k, v := range a.Statuses {
				statuses[k] += v
			}
			rssAfter = max(rssAfter, a.GatewayPeakRSSAfterMiB)
		}
		fmt.Fprintf(&b, "| gateway peak RSS, MiB | %.0f | %.0f | %.2f | — | — |\n", rssBefore, rssAfter, rssAfter/rssBefore)
		var keys []string
		for k := range statuses {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s × %d", k, statuses[k]))
		}
		fmt.Fprintf(&b, "\nSign-in attempts answered: %d in %.0f s (%.1f/s); statuses: %s.\n", attempts, secs, float64(attempts)/secs, strings.Join(parts, ", "))
	}

	if len(r.Targets) > 0 {
		b.WriteString("\n### Targets (issue 7)\n\n| target | value | goal | met |\n|---|---:|---|---|\n")
		for _, t := range r.Targets {
			met := "yes"
			switch {
			case t.Info:
				met = "n/a"
			case !t.Met:
				met = "**no**"
			}
			name := t.Name
			if t.Note != "" {
				name += " (" + t.Note + ")"
			}
			fmt.Fprintf(&b, "| %s | %.3f | %s | %s |\n", name, t.Value, t.Goal, met)
		}
	}
	for _, p := range r.Profiles {
		fmt.Fprintf(&b, "\n### CPU profile of %s under scenario-%s load, %d s (`go tool pprof -top`)\n\n```\n%s```\n", p.Process, p.Scenario, p.Seconds, headLines(p.Top, 30))
	}
	return b.String()
}

func ratio(v float64, base string) string {
	if base == "" || v == 0 {
		return "—"
	}
	return fmt.Sprintf("%.3f", v)
}

func headLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "")
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func cpuModel() string {
	for _, line := range strings.Split(readTrim("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotalMiB() int {
	for _, line := range strings.Split(readTrim("/proc/meminfo"), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb / 1024
		}
	}
	return 0
}

func loadAvg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// versions records what was measured: each program's own word on its version.
func versions(o options) map[string]string {
	v := map[string]string{"go (bench)": runtime.Version()}
	run := func(name string, argv ...string) {
		out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		v[name] = line
	}
	run("gateway (caddy)", o.gatewayBin, "version")
	// oauth2-proxy built by go install says "undefined" to --version; its build info names the module version.
	if out, err := exec.Command("go", "version", "-m", o.oauth2ProxyBin).Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" {
				v["oauth2-proxy"] = f[1] + " " + f[2]
			}
		}
	}
	run("wrk", o.wrkBin, "-v")
	run("redis-server", o.redisBin, "--version")
	return v
}
