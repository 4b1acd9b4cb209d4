package sdktest

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

var refSettings = Options{Settings: json.RawMessage(`{"site": "hq", "note": "test"}`)}

func TestRunPassesReferenceBackend(t *testing.T) {
	Run(t, func() sdk.Backend { return newRef(flawless) }, refSettings)
}

func TestRunWithoutInspector(t *testing.T) {
	Run(t, func() sdk.Backend { return blind{&refBackend{}} }, refSettings)
}

func TestRunWithoutInspectorThroughPerTenant(t *testing.T) {
	Run(t, func() sdk.Backend {
		return sdk.PerTenant(func(string) sdk.Backend { return blind{&refBackend{}} }, sdk.PerTenantOptions{})
	}, refSettings)
}

// recorder is a testing.TB that records failures and skips instead of
// reporting them, so a check can be run against a broken backend.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	failed  bool
	skipped bool
	log     []string
}

func (r *recorder) record(failed, skipped bool, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = r.failed || failed
	r.skipped = r.skipped || skipped
	r.log = append(r.log, msg)
}

func (r *recorder) Errorf(format string, args ...any) {
	r.record(true, false, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any)                 { r.record(true, false, fmt.Sprint(args...)) }
func (r *recorder) Fail()                             { r.record(true, false, "") }
func (r *recorder) FailNow()                          { r.Fail(); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }
func (r *recorder) Skipf(format string, args ...any) {
	r.record(false, true, fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) { r.record(false, true, fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) SkipNow()         { r.record(false, true, ""); runtime.Goexit() }
func (r *recorder) Logf(format string, args ...any) {
	r.record(false, false, fmt.Sprintf(format, args...))
}
func (r *recorder) Log(args ...any) { r.record(false, false, fmt.Sprint(args...)) }

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) Skipped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped
}

// runCheck runs the named check on backends with f, recording the outcome.
func runCheck(t *testing.T, name string, f flaw) *recorder {
	t.Helper()
	idx := -1
	for i, c := range checks {
		if c.name == name {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatalf("no check named %q", name)
	}
	r := &recorder{TB: t}
	h := &harness{newBackend: func() sdk.Backend { return newRef(f) }, opts: refSettings}
	done := make(chan struct{})
	go func() {
		defer close(done)
		checks[idx].run(r, h)
	}()
	<-done
	return r
}

func TestChecksFailBrokenBackends(t *testing.T) {
	tests := []struct {
		name  string
		check string
		flaw  flaw
		// why is a phrase the failure must contain.
		why string
	}{
		{"no name", "describe", flawNoName, "no Name"},
		{"refuses settings", "configure", flawRefusesSettings, "Configure refused Options.Settings"},
		{"re-applies old changes", "idempotency", flawNoSeqCheck, "changed the product store"},
		{"zero AppliedThrough when skipping", "idempotency", flawZeroWhenSkipped, "AppliedThrough is 0"},
		{"skips a batch that starts with an applied change", "ordering", flawSkipsBatch, "overlapping batches"},
		{"last Seq not durable", "restart", flawSeqInMemory, "applied them again"},
		{"store not durable", "restart", flawStoreInMemory, "shows a different product store"},
		{"required attributes not checked", "required-attributes", flawNoRequiredCheck, "accepted a user.created change"},
		{"goes on after a refused change", "required-attributes", flawGoesOnAfterError, "accepted a user.created change"},
		{"untyped validation errors", "required-attributes", flawUntypedErrors, "not sdk.Invalid"},
		{"untyped error for a malformed change", "error-typing", flawUntypedErrors, "not sdk.Invalid"},
		{"ignores a malformed change", "error-typing", flawIgnoresMalformed, "has no user"},
		{"accepts settings without a required one", "error-typing", flawNoRequiredSetting, `without "site"`},
		{"mixes tenants", "tenants", flawMixesTenants, `Inspect of "conformance-b" shows a different store`},
		{"purge leaves data behind", "tenants", flawPurgeKeepsData, "configured again on the same DataDir, shows old data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(t, tt.check, tt.flaw)
			if !r.Failed() {
				t.Fatalf("check %q passed a backend with the flaw; log:\n%s", tt.check, strings.Join(r.log, "\n"))
			}
			if all := strings.Join(r.log, "\n"); !strings.Contains(all, tt.why) {
				t.Errorf("check %q failed without saying %q; log:\n%s", tt.check, tt.why, all)
			}
		})
	}
}

func TestChecksPassReferenceBackend(t *testing.T) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if r := runCheck(t, c.name, flawless); r.Failed() {
				t.Errorf("check %q failed the reference backend:\n%s", c.name, strings.Join(r.log, "\n"))
			}
		})
	}
}
