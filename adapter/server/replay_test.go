package server

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/server/replaytest"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// TestReplay runs each recorded IdP session under testdata/replay (see
// package replaytest for the format) against a fresh store, through the
// handler behind a TLS test server.
func TestReplay(t *testing.T) {
	const prefix = "/scim/v2/acme"
	for _, f := range replaytest.LoadDir(t, filepath.Join("testdata", "replay")) {
		t.Run(f.Name, func(t *testing.T) {
			st, err := store.Open(store.Options{InMemory: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ts := httptest.NewTLSServer(New(Config{Store: st, MaxBodyBytes: 64 << 10}).Handler("acme", prefix))
			defer ts.Close()
			replaytest.Run(t, replaytest.Target{Client: ts.Client(), Base: ts.URL + prefix}, f)
		})
	}
}
