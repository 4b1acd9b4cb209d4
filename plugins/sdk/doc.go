// Package sdk is what a vendor needs to write a caddy-scim backend: the
// Backend interface and its request and response types, typed errors, and
// Serve, which makes a plugin binary of an implementation:
//
//	func main() { sdk.Serve(&myBackend{}) }
//
// The host starts the binary as a separate process (hashicorp/go-plugin
// over gRPC, with a versioned handshake and automatic mutual TLS) and calls
// it through Client. Package sdktest checks a backend in process.
//
// A backend reports failures with Invalid (never retried: the change is
// dead-lettered, the configuration refused) or Unavailable (retried with
// backoff); any other error is retried like Unavailable. These kinds
// survive the process boundary: the host's Client returns an *Error of the
// same kind and message. ApplyEach applies a batch change by change and
// reports how far it got, which the host also learns when Apply fails.
//
// The host side is Launch, which starts a plugin binary and returns a
// Plugin, whose Backend is a Client. The wire protocol is
// plugins/proto/backend/v1, at ProtocolVersion; vendors never see it.
package sdk
