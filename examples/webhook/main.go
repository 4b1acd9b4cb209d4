// Command webhook is a caddy-scim backend written only against the SDK: it
// posts each change as JSON to its tenant's URL, signed with HMAC-SHA256
// under the tenant's secret in the X-Scim-Signature header, for products
// that take webhooks. The body is the change's documented JSON form
// (docs/change-json.md in the caddy-scim repository).
//
// The backend remembers, in the tenant's DataDir, the Seq of the last
// change it delivered, and does not post a change at or below it again;
// Inspect shows that record. A change may still arrive twice (a crash
// between its post and the record's update), so receivers deduplicate by
// the X-Scim-Seq header.
//
// One process serves every tenant of its backend definition. The backend
// keeps little per tenant, so it serves them all itself, from a map under
// a mutex, rather than through sdk.PerTenant, which gives each tenant an
// instance of a backend written for one.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func main() { sdk.Serve(newWebhook(&http.Client{Timeout: 10 * time.Second})) }

// recordFile is the name of a tenant's delivery record in its DataDir.
const recordFile = "delivered.json"

// webhook posts every tenant's changes to that tenant's target.
type webhook struct {
	client *http.Client

	mu      sync.Mutex
	tenants map[string]tenant
}

// tenant is where a tenant's changes go, the key that signs them, and how
// far they have been delivered.
type tenant struct {
	url       string
	secret    []byte
	delivered *deliveryLog
}

// deliveryLog is how far a tenant's changes have been delivered, kept in
// the tenant's DataDir. Its mutex serializes the tenant's deliveries.
type deliveryLog struct {
	mu     sync.Mutex
	dir    string
	loaded bool
	purged bool
	record record
}

// record is a tenant's delivery record, as kept in its DataDir.
type record struct {
	// LastSeq is the Seq of the last change delivered.
	LastSeq uint64 `json:"last_seq"`
	// Delivered counts the changes delivered.
	Delivered uint64 `json:"delivered"`
}

// inspection is what Inspect shows of a tenant: where its changes go and
// how far they have been delivered. It leaves the secret out.
type inspection struct {
	URL string `json:"url"`
	record
}

func newWebhook(client *http.Client) *webhook {
	return &webhook{client: client, tenants: map[string]tenant{}}
}

func (w *webhook) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "webhook", Version: "2.1.0", Description: "Posts each change to a URL, HMAC-signed.",
		Settings: []sdk.Setting{{Name: "url", Required: true, Description: "where changes are posted"},
			{Name: "secret", Required: true, Description: "the HMAC-SHA256 key; use {env.NAME}"}}}, nil
}

// Configure sets or replaces the tenant's target; refused settings leave
// the previous target in force. The delivery record is read from DataDir
// when it is first needed, so Configure stays cheap.
func (w *webhook) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	var s struct{ URL, Secret string }
	if err := json.Unmarshal(req.Settings, &s); err != nil || s.URL == "" || s.Secret == "" {
		return nil, sdk.Invalid("the webhook backend needs the settings url and secret")
	}
	if req.DataDir == "" {
		return nil, sdk.Invalid("the webhook backend needs a data directory for its delivery record")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	dl := w.tenants[req.Tenant].delivered
	if dl == nil || dl.dir != req.DataDir {
		dl = &deliveryLog{dir: req.DataDir}
	}
	w.tenants[req.Tenant] = tenant{url: s.URL, secret: []byte(s.Secret), delivered: dl}
	return &sdk.ConfigureResponse{}, nil
}

// tenant returns the tenant's target, or an Unavailable error when the
// tenant is not configured: after a restart, or a purge, the host
// configures it again and retries.
func (w *webhook) tenant(name string) (tenant, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.tenants[name]
	if !ok {
		return tenant{}, sdk.Unavailable("tenant %q is not configured", name)
	}
	return t, nil
}

func (w *webhook) Apply(ctx context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	t, err := w.tenant(req.Tenant)
	if err != nil {
		return &sdk.ApplyResponse{}, err
	}
	dl := t.delivered
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if err := dl.load(req.Tenant); err != nil {
		return &sdk.ApplyResponse{}, err
	}
	return sdk.ApplyEach(req, func(c sdk.Change) error {
		if c.Seq <= dl.record.LastSeq {
			return nil // delivered before
		}
		if c.User == nil && c.Group == nil {
			return sdk.Invalid("change %d has neither a user nor a group", c.Seq)
		}
		if err := w.post(ctx, t, req.Tenant, c); err != nil {
			return err
		}
		dl.record.LastSeq = c.Seq
		dl.record.Delivered++
		if err := dl.save(); err != nil {
			return sdk.Unavailable("saving tenant %q's delivery record: %v", req.Tenant, err)
		}
		return nil
	})
}

// post posts c to t's URL. A network error, a 5xx or a 429 is
// Unavailable: delivery waits and retries. Any other 4xx is Invalid: the
// change is dead-lettered for the operator.
func (w *webhook) post(ctx context.Context, t tenant, name string, c sdk.Change) error {
	body, err := json.Marshal(c)
	if err != nil {
		return sdk.Invalid("encoding change %d: %v", c.Seq, err)
	}
	mac := hmac.New(sha256.New, t.secret)
	mac.Write(body)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return sdk.Invalid("the webhook url %q: %v", t.url, err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Scim-Tenant", name)
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
}

// Inspect shows the tenant's URL and delivery record.
func (w *webhook) Inspect(_ context.Context, req *sdk.InspectRequest) (*sdk.InspectResponse, error) {
	t, err := w.tenant(req.Tenant)
	if err != nil {
		return nil, err
	}
	t.delivered.mu.Lock()
	defer t.delivered.mu.Unlock()
	if err := t.delivered.load(req.Tenant); err != nil {
		return nil, err
	}
	data, err := json.Marshal(inspection{URL: t.url, record: t.delivered.record})
	if err != nil {
		return nil, fmt.Errorf("encoding tenant %q's delivery record: %w", req.Tenant, err)
	}
	return &sdk.InspectResponse{JSON: data}, nil
}

// Purge deletes the tenant's delivery record and forgets the tenant.
func (w *webhook) Purge(_ context.Context, req *sdk.PurgeRequest) (*sdk.PurgeResponse, error) {
	w.mu.Lock()
	t, ok := w.tenants[req.Tenant]
	delete(w.tenants, req.Tenant)
	w.mu.Unlock()
	if !ok {
		// The host configures the tenant, which names its DataDir, and
		// retries.
		return nil, sdk.Unavailable("tenant %q is not configured", req.Tenant)
	}
	dl := t.delivered
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if err := os.RemoveAll(dl.dir); err != nil {
		// The tenant stays configured, unless it was configured anew,
		// so that the host can purge it again.
		w.mu.Lock()
		if _, again := w.tenants[req.Tenant]; !again {
			w.tenants[req.Tenant] = t
		}
		w.mu.Unlock()
		return nil, fmt.Errorf("removing tenant %q's data directory: %w", req.Tenant, err)
	}
	dl.purged = true
	return &sdk.PurgeResponse{}, nil
}

// load reads the delivery record from the data directory, once. It must be
// called with l.mu held.
func (l *deliveryLog) load(name string) error {
	if l.purged {
		return sdk.Unavailable("tenant %q was purged", name)
	}
	if l.loaded {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(l.dir, recordFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return sdk.Unavailable("reading tenant %q's delivery record: %v", name, err)
	default:
		if err := json.Unmarshal(data, &l.record); err != nil {
			return sdk.Unavailable("tenant %q's delivery record %s is corrupt: %v", name, filepath.Join(l.dir, recordFile), err)
		}
	}
	l.loaded = true
	return nil
}

// save writes the delivery record to the data directory, creating it
// first: the host does not. It must be called with l.mu held.
func (l *deliveryLog) save() error {
	data, err := json.Marshal(l.record)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(l.dir, recordFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(l.dir, recordFile))
}

// Interface guards
var (
	_ sdk.Backend   = (*webhook)(nil)
	_ sdk.Inspector = (*webhook)(nil)
	_ sdk.Purger    = (*webhook)(nil)
)
