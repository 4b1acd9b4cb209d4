package caddymodule

import (
	"net/http"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// Log keys shared by more than one log line.
const (
	logKeyReason      = "reason"
	logKeyAccessToken = "access_token"
	logKeyRemoteAddr  = "remote_addr"
	logKeyClientIP    = "client_ip"
)

// Reasons a request was not authenticated, as logged with its 401. They
// are stable: operators filter on them.
const (
	// authMultipleHeaders: more than one Authorization header.
	authMultipleHeaders = "multiple_headers"
	// authMissing: no Authorization header, or an empty one.
	authMissing = "missing"
	// authNotBearer: an Authorization header of another scheme, or
	// "Bearer" with no token.
	authNotBearer = "not_bearer"
	// authInvalid: a bearer token that is not one of this tenant's: unknown,
	// another tenant's, or malformed.
	authInvalid = "invalid"
	// authRevoked: the tenant's token was replaced or revoked.
	authRevoked = "revoked"
	// authExpired: the token outlived its validity.
	authExpired = "expired"
)

// authReason is the logged reason of a failed authentication with the
// given Authorization header value.
func authReason(authorization string, ae *tokens.AuthError) string {
	switch ae.Reason {
	case tokens.Missing:
		if strings.TrimSpace(authorization) == "" {
			return authMissing
		}
		return authNotBearer
	case tokens.Revoked:
		return authRevoked
	case tokens.Expired:
		return authExpired
	}
	return authInvalid
}

// authFields describe a failed authentication for the request log: the
// reason and whether the credential was an OAuth access token. Never the
// token, nor its hash.
func authFields(authorization string, ae *tokens.AuthError) []zap.Field {
	fields := []zap.Field{zap.String(logKeyReason, authReason(authorization, ae))}
	if ae.AccessToken {
		fields = append(fields, zap.Bool(logKeyAccessToken, true))
	}
	return fields
}

// clientFields are the address the request came from, r.RemoteAddr, and
// the client's IP as Caddy determined it (which differs behind a trusted
// proxy), when Caddy set one.
func clientFields(r *http.Request) []zap.Field {
	fields := []zap.Field{zap.String(logKeyRemoteAddr, r.RemoteAddr)}
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		fields = append(fields, zap.String(logKeyClientIP, ip))
	}
	return fields
}

// clientIP is the client's IP as Caddy determined it, or else the
// connection's remote address.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return r.RemoteAddr
}

// servedBackend is one backend process in the start line: its name, its
// version as it describes itself, the config's tenants it serves and how
// many runtime tenants it serves.
type servedBackend struct {
	name, path, version string
	tenants             []string
	runtime             int
	profiles            []string
}

func (b *servedBackend) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("name", b.name)
	if b.path != "" {
		enc.AddString("path", b.path)
	}
	if b.version != "" {
		enc.AddString("version", b.version)
	}
	if len(b.profiles) > 0 {
		enc.AddInt("runtime_tenants", b.runtime)
		if err := enc.AddArray("profiles", stringArray(b.profiles)); err != nil {
			return err
		}
	}
	return enc.AddArray("tenants", stringArray(b.tenants))
}

type stringArray []string

func (a stringArray) MarshalLogArray(ae zapcore.ArrayEncoder) error {
	for _, s := range a {
		ae.AppendString(s)
	}
	return nil
}

type servedBackends []*servedBackend

func (bs servedBackends) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, b := range bs {
		if err := enc.AppendObject(b); err != nil {
			return err
		}
	}
	return nil
}

// servingFields summarize what this config serves: the number of tenants
// (those declared in the config and those enabled at runtime), the
// storage, the handlers' prefixes, and each backend process with the
// declared tenants it serves (tenants without a backend are listed under
// "none") and its number of runtime tenants. Runtime tenants are counted,
// never listed: there may be thousands.
func (a *App) servingFields() []zap.Field {
	a.reg.mu.RLock()
	defer a.reg.mu.RUnlock()
	prefixes := map[string]bool{}
	groups := map[[3]string]*servedBackend{}
	group := func(cfg *BackendConfig, proc *backendProcess) *servedBackend {
		b := servedBackend{name: "none"}
		if cfg != nil {
			b.name = cfg.Name
			if cfg.Name == "exec" {
				b.path = cfg.Path
			}
			if proc != nil {
				if d := proc.description(); d != nil {
					b.version = d.Version
				}
			}
		}
		key := [3]string{b.name, b.path, b.version}
		g := groups[key]
		if g == nil {
			g = &b
			groups[key] = g
		}
		return g
	}
	for name, reg := range a.reg.tenants {
		prefixes[reg.handler.Prefix] = true
		var proc *backendProcess
		if reg.backend != nil {
			proc = reg.backend.proc
		}
		g := group(reg.tenant.Backend, proc)
		g.tenants = append(g.tenants, name)
	}
	perProfile := map[string]int{}
	for _, reg := range a.reg.runtime {
		perProfile[reg.profile]++
	}
	for name, pr := range a.reg.profiles {
		prefixes[pr.handler.Prefix] = true
		g := group(pr.profile.Backend, pr.proc)
		g.profiles = append(g.profiles, name)
		g.runtime += perProfile[name]
	}
	backends := make(servedBackends, 0, len(groups))
	for _, g := range groups {
		sort.Strings(g.tenants)
		sort.Strings(g.profiles)
		if g.tenants == nil {
			g.tenants = []string{}
		}
		backends = append(backends, g)
	}
	sort.Slice(backends, func(i, j int) bool {
		x, y := backends[i], backends[j]
		if x.name != y.name {
			return x.name < y.name
		}
		if x.path != y.path {
			return x.path < y.path
		}
		return x.version < y.version
	})
	paths := make([]string, 0, len(prefixes))
	for p := range prefixes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return []zap.Field{
		zap.Int("tenants", len(a.reg.tenants)+len(a.reg.runtime)),
		zap.Int("static_tenants", len(a.reg.tenants)),
		zap.Int("runtime_tenants", len(a.reg.runtime)),
		zap.String("storage", a.engineName()),
		zap.String("storage_dir", a.StorageDir),
		zap.Strings("prefixes", paths),
		zap.Array("backends", backends),
	}
}

// logServing writes the line that says what this config serves, once per
// start: at Caddy's start and after each reload that succeeded.
func (a *App) logServing() {
	a.logger.Info("scim serving", a.servingFields()...)
	if names := a.localBackends(); len(names) > 0 && a.engineName() == enginePostgres {
		a.logger.Warn("built-in backends keep their product store on this instance's disk, not in PostgreSQL",
			zap.Strings("backends", names), zap.String("storage_dir", a.StorageDir),
			zap.String("hint", "with several instances each would hold only the changes it delivered: run one instance, or use backend exec with a backend that writes to the product's own store"))
	}
}

// localBackends names the built-in backends this config runs, which keep
// their product store under storage_dir.
func (a *App) localBackends() []string {
	a.reg.mu.RLock()
	defer a.reg.mu.RUnlock()
	seen := map[string]bool{}
	add := func(cfg *BackendConfig) {
		if cfg == nil || cfg.Name == "exec" {
			return
		}
		if _, ok := builtins[cfg.Name]; ok {
			seen[cfg.Name] = true
		}
	}
	for _, reg := range a.reg.tenants {
		add(reg.tenant.Backend)
	}
	for _, pr := range a.reg.profiles {
		add(pr.profile.Backend)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
