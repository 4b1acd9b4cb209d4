// Command webhook is a caddy-scim backend written only against the SDK: it
// posts each change as JSON to its tenant's URL, signed with HMAC-SHA256
// under the tenant's secret in the X-Scim-Signature header, for products
// that take webhooks. Receivers deduplicate by the X-Scim-Seq header: a
// change may arrive twice.
//
// One process serves every tenant of its backend definition. The backend
// keeps nothing but each tenant's URL and secret, so it serves them all
// itself, from a map under a mutex, rather than through sdk.PerTenant,
// which gives each tenant an instance of a backend written for one.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func main() { sdk.Serve(newWebhook(&http.Client{Timeout: 10 * time.Second})) }

// webhook posts every tenant's changes to that tenant's target.
type webhook struct {
	client *http.Client

	mu      sync.Mutex
	targets map[string]target
}

// target is where a tenant's changes go, and the key that signs them.
type target struct {
	url    string
	secret []byte
}

func newWebhook(client *http.Client) *webhook {
	return &webhook{client: client, targets: map[string]target{}}
}

func (w *webhook) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "webhook", Version: "2.0.0", Description: "Posts each change to a URL, HMAC-signed.",
		Settings: []sdk.Setting{{Name: "url", Required: true, Description: "where changes are posted"},
			{Name: "secret", Required: true, Description: "the HMAC-SHA256 key; use {env.NAME}"}}}, nil
}

// Configure sets or replaces the tenant's target; refused settings leave
// the previous target in force.
func (w *webhook) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	var s struct{ URL, Secret string }
	if err := json.Unmarshal(req.Settings, &s); err != nil || s.URL == "" || s.Secret == "" {
		return nil, sdk.Invalid("the webhook backend needs the settings url and secret")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.targets[req.Tenant] = target{url: s.URL, secret: []byte(s.Secret)}
	return &sdk.ConfigureResponse{}, nil
}

// Purge forgets the tenant: the backend keeps no data of its own.
func (w *webhook) Purge(_ context.Context, req *sdk.PurgeRequest) (*sdk.PurgeResponse, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.targets, req.Tenant)
	return &sdk.PurgeResponse{}, nil
}

func (w *webhook) Apply(ctx context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	w.mu.Lock()
	t, ok := w.targets[req.Tenant]
	w.mu.Unlock()
	if !ok {
		// After a restart the host configures its tenants again, then
		// retries.
		return &sdk.ApplyResponse{}, sdk.Unavailable("tenant %q is not configured", req.Tenant)
	}
	return sdk.ApplyEach(req, func(c sdk.Change) error {
		if c.User == nil && c.Group == nil {
			return sdk.Invalid("change %d has neither a user nor a group", c.Seq)
		}
		body, _ := json.Marshal(c)
		mac := hmac.New(sha256.New, t.secret)
		mac.Write(body)
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Scim-Tenant", req.Tenant)
		r.Header.Set("X-Scim-Seq", strconv.FormatUint(c.Seq, 10))
		r.Header.Set("X-Scim-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := w.client.Do(r)
		if err != nil {
			return sdk.Unavailable("posting change %d: %v", c.Seq, err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
			return sdk.Invalid("the webhook refused change %d: %s", c.Seq, resp.Status)
		}
		return sdk.Unavailable("the webhook answered change %d with %s", c.Seq, resp.Status)
	})
}

// Interface guards
var (
	_ sdk.Backend = (*webhook)(nil)
	_ sdk.Purger  = (*webhook)(nil)
)
