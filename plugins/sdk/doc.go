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
//
// A Change and its parts have a documented JSON form, with snake_case
// keys, for a backend that passes changes on as they are
// (docs/change-json.md in the repository).
//
// # A vendor's backend, from start to finish
//
// docs/vendor.md in the repository walks through it; examples/webhook is
// a backend built so. In short:
//
// A backend is a Go module of its own that requires this one. Until
// github.com/caddy-scim/caddy-scim is published, a replace directive takes
// it from a checkout; afterwards, drop the replace and run
// "go get github.com/caddy-scim/caddy-scim@latest":
//
//	module example.com/acme-backend
//
//	require github.com/caddy-scim/caddy-scim v0.0.0-00010101000000-000000000000
//
//	replace github.com/caddy-scim/caddy-scim => ../caddy-scim
//
// It implements Backend (and Inspector, which the conformance tests need
// to see the store), and its main is one line:
//
//	func main() { sdk.Serve(sdk.PerTenant(func(string) sdk.Backend { return &backend{} }, sdk.PerTenantOptions{})) }
//
// Its tests run package sdktest's conformance checks:
//
//	func TestConformance(t *testing.T) {
//		sdktest.Run(t, func() sdk.Backend {
//			return sdk.PerTenant(func(string) sdk.Backend { return &backend{} }, sdk.PerTenantOptions{})
//		}, sdktest.Options{Settings: json.RawMessage(`{"realm": "test"}`)})
//	}
//
// Built with "go build -o /usr/local/lib/caddy-scim/acme-backend .", the
// binary is named in a tenant's Caddyfile block, whose lines are the
// settings Configure gets:
//
//	tenant acme {
//		backend exec /usr/local/lib/caddy-scim/acme-backend {
//			realm example
//		}
//	}
package sdk
