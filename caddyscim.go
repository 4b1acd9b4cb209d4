// Package caddyscim is the module's root package, for Caddy builders: a
// Caddy built with it has the scim app, the scim and scim_console
// handlers, the scim Caddyfile directive and global option, the admin API
// under /scim/, the "caddy scim" commands and the built-in backends
// (pharos, hpinsights, keepnet), which run from the same binary:
//
//	xcaddy build --with github.com/caddy-scim/caddy-scim
//
// Everything is registered by package caddymodule; this package only
// imports it.
package caddyscim

import (
	_ "github.com/caddy-scim/caddy-scim/caddymodule"
)
