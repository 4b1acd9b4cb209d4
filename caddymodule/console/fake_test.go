package console

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// fakeService is an in-memory Service that records what the console asked
// of it.
type fakeService struct {
	mu       sync.Mutex
	now      func() time.Time
	tenants  map[string]*fakeTenant
	profiles []string

	issueCalls  int
	issued      []bool // regenerate flag per IssueToken call
	saved       []json.RawMessage
	saveErr     error
	actionCalls []actionCall
	actionErr   error
	actionRes   *ActionResult
	replays     [][]uint64
	enabled     []string
	disabled    []string
	enableErr   error
}

type actionCall struct {
	tenant, name string
	payload      []byte
}

type fakeTenant struct {
	// account is set for a named connection.
	account  string
	panel    Panel
	activity []Activity
	requests []Request
	dead     []DeadLetter
	settings *Settings
}

func newFakeService(now func() time.Time) *fakeService {
	return &fakeService{now: now, tenants: make(map[string]*fakeTenant), profiles: []string{"print", "awareness"}}
}

// add adds an enabled tenant with a Tenant URL and token validity.
func (f *fakeService) add(name string) *fakeTenant {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTenant{panel: Panel{
		Tenant: name, Kind: "runtime", Profile: "print", Enabled: true,
		TenantURL:     "https://scim.example.com/scim/v2/" + name,
		TokenValidity: 365 * 24 * time.Hour,
	}}
	f.tenants[name] = t
	return t
}

func (f *fakeService) get(name string) (*fakeTenant, error) {
	t, ok := f.tenants[name]
	if !ok {
		return nil, ErrNotFound
	}
	return t, nil
}

func (f *fakeService) Tenants(ctx context.Context) ([]Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Summary
	for _, t := range f.tenants {
		s := Summary{Tenant: t.panel.Tenant, Kind: t.panel.Kind, Profile: t.panel.Profile, Enabled: t.panel.Enabled,
			LastRequest: t.panel.LastRequest, LastChange: t.panel.LastChange, Warnings: t.panel.Warnings}
		if t.panel.Backend != nil {
			s.Backend = t.panel.Backend.Name
		}
		if t.panel.Token != nil {
			e := t.panel.Token.ExpiresAt
			s.TokenExpiry = &e
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	return out, nil
}

func (f *fakeService) Panel(ctx context.Context, tenant string) (*Panel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(tenant)
	if err != nil {
		return nil, err
	}
	p := t.panel
	p.Now = f.now()
	return &p, nil
}

func (f *fakeService) IssueToken(ctx context.Context, tenant string, regenerate bool) (*Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issueCalls++
	t, err := f.get(tenant)
	if err != nil {
		return nil, err
	}
	now := f.now()
	old := t.panel.Token
	if old != nil && now.Before(old.ExpiresAt) && !regenerate {
		return nil, ErrTokenExists
	}
	f.issued = append(f.issued, regenerate)
	c := &Credentials{
		Tenant: tenant, TenantURL: t.panel.TenantURL,
		Token:     "scimtok_" + tenant + "_" + string(rune('a'+f.issueCalls)),
		ExpiresAt: now.Add(t.panel.TokenValidity),
	}
	if old != nil {
		prev := PreviousToken{ID: old.ID, RevokedNow: t.panel.RotationOverlap == 0}
		if !prev.RevokedNow {
			u := now.Add(t.panel.RotationOverlap)
			prev.AcceptedUntil = &u
		}
		c.Previous = []PreviousToken{prev}
	}
	t.panel.Token = &TokenInfo{ID: "tok" + string(rune('0'+f.issueCalls)), IssuedAt: now, ExpiresAt: c.ExpiresAt}
	return c, nil
}

func (f *fakeService) Activity(ctx context.Context, tenant string, limit int) ([]Activity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(tenant)
	if err != nil {
		return nil, err
	}
	return t.activity[:min(limit, len(t.activity))], nil
}

func (f *fakeService) Requests(ctx context.Context, tenant string) ([]Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(tenant)
	if err != nil {
		return nil, err
	}
	return t.requests, nil
}

func (f *fakeService) DeadLetters(ctx context.Context, tenant string) ([]DeadLetter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(tenant)
	if err != nil {
		return nil, err
	}
	return t.dead, nil
}

func (f *fakeService) Replay(ctx context.Context, tenant string, seqs []uint64) ([]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(tenant)
	if err != nil {
		return nil, err
	}
	f.replays = append(f.replays, seqs)
	var done []uint64
	var kept []DeadLetter
	for _, d := range t.dead {
		if len(seqs) == 0 || slices.Contains(seqs, d.Seq) {
			done = append(done, d.Seq)
		} else {
			kept = append(kept, d)
		}
	}
	t.dead = kept
	return done, nil
}

func (f *fakeService) Settings(ctx context.Context, tenant string) (*Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(tenant)
	if err != nil {
		return nil, err
	}
	if t.settings == nil {
		return &Settings{Backend: "none", Editable: true}, nil
	}
	s := *t.settings
	return &s, nil
}

func (f *fakeService) SaveSettings(ctx context.Context, tenant string, settings json.RawMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(tenant); err != nil {
		return err
	}
	if f.saveErr != nil {
		return f.saveErr
	}
	f.saved = append(f.saved, settings)
	return nil
}

func (f *fakeService) RunAction(ctx context.Context, tenant, action string, payload []byte) (*ActionResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(tenant); err != nil {
		return nil, err
	}
	f.actionCalls = append(f.actionCalls, actionCall{tenant, action, payload})
	if f.actionErr != nil {
		return nil, f.actionErr
	}
	return f.actionRes, nil
}

func (f *fakeService) Profiles(ctx context.Context) []string {
	return f.profiles
}

func (f *fakeService) EnableTenant(ctx context.Context, tenant, profile string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.enableErr != nil {
		return f.enableErr
	}
	f.enabled = append(f.enabled, tenant+"/"+profile)
	if t, ok := f.tenants[tenant]; ok {
		t.panel.Enabled = true
		return nil
	}
	f.tenants[tenant] = &fakeTenant{panel: Panel{Tenant: tenant, Kind: "runtime", Profile: profile, Enabled: true,
		TenantURL: "https://scim.example.com/scim/v2/" + tenant, TokenValidity: 365 * 24 * time.Hour}}
	return nil
}

func (f *fakeService) DisableTenant(ctx context.Context, tenant string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(tenant)
	if err != nil {
		return err
	}
	f.disabled = append(f.disabled, tenant)
	t.panel.Enabled = false
	return nil
}

func (f *fakeService) issues() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issueCalls
}

// Connections: the fake lets "acme" create up to two, named acme.<name>.
func (f *fakeService) Connections(ctx context.Context, account string) ([]Summary, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tenants[account] == nil {
		return nil, 0, ErrNotFound
	}
	var out []Summary
	for name, t := range f.tenants {
		if t.account == account {
			out = append(out, Summary{Tenant: name, Name: strings.TrimPrefix(name, account+"."), TenantURL: t.panel.TenantURL, Enabled: t.panel.Enabled})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	if account != "acme" {
		return out, 0, nil
	}
	return out, 2 - len(out), nil
}

func (f *fakeService) CreateConnection(ctx context.Context, account, name string) (string, error) {
	if _, left, err := f.Connections(ctx, account); err != nil || left <= 0 {
		return "", &InvalidError{Message: "No more connections can be created."}
	}
	if strings.ContainsAny(name, "./ ") {
		return "", &InvalidError{Message: "Use letters, digits and dashes."}
	}
	t := f.add(account + "." + name)
	f.mu.Lock()
	t.account = account
	f.mu.Unlock()
	return account + "." + name, nil
}

func (f *fakeService) Account(ctx context.Context, tenant string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tenants[tenant]; t != nil {
		return t.account
	}
	return ""
}
