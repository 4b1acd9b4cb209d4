package postgres_test

import (
	"context"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/store/postgres"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
	"github.com/caddy-scim/caddy-scim/adapter/store/storetest"
)

// engine is a PostgreSQL store that can be closed and opened again on the
// same database.
type engine struct {
	*postgres.Store
	dsn string
}

// Reopen implements storetest.Reopener.
func (e engine) Reopen(t *testing.T) storetest.Engine {
	t.Helper()
	if err := e.Close(); err != nil {
		t.Fatalf("closing store: %v", err)
	}
	return open(t, e.dsn)
}

func open(t *testing.T, dsn string) engine {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return engine{Store: s, dsn: dsn}
}

// TestConformance runs the store conformance suite against the PostgreSQL
// store, each test on a database of its own.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Engine {
		return open(t, pgtest.Shared(t).CreateDatabase(t, "conformance"))
	})
}
