package sdktest

import (
	"errors"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// The tenants of the tenants check. Their changes carry the same SCIM ids,
// as two IdPs' might.
const (
	tenantA = "conformance-a"
	tenantB = "conformance-b"
)

// tenantBChanges is how many of SampleChanges tenant B gets: its users,
// the group and the memberships up to Seq 7, so its store differs from
// A's, which got them all.
const tenantBChanges = 7

func checkTenants(t testing.TB, h *harness) {
	changes := map[string][]sdk.Change{
		tenantA: SampleChanges(tenantA),
		tenantB: SampleChanges(tenantB)[:tenantBChanges],
	}

	// What each tenant's store must show: that of a backend that served it
	// alone.
	alone := map[string]string{}
	for _, tenant := range []string{tenantA, tenantB} {
		dir := t.TempDir() // before the backend, so it is removed after the backend is closed
		ref := h.connect(t).configure(t, h, tenant, dir)
		requireInspector(t, ref, Tenants, "that each tenant sees only its own data")
		ref.applyExpecting(t, changes[tenant], "applying tenant "+tenant+"'s changes to a backend serving it alone")
		alone[tenant] = ref.inspect(t)
		ref.close()
	}
	dir := t.TempDir()
	empty := h.connect(t).configure(t, h, tenantB, dir).inspect(t)

	dirA, dirB := t.TempDir(), t.TempDir()
	c := h.connect(t)
	a := c.configure(t, h, tenantA, dirA)
	b := c.configure(t, h, tenantB, dirB)
	// Interleaved, as the host delivers tenants' changes.
	b.applyExpecting(t, changes[tenantB][:3], "applying tenant "+tenantB+"'s first changes")
	a.applyExpecting(t, changes[tenantA], "applying tenant "+tenantA+"'s changes")
	b.applyExpecting(t, changes[tenantB][3:], "applying tenant "+tenantB+"'s other changes")
	for _, inst := range []*instance{a, b} {
		if got := inst.inspect(t); got != alone[inst.tenant] {
			t.Errorf("with tenants %q and %q configured on one backend, each with its own DataDir and changes, "+
				"Inspect of %q shows a different store than a backend serving that tenant alone; "+
				"one process serves many tenants and must keep their data apart, by the Tenant of each request "+
				"(sdk.PerTenant does this for a backend written for one tenant).\n%s",
				tenantA, tenantB, inst.tenant, diff("served alone", alone[inst.tenant], "served with the other tenant", got))
		}
	}

	subtest(t, "purge", func(t testing.TB) {
		ctx, cancel := callContext(t)
		_, err := c.client.Purge(ctx, &sdk.PurgeRequest{Tenant: tenantB})
		cancel()
		switch {
		case errors.Is(err, sdk.ErrUnimplemented):
			t.Log("nothing to check: the backend does not implement sdk.Purger")
			return
		case err != nil:
			t.Fatalf("Purge of tenant %q failed: %v", tenantB, err)
		}
		if got := a.inspect(t); got != alone[tenantA] {
			t.Errorf("Purge of tenant %q changed the store of tenant %q; Purge must remove only its own tenant's data.\n%s",
				tenantB, tenantA, diff("before the purge", alone[tenantA], "after the purge", got))
		}
		if got, err := b.tryInspect(t); err == nil && got != empty {
			t.Errorf("after Purge of tenant %q, Inspect of it shows a store that is not empty; "+
				"Purge must delete the tenant's data and forget it (answering as for a tenant never configured is fine).\n%s",
				tenantB, diff("an empty store", empty, "after the purge", got))
		}
		// Configured again on the same directory, as a tenant created
		// anew with the same name would be, it starts empty.
		again := c.configure(t, h, tenantB, dirB)
		if got := again.inspect(t); got != empty {
			t.Errorf("tenant %q, purged and configured again on the same DataDir, shows old data; "+
				"Purge must delete everything the tenant had, its DataDir too.\n%s",
				tenantB, diff("an empty store", empty, "configured again", got))
		}
		again.applyExpecting(t, changes[tenantB], "applying tenant "+tenantB+"'s changes again after its purge")
		if got := again.inspect(t); got != alone[tenantB] {
			t.Errorf("tenant %q, purged, configured again and sent its changes from Seq 1, shows a different store "+
				"than a backend serving it alone; Purge must forget the last applied Seq with the data.\n%s",
				tenantB, diff("served alone", alone[tenantB], "after the purge", got))
		}
	})
}
