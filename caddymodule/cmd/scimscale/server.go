package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one run of the caddy binary, in its own process group so that
// it and its backend processes can be ended together.
type server struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	logPath string
}

// startServer runs "<bin> run --config <file> --adapter caddyfile" with
// HOME and the XDG directories in dir, its output appended to
// dir/caddy.log.
func startServer(bin, dir, config string) (*server, error) {
	logPath := filepath.Join(dir, "caddy.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s := &server{cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	s.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop asks Caddy to stop through the admin API and waits for it and the
// processes it started to exit; what does not exit in time is killed. It
// returns how long the graceful part took.
func (s *server) stop(admin *adminClient) (time.Duration, error) {
	var kids []int
	if snap, err := snapshot(s.pid()); err == nil {
		for _, p := range snap[1:] {
			kids = append(kids, p.PID)
		}
	}
	t0 := time.Now()
	var problems []error
	if s.running() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := admin.do(ctx, "POST", "/stop", nil)
		cancel()
		if err != nil {
			// The answer may be lost when Caddy exits at once; a SIGTERM
			// also stops it gracefully.
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		problems = append(problems, fmt.Errorf("caddy (pid %d) did not exit within 60 s of /stop; killed", s.pid()))
		s.kill()
		<-s.exited
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, k := range kids {
		for processAlive(k) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if processAlive(k) {
			problems = append(problems, fmt.Errorf("backend process %d outlived caddy by 15 s; killed", k))
			_ = syscall.Kill(k, syscall.SIGKILL)
		}
	}
	took := time.Since(t0)
	s.kill()
	return took, errors.Join(problems...)
}

// kill ends the process group at once: the server and anything it
// started that is still there.
func (s *server) kill() {
	_ = syscall.Kill(-s.pid(), syscall.SIGKILL)
}

// logTail returns the last n lines of the server's log.
func (s *server) logTail(n int) string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// waitFor calls ok every interval until it reports true, the server exits,
// or timeout passes.
func (s *server) waitFor(timeout, interval time.Duration, what string, ok func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		done, err := ok()
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		if !s.running() {
			return fmt.Errorf("caddy exited while waiting for %s (last error: %v); its log ends:\n%s", what, last, s.logTail(30))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s (last error: %v); caddy's log ends:\n%s", what, timeout, last, s.logTail(30))
		}
		time.Sleep(interval)
	}
}

// freePorts returns n distinct loopback TCP ports free at the time of the
// call.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// statusCode renders an HTTP status or a transport error for a note.
func statusCode(status int, err error) string {
	if err != nil {
		return "error"
	}
	return strconv.Itoa(status) + " " + http.StatusText(status)
}
