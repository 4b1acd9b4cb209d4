package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
	"github.com/caddy-scim/caddy-scim/plugins/sdk/sdktest"
)

// journal records what the instances behind a PerTenant backend are asked
// to do, one line an event: "new a#1", "configure a#1 v1", "apply a#1 v1",
// "close a#1", "purge a#1". An instance is named by its tenant and its
// number among that tenant's instances; apply shows the settings the
// instance was configured with.
type journal struct {
	mu     sync.Mutex
	events []string
	made   map[string]int
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, fmt.Sprintf(format, args...))
}

// take returns the events since the last take.
func (j *journal) take() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	e := j.events
	j.events = nil
	return e
}

// expect fails the test unless the events since the last take are want.
func (j *journal) expect(t *testing.T, what string, want ...string) {
	t.Helper()
	if got := j.take(); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: instances were asked\n\t%s\nwant\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// single is a backend written for one tenant: it keeps its settings (a
// JSON string) in memory and reports every call to a journal. Settings
// "bad" are refused with an Invalid error, "down" with an Unavailable one.
// A call made while another is in flight on the same instance, or after
// Close, is reported as a "misuse" event.
type single struct {
	j    *journal
	name string

	mu       sync.Mutex
	settings string
	closed   bool
	inFlight atomic.Int32
	// hold, when set, is called in Apply; it may block.
	hold func(tenant string)
}

// newSingle returns a factory of single instances reporting to j, each
// calling hold (when not nil) in Apply.
func newSingle(j *journal, hold func(tenant string)) func(tenant string) sdk.Backend {
	return func(tenant string) sdk.Backend {
		j.mu.Lock()
		if j.made == nil {
			j.made = map[string]int{}
		}
		j.made[tenant]++
		name := fmt.Sprintf("%s#%d", tenant, j.made[tenant])
		j.events = append(j.events, "new "+name)
		j.mu.Unlock()
		return &single{j: j, name: name, hold: hold}
	}
}

// enter marks a call in flight and reports misuse.
func (s *single) enter(method string) func() {
	if s.inFlight.Add(1) > 1 {
		s.j.add("misuse %s: %s while another call is in flight", s.name, method)
	}
	s.mu.Lock()
	if s.closed {
		s.j.add("misuse %s: %s after Close", s.name, method)
	}
	s.mu.Unlock()
	return func() { s.inFlight.Add(-1) }
}

func (s *single) current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings
}

func (s *single) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	s.j.add("describe %s", s.name)
	return &sdk.DescribeResponse{Name: "single", Version: "1.0.0"}, nil
}

func (s *single) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	defer s.enter("Configure")()
	var v string
	if err := json.Unmarshal(req.Settings, &v); err != nil {
		return nil, sdk.Invalid("settings are not a JSON string: %v", err)
	}
	s.j.add("configure %s %s", s.name, v)
	switch v {
	case "bad":
		return nil, sdk.Invalid("settings %q are bad", v)
	case "down":
		return nil, sdk.Unavailable("the product is down")
	}
	s.mu.Lock()
	s.settings = v
	s.mu.Unlock()
	return &sdk.ConfigureResponse{}, nil
}

func (s *single) Apply(_ context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	defer s.enter("Apply")()
	s.j.add("apply %s %s", s.name, s.current())
	if s.hold != nil {
		s.hold(req.Tenant)
	}
	return sdk.ApplyEach(req, func(sdk.Change) error { return nil })
}

func (s *single) Close() error {
	if s.inFlight.Load() > 0 {
		s.j.add("misuse %s: closed with a call in flight", s.name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.j.add("close %s", s.name)
	return nil
}

// capable is a single that also inspects, runs actions and purges.
type capable struct{ *single }

func newCapable(j *journal) func(tenant string) sdk.Backend {
	newInstance := newSingle(j, nil)
	return func(tenant string) sdk.Backend { return capable{newInstance(tenant).(*single)} }
}

func (c capable) Inspect(_ context.Context, req *sdk.InspectRequest) (*sdk.InspectResponse, error) {
	defer c.enter("Inspect")()
	raw, err := json.Marshal(map[string]string{"tenant": req.Tenant, "instance": c.name, "settings": c.current()})
	return &sdk.InspectResponse{JSON: raw}, err
}

func (c capable) Action(_ context.Context, req *sdk.ActionRequest) (*sdk.ActionResponse, error) {
	defer c.enter("Action")()
	return &sdk.ActionResponse{Message: req.Name + " for " + req.Tenant + " by " + c.name}, nil
}

// Purge works after Close, as PerTenant calls it; settings "stuck" make
// it fail.
func (c capable) Purge(_ context.Context, req *sdk.PurgeRequest) (*sdk.PurgeResponse, error) {
	c.j.add("purge %s", c.name)
	if c.current() == "stuck" {
		return nil, sdk.Unavailable("the product did not answer")
	}
	return &sdk.PurgeResponse{}, nil
}

// settings returns v as JSON settings.
func settings(v string) json.RawMessage {
	raw, _ := json.Marshal(v)
	return raw
}

// perTenant returns a PerTenant backend of newInstance, closed at test
// cleanup.
func perTenant(t *testing.T, newInstance func(string) sdk.Backend, opts sdk.PerTenantOptions) sdk.Backend {
	t.Helper()
	b := sdk.PerTenant(newInstance, opts)
	t.Cleanup(func() { b.(io.Closer).Close() })
	return b
}

func configure(t *testing.T, b sdk.Backend, tenant, v string) {
	t.Helper()
	if _, err := b.Configure(t.Context(), &sdk.ConfigureRequest{Tenant: tenant, Settings: settings(v), DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Configure %s with %q: %v", tenant, v, err)
	}
}

func apply(t *testing.T, b sdk.Backend, tenant string) {
	t.Helper()
	if _, err := b.Apply(t.Context(), applyRequest(tenant)); err != nil {
		t.Fatalf("Apply for %s: %v", tenant, err)
	}
}

func applyRequest(tenant string) *sdk.ApplyRequest {
	return &sdk.ApplyRequest{Tenant: tenant, Changes: []sdk.Change{{Seq: 1, Tenant: tenant, Kind: sdk.UserCreated}}}
}

func TestPerTenantGivesEachTenantItsInstance(t *testing.T) {
	j := &journal{}
	b := perTenant(t, newCapable(j), sdk.PerTenantOptions{})
	configure(t, b, "a", "for a")
	configure(t, b, "b", "for b")
	j.expect(t, "configuring two tenants", "new a#1", "configure a#1 for a", "new b#1", "configure b#1 for b")
	apply(t, b, "b")
	apply(t, b, "a")
	j.expect(t, "applying for each", "apply b#1 for b", "apply a#1 for a")

	configure(t, b, "a", "for a, again")
	apply(t, b, "a")
	j.expect(t, "configuring a again", "configure a#1 for a, again", "apply a#1 for a, again")

	resp, err := b.(sdk.Inspector).Inspect(t.Context(), &sdk.InspectRequest{Tenant: "b"})
	if err != nil || string(resp.JSON) != `{"instance":"b#1","settings":"for b","tenant":"b"}` {
		t.Errorf("Inspect for b = %s, %v", resp.JSON, err)
	}
	action, err := b.(sdk.Actioner).Action(t.Context(), &sdk.ActionRequest{Tenant: "a", Name: "regroup"})
	if err != nil || action.Message != "regroup for a by a#1" {
		t.Errorf("Action for a = %+v, %v", action, err)
	}
}

func TestPerTenantDescribe(t *testing.T) {
	j := &journal{}
	b := perTenant(t, newSingle(j, nil), sdk.PerTenantOptions{})
	desc, err := b.Describe(t.Context(), &sdk.DescribeRequest{})
	if err != nil || desc.Name != "single" {
		t.Fatalf("Describe = %+v, %v", desc, err)
	}
	j.expect(t, "Describe", "new #1", "describe #1", "close #1")
}

func TestPerTenantUnconfiguredTenant(t *testing.T) {
	j := &journal{}
	b := perTenant(t, newCapable(j), sdk.PerTenantOptions{})
	configure(t, b, "a", "v1")
	c := sdktest.Connect(t, b)
	ctx := t.Context()
	calls := map[string]func() error{
		"Apply": func() error {
			_, err := c.Apply(ctx, applyRequest("nobody"))
			return err
		},
		"Inspect": func() error {
			_, err := c.Inspect(ctx, &sdk.InspectRequest{Tenant: "nobody"})
			return err
		},
		"Action": func() error {
			_, err := c.Action(ctx, &sdk.ActionRequest{Tenant: "nobody", Name: "regroup"})
			return err
		},
		"Purge": func() error {
			_, err := c.Purge(ctx, &sdk.PurgeRequest{Tenant: "nobody"})
			return err
		},
	}
	for method, call := range calls {
		var e *sdk.Error
		if err := call(); !errors.As(err, &e) || e.Kind != sdk.KindUnavailable || e.Message != `tenant "nobody" is not configured` {
			t.Errorf("%s for a tenant never configured: got %v, want Unavailable: tenant \"nobody\" is not configured", method, err)
		}
	}
	j.expect(t, "calls for a tenant never configured", "new a#1", "configure a#1 v1")

	// A first configuration that is refused configures nothing.
	if _, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "c", Settings: settings("bad")}); !sdk.IsInvalid(err) {
		t.Fatalf("Configure with bad settings = %v, want Invalid", err)
	}
	if err := calls["Apply"](); !sdk.IsUnavailable(err) {
		t.Errorf("Apply after a refused first Configure = %v, want Unavailable", err)
	}
	if _, err := c.Apply(ctx, applyRequest("c")); err == nil || !strings.Contains(err.Error(), `tenant "c" is not configured`) {
		t.Errorf("Apply for a tenant whose only Configure was refused = %v, want not configured", err)
	}
	j.expect(t, "a refused first Configure", "new c#1", "configure c#1 bad", "close c#1")
}

func TestPerTenantRefusedConfigurationKeepsThePrevious(t *testing.T) {
	for _, refused := range []string{"bad", "down"} {
		t.Run(refused, func(t *testing.T) {
			j := &journal{}
			b := perTenant(t, newSingle(j, nil), sdk.PerTenantOptions{})
			configure(t, b, "a", "v1")
			_, err := b.Configure(t.Context(), &sdk.ConfigureRequest{Tenant: "a", Settings: settings(refused)})
			if err == nil {
				t.Fatalf("Configure with %q succeeded", refused)
			}
			if sdk.IsInvalid(err) != (refused == "bad") {
				t.Errorf("Configure with %q = %v: the instance's error kind was not kept", refused, err)
			}
			apply(t, b, "a")
			j.expect(t, "Apply after a refused Configure",
				"new a#1", "configure a#1 v1", "configure a#1 "+refused, "close a#1",
				"new a#2", "configure a#2 v1", "apply a#2 v1")
		})
	}
}

func TestPerTenantClosesLeastRecentlyUsed(t *testing.T) {
	j := &journal{}
	b := perTenant(t, newSingle(j, nil), sdk.PerTenantOptions{MaxOpen: 2})
	configure(t, b, "a", "va")
	configure(t, b, "b", "vb")
	configure(t, b, "c", "vc")
	j.expect(t, "configuring three tenants with room for two",
		"new a#1", "configure a#1 va", "new b#1", "configure b#1 vb", "new c#1", "configure c#1 vc", "close a#1")

	apply(t, b, "b")
	apply(t, b, "a")
	j.expect(t, "using b, then a again",
		"apply b#1 vb",
		"new a#2", "configure a#2 va", "apply a#2 va", "close c#1")

	// A new configuration reaches an instance opened later.
	configure(t, b, "c", "vc2")
	apply(t, b, "b")
	apply(t, b, "c")
	j.expect(t, "configuring a closed tenant anew",
		"new c#2", "configure c#2 vc2", "close b#1",
		"new b#2", "configure b#2 vb", "apply b#2 vb", "close a#2",
		"apply c#2 vc2")
}

func TestPerTenantNeverClosesAnInstanceInFlight(t *testing.T) {
	j := &journal{}
	entered, leave := make(chan string, 10), make(chan struct{})
	hold := func(tenant string) {
		if tenant == "a" {
			entered <- tenant
			<-leave
		}
	}
	b := perTenant(t, newSingle(j, hold), sdk.PerTenantOptions{MaxOpen: 1, IdleTimeout: time.Millisecond})
	configure(t, b, "a", "va")
	done := make(chan error)
	go func() {
		_, err := b.Apply(context.Background(), applyRequest("a"))
		done <- err
	}()
	<-entered
	configure(t, b, "b", "vb")
	apply(t, b, "b")
	time.Sleep(20 * time.Millisecond) // many idle timeouts
	close(leave)
	if err := <-done; err != nil {
		t.Fatalf("Apply for a: %v", err)
	}
	// Once idle, the instance that ran a's Apply is closed.
	var seen []string
	eventually(func() bool {
		seen = append(seen, j.take()...)
		return slicesContain(seen, "close "+applied(seen, "a"))
	})
	for _, e := range seen {
		if strings.HasPrefix(e, "misuse") {
			t.Error(e)
		}
	}
	if !slicesContain(seen, "close "+applied(seen, "a")) {
		t.Errorf("the instance that ran a's Apply was not closed once idle; events:\n\t%s", strings.Join(seen, "\n\t"))
	}
}

// applied returns the name of the instance that applied the tenant's
// changes in events.
func applied(events []string, tenant string) string {
	for _, e := range events {
		if f := strings.Fields(e); len(f) > 1 && f[0] == "apply" && strings.HasPrefix(f[1], tenant+"#") {
			return f[1]
		}
	}
	return tenant + "#?"
}

func slicesContain(events []string, want string) bool {
	for _, e := range events {
		if e == want {
			return true
		}
	}
	return false
}

func TestPerTenantClosesIdleInstances(t *testing.T) {
	j := &journal{}
	var mu sync.Mutex
	now := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	b := sdk.PerTenantAt(newSingle(j, nil), sdk.PerTenantOptions{IdleTimeout: time.Minute}, clock)
	t.Cleanup(func() { b.(io.Closer).Close() })
	configure(t, b, "a", "va")
	configure(t, b, "b", "vb")
	advance(30 * time.Second)
	apply(t, b, "b")
	advance(45 * time.Second)
	j.take()

	sdk.CloseIdle(b)
	j.expect(t, "a idle for 75s and b for 45s, with an idle timeout of 1m", "close a#1")
	advance(time.Minute)
	sdk.CloseIdle(b)
	j.expect(t, "b idle for 105s", "close b#1")

	apply(t, b, "a")
	j.expect(t, "a call after the idle close", "new a#2", "configure a#2 va", "apply a#2 va")
	sdk.CloseIdle(b)
	j.expect(t, "a just used")
}

func TestPerTenantIdleSweeperRuns(t *testing.T) {
	j := &journal{}
	b := perTenant(t, newSingle(j, nil), sdk.PerTenantOptions{IdleTimeout: 20 * time.Millisecond})
	configure(t, b, "a", "va")
	var seen []string
	if !eventually(func() bool {
		seen = append(seen, j.take()...)
		return slicesContain(seen, "close a#1")
	}) {
		t.Fatalf("an idle instance was not closed; events %v", seen)
	}
	apply(t, b, "a")
	j.expect(t, "a call after the idle close", "new a#2", "configure a#2 va", "apply a#2 va")
}

func TestPerTenantConcurrency(t *testing.T) {
	// a's first Apply waits until b's has started: calls for different
	// tenants must run at the same time.
	bStarted := make(chan struct{})
	var once sync.Once
	hold := func(tenant string) {
		switch tenant {
		case "a":
			select {
			case <-bStarted:
			case <-time.After(10 * time.Second):
			}
		case "b":
			once.Do(func() { close(bStarted) })
		}
		time.Sleep(time.Millisecond)
	}
	j := &journal{}
	b := perTenant(t, newSingle(j, hold), sdk.PerTenantOptions{MaxOpen: 3})
	tenants := []string{"a", "b", "c", "d", "e", "f"}
	for _, tenant := range tenants {
		configure(t, b, tenant, "v-"+tenant)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, tenant := range tenants {
		for range 8 {
			wg.Go(func() {
				if _, err := b.Apply(context.Background(), applyRequest(tenant)); err != nil {
					t.Errorf("Apply for %s: %v", tenant, err)
				}
				if _, err := b.Configure(context.Background(), &sdk.ConfigureRequest{Tenant: tenant, Settings: settings("v-" + tenant)}); err != nil {
					t.Errorf("Configure for %s: %v", tenant, err)
				}
			})
		}
	}
	wg.Wait()
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("the calls took %v: a's Apply waited for b's, which could not start", elapsed)
	}
	for _, e := range j.take() {
		if strings.HasPrefix(e, "misuse") {
			t.Error(e)
		}
		if strings.HasPrefix(e, "apply ") {
			// "apply a#2 v-a": every instance runs with its own tenant's
			// settings.
			f := strings.Fields(e)
			if tenant, _, _ := strings.Cut(f[1], "#"); f[2] != "v-"+tenant {
				t.Errorf("%s: an instance ran with another tenant's settings", e)
			}
		}
	}
}

func TestPerTenantPurge(t *testing.T) {
	j := &journal{}
	b := perTenant(t, newCapable(j), sdk.PerTenantOptions{MaxOpen: 2})
	c := sdktest.Connect(t, b)
	ctx := t.Context()
	configure(t, b, "a", "va")
	configure(t, b, "b", "vb")
	j.take()

	if _, err := c.Purge(ctx, &sdk.PurgeRequest{Tenant: "a"}); err != nil {
		t.Fatalf("Purge a: %v", err)
	}
	j.expect(t, "purging a with its instance open", "close a#1", "purge a#1")
	if _, err := c.Apply(ctx, applyRequest("a")); err == nil || !strings.Contains(err.Error(), `tenant "a" is not configured`) {
		t.Errorf("Apply for a purged tenant = %v, want not configured", err)
	}
	if _, err := c.Purge(ctx, &sdk.PurgeRequest{Tenant: "a"}); !sdk.IsUnavailable(err) {
		t.Errorf("Purge of a purged tenant = %v, want Unavailable", err)
	}
	apply(t, b, "b")
	j.expect(t, "b after purging a", "apply b#1 vb")

	// A purged tenant can be configured again, from scratch.
	configure(t, b, "a", "va2")
	j.expect(t, "configuring a purged tenant", "new a#2", "configure a#2 va2")

	// Purging a tenant whose instance was closed opens one to purge.
	configure(t, b, "x", "vx")
	configure(t, b, "y", "vy")
	j.take()
	if _, err := c.Purge(ctx, &sdk.PurgeRequest{Tenant: "b"}); err != nil {
		t.Fatalf("Purge b: %v", err)
	}
	j.expect(t, "purging b with its instance closed", "new b#2", "configure b#2 vb", "close b#2", "purge b#2")

	// A failed Purge leaves the tenant configured, to be purged again.
	configure(t, b, "s", "stuck")
	j.take()
	if _, err := c.Purge(ctx, &sdk.PurgeRequest{Tenant: "s"}); !sdk.IsUnavailable(err) || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("failed Purge = %v, want the instance's Unavailable error", err)
	}
	apply(t, b, "s")
	j.expect(t, "a failed Purge", "close s#1", "purge s#1", "new s#2", "configure s#2 stuck", "apply s#2 stuck")
}

func TestPerTenantUnimplemented(t *testing.T) {
	j := &journal{}
	b := perTenant(t, newSingle(j, nil), sdk.PerTenantOptions{})
	c := sdktest.Connect(t, b)
	ctx := t.Context()
	configure(t, b, "a", "va")
	if _, err := c.Inspect(ctx, &sdk.InspectRequest{Tenant: "a"}); !errors.Is(err, sdk.ErrUnimplemented) {
		t.Errorf("Inspect through instances without it = %v, want ErrUnimplemented", err)
	}
	if _, err := c.Action(ctx, &sdk.ActionRequest{Tenant: "a", Name: "regroup"}); !errors.Is(err, sdk.ErrUnimplemented) {
		t.Errorf("Action through instances without it = %v, want ErrUnimplemented", err)
	}
	if _, err := c.Purge(ctx, &sdk.PurgeRequest{Tenant: "a"}); !errors.Is(err, sdk.ErrUnimplemented) {
		t.Errorf("Purge through instances without it = %v, want ErrUnimplemented", err)
	}
	j.expect(t, "Inspect, Action and Purge of instances without them", "new a#1", "configure a#1 va", "close a#1")
	if _, err := c.Apply(ctx, applyRequest("a")); !sdk.IsUnavailable(err) {
		t.Errorf("Apply after Purge = %v: the tenant was not forgotten", err)
	}
}

func TestPerTenantClose(t *testing.T) {
	j := &journal{}
	b := sdk.PerTenant(newSingle(j, nil), sdk.PerTenantOptions{})
	configure(t, b, "a", "va")
	configure(t, b, "b", "vb")
	j.take()
	if err := b.(io.Closer).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := j.take()
	if len(got) != 2 || !slicesContain(got, "close a#1") || !slicesContain(got, "close b#1") {
		t.Errorf("Close closed %v, want a#1 and b#1", got)
	}
	if _, err := b.Apply(t.Context(), applyRequest("a")); !sdk.IsUnavailable(err) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Apply after Close = %v, want Unavailable", err)
	}
	if err := b.(io.Closer).Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	j.expect(t, "calls after Close")
}
