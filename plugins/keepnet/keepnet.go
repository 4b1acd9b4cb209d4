package keepnet

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/plugins/internal/badgerstore"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// Name is the backend's name in a Caddyfile: backend keepnet { … }.
const Name = "keepnet"

// Version is the backend's version.
const Version = "0.1.0"

// ActionRegroup is the operator action that re-applies the current
// settings to every stored user.
const ActionRegroup = "regroup"

// Backend is the Keepnet-style backend for one tenant. Its zero value is
// not ready: use New, then Configure before Apply. A plugin process serves
// many tenants through sdk.PerTenant, one Backend each.
type Backend struct {
	// mu serializes calls: the tenant's changes are applied in order.
	mu sync.Mutex
	// db is the product store, nil until a call needs it.
	db *badger.DB
	// groupReady says that the default target group of s exists in db.
	groupReady bool
	// dir is the data directory, "" before Configure and after Purge.
	dir    string
	tenant string
	s      settings
}

// New returns an unconfigured Keepnet-style backend.
func New() sdk.Backend { return &Backend{s: defaultSettings()} }

// errNotConfigured answers calls before Configure, or after Purge; the
// host configures the tenant and retries.
var errNotConfigured = sdk.Unavailable("keepnet backend is not configured yet")

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

// Configure validates the tenant's settings and remembers them with
// req.DataDir. The product store there is opened, and the target group
// created, by the first call that needs them, so configuring is cheap for
// the many tenants that stay idle. Bad settings are refused with an
// sdk.Invalid error naming the setting, and the previous settings stay.
// Configuring again with another DataDir closes the previous store.
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
	if b.dir != req.DataDir {
		if err := b.closeLocked(); err != nil {
			return nil, err
		}
	}
	b.dir, b.tenant, b.s, b.groupReady = req.DataDir, req.Tenant, s, false
	return &sdk.ConfigureResponse{}, nil
}

// storeLocked returns the product store, opening it and creating the
// default target group when needed. b.mu is held.
func (b *Backend) storeLocked() (*badger.DB, error) {
	if b.dir == "" {
		return nil, errNotConfigured
	}
	if b.db == nil {
		db, err := badger.Open(badgerstore.Options(b.dir))
		if err != nil {
			return nil, fmt.Errorf("opening product store %s: %w", b.dir, err)
		}
		if err := checkLayout(db); err != nil {
			return nil, errors.Join(fmt.Errorf("opening product store %s: %w", b.dir, err), db.Close())
		}
		b.db = db
	}
	if !b.groupReady {
		if err := update(b.db, b.s, (*tx).ensureDefaultGroup); err != nil {
			return nil, fmt.Errorf("creating target group %q: %w", b.s.targetGroup, err)
		}
		b.groupReady = true
	}
	return b.db, nil
}

// Apply applies changes in order, each once: a change whose Seq is at or
// below the last one recorded is skipped. The changes of a batch are
// written in as few transactions as fit Badger's limits, usually one, so a
// batch costs one sync rather than one per change. It stops at the first
// change that fails, commits the ones before it and reports the Seq of
// the last of them.
func (b *Backend) Apply(ctx context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	resp := &sdk.ApplyResponse{}
	db, err := b.storeLocked()
	if err != nil {
		return resp, err
	}
	if req == nil {
		return resp, nil
	}
	check := func(c sdk.Change) error {
		if b.tenant != "" && c.Tenant != "" && c.Tenant != b.tenant {
			return sdk.Invalid("change %d is for tenant %q, this backend serves %q", c.Seq, c.Tenant, b.tenant)
		}
		return checkChange(c)
	}
	todo := req.Changes
	for len(todo) > 0 {
		if err := ctx.Err(); err != nil {
			return resp, err
		}
		n, err := applyBatch(ctx, db, b.s, todo, check)
		if n > 0 {
			resp.AppliedThrough, todo = todo[n-1].Seq, todo[n:]
		}
		if err != nil {
			return resp, fmt.Errorf("applying change %d (%s): %w", todo[0].Seq, todo[0].Kind, err)
		}
	}
	return resp, nil
}

// Action runs an operator action; the only one is "regroup".
func (b *Backend) Action(ctx context.Context, req *sdk.ActionRequest) (*sdk.ActionResponse, error) {
	if req.Name != ActionRegroup {
		return nil, sdk.Invalid("unknown keepnet action %q; the only action is %q", req.Name, ActionRegroup)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	db, err := b.storeLocked()
	if err != nil {
		return nil, err
	}
	return regroup(ctx, db, b.s)
}

// Inspect returns the product store as JSON: target users, target groups,
// the effective settings and the last applied Seq, in a stable order.
func (b *Backend) Inspect(ctx context.Context, req *sdk.InspectRequest) (*sdk.InspectResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	db, err := b.storeLocked()
	if err != nil {
		return nil, err
	}
	raw, err := inspect(db, b.s)
	if err != nil {
		return nil, fmt.Errorf("reading product store %s: %w", b.dir, err)
	}
	return &sdk.InspectResponse{JSON: raw}, nil
}

// Purge closes the product store, removes the data directory and forgets
// the configuration: later calls answer as before Configure.
func (b *Backend) Purge(ctx context.Context, req *sdk.PurgeRequest) (*sdk.PurgeResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir == "" {
		return nil, errNotConfigured
	}
	if err := badgerstore.Remove(b.dir, b.closeLocked); err != nil {
		return nil, fmt.Errorf("purging the keepnet store: %w", err)
	}
	b.dir, b.tenant, b.s = "", "", defaultSettings()
	return &sdk.PurgeResponse{}, nil
}

// Close closes the product store. The configuration stays: a later call
// opens the store again. It is safe to call more than once and before
// Configure.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closeLocked()
}

func (b *Backend) closeLocked() error {
	if b.db == nil {
		return nil
	}
	err := b.db.Close()
	b.db, b.groupReady = nil, false
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
	_ sdk.Purger    = (*Backend)(nil)
)
