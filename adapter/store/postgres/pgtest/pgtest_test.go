package pgtest_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestDatabasesAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := pgtest.Shared(t)
	dsnA := srv.CreateDatabase(t, t.Name()+"/a")
	dsnB := srv.CreateDatabase(t, t.Name()+"/b")
	if dsnA == dsnB {
		t.Fatalf("both databases have the DSN %s", dsnA)
	}
	a, b := pgtest.Connect(t, dsnA), pgtest.Connect(t, dsnB)

	if _, err := a.Exec(ctx, "CREATE TABLE users (user_name text PRIMARY KEY)"); err != nil {
		t.Fatalf("creating a table in a: %v", err)
	}
	if _, err := a.Exec(ctx, "INSERT INTO users VALUES ('alice')"); err != nil {
		t.Fatalf("inserting into a: %v", err)
	}

	var pgErr *pgconn.PgError
	_, err := b.Exec(ctx, "SELECT * FROM users")
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Fatalf("b sees a's table: selecting from it returned %v, want undefined_table (42P01)", err)
	}
	if _, err := b.Exec(ctx, "CREATE TABLE users (user_name text PRIMARY KEY)"); err != nil {
		t.Fatalf("creating the same table in b: %v", err)
	}
	if _, err := b.Exec(ctx, "INSERT INTO users VALUES ('bob')"); err != nil {
		t.Fatalf("inserting into b: %v", err)
	}

	for _, tc := range []struct {
		name string
		conn *pgx.Conn
		want string
	}{{"a", a, "alice"}, {"b", b, "bob"}} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := tc.conn.Query(ctx, "SELECT user_name FROM users")
			if err != nil {
				t.Fatalf("selecting: %v", err)
			}
			names, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatalf("reading rows: %v", err)
			}
			if len(names) != 1 || names[0] != tc.want {
				t.Errorf("users = %q, want [%q]", names, tc.want)
			}
		})
	}
}

func TestListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := pgtest.Shared(t)
	dsn := srv.CreateDatabase(t, "loopback")
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parsing %s: %v", dsn, err)
	}
	if cfg.Host != "127.0.0.1" || int(cfg.Port) != srv.Port() {
		t.Errorf("DSN %s points at %s:%d, want 127.0.0.1:%d", dsn, cfg.Host, cfg.Port, srv.Port())
	}
	conn := pgtest.Connect(t, dsn)
	for setting, want := range map[string]string{
		"listen_addresses": "127.0.0.1",
		"fsync":            "on",
		"max_connections":  "200",
		"server_encoding":  "UTF8",
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatalf("reading %s: %v", setting, err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
}

func TestRunsUnprivileged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := pgtest.Connect(t, pgtest.Shared(t).DSN("postgres"))
	var dataDir string
	if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		t.Fatalf("reading data_directory: %v", err)
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		t.Fatalf("looking at the data directory: %v", err)
	}
	uid := fi.Sys().(*syscall.Stat_t).Uid
	if uid == 0 {
		t.Errorf("the data directory %s belongs to root", dataDir)
	}
	if os.Geteuid() != 0 && uid != uint32(os.Geteuid()) {
		t.Errorf("the data directory %s belongs to uid %d, want the test's own %d", dataDir, uid, os.Geteuid())
	}
}

func TestOwnServerStops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := pgtest.Options{NoFsync: true, Settings: map[string]string{"max_connections": "20"}}.Start(t)
	conn := pgtest.Connect(t, srv.DSN("postgres"))
	for setting, want := range map[string]string{"fsync": "off", "max_connections": "20"} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatalf("reading %s: %v", setting, err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
	conn.Close(ctx)

	if err := srv.Stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	if _, err := os.Stat(srv.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the server's directory is still there after Stop: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c, err := pgx.Connect(cctx, srv.DSN("postgres")); err == nil {
		c.Close(ctx)
		t.Error("the server still accepts connections after Stop")
	}
}
