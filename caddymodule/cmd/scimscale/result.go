package main

import (
	"bufio"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Result is what one run measures; -json writes it.
type Result struct {
	// Mode is "runtime" (tenants created through the admin API) or
	// "static" (tenant blocks in the Caddyfile).
	Mode    string  `json:"mode"`
	Tenants int     `json:"tenants"`
	Binary  string  `json:"binary"`
	Machine Machine `json:"machine"`

	Populate Populate `json:"populate"`
	Restart  Restart  `json:"restart"`
	// PerTenant is the cost of each tenant beyond a -baseline run.
	PerTenant *PerTenant `json:"per_tenant,omitempty"`
	Notes     []string   `json:"notes,omitempty"`
}

// PerTenant is the difference between two runs divided by the difference
// in their tenant counts.
type PerTenant struct {
	BaselineTenants   int     `json:"baseline_tenants"`
	RSSKB             float64 `json:"rss_kb"`
	RSSAfterKB        float64 `json:"rss_after_requests_kb"`
	IdleCPUPercent    float64 `json:"idle_cpu_percent"`
	ServingMs         float64 `json:"serving_ms"`
	BackendsPerTenant float64 `json:"backend_processes"`
}

// perTenant compares r with base, a run with another tenant count; it
// returns nil when the counts are the same.
func perTenant(r, base *Result) *PerTenant {
	if base == nil || base.Tenants == r.Tenants {
		return nil
	}
	n := float64(r.Tenants - base.Tenants)
	x, b := r.Restart, base.Restart
	return &PerTenant{
		BaselineTenants:   base.Tenants,
		RSSKB:             float64(x.TotalRSSKB-b.TotalRSSKB) / n,
		RSSAfterKB:        float64(x.TotalRSSAfterKB-b.TotalRSSAfterKB) / n,
		IdleCPUPercent:    (x.IdleCPUPercent - b.IdleCPUPercent) / n,
		ServingMs:         (x.ServingSeconds - b.ServingSeconds) * 1000 / n,
		BackendsPerTenant: float64(x.BackendCount-b.BackendCount) / n,
	}
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	Model      string `json:"cpu_model"`
	MemTotalKB int64  `json:"mem_total_kb"`
	// GoVersion is the Go release the measured binary was built with.
	GoVersion string `json:"go_version"`
}

// Populate is the first run of the server, which sets the tenants up.
type Populate struct {
	StartSeconds    float64 `json:"start_seconds"`
	CreateSeconds   float64 `json:"create_seconds,omitempty"`
	CreatePerSecond float64 `json:"create_per_second,omitempty"`
	Concurrency     int     `json:"concurrency"`
	Tokens          int     `json:"tokens"`
	TokenSeconds    float64 `json:"token_seconds"`
	Users           int     `json:"users"`
	UsersDelivered  bool    `json:"users_delivered"`
	StopSeconds     float64 `json:"stop_seconds"`
}

// Restart is the second run, on the stored tenants, where the figures are
// taken.
type Restart struct {
	// AdminSeconds is from process start until the admin endpoint answers.
	AdminSeconds float64 `json:"admin_seconds"`
	// ServingSeconds is from process start until an authenticated GET of
	// the last tenant answers 200.
	ServingSeconds float64 `json:"serving_seconds"`
	// Before200 counts the answers other than 200 the polling got before
	// that, by status.
	Before200 map[string]int `json:"before_200,omitempty"`

	SettleSeconds float64   `json:"settle_seconds"`
	IdleSeconds   float64   `json:"idle_seconds"`
	Caddy         Process   `json:"caddy"`
	Backends      []Process `json:"backends"`
	// Others are descendants of caddy that are not backend processes.
	Others         []Process `json:"others,omitempty"`
	BackendCount   int       `json:"backend_processes"`
	TotalRSSKB     int64     `json:"total_rss_kb"`
	IdleCPUPercent float64   `json:"idle_cpu_percent"`
	// MachineBusyPercent is what every process on the machine used over
	// the idle window, in percent of one core: other work skews the
	// figures when it is much above IdleCPUPercent.
	MachineBusyPercent float64 `json:"machine_busy_percent"`
	// LoadAvg is /proc/loadavg at the end of the idle window.
	LoadAvg         string  `json:"load_avg"`
	Latency         Latency `json:"latency"`
	TotalRSSAfterKB int64   `json:"total_rss_after_requests_kb"`
	StopSeconds     float64 `json:"stop_seconds"`
}

// Process is one process's memory and idle CPU.
type Process struct {
	PID        int     `json:"pid"`
	Name       string  `json:"name"`
	RSSKB      int64   `json:"rss_kb"`
	CPUPercent float64 `json:"idle_cpu_percent"`
}

// machine describes this machine and the Go release bin was built with.
func machine(bin string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: "unknown"}
	if info, err := buildinfo.ReadFile(bin); err == nil {
		m.GoVersion = info.GoVersion
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		m.Model = cpuModel(f)
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotalKB = memTotal(string(b))
	}
	return m
}

// cpuModel returns the first "model name" of a /proc/cpuinfo.
func cpuModel(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memTotal returns MemTotal of a /proc/meminfo, in KiB.
func memTotal(meminfo string) int64 {
	for line := range strings.Lines(meminfo) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// tenantCount says "1 runtime tenant" or "3 static tenants".
func tenantCount(n int, mode string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s tenant", mode)
	}
	return fmt.Sprintf("%d %s tenants", n, mode)
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// printTable writes r as an aligned table.
func printTable(w io.Writer, r *Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "  %s\t%s\n", k, fmt.Sprintf(format, args...)) }
	fmt.Fprintf(tw, "scimscale: %s over %s, %s\n", tenantCount(r.Tenants, r.Mode), strings.Join(backends, ", "), r.Binary)
	fmt.Fprintf(tw, "machine: %d CPUs, %s, %.1f GiB RAM, binary built with %s\n\n", r.Machine.CPUs, r.Machine.Model, float64(r.Machine.MemTotalKB)/(1<<20), r.Machine.GoVersion)
	p := r.Populate
	fmt.Fprintln(tw, "setting up (first run)")
	row("first start", "%.2f s", p.StartSeconds)
	if r.Mode == "runtime" {
		row("create tenants", "%d in %.1f s: %.0f tenants/s (%d concurrent PUTs)", r.Tenants, p.CreateSeconds, p.CreatePerSecond, p.Concurrency)
	}
	row("tokens", "%d in %.2f s", p.Tokens, p.TokenSeconds)
	delivered := "delivered to the backends"
	if !p.UsersDelivered {
		delivered = "NOT all delivered before the stop"
	}
	row("users", "%d, %s", p.Users, delivered)
	row("stop", "%.2f s", p.StopSeconds)
	x := r.Restart
	fmt.Fprintf(tw, "\nrestart with %s\n", tenantCount(r.Tenants, r.Mode))
	row("start → admin answers", "%.2f s", x.AdminSeconds)
	row("start → serving", "%.2f s (authenticated GET of %s answers 200)", x.ServingSeconds, tenantName(r.Tenants))
	if len(x.Before200) > 0 {
		row("answers before that", "%v", x.Before200)
	}
	row("backend processes", "%d", x.BackendCount)
	fmt.Fprintf(tw, "\n  process\tpid\tRSS\tidle CPU (%% of a core)\n")
	procRow := func(p Process) {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%.2f\n", p.Name, p.PID, mib(p.RSSKB), p.CPUPercent)
	}
	procRow(x.Caddy)
	for _, p := range x.Backends {
		procRow(p)
	}
	for _, p := range x.Others {
		procRow(p)
	}
	fmt.Fprintf(tw, "  total\t\t%s\t%.2f\n\n", mib(x.TotalRSSKB), x.IdleCPUPercent)
	row("idle window", "%.0f s, after %.0f s to settle", x.IdleSeconds, x.SettleSeconds)
	row("whole machine then", "%.1f %% of a core busy, load average %s", x.MachineBusyPercent, x.LoadAvg)
	l := x.Latency
	row("GET /Users?count=1", "p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, mean %.3f ms", l.P50ms, l.P90ms, l.P99ms, l.Maxms, l.Meanms)
	row("", "%d sequential requests over %d tenants on %d connection(s), %d not answered 200", l.Requests, l.Tenants, l.Connections, l.Errors)
	if len(l.Statuses) > 0 {
		row("", "answers other than 200: %v", l.Statuses)
	}
	row("total RSS after them", "%s", mib(x.TotalRSSAfterKB))
	row("stop", "%.2f s", x.StopSeconds)
	if pt := r.PerTenant; pt != nil {
		fmt.Fprintf(tw, "\nper tenant beyond the baseline run with %d\n", pt.BaselineTenants)
		row("RSS", "%.1f KiB (idle), %.1f KiB (after the requests)", pt.RSSKB, pt.RSSAfterKB)
		row("idle CPU", "%.5f %% of a core", pt.IdleCPUPercent)
		row("start → serving", "%.3f ms", pt.ServingMs)
		row("backend processes", "%.3f", pt.BackendsPerTenant)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(tw, "\nnotes")
		for _, n := range r.Notes {
			fmt.Fprintf(tw, "  - %s\n", n)
		}
	}
	tw.Flush()
}
