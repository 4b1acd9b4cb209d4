package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddytls"

	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

func TestOperation(t *testing.T) {
	tests := []struct {
		method, rest string
		name         string
		resource     string
		write        bool
	}{
		{http.MethodGet, "acme/Users", "list Users", "Users", false},
		{http.MethodPost, "acme/Users", "create User", "Users", true},
		{http.MethodGet, "acme/Users/2819c223", "get User", "Users", false},
		{http.MethodPut, "acme/Users/2819c223", "replace User", "Users", true},
		{http.MethodPatch, "acme/Users/2819c223", "patch User", "Users", true},
		{http.MethodDelete, "acme/Users/2819c223", "delete User", "Users", true},
		{http.MethodPost, "acme/Users/.search", "search Users", "Users", false},
		{http.MethodGet, "acme/Groups", "list Groups", "Groups", false},
		{http.MethodPost, "acme/Groups", "create Group", "Groups", true},
		{http.MethodPatch, "acme/Groups/e9e30dba", "patch Group", "Groups", true},
		{http.MethodDelete, "acme/Groups/e9e30dba", "delete Group", "Groups", true},
		{http.MethodPost, "acme/Groups/.search", "search Groups", "Groups", false},
		// Endpoint names match whatever their case.
		{http.MethodGet, "acme/users", "list Users", "Users", false},
		{http.MethodGet, "acme/GROUPS/x", "get Group", "Groups", false},
		{http.MethodGet, "acme/Users/", "list Users", "Users", false},
		{http.MethodGet, "acme/Schemas", "discovery", "discovery", false},
		{http.MethodGet, "acme/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "discovery", "discovery", false},
		{http.MethodGet, "acme/ResourceTypes/User", "discovery", "discovery", false},
		{http.MethodGet, "acme/ServiceProviderConfig", "discovery", "discovery", false},
		{http.MethodPost, "acme/.search", "search", "search", false},
		{http.MethodGet, "acme", "GET unknown", "other", false},
		{http.MethodGet, "acme/", "GET unknown", "other", false},
		{http.MethodPost, "acme/Bulk", "POST unknown", "other", false},
		{http.MethodGet, "acme/Me", "GET unknown", "other", false},
		{http.MethodHead, "acme/Users/2819c223", "HEAD Users", "Users", false},
		{http.MethodPost, "acme/Users/2819c223", "POST Users", "Users", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.rest, func(t *testing.T) {
			got := operation(tt.method, tt.rest)
			want := operationInfo{name: tt.name, resource: tt.resource, write: tt.write}
			if got != want {
				t.Errorf("operation(%q, %q) = %+v, want %+v", tt.method, tt.rest, got, want)
			}
		})
	}
}

func TestReasonLabel(t *testing.T) {
	tests := []struct {
		reason tokens.Reason
		want   string
	}{
		{tokens.Missing, "missing"},
		{tokens.Invalid, "invalid"},
		{tokens.Revoked, "revoked"},
		{tokens.Expired, "expired"},
		{0, "invalid"},
		{tokens.Reason(99), "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := reasonLabel(tt.reason); got != tt.want {
				t.Errorf("reasonLabel(%d) = %q, want %q", tt.reason, got, tt.want)
			}
		})
	}
}

func TestHandlerValidate(t *testing.T) {
	day := caddy.Duration(24 * time.Hour)
	tests := []struct {
		name    string
		h       Handler
		wantErr string // "" for valid
	}{
		{name: "zero value", h: Handler{}},
		{name: "full", h: Handler{
			Prefix:       "/scim/v2",
			PublicURL:    "https://scim.example.com",
			MaxResults:   100,
			MaxBodyBytes: 1 << 20,
			Tenants: map[string]*Tenant{
				"acme":          {TokenValidity: 365 * day, RotationOverlap: day},
				"globex.eu_1-a": {},
			},
		}},
		{name: "http public_url", h: Handler{PublicURL: "http://localhost:8080"}},
		{name: "64-character name", h: Handler{Tenants: map[string]*Tenant{strings.Repeat("a", 64): {}}}},
		{name: "public_url without scheme", h: Handler{PublicURL: "scim.example.com"},
			wantErr: `public_url "scim.example.com" must start with https:// or http://`},
		{name: "public_url ftp", h: Handler{PublicURL: "ftp://scim.example.com"},
			wantErr: `public_url "ftp://scim.example.com" must start with https:// or http://`},
		{name: "tenant name with space", h: Handler{Tenants: map[string]*Tenant{"a b": {}}},
			wantErr: `tenant name "a b"`},
		{name: "tenant name with slash", h: Handler{Tenants: map[string]*Tenant{"../x": {}}},
			wantErr: `tenant name "../x"`},
		{name: "empty tenant name", h: Handler{Tenants: map[string]*Tenant{"": {}}},
			wantErr: `tenant name ""`},
		{name: "65-character name", h: Handler{Tenants: map[string]*Tenant{strings.Repeat("a", 65): {}}},
			wantErr: "use 1 to 64 letters"},
		{name: "negative token_validity", h: Handler{Tenants: map[string]*Tenant{"acme": {TokenValidity: -day}}},
			wantErr: "tenant acme: durations cannot be negative"},
		{name: "negative rotation_overlap", h: Handler{Tenants: map[string]*Tenant{"acme": {RotationOverlap: -day}}},
			wantErr: "tenant acme: durations cannot be negative"},
		{name: "negative max_results", h: Handler{MaxResults: -1},
			wantErr: "cannot be negative"},
		{name: "negative max_body_bytes", h: Handler{MaxBodyBytes: -1},
			wantErr: "cannot be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("Validate() = nil, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	tls := caddytls.ConnectionPolicies{{}}
	tests := []struct {
		name   string
		listen []string
		tls    caddytls.ConnectionPolicies
		host   string
		want   string
	}{
		{"https default port", []string{":443"}, tls, "app.example.com", "https://app.example.com"},
		{"https other port", []string{":8443"}, tls, "app.example.com", "https://app.example.com:8443"},
		{"https on an interface", []string{"127.0.0.1:8443"}, tls, "app.example.com", "https://app.example.com:8443"},
		{"https port range uses its first port", []string{":8443-8445"}, tls, "app.example.com", "https://app.example.com:8443"},
		{"only the first listener counts", []string{":443", ":8443"}, tls, "app.example.com", "https://app.example.com"},
		{"empty policies still mean TLS", []string{":443"}, caddytls.ConnectionPolicies{}, "app.example.com", "https://app.example.com"},
		{"http default port", []string{":80"}, nil, "app.example.com", "http://app.example.com"},
		{"http other port", []string{":8080"}, nil, "app.example.com", "http://app.example.com:8080"},
		{"http on 443 keeps the port", []string{":443"}, nil, "app.example.com", "http://app.example.com:443"},
		{"https on 80 keeps the port", []string{":80"}, tls, "app.example.com", "https://app.example.com:80"},
		{"no host is localhost", []string{":8443"}, tls, "", "https://localhost:8443"},
		{"no listener", nil, tls, "app.example.com", "https://app.example.com"},
		{"IPv6 with port", []string{":8443"}, tls, "::1", "https://[::1]:8443"},
		{"IPv6 default port", []string{":443"}, tls, "::1", "https://[::1]"},
		{"IPv6 without listener", nil, nil, "2001:db8::1", "http://[2001:db8::1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &caddyhttp.Server{Listen: tt.listen, TLSConnPolicies: tt.tls}
			if got := origin(srv, tt.host); got != tt.want {
				t.Errorf("origin(listen %v, tls %v, %q) = %q, want %q", tt.listen, tt.tls != nil, tt.host, got, tt.want)
			}
		})
	}
}

// hostMatch is a raw matcher set with a host matcher.
func hostMatch(t *testing.T, hosts ...string) caddy.ModuleMap {
	t.Helper()
	b, err := json.Marshal(hosts)
	if err != nil {
		t.Fatal(err)
	}
	return caddy.ModuleMap{"host": b}
}

func TestHostOf(t *testing.T) {
	pathMatch := caddy.ModuleMap{"path": json.RawMessage(`["/scim/*"]`)}
	tests := []struct {
		name string
		sets caddyhttp.RawMatcherSets
		want string
	}{
		{"no matchers", nil, ""},
		{"host", caddyhttp.RawMatcherSets{hostMatch(t, "app.example.com")}, "app.example.com"},
		{"first of several", caddyhttp.RawMatcherSets{hostMatch(t, "a.example.com", "b.example.com")}, "a.example.com"},
		{"skips wildcards", caddyhttp.RawMatcherSets{hostMatch(t, "*.example.com", "app.example.com")}, "app.example.com"},
		{"skips placeholders", caddyhttp.RawMatcherSets{hostMatch(t, "{env.SITE}", "app.example.com")}, "app.example.com"},
		{"only a wildcard", caddyhttp.RawMatcherSets{hostMatch(t, "*.example.com")}, ""},
		{"path only", caddyhttp.RawMatcherSets{pathMatch}, ""},
		{"host and path in one set", caddyhttp.RawMatcherSets{{"host": json.RawMessage(`["app.example.com"]`), "path": json.RawMessage(`["/x"]`)}}, "app.example.com"},
		{"host in a later set", caddyhttp.RawMatcherSets{pathMatch, hostMatch(t, "app.example.com")}, "app.example.com"},
		{"malformed host matcher", caddyhttp.RawMatcherSets{{"host": json.RawMessage(`"app.example.com"`)}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hostOf(tt.sets); got != tt.want {
				t.Errorf("hostOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFindHandler(t *testing.T) {
	h := &Handler{Tenants: map[string]*Tenant{"acme": {}}}
	twin := &Handler{Tenants: map[string]*Tenant{"acme": {}}} // same config, another instance
	other := caddyhttp.StaticResponse{}
	subroute := func(routes ...caddyhttp.Route) *caddyhttp.Subroute {
		return &caddyhttp.Subroute{Routes: routes}
	}
	handlers := func(hs ...caddyhttp.MiddlewareHandler) []caddyhttp.MiddlewareHandler { return hs }

	tests := []struct {
		name      string
		routes    caddyhttp.RouteList
		wantHost  string
		wantFound bool
	}{
		{name: "no routes"},
		{
			name:      "top-level route",
			routes:    caddyhttp.RouteList{{MatcherSetsRaw: caddyhttp.RawMatcherSets{hostMatch(t, "app.example.com")}, Handlers: handlers(h)}},
			wantHost:  "app.example.com",
			wantFound: true,
		},
		{
			name: "site subroute, as the Caddyfile adapts it",
			routes: caddyhttp.RouteList{{
				MatcherSetsRaw: caddyhttp.RawMatcherSets{hostMatch(t, "app.example.com")},
				Handlers:       handlers(subroute(caddyhttp.Route{Handlers: handlers(h, &other)})),
			}},
			wantHost:  "app.example.com",
			wantFound: true,
		},
		{
			name: "handle block inside the site",
			routes: caddyhttp.RouteList{{
				MatcherSetsRaw: caddyhttp.RawMatcherSets{hostMatch(t, "app.example.com")},
				Handlers: handlers(subroute(caddyhttp.Route{
					MatcherSetsRaw: caddyhttp.RawMatcherSets{{"path": json.RawMessage(`["/x/*"]`)}},
					Handlers:       handlers(subroute(caddyhttp.Route{Handlers: handlers(h)})),
				})),
			}},
			wantHost:  "app.example.com",
			wantFound: true,
		},
		{
			name: "the outer host wins over an inner one",
			routes: caddyhttp.RouteList{{
				MatcherSetsRaw: caddyhttp.RawMatcherSets{hostMatch(t, "outer.example.com")},
				Handlers: handlers(subroute(caddyhttp.Route{
					MatcherSetsRaw: caddyhttp.RawMatcherSets{hostMatch(t, "inner.example.com")},
					Handlers:       handlers(h),
				})),
			}},
			wantHost:  "outer.example.com",
			wantFound: true,
		},
		{
			name: "an inner host when the outer route has none",
			routes: caddyhttp.RouteList{{
				Handlers: handlers(subroute(caddyhttp.Route{
					MatcherSetsRaw: caddyhttp.RawMatcherSets{hostMatch(t, "inner.example.com")},
					Handlers:       handlers(h),
				})),
			}},
			wantHost:  "inner.example.com",
			wantFound: true,
		},
		{
			name: "the site holding this handler, not an earlier one",
			routes: caddyhttp.RouteList{
				{MatcherSetsRaw: caddyhttp.RawMatcherSets{hostMatch(t, "a.example.com")}, Handlers: handlers(subroute(caddyhttp.Route{Handlers: handlers(twin)}))},
				{MatcherSetsRaw: caddyhttp.RawMatcherSets{hostMatch(t, "b.example.com")}, Handlers: handlers(subroute(caddyhttp.Route{Handlers: handlers(h)}))},
			},
			wantHost:  "b.example.com",
			wantFound: true,
		},
		{
			name:      "no host matcher",
			routes:    caddyhttp.RouteList{{Handlers: handlers(&other, subroute(caddyhttp.Route{Handlers: handlers(h)}))}},
			wantFound: true,
		},
		{
			name: "only another instance",
			routes: caddyhttp.RouteList{{
				MatcherSetsRaw: caddyhttp.RawMatcherSets{hostMatch(t, "app.example.com")},
				Handlers:       handlers(subroute(caddyhttp.Route{Handlers: handlers(twin, &other)})),
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, found := findHandler(tt.routes, h, "")
			if host != tt.wantHost || found != tt.wantFound {
				t.Errorf("findHandler = (%q, %t), want (%q, %t)", host, found, tt.wantHost, tt.wantFound)
			}
		})
	}
}

// TestFindHandlerProvisionedRoutes looks for the handler in routes as the
// running http app holds them: provisioning loads the matchers and clears
// MatcherSetsRaw, so the host has to be read from the loaded matchers.
func TestFindHandlerProvisionedRoutes(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	h := &Handler{}
	routes := caddyhttp.RouteList{{
		MatcherSetsRaw: caddyhttp.RawMatcherSets{hostMatch(t, "app.example.com")},
	}}
	if err := routes.ProvisionMatchers(ctx); err != nil {
		t.Fatal(err)
	}
	routes[0].Handlers = []caddyhttp.MiddlewareHandler{&caddyhttp.Subroute{
		Routes: caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{h}}},
	}}
	host, found := findHandler(routes, h, "")
	if !found {
		t.Fatal("findHandler did not find the handler")
	}
	if host != "app.example.com" {
		t.Errorf("findHandler on provisioned routes = %q, want %q (MatcherSetsRaw is %v after provisioning)",
			host, "app.example.com", routes[0].MatcherSetsRaw)
	}
}
