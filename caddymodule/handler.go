package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/requestlog"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/server"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// DefaultPrefix is the path under which tenants are served.
const DefaultPrefix = "/scim/v2"

// Handler serves the SCIM bases of its tenants at Prefix/{tenant} and
// passes every other request to the next handler, so it can sit in front of
// a product's own web app on the same site.
//
// Each request must carry the tenant's bearer token; the tenant's SCIM
// base is its Tenant URL, https://HOST/scim/v2/{tenant} by default.
type Handler struct {
	// Prefix is the URL path under which tenants are served. Defaults to
	// "/scim/v2".
	Prefix string `json:"prefix,omitempty"`
	// PublicURL is the origin IdPs reach this site at, such as
	// "https://scim.example.com", used in the Tenant URL that token
	// generation returns. By default it is derived from the site's address
	// in the running config.
	PublicURL string `json:"public_url,omitempty"`
	// Tenants are the tenants this handler serves, by name. SCIM is off for
	// every tenant not listed here or enabled at runtime: its URL answers
	// 404. Names are 1 to 64 letters, digits, dots, dashes and
	// underscores, starting with a letter or a digit.
	Tenants map[string]*Tenant `json:"tenants,omitempty"`
	// RuntimeTenants are the profiles of the tenants this handler serves
	// that are enabled at runtime, through the admin API or the CLI,
	// rather than listed in Tenants. Without one, no tenant can be enabled
	// at runtime on this handler.
	RuntimeTenants []*RuntimeProfile `json:"runtime_tenants,omitempty"`
	// MaxResults is the largest page a list returns; also the page size
	// when a client asks for none. Defaults to 1,000.
	MaxResults int `json:"max_results,omitempty"`
	// MaxBodyBytes limits request bodies; larger ones get 413. Defaults to
	// 1 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// MaxBulkOperations is the most operations one /Bulk request may carry;
	// more get 413. Defaults to 1,000.
	MaxBulkOperations int `json:"max_bulk_operations,omitempty"`
	// MaxBulkBytes limits /Bulk request bodies; larger ones get 413.
	// Defaults to 1 MiB.
	MaxBulkBytes int64 `json:"max_bulk_bytes,omitempty"`

	app     *App
	srv     *server.Server
	logger  *zap.Logger
	metrics *metrics
	// backends are the backends of this handler's static tenants, and
	// processKeys the usage-pool keys of the processes this handler uses,
	// released at Cleanup.
	backends    map[string]*tenantBackend
	processKeys []string
	oauth       *oauthMetrics
	// cleaned is set by Cleanup, under the app's startMu, so that a late
	// start does not start anything.
	cleaned bool
}

// Tenant is the configuration of one tenant.
type Tenant struct {
	// TokenValidity is how long a generated token is valid. Defaults to
	// one year.
	TokenValidity caddy.Duration `json:"token_validity,omitempty"`
	// RotationOverlap keeps the previous token working for this long after
	// a new one is generated, so the IdP can be updated without a failed
	// sync. Defaults to 0: regenerating revokes the old token at once.
	RotationOverlap caddy.Duration `json:"rotation_overlap,omitempty"`
	// Backend receives the tenant's changes. Without one, changes are
	// committed and journaled but go nowhere.
	Backend *BackendConfig `json:"backend,omitempty"`
	// OAuth tunes the tenant's OAuth 2.0 client credentials grant. The
	// token endpoint is served whether or not it is set; it issues access
	// tokens once a client secret has been generated.
	OAuth *OAuth `json:"oauth,omitempty"`
	// RateLimit, when set, limits the tenant's authenticated SCIM
	// requests; over the limit they get 429 with Retry-After. Off by
	// default.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
}

// BackendConfig names a tenant's backend plugin and its settings.
type BackendConfig struct {
	// Name is a built-in backend ("pharos", "hpinsights", "keepnet"), or
	// "exec" for a vendor's plugin binary at Path.
	Name string `json:"name"`
	// Path is the plugin binary, for "exec". A relative path is relative
	// to Caddy's working directory.
	Path string `json:"path,omitempty"`
	// Args are extra arguments for the plugin binary.
	Args []string `json:"args,omitempty"`
	// Settings is the backend's settings object, passed to it as JSON;
	// the backend documents its keys and refuses unknown ones.
	Settings json.RawMessage `json:"settings,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.scim",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, joins the scim app and registers the tenants.
// It starts nothing: the app starts the handler (its backends and its
// SCIM server) when the config starts.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Prefix == "" {
		h.Prefix = DefaultPrefix
	}
	h.Prefix = "/" + strings.Trim(h.Prefix, "/")
	h.PublicURL = strings.TrimSuffix(h.PublicURL, "/")
	if h.Tenants == nil {
		h.Tenants = map[string]*Tenant{}
	}
	for name, t := range h.Tenants {
		if t == nil {
			h.Tenants[name] = &Tenant{}
		}
	}
	appIface, err := ctx.App("scim")
	if err != nil {
		return fmt.Errorf("loading scim app: %w", err)
	}
	h.app = appIface.(*App)
	for name, t := range h.Tenants {
		if err := h.app.register(name, h, t); err != nil {
			return err
		}
	}
	for _, p := range h.RuntimeTenants {
		if p.Name == "" {
			p.Name = DefaultProfile
		}
		if err := h.app.registerProfile(h, p); err != nil {
			return err
		}
	}
	h.app.join(h)
	for name, t := range h.Tenants {
		if t.Backend == nil {
			continue
		}
		if err := checkBackend(t.Backend); err != nil {
			return fmt.Errorf("tenant %s: %w", name, err)
		}
		if _, err := resolveSettings(t.Backend.Settings); err != nil {
			return fmt.Errorf("tenant %s: %w", name, err)
		}
	}
	for _, p := range h.RuntimeTenants {
		if p.Backend == nil {
			continue
		}
		if err := checkBackend(p.Backend); err != nil {
			return fmt.Errorf("runtime_tenants %s: %w", p.Name, err)
		}
		if _, err := resolveSettings(p.Backend.Settings); err != nil {
			return fmt.Errorf("runtime_tenants %s: %w", p.Name, err)
		}
	}
	if h.metrics, err = newMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if h.oauth, err = newOAuthMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	for name, t := range h.Tenants {
		if err := tenants.CheckName(name); err != nil {
			return err
		}
		if err := t.validate(); err != nil {
			return fmt.Errorf("tenant %s: %w", name, err)
		}
	}
	for _, p := range h.RuntimeTenants {
		if p == nil {
			return errors.New("runtime_tenants: an empty profile")
		}
		if p.Name != "" {
			if err := tenants.CheckName(p.Name); err != nil {
				return fmt.Errorf("runtime_tenants profile name %q: %s", p.Name, tenants.NameRule)
			}
		}
		if err := p.Tenant.validate(); err != nil {
			return fmt.Errorf("runtime_tenants %s: %w", p.Name, err)
		}
		if p.Connections < 0 || p.Connections > maxConnections {
			return fmt.Errorf("runtime_tenants %s: connections must be from 0 to %d", p.Name, maxConnections)
		}
	}
	if h.PublicURL != "" && !strings.HasPrefix(h.PublicURL, "https://") && !strings.HasPrefix(h.PublicURL, "http://") {
		return fmt.Errorf("public_url %q must start with https:// or http://", h.PublicURL)
	}
	if h.MaxResults < 0 || h.MaxBodyBytes < 0 || h.MaxBulkOperations < 0 || h.MaxBulkBytes < 0 {
		return errors.New("max_results, max_body_bytes, max_bulk_operations and max_bulk_bytes cannot be negative")
	}
	return nil
}

// validate checks a tenant's options.
func (t *Tenant) validate() error {
	if t == nil {
		return nil
	}
	if t.TokenValidity < 0 || t.RotationOverlap < 0 {
		return errors.New("durations cannot be negative")
	}
	if o := t.OAuth; o != nil && o.AccessTokenLifetime != 0 && (o.AccessTokenLifetime < caddy.Duration(time.Second) || time.Duration(o.AccessTokenLifetime) > maxAccessTokenLifetime) {
		return errors.New("access_token_lifetime must be between 1s and 24h")
	}
	if rl := t.RateLimit; rl != nil && (rl.Requests <= 0 || rl.Window <= 0) {
		return errors.New("rate_limit needs a positive number of requests and a positive window")
	}
	return nil
}

// start starts (or joins) the backend processes of the tenants and sets
// up the SCIM server on the open store. The app calls it once, with its
// startMu held.
func (h *Handler) start() error {
	if h.cleaned {
		return errors.New("the scim handler was cleaned up")
	}
	if err := h.startBackends(); err != nil {
		return err
	}
	h.srv = server.New(server.Config{
		Store:              delivery.Notifying(h.app.shared.store, h.app.shared.deliverer),
		Logger:             h.logger,
		MaxResults:         h.MaxResults,
		MaxBodyBytes:       h.MaxBodyBytes,
		BulkMaxOperations:  h.MaxBulkOperations,
		BulkMaxPayloadSize: h.MaxBulkBytes,
		Validate:           h.validate,
		OnSkippedMembers:   h.skippedMembers,
		// One key per storage directory, kept across reloads: a cursor an
		// IdP holds stays valid when the config changes (not across
		// restarts of the process).
		CursorKey: h.app.shared.cursorKey,
		Now:       func() time.Time { return now() },
	})
	return nil
}

// startBackends starts (or joins) the backend process of each backend
// definition the handler's tenants and profiles use — one per definition,
// whatever the number of tenants — and configures each static tenant, so
// that settings a backend refuses fail the config load.
func (h *Handler) startBackends() error {
	h.backends = map[string]*tenantBackend{}
	procs := map[string]*backendProcess{}
	process := func(cfg *BackendConfig) (*backendProcess, error) {
		key := processKey(h.app.StorageDir, cfg)
		if p := procs[key]; p != nil {
			return p, nil
		}
		p, key, err := loadProcess(h.app.shared, h.app.StorageDir, cfg, h.app.logger)
		if err != nil {
			return nil, err
		}
		procs[key] = p
		h.processKeys = append(h.processKeys, key)
		return p, nil
	}
	for name, t := range h.Tenants {
		if t.Backend == nil {
			continue
		}
		settings, err := resolveSettings(t.Backend.Settings)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", name, err)
		}
		p, err := process(t.Backend)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", name, err)
		}
		tb := newTenantBackend(p, h.app.StorageDir, name, settings)
		if _, err := tb.configure(context.Background()); err != nil {
			return fmt.Errorf("tenant %s: backend %s: %w", name, t.Backend.Name, err)
		}
		h.backends[name] = tb
	}
	for _, pr := range h.RuntimeTenants {
		if pr.Backend == nil {
			continue
		}
		p, err := process(pr.Backend)
		if err != nil {
			return fmt.Errorf("runtime_tenants %s: %w", pr.Name, err)
		}
		h.app.reg.mu.Lock()
		if reg := h.app.reg.profiles[pr.Name]; reg != nil {
			reg.proc = p
		}
		h.app.reg.mu.Unlock()
	}
	// Attach only once every tenant is configured: a config that fails
	// here leaves delivery as it was.
	h.app.reg.mu.Lock()
	for name, tb := range h.backends {
		if reg := h.app.reg.tenants[name]; reg != nil {
			reg.backend = tb
		}
	}
	h.app.reg.mu.Unlock()
	for name, tb := range h.backends {
		h.app.shared.attach(name, tb)
	}
	return nil
}

// validate enforces the attributes a tenant's backend requires, before
// anything is committed, so the IdP gets a 400 it can show.
func (h *Handler) validate(ctx context.Context, tenant string, rt *schema.ResourceType, res map[string]any) error {
	if rt != schema.User {
		return nil
	}
	reg := h.lookup(tenant)
	if reg == nil || reg.backend == nil {
		return nil
	}
	if path := missingRequired(reg.backend.required(), res); path != "" {
		return requiredError(reg.tenant.Backend.Name, path)
	}
	return nil
}

// Cleanup unregisters the tenants and releases their backends. Safe after
// a partial Provision.
func (h *Handler) Cleanup() error {
	if h.app != nil {
		h.app.startMu.Lock()
		defer h.app.startMu.Unlock()
		h.app.unregister(h)
	}
	h.cleaned = true
	for name, tb := range h.backends {
		h.app.shared.detach(name, tb)
	}
	h.backends = nil
	var errs []error
	for _, k := range h.processKeys {
		if _, err := plugins.Delete(k); err != nil {
			errs = append(errs, err)
		}
	}
	h.processKeys = nil
	return errors.Join(errs...)
}

// lookup returns the registration of a tenant this handler serves, or
// nil. It reads the app's registry, which Cleanup leaves in place for
// this config's requests still in flight during a reload.
func (h *Handler) lookup(name string) *registration {
	h.app.reg.mu.RLock()
	defer h.app.reg.mu.RUnlock()
	reg := h.app.reg.tenants[name]
	if reg == nil {
		reg = h.app.reg.runtime[name]
	}
	if reg == nil || reg.handler != h {
		return nil
	}
	return reg
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	rest, ok := strings.CutPrefix(r.URL.Path, h.Prefix+"/")
	if !ok {
		return next.ServeHTTP(w, r)
	}
	start := time.Now()
	if err := h.app.start(); err != nil {
		h.logger.Error("starting scim", zap.Error(err))
		writeError(w, scimerr.New(http.StatusServiceUnavailable, "", "the SCIM service is starting; retry later"))
		return nil
	}
	name, _, _ := strings.Cut(rest, "/")
	op := operation(r.Method, rest)
	reg := h.lookup(name)
	if reg == nil {
		writeError(w, scimerr.NotFound("no SCIM tenant %q at this URL; check the Tenant URL", clip(name)))
		h.observe(r, "", op, http.StatusNotFound, start)
		return nil
	}
	if rest == name+tokenPath {
		h.serveToken(w, r, name)
		return nil
	}
	if n := len(r.Header.Values("Authorization")); n > 1 {
		// Authorization is not a list field (RFC 9110 §5.3): with two, which
		// credential the IdP meant is anyone's guess, so neither is used.
		w.Header().Set("WWW-Authenticate", `Bearer realm="scim", error="invalid_request"`)
		writeError(w, scimerr.New(http.StatusUnauthorized, "", "the request has %d Authorization headers; send exactly one: Authorization: Bearer <token>", n))
		h.metrics.authFailures.WithLabelValues(name, reasonLabel(tokens.Invalid)).Inc()
		h.observe(r, name, op, http.StatusUnauthorized, start, zap.String(logKeyReason, authMultipleHeaders))
		return nil
	}
	authorization := r.Header.Get("Authorization")
	if _, err := h.app.shared.tokens.Verify(r.Context(), name, authorization); err != nil {
		var ae *tokens.AuthError
		if !errors.As(err, &ae) {
			h.logger.Error("verifying token", zap.String("tenant", name), zap.Error(err))
			writeError(w, scimerr.From(err))
			h.observe(r, name, op, http.StatusInternalServerError, start)
			return nil
		}
		challenge := `Bearer realm="scim"`
		if ae.Reason != tokens.Missing {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, scimerr.New(http.StatusUnauthorized, "", "%s", ae.Error()))
		h.metrics.authFailures.WithLabelValues(name, reasonLabel(ae.Reason)).Inc()
		h.observe(r, name, op, http.StatusUnauthorized, start, authFields(authorization, ae)...)
		return nil
	}
	if b := reg.limit; b != nil {
		if wait, ok := b.take(); !ok {
			secs := retryAfter(wait)
			// RFC 6585 §4: 429 with Retry-After, which Okta honours.
			w.Header().Set("Retry-After", fmt.Sprint(secs))
			writeError(w, scimerr.New(http.StatusTooManyRequests, "", "this tenant's rate limit was exceeded; retry in %s", plural(secs, "second", "seconds")))
			h.oauth.rateLimited.WithLabelValues(name).Inc()
			h.observe(r, name, op, http.StatusTooManyRequests, start)
			return nil
		}
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	h.srv.Handler(name, h.Prefix+"/"+name).ServeHTTP(sw, r)
	changed := r.Method != http.MethodGet && r.Method != http.MethodHead && sw.status < 300 && !strings.HasSuffix(rest, ".search")
	h.app.shared.tokens.Touch(name, changed)
	h.observe(r, name, op, sw.status, start)
	return nil
}

// observe logs a request and records its metrics. Logs carry the tenant,
// operation, status and duration, and the fields in extra; a 401 also
// carries the address it came from. Never a body, a token or a user's
// data.
func (h *Handler) observe(r *http.Request, tenant string, op operationInfo, status int, start time.Time, extra ...zap.Field) {
	d := time.Since(start)
	code := fmt.Sprint(status)
	h.metrics.requests.WithLabelValues(tenant, op.resource, r.Method, code).Inc()
	h.metrics.duration.WithLabelValues(tenant, op.resource, r.Method).Observe(d.Seconds())
	level := zap.DebugLevel
	switch {
	case status == http.StatusNotImplemented:
		// 501 is the answer to what this service provider does not offer
		// (/Me): any token holder can ask for it, so it must not fill the
		// error log.
		level = zap.InfoLevel
	case status >= 500:
		level = zap.ErrorLevel
	case status == http.StatusUnauthorized, status == http.StatusTooManyRequests:
		level = zap.WarnLevel
	case op.write:
		level = zap.InfoLevel
	}
	if tenant != "" && h.app != nil && h.app.shared != nil {
		e := requestlog.Entry{Time: now().UTC(), Operation: op.name, Status: status, Duration: d, ClientIP: clientIP(r)}
		for _, f := range extra {
			if f.Key == logKeyReason {
				e.Reason = f.String
			}
		}
		h.app.shared.requests.Record(tenant, e)
	}
	if ce := h.logger.Check(level, "scim request"); ce != nil {
		fields := append([]zap.Field{zap.String("tenant", tenant), zap.String("operation", op.name),
			zap.Int("status", status), zap.Duration("duration", d)}, extra...)
		if status == http.StatusUnauthorized {
			fields = append(fields, clientFields(r)...)
		}
		ce.Write(fields...)
	}
}

// operationInfo names what a request does, for logs and metrics.
type operationInfo struct {
	name     string // e.g. "create User", "patch Group", "list Users"
	resource string // "Users", "Groups", "discovery", or "" when unknown
	write    bool
}

func operation(method, rest string) operationInfo {
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	var endpoint, id string
	if len(segs) > 1 {
		endpoint = segs[1]
	}
	if len(segs) > 2 {
		id = segs[2]
	}
	res := endpoint
	switch strings.ToLower(endpoint) {
	case "users":
		res = "Users"
	case "groups":
		res = "Groups"
	case "schemas", "resourcetypes", "serviceproviderconfig":
		return operationInfo{name: "discovery", resource: "discovery"}
	case ".search":
		return operationInfo{name: "search", resource: "search"}
	default:
		return operationInfo{name: method + " unknown", resource: "other"}
	}
	single := strings.TrimSuffix(res, "s")
	switch {
	case id == ".search":
		return operationInfo{name: "search " + res, resource: res}
	case id == "" && method == http.MethodGet:
		return operationInfo{name: "list " + res, resource: res}
	case id == "" && method == http.MethodPost:
		return operationInfo{name: "create " + single, resource: res, write: true}
	case method == http.MethodGet:
		return operationInfo{name: "get " + single, resource: res}
	case method == http.MethodPut:
		return operationInfo{name: "replace " + single, resource: res, write: true}
	case method == http.MethodPatch:
		return operationInfo{name: "patch " + single, resource: res, write: true}
	case method == http.MethodDelete:
		return operationInfo{name: "delete " + single, resource: res, write: true}
	}
	return operationInfo{name: method + " " + res, resource: res}
}

func reasonLabel(r tokens.Reason) string {
	switch r {
	case tokens.Missing:
		return "missing"
	case tokens.Revoked:
		return "revoked"
	case tokens.Expired:
		return "expired"
	}
	return "invalid"
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// writeError writes a SCIM error response.
func writeError(w http.ResponseWriter, e *scimerr.Error) {
	b, _ := json.Marshal(e.Body())
	w.Header().Set("Content-Type", server.MediaType)
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

func clip(s string) string { return scimerr.Clip(s, 64) }

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

func zapTenant(t string) zap.Field { return zap.String("tenant", t) }

func zapTokenID(id string) zap.Field { return zap.String("token_id", id) }

func zapCount(n int) zap.Field { return zap.Int("count", n) }

func zapAction(a string) zap.Field { return zap.String("action", a) }

func zapProfile(p string) zap.Field { return zap.String("profile", p) }

func zapAccount(a string) zap.Field { return zap.String("account", a) }
