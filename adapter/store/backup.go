package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dgraph-io/badger/v4"
)

// backupMagic starts every backup, so that a restore recognises one and
// refuses anything else with a clear error.
const backupMagic = "caddy-scim store backup v1\n"

// ErrNotBackup is returned by Restore for input that is not a backup.
var ErrNotBackup = errors.New("not a caddy-scim store backup")

// Backup writes a consistent copy of the whole store to w while it stays
// open and in use: every key at one moment, in Badger's backup format
// after a header of its own. It returns the number of bytes written.
func (s *Badger) Backup(ctx context.Context, w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	if _, err := io.WriteString(cw, backupMagic); err != nil {
		return cw.n, err
	}
	stream := s.db.NewStream()
	stream.LogPrefix = "store.Backup"
	if _, err := stream.Backup(cw, 0); err != nil {
		return cw.n, fmt.Errorf("writing the backup: %w", err)
	}
	return cw.n, ctx.Err()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Restore loads a backup written by Backup into a new store in dir, which
// must not exist or be empty, and closes it; the store can then be opened
// there. A restore that fails leaves dir as it found it.
func Restore(dir string, r io.Reader) error {
	entries, err := os.ReadDir(dir)
	existed := !errors.Is(err, os.ErrNotExist)
	switch {
	case !existed:
	case err != nil:
		return fmt.Errorf("reading %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty: a backup is restored into an empty storage directory", dir)
	}
	br := bufio.NewReader(r)
	head := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != backupMagic {
		return ErrNotBackup
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	undo := func() {
		if !existed {
			os.RemoveAll(dir)
			return
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.RemoveAll(dir + string(os.PathSeparator) + e.Name())
		}
	}
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithSyncWrites(true))
	if err != nil {
		undo()
		return fmt.Errorf("creating the store in %s: %w", dir, err)
	}
	if err := db.Load(br, 256); err != nil {
		db.Close()
		undo()
		return fmt.Errorf("loading the backup: %w", err)
	}
	if err := db.Close(); err != nil {
		undo()
		return fmt.Errorf("closing the restored store: %w", err)
	}
	return nil
}
