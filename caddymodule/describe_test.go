package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// runDescribe runs "caddy scim backend describe ARGS" in process; the
// built-ins it starts are this test binary in TestMain's scim-backend mode.
func runDescribe(t *testing.T, args ...string) (string, error) {
	t.Helper()
	// Describe must open no store: run where any file it created shows.
	dir := t.TempDir()
	t.Chdir(dir)
	cmd := backendCLICommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"describe"}, args...))
	err := cmd.Execute()
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("describe created %s in the working directory", entries[0].Name())
	}
	return out.String(), err
}

func TestBackendDescribe(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"pharos", []string{"pharos"}, []string{
			"Backend:     pharos ",
			"Requires:    emails (every user must have a value)",
			"  cards_on_delete (optional)",
			"  import-cards\n",
		}},
		{"hpinsights", []string{"hpinsights"}, []string{
			"Backend:     hpinsights ",
			"Requires:    emails",
			"\nSettings:\n",
		}},
		{"keepnet", []string{"keepnet"}, []string{
			"Backend:     keepnet ",
			"  target_group (optional)",
			"  field_map (optional)",
		}},
		{"exec", []string{"exec", self, "--", "scim-backend", "pharos"}, []string{
			"Backend:     pharos ",
			"  import-cards\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runDescribe(t, tt.args...)
			if err != nil {
				t.Fatalf("describe %v: %v", tt.args, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestBackendDescribeJSON(t *testing.T) {
	for name := range builtins {
		t.Run(name, func(t *testing.T) {
			out, err := runDescribe(t, name, "--json")
			if err != nil {
				t.Fatal(err)
			}
			var d sdk.DescribeResponse
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("--json printed no DescribeResponse: %v\n%s", err, out)
			}
			if d.Name != name || d.Version == "" || len(d.Settings) == 0 {
				t.Errorf("--json printed %+v", d)
			}
			want, err := builtins[name]().Describe(t.Context(), &sdk.DescribeRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Settings) != len(want.Settings) || len(d.Actions) != len(want.Actions) {
				t.Errorf("--json has %d settings and %d actions, the backend declares %d and %d",
					len(d.Settings), len(d.Actions), len(want.Settings), len(want.Actions))
			}
		})
	}
}

func TestBackendDescribeErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown", []string{"nope"}, `unknown backend "nope"; built-in backends are hpinsights, keepnet, pharos`},
		{"exec without path", []string{"exec"}, "needs the path of the plugin binary"},
		{"exec missing binary", []string{"exec", "/nonexistent/backend"}, "backend exec:"},
		{"built-in with arguments", []string{"pharos", "x"}, "takes no arguments"},
		{"no name", nil, "requires at least 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runDescribe(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("describe %v: error %v, want one containing %q", tt.args, err, tt.want)
			}
		})
	}
}
