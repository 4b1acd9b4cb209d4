// Command scimscale measures a caddy-scim server with many tenants on this
// machine: how fast tenants are created, how long a restart takes to
// serve them, the memory and idle CPU of Caddy and its backend processes,
// and the latency of an authenticated read.
//
// It builds nothing: it runs the caddy binary it is given, with a
// Caddyfile it writes to a temporary directory, on loopback ports only.
//
//	go build -o /tmp/caddy ./caddymodule/cmd/caddy
//	go run ./caddymodule/cmd/scimscale -caddy /tmp/caddy -tenants 1 -json base.json
//	go run ./caddymodule/cmd/scimscale -caddy /tmp/caddy -tenants 10000 -baseline base.json
//
// By default tenants t00001…tN are runtime tenants, created through the
// admin API (PUT /scim/tenants/{name}) under one runtime_tenants profile
// per built-in backend, tenant i using pharos, hpinsights, keepnet in
// turn. With -static N they are instead N tenant blocks in the Caddyfile,
// which is how releases without runtime tenants serve them.
//
// A run: start the server; create the tenants (8 at a time); generate
// tokens for a sample of them; create a user in the first tenants of each
// backend and wait until it is delivered; stop. Then start it again and
// measure: the time from process start until an authenticated GET of the
// last tenant answers 200; after -settle, the CPU time of Caddy and every
// process it started over -idle (utime+stime from /proc/<pid>/stat) and
// their RSS (VmRSS from /proc/<pid>/status); the latency of -requests
// sequential GET /Users?count=1 on one kept-alive HTTP/1.1 connection,
// each against a random sampled tenant, after one warm-up request per
// sampled tenant. On exit or interrupt it kills the server and its
// backend processes and removes the temporary directory (unless -keep).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	caddy       string
	tenants     int
	static      int
	idle        time.Duration
	settle      time.Duration
	requests    int
	sampleSize  int
	usersPer    int
	concurrency int
	keep        bool
	jsonOut     string
	baseline    string
	cpuProfile  string
	seed        uint64
}

func main() {
	var c config
	flag.StringVar(&c.caddy, "caddy", "", "the caddy binary to measure (required), e.g. built with go build -o /tmp/caddy ./caddymodule/cmd/caddy")
	flag.IntVar(&c.tenants, "tenants", 10000, "runtime tenants to create through the admin API")
	flag.IntVar(&c.static, "static", 0, "declare this many tenants as tenant blocks in the Caddyfile instead of creating runtime tenants (for releases without runtime tenants)")
	flag.DurationVar(&c.idle, "idle", 60*time.Second, "how long to measure idle CPU")
	flag.DurationVar(&c.settle, "settle", 10*time.Second, "how long to wait after the restart serves before measuring")
	flag.IntVar(&c.requests, "requests", 2000, "sequential GET requests for the latency figures")
	flag.IntVar(&c.sampleSize, "sample", 200, "tenants to generate tokens for; the GETs pick among them")
	flag.IntVar(&c.usersPer, "users", 2, "tenants of each backend that get one user")
	flag.IntVar(&c.concurrency, "concurrency", 8, "concurrent admin requests when creating tenants and tokens")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (Caddyfile, stores, caddy.log)")
	flag.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to this file; - writes them to stdout instead of the table")
	flag.StringVar(&c.baseline, "baseline", "", "a -json file of a run with fewer tenants: also print the cost of each additional tenant")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "save a CPU profile of the caddy process over the idle window (from the admin endpoint's /debug/pprof) to this file; profiling adds a little CPU of its own")
	flag.Uint64Var(&c.seed, "seed", 1, "seed for the choice of tenants in the latency run")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: scimscale -caddy <binary> [-tenants N | -static N] [flags]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "scimscale:", err)
		flag.Usage()
		os.Exit(2)
	}
	var base *Result
	if c.baseline != "" {
		b, err := os.ReadFile(c.baseline)
		if err == nil {
			base = new(Result)
			err = json.Unmarshal(b, base)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "scimscale: -baseline:", err)
			os.Exit(2)
		}
	}

	r := &runner{cfg: c}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		logf("%v: stopping", s)
		r.cleanup()
		os.Exit(130)
	}()
	res, err := r.run()
	r.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scimscale:", err)
		os.Exit(1)
	}
	res.PerTenant = perTenant(res, base)
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		b = append(b, '\n')
		if c.jsonOut == "-" {
			os.Stdout.Write(b)
			return
		}
		if err := os.WriteFile(c.jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "scimscale:", err)
			os.Exit(1)
		}
	}
	printTable(os.Stdout, res)
}

func (c *config) check() error {
	if c.caddy == "" {
		return errors.New("-caddy is required")
	}
	abs, err := filepath.Abs(c.caddy)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(abs); err != nil || fi.IsDir() {
		return fmt.Errorf("-caddy %s: not a file", c.caddy)
	}
	c.caddy = abs
	if c.static > 0 {
		c.tenants = c.static
	}
	switch {
	case c.tenants < 1:
		return errors.New("-tenants must be at least 1")
	case c.static < 0:
		return errors.New("-static must not be negative")
	case c.idle <= 0 || c.settle < 0:
		return errors.New("-idle must be positive and -settle not negative")
	case c.requests < 1 || c.sampleSize < 1 || c.concurrency < 1 || c.usersPer < 0:
		return errors.New("-requests, -sample and -concurrency must be positive, -users not negative")
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// runner holds what cleanup has to undo.
type runner struct {
	cfg config

	mu      sync.Mutex
	dir     string
	srv     *server
	cleaned bool
}

// setServer records the running server for cleanup; a server started
// while an interrupt was being handled is killed at once.
func (r *runner) setServer(s *server) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cleaned {
		s.kill()
		return
	}
	r.srv = s
}

// cleanup kills the server's process group and removes the directory; it
// may run twice (interrupt and normal exit), and does its work once.
func (r *runner) cleanup() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cleaned {
		return
	}
	r.cleaned = true
	if r.srv != nil {
		r.srv.kill()
		select {
		case <-r.srv.exited:
		case <-time.After(5 * time.Second):
		}
	}
	if r.dir == "" {
		return
	}
	if r.cfg.keep {
		logf("kept %s", r.dir)
		return
	}
	if err := os.RemoveAll(r.dir); err != nil {
		logf("removing %s: %v", r.dir, err)
	}
}

func (r *runner) run() (*Result, error) {
	c := r.cfg
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "scimscale-")
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.dir = dir
	r.mu.Unlock()
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	l := layout{Dir: dir, AdminPort: ports[0], SitePort: ports[1], Static: c.static}
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(caddyfile(l)), 0o600); err != nil {
		return nil, err
	}
	res := &Result{Mode: "runtime", Tenants: c.tenants, Binary: c.caddy, Machine: machine(c.caddy)}
	if c.static > 0 {
		res.Mode = "static"
	}
	admin := newAdminClient(l.AdminPort)
	note := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		logf("NOTE: %s", s)
		res.Notes = append(res.Notes, s)
	}

	// First run: set up the tenants, tokens and users.
	logf("starting %s (%s, admin localhost:%d, site https://localhost:%d)", c.caddy, dir, l.AdminPort, l.SitePort)
	srv, err := startServer(c.caddy, dir, cfgPath)
	if err != nil {
		return nil, err
	}
	r.setServer(srv)
	if err := srv.waitFor(10*time.Minute, 20*time.Millisecond, "the scim admin API", func() (bool, error) {
		status, _, err := admin.do(ctx, "GET", "/scim/tenants", nil)
		return err == nil && status == http.StatusOK, err
	}); err != nil {
		return nil, err
	}
	roots, err := admin.rootCAs(ctx)
	if err != nil {
		note("no root of the internal CA (%v); TLS is not verified", err)
	}
	// The site's certificate is issued in the background on the first
	// start: wait until the site completes a handshake.
	probe := newSCIMClient(l.SitePort, roots, false)
	if err := srv.waitFor(5*time.Minute, 20*time.Millisecond, "the site's TLS certificate", func() (bool, error) {
		_, _, err := probe.do(ctx, "GET", "/", "", "")
		return err == nil, err
	}); err != nil {
		return nil, err
	}
	res.Populate.StartSeconds = time.Since(srv.started).Seconds()
	logf("serving after %.2f s", res.Populate.StartSeconds)

	res.Populate.Concurrency = c.concurrency
	if c.static == 0 {
		logf("creating %d runtime tenants, %d at a time", c.tenants, c.concurrency)
		t0 := time.Now()
		err := parallel(c.tenants, c.concurrency, func(i int) error {
			_, err := admin.expect(ctx, "PUT", "/scim/tenants/"+tenantName(i), map[string]string{"profile": backendOf(i)}, http.StatusCreated)
			if i%1000 == 0 {
				logf("  %d created", i)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("creating tenants: %w; caddy's log ends:\n%s", err, srv.logTail(20))
		}
		res.Populate.CreateSeconds = time.Since(t0).Seconds()
		res.Populate.CreatePerSecond = float64(c.tenants) / res.Populate.CreateSeconds
		logf("created %d tenants in %.1f s (%.0f/s)", c.tenants, res.Populate.CreateSeconds, res.Populate.CreatePerSecond)
	}

	var userTenants []int
	for b := range backends {
		for k := 0; k < c.usersPer; k++ {
			if i := 1 + b + k*len(backends); i <= c.tenants {
				userTenants = append(userTenants, i)
			}
		}
	}
	sampled := sample(c.tenants, max(c.sampleSize, len(userTenants)+1), userTenants)
	tokens := make([]string, len(sampled))
	t0 := time.Now()
	err = parallel(len(sampled), c.concurrency, func(k int) error {
		name := tenantName(sampled[k-1])
		b, err := admin.expect(ctx, "POST", "/scim/tenants/"+name+"/token", nil, http.StatusOK)
		if err != nil {
			return err
		}
		var creds struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(b, &creds); err != nil || creds.Token == "" {
			return fmt.Errorf("token of %s: %v %s", name, err, clipString(string(b)))
		}
		tokens[k-1] = creds.Token
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("generating tokens: %w", err)
	}
	res.Populate.Tokens = len(sampled)
	res.Populate.TokenSeconds = time.Since(t0).Seconds()
	tokenOf := map[int]string{}
	for k, i := range sampled {
		tokenOf[i] = tokens[k]
	}
	logf("generated %d tokens in %.2f s", len(sampled), res.Populate.TokenSeconds)

	sc := newSCIMClient(l.SitePort, roots, true)
	for _, i := range userTenants {
		email := fmt.Sprintf("user%d@x.example", i)
		status, b, err := sc.do(ctx, "POST", usersPath(tenantName(i)), tokenOf[i], userBody(email))
		if err != nil || status != http.StatusCreated {
			return nil, fmt.Errorf("creating a user in %s (%s): %s %v %s", tenantName(i), backendOf(i), statusCode(status, err), err, clipString(string(b)))
		}
	}
	res.Populate.Users = len(userTenants)
	res.Populate.UsersDelivered = true
	for _, i := range userTenants {
		name := tenantName(i)
		err := srv.waitFor(60*time.Second, 50*time.Millisecond, "delivery to "+name, func() (bool, error) {
			b, err := admin.expect(ctx, "GET", "/scim/tenants/"+name, nil, http.StatusOK)
			if err != nil {
				return false, err
			}
			return delivered(b)
		})
		if err != nil {
			res.Populate.UsersDelivered = false
			note("the user in %s (%s) was not delivered: %v", name, backendOf(i), firstLine(err))
		}
	}
	logf("created %d users (delivered: %v); stopping", len(userTenants), res.Populate.UsersDelivered)
	took, err := srv.stop(admin)
	res.Populate.StopSeconds = took.Seconds()
	if err != nil {
		note("first stop: %v", err)
	}

	// Second run: the measurements.
	last := c.tenants
	logf("restarting with %d tenants", c.tenants)
	srv, err = startServer(c.caddy, dir, cfgPath)
	if err != nil {
		return nil, err
	}
	r.setServer(srv)
	x := &res.Restart
	adminUp := false
	x.Before200 = map[string]int{}
	poll := newSCIMClient(l.SitePort, roots, false)
	err = srv.waitFor(30*time.Minute, 10*time.Millisecond, "an authenticated GET of "+tenantName(last), func() (bool, error) {
		if !adminUp {
			if status, _, err := admin.do(ctx, "GET", "/config/", nil); err == nil && status == http.StatusOK {
				adminUp = true
				x.AdminSeconds = time.Since(srv.started).Seconds()
			}
		}
		status, _, err := poll.do(ctx, "GET", usersPath(tenantName(last))+"?count=1", tokenOf[last], "")
		if err == nil && status == http.StatusOK {
			return true, nil
		}
		if err == nil {
			x.Before200[statusCode(status, nil)]++
		}
		return false, err
	})
	if err != nil {
		return nil, err
	}
	x.ServingSeconds = time.Since(srv.started).Seconds()
	if !adminUp {
		x.AdminSeconds = x.ServingSeconds
	}
	for k, v := range x.Before200 {
		if strings.HasPrefix(k, "5") {
			note("%d answers %s while the server started", v, k)
		}
	}
	logf("serving after %.2f s; settling %s", x.ServingSeconds, c.settle)
	time.Sleep(c.settle)

	before, err := snapshot(srv.pid())
	if err != nil {
		return nil, err
	}
	var profile chan error
	if c.cpuProfile != "" {
		profile = make(chan error, 1)
		go func() { profile <- saveProfile(admin, c.idle, c.cpuProfile) }()
	}
	logf("measuring idle CPU over %s", c.idle)
	busy0 := machineBusy()
	t0 = time.Now()
	time.Sleep(c.idle)
	after, err := snapshot(srv.pid())
	wall := time.Since(t0)
	x.MachineBusyPercent = cpuPercent(busy0, machineBusy(), wall)
	x.LoadAvg = loadAvg()
	if err != nil {
		return nil, err
	}
	x.SettleSeconds, x.IdleSeconds = c.settle.Seconds(), wall.Seconds()
	fillProcesses(x, before, after, wall)
	if gone := missing(before, after); len(gone) > 0 {
		note("processes %v exited during the idle window", gone)
	}
	if profile != nil {
		if err := <-profile; err != nil {
			note("CPU profile: %v", err)
		} else {
			logf("CPU profile saved to %s", c.cpuProfile)
		}
	}
	logf("idle: %d backend processes, %s RSS, %.2f%% CPU", x.BackendCount, mib(x.TotalRSSKB), x.IdleCPUPercent)

	// Latency: one warm-up request per sampled tenant, then the measured
	// requests, each to a random sampled tenant.
	lat := newSCIMClient(l.SitePort, roots, true)
	rng := rand.New(rand.NewPCG(c.seed, uint64(c.tenants)))
	statuses := map[string]int{}
	for _, i := range sampled {
		if status, _, err := lat.do(ctx, "GET", usersPath(tenantName(i))+"?count=1", tokenOf[i], ""); err != nil || status != http.StatusOK {
			statuses["warm-up "+statusCode(status, err)]++
		}
	}
	dialsBefore := lat.dials.Load()
	durs := make([]time.Duration, 0, c.requests)
	errs := 0
	for range c.requests {
		i := sampled[rng.IntN(len(sampled))]
		t := time.Now()
		status, _, err := lat.do(ctx, "GET", usersPath(tenantName(i))+"?count=1", tokenOf[i], "")
		durs = append(durs, time.Since(t))
		if err != nil || status != http.StatusOK {
			errs++
			statuses[statusCode(status, err)]++
		}
	}
	x.Latency = summarize(durs)
	x.Latency.Tenants = len(sampled)
	x.Latency.Errors = errs
	x.Latency.Statuses = statuses
	x.Latency.Connections = lat.dials.Load() - dialsBefore
	if x.Latency.Connections == 0 {
		x.Latency.Connections = 1 // the warm-up's, kept alive
	}
	if len(statuses) > 0 {
		note("requests not answered 200: %v", statuses)
	}
	logf("latency p50 %.3f ms p99 %.3f ms", x.Latency.P50ms, x.Latency.P99ms)
	if snap, err := snapshot(srv.pid()); err == nil {
		for _, p := range snap {
			x.TotalRSSAfterKB += p.RSSKB
		}
		if n := countBackends(snap); n != x.BackendCount {
			note("%d backend processes after the requests, %d before", n, x.BackendCount)
		}
	}
	took, err = srv.stop(admin)
	x.StopSeconds = took.Seconds()
	if err != nil {
		note("second stop: %v", err)
	}
	if log := srv.logTail(400); strings.Contains(log, "panic") {
		note("caddy's log mentions a panic; run with -keep and read caddy.log")
	}
	return res, nil
}

// parallel calls f(1..n) with at most conc calls at a time and returns the
// first error; after an error it starts no more calls.
func parallel(n, conc int, f func(i int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return first
}

// delivered reports whether a tenant status shows a backend with nothing
// left to deliver and at least one event delivered.
func delivered(status []byte) (bool, error) {
	var st struct {
		Backend *struct {
			Delivery struct {
				Head      uint64 `json:"head_seq"`
				Delivered uint64 `json:"delivered_seq"`
				Lag       uint64 `json:"lag"`
				LastError string `json:"last_error"`
			} `json:"delivery"`
		} `json:"backend"`
	}
	if err := json.Unmarshal(status, &st); err != nil {
		return false, err
	}
	if st.Backend == nil {
		return false, errors.New("the status shows no backend")
	}
	d := st.Backend.Delivery
	if d.LastError != "" {
		return false, errors.New(d.LastError)
	}
	return d.Head > 0 && d.Lag == 0 && d.Delivered >= d.Head, nil
}

// fillProcesses sets x's processes, RSS and idle CPU from two snapshots
// of the same process tree wall apart.
func fillProcesses(x *Restart, before, after []proc, wall time.Duration) {
	ticks := map[int]uint64{}
	for _, p := range before {
		ticks[p.PID] = p.CPUTicks()
	}
	x.Backends, x.Others, x.TotalRSSKB, x.IdleCPUPercent = nil, nil, 0, 0
	for k, p := range after {
		// A process that appeared during the window counts from zero.
		cp := Process{PID: p.PID, RSSKB: p.RSSKB, CPUPercent: cpuPercent(ticks[p.PID], p.CPUTicks(), wall)}
		x.TotalRSSKB += p.RSSKB
		x.IdleCPUPercent += cp.CPUPercent
		name, isBackend := backendName(p.Args)
		switch {
		case k == 0:
			cp.Name = "caddy"
			x.Caddy = cp
		case isBackend:
			cp.Name = "backend " + name
			x.Backends = append(x.Backends, cp)
		default:
			cp.Name = p.Comm
			x.Others = append(x.Others, cp)
		}
	}
	sort.Slice(x.Backends, func(i, j int) bool { return x.Backends[i].Name < x.Backends[j].Name })
	x.BackendCount = len(x.Backends)
}

func countBackends(snap []proc) int {
	n := 0
	for _, p := range snap {
		if _, ok := backendName(p.Args); ok {
			n++
		}
	}
	return n
}

// missing returns the pids in before that are not in after.
func missing(before, after []proc) []int {
	seen := map[int]bool{}
	for _, p := range after {
		seen[p.PID] = true
	}
	var out []int
	for _, p := range before {
		if !seen[p.PID] {
			out = append(out, p.PID)
		}
	}
	return out
}

// saveProfile fetches a CPU profile of the server over d.
func saveProfile(admin *adminClient, d time.Duration, path string) error {
	secs := max(int(d.Seconds()), 1)
	b, err := admin.expect(context.Background(), "GET", fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), nil, http.StatusOK)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
