package caddymodule

import (
	"strings"
	"testing"
	"time"
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
	if b, i, m := app.shared.store.Memory(); b != 24<<20 || i != 12<<20 || m != 8<<20 {
		t.Fatalf("the store was opened with %d / %d / %d bytes", b, i, m)
	}
	if r := app.shared.store.JournalRetention(); r != 72*time.Hour {
		t.Fatalf("the store was opened with a journal retention of %s", r)
	}
}
