package caddymodule

import (
	"fmt"
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
)

// TestMain lets the test binary stand in for the caddy binary when the
// scim handler starts a built-in backend: the handler runs
// "<this binary> scim-backend NAME"; and for "caddy validate" run by
// another process: "<this binary> validate-config FILE".
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "scim-backend" {
		if err := serveBuiltin(os.Args[2]); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	if len(os.Args) == 3 && os.Args[1] == "validate-config" {
		// What "caddy validate" does with an adapted config.
		if err := validateConfigFile(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	pgtest.Main(m)
}

func validateConfigFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg *caddy.Config
	if err := caddy.StrictUnmarshalJSON(b, &cfg); err != nil {
		return err
	}
	return caddy.Validate(cfg)
}
