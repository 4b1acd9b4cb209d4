package sdk

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	backendv2 "github.com/caddy-scim/caddy-scim/plugins/proto/backend/v2"
)

// ProtocolVersion is the version of the plugin protocol this SDK speaks
// (package caddyscim.backend.v2, in which one process serves many tenants).
// A host and a plugin must speak the same version; Launch refuses a plugin
// that speaks another with ErrProtocolMismatch.
const ProtocolVersion = 2

// PluginName is the name under which a plugin binary offers its backend.
const PluginName = "backend"

// Handshake is the go-plugin handshake between the caddy-scim host and a
// backend plugin. The magic cookie only tells a plugin binary that a
// caddy-scim host started it; it is not a secret.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "CADDY_SCIM_PLUGIN",
	MagicCookieValue: "8MtkRJSwY4YPtIjEoO6NR9Ho3MHeJUw",
}

// BackendPlugin is the go-plugin plugin.GRPCPlugin that carries a Backend:
// on the plugin side it serves Impl, on the host side it dispenses a
// *Client. Serve, Launch and package sdktest use it; a vendor does not
// need it.
type BackendPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the backend to serve; the host side leaves it nil.
	Impl Backend
}

// GRPCServer registers the backend service for p.Impl on s.
func (p *BackendPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return fmt.Errorf("serving backend plugin: no backend implementation")
	}
	backendv2.RegisterBackendServer(s, newServer(p.Impl))
	return nil
}

// GRPCClient returns a *Client that calls the backend over conn.
func (p *BackendPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{rpc: backendv2.NewBackendClient(conn)}, nil
}

// versionedPlugins is the plugin set of each protocol version, for impl
// (nil on the host side).
func versionedPlugins(impl Backend) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &BackendPlugin{Impl: impl}},
	}
}

// Interface guards
var (
	_ plugin.GRPCPlugin = (*BackendPlugin)(nil)
	_ plugin.Plugin     = (*BackendPlugin)(nil)
)
