package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI is the admin.api.scim module: tenant status and token
// generation on Caddy's admin endpoint.
//
//	GET  /scim/tenants                  every tenant's status
//	GET  /scim/tenants/{tenant}         one tenant's status
//	POST   /scim/tenants/{tenant}/token  generate its token; replacing a
//	                                     valid one takes ?regenerate=true
//	DELETE /scim/tenants/{tenant}/token  revoke all its tokens at once
//	GET    /scim/tenants/{tenant}/oauth              its OAuth client
//	POST   /scim/tenants/{tenant}/oauth/secrets      add a client secret
//	DELETE /scim/tenants/{tenant}/oauth/secrets/{id} revoke a client secret
//
// Viewing never generates a token.
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.scim",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Provision implements caddy.Provisioner. The routes do not keep the
// context they are provisioned with: Caddy provisions the admin modules
// of a new config before its apps, and keeps serving them when the apps
// then fail, so that context may be of a config that never ran.
func (a *adminAPI) Provision(caddy.Context) error {
	return nil
}

// Routes implements caddy.AdminRouter.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/scim/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// TenantStatus is the admin API's view of one tenant.
type TenantStatus struct {
	TenantURL string `json:"tenant_url"`
	// Kind is "static" for a tenant declared in the config, "runtime" for
	// one enabled at runtime.
	Kind string `json:"kind"`
	// Enabled is false for a disabled runtime tenant, and for a runtime
	// tenant whose profile the running config lacks.
	Enabled bool `json:"enabled"`
	// Runtime is a runtime tenant's record.
	Runtime *RuntimeTenantInfo `json:"runtime,omitempty"`
	*tokens.Status
	// Backend is the tenant's backend and its delivery, when it has one.
	Backend *BackendStatus `json:"backend,omitempty"`
}

// BackendStatus describes a tenant's backend and how delivery to it goes.
type BackendStatus struct {
	Name     string          `json:"name"`
	Version  string          `json:"version,omitempty"`
	Delivery delivery.Status `json:"delivery"`
}

// Credentials is what token generation returns: the only time the token is
// shown.
type Credentials struct {
	Tenant    string    `json:"tenant"`
	TenantURL string    `json:"tenant_url"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	// Previous are the tenant's earlier tokens that were valid until this
	// one was generated, and what became of them; empty when there were
	// none.
	Previous []PreviousToken `json:"previous"`
}

// PreviousToken is what generating a token did to an earlier one.
type PreviousToken struct {
	// ID names the token, as status does.
	ID string `json:"id"`
	// RevokedNow is true when the token stopped working at once (the
	// tenant has no rotation_overlap).
	RevokedNow bool `json:"revoked_now"`
	// AcceptedUntil is, when RevokedNow is false, when the token stops
	// working: the end of the rotation overlap, or its expiry if sooner.
	AcceptedUntil *time.Time `json:"accepted_until,omitempty"`
}

// Revocation is what revoking a tenant's tokens returns.
type Revocation struct {
	Tenant string `json:"tenant"`
	// Revoked is how many tokens stopped working; 0 when the tenant had
	// no valid token.
	Revoked int `json:"revoked"`
	// IDs name the revoked tokens.
	IDs []string `json:"ids"`
	// RevokedAt is when they stopped working; absent when none did.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func (a *adminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app()
	if err != nil {
		return err
	}
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/scim/"), "/")
	segs := strings.Split(rest, "/")
	switch {
	case rest == "console/links":
		return a.consoleLinks(w, r, app)
	case rest == "backup":
		return serveBackup(w, r, app)
	case rest == "tenants":
		if r.Method != http.MethodGet {
			return methodNotAllowed(http.MethodGet)
		}
		names := app.allTenantNames()
		out := make([]TenantStatus, 0, len(names))
		for _, n := range names {
			st, err := app.status(r.Context(), n)
			if err != nil {
				return err
			}
			out = append(out, *st)
		}
		return writeJSON(w, http.StatusOK, out)
	case len(segs) == 2 && segs[0] == "tenants":
		return a.tenantRoute(w, r, app, segs[1])
	case len(segs) >= 3 && segs[0] == "tenants" && segs[2] == "oauth":
		return a.oauthRoute(w, r, app, segs[1], segs[3:])
	case len(segs) >= 3 && segs[0] == "tenants" && segs[2] != "token":
		return a.backendRoute(w, r, app, segs[1], segs[2:])
	case len(segs) == 3 && segs[0] == "tenants" && segs[2] == "token":
		return a.tokenRoute(w, r, app, segs[1])
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no scim admin endpoint %s", r.URL.Path)}
}

// tokenRoute serves /scim/tenants/{tenant}/token. POST generates a token;
// while the tenant has a valid one it answers 409 unless the query says
// regenerate=true, so a repeated call cannot silently cut off the IdP.
// DELETE revokes every token of the tenant at once, including those a
// rotation overlap still accepts.
func (a *adminAPI) tokenRoute(w http.ResponseWriter, r *http.Request, app *App, tenant string) error {
	if r.Method != http.MethodPost && r.Method != http.MethodDelete {
		return methodNotAllowed("POST or DELETE")
	}
	reg := app.tenant(tenant)
	if reg == nil {
		return app.notServed(tenant)
	}
	if r.Method == http.MethodDelete {
		ended, err := app.shared.tokens.Revoke(r.Context(), tenant)
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		out := Revocation{Tenant: tenant, Revoked: len(ended), IDs: []string{}}
		for _, e := range ended {
			out.IDs = append(out.IDs, e.ID)
			at := e.Until
			out.RevokedAt = &at
		}
		app.logger.Info("scim tokens revoked", zapTenant(tenant), zap.Strings("token_ids", out.IDs))
		return writeJSON(w, http.StatusOK, out)
	}
	regenerate := false
	if v := r.URL.Query().Get("regenerate"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("regenerate must be true or false, not %q", clip(v))}
		}
		regenerate = b
	}
	creds, err := app.issueToken(r.Context(), tenant, regenerate)
	var exists *tokens.ExistsError
	if errors.As(err, &exists) {
		return caddy.APIError{HTTPStatus: http.StatusConflict, Err: fmt.Errorf(
			"%w; a new one would replace the token the IdP uses: pass --regenerate (admin API: ?regenerate=true) to replace it, or --revoke (admin API: DELETE) to end it now", err)}
	}
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, creds)
}

// app returns the scim app of the running config. It is looked up at each
// request in Caddy's active context, which a rejected reload leaves as it
// was: never in the config the admin module was provisioned with.
func (a *adminAPI) app() (*App, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("scim")
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("the running config has no scim handler")}
	}
	return v.(*App), nil
}

func (app *App) status(ctx context.Context, name string) (*TenantStatus, error) {
	st, err := app.shared.tokens.Status(ctx, name)
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	out := &TenantStatus{TenantURL: app.tenantURL(name), Kind: KindStatic, Enabled: app.tenant(name) != nil, Status: st}
	if app.staticTenant(name) == nil {
		out.Kind = KindRuntime
		if rec, ok := app.runtimeRecord(name); ok {
			out.Runtime = runtimeInfo(rec)
			switch {
			case rec.Disabled:
				st.Warnings = append(st.Warnings, tokens.Warning{Code: "disabled",
					Message: fmt.Sprintf("the tenant is disabled: its Tenant URL answers 404 and its tokens do not work; its data is kept. Enable it with 'caddy scim tenant enable %s'", name)})
			case app.profile(rec.Profile) == nil:
				st.Warnings = append(st.Warnings, tokens.Warning{Code: "profile_missing",
					Message: fmt.Sprintf("the running config has no runtime_tenants profile %q, so the tenant is not served; add the profile back, or move the tenant with 'caddy scim tenant set %s --profile <name>'", rec.Profile, name)})
			}
		}
	}
	// Only the embedded engine can hold names stored under an older
	// identifier rule; the PostgreSQL engine began with the current one.
	if cr, ok := app.shared.store.(store.CollisionReporter); ok {
		if w, err := collisionWarning(ctx, cr, name); err != nil {
			return nil, caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		} else if w != nil {
			st.Warnings = append(st.Warnings, *w)
		}
	}
	if w := app.shared.skipped.warning(name); w != nil {
		st.Warnings = append(st.Warnings, *w)
	}
	if reg := app.tenant(name); reg != nil && reg.tenant.Backend != nil {
		ds, err := app.shared.deliverer.Status(ctx, name)
		if err != nil {
			return nil, caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		bs := &BackendStatus{Name: reg.tenant.Backend.Name, Delivery: ds}
		if h := app.shared.host(name); h != nil {
			d := h.proc.description()
			bs.Name, bs.Version = d.Name, d.Version
		}
		out.Backend = bs
		if ds.DeadLetters > 0 {
			st.Warnings = append(st.Warnings, tokens.Warning{Code: "dead_letters",
				Message: fmt.Sprintf("%s could not be applied by the backend; list %s with 'caddy scim deadletters --tenant %s' and replay %s once fixed",
					plural(ds.DeadLetters, "change", "changes"), them(ds.DeadLetters), name, them(ds.DeadLetters))})
		}
		// A change the backend refused for good is dead-lettered and
		// counts as a failure until the next success; delivery is only
		// failing while changes wait.
		if ds.ConsecutiveFailures > 0 && ds.Lag > 0 {
			st.Warnings = append(st.Warnings, tokens.Warning{Code: "delivery_failing",
				Message: fmt.Sprintf("delivery to the backend is failing (%s, %s waiting): %s",
					plural(ds.ConsecutiveFailures, "attempt", "attempts"), plural(int(ds.Lag), "change", "changes"), ds.LastError)})
		}
	}
	return out, nil
}

// backendRoute serves /scim/tenants/{tenant}/backend, /actions/{name},
// /deadletters and /deadletters/replay.
func (a *adminAPI) backendRoute(w http.ResponseWriter, r *http.Request, app *App, tenant string, rest []string) error {
	if app.tenant(tenant) == nil {
		return app.notServed(tenant)
	}
	h := app.shared.host(tenant)
	switch {
	case len(rest) == 1 && rest[0] == "backend":
		if r.Method != http.MethodGet {
			return methodNotAllowed(http.MethodGet)
		}
		if h == nil {
			return noBackend(tenant)
		}
		c, err := h.configure(r.Context())
		if err != nil {
			return backendError("configuring", err)
		}
		resp, err := c.Inspect(r.Context(), &sdk.InspectRequest{Tenant: tenant})
		if err != nil {
			return backendError("inspecting", err)
		}
		w.Header().Set("Content-Type", "application/json")
		_, err = w.Write(resp.JSON)
		return err
	case len(rest) == 2 && rest[0] == "actions":
		if r.Method != http.MethodPost {
			return methodNotAllowed(http.MethodPost)
		}
		if h == nil {
			return noBackend(tenant)
		}
		payload, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("reading the action's payload: %w", err)}
		}
		c, err := h.configure(r.Context())
		if err != nil {
			return backendError("configuring", err)
		}
		resp, err := c.Action(r.Context(), &sdk.ActionRequest{Tenant: tenant, Name: rest[1], Payload: payload})
		if err != nil {
			return backendError("running action "+rest[1], err)
		}
		app.logger.Info("backend action run", zapTenant(tenant), zap.String("action", rest[1]))
		return writeJSON(w, http.StatusOK, ActionResult{Message: resp.Message, Result: resp.Result})
	case len(rest) == 1 && rest[0] == "deadletters":
		if r.Method != http.MethodGet {
			return methodNotAllowed(http.MethodGet)
		}
		dl, err := app.shared.deliverer.DeadLetters(r.Context(), tenant)
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		if dl == nil {
			dl = []delivery.DeadLetter{}
		}
		return writeJSON(w, http.StatusOK, dl)
	case len(rest) == 2 && rest[0] == "deadletters" && rest[1] == "replay":
		if r.Method != http.MethodPost {
			return methodNotAllowed(http.MethodPost)
		}
		var req ReplayRequest
		if r.ContentLength != 0 {
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil && err != io.EOF {
				return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("the body must be {\"seqs\": [numbers]} or empty for all: %w", err)}
			}
		}
		if len(req.Seqs) == 0 {
			dl, err := app.shared.deliverer.DeadLetters(r.Context(), tenant)
			if err != nil {
				return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
			}
			for _, d := range dl {
				req.Seqs = append(req.Seqs, d.Event.Seq)
			}
		}
		replayed, err := app.shared.deliverer.Replay(r.Context(), tenant, req.Seqs)
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
		}
		if replayed == nil {
			replayed = []uint64{}
		}
		app.logger.Info("dead letters replayed", zapTenant(tenant), zap.Int("count", len(replayed)))
		return writeJSON(w, http.StatusOK, ReplayResult{Replayed: replayed})
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no scim admin endpoint %s", r.URL.Path)}
}

// oauthRoute serves /scim/tenants/{tenant}/oauth, /oauth/secrets and
// /oauth/secrets/{id}. Viewing never creates a client or a secret.
func (a *adminAPI) oauthRoute(w http.ResponseWriter, r *http.Request, app *App, tenant string, rest []string) error {
	reg := app.tenant(tenant)
	if reg == nil {
		return app.notServed(tenant)
	}
	mgr := app.shared.tokens
	switch {
	case len(rest) == 0:
		if r.Method != http.MethodGet {
			return methodNotAllowed(http.MethodGet)
		}
		return app.writeOAuthStatus(w, r, tenant, reg)
	case len(rest) == 1 && rest[0] == "secrets":
		if r.Method != http.MethodPost {
			return methodNotAllowed(http.MethodPost)
		}
		iss, err := mgr.AddClientSecret(r.Context(), tenant)
		if errors.Is(err, tokens.ErrTooManySecrets) {
			return caddy.APIError{HTTPStatus: http.StatusConflict, Err: err}
		}
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		app.logger.Info("oauth client secret generated", zapTenant(tenant),
			zap.String("client_id", iss.ClientID), zap.String("secret_id", iss.SecretID))
		w.Header().Set("Cache-Control", "no-store")
		return writeJSON(w, http.StatusOK, OAuthCredentials{
			Tenant:        tenant,
			ClientID:      iss.ClientID,
			ClientSecret:  iss.Secret,
			SecretID:      iss.SecretID,
			TokenEndpoint: app.tokenEndpoint(tenant),
			TenantURL:     app.tenantURL(tenant),
			CreatedAt:     iss.CreatedAt,
		})
	case len(rest) == 2 && rest[0] == "secrets":
		if r.Method != http.MethodDelete {
			return methodNotAllowed(http.MethodDelete)
		}
		err := mgr.RevokeClientSecret(r.Context(), tenant, rest[1])
		if errors.Is(err, tokens.ErrNoSecret) {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("tenant %q has no client secret %q", clip(tenant), clip(rest[1]))}
		}
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		app.logger.Info("oauth client secret revoked", zapTenant(tenant), zap.String("secret_id", rest[1]))
		return app.writeOAuthStatus(w, r, tenant, reg)
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no scim admin endpoint %s", r.URL.Path)}
}

func (app *App) writeOAuthStatus(w http.ResponseWriter, r *http.Request, tenant string, reg *registration) error {
	info, err := app.shared.tokens.ClientStatus(r.Context(), tenant)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	out := OAuthStatus{
		Tenant:              tenant,
		TenantURL:           app.tenantURL(tenant),
		TokenEndpoint:       app.tokenEndpoint(tenant),
		Secrets:             []tokens.SecretInfo{},
		AccessTokenLifetime: int64(reg.tenant.accessTokenLifetime() / time.Second),
	}
	if info != nil {
		out.ClientID, out.Secrets = info.ClientID, info.Secrets
		created := info.CreatedAt
		out.CreatedAt = &created
	}
	return writeJSON(w, http.StatusOK, out)
}

// ActionResult is the answer to a backend action.
type ActionResult struct {
	Message string          `json:"message"`
	Result  json.RawMessage `json:"result,omitempty"`
}

// ReplayRequest names the dead letters to replay by their sequence
// numbers; empty means all.
type ReplayRequest struct {
	Seqs []uint64 `json:"seqs,omitempty"`
}

// ReplayResult lists the dead letters put back into the journal.
type ReplayResult struct {
	Replayed []uint64 `json:"replayed"`
}

func noBackend(tenant string) error {
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("tenant %q has no backend configured", clip(tenant))}
}

// backendError maps a backend's typed error to an admin API status.
func backendError(doing string, err error) error {
	switch {
	case errors.Is(err, sdk.ErrUnimplemented):
		return caddy.APIError{HTTPStatus: http.StatusNotImplemented, Err: fmt.Errorf("%s: the backend does not offer this", doing)}
	case sdk.IsInvalid(err):
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("%s: %w", doing, err)}
	}
	return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("%s: %w", doing, err)}
}

func unknownTenant(name string) error {
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("tenant %q is not enabled: add it to a scim directive, or enable it at runtime with 'caddy scim tenant add %s'", clip(name), clip(name))}
}

// notServed explains why the running config does not serve a tenant: it
// is a disabled runtime tenant, one whose profile the config lacks, or
// unknown.
func (app *App) notServed(name string) error {
	rec, ok := app.runtimeRecord(name)
	switch {
	case !ok:
		return unknownTenant(name)
	case rec.Disabled:
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("tenant %q is disabled; enable it with 'caddy scim tenant enable %s'", name, name)}
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("tenant %q belongs to runtime_tenants profile %q, which the running config does not have", name, rec.Profile)}
}

// allTenantNames returns, sorted, the tenants the config declares and
// every runtime tenant in the store, disabled ones included.
func (app *App) allTenantNames() []string {
	seen := map[string]bool{}
	for _, n := range app.tenantNames() {
		seen[n] = true
	}
	if err := app.start(); err == nil && app.shared.runtime != nil {
		for _, rec := range app.shared.runtime.List() {
			seen[rec.Name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func methodNotAllowed(allowed string) error {
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed; use %s", allowed)}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// tenantURL is the Tenant URL of a tenant: the handler's public_url, or the
// origin of the site whose routes hold the handler, plus the prefix and the
// tenant's name.
func (app *App) tenantURL(name string) string {
	var h *Handler
	if reg := app.tenant(name); reg != nil {
		h = reg.handler
	} else if rec, ok := app.runtimeRecord(name); ok {
		if pr := app.profile(rec.Profile); pr != nil {
			h = pr.handler
		}
	}
	if h == nil {
		return ""
	}
	origin := h.PublicURL
	if origin == "" {
		origin = app.siteOrigin(h)
	}
	return origin + h.Prefix + "/" + name
}

// siteOrigin finds the server and host matcher of the route that holds h
// (the scim handler or the console) in the running http app.
func (app *App) siteOrigin(h caddyhttp.MiddlewareHandler) string {
	v, err := app.ctx.AppIfConfigured("http")
	if err != nil {
		return "https://localhost"
	}
	httpApp, ok := v.(*caddyhttp.App)
	if !ok {
		return "https://localhost"
	}
	names := make([]string, 0, len(httpApp.Servers))
	for n := range httpApp.Servers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		srv := httpApp.Servers[n]
		host, found := findHandler(srv.Routes, h, "")
		if !found {
			continue
		}
		return origin(srv, host)
	}
	return "https://localhost"
}

// findHandler reports whether routes (or their subroutes) hold h, and the
// first host named by a host matcher on the way to it.
func findHandler(routes caddyhttp.RouteList, h caddyhttp.MiddlewareHandler, host string) (string, bool) {
	for _, rt := range routes {
		hh := host
		if hh == "" {
			hh = hostOf(rt.MatcherSetsRaw)
		}
		if hh == "" {
			// A provisioned route keeps its loaded matchers only.
			hh = loadedHost(rt.MatcherSets)
		}
		for _, mh := range rt.Handlers {
			if mh == h {
				return hh, true
			}
			switch x := mh.(type) {
			case *caddyhttp.Subroute:
				if found, ok := findHandler(x.Routes, h, hh); ok {
					return found, true
				}
			}
		}
	}
	return "", false
}

func hostOf(sets caddyhttp.RawMatcherSets) string {
	for _, set := range sets {
		raw, ok := set["host"]
		if !ok {
			continue
		}
		var hosts []string
		if json.Unmarshal(raw, &hosts) == nil {
			for _, h := range hosts {
				if !strings.Contains(h, "*") && !strings.Contains(h, "{") {
					return h
				}
			}
		}
	}
	return ""
}

func loadedHost(sets caddyhttp.MatcherSets) string {
	for _, set := range sets {
		for _, m := range set {
			var hosts []string
			switch x := m.(type) {
			case *caddyhttp.MatchHost:
				hosts = *x
			case caddyhttp.MatchHost:
				hosts = x
			}
			for _, h := range hosts {
				if !strings.Contains(h, "*") && !strings.Contains(h, "{") {
					return h
				}
			}
		}
	}
	return ""
}

// origin renders scheme://host[:port] for a host on a server.
func origin(srv *caddyhttp.Server, host string) string {
	scheme := "https"
	if srv.TLSConnPolicies == nil {
		scheme = "http"
	}
	if host == "" {
		host = "localhost"
	}
	port := ""
	if len(srv.Listen) > 0 {
		if addr, err := caddy.ParseNetworkAddress(srv.Listen[0]); err == nil && !addr.IsUnixNetwork() && addr.StartPort != 0 {
			port = fmt.Sprint(addr.StartPort)
		}
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		return scheme + "://" + net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminAPI)(nil)
	_ caddy.Provisioner = (*adminAPI)(nil)
)
