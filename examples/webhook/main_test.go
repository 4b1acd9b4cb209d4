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

func TestConformance(t *testing.T) {
	_, srv := newHook(t, "k")
	sdktest.Run(t, func() sdk.Backend { return newWebhook(srv.Client()) }, sdktest.Options{Settings: settings(srv.URL, "k")})
}

func TestDeliveryAndErrors(t *testing.T) {
	h, srv := newHook(t, "k")
	c := sdktest.Connect(t, newWebhook(srv.Client()))
	ctx := t.Context()
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", Settings: []byte(`{"url":""}`)}); !sdk.IsInvalid(err) {
		t.Fatalf("missing settings: %v", err)
	}
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", Settings: settings(srv.URL, "k")}); err != nil {
		t.Fatal(err)
	}
	changes := sdktest.SampleChanges("acme")
	resp, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "acme", Changes: changes[:3]})
	if seqs, _ := h.received(); err != nil || resp.AppliedThrough != 3 || len(seqs) != 3 {
		t.Fatalf("apply: %+v %v, received %v", resp, err, seqs)
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
		if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: tenant, Settings: s}); err != nil {
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
