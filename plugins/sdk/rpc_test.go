package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
	"github.com/caddy-scim/caddy-scim/plugins/sdk/sdktest"
)

// fake is a Backend that records what it receives. It is no Inspector,
// Actioner or Purger; full is.
type fake struct {
	mu        sync.Mutex
	configure *sdk.ConfigureRequest
	apply     *sdk.ApplyRequest
	inspect   *sdk.InspectRequest
	action    *sdk.ActionRequest
	purge     *sdk.PurgeRequest

	// fail, when set, gives the error each method returns.
	fail func(ctx context.Context, method string) error
	// applyChange, when set, applies each change through sdk.ApplyEach.
	applyChange func(c sdk.Change) error
	// applyReturnsNil makes a failing Apply return no response.
	applyReturnsNil bool
}

func (f *fake) failure(ctx context.Context, method string) error {
	if f.fail == nil {
		return nil
	}
	return f.fail(ctx, method)
}

var description = &sdk.DescribeResponse{
	Name:                   "fake",
	Version:                "0.1.0",
	Description:            "A fake backend.",
	RequiredUserAttributes: []string{"userName", "emails"},
	Settings:               []sdk.Setting{{Name: "site", Description: "The site.", Required: true}},
	Actions:                []sdk.ActionInfo{{Name: "import-cards", Description: "Import cards."}},
}

func (f *fake) Describe(ctx context.Context, _ *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	if err := f.failure(ctx, "Describe"); err != nil {
		return nil, err
	}
	return description, nil
}

func (f *fake) Configure(ctx context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	f.mu.Lock()
	f.configure = req
	f.mu.Unlock()
	if err := f.failure(ctx, "Configure"); err != nil {
		return nil, err
	}
	return &sdk.ConfigureResponse{}, nil
}

func (f *fake) Apply(ctx context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	f.mu.Lock()
	f.apply = req
	f.mu.Unlock()
	if f.applyChange != nil {
		resp, err := sdk.ApplyEach(req, f.applyChange)
		if err != nil && f.applyReturnsNil {
			return nil, err
		}
		return resp, err
	}
	if err := f.failure(ctx, "Apply"); err != nil {
		return nil, err
	}
	return &sdk.ApplyResponse{AppliedThrough: req.Changes[len(req.Changes)-1].Seq}, nil
}

// record keeps req in *dst.
func record[R any](f *fake, dst **R, req *R) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*dst = req
}

// full is a fake that also inspects, runs actions and purges.
type full struct{ *fake }

func (f full) Inspect(ctx context.Context, req *sdk.InspectRequest) (*sdk.InspectResponse, error) {
	record(f.fake, &f.inspect, req)
	if err := f.failure(ctx, "Inspect"); err != nil {
		return nil, err
	}
	return &sdk.InspectResponse{JSON: json.RawMessage(`{"users":["bjensen"]}`)}, nil
}

func (f full) Action(ctx context.Context, req *sdk.ActionRequest) (*sdk.ActionResponse, error) {
	record(f.fake, &f.action, req)
	if err := f.failure(ctx, "Action"); err != nil {
		return nil, err
	}
	return &sdk.ActionResponse{Message: "ran " + req.Name, Result: json.RawMessage(fmt.Sprintf(`{"bytes":%d}`, len(req.Payload)))}, nil
}

func (f full) Purge(ctx context.Context, req *sdk.PurgeRequest) (*sdk.PurgeResponse, error) {
	record(f.fake, &f.purge, req)
	if err := f.failure(ctx, "Purge"); err != nil {
		return nil, err
	}
	return &sdk.PurgeResponse{}, nil
}

// Interface guards
var (
	_ sdk.Backend   = (*fake)(nil)
	_ sdk.Inspector = full{}
	_ sdk.Actioner  = full{}
	_ sdk.Purger    = full{}
)

func TestRPCs(t *testing.T) {
	f := &fake{}
	c := sdktest.Connect(t, full{f})
	ctx := t.Context()

	desc, err := c.Describe(ctx, &sdk.DescribeRequest{})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if !reflect.DeepEqual(desc, description) {
		t.Errorf("Describe = %+v, want %+v", desc, description)
	}

	configure := &sdk.ConfigureRequest{Tenant: "acme", Settings: json.RawMessage(`{"site":"hq"}`), DataDir: t.TempDir()}
	if _, err := c.Configure(ctx, configure); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if !reflect.DeepEqual(f.configure, configure) {
		t.Errorf("backend got Configure %+v, want %+v", f.configure, configure)
	}

	apply := &sdk.ApplyRequest{Tenant: "acme", Changes: sdktest.SampleChanges("acme")}
	resp, err := c.Apply(ctx, apply)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if want := uint64(len(apply.Changes)); resp.AppliedThrough != want {
		t.Errorf("AppliedThrough = %d, want %d", resp.AppliedThrough, want)
	}
	if !reflect.DeepEqual(f.apply, apply) {
		t.Errorf("backend got a different ApplyRequest than was sent:\n got %+v\nwant %+v", f.apply, apply)
	}

	inspect, err := c.Inspect(ctx, &sdk.InspectRequest{Tenant: "acme"})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if string(inspect.JSON) != `{"users":["bjensen"]}` {
		t.Errorf("Inspect JSON = %s", inspect.JSON)
	}
	if want := (&sdk.InspectRequest{Tenant: "acme"}); !reflect.DeepEqual(f.inspect, want) {
		t.Errorf("backend got Inspect %+v, want %+v", f.inspect, want)
	}

	actionReq := &sdk.ActionRequest{Tenant: "acme", Name: "import-cards", Payload: []byte("a,b\n")}
	action, err := c.Action(ctx, actionReq)
	if err != nil {
		t.Fatalf("Action: %v", err)
	}
	if action.Message != "ran import-cards" || string(action.Result) != `{"bytes":4}` {
		t.Errorf("Action = %+v", action)
	}
	if !reflect.DeepEqual(f.action, actionReq) {
		t.Errorf("backend got Action %+v, want %+v", f.action, actionReq)
	}

	if _, err := c.Purge(ctx, &sdk.PurgeRequest{Tenant: "acme"}); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if want := (&sdk.PurgeRequest{Tenant: "acme"}); !reflect.DeepEqual(f.purge, want) {
		t.Errorf("backend got Purge %+v, want %+v", f.purge, want)
	}
}

// calls calls each method of a client, by name.
var calls = map[string]func(ctx context.Context, c *sdk.Client) error{
	"Describe": func(ctx context.Context, c *sdk.Client) error {
		_, err := c.Describe(ctx, &sdk.DescribeRequest{})
		return err
	},
	"Configure": func(ctx context.Context, c *sdk.Client) error {
		_, err := c.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme"})
		return err
	},
	"Apply": func(ctx context.Context, c *sdk.Client) error {
		_, err := c.Apply(ctx, &sdk.ApplyRequest{Tenant: "acme", Changes: []sdk.Change{{Seq: 1, Kind: sdk.UserCreated}}})
		return err
	},
	"Inspect": func(ctx context.Context, c *sdk.Client) error {
		_, err := c.Inspect(ctx, &sdk.InspectRequest{Tenant: "acme"})
		return err
	},
	"Action": func(ctx context.Context, c *sdk.Client) error {
		_, err := c.Action(ctx, &sdk.ActionRequest{Tenant: "acme", Name: "import-cards"})
		return err
	},
	"Purge": func(ctx context.Context, c *sdk.Client) error {
		_, err := c.Purge(ctx, &sdk.PurgeRequest{Tenant: "acme"})
		return err
	},
}

func TestErrorsCrossTyped(t *testing.T) {
	tests := []struct {
		name string
		err  error
		// panics makes the backend panic instead of returning err.
		panics  bool
		kind    sdk.ErrorKind
		message string
	}{
		{name: "invalid", err: sdk.Invalid("user %s has no email", "bjensen"), kind: sdk.KindInvalid, message: "user bjensen has no email"},
		{name: "wrapped invalid", err: fmt.Errorf("saving user: %w", sdk.Invalid("no email")), kind: sdk.KindInvalid, message: "saving user: no email"},
		{name: "unavailable", err: sdk.Unavailable("product API answered 503"), kind: sdk.KindUnavailable, message: "product API answered 503"},
		{name: "no kind comes back unavailable", err: errors.New("disk full"), kind: sdk.KindUnavailable, message: "disk full"},
		{name: "backend's own timeout comes back unavailable", err: fmt.Errorf("calling product: %w", context.DeadlineExceeded), kind: sdk.KindUnavailable, message: "calling product: context deadline exceeded"},
		{name: "panic comes back unavailable", panics: true, kind: sdk.KindUnavailable, message: "panicked: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{fail: func(context.Context, string) error {
				if tt.panics {
					panic("boom")
				}
				return tt.err
			}}
			c := sdktest.Connect(t, full{f})
			for method, call := range calls {
				err := call(t.Context(), c)
				var e *sdk.Error
				if !errors.As(err, &e) {
					t.Errorf("%s: got %T %v, want an *sdk.Error", method, err, err)
					continue
				}
				if e.Kind != tt.kind || !strings.Contains(e.Message, tt.message) {
					t.Errorf("%s: got kind %d %q, want kind %d with %q", method, e.Kind, e.Message, tt.kind, tt.message)
				}
			}
		})
	}
}

func TestCallerContextErrors(t *testing.T) {
	tests := []struct {
		name string
		// ctx returns the caller's context, ended while the backend waits.
		ctx  func(t *testing.T) context.Context
		want error
	}{
		{"deadline", func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, context.DeadlineExceeded},
		{"canceled", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{fail: func(ctx context.Context, _ string) error {
				<-ctx.Done()
				return ctx.Err()
			}}
			c := sdktest.Connect(t, f)
			err := calls["Apply"](tt.ctx(t), c)
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want an error that is %v", err, tt.want)
			}
		})
	}
}

func TestUnimplemented(t *testing.T) {
	tests := []struct {
		name    string
		backend sdk.Backend
		want    error
	}{
		{"backend without Inspect, Action or Purge", &fake{}, sdk.ErrUnimplemented},
		{"backend with them", full{&fake{}}, nil},
		{"backend returning ErrUnimplemented", full{&fake{fail: func(_ context.Context, method string) error {
			if method == "Describe" || method == "Configure" || method == "Apply" {
				return nil
			}
			return fmt.Errorf("no %s here: %w", method, sdk.ErrUnimplemented)
		}}}, sdk.ErrUnimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sdktest.Connect(t, tt.backend)
			for _, method := range []string{"Inspect", "Action", "Purge"} {
				err := calls[method](t.Context(), c)
				if tt.want == nil && err != nil {
					t.Errorf("%s: %v", method, err)
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Errorf("%s: got %v, want an error that is %v", method, err, tt.want)
				}
			}
		})
	}
}

func TestAppliedThroughSurvivesError(t *testing.T) {
	changes := sdktest.SampleChanges("acme")
	tests := []struct {
		name       string
		failAt     uint64
		failErr    error
		returnsNil bool
		// want is the AppliedThrough expected; -1 expects no response.
		want    int64
		invalid bool
	}{
		{name: "invalid in the middle", failAt: 5, failErr: sdk.Invalid("no email"), want: 4, invalid: true},
		{name: "unavailable in the middle", failAt: 9, failErr: sdk.Unavailable("503"), want: 8},
		{name: "error of no kind", failAt: 2, failErr: errors.New("disk full"), want: 1},
		{name: "first change fails", failAt: 1, failErr: sdk.Invalid("no email"), want: 0, invalid: true},
		{name: "backend returns no response", failAt: 3, failErr: sdk.Invalid("no email"), returnsNil: true, want: -1, invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{
				applyReturnsNil: tt.returnsNil,
				applyChange: func(c sdk.Change) error {
					if c.Seq == tt.failAt {
						return tt.failErr
					}
					return nil
				},
			}
			c := sdktest.Connect(t, f)
			resp, err := c.Apply(t.Context(), &sdk.ApplyRequest{Tenant: "acme", Changes: changes})
			if err == nil {
				t.Fatal("Apply succeeded, want an error")
			}
			if sdk.IsInvalid(err) != tt.invalid {
				t.Errorf("IsInvalid(%v) = %v, want %v", err, sdk.IsInvalid(err), tt.invalid)
			}
			switch {
			case tt.want < 0 && resp != nil:
				t.Errorf("got response %+v, want none", resp)
			case tt.want >= 0 && resp == nil:
				t.Errorf("got no response, want AppliedThrough %d", tt.want)
			case tt.want >= 0 && resp.AppliedThrough != uint64(tt.want):
				t.Errorf("AppliedThrough = %d, want %d", resp.AppliedThrough, tt.want)
			}
		})
	}
}
