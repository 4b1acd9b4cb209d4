package main

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-scim/caddy-scim/caddymodule"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as prctl allows.
	line := "4242 (my (odd) proc) S 17 4242 4242 0 -1 4194560 1234 0 5 0 731 219 3 1 20 0 9 0 100 2000000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	s, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{PID: 4242, Comm: "my (odd) proc", State: "S", PPID: 17, PGRP: 4242, UTime: 731, STime: 219}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	if s.CPUTicks() != 950 {
		t.Fatalf("CPUTicks %d, want 950", s.CPUTicks())
	}
	for _, bad := range []string{
		"",
		"4242 no-parens S 1 2",
		"x (a) S 1 2 3 4 5 6 7 8 9 10 11 12",
		"1 (a) S 1 2 3 4 5 6 7 8 9 10", // cut before utime
		"1 (a) S 1 2 3 4 5 6 7 8 9 10 -3 12",
	} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestParseOwnStat(t *testing.T) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	s, err := parseStat(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != os.Getpid() || s.PPID != os.Getppid() {
		t.Fatalf("pid %d ppid %d, want %d %d", s.PID, s.PPID, os.Getpid(), os.Getppid())
	}
	snap, err := snapshot(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if snap[0].PID != os.Getpid() || snap[0].RSSKB <= 0 || len(snap[0].Args) == 0 {
		t.Fatalf("own snapshot %+v", snap[0])
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tcaddy\nVmPeak:\t 2000 kB\nVmRSS:\t   61234 kB\nRssAnon:\t 50000 kB\n"
	if kb, err := parseVmRSS(status); err != nil || kb != 61234 {
		t.Fatalf("got %d %v, want 61234", kb, err)
	}
	if _, err := parseVmRSS("Name:\tkthreadd\nState:\tS (sleeping)\n"); !errors.Is(err, errNoRSS) {
		t.Fatalf("kernel thread: %v, want errNoRSS", err)
	}
	if _, err := parseVmRSS("VmRSS:\t12 MB\n"); err == nil || errors.Is(err, errNoRSS) {
		t.Fatalf("unit MB: %v, want a parse error", err)
	}
}

func TestBackendProcesses(t *testing.T) {
	args := parseCmdline([]byte("/usr/local/bin/caddy\x00scim-backend\x00hpinsights\x00"))
	if want := []string{"/usr/local/bin/caddy", "scim-backend", "hpinsights"}; !reflect.DeepEqual(args, want) {
		t.Fatalf("args %q, want %q", args, want)
	}
	if name, ok := backendName(args); !ok || name != "hpinsights" {
		t.Fatalf("backendName = %q %v", name, ok)
	}
	if _, ok := backendName(parseCmdline([]byte("caddy\x00run\x00--config\x00scim-backends.caddyfile\x00"))); ok {
		t.Fatal("caddy run counted as a backend")
	}
	if parseCmdline(nil) != nil {
		t.Fatal("empty cmdline has arguments")
	}

	table := map[int]procStat{
		1: {PID: 1}, 10: {PID: 10, PPID: 1}, 30: {PID: 30, PPID: 10}, 20: {PID: 20, PPID: 10},
		21: {PID: 21, PPID: 20}, 40: {PID: 40, PPID: 1},
	}
	if got, want := descendants(table, 10), []int{20, 30, 21}; !reflect.DeepEqual(got, want) {
		t.Fatalf("descendants %v, want %v", got, want)
	}
	if got := descendants(table, 40); got != nil {
		t.Fatalf("leaf has descendants %v", got)
	}
}

func TestFillProcesses(t *testing.T) {
	p := func(pid int, ticks uint64, rss int64, args ...string) proc {
		return proc{procStat: procStat{PID: pid, Comm: "c", UTime: ticks}, Args: args, RSSKB: rss}
	}
	before := []proc{p(100, 1000, 0, "caddy", "run"), p(101, 50, 0, "caddy", "scim-backend", "pharos"), p(102, 7, 0, "caddy", "scim-backend", "keepnet")}
	after := []proc{
		p(100, 1060, 60000, "caddy", "run"),                      // 60 ticks in 60 s: 1 %
		p(101, 50, 30000, "caddy", "scim-backend", "pharos"),     // idle
		p(103, 30, 20000, "caddy", "scim-backend", "hpinsights"), // new: counts from 0
		p(104, 0, 1000, "sh"),
	}
	var x Restart
	fillProcesses(&x, before, after, time.Minute)
	if x.Caddy.Name != "caddy" || x.Caddy.CPUPercent != 1 || x.Caddy.RSSKB != 60000 {
		t.Fatalf("caddy %+v", x.Caddy)
	}
	if x.BackendCount != 2 || x.Backends[0].Name != "backend hpinsights" || x.Backends[0].CPUPercent != 0.5 || x.Backends[1].CPUPercent != 0 {
		t.Fatalf("backends %+v", x.Backends)
	}
	if len(x.Others) != 1 || x.Others[0].PID != 104 {
		t.Fatalf("others %+v", x.Others)
	}
	if x.TotalRSSKB != 111000 || x.IdleCPUPercent != 1.5 {
		t.Fatalf("total %d KiB %.2f%%", x.TotalRSSKB, x.IdleCPUPercent)
	}
	if gone := missing(before, after); !reflect.DeepEqual(gone, []int{102}) {
		t.Fatalf("missing %v", gone)
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	l := summarize(d)
	if l.Requests != 100 || l.P50ms != 50 || l.P90ms != 90 || l.P99ms != 99 || l.Maxms != 100 || l.Meanms != 50.5 {
		t.Fatalf("%+v", l)
	}
	one := []time.Duration{3 * time.Millisecond}
	if percentile(one, 50) != 3*time.Millisecond || percentile(one, 99) != 3*time.Millisecond {
		t.Fatal("one value is every percentile")
	}
	if percentile(nil, 50) != 0 || summarize(nil).P99ms != 0 {
		t.Fatal("no values")
	}
	// Nearest rank: in 2,000 values p99 is the 1,980th.
	d = d[:0]
	for i := 1; i <= 2000; i++ {
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	if got := percentile(d, 99); got != 1980*time.Microsecond {
		t.Fatalf("p99 of 1..2000 µs = %v", got)
	}
	if got := cpuPercent(100, 700, time.Minute); got != 10 {
		t.Fatalf("600 ticks in 60 s = %v%%, want 10", got)
	}
	if cpuPercent(700, 100, time.Minute) != 0 || cpuPercent(0, 100, 0) != 0 {
		t.Fatal("impossible readings give a figure")
	}
}

func TestSample(t *testing.T) {
	got := sample(10000, 6, []int{1, 2, 3})
	if !reflect.DeepEqual(got, []int{1, 2, 3, 3333, 6667, 10000}) {
		t.Fatalf("sample %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("not strictly increasing: %v", got)
		}
	}
	if got := sample(3, 200, []int{1, 2, 3}); !reflect.DeepEqual(got, []int{1, 2, 3}) {
		t.Fatalf("small total: %v", got)
	}
	if got := sample(1, 5, nil); !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("one tenant: %v", got)
	}
	// Spaced points that coincide with must are made up from the lowest
	// tenants left.
	if got := sample(10, 5, []int{2, 5}); !reflect.DeepEqual(got, []int{2, 3, 5, 7, 10}) {
		t.Fatalf("spread: %v", got)
	}
	if got := sample(10, 5, []int{3, 7}); !reflect.DeepEqual(got, []int{1, 2, 3, 7, 10}) {
		t.Fatalf("collisions: %v", got)
	}
}

func TestTenantNames(t *testing.T) {
	if tenantName(7) != "t00007" || tenantName(10000) != "t10000" {
		t.Fatal(tenantName(7), tenantName(10000))
	}
	if backendOf(1) != "pharos" || backendOf(2) != "hpinsights" || backendOf(3) != "keepnet" || backendOf(10000) != "pharos" {
		t.Fatal("backends are not assigned in turn")
	}
}

// TestCaddyfile adapts the generated Caddyfiles with this module's own
// parser and checks what they configure.
func TestCaddyfile(t *testing.T) {
	l := layout{Dir: "/var/tmp/scale test", AdminPort: 2999, SitePort: 8999}
	runtimeCfg := adapt(t, caddyfile(l))
	if got := runtimeCfg["apps"].(map[string]any)["scim"].(map[string]any)["storage_dir"]; got != "/var/tmp/scale test/scim" {
		t.Fatalf("storage_dir %v", got)
	}
	if got := runtimeCfg["admin"].(map[string]any)["listen"]; got != "localhost:2999" {
		t.Fatalf("admin listen %v", got)
	}
	srv := find(runtimeCfg, "protocols")
	if srv == nil || !reflect.DeepEqual(srv["listen"], []any{"127.0.0.1:8999"}) || !reflect.DeepEqual(srv["protocols"], []any{"h1", "h2"}) {
		t.Fatalf("server %v", srv)
	}
	h := find(runtimeCfg, "runtime_tenants")
	if h == nil || h["tenants"] != nil {
		t.Fatalf("scim handler %v", h)
	}
	var profiles []string
	for _, p := range h["runtime_tenants"].([]any) {
		m := p.(map[string]any)
		name := m["name"].(string)
		if backend := m["backend"].(map[string]any)["name"]; backend != name {
			t.Fatalf("profile %s uses backend %v", name, backend)
		}
		profiles = append(profiles, name)
	}
	if !reflect.DeepEqual(profiles, backends) {
		t.Fatalf("profiles %v, want %v", profiles, backends)
	}

	l.Static = 4
	h = find(adapt(t, caddyfile(l)), "tenants")
	if h == nil || h["runtime_tenants"] != nil {
		t.Fatalf("static scim handler %v", h)
	}
	tenants := h["tenants"].(map[string]any)
	want := map[string]string{"t00001": "pharos", "t00002": "hpinsights", "t00003": "keepnet", "t00004": "pharos"}
	if len(tenants) != len(want) {
		t.Fatalf("tenants %v", tenants)
	}
	for name, backend := range want {
		if got := tenants[name].(map[string]any)["backend"].(map[string]any)["name"]; got != backend {
			t.Fatalf("%s uses %v, want %s", name, got, backend)
		}
	}
}

func adapt(t *testing.T, text string) map[string]any {
	t.Helper()
	b, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if len(warnings) > 0 {
		t.Fatalf("warnings %v\n%s", warnings, text)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// find returns the first object in v, depth first, that has key.
func find(v any, key string) map[string]any {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v[key]; ok {
			return v
		}
		for _, c := range v {
			if m := find(c, key); m != nil {
				return m
			}
		}
	case []any:
		for _, c := range v {
			if m := find(c, key); m != nil {
				return m
			}
		}
	}
	return nil
}

func TestDelivered(t *testing.T) {
	cases := []struct {
		body string
		want bool
		err  bool
	}{
		{`{"backend":{"name":"pharos","delivery":{"head_seq":3,"delivered_seq":3,"lag":0}}}`, true, false},
		{`{"backend":{"name":"pharos","delivery":{"head_seq":3,"delivered_seq":2,"lag":1}}}`, false, false},
		{`{"backend":{"name":"pharos","delivery":{"head_seq":0,"delivered_seq":0,"lag":0}}}`, false, false},
		{`{"backend":{"delivery":{"head_seq":3,"lag":3,"last_error":"unavailable"}}}`, false, true},
		{`{"kind":"runtime"}`, false, true},
		{`not json`, false, true},
	}
	for _, c := range cases {
		got, err := delivered([]byte(c.body))
		if got != c.want || (err != nil) != c.err {
			t.Errorf("delivered(%s) = %v, %v", c.body, got, err)
		}
	}
}

func TestMachineFiles(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if got := cpuModel(strings.NewReader(cpuinfo)); got != "AMD EPYC 7B13" {
		t.Fatalf("model %q", got)
	}
	if got := memTotal("MemTotal:       24684544 kB\nMemFree:        22000000 kB\n"); got != 24684544 {
		t.Fatalf("MemTotal %d", got)
	}
}

func TestPerTenant(t *testing.T) {
	base := &Result{Tenants: 1, Restart: Restart{TotalRSSKB: 250_000, TotalRSSAfterKB: 260_000, IdleCPUPercent: 1.5, ServingSeconds: 0.5, BackendCount: 3}}
	r := &Result{Tenants: 10_001, Restart: Restart{TotalRSSKB: 410_000, TotalRSSAfterKB: 400_000, IdleCPUPercent: 2.5, ServingSeconds: 1.5, BackendCount: 3}}
	got := perTenant(r, base)
	want := &PerTenant{BaselineTenants: 1, RSSKB: 16, RSSAfterKB: 14, IdleCPUPercent: 0.0001, ServingMs: 0.1, BackendsPerTenant: 0}
	if got == nil || *got != *want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// Static tenants, one process each: the processes show.
	old := &Result{Tenants: 99, Restart: Restart{BackendCount: 99}}
	if pt := perTenant(old, &Result{Tenants: 3, Restart: Restart{BackendCount: 3}}); pt.BackendsPerTenant != 1 {
		t.Fatalf("processes per tenant %v", pt.BackendsPerTenant)
	}
	if perTenant(r, nil) != nil || perTenant(r, r) != nil {
		t.Fatal("no baseline, or the same count, gives a figure")
	}
}

func TestParseCPUTotals(t *testing.T) {
	stat := "cpu  100 5 40 9000 20 3 2 1 0 0\ncpu0 50 2 20 4500 10 1 1 0 0 0\nintr 1 2 3\n"
	busy, idle, err := parseCPUTotals(stat)
	if err != nil || busy != 151 || idle != 9020 {
		t.Fatalf("busy %d idle %d %v; want 151 9020", busy, idle, err)
	}
	if _, _, err := parseCPUTotals("cpu0 1 2 3\n"); err == nil {
		t.Fatal("no aggregate line accepted")
	}
	if _, _, err := parseCPUTotals("cpu 1 2 3\n"); err == nil {
		t.Fatal("short line accepted")
	}
}

func TestParallel(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	err := parallel(100, 8, func(i int) error {
		mu.Lock()
		seen[i]++
		mu.Unlock()
		return nil
	})
	if err != nil || len(seen) != 100 || seen[1] != 1 || seen[100] != 1 {
		t.Fatalf("%v: %d calls", err, len(seen))
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("%d called %d times", i, n)
		}
	}
	calls := 0
	err = parallel(1000, 1, func(i int) error {
		calls++
		if i == 5 {
			return errors.New("five")
		}
		return nil
	})
	if err == nil || err.Error() != "five" || calls != 5 {
		t.Fatalf("%v after %d calls; want five after 5", err, calls)
	}
}
