package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// Kinds of tenant in the admin API.
const (
	// KindStatic: declared in the config.
	KindStatic = "static"
	// KindRuntime: enabled at runtime and kept in the store.
	KindRuntime = "runtime"
)

// RuntimeTenantRequest is the body of PUT /scim/tenants/{name}: a runtime
// tenant's profile and what it overrides of it. Every field is optional;
// an absent one takes the profile's value.
type RuntimeTenantRequest struct {
	// Profile names the config's runtime_tenants block; when absent, the
	// profile named "default", or the config's only profile.
	Profile string `json:"profile,omitempty"`
	// Settings override the profile's backend settings, key by key.
	Settings json.RawMessage `json:"settings,omitempty"`
	// TokenValidity overrides the profile's token validity ("365d").
	TokenValidity caddy.Duration `json:"token_validity,omitempty"`
	// RotationOverlap overrides the profile's rotation overlap; "0s"
	// revokes a replaced token at once.
	RotationOverlap *caddy.Duration `json:"rotation_overlap,omitempty"`
	// RateLimit overrides the profile's rate limit.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
}

// RuntimeTenantInfo is what the admin API shows of a runtime tenant's
// record: its profile, its overrides, and when it was created, changed
// and disabled.
type RuntimeTenantInfo struct {
	Profile string `json:"profile"`
	// Account is, for a named connection created in the console, the
	// tenant whose admin created it.
	Account         string          `json:"account,omitempty"`
	Settings        json.RawMessage `json:"settings,omitempty"`
	TokenValidity   string          `json:"token_validity,omitempty"`
	RotationOverlap string          `json:"rotation_overlap,omitempty"`
	RateLimit       *RateLimit      `json:"rate_limit,omitempty"`
	Created         time.Time       `json:"created"`
	Updated         time.Time       `json:"updated"`
	DisabledAt      *time.Time      `json:"disabled_at,omitempty"`
}

// PurgeResult is the answer to a purge.
type PurgeResult struct {
	Tenant string `json:"tenant"`
	Purged bool   `json:"purged"`
	// BackendData says what became of the tenant's data in the backend's
	// product: "deleted", or why it was kept.
	BackendData string `json:"backend_data"`
}

func runtimeInfo(rec tenants.Record) *RuntimeTenantInfo {
	info := &RuntimeTenantInfo{Profile: rec.Profile, Account: rec.Account, Settings: rec.Settings, RateLimit: nil,
		Created: rec.Created, Updated: rec.Updated, DisabledAt: rec.DisabledAt}
	if rec.TokenValidity > 0 {
		info.TokenValidity = rec.TokenValidity.String()
	}
	if rec.RotationOverlap != nil {
		info.RotationOverlap = rec.RotationOverlap.String()
	}
	if rl := rec.RateLimit; rl != nil {
		info.RateLimit = &RateLimit{Requests: rl.Requests, Window: caddy.Duration(rl.Window)}
	}
	return info
}

// tenantRoute serves /scim/tenants/{name}: GET shows any tenant, PUT
// creates or changes a runtime tenant, DELETE disables one (or purges it,
// with ?purge=true&confirm={name}).
func (a *adminAPI) tenantRoute(w http.ResponseWriter, r *http.Request, app *App, name string) error {
	switch r.Method {
	case http.MethodGet:
		if app.tenant(name) == nil {
			if _, ok := app.runtimeRecord(name); !ok {
				return unknownTenant(name)
			}
		}
		st, err := app.status(r.Context(), name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, st)
	case http.MethodPut:
		return a.putTenant(w, r, app, name)
	case http.MethodDelete:
		if r.URL.Query().Has("purge") {
			return a.purgeTenant(w, r, app, name)
		}
		return a.disableTenant(w, r, app, name)
	}
	return methodNotAllowed("GET, PUT or DELETE")
}

// runtimeRecord returns the stored record of a runtime tenant, disabled or
// not, once the store is open.
func (app *App) runtimeRecord(name string) (tenants.Record, bool) {
	if err := app.start(); err != nil || app.shared.runtime == nil {
		return tenants.Record{}, false
	}
	return app.shared.runtime.Get(name)
}

func apiError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

func (a *adminAPI) putTenant(w http.ResponseWriter, r *http.Request, app *App, name string) error {
	if err := tenants.CheckName(name); err != nil {
		return apiError(http.StatusBadRequest, "%w", err)
	}
	if err := app.start(); err != nil {
		return apiError(http.StatusServiceUnavailable, "the scim app is not running: %w", err)
	}
	if app.staticTenant(name) != nil {
		return apiError(http.StatusConflict, "tenant %q is declared in the config; change it there, or pick another name for a runtime tenant", name)
	}
	if n := app.staticCaseTwin(name); n != "" {
		return apiError(http.StatusConflict, "tenant %q differs from the existing tenant %q only in case; tenant names must differ in more than case", name, n)
	}
	var req RuntimeTenantRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		return apiError(http.StatusBadRequest, "the body must be a JSON object with profile, settings, token_validity, rotation_overlap and rate_limit, each optional: %v", err)
	}
	if dec.More() {
		return apiError(http.StatusBadRequest, "the body must be one JSON object")
	}
	rec, err := app.recordFrom(name, req)
	if err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	_, exists := app.shared.runtime.Get(name)
	switch {
	case r.Header.Get("If-None-Match") == "*" && exists:
		return apiError(http.StatusPreconditionFailed, "tenant %q already exists; change it with 'caddy scim tenant set %s' (PUT without If-None-Match)", name, name)
	case r.Header.Get("If-Match") == "*" && !exists:
		return apiError(http.StatusPreconditionFailed, "there is no runtime tenant %q; create it with 'caddy scim tenant add %s'", name, name)
	}
	old, err := app.putRuntime(r.Context(), rec)
	var conflict *tenants.ConflictError
	switch {
	case errors.As(err, &conflict):
		return apiError(http.StatusConflict, "%v", err)
	case errors.Is(err, tenants.ErrPurging):
		return apiError(http.StatusConflict, "tenant %q is being purged; try again once the purge is done", name)
	case errors.Is(err, tenants.ErrChanged):
		return apiError(http.StatusConflict, "tenant %q: %v", name, err)
	case sdk.IsInvalid(err):
		return apiError(http.StatusBadRequest, "the backend refused the settings: %v", err)
	case err != nil:
		return apiError(http.StatusBadGateway, "%v", err)
	}
	status, verb := http.StatusOK, "changed"
	switch {
	case old == nil:
		status, verb = http.StatusCreated, "created"
	case old.Disabled:
		verb = "enabled again"
	}
	app.logger.Info("runtime tenant "+verb, zapTenant(name), zap.String("profile", rec.Profile))
	st, err := app.status(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, status, st)
}

// putRuntime saves a runtime tenant's record, once its backend accepted
// the settings, and serves it. It returns the previous record.
func (app *App) putRuntime(ctx context.Context, rec tenants.Record) (*tenants.Record, error) {
	if cur, ok := app.shared.runtime.Get(rec.Name); ok && rec.Account == "" {
		// A named connection stays its account's, whoever changes it.
		rec.Account = cur.Account
	}
	var prepared *registration
	old, err := app.shared.runtime.Put(ctx, rec, func(_, next *tenants.Record) error {
		reg, err := app.prepareRuntime(ctx, next, true)
		prepared = reg
		return err
	})
	if err != nil {
		return nil, err
	}
	app.installRuntime(prepared)
	return old, nil
}

// recordFrom checks a PUT body against the running config and turns it
// into a record.
func (app *App) recordFrom(name string, req RuntimeTenantRequest) (tenants.Record, error) {
	rec := tenants.Record{Name: name, Profile: req.Profile}
	if rec.Profile == "" {
		switch names := app.profileNames(); {
		case app.profile(DefaultProfile) != nil:
			rec.Profile = DefaultProfile
		case len(names) == 0:
			return rec, errors.New("the running config lets no tenant be enabled at runtime: add a runtime_tenants block to its scim directive")
		case len(names) == 1:
			rec.Profile = names[0]
		default:
			return rec, fmt.Errorf("the config has several runtime_tenants profiles and none is named default; name one in \"profile\": %s", strings.Join(names, ", "))
		}
	}
	if app.profile(rec.Profile) == nil {
		return rec, fmt.Errorf("the running config has no runtime_tenants profile %q; it has: %s", clip(rec.Profile), strings.Join(app.profileNames(), ", "))
	}
	if s := strings.TrimSpace(string(req.Settings)); s != "" && s != "null" {
		var m map[string]any
		if err := json.Unmarshal(req.Settings, &m); err != nil || m == nil {
			return rec, errors.New("settings must be a JSON object")
		}
		compact, _ := json.Marshal(m)
		rec.Settings = compact
	}
	if req.TokenValidity < 0 {
		return rec, errors.New("token_validity cannot be negative")
	}
	rec.TokenValidity = time.Duration(req.TokenValidity)
	if req.RotationOverlap != nil {
		if *req.RotationOverlap < 0 {
			return rec, errors.New("rotation_overlap cannot be negative")
		}
		d := time.Duration(*req.RotationOverlap)
		rec.RotationOverlap = &d
	}
	if rl := req.RateLimit; rl != nil {
		if rl.Requests <= 0 || rl.Window <= 0 {
			return rec, errors.New("rate_limit needs a positive number of requests and a positive window, such as {\"requests\": 100, \"window\": \"1s\"}")
		}
		rec.RateLimit = &tenants.RateLimit{Requests: rl.Requests, Window: time.Duration(rl.Window)}
	}
	return rec, nil
}

// staticCaseTwin returns the config's tenant whose name equals name in
// another case, or "". Runtime tenants' case twins are the registry's to
// refuse.
func (app *App) staticCaseTwin(name string) string {
	app.reg.mu.RLock()
	defer app.reg.mu.RUnlock()
	for n := range app.reg.tenants {
		if n != name && strings.EqualFold(n, name) {
			return n
		}
	}
	return ""
}

// notRuntime explains why a tenant cannot be disabled or purged.
func (app *App) notRuntime(name string) error {
	if app.staticTenant(name) != nil {
		return apiError(http.StatusConflict, "tenant %q is declared in the config; remove it there and reload", name)
	}
	return unknownTenant(name)
}

func (a *adminAPI) disableTenant(w http.ResponseWriter, r *http.Request, app *App, name string) error {
	if _, ok := app.runtimeRecord(name); !ok {
		return app.notRuntime(name)
	}
	rec, err := app.shared.runtime.Disable(r.Context(), name)
	if errors.Is(err, tenants.ErrChanged) {
		return apiError(http.StatusConflict, "tenant %q: %v", name, err)
	}
	if err != nil {
		return apiError(http.StatusInternalServerError, "%v", err)
	}
	app.removeRuntime(name)
	app.logger.Info("runtime tenant disabled", zapTenant(name), zap.String("profile", rec.Profile))
	st, err := app.status(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func (a *adminAPI) purgeTenant(w http.ResponseWriter, r *http.Request, app *App, name string) error {
	q := r.URL.Query()
	if q.Get("purge") != "true" || q.Get("confirm") != name {
		return apiError(http.StatusBadRequest, "purging deletes every user, group, token and change of tenant %q, and its data in the backend's product, for good; confirm it by naming the tenant: ?purge=true&confirm=%s", name, name)
	}
	if _, ok := app.runtimeRecord(name); !ok {
		return app.notRuntime(name)
	}
	res := PurgeResult{Tenant: name}
	err := app.shared.runtime.Purge(r.Context(), name, func(rec tenants.Record) error {
		app.removeRuntime(name)
		kept, err := app.purgeBackend(r, &rec)
		if err != nil {
			return err
		}
		res.BackendData = kept
		return nil
	})
	if err != nil {
		var api caddy.APIError
		if errors.As(err, &api) {
			return err
		}
		if errors.Is(err, tenants.ErrChanged) {
			return apiError(http.StatusConflict, "tenant %q: %v", name, err)
		}
		return apiError(http.StatusInternalServerError, "%v", err)
	}
	app.shared.tokens.Forget(name)
	app.shared.skipped.forget(name)
	app.shared.requests.Forget(name)
	res.Purged = true
	app.logger.Info("runtime tenant purged", zapTenant(name), zap.String("backend_data", res.BackendData))
	return writeJSON(w, http.StatusOK, res)
}

// purgeBackend asks the tenant's backend to delete the tenant's product
// data, then removes the tenant's backend data directory. It returns what
// became of the data; an error stops the purge with the tenant disabled.
func (app *App) purgeBackend(r *http.Request, rec *tenants.Record) (string, error) {
	pr := app.profile(rec.Profile)
	if pr == nil {
		return fmt.Sprintf("kept: the running config has no profile %q, so no backend could be asked to delete it", rec.Profile), nil
	}
	if pr.proc == nil {
		return "none: the profile has no backend", nil
	}
	t, err := effective(pr.profile, rec)
	if err != nil {
		return "", apiError(http.StatusConflict, "%v", err)
	}
	tb := newTenantBackend(pr.proc, app.StorageDir, rec.Name, t.Backend.Settings)
	c, err := tb.configure(r.Context())
	if err != nil {
		return "", backendError("preparing the backend to purge the tenant", err)
	}
	_, err = c.Purge(r.Context(), &sdk.PurgeRequest{Tenant: rec.Name})
	pr.proc.forget(rec.Name)
	switch {
	case errors.Is(err, sdk.ErrUnimplemented):
		return "kept: the backend does not offer purging; delete the tenant's data in the product", nil
	case err != nil:
		return "", backendError("purging the tenant's product data", err)
	}
	dir := filepath.Join(app.StorageDir, "backends", rec.Name)
	if err := os.RemoveAll(dir); err != nil {
		return "", apiError(http.StatusInternalServerError, "removing the tenant's backend directory: %v", err)
	}
	return "deleted", nil
}
