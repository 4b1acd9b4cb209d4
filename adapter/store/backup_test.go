package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// TestBackupAndRestore: a backup taken while the store is open restores
// into an empty directory as the same store — resources, journal and
// token records — and a restore refuses a directory in use or input that
// is not a backup, leaving the directory as it was.
func TestBackupAndRestore(t *testing.T) {
	ctx := context.Background()
	s, err := Open(Options{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []string
	for _, name := range []string{"ann", "bob", "cy"} {
		res, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Resource["id"].(string))
	}
	mgr := tokens.NewManager(s, nil)
	issued, err := mgr.Issue(ctx, "acme", tokens.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup = %d, %v (%d bytes written)", n, err, buf.Len())
	}
	// Written after the backup: not in it.
	if _, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "late"}, nil); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	if err := Restore(dir, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i, id := range ids {
		if _, err := r.Get(ctx, "acme", schema.User, id); err != nil {
			t.Errorf("user %d after the restore: %v", i, err)
		}
	}
	page, err := r.List(ctx, "acme", schema.User, Query{Count: 10})
	if err != nil || page.Total != 3 {
		t.Fatalf("restored list: %v, %v", page, err)
	}
	if head, err := r.LastSeq(ctx, "acme"); err != nil || head != 3 {
		t.Fatalf("restored journal head %d, %v", head, err)
	}
	if _, err := tokens.NewManager(r, nil).Verify(ctx, "acme", "Bearer "+issued.Token); err != nil {
		t.Fatalf("the token after the restore: %v", err)
	}

	// Refusals.
	if err := Restore(dir, bytes.NewReader(buf.Bytes())); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into a store in use: %v", err)
	}
	empty := t.TempDir()
	if err := Restore(empty, strings.NewReader("PK\x03\x04 a zip file")); err != ErrNotBackup {
		t.Fatalf("restore of a zip file: %v", err)
	}
	truncated := buf.Bytes()[:len(buf.Bytes())/2]
	if err := Restore(empty, bytes.NewReader(truncated)); err == nil {
		t.Fatal("a truncated backup restored")
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatalf("a failed restore left %d files behind", len(entries))
	}
}
