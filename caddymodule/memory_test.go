package caddymodule

import (
	"github.com/caddy-scim/caddy-scim/adapter/store"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// TestStoreMemoryFromGlobalOption: the global option's sizes and journal
// retention reach the store the server opens.
func TestStoreMemoryFromGlobalOption(t *testing.T) {
	in := startCaddy(t, strings.Replace(e2eCaddyfile, "\t\tflush_interval 1h\n",
		"\t\tflush_interval 1h\n\t\tcache_size 24MiB\n\t\tindex_cache_size 12MiB\n\t\tmemtable_size 8MiB\n\t\tjournal_retention 3d\n", 1))
	in.status(t, "acme") // the store is open once the config started
	app, err := activeApp()
	if err != nil {
		t.Fatal(err)
	}
	st := app.shared.store.(*store.Badger)
	if b, i, m := st.Memory(); b != 24<<20 || i != 12<<20 || m != 8<<20 {
		t.Fatalf("the store was opened with %d / %d / %d bytes", b, i, m)
	}
	if r := st.JournalRetention(); r != 72*time.Hour {
		t.Fatalf("the store was opened with a journal retention of %s", r)
	}
}

// TestJournalRetentionFloorInJSON: the JSON config refuses a retention
// under an hour, as the Caddyfile does.
func TestJournalRetentionFloorInJSON(t *testing.T) {
	for _, c := range []struct {
		retention string
		wantErr   string
	}{
		{`"30m"`, "journal_retention 30m0s is too short"},
		{`"-1h"`, "cannot be negative"},
		{`"2h"`, ""},
	} {
		t.Run(c.retention, func(t *testing.T) {
			cfg := `{"admin":{"disabled":true},"apps":{"scim":{"storage_dir":` + strconv.Quote(t.TempDir()) + `,"journal_retention":` + c.retention + `}}}`
			var parsed *caddy.Config
			if err := caddy.StrictUnmarshalJSON([]byte(cfg), &parsed); err != nil {
				t.Fatal(err)
			}
			err := caddy.Validate(parsed)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("got %v, want an error with %q", err, c.wantErr)
			}
		})
	}
}
