package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// plugins shares running backend processes between handlers and configs:
// one process per backend definition (name, or exec path and arguments)
// and storage directory, whatever the number of tenants or reloads.
var plugins = caddy.NewUsagePool()

// backendCommand returns the command that runs a backend. Built-in
// backends run from this same binary through the hidden
// "caddy scim-backend NAME" subcommand; "exec" runs the vendor's binary.
// Tests replace it through launchHook.
func backendCommand(cfg *BackendConfig) (*exec.Cmd, error) {
	if f := launchHook.Load(); f != nil {
		return (*f)(cfg)
	}
	return defaultBackendCommand(cfg)
}

// launchHook, when set, replaces defaultBackendCommand. Supervisors of
// other instances may launch at any time, so it is swapped atomically.
var launchHook atomic.Pointer[func(*BackendConfig) (*exec.Cmd, error)]

func defaultBackendCommand(cfg *BackendConfig) (*exec.Cmd, error) {
	if cfg.Name == "exec" {
		return exec.Command(cfg.Path, cfg.Args...), nil
	}
	if _, ok := builtins[cfg.Name]; !ok {
		return nil, fmt.Errorf("unknown backend %q; built-in backends are %s, or use exec <path>", cfg.Name, builtinNames())
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary to run backend %s: %w", cfg.Name, err)
	}
	return exec.Command(self, "scim-backend", cfg.Name), nil
}

// checkBackend checks, without starting anything, that a backend can be
// started: a built-in name, or an exec binary that exists and is
// executable.
func checkBackend(cfg *BackendConfig) error {
	if cfg.Name == "exec" {
		if cfg.Path == "" {
			return errors.New("backend exec needs the path of the plugin binary")
		}
		if _, err := exec.LookPath(cfg.Path); err != nil {
			return fmt.Errorf("backend exec: %w", err)
		}
		return nil
	}
	if _, ok := builtins[cfg.Name]; !ok {
		return fmt.Errorf("unknown backend %q; built-in backends are %s, or use exec <path>", cfg.Name, builtinNames())
	}
	return nil
}

// backendProcess runs one backend process, which serves every tenant of
// its backend definition: it launches and describes the process, restarts
// it with backoff when it exits, and remembers which tenants it has
// configured with which settings, so that each tenant is configured again
// (lazily, before its next call) after a restart or a change of settings.
type backendProcess struct {
	def    BackendConfig // without settings: those are per tenant
	shared *shared
	logger *zap.Logger

	mu     sync.Mutex
	plugin *sdk.Plugin
	desc   *sdk.DescribeResponse
	// gen counts the processes started; configured records, per tenant,
	// the generation and settings it was last configured with.
	gen        uint64
	configured map[string]configuredAs

	stop chan struct{}
	done chan struct{}

	// restarts counts the processes supervise started again.
	restarts atomic.Uint64
}

type configuredAs struct {
	gen uint64
	sum [32]byte
}

// processKey identifies a backend process: the storage directory and the
// backend definition, settings aside.
func processKey(storage string, cfg *BackendConfig) string {
	def := definition(cfg)
	b, _ := json.Marshal(def)
	sum := sha256.Sum256(b)
	return storage + "\x00" + hex.EncodeToString(sum[:])
}

// definition is cfg without its settings.
func definition(cfg *BackendConfig) BackendConfig {
	return BackendConfig{Name: cfg.Name, Path: cfg.Path, Args: cfg.Args}
}

// loadProcess returns the running process of cfg's backend definition,
// starting it if none runs; release it with plugins.Delete(key).
func loadProcess(s *shared, storage string, cfg *BackendConfig, logger *zap.Logger) (*backendProcess, string, error) {
	key := processKey(storage, cfg)
	val, _, err := plugins.LoadOrNew(key, func() (caddy.Destructor, error) {
		return startBackendProcess(s, definition(cfg), logger)
	})
	if err != nil {
		return nil, "", err
	}
	return val.(*backendProcess), key, nil
}

// startBackendProcess launches and describes a backend; an error (a
// binary that does not start, a plugin of another protocol version) fails
// the config load with the backend's message.
func startBackendProcess(s *shared, def BackendConfig, logger *zap.Logger) (*backendProcess, error) {
	p := &backendProcess{
		def:        def,
		shared:     s,
		logger:     logger.With(zap.String("backend", def.Name)),
		configured: map[string]configuredAs{},
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if def.Name == "exec" {
		p.logger = p.logger.With(zap.String("path", def.Path))
	}
	pl, desc, err := p.launch()
	// A process that fails its handshake is tried again a few times: a
	// loaded machine can garble or lose the first one, and one such hiccup
	// must not reject the whole config.
	for attempt := 1; err != nil && errors.Is(err, errLaunch) && attempt < launchAttempts; attempt++ {
		p.logger.Warn("backend process did not start; trying again", zap.Error(err), zap.Int("attempt", attempt))
		time.Sleep(time.Duration(attempt) * 250 * time.Millisecond)
		pl, desc, err = p.launch()
	}
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", def.Name, err)
	}
	p.plugin, p.desc, p.gen = pl, desc, 1
	go p.supervise()
	return p, nil
}

// errLaunch marks a process that did not start or failed its handshake.
var errLaunch = errors.New("starting")

// launchAttempts is how often a backend's first start is tried before the
// config load fails.
const launchAttempts = 3

// launch starts the process and asks it to describe itself.
func (p *backendProcess) launch() (*sdk.Plugin, *sdk.DescribeResponse, error) {
	cmd, err := backendCommand(&p.def)
	if err != nil {
		return nil, nil, err
	}
	pl, err := sdk.Launch(sdk.LaunchConfig{Cmd: cmd, Logger: newZapHCLog(p.logger.Named("plugin"))})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errLaunch, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	desc, err := pl.Backend().Describe(ctx, &sdk.DescribeRequest{})
	if err != nil {
		pl.Kill()
		return nil, nil, fmt.Errorf("describing: %w", err)
	}
	return pl, desc, nil
}

// supervise restarts the process when it exits, with backoff, and wakes
// the delivery of every tenant it serves when it is back.
func (p *backendProcess) supervise() {
	defer close(p.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		exited := p.plugin.Exited()
		p.mu.Unlock()
		if !exited {
			continue
		}
		p.logger.Warn("backend process exited; restarting it")
		for wait := 250 * time.Millisecond; ; wait = min(wait*2, 30*time.Second) {
			pl, desc, err := p.launch()
			if err == nil {
				p.mu.Lock()
				p.plugin, p.desc = pl, desc
				p.gen++
				clear(p.configured)
				p.mu.Unlock()
				p.restarts.Add(1)
				p.logger.Info("backend process restarted")
				// Setting the targets again ends delivery's backoff at once.
				p.shared.reattachProcess(p)
				break
			}
			p.logger.Error("restarting backend process", zap.Error(err), zap.Duration("retry_in", wait))
			select {
			case <-p.stop:
				return
			case <-time.After(wait):
			}
		}
	}
}

// description returns what the running process said of itself.
func (p *backendProcess) description() *sdk.DescribeResponse {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.desc
}

// forget makes the process configure tenant again before its next call.
func (p *backendProcess) forget(tenant string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.configured, tenant)
}

// Destruct stops the process when no config uses it any more.
func (p *backendProcess) Destruct() error {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	p.plugin.Kill()
	return nil
}

// tenantBackend is one tenant's use of a backend process, with the
// tenant's settings in one config: the tenant's delivery Target, and what
// the admin API inspects and runs actions through.
type tenantBackend struct {
	proc     *backendProcess
	tenant   string
	settings json.RawMessage
	sum      [32]byte
	dataDir  string
}

// newTenantBackend binds tenant, with settings, to proc. Nothing is sent to
// the process until configure or the first call.
func newTenantBackend(proc *backendProcess, storage, tenant string, settings json.RawMessage) *tenantBackend {
	return &tenantBackend{
		proc:     proc,
		tenant:   tenant,
		settings: settings,
		sum:      sha256.Sum256(settings),
		dataDir:  filepath.Join(storage, "backends", tenant),
	}
}

// errRestarting is returned while the process is being restarted; delivery
// retries.
var errRestarting = sdk.Unavailable("the backend process is restarting")

// configure makes sure the process has this tenant configured with these
// settings, and returns the process's client. Settings the backend refuses
// come back as its Invalid error.
func (t *tenantBackend) configure(ctx context.Context) (*sdk.Client, error) {
	p := t.proc
	p.mu.Lock()
	pl, gen, done := p.plugin, p.gen, p.configured[t.tenant] == configuredAs{gen: p.gen, sum: t.sum}
	p.mu.Unlock()
	if pl.Exited() {
		return nil, errRestarting
	}
	if done {
		return pl.Backend(), nil
	}
	// A backend answers Unavailable while a tenant's data directory is
	// still held by a process of a host that died a moment ago; wait that
	// out, within the caller's time. Invalid settings fail at once.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req := &sdk.ConfigureRequest{Tenant: t.tenant, Settings: t.settings, DataDir: t.dataDir}
	var err error
	for wait := 100 * time.Millisecond; ; wait = min(wait*2, 2*time.Second) {
		_, err = pl.Backend().Configure(ctx, req)
		if err == nil || sdk.IsInvalid(err) || ctx.Err() != nil || pl.Exited() {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("configuring tenant %s: %w", t.tenant, err)
	}
	p.mu.Lock()
	if p.gen == gen {
		p.configured[t.tenant] = configuredAs{gen: gen, sum: t.sum}
	}
	p.mu.Unlock()
	return pl.Backend(), nil
}

// Apply implements delivery.Target.
func (t *tenantBackend) Apply(ctx context.Context, events []change.Event) (uint64, error) {
	c, err := t.configure(ctx)
	if err != nil {
		if sdk.IsInvalid(err) {
			// Settings the backend now refuses are not the events' fault:
			// retry (and show the error) rather than dead-letter them.
			return 0, sdk.Unavailable("%v", err)
		}
		return 0, err
	}
	req := &sdk.ApplyRequest{Tenant: t.tenant, Changes: make([]sdk.Change, len(events))}
	for i, ev := range events {
		req.Changes[i] = toSDK(ev)
	}
	resp, err := c.Apply(ctx, req)
	var through uint64
	if resp != nil {
		through = resp.AppliedThrough
	}
	return through, err
}

// required returns the user attributes the backend requires.
func (t *tenantBackend) required() []string {
	return t.proc.description().RequiredUserAttributes
}

// attach makes t the tenant's delivery target. The one it replaces stays
// listed: a reload that Caddy then rejects detaches t, and the running
// config's target must become the target again.
func (s *shared) attach(tenant string, t *tenantBackend) {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	s.hosts[tenant] = append(s.hosts[tenant], t)
	s.deliverer.SetTarget(tenant, t)
}

// detach removes t; if t was the tenant's target, the most recently
// attached one still listed takes its place (and configures its own
// settings before its next call).
func (s *shared) detach(tenant string, t *tenantBackend) {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	list := s.hosts[tenant]
	for i, x := range list {
		if x != t {
			continue
		}
		current := i == len(list)-1
		list = append(list[:i:i], list[i+1:]...)
		switch {
		case len(list) == 0:
			delete(s.hosts, tenant)
			s.deliverer.RemoveTarget(tenant)
		case current:
			s.hosts[tenant] = list
			s.deliverer.SetTarget(tenant, list[len(list)-1])
		default:
			s.hosts[tenant] = list
		}
		return
	}
}

// detachAll removes every target of tenant, of every config, and stops
// its delivery: for a tenant that is disabled or purged.
func (s *shared) detachAll(tenant string) {
	s.hostsMu.Lock()
	delete(s.hosts, tenant)
	s.hostsMu.Unlock()
	s.deliverer.RemoveTarget(tenant)
}

// reattachProcess sets each tenant whose current target runs on p as its
// target again, which wakes its delivery out of any backoff.
func (s *shared) reattachProcess(p *backendProcess) {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	for tenant, list := range s.hosts {
		if cur := list[len(list)-1]; cur.proc == p {
			s.deliverer.SetTarget(tenant, cur)
		}
	}
}

// host returns the tenant's current backend, or nil.
func (s *shared) host(tenant string) *tenantBackend {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	if list := s.hosts[tenant]; len(list) > 0 {
		return list[len(list)-1]
	}
	return nil
}

// resolveSettings replaces placeholders such as {env.WEBHOOK_SECRET} in
// every string of a settings object, so secrets stay out of the config.
func resolveSettings(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return raw, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("backend settings are not a JSON object: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("backend settings must be a JSON object")
	}
	repl := caddy.NewReplacer()
	var walk func(any) any
	walk = func(x any) any {
		switch y := x.(type) {
		case string:
			return repl.ReplaceKnown(y, "")
		case []any:
			for i := range y {
				y[i] = walk(y[i])
			}
		case map[string]any:
			for k := range y {
				y[k] = walk(y[k])
			}
		}
		return x
	}
	return json.Marshal(walk(v))
}

// Interface guards
var (
	_ delivery.Target  = (*tenantBackend)(nil)
	_ caddy.Destructor = (*backendProcess)(nil)
)
