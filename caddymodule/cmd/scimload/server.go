package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is a running caddy, leader of its own process group.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// launch runs "<bin> run --adapter caddyfile --config <dir>/<name>", with
// HOME and XDG directories in dir, env added to its environment, and its
// output in <dir>/<name>.log.
func launch(bin, dir, name, caddyfile string, env []string) (*proc, error) {
	conf := filepath.Join(dir, name)
	if err := os.WriteFile(conf, []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	out, err := os.Create(conf + ".log")
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(bin, "run", "--adapter", "caddyfile", "--config", conf)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir+"/xdg-data", "XDG_CONFIG_HOME="+dir+"/xdg-config")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: conf + ".log"}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// shutdown asks caddy to stop with SIGTERM (a graceful stop), waits up to
// grace, then kills the whole process group, backends included.
func (p *proc) shutdown(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// tail is the end of caddy's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// until polls ready every 25 ms until it succeeds, caddy exits or limit
// passes.
func (p *proc) until(limit time.Duration, what string, ready func() error) error {
	end := time.Now().Add(limit)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("no %s within %s: %v; caddy's log ends:\n%s", what, limit, err, p.tail())
		}
		select {
		case <-p.done:
			return fmt.Errorf("caddy exited before %s (%v); its log ends:\n%s", what, err, p.tail())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// loopbackPorts reserves n ports on 127.0.0.1 and releases them.
func loopbackPorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
