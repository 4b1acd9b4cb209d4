// Package replaytest replays recorded IdP sessions against a SCIM base
// over HTTP: each fixture file is a sequence of requests as an IdP sends
// them, with the status and the body fragments the IdP needs back. The
// engine's tests run the fixtures against the bare handler, the Caddy
// module's tests run them through Caddy over TLS with a real token.
package replaytest

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
)

// mediaType is the SCIM media type every response with a body must carry.
const mediaType = "application/scim+json"

// Fixture is one recorded session.
type Fixture struct {
	// Name is the file name without ".json".
	Name        string `json:"-"`
	Description string `json:"description"`
	Steps       []Step `json:"steps"`
}

// Step is one request and what its response must be.
type Step struct {
	// Name says what the IdP is doing.
	Name   string `json:"name"`
	Method string `json:"method"`
	// Path is relative to the SCIM base; {{var}} is substituted, and
	// {{base}} is the absolute base URL.
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
	// Absent lists dotted paths that must not be in the response body; a
	// URN segment is written in brackets: [urn:…:User].manager.
	Absent []string `json:"absent,omitempty"`
	// ExpectHeader lists response headers and the values they must have;
	// "*" only requires presence.
	ExpectHeader map[string]string `json:"expect_header,omitempty"`
	// Save stores values of the response body (dotted paths, array
	// indexes as numbers) in variables used later as {{name}}.
	Save map[string]string `json:"save,omitempty"`
}

// LoadDir reads every *.json fixture in dir, in name order, refusing
// unknown fields so a misspelt key cannot make a check silently vanish.
func LoadDir(t testing.TB, dir string) []*Fixture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	sort.Strings(files)
	out := make([]*Fixture, 0, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fx Fixture
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fx); err != nil {
			t.Fatalf("fixture %s: %v", f, err)
		}
		fx.Name = strings.TrimSuffix(filepath.Base(f), ".json")
		out = append(out, &fx)
	}
	return out
}

// Target is where a fixture is replayed.
type Target struct {
	// Client sends the requests.
	Client *http.Client
	// Base is the absolute SCIM base URL, e.g. a Tenant URL.
	Base string
	// Token, when set, is sent as a bearer token with every request.
	Token string
}

var varRef = regexp.MustCompile(`\{\{([A-Za-z0-9_]+)\}\}`)

// Run replays f against tg, failing t at the first step whose status
// differs and reporting every other mismatch.
func Run(t *testing.T, tg Target, f *Fixture) {
	t.Helper()
	vars := map[string]string{"base": tg.Base}
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
	for i, step := range f.Steps {
		label := fmt.Sprintf("step %d (%s)", i+1, step.Name)
		var body io.Reader
		if len(step.Body) > 0 {
			body = strings.NewReader(subst(string(step.Body)))
		}
		req, err := http.NewRequest(step.Method, tg.Base+subst(step.Path), body)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		req.Header.Set("Content-Type", mediaType)
		if tg.Token != "" {
			req.Header.Set("Authorization", "Bearer "+tg.Token)
		}
		for k, v := range step.Header {
			req.Header.Set(k, subst(v))
		}
		resp, err := tg.Client.Do(req)
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
			if ct := resp.Header.Get("Content-Type"); ct != mediaType {
				t.Errorf("%s: Content-Type %q, want %q", label, ct, mediaType)
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

// contains reports "" when got contains want (see Step.Expect), or where it does not.
func contains(got, want any, at string) string {
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
			if msg := contains(gv, w[k], at+"."+k); msg != "" {
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

// dig follows a dotted path; numeric segments index arrays. A segment
// may be a URN in brackets: [urn:…:User].department.
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
