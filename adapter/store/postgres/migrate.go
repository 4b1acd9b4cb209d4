// Package postgres holds the PostgreSQL schema of the SCIM store: one
// table per kind of data the embedded engine keeps (resources with their
// JSON as written, unique and equality indexes, membership edges, the
// journal, delivery state and dead letters, token and client hashes,
// access times, runtime tenants, store-wide values, leases). It is plain
// SQL that CockroachDB and YugabyteDB accept too.
//
// Migrate creates and upgrades the schema: numbered migrations, embedded
// in the binary, applied in one transaction while the schema version row
// is locked, so instances starting at once apply each migration exactly
// once. A database whose schema is newer than the running build is
// refused rather than written with an older layout.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. Their
// names are NNNN_description.sql with versions 1, 2, 3… and no gap.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: the name must start with its version number and an underscore", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d (versions are 1, 2, 3… without gaps)", m.name, i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// ErrSchemaTooNew says the database was migrated by a newer build.
var ErrSchemaTooNew = errors.New("the database's schema is newer than this build")

// Migrate brings the database's schema to SchemaVersion and reports the
// version it found. It is safe to run from several instances at once:
// the version row is locked for the whole upgrade, so one instance
// applies the migrations and the others then find nothing to do.
func Migrate(ctx context.Context, conn *pgx.Conn) (from int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, err
	}
	// The version table itself: created by whichever instance comes
	// first; IF NOT EXISTS and ON CONFLICT make the race harmless.
	create := `CREATE TABLE IF NOT EXISTS scim_schema (id INT PRIMARY KEY, version INT NOT NULL)`
	if _, err := conn.Exec(ctx, create); err != nil {
		// Two sessions creating the same table at once: PostgreSQL lets
		// one fail on its catalog's unique index instead of waiting. By
		// now the table exists.
		if _, err := conn.Exec(ctx, create); err != nil {
			return 0, fmt.Errorf("creating the schema version table: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO scim_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`); err != nil {
		return 0, fmt.Errorf("recording the schema version: %w", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("starting the schema upgrade: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := tx.QueryRow(ctx, `SELECT version FROM scim_schema WHERE id = 1 FOR UPDATE`).Scan(&from); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	if from > len(ms) {
		return from, fmt.Errorf("%w: it is version %d and this build knows up to %d; run a build at least as new as the one that upgraded it", ErrSchemaTooNew, from, len(ms))
	}
	for _, m := range ms[from:] {
		// Several statements in one string: the simple protocol.
		if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			return from, fmt.Errorf("applying migration %s: %w", m.name, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE scim_schema SET version = $1 WHERE id = 1`, len(ms)); err != nil {
		return from, fmt.Errorf("recording schema version %d: %w", len(ms), err)
	}
	if err := tx.Commit(ctx); err != nil {
		return from, fmt.Errorf("committing the schema upgrade: %w", err)
	}
	return from, nil
}
