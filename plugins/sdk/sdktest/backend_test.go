package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// flaw is a defect the reference backend can be built with, to prove that
// a check fails a backend that has it.
type flaw int

const (
	flawless flaw = iota
	// Describe returns no name.
	flawNoName
	// Configure refuses every setting.
	flawRefusesSettings
	// Apply applies every change, however old.
	flawNoSeqCheck
	// Apply reports AppliedThrough 0 when it skipped every change.
	flawZeroWhenSkipped
	// Apply skips a whole batch whose first change is already applied.
	flawSkipsBatch
	// The store is saved, the last applied Seq is not.
	flawSeqInMemory
	// Nothing is saved.
	flawStoreInMemory
	// Required attributes are not checked.
	flawNoRequiredCheck
	// Apply goes on past a change it refuses.
	flawGoesOnAfterError
	// Apply refuses with plain errors, not sdk.Invalid.
	flawUntypedErrors
	// Apply ignores a user change without a user.
	flawIgnoresMalformed
	// Configure accepts settings without the required one.
	flawNoRequiredSetting
	// One instance serves every tenant from one store, whatever the
	// requests' Tenant: it is not wrapped in sdk.PerTenant.
	flawMixesTenants
	// Purge forgets the store but leaves it on disk.
	flawPurgeKeepsData
)

// refStore is the reference backend's product store.
type refStore struct {
	LastSeq uint64               `json:"last_seq"`
	Users   map[string]*refUser  `json:"users"`
	Groups  map[string]*refGroup `json:"groups"`
}

type refUser struct {
	UserName   string `json:"user_name"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	Title      string `json:"title"`
	Department string `json:"department"`
	Manager    string `json:"manager"`
	Active     bool   `json:"active"`
}

type refGroup struct {
	Name    string          `json:"name"`
	Members map[string]bool `json:"members"`
}

// refBackend is a small, correct backend for one tenant that keeps its
// store in a JSON file in DataDir, unless built with a flaw. It serves many
// tenants through sdk.PerTenant (see newRef).
type refBackend struct {
	flaw flaw

	mu    sync.Mutex
	path  string
	store refStore
}

var refRequired = []string{"userName", "emails", enterprise + ":department"}

func (b *refBackend) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	name := "reference"
	if b.flaw == flawNoName {
		name = ""
	}
	return &sdk.DescribeResponse{
		Name:                   name,
		Version:                "1.0.0",
		Description:            "A reference backend for the harness's own tests.",
		RequiredUserAttributes: refRequired,
		Settings: []sdk.Setting{
			{Name: "site", Description: "The site users are provisioned into.", Required: true},
			{Name: "note", Description: "Free text."},
		},
	}, nil
}

func (b *refBackend) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	var settings map[string]json.RawMessage
	if err := json.Unmarshal(req.Settings, &settings); err != nil {
		return nil, sdk.Invalid("settings are not a JSON object: %v", err)
	}
	if b.flaw == flawRefusesSettings {
		return nil, sdk.Invalid("no settings are good enough")
	}
	if _, ok := settings["site"]; !ok && b.flaw != flawNoRequiredSetting {
		return nil, sdk.Invalid("setting %q is required", "site")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.path = filepath.Join(req.DataDir, "store.json")
	b.store = refStore{Users: map[string]*refUser{}, Groups: map[string]*refGroup{}}
	data, err := os.ReadFile(b.path)
	switch {
	case errors.Is(err, os.ErrNotExist) || b.flaw == flawStoreInMemory:
	case err != nil:
		return nil, fmt.Errorf("reading store: %w", err)
	default:
		if err := json.Unmarshal(data, &b.store); err != nil {
			return nil, sdk.Invalid("store %s is corrupt: %v", b.path, err)
		}
	}
	return &sdk.ConfigureResponse{}, nil
}

func (b *refBackend) Apply(_ context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.flaw == flawSkipsBatch && len(req.Changes) > 0 && req.Changes[0].Seq <= b.store.LastSeq {
		return &sdk.ApplyResponse{AppliedThrough: req.Changes[len(req.Changes)-1].Seq}, nil
	}
	applied := false
	resp, err := sdk.ApplyEach(req, func(c sdk.Change) error {
		if c.Seq <= b.store.LastSeq && b.flaw != flawNoSeqCheck {
			return nil
		}
		if err := b.apply(c); err != nil && b.flaw != flawGoesOnAfterError {
			return err
		}
		b.store.LastSeq = c.Seq
		applied = true
		return nil
	})
	if serr := b.save(); serr != nil {
		return resp, sdk.Unavailable("saving store: %v", serr)
	}
	if !applied && b.flaw == flawZeroWhenSkipped {
		resp.AppliedThrough = 0
	}
	return resp, err
}

func (b *refBackend) invalid(format string, args ...any) error {
	if b.flaw == flawUntypedErrors {
		return fmt.Errorf(format, args...)
	}
	return sdk.Invalid(format, args...)
}

func (b *refBackend) apply(c sdk.Change) error {
	s := &b.store
	switch c.Kind {
	case sdk.UserCreated, sdk.UserUpdated, sdk.UserDeactivated, sdk.UserReactivated:
		if c.User == nil {
			if b.flaw == flawIgnoresMalformed {
				return nil
			}
			return b.invalid("%s change has no user", c.Kind)
		}
		if b.flaw != flawNoRequiredCheck {
			for _, path := range refRequired {
				if !hasAttribute(c.User, path) {
					return b.invalid("user %s has no %s", c.User.ID, path)
				}
			}
		}
		s.Users[c.User.ID] = &refUser{
			UserName:   c.User.UserName,
			Email:      c.User.Email,
			Name:       c.User.DisplayName,
			Title:      c.User.Title,
			Department: c.User.Department,
			Manager:    c.User.ManagerID,
			Active:     c.User.Active,
		}
	case sdk.UserDeleted:
		if c.User == nil {
			return b.invalid("user.deleted change has no user")
		}
		delete(s.Users, c.User.ID)
		for _, g := range s.Groups {
			delete(g.Members, c.User.ID)
		}
	case sdk.GroupCreated, sdk.GroupUpdated:
		g := s.Groups[c.Group.ID]
		if g == nil {
			g = &refGroup{Members: map[string]bool{}}
			s.Groups[c.Group.ID] = g
		}
		g.Name = c.Group.DisplayName
	case sdk.GroupDeleted:
		delete(s.Groups, c.Group.ID)
	case sdk.MembersAdded, sdk.MembersRemoved:
		g := s.Groups[c.Group.ID]
		if g == nil {
			return b.invalid("group %s does not exist", c.Group.ID)
		}
		for _, m := range c.Members {
			if c.Kind == sdk.MembersAdded {
				g.Members[m.ID] = true
			} else {
				delete(g.Members, m.ID)
			}
		}
	}
	return nil
}

// hasAttribute reports whether u has a value at path or under it.
func hasAttribute(u *sdk.User, path string) bool {
	for k, v := range u.Attributes {
		lk, lp := strings.ToLower(k), strings.ToLower(path)
		if v != "" && (lk == lp || strings.HasPrefix(lk, lp+".") || strings.HasPrefix(lk, lp+"[")) {
			return true
		}
	}
	return false
}

func (b *refBackend) save() error {
	if b.flaw == flawStoreInMemory {
		return nil
	}
	s := b.store
	if b.flaw == flawSeqInMemory {
		s.LastSeq = 0
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	// DataDir may not exist: after a purge, it is gone.
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(b.path, data, 0o600)
}

func (b *refBackend) Inspect(context.Context, *sdk.InspectRequest) (*sdk.InspectResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, err := json.Marshal(map[string]any{"users": b.store.Users, "groups": b.store.Groups})
	if err != nil {
		return nil, fmt.Errorf("encoding store: %w", err)
	}
	return &sdk.InspectResponse{JSON: data}, nil
}

func (b *refBackend) Close() error { return nil }

// Purge removes the store's directory.
func (b *refBackend) Purge(context.Context, *sdk.PurgeRequest) (*sdk.PurgeResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.flaw != flawPurgeKeepsData {
		if err := os.RemoveAll(filepath.Dir(b.path)); err != nil {
			return nil, fmt.Errorf("removing store: %w", err)
		}
	}
	b.store = refStore{}
	return &sdk.PurgeResponse{}, nil
}

// newRef returns a reference backend with f, serving many tenants as its
// binary would: through sdk.PerTenant, unless the flaw is to mix them.
func newRef(f flaw) sdk.Backend {
	if f == flawMixesTenants {
		return &refBackend{flaw: f}
	}
	return sdk.PerTenant(func(string) sdk.Backend { return &refBackend{flaw: f} }, sdk.PerTenantOptions{})
}

// blind is a backend without Inspect.
type blind struct{ b *refBackend }

func (x blind) Describe(ctx context.Context, req *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return x.b.Describe(ctx, req)
}

func (x blind) Configure(ctx context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	return x.b.Configure(ctx, req)
}

func (x blind) Apply(ctx context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	return x.b.Apply(ctx, req)
}

// Interface guards
var (
	_ sdk.Backend   = (*refBackend)(nil)
	_ sdk.Inspector = (*refBackend)(nil)
	_ sdk.Purger    = (*refBackend)(nil)
	_ sdk.Backend   = blind{}
)
