package sdktest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

var refSettings = Options{Settings: json.RawMessage(`{"site": "hq", "note": "test"}`)}

func TestRunPassesReferenceBackend(t *testing.T) {
	Run(t, func() sdk.Backend { return newRef(flawless) }, refSettings)
}

// storeChecks are the checks that compare product stores, which a backend
// without Inspect cannot pass without opting out.
var storeChecks = []Check{Idempotency, Ordering, Restart, RequiredAttributes, Tenants}

// blindBackends are backends without Inspect: one that is no
// sdk.Inspector, and one served through sdk.PerTenant, whose Inspect
// answers that it is unimplemented.
var blindBackends = map[string]func() sdk.Backend{
	"no Inspector": func() sdk.Backend { return blind{&refBackend{}} },
	"through PerTenant": func() sdk.Backend {
		return sdk.PerTenant(func(string) sdk.Backend { return blind{&refBackend{}} }, sdk.PerTenantOptions{})
	},
}

// optOuts opts out of every check that compares stores.
func optOuts() Options {
	opts := refSettings
	opts.Skip = map[Check]string{}
	for _, c := range storeChecks {
		opts.Skip[c] = "the test backend shows no store"
	}
	return opts
}

// TestRunWithoutInspectorFails runs every check on backends without
// Inspect and no opt-out: the checks that compare stores fail, saying
// how to fix it, and the others pass.
func TestRunWithoutInspectorFails(t *testing.T) {
	for name, newBackend := range blindBackends {
		for _, c := range checks {
			t.Run(name+"/"+string(c.name), func(t *testing.T) {
				r := record(t, c.name, newBackend, refSettings)
				all := strings.Join(r.log, "\n")
				if !slices.Contains(storeChecks, c.name) {
					if r.Failed() || r.Skipped() {
						t.Errorf("check %q did not pass a backend without Inspect (failed %v, skipped %v):\n%s", c.name, r.Failed(), r.Skipped(), all)
					}
					return
				}
				if !r.Failed() || r.Skipped() {
					t.Fatalf("check %q, which compares stores, did not fail a backend without Inspect (skipped %v):\n%s", c.name, r.Skipped(), all)
				}
				for _, want := range []string{"does not implement sdk.Inspector", fmt.Sprintf("Options.Skip[%q]", c.name)} {
					if !strings.Contains(all, want) {
						t.Errorf("check %q failed without saying %q:\n%s", c.name, want, all)
					}
				}
			})
		}
	}
}

// TestRunWithoutInspectorOptedOut runs Run itself on backends without
// Inspect that opt out of the checks that compare stores.
func TestRunWithoutInspectorOptedOut(t *testing.T) {
	for name, newBackend := range blindBackends {
		t.Run(name, func(t *testing.T) { Run(t, newBackend, optOuts()) })
	}
}

// TestOptOutIsLogged checks that an opted-out check is skipped with its
// reason in the log, and that the other checks still run.
func TestOptOutIsLogged(t *testing.T) {
	opts := optOuts()
	for _, c := range checks {
		t.Run(string(c.name), func(t *testing.T) {
			r := record(t, c.name, blindBackends["no Inspector"], opts)
			all := strings.Join(r.log, "\n")
			if r.Failed() {
				t.Fatalf("check %q failed:\n%s", c.name, all)
			}
			why, optedOut := opts.Skip[c.name]
			if r.Skipped() != optedOut {
				t.Errorf("check %q: skipped %v, want %v", c.name, r.Skipped(), optedOut)
			}
			if optedOut && !strings.Contains(all, "opts out of this check in Options.Skip: "+why) {
				t.Errorf("check %q was skipped without logging the reason %q:\n%s", c.name, why, all)
			}
		})
	}
}

func TestSkipNeedsCheckAndReason(t *testing.T) {
	tests := []struct {
		name string
		skip map[Check]string
		// why are phrases the failure must contain; none when valid.
		why []string
	}{
		{"none", nil, nil},
		{"with reasons", map[Check]string{Restart: "no state", Tenants: "one tenant"}, nil},
		{"no reason", map[Check]string{Restart: " "}, []string{`Options.Skip["restart"] gives no reason`}},
		{"no such check", map[Check]string{"restarts": "typo"}, []string{`"restarts", which is not a check`, "describe, configure, idempotency"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			valid := validSkip(r, tt.skip)
			all := strings.Join(r.log, "\n")
			if valid != (tt.why == nil) || r.Failed() != (tt.why != nil) {
				t.Fatalf("validSkip(%v) = %v, failed %v:\n%s", tt.skip, valid, r.Failed(), all)
			}
			for _, want := range tt.why {
				if !strings.Contains(all, want) {
					t.Errorf("validSkip(%v) failed without saying %q:\n%s", tt.skip, want, all)
				}
			}
		})
	}
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

// runFlawed runs the named check on reference backends with f, recording
// the outcome.
func runFlawed(t *testing.T, name Check, f flaw) *recorder {
	t.Helper()
	return record(t, name, func() sdk.Backend { return newRef(f) }, refSettings)
}

// record runs the named check as Run does, on backends newBackend makes,
// recording the outcome.
func record(t *testing.T, name Check, newBackend func() sdk.Backend, opts Options) *recorder {
	t.Helper()
	idx := slices.IndexFunc(checks, func(c check) bool { return c.name == name })
	if idx < 0 {
		t.Fatalf("no check named %q", name)
	}
	r := &recorder{TB: t}
	h := &harness{newBackend: newBackend, opts: opts}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runCheck(r, h, checks[idx])
	}()
	<-done
	return r
}

func TestChecksFailBrokenBackends(t *testing.T) {
	tests := []struct {
		name  string
		check Check
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
			r := runFlawed(t, tt.check, tt.flaw)
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
		t.Run(string(c.name), func(t *testing.T) {
			if r := runFlawed(t, c.name, flawless); r.Failed() {
				t.Errorf("check %q failed the reference backend:\n%s", c.name, strings.Join(r.log, "\n"))
			}
		})
	}
}

// TestConnectIsQuietUnlessVerbose checks that Connect's go-plugin
// connection logs only when SDKTEST_VERBOSE is true. It stands in for
// stderr with a file as hclog.DefaultOutput, where the connection's
// logger writes.
func TestConnectIsQuietUnlessVerbose(t *testing.T) {
	saved := hclog.DefaultOutput
	t.Cleanup(func() { hclog.DefaultOutput = saved })
	// connectAndClose connects, calls the backend once and closes the
	// connection, which makes go-plugin log that its streams ended.
	connectAndClose := func(verbose string) logFile {
		out, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { out.Close() })
		hclog.DefaultOutput = out
		t.Setenv(verboseEnv, verbose)
		t.Run("verbose="+verbose, func(t *testing.T) {
			if _, err := Connect(t, newRef(flawless)).Describe(t.Context(), &sdk.DescribeRequest{}); err != nil {
				t.Fatal(err)
			}
		})
		return logFile{t, out}
	}
	loud := connectAndClose("1")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(loud.String(), "[DEBUG]"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("with %s=1, the connection logged nothing at debug level: %q", verboseEnv, loud.String())
		}
	}
	quiet := connectAndClose("")
	// Time enough for the lines the verbose connection logged.
	time.Sleep(200 * time.Millisecond)
	if s := quiet.String(); s != "" {
		t.Errorf("without %s, the connection logged:\n%s", verboseEnv, s)
	}
	if hclog.DefaultOutput != quiet.f {
		t.Errorf("Connect did not restore hclog.DefaultOutput")
	}
}

// logFile is a file that stands in for stderr.
type logFile struct {
	t *testing.T
	f *os.File
}

// String returns what was written to the file so far.
func (l logFile) String() string {
	data, err := os.ReadFile(l.f.Name())
	if err != nil {
		l.t.Fatal(err)
	}
	return string(data)
}
