package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// A replay fixture is a recorded IdP session: requests as the IdP sends
// them and what the IdP needs back. Each file under testdata/replay runs as
// one subtest against a fresh store.
type replay struct {
	Description string       `json:"description"`
	Steps       []replayStep `json:"steps"`
}

type replayStep struct {
	// Name says what the IdP is doing.
	Name   string            `json:"name"`
	Method string            `json:"method"`
	Path   string            `json:"path"`
	Header map[string]string `json:"header,omitempty"`
	// Body is sent verbatim (after variable substitution) when present.
	Body json.RawMessage `json:"body,omitempty"`
	// Status is the expected status code.
	Status int `json:"status"`
	// Expect is a JSON fragment the response body must contain: objects
	// match by subset, arrays element-wise with equal length, scalars by
	// equality.
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

const replayPrefix = "/scim/v2/acme"

func TestReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "replay", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no replay fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var r replay
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("fixture: %v", err)
			}
			runReplay(t, r)
		})
	}
}

var varRef = regexp.MustCompile(`\{\{([A-Za-z0-9_]+)\}\}`)

func runReplay(t *testing.T, r replay) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := New(Config{Store: st, MaxBodyBytes: 64 << 10})
	ts := httptest.NewTLSServer(srv.Handler("acme", replayPrefix))
	defer ts.Close()
	client := ts.Client()
	vars := map[string]string{"base": ts.URL + replayPrefix}
	subst := func(s string) string {
		return varRef.ReplaceAllStringFunc(s, func(m string) string {
			k := varRef.FindStringSubmatch(m)[1]
			v, ok := vars[k]
			if !ok {
				t.Fatalf("fixture uses {{%s}} before saving it", k)
			}
			return v
		})
	}
	for i, step := range r.Steps {
		label := fmt.Sprintf("step %d (%s)", i+1, step.Name)
		var body io.Reader
		if len(step.Body) > 0 {
			body = strings.NewReader(subst(string(step.Body)))
		}
		req, err := http.NewRequest(step.Method, ts.URL+replayPrefix+subst(step.Path), body)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		req.Header.Set("Content-Type", "application/scim+json")
		for k, v := range step.Header {
			req.Header.Set(k, subst(v))
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		respBody, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != step.Status {
			t.Fatalf("%s: %s %s: status %d, want %d\n%s", label, step.Method, step.Path, resp.StatusCode, step.Status, respBody)
		}
		if len(respBody) > 0 {
			if ct := resp.Header.Get("Content-Type"); ct != MediaType {
				t.Errorf("%s: Content-Type %q, want %q", label, ct, MediaType)
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
			if msg := contains(got, want, "$"); msg != "" {
				t.Errorf("%s: %s\nbody: %s", label, msg, respBody)
			}
		}
		for _, p := range step.Absent {
			if _, ok := dig(got, p); ok {
				t.Errorf("%s: %s must be absent\nbody: %s", label, p, respBody)
			}
		}
		keys := make([]string, 0, len(step.Save))
		for k := range step.Save {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, ok := dig(got, step.Save[k])
			if !ok {
				t.Fatalf("%s: nothing at %s to save as %s\nbody: %s", label, step.Save[k], k, respBody)
			}
			vars[k] = fmt.Sprint(v)
		}
	}
}

// contains reports "" when got contains want (see replayStep.Expect), or
// where it does not.
func contains(got, want any, at string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %v", at, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing", at, k)
			}
			if msg := contains(gv, wv, at+"."+k); msg != "" {
				return msg
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want an array of %d, got %v", at, len(w), got)
		}
		for i := range w {
			if msg := contains(g[i], w[i], at+"["+strconv.Itoa(i)+"]"); msg != "" {
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

// dig follows a dotted path; numeric segments index arrays. A segment may
// be a URN in brackets: urn[urn:…:User].department.
func dig(v any, path string) (any, bool) {
	for _, seg := range splitPath(path) {
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

func splitPath(p string) []string {
	var out []string
	for p != "" {
		if strings.HasPrefix(p, "[") {
			end := strings.IndexByte(p, ']')
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
