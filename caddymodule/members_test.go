package caddymodule

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSkippedMembersWarning checks the tenant status warning for member
// ids that named nothing: none before any, then the count since start and
// the latest example, kept per tenant.
func TestSkippedMembersWarning(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	type rec struct {
		tenant, group string
		ids           []string
	}
	cases := []struct {
		name    string
		records []rec
		tenant  string
		want    []string
	}{
		{name: "nothing-skipped", tenant: "acme"},
		{name: "empty-list-is-nothing", records: []rec{{"acme", "g1", nil}}, tenant: "acme"},
		{name: "one", records: []rec{{"acme", "g1", []string{"ghost"}}}, tenant: "acme",
			want: []string{"referenced 1 group member id that names no user or group", "Latest: group g1, member ghost at 2026-03-01T09:30:00Z", "provisioning scope", "resets when Caddy restarts"}},
		{name: "counts-add-up-latest-wins", records: []rec{{"acme", "g1", []string{"a", "b"}}, {"acme", "g2", []string{"c"}}}, tenant: "acme",
			want: []string{"referenced 3 group member ids that name no user", "Latest: group g2, member c at 2026-03-01T09:31:00Z"}},
		{name: "other-tenant-unaffected", records: []rec{{"globex", "g1", []string{"a"}}}, tenant: "acme"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l skippedLog
			for i, r := range tc.records {
				l.record(r.tenant, r.group, r.ids, t0.Add(time.Duration(i)*time.Minute))
			}
			w := l.warning(tc.tenant)
			if tc.want == nil {
				if w != nil {
					t.Fatalf("warning %+v, want none", w)
				}
				return
			}
			if w == nil || w.Code != "unknown_members" {
				t.Fatalf("warning %+v, want code unknown_members", w)
			}
			for _, s := range tc.want {
				if !strings.Contains(w.Message, s) {
					t.Errorf("message %q lacks %q", w.Message, s)
				}
			}
		})
	}
}

// TestSkippedMembersHookCounts checks that the handler's hook counts the
// skipped ids in the metric, per tenant, and records them for the status.
func TestSkippedMembersHookCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{metrics: m, app: &App{shared: &shared{}}}
	h.skippedMembers(context.Background(), "acme", "g1", []string{"a", "b"})
	h.skippedMembers(context.Background(), "acme", "g2", []string{"c"})
	h.skippedMembers(context.Background(), "globex", "g3", []string{"d"})

	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "caddy_scim_skipped_members_total" {
			continue
		}
		for _, mm := range f.GetMetric() {
			for _, lp := range mm.GetLabel() {
				if lp.GetName() == "tenant" {
					got[lp.GetValue()] = mm.GetCounter().GetValue()
				}
			}
		}
	}
	if got["acme"] != 3 || got["globex"] != 1 {
		t.Errorf("caddy_scim_skipped_members_total = %v, want acme 3 and globex 1", got)
	}
	if s := h.app.shared.skipped.get("acme"); s == nil || s.Total != 3 || s.Group != "g2" || s.Member != "c" {
		t.Errorf("acme record = %+v", s)
	}
}
