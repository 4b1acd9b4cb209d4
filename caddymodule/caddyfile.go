package caddymodule

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/dustin/go-humanize"

	"github.com/caddy-scim/caddy-scim/adapter/tenants"
)

func init() {
	// RegisterDirective rather than RegisterHandlerDirective: the latter
	// would read a path argument ("scim /custom/prefix") as a matcher.
	httpcaddyfile.RegisterDirective("scim", parseDirective)
	// SCIM authenticates with its own bearer tokens, so it goes before
	// basic_auth and forward_auth, which would refuse an IdP.
	httpcaddyfile.RegisterDirectiveOrder("scim", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterGlobalOption("scim", parseGlobalOption)
}

func parseDirective(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	var handler Handler
	if err := handler.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return h.NewRoute(nil, &handler), nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	scim [<prefix>] {
//		prefix        <path>
//		public_url    <https://host[:port]>
//		max_results   <n>
//		max_body_size <size>
//		max_bulk_operations <n>
//		max_bulk_size <size>
//		tenant <name> {
//			token_validity   <duration>
//			rotation_overlap <duration>
//			rate_limit       <requests> <window>
//			oauth {
//				access_token_lifetime <duration>
//			}
//			backend <pharos|hpinsights|keepnet> {
//				<setting> <value...>
//			}
//			backend exec <path> [<args...>] {
//				<setting> <value...>
//			}
//		}
//		runtime_tenants [<profile>] {
//			<the options of a tenant block>
//			connections <n>
//		}
//	}
//
// runtime_tenants lets tenants be enabled at runtime, through the admin
// API or "caddy scim tenant add", without a reload: its options are what
// such tenants get (their backend and its default settings, token
// validity, rotation overlap, rate limit). Give each block a profile name
// when a config has several; a runtime tenant names its profile.
//
// A tenant without settings may be given on one line: tenant <name>.
// Durations accept Caddy's units, including d for days (365d).
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		h.Prefix = d.Val()
		if !strings.HasPrefix(h.Prefix, "/") {
			return d.Errf("scim takes a path prefix such as /scim/v2, not %q; it needs no matcher (it only answers under its prefix)", h.Prefix)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "prefix":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Prefix = d.Val()
		case "public_url":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.PublicURL = d.Val()
		case "max_results":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n <= 0 {
				return d.Errf("max_results must be a positive integer, got %q", d.Val())
			}
			h.MaxResults = n
		case "max_body_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 || n > 1<<30 {
				return d.Errf("max_body_size must be a size such as 1MiB (at most 1GiB), got %q", d.Val())
			}
			h.MaxBodyBytes = int64(n)
		case "max_bulk_operations":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n <= 0 {
				return d.Errf("max_bulk_operations must be a positive integer, got %q", d.Val())
			}
			h.MaxBulkOperations = n
		case "max_bulk_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 || n > 1<<30 {
				return d.Errf("max_bulk_size must be a size such as 4MiB (at most 1GiB), got %q", d.Val())
			}
			h.MaxBulkBytes = int64(n)
		case "tenant":
			if err := h.unmarshalTenant(d); err != nil {
				return err
			}
		case "runtime_tenants":
			if err := h.unmarshalRuntimeTenants(d); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized scim option %q", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

func (h *Handler) unmarshalTenant(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Err("tenant needs a name")
	}
	name := d.Val()
	if err := tenants.CheckName(name); err != nil {
		return d.Err(err.Error())
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	if h.Tenants == nil {
		h.Tenants = map[string]*Tenant{}
	}
	if _, dup := h.Tenants[name]; dup {
		return d.Errf("tenant %q is declared twice", name)
	}
	t := &Tenant{}
	if err := unmarshalTenantBody(d, t, "tenant", nil); err != nil {
		return err
	}
	h.Tenants[name] = t
	return nil
}

// unmarshalRuntimeTenants reads a runtime_tenants block: the profile of
// the tenants enabled at runtime.
func (h *Handler) unmarshalRuntimeTenants(d *caddyfile.Dispenser) error {
	p := &RuntimeProfile{Name: DefaultProfile}
	if d.NextArg() {
		p.Name = d.Val()
		if err := tenants.CheckName(p.Name); err != nil {
			return d.Errf("runtime_tenants profile name %q: %s", p.Name, tenants.NameRule)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for _, other := range h.RuntimeTenants {
		if other.Name == p.Name {
			return d.Errf("runtime_tenants %s is declared twice; give each block its own profile name: runtime_tenants <profile> { … }", p.Name)
		}
	}
	if err := unmarshalTenantBody(d, &p.Tenant, "runtime_tenants", func(opt string) (bool, error) {
		if opt != "connections" {
			return false, nil
		}
		if !d.NextArg() {
			return true, d.ArgErr()
		}
		n, err := strconv.Atoi(d.Val())
		if err != nil || n < 0 || n > maxConnections {
			return true, d.Errf("connections must be a number from 0 to %d, got %q", maxConnections, d.Val())
		}
		p.Connections = n
		return true, nil
	}); err != nil {
		return err
	}
	h.RuntimeTenants = append(h.RuntimeTenants, p)
	return nil
}

// unmarshalTenantBody reads the options of a tenant or runtime_tenants
// block into t; extra, when set, reads the options only that block has
// and reports whether it knew opt.
func unmarshalTenantBody(d *caddyfile.Dispenser, t *Tenant, block string, extra func(opt string) (bool, error)) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if extra != nil {
			known, err := extra(opt)
			if err != nil {
				return err
			}
			if known {
				if d.NextArg() {
					return d.ArgErr()
				}
				continue
			}
		}
		switch opt {
		case "token_validity", "rotation_overlap":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur < 0 {
				return d.Errf("%s: %q is not a duration such as 24h or 365d", opt, d.Val())
			}
			if opt == "token_validity" {
				if dur == 0 {
					return d.Err("token_validity must be longer than 0")
				}
				t.TokenValidity = caddy.Duration(dur)
			} else {
				t.RotationOverlap = caddy.Duration(dur)
			}
		case "rate_limit":
			rl, err := unmarshalRateLimit(d)
			if err != nil {
				return err
			}
			t.RateLimit = rl
		case "oauth":
			if t.OAuth != nil {
				return d.Err("oauth is given twice")
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			o, err := unmarshalOAuth(d)
			if err != nil {
				return err
			}
			t.OAuth = o
			continue
		case "backend":
			if t.Backend != nil {
				if block == "tenant" {
					return d.Err("a tenant has one backend")
				}
				return d.Errf("a %s block has one backend", block)
			}
			b, err := unmarshalBackend(d)
			if err != nil {
				return err
			}
			t.Backend = b
			continue
		default:
			return d.Errf("unrecognized %s option %q", block, opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// unmarshalRateLimit reads "rate_limit <requests> <window>".
func unmarshalRateLimit(d *caddyfile.Dispenser) (*RateLimit, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	n, err := strconv.Atoi(d.Val())
	if err != nil || n <= 0 {
		return nil, d.Errf("rate_limit: %q is not a positive number of requests; use rate_limit <requests> <window>, such as rate_limit 100 1s", d.Val())
	}
	if !d.NextArg() {
		return nil, d.Err("rate_limit needs a window after the number of requests, such as rate_limit 100 1s")
	}
	dur, err := caddy.ParseDuration(d.Val())
	if err != nil || dur <= 0 {
		return nil, d.Errf("rate_limit: %q is not a positive duration such as 1s or 1m", d.Val())
	}
	return &RateLimit{Requests: n, Window: caddy.Duration(dur)}, nil
}

// unmarshalOAuth reads the block of "oauth { access_token_lifetime <d> }".
func unmarshalOAuth(d *caddyfile.Dispenser) (*OAuth, error) {
	o := &OAuth{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "access_token_lifetime":
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur < time.Second || dur > maxAccessTokenLifetime {
				return nil, d.Errf("access_token_lifetime: %q is not a duration between 1s and 24h, such as 1h", d.Val())
			}
			o.AccessTokenLifetime = caddy.Duration(dur)
		default:
			return nil, d.Errf("unrecognized oauth option %q", opt)
		}
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	return o, nil
}

// parseGlobalOption configures the scim app. Syntax:
//
//	{
//		scim {
//			storage badger [<dir>]
//			storage postgres <dsn> {
//				max_conns <n>
//				instance  <name>
//			}
//			storage_dir       <path>
//			flush_interval    <duration>
//			cache_size        <size>
//			index_cache_size  <size>
//			memtable_size     <size>
//			journal_retention <duration>
//		}
//	}
//
// storage chooses the engine: badger (the default) keeps everything in
// an embedded database in <dir> (the same as storage_dir); postgres keeps
// it in a PostgreSQL database that several instances share, the DSN
// usually from a placeholder such as {env.SCIM_DATABASE_URL}.
//
// The sizes are the store's memory and journal_retention how long
// delivered changes stay in its journal (see App); they apply when the
// store is opened, so a change takes effect at the next restart.
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "scim", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the scim global option.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "storage_dir":
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.StorageDir = d.Val()
		case "storage":
			if err := a.unmarshalStorage(d); err != nil {
				return err
			}
			continue
		case "flush_interval":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return d.Errf("flush_interval: %q is not a positive duration", d.Val())
			}
			a.FlushInterval = caddy.Duration(dur)
		case "journal_retention":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur < time.Hour {
				return d.Errf("journal_retention: %q is not a duration of at least 1h, such as 7d", d.Val())
			}
			a.JournalRetention = caddy.Duration(dur)
		case "cache_size", "index_cache_size", "memtable_size":
			opt := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			lo, hi := uint64(1<<20), uint64(64<<30)
			if opt == "memtable_size" {
				lo, hi = 4<<20, 1<<30
			}
			if err != nil || n < lo || n > hi {
				return d.Errf("%s must be a size such as 64MiB, from %s to %s, got %q", opt, humanize.IBytes(lo), humanize.IBytes(hi), d.Val())
			}
			switch opt {
			case "cache_size":
				a.CacheSize = int64(n)
			case "index_cache_size":
				a.IndexCacheSize = int64(n)
			default:
				a.MemTableSize = int64(n)
			}
		default:
			return d.Errf("unrecognized scim global option %q", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// unmarshalStorage parses the storage option, which takes its arguments
// and, for postgres, a block.
func (a *App) unmarshalStorage(d *caddyfile.Dispenser) error {
	if a.Storage != nil {
		return d.Err("storage is set twice")
	}
	if !d.NextArg() {
		return d.Err("storage: expected badger [<dir>] or postgres <dsn>")
	}
	switch d.Val() {
	case engineBadger:
		if d.NextArg() {
			a.StorageDir = d.Val()
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		if d.NextBlock(d.Nesting()) {
			return d.Err("storage badger takes no block; its memory settings are options of scim")
		}
		a.Storage = &Storage{Engine: engineBadger}
	case enginePostgres:
		st := &Storage{Engine: enginePostgres}
		if !d.NextArg() {
			return d.Err("storage postgres: expected a DSN, such as {env.SCIM_DATABASE_URL}")
		}
		st.DSN = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			switch d.Val() {
			case "max_conns":
				if !d.NextArg() {
					return d.ArgErr()
				}
				n, err := strconv.ParseInt(d.Val(), 10, 32)
				if err != nil || n < 1 {
					return d.Errf("max_conns: %q is not a positive number", d.Val())
				}
				st.MaxConns = int32(n)
			case "instance":
				if !d.NextArg() {
					return d.ArgErr()
				}
				st.Instance = d.Val()
			default:
				return d.Errf("unrecognized storage postgres option %q", d.Val())
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		}
		a.Storage = st
	default:
		return d.Errf("storage: unknown engine %q; use badger or postgres", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*App)(nil)
)

// unmarshalBackend reads "backend <name> { … }" or
// "backend exec <path> [<args…>] { … }". Each line of the block becomes a
// settings key: one value a string, several an array of strings, no value
// "true"; a key on several lines an array of those.
func unmarshalBackend(d *caddyfile.Dispenser) (*BackendConfig, error) {
	if !d.NextArg() {
		return nil, d.Err("backend needs a name: pharos, hpinsights, keepnet, or exec <path>")
	}
	b := &BackendConfig{Name: d.Val()}
	if b.Name == "exec" {
		if !d.NextArg() {
			return nil, d.Err("backend exec needs the path of the plugin binary")
		}
		b.Path = d.Val()
		b.Args = d.RemainingArgs()
	} else if d.NextArg() {
		return nil, d.ArgErr()
	}
	settings := map[string]any{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		args := d.RemainingArgs()
		var v any
		switch len(args) {
		case 0:
			v = "true"
		case 1:
			v = args[0]
		default:
			v = args
		}
		prev, seen := settings[key]
		if !seen {
			settings[key] = v
			continue
		}
		list, isList := prev.([]any)
		if !isList {
			list = []any{prev}
		}
		settings[key] = append(list, v)
	}
	if len(settings) > 0 {
		raw, err := json.Marshal(settings)
		if err != nil {
			return nil, d.Errf("backend settings: %v", err)
		}
		b.Settings = raw
	}
	return b, nil
}
