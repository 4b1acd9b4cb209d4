package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var updateAdapt = flag.Bool("update", false, "rewrite the expected JSON of testdata/caddyfile_adapt/*.caddyfiletest")

// adaptSeparator divides a .caddyfiletest fixture: the Caddyfile above it,
// below it either the expected JSON config or "error: <substring>".
const adaptSeparator = "----------"

// errorMarker ends the line that an error fixture's error must point at.
const errorMarker = "# <- error"

// TestCaddyfileAdapt adapts every testdata/caddyfile_adapt fixture with the
// registered caddyfile adapter. Success fixtures must give their JSON (the
// comparison is semantic) and no warnings, so they are also formatted as
// 'caddy fmt' would. Error fixtures must fail with their substring, at the
// fixture's file and the line marked with "# <- error".
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "caddyfile_adapt", "*.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no fixtures in testdata/caddyfile_adapt")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".caddyfiletest")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, err := splitAdaptFixture(raw)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			got, warnings, adaptErr := adaptCaddyfile(file, caddyfile)

			if want, ok := strings.CutPrefix(strings.TrimSpace(expected), "error:"); ok {
				checkAdaptError(t, file, caddyfile, strings.TrimSpace(want), adaptErr)
				return
			}
			if adaptErr != nil {
				t.Fatalf("adapting %s: %v", file, adaptErr)
			}
			for _, w := range warnings {
				t.Errorf("warning: %s", w.String())
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "\t"); err != nil {
				t.Fatal(err)
			}
			if *updateAdapt {
				out := caddyfile + adaptSeparator + "\n" + pretty.String() + "\n"
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := jsonDiff(got, []byte(expected)); diff != "" {
				t.Errorf("%s: adapted config differs from the fixture (run with -update to accept):\n%s\ngot:\n%s",
					file, diff, pretty.String())
			}
		})
	}
}

// adaptCaddyfile runs the registered caddyfile adapter, naming the input
// after the fixture so errors point into it.
func adaptCaddyfile(filename, caddyfile string) ([]byte, []caddyconfig.Warning, error) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		return nil, nil, fmt.Errorf("no caddyfile adapter is registered")
	}
	return adapter.Adapt([]byte(caddyfile), map[string]any{"filename": filename})
}

// splitAdaptFixture returns the Caddyfile (with its final newline) and the
// expected part of a fixture.
func splitAdaptFixture(raw []byte) (caddyfile, expected string, err error) {
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	before, after, ok := strings.Cut(text, "\n"+adaptSeparator+"\n")
	if !ok {
		return "", "", fmt.Errorf("no %q line between the Caddyfile and the expected result", adaptSeparator)
	}
	return before + "\n", after, nil
}

// checkAdaptError checks that an error fixture failed with want, at the
// fixture's marked line.
func checkAdaptError(t *testing.T, file, caddyfile, want string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s adapted without error; want an error containing %q", file, want)
	}
	t.Logf("adapt error: %v", err)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	line := markedLine(caddyfile)
	if line == 0 {
		t.Fatalf("%s: mark the line the error points at with %q", file, errorMarker)
	}
	pos := fmt.Sprintf("%s:%d", file, line)
	if !containsPosition(err.Error(), pos) {
		t.Errorf("error %q does not point at %s", err, pos)
	}
}

// containsPosition reports whether msg names pos ("file:line") as a whole,
// not as the start of a longer line number.
func containsPosition(msg, pos string) bool {
	for i := 0; ; {
		j := strings.Index(msg[i:], pos)
		if j < 0 {
			return false
		}
		end := i + j + len(pos)
		if end == len(msg) || msg[end] < '0' || msg[end] > '9' {
			return true
		}
		i = end
	}
}

// markedLine is the 1-based number of the line ending with errorMarker, or
// 0 when there is none.
func markedLine(caddyfile string) int {
	for i, l := range strings.Split(caddyfile, "\n") {
		if strings.HasSuffix(strings.TrimSpace(l), errorMarker) {
			return i + 1
		}
	}
	return 0
}

// jsonDiff compares two JSON documents semantically and lists where they
// differ, one path per line; it returns "" when they are equal.
func jsonDiff(got, want []byte) string {
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return "adapter output is not JSON: " + err.Error()
	}
	if err := json.Unmarshal(want, &w); err != nil {
		return "expected part is not JSON: " + err.Error()
	}
	if reflect.DeepEqual(g, w) {
		return ""
	}
	var lines []string
	diffValues("$", g, w, &lines)
	return strings.Join(lines, "\n")
}

func diffValues(path string, got, want any, out *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, inGot := g[k]
			wv, inWant := w[k]
			p := path + "." + k
			switch {
			case !inGot:
				*out = append(*out, fmt.Sprintf("%s: missing, want %s", p, compactJSON(wv)))
			case !inWant:
				*out = append(*out, fmt.Sprintf("%s: unexpected %s", p, compactJSON(gv)))
			default:
				diffValues(p, gv, wv, out)
			}
		}
		return
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		for i := range w {
			diffValues(fmt.Sprintf("%s[%d]", path, i), g[i], w[i], out)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		*out = append(*out, fmt.Sprintf("%s: got %s, want %s", path, compactJSON(got), compactJSON(want)))
	}
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// TestAdaptJSONDiff checks that the fixture comparison ignores key order and
// whitespace and names the paths that differ.
func TestAdaptJSONDiff(t *testing.T) {
	tests := []struct {
		name, got, want string
		diff            []string
	}{
		{name: "equal modulo order and space", got: `{"a":1,"b":[1,2]}`, want: "{\n\t\"b\": [1, 2],\n\t\"a\": 1\n}"},
		{name: "changed value", got: `{"a":{"b":"x"}}`, want: `{"a":{"b":"y"}}`, diff: []string{`$.a.b: got "x", want "y"`}},
		{name: "missing key", got: `{}`, want: `{"a":1}`, diff: []string{`$.a: missing, want 1`}},
		{name: "extra key", got: `{"a":1}`, want: `{}`, diff: []string{`$.a: unexpected 1`}},
		{name: "array element", got: `[1,{"k":true}]`, want: `[1,{"k":false}]`, diff: []string{`$[1].k: got true, want false`}},
		{name: "array length", got: `[1]`, want: `[1,2]`, diff: []string{`$: got [1], want [1,2]`}},
		{name: "type change", got: `{"a":"1"}`, want: `{"a":1}`, diff: []string{`$.a: got "1", want 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := jsonDiff([]byte(tt.got), []byte(tt.want))
			want := strings.Join(tt.diff, "\n")
			if got != want {
				t.Errorf("jsonDiff = %q, want %q", got, want)
			}
		})
	}
}

// TestAdaptSidecarExample adapts examples/sidecar/Caddyfile, checks that
// the sidecar fixture holds exactly that file, and that the scim handler
// runs before basic_auth and reverse_proxy without an order line.
func TestAdaptSidecarExample(t *testing.T) {
	const example = "../examples/sidecar/Caddyfile"
	body, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte("order ")) {
		t.Errorf("%s uses an order line; the scim directive should need none", example)
	}
	fixture, err := os.ReadFile(filepath.Join("testdata", "caddyfile_adapt", "sidecar.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	caddyfile, _, err := splitAdaptFixture(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if caddyfile != string(body) {
		t.Errorf("testdata/caddyfile_adapt/sidecar.caddyfiletest does not hold %s as it is; copy the file into the fixture and run with -update", example)
	}

	out, warnings, err := adaptCaddyfile(example, string(body))
	if err != nil {
		t.Fatalf("adapting %s: %v", example, err)
	}
	for _, w := range warnings {
		t.Errorf("warning: %s", w.String())
	}
	var cfg struct {
		Apps struct {
			SCIM json.RawMessage `json:"scim"`
			HTTP struct {
				Servers map[string]struct {
					Routes []adaptedRoute `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps.SCIM) == 0 {
		t.Error("the scim global option did not configure the scim app")
	}
	var order []string
	for _, srv := range cfg.Apps.HTTP.Servers {
		for _, rt := range srv.Routes {
			if slices.Contains(rt.hosts(), "app.example.com") {
				order = rt.handlerOrder()
			}
		}
	}
	if order == nil {
		t.Fatalf("no route for app.example.com in\n%s", out)
	}
	pos := func(handler string) int {
		i := slices.Index(order, handler)
		if i < 0 {
			t.Fatalf("no %s handler in the site's routes %v", handler, order)
		}
		return i
	}
	if pos("scim") > pos("authentication") || pos("scim") > pos("reverse_proxy") {
		t.Errorf("handlers run in the order %v; scim must come before authentication (basic_auth) and reverse_proxy", order)
	}
}

// adaptedRoute is the part of an adapted route the order check reads.
type adaptedRoute struct {
	Match  []map[string]json.RawMessage `json:"match"`
	Handle []struct {
		Handler string         `json:"handler"`
		Routes  []adaptedRoute `json:"routes"`
	} `json:"handle"`
}

func (r adaptedRoute) hosts() []string {
	var all []string
	for _, set := range r.Match {
		var hosts []string
		if json.Unmarshal(set["host"], &hosts) == nil {
			all = append(all, hosts...)
		}
	}
	return all
}

// handlerOrder lists the handlers of r in the order they run, entering
// subroutes.
func (r adaptedRoute) handlerOrder() []string {
	var names []string
	for _, h := range r.Handle {
		if h.Handler == "subroute" {
			for _, sub := range h.Routes {
				names = append(names, sub.handlerOrder()...)
			}
			continue
		}
		names = append(names, h.Handler)
	}
	return names
}

// TestAdaptTwoInstancesExample adapts examples/two-instances: each
// instance's Caddyfile, with the environment it documents, gives the
// PostgreSQL engine with the instance's own name and address and the DSN
// left as a placeholder (resolved at load, never written into the config),
// and the load balancer's file adapts without warnings.
func TestAdaptTwoInstancesExample(t *testing.T) {
	const dir = "../examples/two-instances"
	body, err := os.ReadFile(filepath.Join(dir, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range []struct{ name, listen, admin string }{{"scim-a", ":8081", "localhost:2019"}, {"scim-b", ":8082", "localhost:2020"}} {
		t.Setenv("SCIM_INSTANCE", inst.name)
		t.Setenv("SCIM_LISTEN", inst.listen)
		t.Setenv("ADMIN_LISTEN", inst.admin)
		out, warnings, err := adaptCaddyfile(filepath.Join(dir, "Caddyfile"), string(body))
		if err != nil {
			t.Fatalf("adapting for %s: %v", inst.name, err)
		}
		for _, w := range warnings {
			t.Errorf("%s: warning: %s", inst.name, w.String())
		}
		var cfg struct {
			Admin struct {
				Listen string `json:"listen"`
			} `json:"admin"`
			Apps struct {
				SCIM App `json:"scim"`
				HTTP struct {
					Servers map[string]struct {
						Listen []string `json:"listen"`
					} `json:"servers"`
				} `json:"http"`
			} `json:"apps"`
		}
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
		st := cfg.Apps.SCIM.Storage
		if st == nil || st.Engine != "postgres" || st.DSN != "{env.SCIM_DATABASE_URL}" || st.Instance != inst.name {
			t.Errorf("%s: storage %+v", inst.name, st)
		}
		if cfg.Admin.Listen != inst.admin {
			t.Errorf("%s: admin at %q", inst.name, cfg.Admin.Listen)
		}
		found := false
		for _, srv := range cfg.Apps.HTTP.Servers {
			for _, l := range srv.Listen {
				found = found || l == inst.listen
			}
		}
		if !found {
			t.Errorf("%s: no server listens on %s: %s", inst.name, inst.listen, out)
		}
	}
	lb, err := os.ReadFile(filepath.Join(dir, "lb.caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	if _, warnings, err := adaptCaddyfile(filepath.Join(dir, "lb.caddyfile"), string(lb)); err != nil || len(warnings) > 0 {
		t.Fatalf("adapting lb.caddyfile: %v %v", err, warnings)
	}
}
