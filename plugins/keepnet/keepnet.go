package keepnet

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// Name is the backend's name in a Caddyfile: backend keepnet { … }.
const Name = "keepnet"

// Version is the backend's version.
const Version = "0.1.0"

// ActionRegroup is the operator action that re-applies the current
// settings to every stored user.
const ActionRegroup = "regroup"

// Backend is the Keepnet-style backend. Its zero value is not ready: use
// New, then Configure before Apply.
type Backend struct {
	// mu serializes calls: one tenant's changes are applied in order.
	mu     sync.Mutex
	db     *badger.DB
	dir    string
	tenant string
	s      settings
}

// New returns an unconfigured Keepnet-style backend.
func New() sdk.Backend { return &Backend{s: defaultSettings()} }

// Describe names the backend, requires an email for every user, and
// documents the settings and the regroup action.
func (b *Backend) Describe(ctx context.Context, req *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{
		Name:    Name,
		Version: Version,
		Description: "Security-awareness target users keyed by email, with custom field mappings, " +
			"a default target group, group-by placement and optional mirrored IdP groups.",
		RequiredUserAttributes: []string{"emails"},
		Settings:               settingDocs,
		Actions: []sdk.ActionInfo{{
			Name: ActionRegroup,
			Description: "Re-applies the current settings to every stored user: recomputes custom fields " +
				"and group-by placement, adds or removes mirrored IdP groups, and removes emptied groups. " +
				"Run it after changing field_map, group_by, target_group or mirror_groups.",
		}},
	}, nil
}

// Configure validates the tenant's settings and opens the product store in
// req.DataDir. Bad settings are refused with an sdk.Invalid error naming
// the setting. Configuring again with another DataDir closes the previous
// store.
func (b *Backend) Configure(ctx context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	s, err := parseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	if req.DataDir == "" {
		return nil, sdk.Invalid("keepnet needs a data directory for its product store")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.db != nil && b.dir != req.DataDir {
		if err := b.db.Close(); err != nil {
			return nil, fmt.Errorf("closing product store %s: %w", b.dir, err)
		}
		b.db = nil
	}
	if b.db == nil {
		db, err := badger.Open(badger.DefaultOptions(req.DataDir).WithLogger(nil))
		if err != nil {
			return nil, fmt.Errorf("opening product store %s: %w", req.DataDir, err)
		}
		if err := checkLayout(db); err != nil {
			return nil, errors.Join(fmt.Errorf("opening product store %s: %w", req.DataDir, err), db.Close())
		}
		b.db, b.dir = db, req.DataDir
	}
	if err := update(b.db, s, (*tx).ensureDefaultGroup); err != nil {
		return nil, fmt.Errorf("creating target group %q: %w", s.targetGroup, err)
	}
	b.tenant, b.s = req.Tenant, s
	return &sdk.ConfigureResponse{}, nil
}

// Apply applies changes in order, each once: a change whose Seq is at or
// below the last one recorded is skipped. It stops at the first change that
// fails and reports the Seq of the one before.
func (b *Backend) Apply(ctx context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.db == nil {
		return &sdk.ApplyResponse{}, sdk.Unavailable("keepnet backend is not configured yet")
	}
	return sdk.ApplyEach(req, func(c sdk.Change) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if b.tenant != "" && c.Tenant != "" && c.Tenant != b.tenant {
			return sdk.Invalid("change %d is for tenant %q, this backend serves %q", c.Seq, c.Tenant, b.tenant)
		}
		return applyChange(ctx, b.db, b.s, c)
	})
}

// Action runs an operator action; the only one is "regroup".
func (b *Backend) Action(ctx context.Context, req *sdk.ActionRequest) (*sdk.ActionResponse, error) {
	if req.Name != ActionRegroup {
		return nil, sdk.Invalid("unknown keepnet action %q; the only action is %q", req.Name, ActionRegroup)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.db == nil {
		return nil, sdk.Unavailable("keepnet backend is not configured yet")
	}
	return regroup(ctx, b.db, b.s)
}

// Inspect returns the product store as JSON: target users, target groups,
// the effective settings and the last applied Seq, in a stable order.
func (b *Backend) Inspect(ctx context.Context, req *sdk.InspectRequest) (*sdk.InspectResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.db == nil {
		return nil, sdk.Unavailable("keepnet backend is not configured yet")
	}
	raw, err := inspect(b.db, b.s)
	if err != nil {
		return nil, fmt.Errorf("reading product store %s: %w", b.dir, err)
	}
	return &sdk.InspectResponse{JSON: raw}, nil
}

// Close closes the product store. It is safe to call more than once and
// before Configure.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.db == nil {
		return nil
	}
	err := b.db.Close()
	b.db = nil
	if err != nil {
		return fmt.Errorf("closing product store %s: %w", b.dir, err)
	}
	return nil
}

// Interface guards
var (
	_ sdk.Backend   = (*Backend)(nil)
	_ sdk.Inspector = (*Backend)(nil)
	_ sdk.Actioner  = (*Backend)(nil)
)
