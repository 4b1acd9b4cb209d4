// Package printtest drives a print backend in its tests: a data directory
// that outlives reopening the backend, changes numbered in order, card
// imports, and the Inspect JSON decoded or compared with a golden file.
package printtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
	"github.com/caddy-scim/caddy-scim/plugins/sdk/sdktest"
)

// tenant is the tenant of the harness's requests and changes.
const tenant = "acme"

// Backend is what a print backend implements.
type Backend interface {
	sdk.Backend
	sdk.Inspector
	sdk.Actioner
	Close() error
}

// Harness drives one backend over one data directory. S is the type the
// backend's Inspect JSON decodes into.
type Harness[S any] struct {
	// T is the test.
	T *testing.T
	// B is the backend currently open.
	B Backend
	// Dir is the data directory.
	Dir string

	newBackend func() Backend
	seq        uint64
}

// New configures a backend with settings (JSON; empty for none) over a new
// data directory. The backend is closed when the test ends.
func New[S any](t *testing.T, newBackend func() Backend, settings string) *Harness[S] {
	t.Helper()
	h := &Harness[S]{T: t, Dir: t.TempDir(), newBackend: newBackend}
	h.open(settings)
	return h
}

func (h *Harness[S]) open(settings string) {
	h.T.Helper()
	b := h.newBackend()
	req := &sdk.ConfigureRequest{Tenant: tenant, DataDir: h.Dir}
	if settings != "" {
		req.Settings = json.RawMessage(settings)
	}
	if _, err := b.Configure(context.Background(), req); err != nil {
		h.T.Fatalf("configure: %v", err)
	}
	h.B = b
	h.T.Cleanup(func() { b.Close() })
}

// Reopen closes the backend and configures a new one over the same data
// directory, as after a restart.
func (h *Harness[S]) Reopen(settings string) {
	h.T.Helper()
	if err := h.B.Close(); err != nil {
		h.T.Fatalf("close: %v", err)
	}
	h.open(settings)
}

// Next returns the next sequence number.
func (h *Harness[S]) Next() uint64 { h.seq++; return h.seq }

// UserChange returns a user change with the next sequence number.
func (h *Harness[S]) UserChange(kind sdk.Kind, u *sdk.User) sdk.Change {
	return sdk.Change{Seq: h.Next(), Tenant: tenant, Kind: kind, User: u}
}

// GroupChange returns a group change with the next sequence number; the
// members are user ids.
func (h *Harness[S]) GroupChange(kind sdk.Kind, id, name string, members ...string) sdk.Change {
	c := sdk.Change{Seq: h.Next(), Tenant: tenant, Kind: kind, Group: &sdk.Group{ID: id, DisplayName: name}}
	for _, m := range members {
		c.Members = append(c.Members, sdk.Member{ID: m, Type: "User"})
	}
	return c
}

// Apply applies changes as one batch.
func (h *Harness[S]) Apply(changes ...sdk.Change) (*sdk.ApplyResponse, error) {
	return h.B.Apply(context.Background(), &sdk.ApplyRequest{Tenant: tenant, Changes: changes})
}

// MustApply applies changes as one batch and fails the test on an error.
func (h *Harness[S]) MustApply(changes ...sdk.Change) {
	h.T.Helper()
	if _, err := h.Apply(changes...); err != nil {
		h.T.Fatalf("apply: %v", err)
	}
}

// Import runs import-cards with csv.
func (h *Harness[S]) Import(csv string) (*sdk.ActionResponse, error) {
	return h.B.Action(context.Background(), &sdk.ActionRequest{Tenant: tenant, Name: "import-cards", Payload: []byte(csv)})
}

// MustImport runs import-cards and fails the test on an error.
func (h *Harness[S]) MustImport(csv string) *sdk.ActionResponse {
	h.T.Helper()
	resp, err := h.Import(csv)
	if err != nil {
		h.T.Fatalf("import-cards: %v", err)
	}
	return resp
}

// InspectJSON returns the backend's Inspect JSON.
func (h *Harness[S]) InspectJSON() []byte {
	h.T.Helper()
	resp, err := h.B.Inspect(context.Background(), &sdk.InspectRequest{Tenant: tenant})
	if err != nil {
		h.T.Fatalf("inspect: %v", err)
	}
	return resp.JSON
}

// Inspect returns the backend's Inspect JSON decoded. The test fails
// unless S encodes back to the same bytes: S documents the JSON, member
// for member and in order.
func (h *Harness[S]) Inspect() S {
	h.T.Helper()
	data := h.InspectJSON()
	var s S
	if err := json.Unmarshal(data, &s); err != nil {
		h.T.Fatalf("decoding inspect: %v", err)
	}
	if again, err := json.Marshal(s); err != nil || !bytes.Equal(again, data) {
		h.T.Fatalf("the inspect JSON is not what its type describes (%v)\n got %s\nwant %s", err, data, again)
	}
	return s
}

// Golden compares the indented Inspect JSON with the file at path, after
// writing it there when update is set.
func (h *Harness[S]) Golden(path string, update bool) {
	h.T.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, h.InspectJSON(), "", "  "); err != nil {
		h.T.Fatal(err)
	}
	buf.WriteByte('\n')
	if update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			h.T.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		h.T.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		h.T.Errorf("inspect JSON differs from %s (run with -update to rewrite)\n got %s\nwant %s", path, buf.Bytes(), want)
	}
}

// Conformance runs the SDK's conformance harness against a print backend,
// served through sdk.PerTenant as its binary serves it, with its default
// settings and with cards kept on delete; then it sends the sample
// changes, a bad setting, a malformed CSV and a card import through the
// plugin's gRPC connection, so typed errors and the import result survive
// the trip. importCSV must add one card and refuse its second row.
func Conformance(t *testing.T, newBackend func() sdk.Backend, importCSV string) {
	served := func() sdk.Backend {
		return sdk.PerTenant(func(string) sdk.Backend { return newBackend() }, sdk.PerTenantOptions{})
	}
	for name, settings := range map[string]string{
		"defaults":             `{}`,
		"cards kept on delete": `{"cards_on_delete":"keep"}`,
	} {
		t.Run("sdktest/"+name, func(t *testing.T) {
			sdktest.Run(t, served, sdktest.Options{Settings: json.RawMessage(settings)})
		})
	}
	t.Run("through the plugin", func(t *testing.T) {
		dir := t.TempDir() // before the backend, so it is removed after the backend is closed
		impl := served()
		t.Cleanup(func() { impl.(io.Closer).Close() })
		c := sdktest.Connect(t, impl)
		ctx := t.Context()
		if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: tenant, DataDir: dir}); err != nil {
			t.Fatal(err)
		}
		changes := sdktest.SampleChanges(tenant)
		resp, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: tenant, Changes: changes})
		if err != nil || resp.AppliedThrough != uint64(len(changes)) {
			t.Fatalf("apply: %+v, %v", resp, err)
		}
		if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: tenant, DataDir: dir, Settings: json.RawMessage(`{"cards_on_delete":"shred"}`)}); !sdk.IsInvalid(err) {
			t.Errorf("bad setting through the plugin: err = %v, want Invalid", err)
		}
		if _, err := c.Action(ctx, &sdk.ActionRequest{Tenant: tenant, Name: "import-cards", Payload: []byte("\"unterminated")}); !sdk.IsInvalid(err) {
			t.Errorf("malformed CSV through the plugin: err = %v, want Invalid", err)
		}
		imp, err := c.Action(ctx, &sdk.ActionRequest{Tenant: tenant, Name: "import-cards", Payload: []byte(importCSV)})
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
		out, err := c.Inspect(ctx, &sdk.InspectRequest{Tenant: tenant})
		if err != nil {
			t.Fatal(err)
		}
		var store struct {
			Users   []json.RawMessage `json:"users"`
			LastSeq uint64            `json:"last_seq"`
		}
		if err := json.Unmarshal(out.JSON, &store); err != nil {
			t.Fatal(err)
		}
		if len(store.Users) != 2 || store.LastSeq != uint64(len(changes)) {
			t.Errorf("store after the sample changes: %s", out.JSON)
		}
	})
}
