package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// Result is a whole run.
type Result struct {
	Machine Machine  `json:"machine"`
	Binary  string   `json:"binary"`
	Args    []string `json:"args"`
	Backend string   `json:"backend"`
	// Storage is the engine: badger, or postgres with -postgres.
	Storage            string            `json:"storage"`
	DatabaseSettings   map[string]string `json:"database_settings,omitempty"`
	Workers            int               `json:"workers"`
	Duration           string            `json:"duration"`
	Mix                string            `json:"mix"`
	PreloadConcurrency int               `json:"preload_concurrency"`
	Sizes              []Size            `json:"sizes"`
	Baseline           *Baseline         `json:"baseline,omitempty"`
}

// Size is what was measured with one number of preloaded users.
type Size struct {
	Users          int     `json:"users"`
	UsersInStore   int     `json:"users_in_store"`
	Groups         int     `json:"groups"`
	PreloadSeconds float64 `json:"preload_seconds"`
	Mix            Phase   `json:"mix"`
	IndexedGET     Phase   `json:"indexed_get"`
	Writes         []Phase `json:"writes,omitempty"`
	RSSMiB         float64 `json:"rss_mib"`
	AnonMiB        float64 `json:"rss_anon_mib"`
	FileMiB        float64 `json:"rss_file_mib"`
	PeakMiB        float64 `json:"rss_peak_mib"`
	// DiskMiB is the store's size on disk: Badger's directory, or with
	// -postgres the PostgreSQL server's (data and write-ahead log).
	DiskMiB          float64   `json:"disk_mib"`
	DiskAllocatedMiB float64   `json:"disk_allocated_mib"`
	BigGroup         *BigGroup `json:"big_group,omitempty"`
}

// Baseline is bare Caddy answering a fixed body.
type Baseline struct {
	BodyBytes int   `json:"body_bytes"`
	Phase     Phase `json:"phase"`
}

func (r *Result) table(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s GiB, %s, Linux %s, load average at start %s\n", m.CPUs, m.CPUModel, m.MemGiB, m.Go, m.Kernel, m.LoadAvg)
	fmt.Fprintf(w, "storage %s, backend %s, %d workers, %s per phase, mix %s\n", r.Storage, r.Backend, r.Workers, r.Duration, r.Mix)

	fmt.Fprintln(w, "\nper size (after the mix phase):")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "users\tin store\tgroups\tpreload s\tRSS MiB\tanon MiB\tfile MiB\tpeak MiB\tdisk MiB\tdisk alloc MiB\t")
	for _, s := range r.Sizes {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", s.Users, s.UsersInStore, s.Groups, s.PreloadSeconds, s.RSSMiB, s.AnonMiB, s.FileMiB, s.PeakMiB, s.DiskMiB, s.DiskAllocatedMiB)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nper phase:")
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "users\tphase\treq/s\tnon-2xx\tserver CPU ms/req\tdatabase CPU ms/req\tserver cores\tdatabase cores\tclient cores\tmachine cores\tother cores\t")
	prow := func(users string, p Phase) {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%d\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", users, p.Name, p.PerSec, p.Non2xx(), p.ServerCPUms, p.DatabaseCPUms, p.ServerCores, p.DatabaseCores, p.ClientCores, p.MachineCores, p.others())
	}
	for _, s := range r.Sizes {
		prow(fmt.Sprint(s.Users), s.Mix)
		prow(fmt.Sprint(s.Users), s.IndexedGET)
		for _, p := range s.Writes {
			prow(fmt.Sprint(s.Users), p)
		}
	}
	if b := r.Baseline; b != nil {
		prow("-", b.Phase)
	}
	tw.Flush()
	fmt.Fprintln(w, "(database: the PostgreSQL server's processes with -postgres; other cores: the machine's busy time not spent by caddy, the database or this tool; more than a few hundredths means something else ran)")

	fmt.Fprintln(w, "\nper operation:")
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "users\tphase\top\trequests\treq/s\tp50 ms\tp99 ms\tmax ms\tnon-2xx\twrong\t")
	row := func(users, phase string, s OpStats) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%s\t%d\t\n", users, phase, s.Op, s.Requests, s.PerSec, s.P50ms, s.P99ms, s.Maxms, statuses(s.Non2xx), s.Wrong)
	}
	for _, s := range r.Sizes {
		u := fmt.Sprint(s.Users)
		for _, p := range append([]Phase{s.Mix, s.IndexedGET}, s.Writes...) {
			for _, o := range p.Ops {
				row(u, p.Name, o)
			}
		}
		if b := s.BigGroup; b != nil {
			row(u, "sequential", b.Big)
			row(u, "sequential", b.Small)
		}
	}
	if b := r.Baseline; b != nil {
		for _, o := range b.Phase.Ops {
			row("-", fmt.Sprintf("baseline %d B", b.BodyBytes), o)
		}
	}
	tw.Flush()

	if b := r.Baseline; b != nil && b.Phase.PerSec > 0 {
		fmt.Fprintln(w, "\nindexed GET (alone) against bare respond:")
		for _, s := range r.Sizes {
			g := s.IndexedGET
			if len(g.Ops) == 0 || len(b.Phase.Ops) == 0 {
				continue
			}
			fmt.Fprintf(w, "  %d users: %.2f× the req/s, %.2f× the p50, %.2f× the server CPU per request\n", s.Users,
				g.PerSec/b.Phase.PerSec, g.Ops[0].P50ms/b.Phase.Ops[0].P50ms, g.ServerCPUms/b.Phase.ServerCPUms)
		}
	}
	for _, s := range r.Sizes {
		if b := s.BigGroup; b != nil {
			fmt.Fprintf(w, "\nbig group: %d members loaded in %.1f s (PATCH adds of 1,000); %d after the adds\n", b.Members, b.LoadSeconds, b.MembersAfter)
		}
	}
}

// statuses renders non-2xx counts as "404×3 500×1", or "0".
func statuses(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
