package caddymodule

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for the caddy binary when the
// scim handler starts a built-in backend: the handler runs
// "<this binary> scim-backend NAME".
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "scim-backend" {
		if err := serveBuiltin(os.Args[2]); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
