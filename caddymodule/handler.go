package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/server"
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
	// every tenant not listed: its URL answers 404. Names are 1 to 64
	// letters, digits, dots, dashes and underscores.
	Tenants map[string]*Tenant `json:"tenants,omitempty"`
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
	// backends are the running backends of this handler's tenants, and
	// pluginKeys their usage-pool keys, released at Cleanup.
	backends   map[string]*pluginHost
	pluginKeys []string
	oauth      *oauthMetrics
	// limits are the buckets of the tenants with a rate_limit.
	limits map[string]*bucket
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

var tenantName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

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
	if h.metrics, err = newMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if h.oauth, err = newOAuthMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	h.limits = map[string]*bucket{}
	for name, t := range h.Tenants {
		if rl := t.RateLimit; rl != nil && rl.Requests > 0 && rl.Window > 0 {
			h.limits[name] = newBucket(rl.Requests, time.Duration(rl.Window))
		}
	}
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	for name, t := range h.Tenants {
		if !tenantName.MatchString(name) {
			return fmt.Errorf("tenant name %q: use 1 to 64 letters, digits, dots, dashes and underscores", name)
		}
		if t == nil {
			continue
		}
		if t.TokenValidity < 0 || t.RotationOverlap < 0 {
			return fmt.Errorf("tenant %s: durations cannot be negative", name)
		}
		if o := t.OAuth; o != nil && o.AccessTokenLifetime != 0 && (o.AccessTokenLifetime < caddy.Duration(time.Second) || time.Duration(o.AccessTokenLifetime) > maxAccessTokenLifetime) {
			return fmt.Errorf("tenant %s: access_token_lifetime must be between 1s and 24h", name)
		}
		if rl := t.RateLimit; rl != nil && (rl.Requests <= 0 || rl.Window <= 0) {
			return fmt.Errorf("tenant %s: rate_limit needs a positive number of requests and a positive window", name)
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

// startBackends starts (or joins) the backend process of each tenant that
// names one.
func (h *Handler) startBackends() error {
	h.backends = map[string]*pluginHost{}
	for name, t := range h.Tenants {
		if t.Backend == nil {
			continue
		}
		cfg := *t.Backend
		settings, err := resolveSettings(cfg.Settings)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", name, err)
		}
		cfg.Settings = settings
		key := pluginKey(h.app.StorageDir, name, &cfg)
		val, _, err := plugins.LoadOrNew(key, func() (caddy.Destructor, error) {
			return startPluginHost(h.app.shared, h.app.StorageDir, name, cfg, h.app.logger)
		})
		if err != nil {
			return err
		}
		h.pluginKeys = append(h.pluginKeys, key)
		h.backends[name] = val.(*pluginHost)
	}
	return nil
}

// validate enforces the attributes a tenant's backend requires, before
// anything is committed, so the IdP gets a 400 it can show.
func (h *Handler) validate(ctx context.Context, tenant string, rt *schema.ResourceType, res map[string]any) error {
	host := h.backends[tenant]
	if host == nil || rt != schema.User {
		return nil
	}
	if path := missingRequired(host.required(), res); path != "" {
		return requiredError(host.cfg.Name, path)
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
	var errs []error
	for _, k := range h.pluginKeys {
		if _, err := plugins.Delete(k); err != nil {
			errs = append(errs, err)
		}
	}
	h.pluginKeys = nil
	return errors.Join(errs...)
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
	if h.Tenants[name] == nil {
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
	if b := h.limits[name]; b != nil {
		if wait, ok := b.take(); !ok {
			secs := retryAfter(wait)
			// RFC 6585 §4: 429 with Retry-After, which Okta honours.
			w.Header().Set("Retry-After", fmt.Sprint(secs))
			writeError(w, scimerr.New(http.StatusTooManyRequests, "", "this tenant's rate limit was exceeded; retry in %d seconds", secs))
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
