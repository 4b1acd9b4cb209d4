package sdk

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	backendv2 "github.com/caddy-scim/caddy-scim/plugins/proto/backend/v2"
)

// Serve serves b as a backend plugin and returns when the host is done with
// it. A vendor's whole main is
//
//	func main() { sdk.Serve(&myBackend{}) }
//
// Serve speaks gRPC only, with the versioned Handshake; the host sets up
// mutual TLS. Run by hand rather than by a host, the binary says that it is
// a plugin and exits with status 1.
//
// Serve makes hclog.Default() an hclog logger that writes JSON on the
// process's stderr, which the host reads and re-logs under the plugin's
// name: a backend logs with hclog.Default() (or hclog.L()). Anything else
// written to stdout or stderr reaches the host's log as plain lines.
//
// A panic in a backend method is recovered and logged; the call fails
// with an error of no kind, which the host retries.
func Serve(b Backend) {
	logger := hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Trace,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	hclog.SetDefault(logger)
	go exitWithParent(b, logger, os.Getppid(), 200*time.Millisecond)
	plugin.Serve(serveConfig(b, logger))
}

// exitWithParent ends the plugin when its host dies without stopping it
// (a SIGKILL, a crash): the plugin is then re-parented, and a restarted
// host must not find the backend's data directory still locked. A backend
// that implements io.Closer is closed first.
func exitWithParent(b Backend, logger hclog.Logger, parent int, every time.Duration) {
	for range time.Tick(every) {
		if os.Getppid() == parent {
			continue
		}
		logger.Warn("the host process is gone; exiting")
		if c, ok := b.(io.Closer); ok {
			if err := c.Close(); err != nil {
				logger.Error("closing the backend", "error", err)
			}
		}
		os.Exit(1)
	}
}

// serveConfig is the go-plugin configuration Serve uses.
func serveConfig(b Backend, logger hclog.Logger) *plugin.ServeConfig {
	return &plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: versionedPlugins(b),
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           logger,
	}
}

// server is the plugin side of the protocol: it calls a Backend.
type server struct {
	backendv2.UnimplementedBackendServer
	impl Backend
}

func newServer(impl Backend) *server { return &server{impl: impl} }

// recoverPanic turns a panic in a backend method into an error of no kind
// in *err. It must be deferred directly.
func recoverPanic(method string, err *error) {
	if v := recover(); v != nil {
		hclog.Default().Error("backend panicked", "method", method, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		*err = statusError(fmt.Errorf("backend %s panicked: %v", method, v))
	}
}

func (s *server) Describe(ctx context.Context, _ *backendv2.DescribeRequest) (_ *backendv2.DescribeResponse, err error) {
	defer recoverPanic("Describe", &err)
	resp, err := s.impl.Describe(ctx, &DescribeRequest{})
	if err != nil {
		return nil, statusError(err)
	}
	return describeResponseToProto(resp), nil
}

func (s *server) Configure(ctx context.Context, req *backendv2.ConfigureRequest) (_ *backendv2.ConfigureResponse, err error) {
	defer recoverPanic("Configure", &err)
	if _, err := s.impl.Configure(ctx, configureRequestFromProto(req)); err != nil {
		return nil, statusError(err)
	}
	return &backendv2.ConfigureResponse{}, nil
}

// Apply sends the backend's ApplyResponse in the error's status details
// when the backend returned both, so the host learns how far it got.
func (s *server) Apply(ctx context.Context, req *backendv2.ApplyRequest) (_ *backendv2.ApplyResponse, err error) {
	defer recoverPanic("Apply", &err)
	resp, err := s.impl.Apply(ctx, applyRequestFromProto(req))
	if err != nil {
		var details []protoadapt.MessageV1
		if resp != nil {
			details = append(details, applyResponseToProto(resp))
		}
		return nil, statusError(err, details...)
	}
	return applyResponseToProto(resp), nil
}

func (s *server) Inspect(ctx context.Context, req *backendv2.InspectRequest) (_ *backendv2.InspectResponse, err error) {
	defer recoverPanic("Inspect", &err)
	inspector, ok := s.impl.(Inspector)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "backend does not implement Inspect")
	}
	resp, err := inspector.Inspect(ctx, inspectRequestFromProto(req))
	if err != nil {
		return nil, statusError(err)
	}
	return inspectResponseToProto(resp), nil
}

func (s *server) Action(ctx context.Context, req *backendv2.ActionRequest) (_ *backendv2.ActionResponse, err error) {
	defer recoverPanic("Action", &err)
	actioner, ok := s.impl.(Actioner)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "backend does not implement Action")
	}
	resp, err := actioner.Action(ctx, actionRequestFromProto(req))
	if err != nil {
		return nil, statusError(err)
	}
	return actionResponseToProto(resp), nil
}

func (s *server) Purge(ctx context.Context, req *backendv2.PurgeRequest) (_ *backendv2.PurgeResponse, err error) {
	defer recoverPanic("Purge", &err)
	purger, ok := s.impl.(Purger)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "backend does not implement Purge")
	}
	if _, err := purger.Purge(ctx, purgeRequestFromProto(req)); err != nil {
		return nil, statusError(err)
	}
	return &backendv2.PurgeResponse{}, nil
}

// Interface guards
var _ backendv2.BackendServer = (*server)(nil)
