package sdktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// check is one conformance check. It takes a testing.TB so that the
// harness's own tests can run it against broken backends.
type check struct {
	name Check
	run  func(t testing.TB, h *harness)
}

// checks are Run's subtests, in order.
var checks = []check{
	{Describe, checkDescribe},
	{Configure, checkConfigure},
	{Idempotency, checkIdempotency},
	{Ordering, checkOrdering},
	{Restart, checkRestart},
	{RequiredAttributes, checkRequiredAttributes},
	{ErrorTyping, checkErrorTyping},
	{Tenants, checkTenants},
}

// stalePrefix is how many of SampleChanges the checks re-send after all of
// them were applied. Applying them again would bring back the deleted
// user and a removed group member and undo a rename, so a backend that
// does not skip them shows a different store.
const stalePrefix = 5

func checkDescribe(t testing.TB, h *harness) {
	inst := h.start(t, t.TempDir())
	desc := describe(t, inst)
	if desc.Name == "" {
		t.Errorf("Describe returned no Name; the host names the backend with it in logs and in the operator's views")
	}
	if desc.Version == "" {
		t.Errorf("Describe returned no Version; operators need it to tell which build of the backend runs")
	}
	for i, path := range desc.RequiredUserAttributes {
		if strings.TrimSpace(path) == "" {
			t.Errorf("Describe's RequiredUserAttributes[%d] is empty; each must be a SCIM attribute path such as \"emails\"", i)
		}
	}
	for i, s := range desc.Settings {
		if s.Name == "" {
			t.Errorf("Describe's Settings[%d] has no Name; it is the setting's key in the settings object", i)
		}
	}
	for i, a := range desc.Actions {
		if a.Name == "" {
			t.Errorf("Describe's Actions[%d] has no Name; operators run an action by its name", i)
		}
	}
}

func checkConfigure(t testing.TB, h *harness) {
	// start fails the check when Configure refuses the settings.
	h.start(t, t.TempDir())
}

func checkIdempotency(t testing.TB, h *harness) {
	changes := SampleChanges(tenant)
	inst := h.start(t, t.TempDir())
	inst.applyExpecting(t, changes, "applying the sample changes")
	var first string
	if inst.inspects(t) {
		first = inst.inspect(t)
	}
	resend := []struct {
		what    string
		changes []sdk.Change
	}{
		{"applying the same changes again", changes},
		{"re-sending the first changes, already applied", changes[:stalePrefix]},
	}
	for _, r := range resend {
		inst.applyExpecting(t, r.changes, r.what)
		if !inst.inspects(t) {
			continue
		}
		if again := inst.inspect(t); again != first {
			t.Errorf("%s (Seq %s) changed the product store; "+
				"Apply must skip every change whose Seq is at or below the last one it applied, "+
				"because the host re-sends changes after a crash or a lost answer.\n%s",
				r.what, seqRange(r.changes), diff("after the first Apply", first, "after "+r.what, again))
		}
	}
	requireInspector(t, inst, Idempotency, "that applying changes again changes nothing")
}

func checkOrdering(t testing.TB, h *harness) {
	changes := SampleChanges(tenant)
	n := len(changes)
	layouts := []struct {
		name    string
		batches [][]sdk.Change
	}{
		{"in one batch", [][]sdk.Change{changes}},
		{"in batches of one", chunks(changes, 1)},
		{"in overlapping batches (Seq 1-5, 3-9, 7-end)", [][]sdk.Change{changes[0:5], changes[2:9], changes[6:n]}},
	}
	var stores []string
	for _, l := range layouts {
		inst := h.start(t, t.TempDir())
		for _, batch := range l.batches {
			inst.applyExpecting(t, batch, "applying the sample changes "+l.name)
		}
		if inst.inspects(t) {
			stores = append(stores, inst.inspect(t))
		}
	}
	if len(stores) < len(layouts) {
		t.Fatal(noInspector(Ordering, "that batching does not change the outcome"))
	}
	for i := 1; i < len(layouts); i++ {
		if stores[i] != stores[0] {
			t.Errorf("applying the sample changes %s gave a different product store than applying them %s; "+
				"the outcome must depend only on the changes and their order, not on how the host batches them "+
				"(a batch can start with changes already applied).\n%s",
				layouts[i].name, layouts[0].name, diff(layouts[0].name, stores[0], layouts[i].name, stores[i]))
		}
	}
}

func checkRestart(t testing.TB, h *harness) {
	changes := SampleChanges(tenant)
	dir := t.TempDir()
	first := h.start(t, dir)
	first.applyExpecting(t, changes, "applying the sample changes")
	var written string
	if first.inspects(t) {
		written = first.inspect(t)
	}
	first.close()

	second := h.start(t, dir)
	var before string
	if second.inspects(t) {
		before = second.inspect(t)
		if before != written {
			t.Errorf("a new instance configured with the same DataDir shows a different product store than the instance that wrote it; "+
				"the backend must keep its store in DataDir, because the host restarts plugins.\n%s",
				diff("written by the first instance", written, "seen by the second", before))
		}
	}
	resend := []struct {
		what    string
		changes []sdk.Change
	}{
		{"re-sending the first changes, already applied", changes[:stalePrefix]},
		{"re-sending every change", changes},
	}
	for _, r := range resend {
		second.applyExpecting(t, r.changes, "after a restart, "+r.what)
		if !second.inspects(t) {
			continue
		}
		if after := second.inspect(t); after != before {
			t.Errorf("after a restart on the same DataDir, %s (Seq %s) applied them again; "+
				"the Seq of the last applied change must be kept in DataDir with the store, "+
				"because after a crash the host re-sends what it has no answer for.\n%s",
				r.what, seqRange(r.changes), diff("after the restart", before, "after "+r.what, after))
		}
	}
	requireInspector(t, second, Restart, "that a restarted backend keeps its store and skips changes it applied before")
}

func checkRequiredAttributes(t testing.TB, h *harness) {
	desc := describe(t, h.start(t, t.TempDir()))
	if len(desc.RequiredUserAttributes) == 0 {
		t.Log("nothing to check: the backend declares no RequiredUserAttributes")
		return
	}
	for _, path := range desc.RequiredUserAttributes {
		subtest(t, path, func(t testing.TB) { checkRequiredAttribute(t, h, path) })
	}
}

// checkRequiredAttribute checks one required attribute path with the batch
// [valid user (Seq 1), user lacking path (Seq 2), valid user (Seq 3)].
func checkRequiredAttribute(t testing.TB, h *harness, path string) {
	sample := SampleChanges(tenant)
	valid := sample[0]
	lacking := sdk.Change{
		Seq:    2,
		Tenant: tenant,
		Time:   valid.Time.Add(time.Minute),
		Kind:   sdk.UserCreated,
		User:   withoutAttribute(sampleUser(erinID, "erin.brown", "Erin", "Brown", "Product Manager", "1005", aliceID), path),
	}
	after := sample[1]
	after.Seq, after.Time = 3, valid.Time.Add(2*time.Minute)
	batch := []sdk.Change{valid, lacking, after}

	inst := h.start(t, t.TempDir())
	ctx, cancel := callContext(t)
	defer cancel()
	resp, err := inst.client.Apply(ctx, &sdk.ApplyRequest{Tenant: tenant, Changes: batch})
	switch {
	case err == nil:
		t.Fatalf("Apply accepted a user.created change whose user has no %q, which Describe declares required; "+
			"it must fail with sdk.Invalid so the host dead-letters the change for the operator", path)
	case !sdk.IsInvalid(err):
		t.Errorf("Apply refused a user.created change whose user has no %q with an error that is not sdk.Invalid (%v); "+
			"the host retries other errors forever, and a missing value never appears by itself", path, err)
	}
	switch {
	case resp == nil:
		t.Errorf("Apply returned no ApplyResponse with its error about Seq 2; return AppliedThrough 1 with the error " +
			"(sdk.ApplyEach does), so the host knows Seq 1 was applied")
	case resp.AppliedThrough != 1:
		t.Errorf("Apply failed on Seq 2 (the user without %q) but reported AppliedThrough %d, want 1, the Seq before it", path, resp.AppliedThrough)
	}
	requireInspector(t, inst, RequiredAttributes, "that the changes after the refused one were not applied")
	ref := h.start(t, t.TempDir())
	ref.applyExpecting(t, batch[:1], "applying the first change alone")
	if got, want := inst.inspect(t), ref.inspect(t); got != want {
		t.Errorf("after Apply failed on Seq 2 (the user without %q), the product store is not that of Seq 1 alone; "+
			"Apply must stop at the first failing change and apply nothing after it.\n%s",
			path, diff("Seq 1 alone", want, "after the failed batch", got))
	}
}

func checkErrorTyping(t testing.TB, h *harness) {
	subtest(t, "change without a user", func(t testing.TB) {
		inst := h.start(t, t.TempDir())
		ctx, cancel := callContext(t)
		defer cancel()
		malformed := sdk.Change{Seq: 1, Tenant: tenant, Time: sampleEpoch, Kind: sdk.UserCreated}
		resp, err := inst.client.Apply(ctx, &sdk.ApplyRequest{Tenant: tenant, Changes: []sdk.Change{malformed}})
		var typed *sdk.Error
		switch {
		case err == nil:
			t.Errorf("Apply accepted a user.created change that has no user; a change that can never be applied " +
				"must fail with sdk.Invalid, not be dropped silently")
		case !errors.As(err, &typed):
			t.Errorf("Apply's error did not come back as an *sdk.Error across gRPC: %v", err)
		case typed.Kind != sdk.KindInvalid:
			t.Errorf("Apply refused a user.created change that has no user with an error that is not sdk.Invalid (%v); "+
				"the host retries other errors forever instead of dead-lettering the change", err)
		}
		if err != nil && resp != nil && resp.AppliedThrough != 0 {
			t.Errorf("Apply failed on the batch's only change but reported AppliedThrough %d, want 0", resp.AppliedThrough)
		}
	})
	subtest(t, "missing required setting", func(t testing.TB) {
		desc := describe(t, h.start(t, t.TempDir()))
		var settings map[string]json.RawMessage
		if err := json.Unmarshal(h.opts.Settings, &settings); err != nil || settings == nil {
			t.Log("nothing to check: Options.Settings is not a JSON object, so the harness cannot leave a setting out")
			return
		}
		tested := false
		for _, s := range desc.Settings {
			if !s.Required || settings[s.Name] == nil {
				continue
			}
			tested = true
			without := maps.Clone(settings)
			delete(without, s.Name)
			raw, err := json.Marshal(without)
			if err != nil {
				t.Fatalf("encoding settings: %v", err)
			}
			// The directory is made first so that it is removed after the
			// backend is closed.
			dir := t.TempDir()
			c := h.connect(t)
			ctx, cancel := callContext(t)
			_, err = c.client.Configure(ctx, &sdk.ConfigureRequest{Tenant: tenant, Settings: raw, DataDir: dir})
			cancel()
			switch {
			case err == nil:
				t.Errorf("Configure accepted settings without %q, which Describe declares required; "+
					"it must fail with sdk.Invalid naming the setting, so the operator learns what to add", s.Name)
			case !sdk.IsInvalid(err):
				t.Errorf("Configure refused settings without the required %q with an error that is not sdk.Invalid (%v); "+
					"the host would retry a configuration that can never work", s.Name, err)
			}
		}
		if !tested {
			t.Log("nothing to check: Describe declares no required setting that Options.Settings has")
		}
	})
}

// describe calls Describe and fails the test on an error.
func describe(t testing.TB, inst *instance) *sdk.DescribeResponse {
	t.Helper()
	ctx, cancel := callContext(t)
	defer cancel()
	desc, err := inst.client.Describe(ctx, &sdk.DescribeRequest{})
	if err != nil {
		t.Fatalf("Describe failed: %v", err)
	}
	return desc
}

// subtest runs fn as a named subtest when t can have subtests, and
// directly otherwise.
func subtest(t testing.TB, name string, fn func(t testing.TB)) {
	if tt, ok := t.(*testing.T); ok {
		tt.Run(name, func(t *testing.T) { fn(t) })
		return
	}
	fn(t)
}

// chunks splits changes into batches of size n.
func chunks(changes []sdk.Change, n int) [][]sdk.Change {
	return slices.Collect(slices.Chunk(changes, n))
}

// seqRange describes the Seqs of a batch, e.g. "3-9".
func seqRange(changes []sdk.Change) string {
	if len(changes) == 0 {
		return "(none)"
	}
	first, last := changes[0].Seq, changes[len(changes)-1].Seq
	if first == last {
		return fmt.Sprint(first)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

// canonicalJSON re-encodes raw indented, with object keys sorted, so that
// equal JSON values give equal strings.
func canonicalJSON(raw json.RawMessage) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// diff shows where two canonical JSON documents first differ, with a few
// lines of context.
func diff(nameA, a, nameB, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	i := 0
	for i < len(la) && i < len(lb) && la[i] == lb[i] {
		i++
	}
	excerpt := func(lines []string) string {
		from, to := max(i-3, 0), min(i+4, len(lines))
		var sb strings.Builder
		for j := from; j < to; j++ {
			marker := "  "
			if j == i {
				marker = "> "
			}
			fmt.Fprintf(&sb, "\t%s%s\n", marker, lines[j])
		}
		if to < len(lines) {
			sb.WriteString("\t  …\n")
		}
		return sb.String()
	}
	return fmt.Sprintf("first difference at line %d:\n%s:\n%s%s:\n%s", i+1, nameA, excerpt(la), nameB, excerpt(lb))
}
