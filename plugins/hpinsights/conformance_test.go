package hpinsights

import (
	"encoding/json"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
	"github.com/caddy-scim/caddy-scim/plugins/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	for name, settings := range map[string]string{
		"defaults":             `{}`,
		"cards kept on delete": `{"cards_on_delete":"keep"}`,
	} {
		t.Run(name, func(t *testing.T) {
			sdktest.Run(t, New, sdktest.Options{Settings: json.RawMessage(settings)})
		})
	}
}

// TestThroughPlugin runs the sample changes and a card import through the
// plugin's gRPC connection, so typed errors and the import result survive
// the trip.
func TestThroughPlugin(t *testing.T) {
	impl := New()
	defer impl.(*Backend).Close()
	c := sdktest.Connect(t, impl)
	ctx := t.Context()
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", DataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	changes := sdktest.SampleChanges("acme")
	resp, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "acme", Changes: changes})
	if err != nil || resp.AppliedThrough != uint64(len(changes)) {
		t.Fatalf("apply: %+v, %v", resp, err)
	}
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", DataDir: t.TempDir(), Settings: json.RawMessage(`{"cards_on_delete":"shred"}`)}); !sdk.IsInvalid(err) {
		t.Errorf("bad setting through the plugin: err = %v, want Invalid", err)
	}
	if _, err := c.Action(ctx, &sdk.ActionRequest{Name: "import-cards", Payload: []byte("\"unterminated")}); !sdk.IsInvalid(err) {
		t.Errorf("malformed CSV through the plugin: err = %v, want Invalid", err)
	}
	imp, err := c.Action(ctx, &sdk.ActionRequest{Name: "import-cards", Payload: []byte("bob.jones@example.com,B1\nalice.smith@example.com,A1\n")})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Added   int `json:"added"`
		Refused []struct {
			Line int `json:"line"`
		} `json:"refused"`
	}
	if err := json.Unmarshal(imp.Result, &res); err != nil || res.Added != 1 || len(res.Refused) != 1 || res.Refused[0].Line != 2 {
		t.Errorf("import through the plugin: %q %s (%v)", imp.Message, imp.Result, err)
	}
	out, err := c.Inspect(ctx, &sdk.InspectRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var store Store
	if err := json.Unmarshal(out.JSON, &store); err != nil {
		t.Fatal(err)
	}
	if len(store.Users) != 2 || store.LastSeq != uint64(len(changes)) {
		t.Errorf("store after the sample changes = %+v", store)
	}
}
