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

// plugins shares running backend processes between configs: a reload that
// keeps a tenant's backend configuration keeps its process.
var plugins = caddy.NewUsagePool()

// backendCommand returns the command that runs a backend. Built-in
// backends run from this same binary through the hidden
// "caddy scim-backend NAME" subcommand; "exec" runs the vendor's binary.
// Tests replace it.
var backendCommand = func(cfg *BackendConfig) (*exec.Cmd, error) {
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

// pluginHost runs one tenant's backend process: it launches it, describes
// and configures it, restarts it with backoff when it exits, and is the
// delivery Target of the tenant.
type pluginHost struct {
	tenant  string
	cfg     BackendConfig
	dataDir string
	shared  *shared
	logger  *zap.Logger

	mu     sync.Mutex
	plugin *sdk.Plugin
	desc   *sdk.DescribeResponse

	stop chan struct{}
	done chan struct{}

	// restarts counts the processes supervise started again.
	restarts atomic.Uint64
}

// pluginKey identifies a backend process: the storage directory, the
// tenant and the whole backend configuration.
func pluginKey(storage, tenant string, cfg *BackendConfig) string {
	b, _ := json.Marshal(cfg)
	sum := sha256.Sum256(b)
	return storage + "\x00" + tenant + "\x00" + hex.EncodeToString(sum[:])
}

// startPluginHost launches and configures a backend; an error (a binary
// that does not start, settings the backend refuses) fails the config
// load with the backend's message.
func startPluginHost(s *shared, storage, tenant string, cfg BackendConfig, logger *zap.Logger) (*pluginHost, error) {
	h := &pluginHost{
		tenant: tenant,
		cfg:    cfg,
		shared: s,
		logger: logger.With(zap.String("tenant", tenant), zap.String("backend", cfg.Name)),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	h.dataDir = filepath.Join(storage, "backends", tenant)
	if err := os.MkdirAll(h.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory of tenant %s's backend: %w", tenant, err)
	}
	p, desc, err := h.launch()
	// A process that fails its handshake is tried again a few times: a
	// loaded machine can garble or lose the first one, and one such hiccup
	// must not reject the whole config. Settings the backend refuses fail
	// at once.
	for attempt := 1; err != nil && errors.Is(err, errLaunch) && attempt < launchAttempts; attempt++ {
		h.logger.Warn("backend process did not start; trying again", zap.Error(err), zap.Int("attempt", attempt))
		time.Sleep(time.Duration(attempt) * 250 * time.Millisecond)
		p, desc, err = h.launch()
	}
	if err != nil {
		return nil, fmt.Errorf("tenant %s: backend %s: %w", tenant, cfg.Name, err)
	}
	h.plugin, h.desc = p, desc
	s.attach(tenant, h)
	go h.supervise()
	return h, nil
}

// errLaunch marks a process that did not start or failed its handshake.
var errLaunch = errors.New("starting")

// launchAttempts is how often a backend's first start is tried before the
// config load fails.
const launchAttempts = 3

// launch starts the process and hands it its configuration.
func (h *pluginHost) launch() (*sdk.Plugin, *sdk.DescribeResponse, error) {
	cmd, err := backendCommand(&h.cfg)
	if err != nil {
		return nil, nil, err
	}
	p, err := sdk.Launch(sdk.LaunchConfig{Cmd: cmd, Logger: newZapHCLog(h.logger.Named("plugin"))})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errLaunch, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	desc, err := p.Backend().Describe(ctx, &sdk.DescribeRequest{})
	if err != nil {
		p.Kill()
		return nil, nil, fmt.Errorf("describing: %w", err)
	}
	// A backend answers Unavailable while its data directory is still held
	// by a process of a host that died a moment ago; wait that out. Invalid
	// settings fail at once.
	req := &sdk.ConfigureRequest{Tenant: h.tenant, Settings: h.cfg.Settings, DataDir: h.dataDir}
	for wait := 100 * time.Millisecond; ; wait = min(wait*2, 2*time.Second) {
		_, err = p.Backend().Configure(ctx, req)
		if err == nil || sdk.IsInvalid(err) || ctx.Err() != nil || p.Exited() {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if err != nil {
		p.Kill()
		return nil, nil, fmt.Errorf("configuring: %w", err)
	}
	return p, desc, nil
}

// supervise restarts the process when it exits, with backoff, and wakes
// delivery when it is back.
func (h *pluginHost) supervise() {
	defer close(h.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-tick.C:
		}
		h.mu.Lock()
		exited := h.plugin.Exited()
		h.mu.Unlock()
		if !exited {
			continue
		}
		h.logger.Warn("backend process exited; restarting it")
		for wait := 250 * time.Millisecond; ; wait = min(wait*2, 30*time.Second) {
			p, desc, err := h.launch()
			if err == nil {
				h.mu.Lock()
				h.plugin, h.desc = p, desc
				h.mu.Unlock()
				h.restarts.Add(1)
				h.logger.Info("backend process restarted")
				// Setting the target again ends delivery's backoff at once.
				h.shared.reattach(h.tenant, h)
				break
			}
			h.logger.Error("restarting backend process", zap.Error(err), zap.Duration("retry_in", wait))
			select {
			case <-h.stop:
				return
			case <-time.After(wait):
			}
		}
	}
}

// errRestarting is returned while the process is being restarted; delivery
// retries.
var errRestarting = sdk.Unavailable("the backend process is restarting")

// Apply implements delivery.Target.
func (h *pluginHost) Apply(ctx context.Context, events []change.Event) (uint64, error) {
	h.mu.Lock()
	p := h.plugin
	h.mu.Unlock()
	if p.Exited() {
		return 0, errRestarting
	}
	req := &sdk.ApplyRequest{Tenant: h.tenant, Changes: make([]sdk.Change, len(events))}
	for i, ev := range events {
		req.Changes[i] = toSDK(ev)
	}
	resp, err := p.Backend().Apply(ctx, req)
	var through uint64
	if resp != nil {
		through = resp.AppliedThrough
	}
	return through, err
}

// client returns the running process's client.
func (h *pluginHost) client() *sdk.Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.plugin.Backend()
}

// required returns the user attributes the backend requires.
func (h *pluginHost) required() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.desc.RequiredUserAttributes
}

// Destruct stops the process when no config uses it any more.
func (h *pluginHost) Destruct() error {
	close(h.stop)
	<-h.done
	h.shared.detach(h.tenant, h)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.plugin.Kill()
	return nil
}

// attach makes h the tenant's delivery target. The host it replaces stays
// listed: a reload that Caddy then rejects destroys h, and the running
// config's host must become the target again.
func (s *shared) attach(tenant string, h *pluginHost) {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	s.hosts[tenant] = append(s.hosts[tenant], h)
	s.deliverer.SetTarget(tenant, h)
}

// detach removes h; if h was the tenant's target, the most recently
// attached host still running takes its place.
func (s *shared) detach(tenant string, h *pluginHost) {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	list := s.hosts[tenant]
	for i, x := range list {
		if x != h {
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

// reattach sets h as the tenant's target again, if it still is the
// current host, which wakes delivery out of any backoff.
func (s *shared) reattach(tenant string, h *pluginHost) {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	if list := s.hosts[tenant]; len(list) > 0 && list[len(list)-1] == h {
		s.deliverer.SetTarget(tenant, h)
	}
}

// host returns the tenant's current backend host, or nil.
func (s *shared) host(tenant string) *pluginHost {
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
	_ delivery.Target  = (*pluginHost)(nil)
	_ caddy.Destructor = (*pluginHost)(nil)
)
