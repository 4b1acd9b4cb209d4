// Command webhook is a caddy-scim backend written only against the SDK: it
// posts each change as JSON to a URL, signed with HMAC-SHA256 in the
// X-Scim-Signature header, for products that take webhooks. Receivers
// deduplicate by the X-Scim-Seq header: a change may arrive twice.
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
	"time"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func main() { sdk.Serve(&webhook{client: &http.Client{Timeout: 10 * time.Second}}) }

type webhook struct {
	url    string
	secret []byte
	client *http.Client
}

func (w *webhook) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "webhook", Version: "1.0.0", Description: "Posts each change to a URL, HMAC-signed.",
		Settings: []sdk.Setting{{Name: "url", Required: true, Description: "where changes are posted"},
			{Name: "secret", Required: true, Description: "the HMAC-SHA256 key; use {env.NAME}"}}}, nil
}

func (w *webhook) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	var s struct{ URL, Secret string }
	if err := json.Unmarshal(req.Settings, &s); err != nil || s.URL == "" || s.Secret == "" {
		return nil, sdk.Invalid("the webhook backend needs the settings url and secret")
	}
	w.url, w.secret = s.URL, []byte(s.Secret)
	return &sdk.ConfigureResponse{}, nil
}

func (w *webhook) Apply(ctx context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	return sdk.ApplyEach(req, func(c sdk.Change) error {
		if c.User == nil && c.Group == nil {
			return sdk.Invalid("change %d has neither a user nor a group", c.Seq)
		}
		body, _ := json.Marshal(c)
		mac := hmac.New(sha256.New, w.secret)
		mac.Write(body)
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
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
