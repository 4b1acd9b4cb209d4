package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
	"github.com/caddy-scim/caddy-scim/plugins/sdk/sdktest"
)

// hook records the changes it accepts and checks their signatures.
type hook struct {
	t      *testing.T
	mu     sync.Mutex
	status int
	seqs   []uint64
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte("k"))
	mac.Write(body)
	if r.Header.Get("X-Scim-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		h.t.Errorf("bad signature on %s", body)
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
}

func settings(url string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"url": url, "secret": "k"})
	return b
}

func TestConformance(t *testing.T) {
	srv := httptest.NewServer(&hook{t: t})
	defer srv.Close()
	sdktest.Run(t, func() sdk.Backend { return &webhook{client: srv.Client()} }, sdktest.Options{Settings: settings(srv.URL)})
}

func TestDeliveryAndErrors(t *testing.T) {
	h := &hook{t: t}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := sdktest.Connect(t, &webhook{client: srv.Client()})
	ctx := t.Context()
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Settings: []byte(`{"url":""}`)}); !sdk.IsInvalid(err) {
		t.Fatalf("missing settings: %v", err)
	}
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Settings: settings(srv.URL)}); err != nil {
		t.Fatal(err)
	}
	changes := sdktest.SampleChanges("acme")
	resp, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "acme", Changes: changes[:3]})
	if err != nil || resp.AppliedThrough != 3 || len(h.seqs) != 3 {
		t.Fatalf("apply: %+v %v, received %v", resp, err, h.seqs)
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
