package caddymodule

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-scim/caddy-scim/plugins/hpinsights"
	"github.com/caddy-scim/caddy-scim/plugins/keepnet"
	"github.com/caddy-scim/caddy-scim/plugins/pharos"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// builtins are the backends compiled into this binary.
var builtins = map[string]func() sdk.Backend{
	"pharos":     pharos.New,
	"hpinsights": hpinsights.New,
	"keepnet":    keepnet.New,
}

func builtinNames() string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "scim-backend",
		Usage: "<name>",
		Short: "Runs a built-in SCIM backend as a plugin process (started by the scim handler)",
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Hidden = true
			cmd.Args = cobra.ExactArgs(1)
			cmd.RunE = func(_ *cobra.Command, args []string) error {
				return serveBuiltin(args[0])
			}
		},
	})
}

// serveBuiltin serves a built-in backend over the plugin protocol until
// the host stops it: one process serves every tenant of the backend
// definition, each tenant with its own instance through sdk.PerTenant.
// Then it closes the instances' product stores.
func serveBuiltin(name string) error {
	newBackend, ok := builtins[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown backend %q; built-in backends are %s\n", name, builtinNames())
		return fmt.Errorf("unknown backend %q", name)
	}
	b := sdk.PerTenant(func(string) sdk.Backend { return newBackend() }, sdk.PerTenantOptions{})
	sdk.Serve(b)
	return b.(io.Closer).Close()
}
