// Package storetest is the conformance suite every storage engine of the
// SCIM store runs: one set of behaviours, checked only through the
// interfaces the rest of the program uses, so that the embedded Badger
// engine and a PostgreSQL engine answer every request the same way.
//
// # Plugging in an engine
//
// An engine's tests call Run with a function that opens a fresh, empty
// store for one test and closes it when that test ends (t.Cleanup):
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Engine {
//			e := openMyEngine(t) // empty, private to t
//			t.Cleanup(func() { e.Close() })
//			return e
//		})
//	}
//
// The value returned must implement Engine: the Store the SCIM engine
// writes through, the DeliveryLog delivery keeps its progress in, and the
// token and tenant persistence the Caddy app loads. Optional interfaces
// are found by type assertion and their tests skipped when absent:
// store.GroupLister, store.RawReader, tokens.ClientPersistence, and
// Reopener, which an engine whose data outlives Close implements so that
// the suite can check what must survive a restart. Close may be called
// more than once: by a test that reopens the engine and by the cleanup.
//
// The default run is sized for a quick `go test -race`; RunWith takes
// Options, and the flag -storetest.long runs the large cases at full size
// (a group of 100,000 members deleted at once).
//
// # What the suite covers
//
// Resources: create, get, meta and versions; errors as *scimerr.Error
// with the right status and scimType; case-insensitive uniqueness of
// userName and a group's displayName under the identifier rule of package
// ident, also for concurrent creates and renames; read-modify-write
// updates that lose nothing under concurrency; DeleteIf preconditions;
// writes with a cancelled context.
// Membership: add, remove, replace, members that name nothing, the
// member's id deciding its type, reverse edges (Groups, GroupsOf), members
// of deleted resources, and the delete of a very large group.
// Lists: creation order, startIndex and count at and beyond their edges,
// exact totals, sortBy ascending and descending with ties and unassigned
// values, filter results under the identifier rule, and seek pages in
// both directions.
// Journal and delivery: event kinds and contents, Journal(after, limit),
// a strictly increasing, gap-free sequence per tenant under concurrent
// writes and appends, delivery state, dead letters and their replay with
// Append.
// Tokens, OAuth clients and tenant records round trip; PurgeTenant leaves
// nothing of a tenant and changes nothing of another; tenants never see
// each other's data; and, with Reopener, everything survives a restart.
//
// # Engine-specific behaviours, not in the suite
//
// Some promises are about how an engine works, not what it answers, and
// stay with that engine's own tests: for Badger, that an equality filter
// on an indexed attribute never scans, that concurrent writes of a tenant
// share one commit (group commit) and that a burst too large for one
// transaction is split, the in-memory position indexes and their memory
// bound, the memory options, key layout and index migration, journal
// compaction and value-log reclaim, and that a version is the sequence
// number of the resource's last journal event. The suite checks only that
// a version is a weak entity tag that changes with every change.
package storetest

import (
	"flag"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// Engine is what every storage engine provides: the SCIM store, the
// delivery log, and the persistence of tokens and tenant records.
type Engine interface {
	store.Store
	store.DeliveryLog
	tokens.Persistence
	tenants.Persistence
}

// Reopener is implemented by engines whose data outlives Close. Reopen
// closes the engine and opens the same data again; the engine it returns
// is closed when the test ends.
type Reopener interface {
	Reopen(t *testing.T) Engine
}

// Options size the suite.
type Options struct {
	// HugeGroup is how many members the group of the large-group delete
	// has; defaults to 5,000, or 100,000 with -storetest.long.
	HugeGroup int
	// Writers is how many goroutines the concurrency tests write from;
	// defaults to 8.
	Writers int
}

var long = flag.Bool("storetest.long", false, "run the store conformance suite at full size (a 100,000-member group delete)")

func (o Options) withDefaults() Options {
	if o.HugeGroup <= 0 {
		o.HugeGroup = 5000
		if *long {
			o.HugeGroup = 100000
		}
	}
	if o.Writers <= 0 {
		o.Writers = 8
	}
	return o
}

// suite is one run of the conformance tests.
type suite struct {
	open func(t *testing.T) Engine
	opts Options
}

// conformance lists every test of the suite by name.
var conformance = []struct {
	name string
	run  func(t *testing.T, s *suite)
}{
	{"CreateGetMeta", testCreateGetMeta},
	{"VersionsChangeWithEveryChange", testVersions},
	{"Errors", testErrors},
	{"FailedWritesWriteNothing", testFailedWritesWriteNothing},
	{"CancelledWriteWritesNothing", testCancelledWrite},
	{"UniquenessIsCaseInsensitive", testUniqueness},
	{"UniquenessFollowsIdentifierRule", testIdentifierRule},
	{"ConcurrentCreatesOneWinsPerName", testConcurrentCreates},
	{"RefusedRenameKeepsItsName", testRefusedRename},
	{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
	{"ConcurrentMixedWrites", testConcurrentMixedWrites},
	{"InvariantsUnderLoad", testInvariantsUnderLoad},
	{"DeleteIf", testDeleteIf},
	{"Membership", testMembership},
	{"MemberIDDecidesType", testMemberIDDecidesType},
	{"GroupsOfAgreesWithGroups", testGroupsOf},
	{"HugeGroupDelete", testHugeGroupDelete},
	{"PagingInCreationOrder", testPaging},
	{"Sort", testSort},
	{"Filters", testFilters},
	{"Seek", testSeek},
	{"Journal", testJournal},
	{"JournalGapFreeUnderConcurrency", testJournalConcurrency},
	{"DeliveryState", testDeliveryState},
	{"DeadLetters", testDeadLetters},
	{"Append", testAppend},
	{"TenantIsolation", testIsolation},
	{"Tokens", testTokens},
	{"Clients", testClients},
	{"TenantRecords", testTenantRecords},
	{"PurgeTenant", testPurge},
	{"Raw", testRaw},
	{"SurvivesReopen", testReopen},
}

// Run runs the conformance suite against the engines open returns, each
// test on a fresh, empty store, with the default Options.
func Run(t *testing.T, open func(t *testing.T) Engine) {
	t.Helper()
	RunWith(t, Options{}, open)
}

// RunWith runs the conformance suite with opts.
func RunWith(t *testing.T, opts Options, open func(t *testing.T) Engine) {
	t.Helper()
	s := &suite{open: open, opts: opts.withDefaults()}
	for _, c := range conformance {
		t.Run(c.name, func(t *testing.T) { c.run(t, s) })
	}
}
