package pgtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// superuser is the role initdb creates; every connection uses it.
const superuser = "postgres"

// Timeouts of a server's life: how long it may take to accept connections
// after it was started, and to shut down before its processes are killed.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// logName is the server's log file in its directory.
const logName = "postgres.log"

// Options tune a test server. The zero value is what Start and Shared use.
type Options struct {
	// NoFsync turns fsync off: writes get faster, but data committed
	// before a crash of the machine may be lost. Fsync stays on unless
	// this is set, so that a test which kills the server sees what a
	// production server would keep.
	NoFsync bool

	// Settings are further server settings, passed to postgres as
	// -c name=value; they override the defaults (shared_buffers 32MB,
	// max_connections 200).
	Settings map[string]string
}

// Server is a running PostgreSQL server on 127.0.0.1 in a temporary
// directory of its own.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd

	// exited is closed when the postmaster has exited; waitErr is what
	// waiting for it returned.
	exited  chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error

	// databases counts the databases CreateDatabase made, to name the
	// next one.
	databases atomic.Int64
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// mainRunning is set by Main, whose return stops the shared server.
var mainRunning atomic.Bool

// Main runs the tests of a package that uses Shared and stops the shared
// server after them, then exits with the tests' status. Call it from the
// package's TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	mainRunning.Store(true)
	code := m.Run()
	// A Do after the tests makes what they stored in shared visible here
	// and keeps a straggler from starting another server.
	shared.once.Do(func() {})
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the shared PostgreSQL server: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// Shared returns the test process's one server, starting it on first use;
// Main stops it once all tests have run. Tests that share it stay apart
// through CreateDatabase. It fails the test when the package's TestMain
// does not call Main, since nothing would stop the server then.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	if !mainRunning.Load() {
		tb.Fatal("pgtest.Shared needs pgtest.Main(m) in the test package's TestMain, which stops the shared server")
	}
	shared.once.Do(func() {
		shared.srv, shared.err = Options{}.start()
	})
	if shared.err != nil {
		tb.Fatalf("starting the shared PostgreSQL server: %v", shared.err)
	}
	return shared.srv
}

// Start starts a server of the test's own with the default options and
// stops it when the test ends. Tests that only need a database use Shared.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return Options{}.Start(tb)
}

// Start starts a server of the test's own with these options and stops it
// when the test ends.
func (o Options) Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := o.start()
	if err != nil {
		tb.Fatalf("starting a PostgreSQL server: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stopping the PostgreSQL server: %v", err)
		}
	})
	return s
}

// Launch starts a server outside a test, for a command such as a load
// benchmark, finding or installing PostgreSQL as Start does; the caller
// stops it with Stop.
func (o Options) Launch() (*Server, error) { return o.start() }

// DSN returns the connection string of database dbname on the server, as
// the superuser postgres, which needs no password here.
func (s *Server) DSN(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates an empty database and returns its DSN. The
// database is named after name (lowercased, characters other than letters,
// digits and underscores replaced) with a number appended, so that each
// call gets a new one, also when tests run more than once (-count).
func (s *Server) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	dsn, err := s.NewDatabase(name)
	if err != nil {
		tb.Fatal(err)
	}
	return dsn
}

// NewDatabase is CreateDatabase outside a test: it returns the error.
func (s *Server) NewDatabase(name string) (string, error) {
	db := fmt.Sprintf("%s_%d", identifier(name), s.databases.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("connecting to create database %s: %w", db, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return "", fmt.Errorf("creating database %s: %w", db, err)
	}
	return s.DSN(db), nil
}

// Connect opens a connection to dsn, closed when the test ends, and fails
// the test when it cannot.
func Connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connecting to %s: %v", dsn, err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// PID is the process id of the server's postmaster, the parent of its
// other processes.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Port returns the TCP port the server listens on at 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Dir returns the server's temporary directory: the data directory data,
// the Unix socket and the log postgres.log. Stop removes it.
func (s *Server) Dir() string { return s.dir }

// Stop shuts the server down fast (SIGINT, as pg_ctl stop -m fast does),
// kills its process group when it has not exited within 30 seconds, and
// removes its directory. Calling it again returns the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stop()
	})
	return s.stopErr
}

func (s *Server) stop() error {
	var errs []error
	if s.cmd != nil {
		select {
		case <-s.exited:
		default:
			if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("asking the server to shut down: %w", err))
			}
			select {
			case <-s.exited:
			case <-time.After(stopTimeout):
				errs = append(errs, fmt.Errorf("the server did not shut down within %s; killing it\n%s", stopTimeout, s.logTail()))
				if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
					errs = append(errs, fmt.Errorf("killing the server's process group: %w", err))
				}
				<-s.exited
			}
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("removing the server's directory: %w", err))
	}
	return errors.Join(errs...)
}

// start creates the directory, the cluster and the server, and waits until
// the server answers a query.
func (o Options) start() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := makeDir(cred)
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	if err := s.initdb(bin, cred); err != nil {
		s.Stop()
		return nil, err
	}
	// The free port may be taken between finding it and the server
	// binding it; try another one then.
	for attempt := 1; ; attempt++ {
		err = s.run(bin, cred, o.settings())
		if err == nil {
			return s, nil
		}
		if attempt == 3 || !s.exitedOnBind() {
			s.Stop()
			return nil, err
		}
		s.cmd = nil
	}
}

// exitedOnBind reports whether the server has exited because it could not
// bind its port.
func (s *Server) exitedOnBind() bool {
	select {
	case <-s.exited:
		return strings.Contains(s.logTail(), "could not bind")
	default:
		return false
	}
}

// settings returns the server settings with the options applied.
func (o Options) settings() map[string]string {
	settings := map[string]string{
		"shared_buffers":  "32MB",
		"max_connections": "200",
		"fsync":           "on",
	}
	if o.NoFsync {
		settings["fsync"] = "off"
	}
	maps.Copy(settings, o.Settings)
	return settings
}

// initdb creates the cluster in dir/data, trusting every connection.
func (s *Server) initdb(bin string, cred *syscall.Credential) error {
	cmd := exec.Command(filepath.Join(bin, "initdb"),
		"-D", filepath.Join(s.dir, "data"),
		"-U", superuser,
		"-A", "trust",
		"-E", "UTF8",
		"--locale=C.UTF-8",
		"--no-sync",
	)
	cmd.Env = s.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("creating the database cluster with initdb: %w\n%s", err, tail(out, 3000))
	}
	return nil
}

// run starts postgres on a free port of 127.0.0.1 and waits until it
// answers a query.
func (s *Server) run(bin string, cred *syscall.Credential, settings map[string]string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	args := []string{
		"-D", filepath.Join(s.dir, "data"),
		"-k", s.dir,
		"-h", "127.0.0.1",
		"-p", strconv.Itoa(port),
	}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", name+"="+settings[name])
	}
	logFile, err := os.OpenFile(filepath.Join(s.dir, logName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the server's log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Env = s.env()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Its own process group, so that Stop can kill all of it; and
		// a fast shutdown when the test process dies without Stop.
		Setpgid:   true,
		Pdeathsig: syscall.SIGINT,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	return s.waitReady()
}

// waitReady waits until the server answers a query, or fails when it exits
// or does not answer in time.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited while starting: %w\n%s", s.waitErr, s.logTail())
		default:
		}
		if lastErr = s.ping(); lastErr == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("postgres did not accept connections within %s: %w\n%s", readyTimeout, lastErr, s.logTail())
}

// ping connects to the server and runs a query.
func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// env returns the environment of the server's programs: the test's,
// without the PG variables that would point libpq or the server elsewhere,
// and HOME in the server's directory.
func (s *Server) env() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "HOME=")
	})
	return append(env, "HOME="+s.dir)
}

// logTail returns the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, logName))
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	return "server log (" + logName + "), last lines:\n" + string(tail(b, 3000))
}

// serverCredential returns the user to run the server as: nil, the test's
// own, unless that is root, which PostgreSQL refuses; then the postgres
// system user, else nobody.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New("the tests run as root, which PostgreSQL refuses, and there is neither a postgres nor a nobody user to run it as")
}

// makeDir creates the server's temporary directory, owned by the user the
// server runs as. It lies in the system's temporary directory when the
// server's user can reach that and the Unix socket's path stays short
// enough, else in /tmp.
func makeDir(cred *syscall.Credential) (string, error) {
	parent := os.TempDir()
	if len(parent) > 64 || (cred != nil && !traversable(parent)) {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "pgtest-")
	if err != nil {
		return "", fmt.Errorf("creating the server's directory: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("handing the server's directory to uid %d: %w", cred.Uid, err)
		}
	}
	return dir, nil
}

// traversable reports whether every user may pass through dir and each of
// its parents.
func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// freePort returns a TCP port of 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// identifier turns name into the start of a database name: lowercase
// letters, digits and underscores, beginning with a letter, short enough to
// leave room for a number within PostgreSQL's 63 bytes.
func identifier(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	id := b.String()
	if id == "" || id[0] < 'a' || id[0] > 'z' {
		id = "db_" + id
	}
	if len(id) > 48 {
		id = id[:48]
	}
	return id
}
