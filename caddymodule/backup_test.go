package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
)

// TestBackupAndRestoreCommands: 'caddy scim backup' copies the running
// store while it serves, and 'caddy scim restore' puts the copy into an
// empty storage directory as the same store; neither overwrites anything.
func TestBackupAndRestoreCommands(t *testing.T) {
	in := startCaddy(t, pharosCaddyfile)
	token := in.token(t, "print").Token
	status, _, user := in.scim(t, "POST", "/scim/v2/print/Users", token,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ann@contoso.example","emails":[{"value":"ann@contoso.example"}]}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, user)
	}
	file := filepath.Join(t.TempDir(), "scim.backup")
	out := runCLI(t, backupCommand(), "--out", file, "--address", in.admin)
	if !strings.Contains(out, "Wrote the store's backup to "+file) {
		t.Fatalf("backup said: %s", out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
		t.Fatalf("the backup file: %v, %v", fi, err)
	}
	if err := runCLIErr(backupCommand(), "--out", file, "--address", in.admin); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a backup over an existing file: %v", err)
	}
	// The server keeps serving, and the running store cannot be restored
	// over.
	if status, _, _ := in.scim(t, "GET", "/scim/v2/print/Users", token, ""); status != 200 {
		t.Fatalf("after the backup: %d", status)
	}
	if err := runCLIErr(restoreCommand(), file, "--storage-dir", in.storage); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a restore over the running store: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	out = runCLI(t, restoreCommand(), file, "--storage-dir", dir)
	if !strings.Contains(out, "Restored "+file+" into "+dir) {
		t.Fatalf("restore said: %s", out)
	}
	st, err := store.Open(store.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Get(t.Context(), "print", schema.User, user["id"].(string))
	if err != nil || got["userName"] != "ann@contoso.example" {
		t.Fatalf("the user in the restored store: %v, %v", got, err)
	}
	if err := runCLIErr(restoreCommand(), "../go.mod", "--storage-dir", filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "not a caddy-scim store backup") {
		t.Fatalf("restoring go.mod: %v", err)
	}
}

// TestBackupOnPostgresPointsAtItsTools: with the PostgreSQL engine the
// backup command says how to back the database up instead.
func TestBackupOnPostgresPointsAtItsTools(t *testing.T) {
	t.Setenv("SCIM_TEST_DSN", pgtest.Shared(t).CreateDatabase(t, "caddy_backup"))
	in := startCaddy(t, postgresCaddyfile)
	file := filepath.Join(t.TempDir(), "scim.backup")
	err := runCLIErr(backupCommand(), "--out", file, "--address", in.admin)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("backup on PostgreSQL: %v", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("a file was left behind: %v", err)
	}
}
