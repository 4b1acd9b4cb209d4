package caddymodule

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/caddymodule/console"
)

// ConsoleLinkRequest is the body of POST /scim/console/links: a sign-in
// link for a tenant's admin (Tenant set) or for an operator.
type ConsoleLinkRequest struct {
	Tenant   string         `json:"tenant,omitempty"`
	Operator bool           `json:"operator,omitempty"`
	TTL      caddy.Duration `json:"ttl,omitempty"`
}

// ConsoleLink is a single-use sign-in link: shown once, never stored.
type ConsoleLink struct {
	URL       string    `json:"url"`
	Tenant    string    `json:"tenant,omitempty"`
	Operator  bool      `json:"operator"`
	ExpiresAt time.Time `json:"expires_at"`
}

// maxLinkTTL bounds how long a sign-in link may be valid.
const maxLinkTTL = 24 * time.Hour

func (a *adminAPI) consoleLinks(w http.ResponseWriter, r *http.Request, app *App) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(http.MethodPost)
	}
	var req ConsoleLinkRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		return apiError(http.StatusBadRequest, "the body must be {\"tenant\": <name>} or {\"operator\": true}, with an optional \"ttl\": %v", err)
	}
	switch {
	case req.Tenant != "" && req.Operator:
		return apiError(http.StatusBadRequest, "a link signs in a tenant's admin or an operator, not both")
	case req.Tenant == "" && !req.Operator:
		return apiError(http.StatusBadRequest, "name the tenant whose admin the link is for, or ask for an operator link")
	}
	ttl := time.Duration(req.TTL)
	if ttl == 0 {
		ttl = DefaultLinkTTL
	}
	if ttl < time.Minute || ttl > maxLinkTTL {
		return apiError(http.StatusBadRequest, "ttl must be between 1m and 24h")
	}
	c := app.consoleHandler()
	if c == nil {
		return apiError(http.StatusNotFound, "the running config serves no console: add the scim_console directive to the site")
	}
	if req.Tenant != "" && app.tenant(req.Tenant) == nil {
		if _, ok := app.runtimeRecord(req.Tenant); !ok {
			return app.notServed(req.Tenant)
		}
	}
	secret, err := app.shared.console.NewLink(req.Tenant, req.Operator, ttl)
	if err != nil {
		return apiError(http.StatusInternalServerError, "%v", err)
	}
	who := zap.String("tenant", req.Tenant)
	if req.Operator {
		who = zap.Bool("operator", true)
	}
	app.logger.Info("console sign-in link created", who, zap.Duration("ttl", ttl))
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, ConsoleLink{
		URL:       console.SigninURL(c.origin(), c.Prefix, secret),
		Tenant:    req.Tenant,
		Operator:  req.Operator,
		ExpiresAt: now().UTC().Add(ttl),
	})
}
