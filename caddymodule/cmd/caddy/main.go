// Command caddy is Caddy with the SCIM modules built in.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-scim/caddy-scim/caddymodule"
)

func main() {
	caddycmd.Main()
}
