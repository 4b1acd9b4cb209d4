package caddyscim_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// xcaddyVersion is the xcaddy the README's build command uses.
const xcaddyVersion = "v0.4.5"

// TestXcaddyBuild builds a stock Caddy with this module the way the README
// says, with xcaddy from this checkout, and checks that the binary lists
// the modules and has the commands, the built-in backends included.
func TestXcaddyBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Caddy with xcaddy")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	caddyVersion := requiredVersion(t, "github.com/caddyserver/caddy/v2")
	dir := t.TempDir()
	bin := filepath.Join(dir, "caddy")
	cmd := exec.Command("go", "run", "github.com/caddyserver/xcaddy/cmd/xcaddy@"+xcaddyVersion, "build", caddyVersion,
		"--output", bin, "--with", "github.com/caddy-scim/caddy-scim@v0.0.0="+root)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xcaddy build: %v\n%s", err, tail(out, 4000))
	}
	out, err := exec.Command(bin, "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("list-modules: %v\n%s", err, out)
	}
	for _, m := range []string{"scim", "http.handlers.scim", "http.handlers.scim_console", "admin.api.scim"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m) + `$`).Match(out) {
			t.Errorf("list-modules does not list %s:\n%s", m, out)
		}
	}
	if out, err := exec.Command(bin, "help", "scim").CombinedOutput(); err != nil || !strings.Contains(string(out), "Shows tenant status") {
		t.Errorf("caddy help scim: %v\n%s", err, out)
	}
	// The built-in backends run from the same binary: started the way
	// the host starts them, each answers the plugin handshake's check.
	for _, b := range []string{"pharos", "hpinsights", "keepnet"} {
		out, err := exec.Command(bin, "scim-backend", b).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "plugin") {
			t.Errorf("%s: %v\n%s", b, err, out)
		}
	}
}

// requiredVersion reads a module's version from go.mod.
func requiredVersion(t *testing.T, module string) string {
	t.Helper()
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("go.mod does not require %s", module)
	}
	return string(m[1])
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
