package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// OAuth configures a tenant's OAuth 2.0 client credentials grant
// (RFC 6749 §4.4), which Entra ID requires of gallery apps. The tenant's
// token endpoint is its Tenant URL plus "/oauth/token"; secrets are
// generated with the admin API or 'caddy scim oauth secret'.
type OAuth struct {
	// AccessTokenLifetime is how long an access token from the token
	// endpoint is valid. Defaults to one hour; at most 24 hours.
	AccessTokenLifetime caddy.Duration `json:"access_token_lifetime,omitempty"`
}

// maxAccessTokenLifetime bounds OAuth.AccessTokenLifetime: access tokens
// are meant to be short-lived.
const maxAccessTokenLifetime = 24 * time.Hour

// maxTokenRequest bounds the body of a token request.
const maxTokenRequest = 16 << 10

// tokenPath is the token endpoint's path under a tenant's SCIM base.
const tokenPath = "/oauth/token"

// TokenResponse is a successful token endpoint answer (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// TokenError is a failed token endpoint answer (RFC 6749 §5.2).
type TokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// accessTokenLifetime is the tenant's configured access token lifetime.
func (t *Tenant) accessTokenLifetime() time.Duration {
	if t.OAuth == nil || t.OAuth.AccessTokenLifetime <= 0 {
		return tokens.DefaultAccessTokenLifetime
	}
	return time.Duration(t.OAuth.AccessTokenLifetime)
}

// serveToken is the tenant's token endpoint: the client credentials grant
// (RFC 6749 §4.4.2) with the client authenticated by HTTP Basic or by
// client_id and client_secret in the body (§2.3.1). It needs no bearer
// token. Failed client authentications are limited per tenant.
func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	start := time.Now()
	op := operationInfo{name: "oauth token", resource: "oauth"}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	fail := func(status int, code, desc string) {
		if status == http.StatusUnauthorized {
			// RFC 6749 §5.2: invalid_client with 401 carries the scheme
			// the client may authenticate with.
			w.Header().Set("WWW-Authenticate", `Basic realm="scim"`)
		}
		writeTokenJSON(w, status, TokenError{Error: code, Description: desc})
		h.oauth.requests.WithLabelValues(tenant, code).Inc()
		h.observe(r, tenant, op, status, start)
	}
	if r.Method != http.MethodPost {
		// RFC 6749 §3.2: the token endpoint takes POST only.
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
		return
	}
	failures := h.app.shared.failures.bucket(tenant)
	if wait := failures.check(); wait > 0 {
		secs := retryAfter(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		fail(http.StatusTooManyRequests, "temporarily_unavailable",
			"too many failed client authentications for this tenant; retry in "+plural(secs, "second", "seconds"))
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		fail(http.StatusBadRequest, "invalid_request", "send the parameters as application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "the request body is not a valid form")
		return
	}
	form := r.PostForm
	// RFC 6749 §3.2: parameters must not be repeated.
	for k, v := range form {
		if len(v) > 1 {
			fail(http.StatusBadRequest, "invalid_request", fmt.Sprintf("the parameter %s is repeated", clip(k)))
			return
		}
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		fail(http.StatusBadRequest, "invalid_request", "grant_type is required; use client_credentials")
		return
	case "client_credentials":
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type", "this token endpoint supports grant_type client_credentials only")
		return
	}
	id, secret, ok, err := clientCredentials(r, form)
	if err != nil {
		fail(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if !ok {
		failures.spend()
		fail(http.StatusUnauthorized, "invalid_client", "client authentication is required: HTTP Basic, or client_id and client_secret")
		return
	}
	reg := h.Tenants[tenant]
	iss, err := h.app.shared.tokens.IssueAccessToken(r.Context(), tenant, id, secret, reg.accessTokenLifetime())
	switch {
	case errors.Is(err, tokens.ErrInvalidClient):
		failures.spend()
		fail(http.StatusUnauthorized, "invalid_client", "the client id or secret is not valid for this tenant")
		return
	case err != nil:
		h.logger.Error("issuing access token", zapTenant(tenant), zap.Error(err))
		fail(http.StatusInternalServerError, "server_error", "the access token could not be issued; try again")
		return
	}
	h.logger.Info("oauth access token issued", zapTenant(tenant),
		zap.String("client_id", iss.Record.ClientID), zap.String("secret_id", iss.Record.SecretID))
	writeTokenJSON(w, http.StatusOK, TokenResponse{
		AccessToken: iss.Token,
		TokenType:   "Bearer",
		ExpiresIn:   int64(iss.Record.ExpiresAt.Sub(iss.Record.IssuedAt) / time.Second),
	})
	h.oauth.requests.WithLabelValues(tenant, "issued").Inc()
	h.observe(r, tenant, op, http.StatusOK, start)
}

// clientCredentials returns the client id and secret of a token request,
// from HTTP Basic (with both parts form-encoded, RFC 6749 §2.3.1) or from
// the body. ok is false when there are none; an error when the request
// uses both methods, or carries two Authorization headers.
func clientCredentials(r *http.Request, form url.Values) (id, secret string, ok bool, err error) {
	if n := len(r.Header.Values("Authorization")); n > 1 {
		return "", "", false, fmt.Errorf("the request has %d Authorization headers; send one", n)
	}
	inBody := form.Has("client_id") || form.Has("client_secret")
	if auth := r.Header.Get("Authorization"); auth != "" {
		if inBody {
			return "", "", false, errors.New("authenticate the client by one method: HTTP Basic or the body, not both")
		}
		scheme, cred, _ := strings.Cut(strings.TrimSpace(auth), " ")
		if !strings.EqualFold(scheme, "Basic") {
			return "", "", false, nil
		}
		raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if derr != nil {
			return "", "", false, nil
		}
		u, p, found := strings.Cut(string(raw), ":")
		if !found {
			return "", "", false, nil
		}
		if id, err = url.QueryUnescape(u); err != nil {
			return "", "", false, nil
		}
		if secret, err = url.QueryUnescape(p); err != nil {
			return "", "", false, nil
		}
		return id, secret, id != "" && secret != "", nil
	}
	id, secret = form.Get("client_id"), form.Get("client_secret")
	return id, secret, id != "" && secret != "", nil
}

func writeTokenJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// oauthMetrics count token endpoint answers and rate-limited SCIM
// requests, registered beside the handler's other collectors.
type oauthMetrics struct {
	requests    *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
}

var (
	oauthMetricsMu sync.Mutex
	// oauthByRegistry lets every handler of a config share one set of
	// collectors; each config has its own registry.
	oauthByRegistry = map[*prometheus.Registry]*oauthMetrics{}
)

func newOAuthMetrics(reg *prometheus.Registry) (*oauthMetrics, error) {
	oauthMetricsMu.Lock()
	defer oauthMetricsMu.Unlock()
	if reg != nil {
		if m, ok := oauthByRegistry[reg]; ok {
			return m, nil
		}
	}
	m := &oauthMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "oauth_token_requests_total",
			Help: "Token endpoint requests by tenant and result: issued, or the OAuth error code.",
		}, []string{"tenant", "result"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "rate_limited_total",
			Help: "SCIM requests refused with 429 by the tenant's rate_limit, by tenant.",
		}, []string{"tenant"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.rateLimited} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	oauthByRegistry[reg] = m
	return m, nil
}

// OAuthCredentials is what secret generation returns: the only time the
// client secret is shown.
type OAuthCredentials struct {
	Tenant        string    `json:"tenant"`
	ClientID      string    `json:"client_id"`
	ClientSecret  string    `json:"client_secret"`
	SecretID      string    `json:"secret_id"`
	TokenEndpoint string    `json:"token_endpoint"`
	TenantURL     string    `json:"tenant_url"`
	CreatedAt     time.Time `json:"created_at"`
}

// OAuthStatus is the admin API's view of a tenant's OAuth client. It never
// holds a secret.
type OAuthStatus struct {
	Tenant        string `json:"tenant"`
	TenantURL     string `json:"tenant_url"`
	TokenEndpoint string `json:"token_endpoint"`
	// ClientID is empty until the first secret is generated.
	ClientID  string              `json:"client_id,omitempty"`
	CreatedAt *time.Time          `json:"created_at,omitempty"`
	Secrets   []tokens.SecretInfo `json:"secrets"`
	// AccessTokenLifetime is in seconds, as expires_in is.
	AccessTokenLifetime int64 `json:"access_token_lifetime"`
}

// tokenEndpoint is the URL of a tenant's token endpoint.
func (app *App) tokenEndpoint(name string) string {
	return app.tenantURL(name) + tokenPath
}
