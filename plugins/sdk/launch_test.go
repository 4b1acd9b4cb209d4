package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
	"github.com/caddy-scim/caddy-scim/plugins/sdk/sdktest"
)

// pluginEnv makes the test binary a plugin instead of running the tests:
// it names how the plugin is served.
const pluginEnv = "SDK_TEST_PLUGIN"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(pluginEnv); mode {
	case "":
		os.Exit(m.Run())
	case "backend":
		sdk.Serve(&procBackend{})
	case "protocol-1":
		// A plugin built with the SDK of protocol 1, before one process
		// served many tenants: the handshake offers version 1 only.
		handshake := sdk.Handshake
		handshake.ProtocolVersion = 1
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  handshake,
			VersionedPlugins: map[int]plugin.PluginSet{1: {sdk.PluginName: &sdk.BackendPlugin{Impl: &procBackend{}}}},
			GRPCServer:       plugin.DefaultGRPCServer,
		})
	case "other-cookie":
		handshake := sdk.Handshake
		handshake.MagicCookieValue = "another application's cookie"
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  handshake,
			VersionedPlugins: map[int]plugin.PluginSet{sdk.ProtocolVersion: {sdk.PluginName: &sdk.BackendPlugin{Impl: &procBackend{}}}},
			GRPCServer:       plugin.DefaultGRPCServer,
		})
	default:
		os.Stderr.WriteString("unknown " + pluginEnv + " " + mode + "\n")
		os.Exit(2)
	}
	os.Exit(0)
}

// procBackend is the backend the test binary serves as a plugin process.
// Apply refuses a change of kind "test.invalid"; Action "pid" returns the
// process id.
type procBackend struct{}

func (procBackend) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "proc", Version: "1.0.0"}, nil
}

func (procBackend) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	hclog.Default().Info("configured", "tenant", req.Tenant)
	return &sdk.ConfigureResponse{}, nil
}

func (procBackend) Apply(_ context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	return sdk.ApplyEach(req, func(c sdk.Change) error {
		if c.Kind == "test.invalid" {
			return sdk.Invalid("change %d is invalid", c.Seq)
		}
		return nil
	})
}

func (procBackend) Action(_ context.Context, req *sdk.ActionRequest) (*sdk.ActionResponse, error) {
	if req.Name != "pid" {
		return nil, sdk.Invalid("no action %q", req.Name)
	}
	return &sdk.ActionResponse{Message: strconv.Itoa(os.Getpid())}, nil
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// launch starts the test binary as a plugin served in mode, logging to
// log.
func launch(t *testing.T, mode string, log *syncBuffer) (*sdk.Plugin, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{pluginEnv + "=" + mode}
	p, err := sdk.Launch(sdk.LaunchConfig{
		Cmd:          cmd,
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "backend", Output: log, Level: hclog.Debug}),
		StartTimeout: 30 * time.Second,
	})
	if err == nil {
		t.Cleanup(p.Kill)
	}
	return p, err
}

// eventually reports whether cond became true within a few seconds.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

func TestLaunch(t *testing.T) {
	log := &syncBuffer{}
	p, err := launch(t, "backend", log)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	c := p.Backend()
	ctx := t.Context()

	desc, err := c.Describe(ctx, &sdk.DescribeRequest{})
	if err != nil || desc.Name != "proc" || desc.Version != "1.0.0" {
		t.Fatalf("Describe = %+v, %v", desc, err)
	}

	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme-tenant", DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if !eventually(func() bool { return strings.Contains(log.String(), "acme-tenant") }) {
		t.Errorf("the plugin's log line did not reach the host's logger; host log:\n%s", log.String())
	}

	changes := sdktest.SampleChanges("acme-tenant")
	resp, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "acme-tenant", Changes: changes})
	if err != nil || resp.AppliedThrough != uint64(len(changes)) {
		t.Fatalf("Apply = %+v, %v; want AppliedThrough %d", resp, err, len(changes))
	}

	changes[3].Kind = "test.invalid"
	resp, err = c.Apply(ctx, &sdk.ApplyRequest{Tenant: "acme-tenant", Changes: changes})
	if !sdk.IsInvalid(err) {
		t.Errorf("Apply of an invalid change: got %v, want an Invalid error", err)
	}
	if resp == nil || resp.AppliedThrough != 3 {
		t.Errorf("Apply of an invalid change at Seq 4: got %+v, want AppliedThrough 3", resp)
	}

	if _, err := c.Inspect(ctx, &sdk.InspectRequest{Tenant: "acme-tenant"}); !errors.Is(err, sdk.ErrUnimplemented) {
		t.Errorf("Inspect of a backend without it: got %v, want ErrUnimplemented", err)
	}
	if p.Exited() {
		t.Error("Exited is true while the plugin runs")
	}
}

func TestLaunchedPluginDies(t *testing.T) {
	tests := []struct {
		name string
		// stop ends the plugin process.
		stop func(t *testing.T, p *sdk.Plugin)
	}{
		{"killed by the host", func(t *testing.T, p *sdk.Plugin) { p.Kill() }},
		{"crashed", func(t *testing.T, p *sdk.Plugin) {
			resp, err := p.Backend().Action(t.Context(), &sdk.ActionRequest{Tenant: "acme", Name: "pid"})
			if err != nil {
				t.Fatalf("asking the plugin for its pid: %v", err)
			}
			pid, err := strconv.Atoi(resp.Message)
			if err != nil {
				t.Fatalf("parsing pid %q: %v", resp.Message, err)
			}
			proc, err := os.FindProcess(pid)
			if err != nil {
				t.Fatalf("finding process %d: %v", pid, err)
			}
			if err := proc.Kill(); err != nil {
				t.Fatalf("killing process %d: %v", pid, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := launch(t, "backend", &syncBuffer{})
			if err != nil {
				t.Fatalf("Launch: %v", err)
			}
			if _, err := p.Backend().Describe(t.Context(), &sdk.DescribeRequest{}); err != nil {
				t.Fatalf("Describe: %v", err)
			}
			tt.stop(t, p)
			if !eventually(p.Exited) {
				t.Fatal("Exited is still false after the process ended")
			}
			_, err = p.Backend().Apply(t.Context(), &sdk.ApplyRequest{Tenant: "acme", Changes: sdktest.SampleChanges("acme")})
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.KindUnavailable {
				t.Errorf("Apply to an ended plugin: got %T %v, want an *sdk.Error of KindUnavailable", err, err)
			}
			p.Kill()
		})
	}
}

func TestLaunchHandshakeMismatch(t *testing.T) {
	tests := []struct {
		mode string
		// is, when set, is the error Launch's error must wrap.
		is error
		// says are phrases Launch's error must contain.
		says []string
	}{
		{"protocol-1", sdk.ErrProtocolMismatch, []string{
			"the plugin speaks protocol 1",
			"this host speaks protocol 2",
			"rebuild the plugin with the current caddy-scim SDK",
		}},
		{"other-cookie", nil, []string{"handshake"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			start := time.Now()
			_, err := launch(t, tt.mode, &syncBuffer{})
			if err == nil {
				t.Fatal("Launch succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Launch: %v; want an error that is %v", err, tt.is)
			}
			t.Log(err)
			for _, says := range tt.says {
				if !strings.Contains(err.Error(), says) {
					t.Errorf("Launch: %v; want it to say %q", err, says)
				}
			}
			if elapsed := time.Since(start); elapsed > 20*time.Second {
				t.Errorf("Launch took %v to fail", elapsed)
			}
		})
	}
}

func TestLaunchWithoutCommand(t *testing.T) {
	if _, err := sdk.Launch(sdk.LaunchConfig{}); err == nil {
		t.Error("Launch without a command succeeded")
	}
}
