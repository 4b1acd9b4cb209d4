// Package backendv2 is the Go code generated from backend.proto, version 2
// of the protocol between the caddy-scim host and its backend plugins.
// Only plugins/sdk imports it; regenerate it with go generate
// ./plugins/proto (see package proto).
package backendv2
