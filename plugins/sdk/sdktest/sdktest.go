// Package sdktest tests caddy-scim backends in process, through a real gRPC
// plugin connection, so a backend's own tests exercise the same
// conversions and error translation as a plugin process does.
//
// Connect gives a test the host's client for a backend. Run checks that a
// backend behaves as the host relies on; a backend's test suite calls it
// once, with the backend built as its binary serves it — a backend written
// for one tenant through sdk.PerTenant:
//
//	func TestConformance(t *testing.T) {
//		sdktest.Run(t, func() sdk.Backend {
//			return sdk.PerTenant(func(string) sdk.Backend { return pharos.New() }, sdk.PerTenantOptions{})
//		}, sdktest.Options{
//			Settings: json.RawMessage(`{"site": "test"}`),
//		})
//	}
//
// # Checks
//
// Each check is a subtest named by its Check constant:
//
//   - describe: Describe returns a name and a version.
//   - configure: Configure accepts Options.Settings.
//   - idempotency: applying SampleChanges again, or an already applied
//     part of them, changes nothing, and AppliedThrough is the last Seq
//     of the batch each time.
//   - ordering: the changes in one batch, in batches of one, and in
//     overlapping batches give the same product store.
//   - restart: a new instance on the same DataDir shows the same store and
//     skips a re-sent batch: the last applied Seq is durable.
//   - required-attributes: for each of Describe's RequiredUserAttributes, a
//     user.created change lacking it fails with an Invalid error,
//     AppliedThrough stops before it, and the changes after it are not
//     applied.
//   - error-typing: a change that can never be applied, and settings that
//     lack a required setting, are refused with Invalid errors, which come
//     back typed across gRPC.
//   - tenants: two tenants configured on one backend instance, each with
//     its own DataDir and the same settings, and sent different changes
//     (with the same SCIM ids), each show the store a backend serving that
//     tenant alone shows. When the backend implements sdk.Purger, purging
//     one leaves the other as it was, and the purged tenant, configured
//     again on the same DataDir, starts empty and applies its changes from
//     Seq 1 again.
//
// Idempotency, ordering, restart, tenants and, for a backend that declares
// RequiredUserAttributes, required-attributes compare product stores,
// which the harness sees through Inspect: the backend must implement
// sdk.Inspector (through sdk.PerTenant, its instances must).
// Make Inspect's output deterministic (sorted lists, no timestamps of its
// own); the harness compares stores as JSON values, so key order and
// spacing do not matter. A backend that keeps no store of its own can
// still show what it did: examples/webhook shows how far it has delivered
// each tenant's changes.
//
// # Opting out
//
// Run never skips a check by itself. A check that cannot run — one that
// compares stores, for a backend without Inspect — fails, and says how to
// fix it. Where a check really does not apply to a backend, the backend's
// test opts out of it in Options.Skip, with the reason, which Run logs
// with the skipped subtest:
//
//	sdktest.Options{Skip: map[sdktest.Check]string{
//		sdktest.Restart: "the product keeps the last applied Seq; the backend has no state to lose",
//	}}
//
// An opt-out without a reason, or naming no check, fails Run. What a
// check finds nothing to test in passes and says so in the log: a backend
// with no RequiredUserAttributes, no required settings, or no Purge.
//
// # Logs
//
// The go-plugin connection of Connect logs at debug level, which would
// bury a failure's message, so Connect discards those logs. Set the
// environment variable SDKTEST_VERBOSE=1 to see them on stderr.
//
// SampleChanges is a realistic sequence of changes for a backend's own
// tests.
package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// Options configures Run.
type Options struct {
	// Settings is the JSON given to Configure.
	Settings json.RawMessage
	// Skip opts the backend out of checks that do not apply to it, each
	// with the reason, which Run logs. A reason must be given.
	Skip map[Check]string
}

// Check names one of Run's checks; it is the name of the check's
// subtest.
type Check string

// The checks Run makes, in order. The package documentation says what
// each one checks.
const (
	Describe           Check = "describe"
	Configure          Check = "configure"
	Idempotency        Check = "idempotency"
	Ordering           Check = "ordering"
	Restart            Check = "restart"
	RequiredAttributes Check = "required-attributes"
	ErrorTyping        Check = "error-typing"
	Tenants            Check = "tenants"
)

// verboseEnv is the environment variable that shows the logs of Connect's
// go-plugin connection.
const verboseEnv = "SDKTEST_VERBOSE"

// pluginLog serializes Connect's replacing of hclog.DefaultOutput.
var pluginLog sync.Mutex

// Connect serves impl over an in-process gRPC plugin connection and returns
// the host-side client; closed at test cleanup.
//
// Connect does not close impl. A backend that holds files open in its
// DataDir should be closed before t.TempDir removes the directory: make
// the directory first, then register the backend's Close with t.Cleanup
// (cleanups run last registered, first).
//
// The connection's go-plugin logs are discarded unless the environment
// variable SDKTEST_VERBOSE is set to a true value ("1", "true"). To do so
// Connect points hclog.DefaultOutput at io.Discard while it sets up the
// connection; a logger that another goroutine makes with hclog.New and no
// Output in that moment writes nowhere.
func Connect(t testing.TB, impl sdk.Backend) *sdk.Client {
	t.Helper()
	client := testConn(t, impl)
	// Closing the client also shuts the server down.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("dispensing the backend plugin: %v", err)
	}
	c, ok := raw.(*sdk.Client)
	if !ok {
		t.Fatalf("dispensing the backend plugin gave %T, not *sdk.Client", raw)
	}
	return c
}

// testConn is plugin.TestPluginGRPCConn for impl, with the connection's
// logs discarded unless SDKTEST_VERBOSE is true. TestPluginGRPCConn's
// logger writes at debug level to hclog.DefaultOutput as it is when the
// logger is made, so Connect points that at io.Discard for the call.
func testConn(t testing.TB, impl sdk.Backend) *plugin.GRPCClient {
	t.Helper()
	if verbose, _ := strconv.ParseBool(os.Getenv(verboseEnv)); !verbose {
		pluginLog.Lock()
		saved := hclog.DefaultOutput
		hclog.DefaultOutput = io.Discard
		defer func() {
			hclog.DefaultOutput = saved
			pluginLog.Unlock()
		}()
	}
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		sdk.PluginName: &sdk.BackendPlugin{Impl: impl},
	})
	return client
}

// Run checks a backend's conformance: newBackend is called for a fresh
// instance per check; each gets Configure with opts.Settings and its own
// t.TempDir() as DataDir. Checks other than tenants configure one tenant
// per backend instance.
//
// Each check (see the package documentation) is a subtest that says in
// plain words what the backend did wrong. A check that cannot run fails;
// one named in opts.Skip is skipped, and its reason logged.
//
// When the backend implements io.Closer, the harness closes an instance
// when its check ends, and before it starts a second instance on the same
// DataDir.
func Run(t *testing.T, newBackend func() sdk.Backend, opts Options) {
	t.Helper()
	if !validSkip(t, opts.Skip) {
		return
	}
	h := &harness{newBackend: newBackend, opts: opts}
	for _, c := range checks {
		t.Run(string(c.name), func(t *testing.T) { runCheck(t, h, c) })
	}
}

// validSkip reports whether every opt-out names a check and gives a
// reason, and fails t for each that does not.
func validSkip(t testing.TB, skip map[Check]string) bool {
	t.Helper()
	valid := true
	for _, name := range slices.Sorted(maps.Keys(skip)) {
		if !slices.ContainsFunc(checks, func(c check) bool { return c.name == name }) {
			names := make([]string, len(checks))
			for i, c := range checks {
				names[i] = string(c.name)
			}
			t.Errorf("Options.Skip names %q, which is not a check; the checks are %s", name, strings.Join(names, ", "))
			valid = false
		}
		if strings.TrimSpace(skip[name]) == "" {
			t.Errorf("Options.Skip[%q] gives no reason; say why the check does not apply to the backend", name)
			valid = false
		}
	}
	return valid
}

// runCheck runs c, or skips it when Options.Skip opts out of it.
func runCheck(t testing.TB, h *harness, c check) {
	t.Helper()
	if why, ok := h.opts.Skip[c.name]; ok {
		t.Logf("skipped: the backend opts out of this check in Options.Skip: %s", why)
		t.SkipNow()
	}
	c.run(t, h)
}

// tenant is the tenant of the harness's changes and configurations.
const tenant = "conformance"

// callTimeout bounds each call the harness makes to a backend.
const callTimeout = 30 * time.Second

// harness holds what every check needs.
type harness struct {
	newBackend func() sdk.Backend
	opts       Options
}

// conn is one backend behind a gRPC connection.
type conn struct {
	impl   sdk.Backend
	client *sdk.Client
	close  func()

	probe      sync.Once
	canInspect bool
}

// instance is a backend, configured for tenant, behind a gRPC connection.
// Several instances share a conn when one backend serves several tenants.
type instance struct {
	*conn
	tenant string
}

// connect creates and connects a fresh backend, closed at test cleanup.
func (h *harness) connect(t testing.TB) *conn {
	t.Helper()
	impl := h.newBackend()
	if impl == nil {
		t.Fatalf("newBackend returned nil")
	}
	c := &conn{impl: impl, client: Connect(t, impl)}
	var once sync.Once
	c.close = func() {
		once.Do(func() {
			if closer, ok := impl.(io.Closer); ok {
				if err := closer.Close(); err != nil {
					t.Errorf("Close of the backend failed: %v", err)
				}
			}
		})
	}
	t.Cleanup(c.close)
	return c
}

// start creates, connects and configures a fresh backend on dataDir for
// the harness's tenant.
func (h *harness) start(t testing.TB, dataDir string) *instance {
	t.Helper()
	return h.connect(t).configure(t, h, tenant, dataDir)
}

// configure configures c for tenant on dataDir with Options.Settings.
func (c *conn) configure(t testing.TB, h *harness, tenant, dataDir string) *instance {
	t.Helper()
	ctx, cancel := callContext(t)
	defer cancel()
	_, err := c.client.Configure(ctx, &sdk.ConfigureRequest{Tenant: tenant, Settings: h.opts.Settings, DataDir: dataDir})
	if err != nil {
		t.Fatalf("Configure refused Options.Settings for tenant %q: %v", tenant, err)
	}
	return &instance{conn: c, tenant: tenant}
}

// apply applies changes as one batch and fails the test on an error.
func (inst *instance) apply(t testing.TB, changes []sdk.Change) uint64 {
	t.Helper()
	ctx, cancel := callContext(t)
	defer cancel()
	resp, err := inst.client.Apply(ctx, &sdk.ApplyRequest{Tenant: inst.tenant, Changes: changes})
	if err != nil {
		t.Fatalf("Apply of tenant %q's changes with Seq %s failed: %v", inst.tenant, seqRange(changes), err)
	}
	return resp.AppliedThrough
}

// applyExpecting applies changes as one batch and reports an error unless
// AppliedThrough is the last Seq of the batch.
func (inst *instance) applyExpecting(t testing.TB, changes []sdk.Change, what string) {
	t.Helper()
	want := changes[len(changes)-1].Seq
	if got := inst.apply(t, changes); got != want {
		t.Errorf("%s (Seq %s): AppliedThrough is %d, want %d, the Seq of the batch's last change; "+
			"a change skipped as already applied counts as applied", what, seqRange(changes), got, want)
	}
}

// inspect returns the tenant's store as indented JSON with sorted keys.
func (inst *instance) inspect(t testing.TB) string {
	t.Helper()
	s, err := inst.tryInspect(t)
	if err != nil {
		t.Fatalf("Inspect of tenant %q failed: %v", inst.tenant, err)
	}
	return s
}

// tryInspect returns the tenant's store as indented JSON with sorted
// keys, or Inspect's error.
func (inst *instance) tryInspect(t testing.TB) (string, error) {
	t.Helper()
	ctx, cancel := callContext(t)
	defer cancel()
	resp, err := inst.client.Inspect(ctx, &sdk.InspectRequest{Tenant: inst.tenant})
	if err != nil {
		return "", err
	}
	s, err := canonicalJSON(resp.JSON)
	if err != nil {
		t.Fatalf("Inspect of tenant %q returned JSON that does not parse: %v", inst.tenant, err)
	}
	return s, nil
}

// inspects reports whether the backend can show its store: it implements
// sdk.Inspector, and Inspect does not answer that it is unimplemented, as
// sdk.PerTenant does for instances that are no Inspector.
func (inst *instance) inspects(t testing.TB) bool {
	t.Helper()
	inst.probe.Do(func() {
		if _, ok := inst.impl.(sdk.Inspector); !ok {
			return
		}
		_, err := inst.tryInspect(t)
		inst.canInspect = !errors.Is(err, sdk.ErrUnimplemented)
	})
	return inst.canInspect
}

// requireInspector fails check c, which compares stores to check what,
// when the backend cannot show its store.
func requireInspector(t testing.TB, inst *instance, c Check, what string) {
	t.Helper()
	if !inst.inspects(t) {
		t.Fatal(noInspector(c, what))
	}
}

// noInspector is the failure of check c, which compares stores to check
// what, when the backend cannot show its store.
func noInspector(c Check, what string) string {
	return fmt.Sprintf("the backend does not implement sdk.Inspector, so the harness cannot see its store to check %s; "+
		"implement Inspect, returning the tenant's store (or what the backend did for it) as deterministic JSON, "+
		"or, if the check does not apply, opt out with Options.Skip[%q] and the reason", what, c)
}

// callContext returns the context of one call to a backend.
func callContext(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), callTimeout)
}
