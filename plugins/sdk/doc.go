// Package sdk is what a vendor needs to write a caddy-scim backend: the
// Backend interface and its request and response types, typed errors, and
// Serve, which makes a plugin binary of an implementation:
//
//	func main() { sdk.Serve(&myBackend{}) }
//
// The host starts the binary as a separate process (hashicorp/go-plugin
// over gRPC, with a versioned handshake and automatic mutual TLS) and calls
// it through Client. Package sdktest checks a backend in process.
package sdk
