package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-scim/caddy-scim/caddymodule/console"
)

func init() {
	caddy.RegisterModule(ConsoleHandler{})
	httpcaddyfile.RegisterDirective("scim_console", parseConsoleDirective)
	// After the site's own authentication (basic_auth, forward_auth), so
	// that the identity it establishes is there to read; before the
	// handlers that answer everything else.
	httpcaddyfile.RegisterDirectiveOrder("scim_console", httpcaddyfile.Before, "respond")
}

// DefaultConsolePrefix is the path under which the console is served.
const DefaultConsolePrefix = "/console"

// DefaultLinkTTL is how long a console sign-in link is valid.
const DefaultLinkTTL = 15 * time.Minute

// ConsoleHandler serves the "User and Group Sync" console: a panel per
// tenant for the tenant's admin (Tenant URL, token generation, expiry and
// last-access warnings, delivery, dead letters, recent activity, the
// connection check, backend settings and actions) and a tenant list for
// the operator. Requests outside Prefix go on to the next handler.
//
// The console never serves anonymous requests. A user is signed in
// either by the site's own authentication, which runs first and whose
// result TenantFrom and OperatorFrom read (placeholders such as
// {http.request.header.X-Tenant} that forward_auth's copy_headers sets),
// or by a single-use sign-in link from "caddy scim console".
type ConsoleHandler struct {
	// Prefix is the URL path of the console. Defaults to "/console".
	Prefix string `json:"prefix,omitempty"`
	// TenantFrom is a placeholder naming the tenant the signed-in user
	// administers, as the site's authentication established it. Empty:
	// only sign-in links sign users in.
	TenantFrom string `json:"tenant_from,omitempty"`
	// OperatorFrom is a placeholder that, when it expands to anything but
	// "", "0", "false" or "no", makes the signed-in user an operator, who
	// sees every tenant.
	OperatorFrom string `json:"operator_from,omitempty"`
	// PublicURL is the origin users reach the console at, used in sign-in
	// links; by default the site's address in the running config.
	PublicURL string `json:"public_url,omitempty"`

	app     *App
	console *console.Handler
}

// CaddyModule returns the Caddy module information.
func (ConsoleHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.scim_console",
		New: func() caddy.Module { return new(ConsoleHandler) },
	}
}

// Provision sets defaults and builds the console on the scim app.
func (c *ConsoleHandler) Provision(ctx caddy.Context) error {
	if c.Prefix == "" {
		c.Prefix = DefaultConsolePrefix
	}
	c.Prefix = "/" + strings.Trim(c.Prefix, "/")
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	appIface, err := ctx.App("scim")
	if err != nil {
		return fmt.Errorf("loading scim app: %w", err)
	}
	c.app = appIface.(*App)
	c.app.registerConsole(c)
	h, err := console.New(console.Config{
		Prefix:   c.Prefix,
		Service:  consoleService{app: activeApp},
		Sessions: c.app.shared.console,
		Identify: c.identify,
		Logger:   ctx.Logger(),
		Now:      func() time.Time { return now() },
	})
	if err != nil {
		return err
	}
	c.console = h
	return nil
}

// Validate checks the configuration.
func (c *ConsoleHandler) Validate() error {
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "https://") && !strings.HasPrefix(c.PublicURL, "http://") {
		return fmt.Errorf("public_url %q must start with https:// or http://", c.PublicURL)
	}
	return nil
}

// identify reads who the site's authentication signed in.
func (c *ConsoleHandler) identify(r *http.Request) (string, bool) {
	if c.TenantFrom == "" && c.OperatorFrom == "" {
		return "", false
	}
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return "", false
	}
	var tenant string
	if c.TenantFrom != "" {
		tenant = strings.TrimSpace(repl.ReplaceAll(c.TenantFrom, ""))
	}
	operator := false
	if c.OperatorFrom != "" {
		switch v := strings.ToLower(strings.TrimSpace(repl.ReplaceAll(c.OperatorFrom, ""))); v {
		case "", "0", "false", "no":
		default:
			operator = true
		}
	}
	return tenant, operator
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (c *ConsoleHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.URL.Path != c.Prefix && !strings.HasPrefix(r.URL.Path, c.Prefix+"/") {
		return next.ServeHTTP(w, r)
	}
	c.console.ServeHTTP(w, r)
	return nil
}

// origin is the console's public origin.
func (c *ConsoleHandler) origin() string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	return c.app.siteOrigin(c)
}

// activeApp returns the scim app of the running config.
func activeApp() (*App, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("scim")
	if err != nil {
		return nil, errors.New("the running config has no scim app")
	}
	return v.(*App), nil
}

// registerConsole records a console of this config, for sign-in links.
func (a *App) registerConsole(c *ConsoleHandler) {
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	a.reg.consoles = append(a.reg.consoles, c)
}

// consoleHandler returns the config's console, or nil.
func (a *App) consoleHandler() *ConsoleHandler {
	a.reg.mu.RLock()
	defer a.reg.mu.RUnlock()
	if len(a.reg.consoles) == 0 {
		return nil
	}
	return a.reg.consoles[0]
}

func parseConsoleDirective(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	var c ConsoleHandler
	if err := c.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return h.NewRoute(nil, &c), nil
}

// UnmarshalCaddyfile sets up the console from Caddyfile tokens. Syntax:
//
//	scim_console [<prefix>] {
//		tenant_from   <placeholder>
//		operator_from <placeholder>
//		public_url    <https://host[:port]>
//	}
//
// Without tenant_from and operator_from, only sign-in links from
// "caddy scim console" sign users in.
func (c *ConsoleHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		c.Prefix = d.Val()
		if !strings.HasPrefix(c.Prefix, "/") {
			return d.Errf("scim_console takes a path prefix such as /console, not %q", c.Prefix)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "tenant_from":
			c.TenantFrom = d.Val()
		case "operator_from":
			c.OperatorFrom = d.Val()
		case "public_url":
			c.PublicURL = d.Val()
		default:
			return d.Errf("unrecognized scim_console option %q", opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*ConsoleHandler)(nil)
	_ caddy.Validator             = (*ConsoleHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*ConsoleHandler)(nil)
	_ caddyfile.Unmarshaler       = (*ConsoleHandler)(nil)
)
