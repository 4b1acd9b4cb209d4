// Package server is the net/http handler for the SCIM 2.0 endpoints of one
// tenant: /Users, /Groups, /Schemas, /ResourceTypes,
// /ServiceProviderConfig and POST /.search (RFC 7644 §3).
//
// It is plain net/http and can be tested with httptest; the Caddy module
// mounts it behind authentication. Reads are served from the store alone.
// Every failure a client can cause is answered as a SCIM error (RFC 7644
// §3.12) with a status, a scimType and a detail; internal errors are logged
// and answered with a generic 500 that reveals nothing.
package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// MediaType is the SCIM media type (RFC 7644 §8.1).
const MediaType = "application/scim+json"

// Defaults for Config.
const (
	DefaultMaxResults   = 1000
	DefaultMaxBodyBytes = 1 << 20
	// DefaultCursorTTL is the default Config.CursorTTL.
	DefaultCursorTTL = 10 * time.Minute
)

// Validator checks a resource before it is committed, beyond the schema:
// for example a backend that requires every user to have an email. It
// returns a *scimerr.Error (usually 400 invalidValue) to refuse the write.
type Validator func(ctx context.Context, tenant string, rt *schema.ResourceType, res map[string]any) error

// Config configures a Server.
type Config struct {
	// Store holds the resources. Required.
	Store store.Store
	// Logger receives error logs. Defaults to a no-op logger.
	Logger *zap.Logger
	// MaxResults is the largest page a list or search returns; it is also
	// the page size when a client gives no count. Advertised in
	// /ServiceProviderConfig as filter.maxResults. Defaults to 1,000.
	MaxResults int
	// MaxBodyBytes limits request bodies; larger ones get 413. Defaults to
	// 1 MiB.
	MaxBodyBytes int64
	// Validate, when set, is called with every resource about to be
	// created or replaced, after schema validation.
	Validate Validator
	// OnSkippedMembers, when set, is called after a write to a group that
	// skipped member ids naming no User or Group of the tenant (or the
	// group itself), with the group's id and the ids skipped. The rest of
	// the membership was applied. It runs after the write committed and
	// must not block.
	OnSkippedMembers func(ctx context.Context, tenant, groupID string, skipped []string)
	// DocumentationURI is advertised in /ServiceProviderConfig.
	DocumentationURI string
	// CursorKey signs the cursors of cursor pagination (RFC 9865) with
	// HMAC-SHA256, so a client cannot forge or alter one. When empty, New
	// generates a random key: cursors then stop working when the server is
	// restarted or another Server instance answers the next page, so hosts
	// that restart or run several instances should configure a key of at
	// least 32 random bytes shared by all of them.
	CursorKey []byte
	// CursorTTL is how long a cursor stays valid after the page that
	// issued it; an older one gets 400 expiredCursor. Advertised in
	// /ServiceProviderConfig as pagination.cursorTimeout. Defaults to
	// DefaultCursorTTL.
	CursorTTL time.Duration
	// Now is the clock that issues and expires cursors. Defaults to
	// time.Now.
	Now func() time.Time
	// BulkMaxOperations is the largest number of operations one /Bulk request
	// may carry; a request with more gets 413 (RFC 7644 §3.7.4). Advertised
	// in /ServiceProviderConfig as bulk.maxOperations. Defaults to
	// DefaultMaxBulkOperations.
	BulkMaxOperations int
	// BulkMaxPayloadSize limits the body of a /Bulk request, in bytes, in place
	// of MaxBodyBytes; a larger one gets 413 (RFC 7644 §3.7.4). The data of
	// each operation is still held to MaxBodyBytes, like a single request.
	// Advertised in /ServiceProviderConfig as bulk.maxPayloadSize. Defaults
	// to DefaultMaxBulkPayloadSize.
	BulkMaxPayloadSize int64
}

// Server serves the SCIM endpoints of any tenant of one store.
type Server struct {
	cfg Config
	log *zap.Logger
}

// New returns a Server. cfg.Store must be set.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MaxResults <= 0 {
		cfg.MaxResults = DefaultMaxResults
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.CursorTTL <= 0 {
		cfg.CursorTTL = DefaultCursorTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.CursorKey) == 0 {
		cfg.CursorKey = make([]byte, 32)
		// crypto/rand.Read never returns an error; it aborts the program
		// when the system has no randomness to give.
		_, _ = rand.Read(cfg.CursorKey)
	} else {
		cfg.CursorKey = bytes.Clone(cfg.CursorKey)
	}
	return &Server{cfg: cfg, log: cfg.Logger}
}

// Handler returns the handler of one tenant's SCIM base, mounted at the URL
// path prefix (e.g. "/scim/v2/acme"). Requests whose path does not start
// with prefix get 404.
func (s *Server) Handler(tenant, prefix string) http.Handler {
	return tenantHandler{s: s, tenant: tenant, prefix: strings.TrimSuffix(prefix, "/")}
}

type tenantHandler struct {
	s      *Server
	tenant string
	prefix string
}

// request is one SCIM request being served.
type request struct {
	*Server
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	tenant string
	// base is the absolute URL of the tenant's SCIM base, for
	// meta.location and Location (RFC 7644 §3.1).
	base string
}

func (h tenantHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &request{Server: h.s, w: w, r: r, ctx: r.Context(), tenant: h.tenant, base: baseURL(r, h.prefix)}
	defer func() {
		if v := recover(); v != nil {
			h.s.log.Error("panic serving SCIM request", zap.Any("panic", v), zap.String("tenant", h.tenant),
				zap.String("method", r.Method), zap.Stack("stack"))
			req.fail(scimerr.From(nil))
		}
	}()
	path := r.URL.Path
	// The prefix must end at a segment boundary: tenant "acme" mounted at
	// /scim/v2/acme does not serve /scim/v2/acmeUsers (fixture errors).
	if !strings.HasPrefix(path, h.prefix) || (len(path) > len(h.prefix) && path[len(h.prefix)] != '/') {
		req.fail(scimerr.NotFound("no SCIM endpoint at this path"))
		return
	}
	req.route(strings.TrimPrefix(path, h.prefix))
}

// baseURL builds the absolute SCIM base from the request: the scheme the
// connection used, the Host header, and the mount prefix.
func baseURL(r *http.Request, prefix string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + prefix
}

// route dispatches on the path below the tenant's base (RFC 7644 §3.2).
func (q *request) route(rel string) {
	if err := checkQuery(q.r.URL.Query()); err != nil {
		q.fail(err)
		return
	}
	segs := strings.Split(strings.Trim(rel, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		q.fail(scimerr.NotFound("this is the SCIM base URL; use /Users, /Groups, /Schemas, /ResourceTypes or /ServiceProviderConfig"))
		return
	}
	if len(segs) > 2 {
		q.fail(scimerr.NotFound("no SCIM endpoint at %s", clip(rel)))
		return
	}
	head := segs[0]
	var id string
	if len(segs) == 2 {
		id = segs[1]
	}
	switch {
	case strings.EqualFold(head, "ServiceProviderConfig") && id == "":
		q.only(http.MethodGet, q.serviceProviderConfig)
	case strings.EqualFold(head, "ResourceTypes"):
		q.only(http.MethodGet, func() { q.resourceTypes(id) })
	case strings.EqualFold(head, "Schemas"):
		q.only(http.MethodGet, func() { q.schemas(id) })
	case head == ".search" && id == "":
		q.only(http.MethodPost, func() { q.search(nil) })
	case strings.EqualFold(head, "Bulk") && id == "":
		q.only(http.MethodPost, q.bulk)
	case strings.EqualFold(head, "Me"):
		q.fail(scimerr.New(http.StatusNotImplemented, "", "/%s is not supported by this service provider", head))
	default:
		rt := schema.ByEndpoint(head)
		if rt == nil {
			q.fail(scimerr.NotFound("no SCIM endpoint /%s; this service provider serves /Users and /Groups", clip(head)))
			return
		}
		q.resource(rt, id)
	}
}

func (q *request) resource(rt *schema.ResourceType, id string) {
	switch {
	case id == "":
		switch q.r.Method {
		case http.MethodGet:
			q.list(rt)
		case http.MethodPost:
			q.create(rt)
		default:
			q.methodNotAllowed("GET, POST")
		}
	case id == ".search":
		q.only(http.MethodPost, func() { q.search(rt) })
	default:
		switch q.r.Method {
		case http.MethodGet:
			q.get(rt, id)
		case http.MethodPut:
			q.replace(rt, id)
		case http.MethodPatch:
			q.patch(rt, id)
		case http.MethodDelete:
			q.delete(rt, id)
		default:
			q.methodNotAllowed("GET, PUT, PATCH, DELETE")
		}
	}
}

func (q *request) only(method string, fn func()) {
	if q.r.Method != method {
		q.methodNotAllowed(method)
		return
	}
	fn()
}

func (q *request) methodNotAllowed(allow string) {
	q.w.Header().Set("Allow", allow)
	q.fail(scimerr.New(http.StatusMethodNotAllowed, "", "method %s is not allowed here; allowed: %s", q.r.Method, allow))
}

// clip shortens client-supplied text quoted back in an error detail.
func clip(s string) string { return scimerr.Clip(s, 64) }
