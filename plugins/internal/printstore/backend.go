package printstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/plugins/internal/badgerstore"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// ActionImportCards is the name of the card import action.
const ActionImportCards = "import-cards"

// Product describes one print-management product to the shared store: its
// name and what its users are keyed and described by.
type Product[P any] struct {
	// Name is the backend's short name, e.g. "pharos".
	Name string
	// Version is the backend's version.
	Version string
	// Description says what the backend provisions.
	Description string
	// KeyName names the product's user key in messages, in the header of
	// an import file and in the Inspect JSON: "login", "email".
	KeyName string
	// GroupsName names the groups in the Inspect JSON, in the store and
	// on each user: "groups" (the default), "policy_groups".
	GroupsName string
	// RequiredUserAttributes are declared to the host in Describe.
	RequiredUserAttributes []string
	// MapUser maps a SCIM user to its product key and profile. It returns
	// an Invalid error when the user cannot be represented, e.g. without
	// the attribute the key comes from.
	MapUser func(u *sdk.User) (key string, profile P, err error)
}

// Backend is a print product's store, driven through the sdk.Backend
// methods. P is the product's user profile, stored as JSON.
type Backend[P any] struct {
	product Product[P]
	// chunk is how many idempotent writes go into one transaction when a
	// change or an import needs more than one.
	chunk int

	mu sync.Mutex
	// db is the store, nil until a call needs it.
	db *badger.DB
	// dir is the data directory, "" before Configure and after Purge.
	dir      string
	settings Settings
	// last is the Seq of the last change applied, read when db opens.
	last uint64
}

// NewBackend returns an unconfigured backend for p.
func NewBackend[P any](p Product[P]) *Backend[P] {
	if p.GroupsName == "" {
		p.GroupsName = "groups"
	}
	return &Backend[P]{product: p, chunk: 1000, settings: DefaultSettings()}
}

// errNotConfigured answers calls that need the store before Configure, or
// after Purge. It is retried: the host configures a tenant before it
// applies its changes.
var errNotConfigured = sdk.Unavailable("the backend is not configured yet")

// Describe names the backend, its settings and its actions.
func (b *Backend[P]) Describe(ctx context.Context, req *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{
		Name:                   b.product.Name,
		Version:                b.product.Version,
		Description:            b.product.Description,
		RequiredUserAttributes: append([]string(nil), b.product.RequiredUserAttributes...),
		Settings:               SettingDocs(),
		Actions: []sdk.ActionInfo{{
			Name: ActionImportCards,
			Description: fmt.Sprintf("Adds badge cards to users provisioned through SCIM. The payload is CSV with "+
				"one %s,card pair a line (a header line is optional); it never creates users, and refuses a card "+
				"that another user holds.", b.product.KeyName),
		}},
	}, nil
}

// Configure validates the settings and remembers them with req.DataDir;
// the product store there is opened by the first call that needs it, so
// configuring is cheap for the many tenants that stay idle. It may be
// called again with new settings; a different data directory closes the
// old store. A refused configuration leaves the previous one in force.
func (b *Backend[P]) Configure(ctx context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	s, err := ParseSettings(req.Settings)
	if err != nil {
		return nil, fmt.Errorf("configuring %s: %w", b.product.Name, err)
	}
	if req.DataDir == "" {
		return nil, sdk.Invalid("configuring %s: a data directory is required", b.product.Name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != req.DataDir {
		if err := b.closeLocked(); err != nil {
			return nil, err
		}
	}
	b.dir, b.settings = req.DataDir, s
	return &sdk.ConfigureResponse{}, nil
}

// openLocked opens the product store in the configured data directory
// unless it is open. b.mu is held.
func (b *Backend[P]) openLocked() error {
	if b.db != nil {
		return nil
	}
	if b.dir == "" {
		return errNotConfigured
	}
	db, last, err := openStore(b.dir)
	if err != nil {
		return fmt.Errorf("opening the %s store: %w", b.product.Name, err)
	}
	b.db, b.last = db, last
	return nil
}

// Close closes the product store. The configuration stays: a later call
// opens the store again. It is safe before Configure and safe to call
// twice.
func (b *Backend[P]) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closeLocked()
}

func (b *Backend[P]) closeLocked() error {
	if b.db == nil {
		return nil
	}
	err := b.db.Close()
	b.db, b.last = nil, 0
	if err != nil {
		return fmt.Errorf("closing %s store: %w", b.product.Name, err)
	}
	return nil
}

// Purge closes the product store, removes the data directory and forgets
// the configuration: later calls answer as before Configure.
func (b *Backend[P]) Purge(ctx context.Context, req *sdk.PurgeRequest) (*sdk.PurgeResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir == "" {
		return nil, errNotConfigured
	}
	if err := badgerstore.Remove(b.dir, b.closeLocked); err != nil {
		return nil, fmt.Errorf("purging the %s store: %w", b.product.Name, err)
	}
	b.dir, b.settings = "", DefaultSettings()
	return &sdk.PurgeResponse{}, nil
}

// Apply applies a batch of changes in order, skipping those at or below
// the last sequence number recorded in the store. The changes it applies
// are written with the Seq of the last one in as few transactions as fit
// Badger's limits, usually one, so a batch costs one sync rather than one
// per change. A transaction is all or nothing: when a change fails, the
// ones before it are committed on their own and reported in
// AppliedThrough, and the error is about the failed one. A change too
// large for one transaction (a group of many thousands of members) is
// applied on its own, in several.
func (b *Backend[P]) Apply(ctx context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	resp := &sdk.ApplyResponse{}
	if err := b.openLocked(); err != nil {
		return resp, err
	}
	if req == nil {
		return resp, nil
	}
	todo := req.Changes
	for len(todo) > 0 && todo[0].Seq <= b.last {
		resp.AppliedThrough, todo = todo[0].Seq, todo[1:]
	}
	for len(todo) > 0 {
		if err := ctx.Err(); err != nil {
			return resp, err
		}
		n, err := b.applyBatch(todo)
		if n > 0 {
			b.last, resp.AppliedThrough, todo = todo[n-1].Seq, todo[n-1].Seq, todo[n:]
		}
		if err != nil {
			return resp, fmt.Errorf("applying change %d (%s): %w", todo[0].Seq, todo[0].Kind, err)
		}
	}
	return resp, nil
}

// applyBatch applies the longest run of cs from its start that fits one
// transaction, records the Seq of its last change and commits, and returns
// how many changes it applied. A change that fails ends the run: the
// changes before it are committed and its error is returned. A first
// change too large for a transaction is applied alone.
func (b *Backend[P]) applyBatch(cs []sdk.Change) (int, error) {
	txn := b.db.NewTransaction(true)
	defer txn.Discard()
	for i, c := range cs {
		err := b.stage(txn, c)
		if err == nil {
			continue
		}
		switch {
		case i == 0 && errors.Is(err, badger.ErrTxnTooBig):
			if err := b.applyAlone(c); err != nil {
				return 0, err
			}
			return 1, nil
		case i == 0:
			return 0, err
		}
		// The transaction holds part of change i: commit the changes
		// before it in a new one.
		txn.Discard()
		n, cerr := b.applyBatch(cs[:i])
		if cerr != nil || n < i || errors.Is(err, badger.ErrTxnTooBig) {
			return n, cerr
		}
		return n, err
	}
	if err := txn.Set(metaSeqKey, u64(cs[len(cs)-1].Seq)); err != nil {
		if errors.Is(err, badger.ErrTxnTooBig) && len(cs) > 1 {
			txn.Discard()
			return b.applyBatch(cs[:len(cs)-1])
		}
		return 0, err
	}
	if err := txn.Commit(); err != nil {
		return 0, err
	}
	return len(cs), nil
}

// Action runs an operator action; the only one is ActionImportCards.
func (b *Backend[P]) Action(ctx context.Context, req *sdk.ActionRequest) (*sdk.ActionResponse, error) {
	if req.Name != ActionImportCards {
		return nil, sdk.Invalid("unknown action %q; %s offers %s", req.Name, b.product.Name, ActionImportCards)
	}
	rows, err := parseCardCSV(req.Payload, b.product.KeyName)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.openLocked(); err != nil {
		return nil, err
	}
	return b.importCards(ctx, rows)
}

// openStore opens the Badger database in dir, checks its layout version
// and reads the last applied sequence number.
func openStore(dir string) (*badger.DB, uint64, error) {
	opts := badgerstore.Options(dir).
		WithSyncWrites(true).
		WithCompactL0OnClose(true)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, 0, fmt.Errorf("opening store %s: %w", dir, err)
	}
	var last uint64
	err = db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(metaLayoutKey)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			if err := txn.Set(metaLayoutKey, []byte{layoutVersion}); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) != 1 || v[0] != layoutVersion {
				return fmt.Errorf("store layout %v is not layout %d", v, layoutVersion)
			}
		}
		last, err = lastSeq(txn)
		return err
	})
	if err != nil {
		db.Close()
		return nil, 0, fmt.Errorf("reading store %s: %w", dir, err)
	}
	return db, last, nil
}
