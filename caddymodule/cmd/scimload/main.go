// Command scimload measures a caddy-scim server the way identity providers
// use it: over HTTPS, with bodies and queries shaped like Entra's and
// Okta's, against one tenant whose store grows to the sizes given.
//
//	go build -o /tmp/caddy ./caddymodule/cmd/caddy
//	go run ./caddymodule/cmd/scimload -caddy /tmp/caddy -users 2000,10000,100000
//
// It runs the given caddy binary with a Caddyfile it writes to a temporary
// directory: the admin endpoint on localhost, one site on 127.0.0.1 over
// HTTPS with a certificate from Caddy's internal CA (trusted from the
// admin API's GET /pki/ca/local), HTTP/1.1 on one kept-alive connection
// per worker, the SCIM store on disk in that directory (Badger, a sync per
// commit), and one static tenant, bench, with no backend (or -backend).
// A token comes from the admin API (POST /scim/tenants/bench/token).
//
// For each size, in increasing order and growing the same store:
//
//   - preload: Entra-shaped creates until the tenant has that many users,
//     each with a manager among the earlier ones, then one group per 100
//     users, created the way Entra does and given 100 members in one
//     PATCH; -preload-concurrency requests at a time; not measured;
//   - the mix: -workers clients for -duration, each drawing operations
//     by the weights of -mix (defaultMix in mix.go documents them);
//   - indexed GET only: the same workers and duration, every request a
//     userName eq lookup of an existing user;
//   - the write phases: each kind of write alone for -op-duration, so
//     that its CPU per request can be compared across sizes: create,
//     patch, put, members (adds of 10), remove (Entra's Remove of 10
//     members, undoing adds made earlier while measuring) and delete (of
//     users created earlier while measuring). A remove or delete phase
//     ends early when there is nothing left to undo.
//
// A phase reports requests per second, per operation and in all, p50 and
// p99 latency, every non-2xx answer and every lookup that did not find
// its user, the CPU time of caddy and its backend processes over the
// phase (utime+stime from /proc) per request, the load generator's own
// CPU, and how busy the whole machine was. After the mix: caddy's RSS and
// the size of the store's directory.
//
// When a size is at least -big-group (100,000), a group is then given
// every preloaded user as a member (PATCH adds of 1,000), and -adds
// sequential PATCHes each add one new user to it, then as many to a
// 100-member group for comparison.
//
// Last, the baseline: caddy again with the same TLS setup and a site that
// answers every request with a fixed body as large as an indexed GET's
// answer ("respond"), hit by the same workers for the same duration.
//
// Interrupted or done, it kills caddy's process group and removes the
// directory (unless -keep).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// mib turns KiB into MiB, to one decimal.
func mib(kib int64) float64 { return round(float64(kib)/1024, 1) }

// writePhases are the operations measured alone after the mix, in this
// order: removes undo the member adds and deletes the creates before them.
var writePhases = []op{opCreate, opPatch, opPut, opMembers, opRemove, opDelete}

type options struct {
	caddy    string
	sizes    []int
	duration time.Duration
	// opDuration is the length of each write phase; 0 skips them.
	opDuration time.Duration
	workers    int
	preload    int
	settle     time.Duration
	backend    string
	// scimOptions are extra lines of the global scim option.
	scimOptions []string
	// serverEnv is added to caddy's environment.
	serverEnv []string
	// postgres runs the store on a private PostgreSQL server, with
	// pgSettings as its settings.
	postgres   bool
	pgSettings map[string]string
	mix        mix
	bigGroup   int
	adds       int
	insecure   bool
	keep       bool
	jsonOut    string
	seed       uint64
	skipBase   bool
	usersFlag  string
	mixFlag    string
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.ReplaceAll(strings.TrimSpace(f), "_", "")
		n, err := strconv.Atoi(f)
		if err != nil || n < usersPerGroup {
			return nil, fmt.Errorf("-users: %q is not a whole number of at least %d", f, usersPerGroup)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func main() {
	var o options
	flag.StringVar(&o.caddy, "caddy", "", "the caddy binary to measure (required), e.g. /tmp/caddy from go build -o /tmp/caddy ./caddymodule/cmd/caddy")
	flag.StringVar(&o.usersFlag, "users", "2000", "users to preload before measuring; several sizes, comma-separated, grow the same store")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "length of each measured phase")
	flag.DurationVar(&o.opDuration, "op-duration", 10*time.Second, "length of each write phase (create, patch, put, members, remove, delete, each alone) per size; 0 skips them")
	flag.IntVar(&o.workers, "workers", 16, "concurrent clients in a measured phase, one connection each")
	flag.IntVar(&o.preload, "preload-concurrency", 64, "concurrent requests while preloading")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "pause after preloading, before measuring")
	flag.Func("scim-option", "a line for the global scim option, e.g. \"cache_size 32MiB\"; repeatable", func(v string) error {
		o.scimOptions = append(o.scimOptions, v)
		return nil
	})
	flag.BoolVar(&o.postgres, "postgres", false, "keep the store in a private PostgreSQL server (on 127.0.0.1, in the temporary directory, found or installed as the tests do) instead of Badger; its CPU time is reported apart")
	flag.Func("postgres-setting", "a PostgreSQL server setting with -postgres, e.g. shared_buffers=256MB; repeatable", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return fmt.Errorf("want NAME=VALUE, got %q", v)
		}
		if o.pgSettings == nil {
			o.pgSettings = map[string]string{}
		}
		o.pgSettings[k] = val
		return nil
	})
	flag.Func("server-env", "an environment variable for caddy, e.g. GOMEMLIMIT=400MiB; repeatable", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.serverEnv = append(o.serverEnv, v)
		return nil
	})
	flag.StringVar(&o.backend, "backend", "", "the bench tenant's backend (pharos, hpinsights, keepnet); none by default")
	flag.StringVar(&o.mixFlag, "mix", "", "operation weights, e.g. "+defaultMix.String()+" (the default)")
	flag.IntVar(&o.bigGroup, "big-group", 100000, "at a size of at least this, measure adding one member to a group of that many members")
	flag.IntVar(&o.adds, "adds", 500, "sequential single-member adds in the big-group measurement")
	flag.BoolVar(&o.insecure, "insecure", false, "skip TLS verification instead of trusting the internal CA's root")
	flag.BoolVar(&o.skipBase, "no-baseline", false, "skip the bare-respond baseline")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (Caddyfiles, logs, store)")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file (- for stdout, instead of the table)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the workers' random choices")
	flag.Parse()
	var err error
	if o.sizes, err = parseSizes(o.usersFlag); err == nil {
		o.mix, err = parseMix(o.mixFlag)
	}
	switch {
	case err != nil:
	case o.caddy == "":
		err = errors.New("-caddy is required")
	case o.duration <= 0 || o.workers < 1 || o.preload < 1 || o.adds < 1:
		err = errors.New("-duration, -workers, -preload-concurrency and -adds must be positive")
	}
	if err == nil {
		o.caddy, err = filepath.Abs(o.caddy)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scimload:", err)
		flag.Usage()
		os.Exit(2)
	}

	r := &runner{opt: o}
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		say("%v: stopping", s)
		cancel()
		r.cleanup()
		os.Exit(130)
	}()
	res, err := r.run(ctx)
	r.cleanup()
	if err == nil && o.jsonOut != "" {
		err = saveJSON(o.jsonOut, res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scimload:", err)
		os.Exit(1)
	}
	if o.jsonOut == "-" {
		return
	}
	res.table(os.Stdout)
}

// saveJSON writes res, indented, to path, or to stdout for "-".
func saveJSON(path string, res *Result) error {
	out := os.Stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// runner owns the directory and the running caddy, for cleanup.
type runner struct {
	opt  options
	dir  string
	once sync.Once
	mu   sync.Mutex
	live *proc // nil once cleaned up
	over bool
	// pg is the PostgreSQL server with -postgres.
	pg *pgtest.Server
}

// track makes p the caddy that cleanup ends; after cleanup, p is ended at
// once.
func (r *runner) track(p *proc) {
	r.mu.Lock()
	over := r.over
	if !over {
		r.live = p
	}
	r.mu.Unlock()
	if over {
		p.shutdown(0)
	}
}

func (r *runner) cleanup() {
	r.once.Do(func() {
		r.mu.Lock()
		p := r.live
		r.over, r.live = true, nil
		r.mu.Unlock()
		if p != nil {
			p.shutdown(10 * time.Second)
		}
		if r.pg != nil {
			if err := r.pg.Stop(); err != nil {
				say("stopping PostgreSQL: %v", err)
			}
		}
		switch {
		case r.dir == "":
		case r.opt.keep:
			say("kept %s", r.dir)
		default:
			_ = os.RemoveAll(r.dir)
		}
	})
}

// start runs caddy with s's Caddyfile and waits until the site answers
// over TLS; it returns a SCIM client (with a fresh token when the site
// serves SCIM).
func (r *runner) start(ctx context.Context, s site, name string) (*proc, *scim, error) {
	p, err := launch(r.opt.caddy, r.dir, name, s.caddyfile(), r.opt.serverEnv)
	if err != nil {
		return nil, nil, err
	}
	r.track(p)
	adm := newAdmin(s.Admin)
	if err := p.until(time.Minute, "the admin endpoint", func() error { return adm.call("GET", "/config/", 200, nil) }); err != nil {
		return p, nil, err
	}
	var roots *x509.CertPool
	if !r.opt.insecure {
		if err := p.until(time.Minute, "the internal CA", func() (err error) {
			roots, err = adm.rootPool()
			return err
		}); err != nil {
			return p, nil, err
		}
	}
	token := "none"
	if s.Respond == "" {
		if token, err = adm.newToken(); err != nil {
			return p, nil, err
		}
	}
	tc := &tls.Config{ServerName: "localhost", RootCAs: roots, InsecureSkipVerify: roots == nil}
	c := newSCIM(s.Port, tc, r.opt.workers+r.opt.preload, token)
	probe := "/Users?count=1"
	if s.Respond != "" {
		probe = "/"
	}
	err = p.until(2*time.Minute, "an answer over TLS", func() error {
		status, b, err := c.do(ctx, "GET", probe, nil)
		if err == nil && status != 200 {
			err = fmt.Errorf("GET %s: %d %s", probe, status, clip(b))
		}
		return err
	})
	return p, c, err
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	o := r.opt
	dir, err := os.MkdirTemp("", "scimload-")
	if err != nil {
		return nil, err
	}
	r.dir = dir
	ports, err := loopbackPorts(4)
	if err != nil {
		return nil, err
	}
	res := &Result{Machine: describeMachine(), Binary: o.caddy, Backend: o.backend, Workers: o.workers,
		Duration: o.duration.String(), Mix: o.mix.String(), PreloadConcurrency: o.preload, Args: os.Args[1:]}
	if res.Backend == "" {
		res.Backend = "none"
	}
	res.Storage = "badger"
	if o.postgres {
		say("starting PostgreSQL")
		pg, err := pgtest.Options{Settings: o.pgSettings}.Launch()
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.pg = pg
		r.mu.Unlock()
		dsn, err := pg.NewDatabase("scimload")
		if err != nil {
			return nil, err
		}
		o.scimOptions = append(o.scimOptions, "storage postgres {env.SCIMLOAD_DATABASE_URL}")
		o.serverEnv = append(o.serverEnv, "SCIMLOAD_DATABASE_URL="+dsn)
		r.opt = o
		res.Storage = "postgres"
		res.DatabaseSettings = o.pgSettings
	}
	say("starting %s in %s", o.caddy, dir)
	s := site{Dir: dir, Admin: ports[0], Port: ports[1], Backend: o.backend, Options: o.scimOptions}
	p, c, err := r.start(ctx, s, "Caddyfile")
	if err != nil {
		return nil, err
	}
	d := &directory{}
	var sample []byte
	for _, n := range o.sizes {
		t0 := time.Now()
		say("preloading to %d users, %d at a time", n, o.preload)
		if err := d.grow(ctx, c, n, o.preload, func(s string) { say("  %s", s) }); err != nil {
			return nil, fmt.Errorf("preloading: %w", err)
		}
		sz := Size{Users: n, Groups: len(d.groups), PreloadSeconds: round(time.Since(t0).Seconds(), 1)}
		say("preloaded in %.1f s; settling %s", sz.PreloadSeconds, o.settle)
		time.Sleep(o.settle)
		if sz.UsersInStore, err = totalUsers(ctx, c); err != nil {
			return nil, err
		}
		stamp := "s" + strconv.Itoa(n)
		do := func(w *worker, o op) { w.step(ctx, c, d, o, stamp) }
		sz.Mix = r.phase(ctx, p.pid(), "mix", o.duration, o.mix.draw, do)
		rss, anon, file, peak := memKiB(p.pid())
		sz.RSSMiB, sz.AnonMiB, sz.FileMiB, sz.PeakMiB = mib(rss), mib(anon), mib(file), mib(peak)
		app, alloc := diskUse(filepath.Join(dir, "scim"))
		sz.DiskMiB, sz.DiskAllocatedMiB = round(float64(app)/(1<<20), 1), round(float64(alloc)/(1<<20), 1)
		if r.pg != nil {
			app, alloc := diskUse(r.pg.Dir())
			sz.DiskMiB, sz.DiskAllocatedMiB = round(float64(app)/(1<<20), 1), round(float64(alloc)/(1<<20), 1)
		}
		sz.IndexedGET = r.phase(ctx, p.pid(), "indexed GET", o.duration, always(opFilter), do)
		if o.opDuration > 0 {
			for _, w := range writePhases {
				// Each phase's creates need userNames of their own.
				stamp := stamp + "-" + w.String()
				alone := func(wk *worker, o op) { wk.step(ctx, c, d, o, stamp) }
				sz.Writes = append(sz.Writes, r.phase(ctx, p.pid(), w.String()+" alone", o.opDuration, always(w), alone))
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if n >= o.bigGroup {
			bg, err := r.bigGroup(ctx, c, d, n)
			if err != nil {
				return nil, fmt.Errorf("big group: %w", err)
			}
			sz.BigGroup = bg
		}
		res.Sizes = append(res.Sizes, sz)
		_, sample, err = c.do(ctx, "GET", filterQuery(d.people[0].userName()), nil)
		if err != nil {
			return nil, err
		}
	}
	p.shutdown(time.Minute)
	if o.skipBase {
		return res, nil
	}
	body := string(sample)
	if strings.Contains(body, "`") {
		body = strings.Repeat("x", len(sample))
	}
	bs := site{Dir: dir, Admin: ports[2], Port: ports[3], Respond: body, RespondCT: "application/scim+json"}
	say("baseline: respond with a %d-byte body", len(body))
	p, c, err = r.start(ctx, bs, "Caddyfile.baseline")
	if err != nil {
		return nil, err
	}
	base := r.phase(ctx, p.pid(), "respond", o.duration, always(opRespond), func(w *worker, o op) { w.step(ctx, c, d, o, "") })
	res.Baseline = &Baseline{BodyBytes: len(body), Phase: base}
	p.shutdown(time.Minute)
	return res, ctx.Err()
}

// admin calls caddy's admin endpoint.
type admin struct {
	base string
	hc   *http.Client
}

func newAdmin(port int) *admin {
	return &admin{base: "http://localhost:" + strconv.Itoa(port), hc: &http.Client{Transport: pinned(port, 2), Timeout: time.Minute}}
}

// call sends a request and decodes a JSON answer into out (when not nil);
// any status but want is an error.
func (a *admin) call(method, path string, want int, out any) error {
	req, err := http.NewRequest(method, a.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, clip(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// rootPool is the root certificate of caddy's internal CA.
func (a *admin) rootPool() (*x509.CertPool, error) {
	var ca struct {
		Root string `json:"root_certificate"`
	}
	if err := a.call("GET", "/pki/ca/local", 200, &ca); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.Root)) {
		return nil, errors.New("/pki/ca/local holds no PEM certificate")
	}
	return pool, nil
}

// newToken generates the bench tenant's bearer token.
func (a *admin) newToken() (string, error) {
	var t struct {
		Token string `json:"token"`
	}
	if err := a.call("POST", "/scim/tenants/"+tenant+"/token", 200, &t); err != nil {
		return "", err
	}
	if t.Token == "" {
		return "", errors.New("the token endpoint answered no token")
	}
	return t.Token, nil
}
