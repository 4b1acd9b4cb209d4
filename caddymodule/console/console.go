// Package console is the "User and Group Sync" web console: a page per
// tenant where the tenant's admin switches on provisioning from their
// identity provider — the Tenant URL, a token shown once, expiry and
// last-access warnings, the connection check, delivery to the product and
// the backend's settings and actions — and a list of every tenant for the
// operator.
//
// The console never serves anonymous requests. A request is signed in
// either by the server's own authentication, which ran before the console
// and which Config.Identify reads, or by a console session cookie that a
// single-use sign-in link starts (Sessions.NewLink, SigninURL).
//
// Pages are server-rendered from embedded templates and work without
// JavaScript; a small embedded script only adds copy buttons, builds the
// credentials download and asks before destructive steps. Every state
// change is a POST checked twice against cross-site requests: by
// http.CrossOriginProtection and by a per-user token in a hidden field.
//
// Routes, under Config.Prefix:
//
//	GET  /                            operator: tenant list (?q= search); tenant admin: redirect to the panel
//	GET  /signin?link=SECRET          Sign in button; POST /signin uses the link up
//	POST /signout                     end the console session
//	GET  /assets/NAME                 stylesheet and script
//	POST /tenants                     operator: enable SCIM for a new tenant
//	GET  /t/TENANT/                   the tenant's panel
//	GET  /t/TENANT/connection         the connection check alone (refreshed by script)
//	GET  /t/TENANT/regenerate         confirm replacing the token
//	POST /t/TENANT/token              generate or regenerate: the only page that shows a token
//	POST /t/TENANT/replay             replay dead letters (seq, or all)
//	POST /t/TENANT/settings           save the backend's settings
//	POST /t/TENANT/actions/NAME       run a backend action with an uploaded file
//	POST /t/TENANT/enable, /disable   operator: switch SCIM on or off
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"
)

//go:embed templates/*.html assets/*.css assets/*.js
var files embed.FS

// CookieName is the console session cookie.
const CookieName = "scim_console"

// Log keys used by more than one log line.
const (
	logKeyTenant   = "tenant"
	logKeyOperator = "operator"
)

// Config configures a console Handler.
type Config struct {
	// Prefix is the URL path prefix, e.g. "/console"; pages live under
	// Prefix + "/".
	Prefix string
	// Service is what the console shows and changes.
	Service Service
	// Sessions keeps sign-in links and console sessions; nil: a private
	// one, so that only Identify can sign requests in.
	Sessions *Sessions
	// Identify returns who the request is from according to the server's
	// own authentication, which ran first: the tenant the signed-in user
	// administers, and whether they are an operator. ("", false) means no
	// one: then only a console session cookie can sign the request in. May
	// be nil.
	Identify func(r *http.Request) (tenant string, operator bool)
	// Logger logs failures and sign-ins; nil: no-op.
	Logger *zap.Logger
	// Now is the panel's own clock, for "expires in N days"; nil: time.Now.
	Now func() time.Time
}

// Handler serves the console.
type Handler struct {
	prefix   string
	svc      Service
	sessions *Sessions
	identify func(r *http.Request) (string, bool)
	log      *zap.Logger
	now      func() time.Time
	cop      *http.CrossOriginProtection
	pages    map[string]*template.Template
	assets   map[string]asset
}

type asset struct {
	body        []byte
	version     string
	contentType string
}

// New returns a Handler for cfg, with its templates parsed.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil {
		return nil, errors.New("console: no Service")
	}
	h := &Handler{
		prefix:   cleanPrefix(cfg.Prefix),
		svc:      cfg.Service,
		sessions: cfg.Sessions,
		identify: cfg.Identify,
		log:      cfg.Logger,
		now:      cfg.Now,
		cop:      http.NewCrossOriginProtection(),
		assets:   make(map[string]asset),
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if h.sessions == nil {
		h.sessions = NewSessions(h.now)
	}
	if err := h.loadAssets(); err != nil {
		return nil, err
	}
	if err := h.parseTemplates(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Handler) loadAssets() error {
	entries, err := fs.Glob(files, "assets/*")
	if err != nil {
		return err
	}
	for _, name := range entries {
		b, err := files.ReadFile(name)
		if err != nil {
			return fmt.Errorf("console: reading %s: %w", name, err)
		}
		sum := sha256.Sum256(b)
		ct := "text/css; charset=utf-8"
		if strings.HasSuffix(name, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		h.assets[path.Base(name)] = asset{body: b, version: hex.EncodeToString(sum[:6]), contentType: ct}
	}
	return nil
}

// parseTemplates parses every page once: layout.html and the partials
// (files starting with "_") with each page file.
func (h *Handler) parseTemplates() error {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return err
	}
	base := template.New("layout.html").Funcs(h.funcs())
	var shared []string
	for _, n := range names {
		if b := path.Base(n); b == "layout.html" || strings.HasPrefix(b, "_") {
			shared = append(shared, n)
		}
	}
	if _, err := base.ParseFS(files, shared...); err != nil {
		return fmt.Errorf("console: parsing templates: %w", err)
	}
	h.pages = make(map[string]*template.Template)
	for _, n := range names {
		b := path.Base(n)
		if b == "layout.html" || strings.HasPrefix(b, "_") {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return err
		}
		if _, err := t.ParseFS(files, n); err != nil {
			return fmt.Errorf("console: parsing %s: %w", b, err)
		}
		h.pages[strings.TrimSuffix(b, ".html")] = t
	}
	return nil
}

// securityHeaders are set on every response.
func securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
}

// ServeHTTP serves the console's pages under the prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	rest, ok := strings.CutPrefix(r.URL.Path, h.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		h.fail(w, r, nil, http.StatusNotFound, "Page not found", "There is no console page at this address.")
		return
	}
	if rest == "" {
		http.Redirect(w, r, h.prefix+"/", http.StatusSeeOther)
		return
	}
	if name, ok := strings.CutPrefix(rest, "/assets/"); ok {
		h.serveAsset(w, r, name)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := h.cop.Check(r); err != nil {
			h.fail(w, r, nil, http.StatusForbidden, "Request refused",
				"The request came from another site. Open the console and use its buttons.")
			return
		}
	}
	if rest == "/signin" {
		h.signin(w, r)
		return
	}
	p, err := h.principal(r)
	if err != nil {
		h.internal(w, r, nil, "reading the console session", err)
		return
	}
	if p == nil {
		h.render(w, r, nil, http.StatusUnauthorized, "unauthorized", "Sign-in needed", nil)
		return
	}
	if p.invalid {
		h.fail(w, r, p, http.StatusForbidden, "Access refused",
			"Your sign-in names no tenant this console can show. Ask your service provider for access.")
		return
	}
	if r.Method == http.MethodPost && !h.checkCSRF(w, r, p) {
		return
	}
	h.route(w, r, p, rest)
}

// route dispatches a signed-in request by its path below the prefix.
func (h *Handler) route(w http.ResponseWriter, r *http.Request, p *principal, rest string) {
	switch rest {
	case "/":
		h.only(w, r, p, http.MethodGet, h.home)
		return
	case "/signout":
		h.only(w, r, p, http.MethodPost, h.signout)
		return
	case "/tenants":
		h.only(w, r, p, http.MethodPost, h.enableNew)
		return
	}
	after, ok := strings.CutPrefix(rest, "/t/")
	if !ok {
		h.fail(w, r, p, http.StatusNotFound, "Page not found", "There is no console page at this address.")
		return
	}
	tenant, sub, _ := strings.Cut(after, "/")
	if !h.authorize(w, r, p, tenant) {
		return
	}
	if sub == "" && !strings.HasSuffix(after, "/") {
		http.Redirect(w, r, h.tenantPath(tenant), http.StatusSeeOther)
		return
	}
	t := tenantRequest{p: p, tenant: tenant}
	switch {
	case sub == "":
		h.only(w, r, p, http.MethodGet, t.bind(h.panel))
	case sub == "connection":
		h.only(w, r, p, http.MethodGet, t.bind(h.connection))
	case sub == "setup" || strings.HasPrefix(sub, "setup/"):
		idp := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(sub, "setup"), "/"), "/")
		h.only(w, r, p, http.MethodGet, t.bind(func(w http.ResponseWriter, r *http.Request, t tenantRequest) { h.setup(w, r, t, idp) }))
	case sub == "regenerate":
		h.only(w, r, p, http.MethodGet, t.bind(h.regenerate))
	case sub == "token":
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			// A token is shown only in answer to the POST that made it.
			http.Redirect(w, r, h.tenantPath(tenant), http.StatusSeeOther)
			return
		}
		h.only(w, r, p, http.MethodPost, t.bind(h.token))
	case sub == "connections":
		h.only(w, r, p, http.MethodPost, t.bind(h.createConnection))
	case sub == "replay":
		h.only(w, r, p, http.MethodPost, t.bind(h.replay))
	case sub == "settings":
		h.only(w, r, p, http.MethodPost, t.bind(h.saveSettings))
	case strings.HasPrefix(sub, "actions/"):
		h.only(w, r, p, http.MethodPost, t.bind(h.runAction))
	case sub == "enable" || sub == "disable":
		h.only(w, r, p, http.MethodPost, t.bind(h.enableDisable))
	default:
		h.fail(w, r, p, http.StatusNotFound, "Page not found", "There is no console page at this address.")
	}
}

// tenantRequest is a request about one tenant the principal may see.
type tenantRequest struct {
	p      *principal
	tenant string
}

func (t tenantRequest) bind(f func(http.ResponseWriter, *http.Request, tenantRequest)) func(http.ResponseWriter, *http.Request, *principal) {
	return func(w http.ResponseWriter, r *http.Request, _ *principal) { f(w, r, t) }
}

// only serves r with f if its method is method (GET includes HEAD).
func (h *Handler) only(w http.ResponseWriter, r *http.Request, p *principal, method string, f func(http.ResponseWriter, *http.Request, *principal)) {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		f(w, r, p)
		return
	}
	w.Header().Set("Allow", method)
	h.fail(w, r, p, http.StatusMethodNotAllowed, "Not allowed", "This page does not accept that kind of request.")
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := h.assets[name]
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", `"`+a.version+`"`)
	if r.URL.Query().Get("v") == a.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

// assetPath is an asset's address with its content version, so that it
// can be cached for good.
func (h *Handler) assetPath(name string) string {
	return h.prefix + "/assets/" + name + "?v=" + h.assets[name].version
}

// tenantPath is the address of a tenant's panel.
func (h *Handler) tenantPath(tenant string) string {
	return h.prefix + "/t/" + tenant + "/"
}
