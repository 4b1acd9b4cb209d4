package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

func TestRankedMatchesSortedSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	cmp := func(a, b int) int { return a - b }
	for _, tc := range []struct {
		name    string
		initial int
		ops     int
		keys    int
	}{
		{"empty start, random", 0, 20000, 3000},
		{"built, appends and removals", 5000, 20000, 1 << 30},
		{"built, dense churn", 3000, 30000, 4000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var model []int
			for len(model) < tc.initial {
				model = append(model, len(model)*2)
			}
			r := newRanked(slices.Clone(model), cmp)
			for i := 0; i < tc.ops; i++ {
				v := rng.IntN(tc.keys)
				if tc.keys == 1<<30 && rng.IntN(2) == 0 {
					v = tc.keys + i // appending
				}
				pos, found := slices.BinarySearch(model, v)
				if rng.IntN(3) == 0 && len(model) > 0 {
					v = model[rng.IntN(len(model))]
					pos, found = slices.BinarySearch(model, v)
				}
				if found {
					if !r.remove(v) {
						t.Fatalf("remove %d: not found", v)
					}
					model = slices.Delete(model, pos, pos+1)
				} else {
					if !r.insert(v) {
						t.Fatalf("insert %d: already there", v)
					}
					model = slices.Insert(model, pos, v)
				}
				if r.n != len(model) {
					t.Fatalf("n = %d, want %d", r.n, len(model))
				}
				if i%997 == 0 {
					if got := r.all(); !slices.Equal(got, model) {
						t.Fatalf("after %d ops the list differs from the model", i)
					}
					for _, c := range r.chunks {
						if len(c) == 0 || len(c) > chunkMax {
							t.Fatalf("chunk of %d entries", len(c))
						}
					}
					from := rng.IntN(len(model) + 1)
					to := from + rng.IntN(700)
					if got, want := r.window(from, to), model[from:min(to, len(model))]; !slices.Equal(got, want) && len(want) > 0 {
						t.Fatalf("window(%d, %d) differs", from, to)
					}
				}
			}
			if len(model) > 0 && len(r.chunks) > 4*len(model)/chunkMax+2 {
				t.Errorf("%d chunks for %d entries", len(r.chunks), len(model))
			}
		})
	}
}

// scanList answers q as List does without position indexes: the store's
// answer before them, which position indexes must reproduce.
func scanList(t *testing.T, s *Badger, tn string, rt *schema.ResourceType, q Query) *Page {
	t.Helper()
	typ, err := typeByte(rt)
	if err != nil {
		t.Fatal(err)
	}
	start, count := max(q.StartIndex, 1), max(q.Count, 0)
	page := &Page{Resources: []map[string]any{}}
	err = s.db.View(func(txn *badger.Txn) error {
		if q.SortBy == nil {
			return s.plainPage(txn, tn, typ, start, count, page)
		}
		p, err := SelectPage(context.Background(), &badgerSource{s: s, txn: txn, tenant: tn, typ: typ}, rt, q)
		if err == nil {
			page = p
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return page
}

func pageIDs(p *Page) []string {
	ids := make([]string, len(p.Resources))
	for i, r := range p.Resources {
		ids[i] = r["id"].(string)
	}
	return ids
}

// orderQueries are the orders position indexes answer, as queries.
func orderQueries(rt *schema.ResourceType) map[string]Query {
	attr := "userName"
	if rt == schema.Group {
		attr = "displayName"
	}
	return map[string]Query{
		"id":        {},
		"name":      {SortBy: &filter.Path{Attr: attr}},
		"name-urn":  {SortBy: &filter.Path{URN: rt.Schema.ID, Attr: strings.ToUpper(attr)}},
		"name-desc": {SortBy: &filter.Path{Attr: attr}, Descending: true},
	}
}

// checkWindows compares random pages of every order with the whole list
// as the store read it before position indexes.
func checkWindows(t *testing.T, s *Badger, tn string, rt *schema.ResourceType, rng *rand.Rand, n int) {
	t.Helper()
	for name, q := range orderQueries(rt) {
		all := q
		all.Count = 1 << 20
		want := pageIDs(scanList(t, s, tn, rt, all))
		for i := 0; i < n; i++ {
			q := q
			q.Count = []int{1, 7, 100, 600}[rng.IntN(4)]
			switch rng.IntN(4) {
			case 0:
				q.StartIndex = chunkMax - rng.IntN(3)
			case 1:
				q.StartIndex = max(len(want)-q.Count+1, 1)
			default:
				q.StartIndex = 1 + rng.IntN(len(want)+3)
			}
			p, err := s.List(context.Background(), tn, rt, q)
			if err != nil {
				t.Fatal(err)
			}
			from := min(q.StartIndex-1, len(want))
			w := want[from:min(from+q.Count, len(want))]
			if got := pageIDs(p); p.Total != len(want) || !slices.Equal(got, w) {
				t.Fatalf("%s %s page at %d count %d: total %d, %d resources; want total %d, %d resources (first differs at %d)",
					rt.Name, name, q.StartIndex, q.Count, p.Total, len(got), len(want), len(w), firstDiff(got, w))
			}
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// names that fold in ways plain byte order does not follow.
var namePrefixes = []string{"alice", "Alice", "BOB", "bob.", "Émile", "emile", "zoë", "ZOË", "_x", "Straße", "ｆｕｌｌ", "k"}

func randomName(rng *rand.Rand) string {
	return fmt.Sprintf("%s%d", namePrefixes[rng.IntN(len(namePrefixes))], rng.IntN(1_000_000))
}

func TestPositionPagesMatchScan(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	ids := map[*schema.ResourceType][]string{}
	create := func(rt *schema.ResourceType) {
		attr := "userName"
		if rt == schema.Group {
			attr = "displayName"
		}
		out, err := s.Create(ctx, tenant, rt, map[string]any{attr: randomName(rng)}, nil)
		if err == nil {
			ids[rt] = append(ids[rt], out.Resource["id"].(string))
		}
	}
	for i := 0; i < 600; i++ {
		create(schema.User)
		create(schema.Group)
	}
	for round := 0; round < 4; round++ {
		for _, rt := range []*schema.ResourceType{schema.User, schema.Group} {
			checkWindows(t, s, tenant, rt, rng, 15)
		}
		for i := 0; i < 150; i++ {
			rt := []*schema.ResourceType{schema.User, schema.Group}[rng.IntN(2)]
			attr := "userName"
			if rt == schema.Group {
				attr = "displayName"
			}
			switch rng.IntN(3) {
			case 0:
				create(rt)
			case 1:
				k := rng.IntN(len(ids[rt]))
				if err := s.Delete(ctx, tenant, rt, ids[rt][k]); err != nil {
					t.Fatal(err)
				}
				ids[rt] = slices.Delete(ids[rt], k, k+1)
			default:
				id := ids[rt][rng.IntN(len(ids[rt]))]
				if _, err := s.Update(ctx, tenant, rt, id, set(attr, randomName(rng))); err != nil && !isStatus(err, http.StatusConflict) {
					t.Fatal(err)
				}
			}
		}
	}
	for _, typ := range []byte{tUser, tGroup} {
		st := s.pos.lookup(tenant, typ)
		if st == nil || st.byID == nil || st.byName == nil {
			t.Fatalf("type %c: position indexes were not built", typ)
		}
	}
	if n := s.pos.fallbacks.Load(); n != 0 {
		t.Errorf("%d pages fell back without concurrent writes", n)
	}
}

func isStatus(err error, status int) bool {
	e, ok := scimerr.As(err)
	return ok && e.Status == status
}

// TestPositionNameOrderTies: names that collide under the identifier rule
// (kept from a store built with an older rule) sort as equals, by id in
// both directions, as the sort over decoded resources orders them.
func TestPositionNameOrderTies(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	for i := 0; i < 300; i++ {
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("a%04d", i)))
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("z%04d", i)))
	}
	mustCreate(t, s, tenant, schema.User, user("strasse"))
	mustCreate(t, s, tenant, schema.User, user("kelvin"))
	for _, name := range []string{"STRA\u00dfE", "stra\u017f\u017fe", "\u212aELVIN", "\u212aelvin"} {
		id := mustCreate(t, s, tenant, schema.User, user("tmp-"+name))["id"].(string)
		legacyRename(t, s, id, name)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	defer s.Close()
	if !s.hasCollisions.Load() {
		t.Fatal("no collisions to test ties with")
	}
	for name, q := range orderQueries(schema.User) {
		if q.SortBy == nil {
			continue
		}
		all := q
		all.Count = 1 << 20
		want := pageIDs(scanList(t, s, tenant, schema.User, all))
		for start := 1; start <= len(want); start++ {
			q.StartIndex, q.Count = start, 3
			p, err := s.List(context.Background(), tenant, schema.User, q)
			if err != nil {
				t.Fatal(err)
			}
			if got, w := pageIDs(p), want[start-1:min(start+2, len(want))]; !slices.Equal(got, w) {
				t.Fatalf("%s page at %d: %v, want %v", name, start, got, w)
			}
		}
	}
	if st := s.pos.lookup(tenant, tUser); st == nil || st.byName == nil {
		t.Fatal("name order was not built")
	}
}

// TestPositionPagesUnderConcurrentWrites pages continuously while users
// and groups are created, deleted and renamed, and writes fail, checking
// every page on its own: no duplicates, the right order, as many
// resources as the snapshot's total leaves for the page, and nothing from
// a write that failed.
func TestPositionPagesUnderConcurrentWrites(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	var mu sync.Mutex
	ids := map[*schema.ResourceType][]string{}
	for i := 0; i < 700; i++ {
		ids[schema.User] = append(ids[schema.User], mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("user%04d", i)))["id"].(string))
	}
	for i := 0; i < 560; i++ {
		ids[schema.Group] = append(ids[schema.Group], mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": fmt.Sprintf("Group %04d", i)})["id"].(string))
	}
	pick := func(rng *rand.Rand, rt *schema.ResourceType) string {
		mu.Lock()
		defer mu.Unlock()
		return ids[rt][rng.IntN(len(ids[rt]))]
	}
	var stop atomic.Bool
	var writers, readers sync.WaitGroup
	var pages atomic.Int64
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	writer := func(seed uint64, op func(rng *rand.Rand, i int) error) {
		writers.Add(1)
		go func() {
			defer writers.Done()
			rng := rand.New(rand.NewPCG(seed, seed))
			for i := 0; i < 120; i++ {
				if err := op(rng, i); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	for w := range 2 {
		writer(uint64(10+w), func(rng *rand.Rand, i int) error {
			rt := []*schema.ResourceType{schema.User, schema.Group}[rng.IntN(2)]
			attr := map[*schema.ResourceType]string{schema.User: "userName", schema.Group: "displayName"}[rt]
			switch rng.IntN(4) {
			case 0:
				out, err := s.Create(ctx, tenant, rt, map[string]any{attr: randomName(rng)}, nil)
				if err != nil {
					return nil // a name taken twice
				}
				mu.Lock()
				ids[rt] = append(ids[rt], out.Resource["id"].(string))
				mu.Unlock()
			case 1:
				id := pick(rng, rt)
				err := s.Delete(ctx, tenant, rt, id)
				if err == nil {
					mu.Lock()
					if k := slices.Index(ids[rt], id); k >= 0 {
						ids[rt] = slices.Delete(ids[rt], k, k+1)
					}
					mu.Unlock()
				}
			default:
				_, _ = s.Update(ctx, tenant, rt, pick(rng, rt), set(attr, randomName(rng)))
			}
			return nil
		})
	}
	// Writes that fail: an update refused by its function, a delete
	// refused by its precondition and a rename to a taken name.
	writer(20, func(rng *rand.Rand, i int) error {
		refuse := errors.New("refused")
		if _, err := s.Update(ctx, tenant, schema.User, pick(rng, schema.User), func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
			cur["userName"] = fmt.Sprintf("fail-%d", i)
			return cur, nil, refuse
		}); !errors.Is(err, refuse) && !isStatus(err, http.StatusNotFound) {
			// 404: another writer deleted the picked user meanwhile.
			return fmt.Errorf("refused update: %v", err)
		}
		if err := s.DeleteIf(ctx, tenant, schema.User, pick(rng, schema.User), func(map[string]any) error { return refuse }); err != nil && !errors.Is(err, refuse) && !isStatus(err, http.StatusNotFound) {
			return fmt.Errorf("refused delete: %v", err)
		}
		_, _ = s.Update(ctx, tenant, schema.User, pick(rng, schema.User), set("userName", "user0001"))
		return nil
	})
	reader := func(seed uint64) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(seed, seed))
			for !stop.Load() {
				rt := []*schema.ResourceType{schema.User, schema.Group}[rng.IntN(2)]
				qs := orderQueries(rt)
				name := []string{"id", "name", "name-desc"}[rng.IntN(3)]
				q := qs[name]
				q.Count = 1 + rng.IntN(120)
				q.StartIndex = chunkMax - 50 + rng.IntN(200)
				p, err := s.List(ctx, tenant, rt, q)
				if err != nil {
					fail(err)
					return
				}
				if err := checkPage(rt, name, q, p); err != nil {
					fail(err)
					return
				}
				pages.Add(1)
			}
		}()
	}
	reader(30)
	reader(31)
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d pages checked, %d answered without the index while writes were pending", pages.Load(), s.pos.fallbacks.Load())
	rng := rand.New(rand.NewPCG(3, 3))
	checkWindows(t, s, tenant, schema.User, rng, 10)
	checkWindows(t, s, tenant, schema.Group, rng, 10)
}

// checkPage checks one page of a list on its own.
func checkPage(rt *schema.ResourceType, order string, q Query, p *Page) error {
	attr := map[*schema.ResourceType]string{schema.User: "userName", schema.Group: "displayName"}[rt]
	want := min(max(p.Total-q.StartIndex+1, 0), q.Count)
	if len(p.Resources) != want {
		return fmt.Errorf("%s %s page at %d count %d of %d: %d resources, want %d", rt.Name, order, q.StartIndex, q.Count, p.Total, len(p.Resources), want)
	}
	seenID, seenName := map[string]bool{}, map[string]bool{}
	for i, r := range p.Resources {
		id, name := r["id"].(string), r[attr].(string)
		if strings.HasPrefix(name, "fail-") {
			return fmt.Errorf("%s %q from a failed write is listed", rt.Name, name)
		}
		if seenID[id] || seenName[fold(name)] {
			return fmt.Errorf("%s %s page lists %s %q twice", rt.Name, order, id, name)
		}
		seenID[id], seenName[fold(name)] = true, true
		if i == 0 {
			continue
		}
		prev := p.Resources[i-1]
		pid, pname := prev["id"].(string), prev[attr].(string)
		var ok bool
		switch order {
		case "id":
			ok = idLess(pid, id)
		case "name":
			ok = fold(pname) < fold(name) || (fold(pname) == fold(name) && pid < id)
		case "name-desc":
			ok = fold(pname) > fold(name) || (fold(pname) == fold(name) && pid < id)
		}
		if !ok {
			return fmt.Errorf("%s %s page out of order at %d: %q (%s) then %q (%s)", rt.Name, order, i, pname, pid, name, id)
		}
	}
	return nil
}

func TestPositionIndexesStayWithinTheirBound(t *testing.T) {
	s, err := Open(Options{InMemory: true, PositionIndexEntries: 1500})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, tn := range []string{"a", "b", "c", "big"} {
		n := 600
		if tn == "big" {
			n = 1600
		}
		for i := 0; i < n; i++ {
			mustCreate(t, s, tn, schema.User, user(fmt.Sprintf("u%d", i)))
		}
	}
	deep := Query{StartIndex: 550, Count: 20}
	built := func(tn string) bool {
		st := s.pos.lookup(tn, tUser)
		if st == nil {
			return false
		}
		st.mu.RLock()
		defer st.mu.RUnlock()
		return st.byID != nil
	}
	for _, tc := range []struct {
		page  string
		built []string
		gone  []string
	}{
		{"a", []string{"a"}, nil},
		{"b", []string{"a", "b"}, nil},
		{"c", []string{"b", "c"}, []string{"a"}},
		{"a", []string{"c", "a"}, []string{"b"}},
		{"big", []string{"c", "a"}, []string{"b", "big"}},
	} {
		t.Run("page "+tc.page, func(t *testing.T) {
			p, err := s.List(ctx, tc.page, schema.User, deep)
			if err != nil {
				t.Fatal(err)
			}
			if want := pageIDs(scanList(t, s, tc.page, schema.User, deep)); !slices.Equal(pageIDs(p), want) {
				t.Fatal("page differs from the scan")
			}
			for _, tn := range tc.built {
				if !built(tn) {
					t.Errorf("tenant %s: no index", tn)
				}
			}
			for _, tn := range tc.gone {
				if built(tn) {
					t.Errorf("tenant %s: index kept", tn)
				}
			}
			if n := s.pos.total.Load(); n > 1500 {
				t.Errorf("%d entries held", n)
			}
		})
	}
}

func TestSmallTenantsBuildNoPositionIndex(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	for tn := range 20 {
		name := fmt.Sprint("t", tn)
		for i := 0; i < 60; i++ {
			mustCreate(t, s, name, schema.User, user(fmt.Sprint("u", i)))
		}
		for _, q := range orderQueries(schema.User) {
			q.StartIndex, q.Count = 41, 100
			if p, err := s.List(ctx, name, schema.User, q); err != nil || len(p.Resources) != 20 {
				t.Fatalf("page: %v", err)
			}
		}
	}
	if len(s.pos.states) != 0 || s.pos.total.Load() != 0 {
		t.Fatalf("%d states, %d entries for small tenants", len(s.pos.states), s.pos.total.Load())
	}
}

func TestPurgeDropsPositionIndexes(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	for i := 0; i < 600; i++ {
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprint("u", i)))
	}
	q := Query{StartIndex: 590, Count: 20}
	if p := list(t, s, schema.User, q); len(p.Resources) != 11 || s.pos.total.Load() != 600 {
		t.Fatalf("%d resources, %d entries", len(p.Resources), s.pos.total.Load())
	}
	if err := s.PurgeTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	if s.pos.lookup(tenant, tUser) != nil || s.pos.total.Load() != 0 {
		t.Fatal("the purged tenant's index is kept")
	}
	for i := 0; i < 600; i++ {
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprint("v", i)))
	}
	if p := list(t, s, schema.User, q); len(p.Resources) != 11 || p.Resources[0]["userName"] != "v589" {
		t.Fatalf("page after purge: %d resources", len(p.Resources))
	}
}

func TestPackID(t *testing.T) {
	u := uuid.Must(uuid.NewV7())
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{u.String(), true},
		{strings.ToUpper(u.String()), false},
		{"urn:uuid:" + u.String(), false},
		{"u1", false},
		{"", false},
	} {
		if got, ok := packID(tc.id); ok != tc.ok || (ok && got.String() != tc.id) {
			t.Errorf("packID(%q) = %v, %v", tc.id, got, ok)
		}
	}
}

// TestPositionReadersNeverSeeAnUnappliedCommit holds a committed create
// back from the index, as between a commit and its apply: readers must
// not answer from the index while the snapshot has the resource and the
// index does not, and answer from it again once applied. A change marked
// by a write that then fails leaves nothing pending.
func TestPositionReadersNeverSeeAnUnappliedCommit(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	for i := 0; i < 600; i++ {
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("u%04d", i)))
	}
	queries := orderQueries(schema.User)
	check := func(wantFallbacks int64) {
		t.Helper()
		before := s.pos.fallbacks.Load()
		for _, name := range []string{"id", "name", "name-desc"} {
			q := queries[name]
			q.StartIndex, q.Count = 1, 700
			if name == "id" {
				q.StartIndex, q.Count = 520, 100
			}
			got, want := list(t, s, schema.User, q), scanList(t, s, tenant, schema.User, q)
			if got.Total != want.Total || !slices.Equal(pageIDs(got), pageIDs(want)) {
				t.Fatalf("%s page differs from the snapshot", name)
			}
		}
		if n := s.pos.fallbacks.Load() - before; n != wantFallbacks {
			t.Fatalf("%d pages answered without the index, want %d", n, wantFallbacks)
		}
	}
	check(0)

	id := uuid.Must(uuid.NewV7()).String()
	res := user("a-first", "id", id)
	held := &writer{tenant: tenant}
	var pm posMark
	if err := s.write(ctx, tenant, func(w *writer) error {
		if err := w.indexChanges(tUser, schema.User, id, nil, res); err != nil {
			return err
		}
		if err := w.setRecord(resourceKey(tenant, tUser, id), res); err != nil {
			return err
		}
		s.pos.track(held, &pm, tUser, id, nil, res)
		return w.addCount(tUser, 1)
	}); err != nil {
		t.Fatal(err)
	}
	check(3)
	for _, f := range held.after {
		f()
	}
	s.pos.settle(&pm)
	check(0)

	var failed posMark
	s.pos.track(&writer{tenant: tenant}, &failed, tUser, "0190a0a0-0000-7000-8000-000000000000", nil, user("b"))
	check(0)
	s.pos.settle(&failed)
	st := s.pos.lookup(tenant, tUser)
	if len(st.pending) != 0 || len(st.held) != 0 {
		t.Fatalf("pending %v after the failed write", st.pending)
	}
	check(0)
}

// TestPagesWaitForTheBuildUnderWay: many first deep pages at once share
// one build of the position index; none of them walks to its startIndex
// meanwhile (at a million resources such walks took seconds each).
func TestPagesWaitForTheBuildUnderWay(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	const n = 30000
	for i := 0; i < n; i++ {
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("w%05d", i)))
	}
	const readers = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, readers)
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			<-start
			page, err := s.List(ctx, tenant, schema.User, Query{StartIndex: n - 100*r - 99, Count: 100})
			if err == nil && (page.Total != n || len(page.Resources) != 100) {
				err = fmt.Errorf("page of %d, total %d", len(page.Resources), page.Total)
			}
			errs <- err
		}(r)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if walked := s.pos.unbuilt.Load(); walked != 0 {
		t.Fatalf("%d of %d pages walked to their startIndex instead of waiting for the build", walked, readers)
	}
}
