package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/tenants"
)

// DefaultProfile is the name of a runtime_tenants block given none.
const DefaultProfile = "default"

// RuntimeProfile lets tenants be enabled at runtime — through the admin
// API (PUT /scim/tenants/{name}) or "caddy scim tenant add" — without
// editing the config or reloading: they are kept in the store. The
// embedded Tenant options are what such tenants get: the backend and its
// default settings, token validity, rotation overlap, rate limit and OAuth
// options; a runtime tenant may override the settings (key by key), token
// validity, rotation overlap and rate limit.
type RuntimeProfile struct {
	// Name names the profile; runtime tenants name the profile they
	// belong to. Defaults to "default". Unique within a config.
	Name string `json:"name,omitempty"`
	// Connections is how many named SCIM connections the admin of a
	// tenant of this profile may create in the console ("+ New
	// connection"), each a runtime tenant of this profile called
	// <tenant>.<name>, with its own Tenant URL and token. 0, the default,
	// allows none.
	Connections int `json:"connections,omitempty"`
	Tenant
}

// profileReg is a profile of this config and the handler that serves its
// tenants.
type profileReg struct {
	handler *Handler
	profile *RuntimeProfile
	// proc is the profile's backend process once the handler started;
	// procKey its usage-pool key.
	proc *backendProcess
}

// registerProfile records that h serves the runtime tenants of p.
func (a *App) registerProfile(h *Handler, p *RuntimeProfile) error {
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	if other, ok := a.reg.profiles[p.Name]; ok && other.handler != h {
		return fmt.Errorf("runtime_tenants %s is declared by two scim handlers; give each block its own profile name", p.Name)
	}
	a.reg.profiles[p.Name] = &profileReg{handler: h, profile: p}
	return nil
}

// profile returns a profile of this config, or nil.
func (a *App) profile(name string) *profileReg {
	a.reg.mu.RLock()
	defer a.reg.mu.RUnlock()
	return a.reg.profiles[name]
}

// profileNames returns the config's profiles, sorted.
func (a *App) profileNames() []string {
	a.reg.mu.RLock()
	defer a.reg.mu.RUnlock()
	names := make([]string, 0, len(a.reg.profiles))
	for n := range a.reg.profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// runtimeTenants returns the shared registry of runtime tenants, which
// exists once the store is open.
func (a *App) runtimeTenants() *tenants.Registry {
	return a.shared.runtime
}

// effective is the configuration a runtime tenant gets: its profile's,
// with the record's overrides. Settings are merged key by key; the
// record's are taken as given (placeholders are resolved only in the
// config, so a runtime tenant cannot read the server's environment).
func effective(p *RuntimeProfile, rec *tenants.Record) (*Tenant, error) {
	t := p.Tenant
	if rec.TokenValidity > 0 {
		t.TokenValidity = caddy.Duration(rec.TokenValidity)
	}
	if rec.RotationOverlap != nil {
		t.RotationOverlap = caddy.Duration(*rec.RotationOverlap)
	}
	if rl := rec.RateLimit; rl != nil {
		t.RateLimit = &RateLimit{Requests: rl.Requests, Window: caddy.Duration(rl.Window)}
	}
	if p.Backend != nil {
		b := *p.Backend
		settings, err := resolveSettings(b.Settings)
		if err != nil {
			return nil, err
		}
		if b.Settings, err = mergeSettings(settings, rec.Settings); err != nil {
			return nil, err
		}
		t.Backend = &b
	} else if len(rec.Settings) > 0 && string(rec.Settings) != "{}" && string(rec.Settings) != "null" {
		return nil, fmt.Errorf("profile %s has no backend, so its tenants take no backend settings", p.Name)
	}
	return &t, nil
}

// mergeSettings returns base with the top-level keys of over set.
func mergeSettings(base, over json.RawMessage) (json.RawMessage, error) {
	if len(over) == 0 || string(over) == "null" {
		return base, nil
	}
	var o map[string]json.RawMessage
	if err := json.Unmarshal(over, &o); err != nil || o == nil {
		return nil, errors.New("backend settings must be a JSON object")
	}
	m := map[string]json.RawMessage{}
	if len(base) > 0 {
		if err := json.Unmarshal(base, &m); err != nil {
			return nil, fmt.Errorf("the profile's backend settings are not a JSON object: %w", err)
		}
	}
	for k, v := range o {
		m[k] = v
	}
	return json.Marshal(m)
}

// prepareRuntime builds the registration of a runtime tenant of this
// config. With configure set it hands the backend the tenant's settings
// now, so settings the backend refuses fail here, before anything is
// saved.
func (a *App) prepareRuntime(ctx context.Context, rec *tenants.Record, configure bool) (*registration, error) {
	pr := a.profile(rec.Profile)
	if pr == nil {
		return nil, fmt.Errorf("the running config has no runtime_tenants profile %q", rec.Profile)
	}
	t, err := effective(pr.profile, rec)
	if err != nil {
		return nil, err
	}
	reg := &registration{handler: pr.handler, tenant: t, record: rec, profile: rec.Profile}
	if rl := t.RateLimit; rl != nil && rl.Requests > 0 && rl.Window > 0 {
		reg.limit = newBucket(rl.Requests, time.Duration(rl.Window))
	}
	if t.Backend != nil && pr.proc != nil {
		reg.backend = newTenantBackend(pr.proc, a.StorageDir, rec.Name, t.Backend.Settings)
		if configure {
			if _, err := reg.backend.configure(ctx); err != nil {
				return nil, err
			}
		}
	}
	return reg, nil
}

// installRuntime makes a prepared runtime tenant served, replacing its
// previous registration in this config.
func (a *App) installRuntime(reg *registration) {
	name := reg.record.Name
	a.reg.mu.Lock()
	old := a.reg.runtime[name]
	a.reg.runtime[name] = reg
	a.reg.mu.Unlock()
	if reg.backend != nil {
		a.shared.attach(name, reg.backend)
	}
	if old != nil && old.backend != nil {
		a.shared.detach(name, old.backend)
	}
}

// removeRuntime stops serving a runtime tenant in this config and stops
// its delivery; its tokens stop working at once.
func (a *App) removeRuntime(name string) {
	a.reg.mu.Lock()
	delete(a.reg.runtime, name)
	a.reg.mu.Unlock()
	a.shared.detachAll(name)
	a.shared.tokens.Invalidate(name)
}

// loadRuntime serves the enabled runtime tenants of the store whose
// profile this config has. A name the config also declares as a static
// tenant refuses the config. Backends are configured lazily, before each
// tenant's first call, so thousands of tenants start at once.
func (a *App) loadRuntime(ctx context.Context) error {
	rt := a.runtimeTenants()
	missing := map[string]int{}
	regs := make([]*registration, 0, rt.Len())
	for _, rec := range rt.List() {
		if a.staticTenant(rec.Name) != nil {
			return fmt.Errorf("tenant %q is declared in the config and also exists as a runtime tenant; rename the one in the config, or purge the runtime tenant first ('caddy scim tenant purge %s')", rec.Name, rec.Name)
		}
		if rec.Disabled {
			continue
		}
		if a.profile(rec.Profile) == nil {
			missing[rec.Profile]++
			continue
		}
		reg, err := a.prepareRuntime(ctx, &rec, false)
		if err != nil {
			return fmt.Errorf("runtime tenant %s: %w", rec.Name, err)
		}
		regs = append(regs, reg)
	}
	for p, n := range missing {
		a.logger.Warn("runtime tenants of a profile the config does not have are not served",
			zap.String("profile", p), zap.Int("tenants", n))
	}
	for _, reg := range regs {
		a.installRuntime(reg)
	}
	return nil
}

// unloadRuntime detaches this config's runtime tenants' backends. The
// registrations stay: a request of this config still in flight during a
// reload goes on being served.
func (a *App) unloadRuntime() {
	a.reg.mu.RLock()
	regs := make(map[string]*registration, len(a.reg.runtime))
	for name, reg := range a.reg.runtime {
		regs[name] = reg
	}
	a.reg.mu.RUnlock()
	for name, reg := range regs {
		if reg.backend != nil {
			a.shared.detach(name, reg.backend)
		}
	}
}

// staticTenant returns the registration of a tenant declared in the
// config, or nil.
func (a *App) staticTenant(name string) *registration {
	a.reg.mu.RLock()
	defer a.reg.mu.RUnlock()
	return a.reg.tenants[name]
}
