package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
	"github.com/caddy-scim/caddy-scim/plugins/sdk/sdktest"
)

// hook records the changes it accepts and checks their signatures against
// its secret.
type hook struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	status int
	seqs   []uint64
	// bodies are the bodies of the changes accepted, in order.
	bodies [][]byte
	// tenants are the tenants the changes were for, by the X-Scim-Tenant
	// header and the change's own Tenant.
	tenants map[string]bool
}

func newHook(t *testing.T, secret string) (*hook, *httptest.Server) {
	h := &hook{t: t, secret: secret, tenants: map[string]bool{}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write(body)
	if r.Header.Get("X-Scim-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		h.t.Errorf("bad signature for the secret %q on %s", h.secret, body)
	}
	var c sdk.Change
	if err := json.Unmarshal(body, &c); err != nil || strconv.FormatUint(c.Seq, 10) != r.Header.Get("X-Scim-Seq") {
		h.t.Errorf("body %s does not match X-Scim-Seq %s", body, r.Header.Get("X-Scim-Seq"))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status != 0 {
		w.WriteHeader(h.status)
		return
	}
	h.seqs = append(h.seqs, c.Seq)
	h.bodies = append(h.bodies, body)
	h.tenants[r.Header.Get("X-Scim-Tenant")] = true
	h.tenants[c.Tenant] = true
}

func (h *hook) received() ([]uint64, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var tenants []string
	for t := range h.tenants {
		tenants = append(tenants, t)
	}
	return append([]uint64(nil), h.seqs...), tenants
}

func settings(url, secret string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"url": url, "secret": secret})
	return b
}

// TestConformance runs every check of the SDK's harness, with no
// opt-outs: Inspect shows how far each tenant's changes were delivered.
func TestConformance(t *testing.T) {
	_, srv := newHook(t, "k")
	sdktest.Run(t, func() sdk.Backend { return newWebhook(srv.Client()) }, sdktest.Options{Settings: settings(srv.URL, "k")})
}

func TestDeliveryAndErrors(t *testing.T) {
	h, srv := newHook(t, "k")
	c := sdktest.Connect(t, newWebhook(srv.Client()))
	ctx := t.Context()
	dir := t.TempDir()
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", Settings: []byte(`{"url":""}`), DataDir: dir}); !sdk.IsInvalid(err) {
		t.Fatalf("missing settings: %v", err)
	}
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", Settings: settings(srv.URL, "k")}); !sdk.IsInvalid(err) {
		t.Fatalf("no DataDir: %v", err)
	}
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", Settings: settings(srv.URL, "k"), DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	changes := sdktest.SampleChanges("acme")
	resp, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "acme", Changes: changes[:3]})
	if seqs, _ := h.received(); err != nil || resp.AppliedThrough != 3 || len(seqs) != 3 {
		t.Fatalf("apply: %+v %v, received %v", resp, err, seqs)
	}
	// A new process on the same DataDir does not post them again.
	again := sdktest.Connect(t, newWebhook(srv.Client()))
	if _, err := again.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", Settings: settings(srv.URL, "k"), DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	resp, err = again.Apply(ctx, &sdk.ApplyRequest{Tenant: "acme", Changes: changes[:3]})
	if seqs, _ := h.received(); err != nil || resp.AppliedThrough != 3 || len(seqs) != 3 {
		t.Fatalf("re-sent to a new process: %+v %v, received %v", resp, err, seqs)
	}
	ir, err := again.Inspect(ctx, &sdk.InspectRequest{Tenant: "acme"})
	if want := `{"url":"` + srv.URL + `","last_seq":3,"delivered":3}`; err != nil || string(ir.JSON) != want {
		t.Errorf("Inspect = %s, %v; want %s", ir.JSON, err, want)
	}
	for status, invalid := range map[int]bool{http.StatusBadRequest: true, http.StatusServiceUnavailable: false, http.StatusTooManyRequests: false} {
		h.mu.Lock()
		h.status = status
		h.mu.Unlock()
		resp, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "acme", Changes: changes[3:5]})
		if err == nil || sdk.IsInvalid(err) != invalid || resp == nil || resp.AppliedThrough != 0 {
			t.Errorf("status %d: %+v %v (want invalid=%v)", status, resp, err, invalid)
		}
	}
}

// TestTenants serves two tenants from one backend: each tenant's changes
// go to its own URL, signed with its own secret; a tenant that is not
// configured, or was purged, is Unavailable.
func TestTenants(t *testing.T) {
	hookA, srvA := newHook(t, "secret of a")
	hookB, srvB := newHook(t, "secret of b")
	c := sdktest.Connect(t, newWebhook(http.DefaultClient))
	ctx := t.Context()
	for tenant, s := range map[string]json.RawMessage{"a": settings(srvA.URL, "secret of a"), "b": settings(srvB.URL, "secret of b")} {
		if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: tenant, Settings: s, DataDir: t.TempDir()}); err != nil {
			t.Fatalf("Configure %s: %v", tenant, err)
		}
	}
	if _, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "a", Changes: sdktest.SampleChanges("a")[:4]}); err != nil {
		t.Fatalf("Apply for a: %v", err)
	}
	if _, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "b", Changes: sdktest.SampleChanges("b")[:2]}); err != nil {
		t.Fatalf("Apply for b: %v", err)
	}
	for _, tt := range []struct {
		name    string
		h       *hook
		seqs    []uint64
		tenants []string
	}{
		{"a", hookA, []uint64{1, 2, 3, 4}, []string{"a"}},
		{"b", hookB, []uint64{1, 2}, []string{"b"}},
	} {
		if seqs, tenants := tt.h.received(); !reflect.DeepEqual(seqs, tt.seqs) || !reflect.DeepEqual(tenants, tt.tenants) {
			t.Errorf("%s's URL received Seq %v of tenants %v, want %v of %v", tt.name, seqs, tenants, tt.seqs, tt.tenants)
		}
	}

	_, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "c", Changes: sdktest.SampleChanges("c")[:1]})
	if !sdk.IsUnavailable(err) || sdk.IsInvalid(err) || !strings.Contains(err.Error(), `tenant "c" is not configured`) {
		t.Errorf("Apply for a tenant never configured = %v, want Unavailable", err)
	}
	if _, err := c.Purge(ctx, &sdk.PurgeRequest{Tenant: "c"}); !sdk.IsUnavailable(err) {
		t.Errorf("Purge of a tenant never configured = %v, want Unavailable, so that the host configures it first", err)
	}
	if _, err := c.Purge(ctx, &sdk.PurgeRequest{Tenant: "a"}); err != nil {
		t.Fatalf("Purge a: %v", err)
	}
	if _, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "a", Changes: sdktest.SampleChanges("a")[4:5]}); !sdk.IsUnavailable(err) {
		t.Errorf("Apply for a purged tenant = %v, want Unavailable", err)
	}
	if _, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "b", Changes: sdktest.SampleChanges("b")[2:3]}); err != nil {
		t.Errorf("Apply for b after a's purge: %v", err)
	}
}

// TestWireFormat decodes the bodies the backend posts for a user change
// and a membership change as plain JSON and checks them key by key
// against the documented form: snake_case keys, optional fields left out
// when empty, the time in RFC 3339.
func TestWireFormat(t *testing.T) {
	h, srv := newHook(t, "k")
	c := sdktest.Connect(t, newWebhook(srv.Client()))
	ctx := t.Context()
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", Settings: settings(srv.URL, "k"), DataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	sample := sdktest.SampleChanges("acme")
	user, members := sample[0], sample[4] // alice created; alice and bob added to Engineering
	if _, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "acme", Changes: []sdk.Change{user, members}}); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	bodies := h.bodies
	h.mu.Unlock()
	if len(bodies) != 2 {
		t.Fatalf("the hook received %d changes, want 2", len(bodies))
	}
	decode := func(body []byte) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("the body is not a JSON object: %v\n%s", err, body)
		}
		return m
	}
	attributes := func(m map[string]string) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		return out
	}

	u := user.User
	assertKeys(t, "user change", decode(bodies[0]), map[string]any{
		"seq":    1.0,
		"tenant": "acme",
		"time":   "2025-03-03T09:00:00Z",
		"kind":   "user.created",
		"user": map[string]any{
			"id":             u.ID,
			"external_id":    "ext-1001",
			"user_name":      "alice.smith",
			"active":         true,
			"given_name":     "Alice",
			"family_name":    "Smith",
			"formatted_name": "Alice Smith",
			"display_name":   "Alice Smith",
			"nick_name":      "Alice",
			"title":          "Head of Engineering",
			"user_type":      "Employee",
			"locale":         "en-US",
			"language":       "en",
			"timezone":       "America/Chicago",
			"email":          "alice.smith@example.com",
			"emails":         []any{map[string]any{"value": "alice.smith@example.com", "type": "work", "primary": true}},
			"phone":          "+1 312 555 1001",
			"phone_numbers":  []any{map[string]any{"value": "+1 312 555 1001", "type": "work", "primary": true}},
			"addresses": []any{map[string]any{
				"type":           "work",
				"formatted":      "233 S Wacker Dr\nChicago, IL 60606\nUS",
				"street_address": "233 S Wacker Dr",
				"locality":       "Chicago",
				"region":         "IL",
				"postal_code":    "60606",
				"country":        "US",
				"primary":        true,
			}},
			"employee_number": "1001",
			"cost_center":     "CC-4100",
			"organization":    "Example Corp",
			"division":        "Technology",
			"department":      "Engineering",
			"attributes":      attributes(u.Attributes),
		},
	})

	g := members.Group
	assertKeys(t, "membership change", decode(bodies[1]), map[string]any{
		"seq":    5.0,
		"tenant": "acme",
		"time":   "2025-03-03T09:04:00Z",
		"kind":   "group.members_added",
		"group": map[string]any{
			"id":           g.ID,
			"external_id":  "ext-e9e30dba",
			"display_name": "Engineering",
			"attributes":   attributes(g.Attributes),
		},
		"members": []any{
			map[string]any{"id": "2819c223-7f76-453a-919d-413861904646", "type": "User"},
			map[string]any{"id": "6c5bb468-14b2-4183-baf2-06d523e03bd3", "type": "User"},
		},
	})
}

// assertKeys reports every key of want that got lacks or has another
// value at, descending into objects, and every key of got that want does
// not have.
func assertKeys(t *testing.T, path string, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: no key %q", path, k)
		case isObject(w) && isObject(g):
			assertKeys(t, path+"."+k, g.(map[string]any), w.(map[string]any))
		case !reflect.DeepEqual(g, w):
			t.Errorf("%s.%s = %#v, want %#v", path, k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected key %q = %#v", path, k, g)
		}
	}
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}
