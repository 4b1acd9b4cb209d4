package sdk

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	backendv2 "github.com/caddy-scim/caddy-scim/plugins/proto/backend/v2"
)

// Client is the host's side of a backend plugin: it implements Backend,
// Inspector, Actioner and Purger by calling the plugin over gRPC. Get one from
// Plugin.Backend, or in tests from sdktest.Connect. A Client is safe for
// concurrent use.
//
// Errors come back typed: the backend's *Error as an *Error of the same
// kind and message; an error of no kind, and any failure to reach the
// plugin, as an *Error of KindUnavailable; the caller's cancelled or
// expired context as that context's error; a method the backend lacks as
// an error wrapping ErrUnimplemented.
type Client struct {
	rpc backendv2.BackendClient
}

// Describe asks the backend to describe itself.
func (c *Client) Describe(ctx context.Context, req *DescribeRequest) (*DescribeResponse, error) {
	resp, err := c.rpc.Describe(ctx, &backendv2.DescribeRequest{})
	if err != nil {
		return nil, clientError(ctx, "Describe", err)
	}
	return describeResponseFromProto(resp), nil
}

// Configure hands the backend a tenant's configuration.
func (c *Client) Configure(ctx context.Context, req *ConfigureRequest) (*ConfigureResponse, error) {
	if _, err := c.rpc.Configure(ctx, configureRequestToProto(req)); err != nil {
		return nil, clientError(ctx, "Configure", err)
	}
	return &ConfigureResponse{}, nil
}

// Apply sends the backend a batch of a tenant's changes. When the backend returned an
// ApplyResponse together with its error, Apply returns both, so the
// caller knows how far the batch got; when the backend returned no
// response, or the plugin could not be reached, the response is nil.
func (c *Client) Apply(ctx context.Context, req *ApplyRequest) (*ApplyResponse, error) {
	resp, err := c.rpc.Apply(ctx, applyRequestToProto(req))
	if err != nil {
		return appliedThrough(err), clientError(ctx, "Apply", err)
	}
	return applyResponseFromProto(resp), nil
}

// Inspect returns a tenant's product store, or an error wrapping
// ErrUnimplemented when the backend is no Inspector.
func (c *Client) Inspect(ctx context.Context, req *InspectRequest) (*InspectResponse, error) {
	resp, err := c.rpc.Inspect(ctx, inspectRequestToProto(req))
	if err != nil {
		return nil, clientError(ctx, "Inspect", err)
	}
	return inspectResponseFromProto(resp), nil
}

// Action runs an operator action for a tenant, or returns an error wrapping
// ErrUnimplemented when the backend is no Actioner.
func (c *Client) Action(ctx context.Context, req *ActionRequest) (*ActionResponse, error) {
	resp, err := c.rpc.Action(ctx, actionRequestToProto(req))
	if err != nil {
		return nil, clientError(ctx, "Action", err)
	}
	return actionResponseFromProto(resp), nil
}

// Purge removes a tenant's product data and has the backend forget the
// tenant, or returns an error wrapping ErrUnimplemented when the backend
// is no Purger.
func (c *Client) Purge(ctx context.Context, req *PurgeRequest) (*PurgeResponse, error) {
	if _, err := c.rpc.Purge(ctx, purgeRequestToProto(req)); err != nil {
		return nil, clientError(ctx, "Purge", err)
	}
	return &PurgeResponse{}, nil
}

// LaunchConfig says how to start a backend plugin.
type LaunchConfig struct {
	// Cmd runs the plugin binary; it must not have been started. Launch
	// adds the handshake's environment variables to it.
	Cmd *exec.Cmd
	// Logger receives the plugin's log lines, re-logged at their own
	// level, and whatever the plugin writes to stdout or stderr. Nil logs
	// to the host's stderr.
	Logger hclog.Logger
	// StartTimeout bounds how long the plugin may take to start and
	// complete the handshake; zero means one minute.
	StartTimeout time.Duration
}

// Plugin is a running backend plugin process.
type Plugin struct {
	client  *plugin.Client
	backend *Client
}

// Launch starts a backend plugin, completes the handshake (gRPC only,
// protocol version ProtocolVersion, automatic mutual TLS) and returns it
// running. The caller owns the process and must Kill it; nothing kills
// it behind the caller's back. A plugin that speaks another protocol
// version is killed and refused with an error wrapping
// ErrProtocolMismatch.
func Launch(cfg LaunchConfig) (*Plugin, error) {
	if cfg.Cmd == nil {
		return nil, errors.New("launching backend plugin: no command")
	}
	name := cfg.Cmd.Path
	config := &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: versionedPlugins(nil),
		Cmd:              cfg.Cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          false,
		Logger:           cfg.Logger,
		StartTimeout:     cfg.StartTimeout,
	}
	if cfg.Logger != nil {
		config.SyncStdout = cfg.Logger.Named("stdout").StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
		config.SyncStderr = cfg.Logger.Named("stderr").StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
	}
	client := plugin.NewClient(config)
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if strings.Contains(err.Error(), "incompatible API version") {
			return nil, fmt.Errorf("launching backend plugin %s: %w: %s: %w", name, ErrProtocolMismatch, mismatch(err), err)
		}
		return nil, fmt.Errorf("launching backend plugin %s: %w", name, err)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("launching backend plugin %s: dispensing %q: %w", name, PluginName, err)
	}
	backend, ok := raw.(*Client)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("launching backend plugin %s: dispensed %T, not a backend", name, raw)
	}
	return &Plugin{client: client, backend: backend}, nil
}

// pluginVersion finds the protocol version a plugin offered in go-plugin's
// handshake error ("... Plugin version: 1, Client versions: [2]").
var pluginVersion = regexp.MustCompile(`Plugin version: (\d+)`)

// mismatch tells the operator what to do about a plugin that speaks
// another protocol version than this host, as go-plugin's handshake error
// err reports.
func mismatch(err error) string {
	speaks := "another protocol version"
	if m := pluginVersion.FindStringSubmatch(err.Error()); m != nil {
		speaks = "protocol " + m[1]
	}
	return fmt.Sprintf("the plugin speaks %s and this host speaks protocol %d; "+
		"rebuild the plugin with the current caddy-scim SDK (plugins/sdk)", speaks, ProtocolVersion)
}

// Backend returns the client that calls the plugin's backend.
func (p *Plugin) Backend() *Client { return p.backend }

// Exited reports whether the plugin process has exited, for whatever
// reason: killed, crashed or done.
func (p *Plugin) Exited() bool { return p.client.Exited() }

// Kill ends the plugin process, gracefully if it can, and waits for it to
// exit. It is safe to call more than once. Calls made afterwards fail with
// an error of KindUnavailable.
func (p *Plugin) Kill() { p.client.Kill() }

// Interface guards
var (
	_ Backend   = (*Client)(nil)
	_ Inspector = (*Client)(nil)
	_ Actioner  = (*Client)(nil)
	_ Purger    = (*Client)(nil)
)
