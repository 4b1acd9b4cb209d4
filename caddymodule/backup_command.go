package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// serveBackup answers GET /scim/backup with a consistent copy of the
// running store, taken while it serves.
func serveBackup(w http.ResponseWriter, r *http.Request, app *App) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(http.MethodGet)
	}
	if err := app.start(); err != nil {
		return err
	}
	st, ok := app.shared.store.(*store.Badger)
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusNotImplemented,
			Err: errors.New("the PostgreSQL engine is backed up with PostgreSQL's own tools (pg_dump, or base backups with WAL archiving); see docs/postgres.md")}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="scim-store.backup"`)
	if _, err := st.Backup(r.Context(), w); err != nil {
		// The status is sent: the client sees the stream end early, and
		// the restore of a cut-off backup fails.
		app.logger.Error("writing a store backup", zap.Error(err))
		panic(http.ErrAbortHandler)
	}
	return nil
}

// backupCommand is "caddy scim backup --out FILE".
func backupCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "backup --out <file>",
		Short: "Writes a consistent copy of the running server's store to a file",
		Long: `Asks the running server for a copy of its store — every tenant's resources,
journal, token and client hashes, delivery state and runtime tenants, as of
one moment — while it goes on serving, and writes it to --out (mode 0600;
an existing file is not overwritten). Restore it with 'caddy scim restore'.
The built-in backends' product stores, under the storage directory's
"backends", are not part of it. With the PostgreSQL engine, back up the
database with PostgreSQL's tools instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			if out == "" {
				return errors.New("--out <file> is required")
			}
			addr, err := adminAddress(cmd)
			if err != nil {
				return err
			}
			resp, err := caddycmd.AdminAPIRequest(addr, http.MethodGet, "/scim/backup", http.Header{"Accept": {"application/octet-stream"}}, nil)
			if err != nil {
				return fmt.Errorf("asking the admin API at %s: %w", addr, err)
			}
			defer resp.Body.Close()
			n, err := writeNew(out, resp.Body)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote the store's backup to %s (%d bytes).\n", out, n)
			return nil
		},
	}
	c.Flags().String("out", "", "the file to write the backup to")
	adminFlags(c)
	return c
}

// writeNew writes r to a new file at path, whole or not at all: through a
// temporary file in the same directory, synced, then renamed.
func writeNew(path string, r io.Reader) (int64, error) {
	if _, err := os.Lstat(path); err == nil {
		return 0, fmt.Errorf("%s exists; choose another file or remove it first", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("writing %s: %w (the server's backup was cut off, or the disk failed; nothing was kept)", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return n, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("writing %s: %w", path, err)
	}
	return n, nil
}

// restoreCommand is "caddy scim restore FILE".
func restoreCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "restore <file> [--storage-dir <dir>]",
		Short: "Restores a backup into an empty storage directory",
		Long: `Restores a file written by 'caddy scim backup' into a storage directory that
is empty or does not exist yet, with no server running on it: by default
"scim" in Caddy's data directory, the scim app's default storage_dir.
Then start Caddy with that storage_dir. A restore takes the journal back to
the backup's moment: backends that applied later changes must be taken back
to the same moment too (for the built-in ones, their stores under
"backends" in the storage directory).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, _ := cmd.Flags().GetString("storage-dir")
			if dir == "" {
				dir = filepath.Join(caddy.AppDataDir(), "scim")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if err := store.Restore(dir, f); err != nil {
				if errors.Is(err, store.ErrNotBackup) {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Restored %s into %s; start Caddy with storage_dir %s.\n", args[0], dir, dir)
			return nil
		},
	}
	c.Flags().String("storage-dir", "", "the empty storage directory to restore into")
	return c
}
