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
// One process serves every tenant of its backend definition — thousands
// of them — and every call but Describe names its tenant. A backend that
// keeps little per tenant serves them all itself, as examples/webhook does
// with a map from tenant to settings under a mutex. A backend written for
// one tenant, with a store in its DataDir, is served through PerTenant,
// which gives each tenant its own instance and closes idle ones:
//
//	func main() {
//		sdk.Serve(sdk.PerTenant(func(tenant string) sdk.Backend { return newBackend() }, sdk.PerTenantOptions{}))
//	}
//
// Either way Configure must be cheap (the host configures every tenant
// when it starts), and a call for a tenant that is not configured fails
// with Unavailable, after which the host configures the tenant and
// retries. A backend that implements Purger deletes a tenant's data when
// the tenant is deleted.
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
// plugins/proto/backend/v2, at ProtocolVersion; vendors never see it.
package sdk
