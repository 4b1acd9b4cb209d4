// Package pgtest runs a real PostgreSQL server for tests: no mocks, no
// server set up by hand beforehand.
//
// A test package starts one server for all of its tests. Its TestMain
// hands over to Main, which stops the server when the tests are done, and
// each test asks for the shared server and a database of its own:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Shared(t).CreateDatabase(t, "something")
//		conn := pgtest.Connect(t, dsn) // or pgxpool.New(ctx, dsn)
//		...
//	}
//
// Start (or Options.Start) runs a server of the test's own instead, stopped
// when the test ends; it suits a test that changes the server's settings or
// stops it on purpose.
//
// The server's binaries are found with pg_config --bindir, else in the
// highest version under /usr/lib/postgresql/*/bin (Debian's layout), else on
// PATH; the environment variable PGTEST_BINDIR names the directory instead.
// When none is found and the tests run as root, Debian's postgresql package
// is installed with apt-get (once per test process); otherwise the tests
// fail and say how to install it.
//
// Each server lives in a temporary directory of its own: its data
// directory, its Unix socket and its log, postgres.log, whose tail is part
// of the error when the server fails to start. It listens on 127.0.0.1 only,
// on a free port, and trusts every connection (initdb -A trust): acceptable
// for a throwaway server that only local processes reach. PostgreSQL refuses
// to run as root, so as root the server runs as the postgres system user
// that Debian's package creates, else as nobody. Stopping a server shuts it
// down fast (SIGINT, as pg_ctl stop -m fast does), kills its process group
// when that does not end it in time, and removes the directory.
package pgtest
