package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/server"
)

// The lifecycle tests replay whole IdP provisioning sessions through the
// real Caddy handler: over TLS, with a token generated through the admin
// API, to a tenant declared in a Caddyfile. Each file under
// testdata/lifecycles is one session, named after the IdP and its dialect.
// The engine's own replay fixtures (adapter/server/testdata/replay) share
// the format and run here too, so every recorded quirk is also checked
// behind Caddy's routing, authentication and HTTP/2.

// lifecycle is one recorded session; its format is the one
// adapter/server's replay fixtures use.
type lifecycle struct {
	Description string          `json:"description"`
	Steps       []lifecycleStep `json:"steps"`
}

type lifecycleStep struct {
	// Name says what the IdP is doing.
	Name   string `json:"name"`
	Method string `json:"method"`
	// Path is relative to the Tenant URL.
	Path string `json:"path"`
	// Header is set on the request after Content-Type and Authorization,
	// so a step may replace either.
	Header map[string]string `json:"header,omitempty"`
	// Body is sent verbatim (after variable substitution) when present.
	Body json.RawMessage `json:"body,omitempty"`
	// Status is the expected status code.
	Status int `json:"status"`
	// Expect is a JSON fragment the response body must contain: objects
	// match by subset, arrays element-wise with equal length, scalars by
	// equality of value and type.
	Expect json.RawMessage `json:"expect,omitempty"`
	// Absent lists dotted paths that must not be in the response body.
	Absent []string `json:"absent,omitempty"`
	// ExpectHeader lists response headers and the values they must have;
	// "*" only requires presence.
	ExpectHeader map[string]string `json:"expect_header,omitempty"`
	// Save stores values of the response body (dotted paths, array
	// indexes as numbers) in variables used later as {{name}}.
	Save map[string]string `json:"save,omitempty"`
}

// lifecycleSets are the fixture directories and the prefix that makes
// their tenant names unique.
var lifecycleSets = []struct{ group, dir, tenantPrefix string }{
	{"lifecycles", filepath.Join("testdata", "lifecycles"), ""},
	{"replay", filepath.Join("..", "adapter", "server", "testdata", "replay"), "replay-"},
}

type lifecycleFixture struct {
	group, name, tenant string
	steps               lifecycle
}

func loadLifecycles(t *testing.T) []lifecycleFixture {
	t.Helper()
	var out []lifecycleFixture
	for _, set := range lifecycleSets {
		files, err := filepath.Glob(filepath.Join(set.dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures in %s: %v", set.dir, err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var l lifecycle
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&l); err != nil {
				t.Fatalf("fixture %s: %v", f, err)
			}
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			out = append(out, lifecycleFixture{group: set.group, name: name, tenant: set.tenantPrefix + name, steps: l})
		}
	}
	return out
}

// lifecycleCaddyfile declares one tenant per fixture, with no backend.
func lifecycleCaddyfile(fixtures []lifecycleFixture) string {
	var tenants strings.Builder
	for _, f := range fixtures {
		fmt.Fprintf(&tenants, "\t\ttenant %s\n", f.tenant)
	}
	return `{
	admin {ADMIN}
	storage file_system {STORAGE}/caddy
	local_certs
	skip_install_trust
	auto_https disable_redirects
	scim {
		storage_dir {STORAGE}
	}
	log {
		output file {STORAGE}/caddy.log
	}
}

{SITE} {
	scim {
		max_body_size 64KiB
` + tenants.String() + `	}
	respond "not scim" 404
}
`
}

func TestLifecycle(t *testing.T) {
	fixtures := loadLifecycles(t)
	in := startCaddy(t, lifecycleCaddyfile(fixtures))
	for _, f := range fixtures {
		t.Run(f.group+"/"+f.name, func(t *testing.T) {
			creds := in.token(t, f.tenant)
			if want := "https://" + in.site + "/scim/v2/" + f.tenant; creds.TenantURL != want {
				t.Fatalf("tenant URL %q, want %q", creds.TenantURL, want)
			}
			runLifecycle(t, in.client, creds, f.steps)
		})
	}
}

var lifecycleVar = regexp.MustCompile(`\{\{([A-Za-z0-9_]+)\}\}`)

func runLifecycle(t *testing.T, client *http.Client, creds Credentials, l lifecycle) {
	vars := map[string]string{"base": creds.TenantURL}
	subst := func(s string) string {
		return lifecycleVar.ReplaceAllStringFunc(s, func(m string) string {
			k := lifecycleVar.FindStringSubmatch(m)[1]
			v, ok := vars[k]
			if !ok {
				t.Fatalf("fixture uses {{%s}} before saving it", k)
			}
			return v
		})
	}
	for i, step := range l.Steps {
		label := fmt.Sprintf("step %d (%s)", i+1, step.Name)
		var body io.Reader
		if len(step.Body) > 0 {
			body = strings.NewReader(subst(string(step.Body)))
		}
		req, err := http.NewRequest(step.Method, creds.TenantURL+subst(step.Path), body)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		req.Header.Set("Content-Type", server.MediaType)
		req.Header.Set("Authorization", "Bearer "+creds.Token)
		for k, v := range step.Header {
			req.Header.Set(k, subst(v))
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		respBody, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: reading the response: %v", label, err)
		}
		if resp.StatusCode != step.Status {
			t.Fatalf("%s: %s %s: status %d, want %d\n%s", label, step.Method, step.Path, resp.StatusCode, step.Status, respBody)
		}
		if len(respBody) > 0 {
			if ct := resp.Header.Get("Content-Type"); ct != server.MediaType {
				t.Errorf("%s: Content-Type %q, want %q", label, ct, server.MediaType)
			}
		}
		for k, want := range step.ExpectHeader {
			got := resp.Header.Get(k)
			if (want == "*" && got == "") || (want != "*" && got != subst(want)) {
				t.Errorf("%s: header %s = %q, want %q", label, k, got, subst(want))
			}
		}
		var got any
		if len(respBody) > 0 {
			d := json.NewDecoder(bytes.NewReader(respBody))
			d.UseNumber()
			if err := d.Decode(&got); err != nil {
				t.Fatalf("%s: response is not JSON: %v\n%s", label, err, respBody)
			}
		}
		if len(step.Expect) > 0 {
			var want any
			d := json.NewDecoder(strings.NewReader(subst(string(step.Expect))))
			d.UseNumber()
			if err := d.Decode(&want); err != nil {
				t.Fatalf("%s: bad expect: %v", label, err)
			}
			if msg := jsonContains(got, want, "$"); msg != "" {
				t.Errorf("%s: %s\nbody: %s", label, msg, respBody)
			}
		}
		for _, p := range step.Absent {
			if _, ok := jsonDig(got, p); ok {
				t.Errorf("%s: %s must be absent\nbody: %s", label, p, respBody)
			}
		}
		keys := make([]string, 0, len(step.Save))
		for k := range step.Save {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, ok := jsonDig(got, step.Save[k])
			if !ok {
				t.Fatalf("%s: nothing at %s to save as %s\nbody: %s", label, step.Save[k], k, respBody)
			}
			vars[k] = fmt.Sprint(v)
		}
	}
}

// jsonContains reports "" when got contains want (see
// lifecycleStep.Expect), or where it does not.
func jsonContains(got, want any, at string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %v", at, got)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing", at, k)
			}
			if msg := jsonContains(gv, w[k], at+"."+k); msg != "" {
				return msg
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want an array of %d, got %v", at, len(w), got)
		}
		for i := range w {
			if msg := jsonContains(g[i], w[i], at+"["+strconv.Itoa(i)+"]"); msg != "" {
				return msg
			}
		}
	default:
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) {
			return fmt.Sprintf("%s: got %#v, want %#v", at, got, want)
		}
	}
	return ""
}

// jsonDig follows a dotted path; numeric segments index arrays. A segment
// may be a URN in brackets: [urn:…:User].department.
func jsonDig(v any, path string) (any, bool) {
	for _, seg := range jsonPath(path) {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func jsonPath(p string) []string {
	var out []string
	for p != "" {
		if strings.HasPrefix(p, "[") {
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(out, p)
			}
			out = append(out, p[1:end])
			p = strings.TrimPrefix(p[end+1:], ".")
			continue
		}
		i := strings.IndexAny(p, ".[")
		if i < 0 {
			out = append(out, p)
			break
		}
		out = append(out, p[:i])
		p = strings.TrimPrefix(p[i:], ".")
	}
	return out
}
