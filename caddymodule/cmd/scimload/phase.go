package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// always is a draw that picks o every time.
func always(o op) func(*rand.Rand) op { return func(*rand.Rand) op { return o } }

func opName(o op) string {
	if o == opRespond {
		return "respond"
	}
	return o.String()
}

// Phase is one measured interval.
type Phase struct {
	Name     string    `json:"name"`
	Seconds  float64   `json:"seconds"`
	Requests int       `json:"requests"`
	PerSec   float64   `json:"per_second"`
	Ops      []OpStats `json:"ops"`
	// ServerCPUms is the CPU time of caddy and its child processes per
	// request, in milliseconds; ServerCores that time over the phase, in
	// cores.
	ServerCPUms float64 `json:"server_cpu_ms_per_request"`
	ServerCores float64 `json:"server_cores"`
	// DatabaseCPUms and DatabaseCores are the same for the PostgreSQL
	// server, with -postgres.
	DatabaseCPUms float64 `json:"database_cpu_ms_per_request,omitempty"`
	DatabaseCores float64 `json:"database_cores,omitempty"`
	ClientCores   float64 `json:"client_cores"`
	MachineCores  float64 `json:"machine_busy_cores"`
	Processes     int     `json:"server_processes"`
}

// others is the machine's busy time, in cores, that neither the server nor
// the load generator used: other work on the machine during the phase.
func (p Phase) others() float64 {
	return round(max(0, p.MachineCores-p.ServerCores-p.DatabaseCores-p.ClientCores), 2)
}

// Non2xx is the sum of the phase's non-2xx answers and transport errors.
func (p Phase) Non2xx() int {
	n := 0
	for _, s := range p.Ops {
		for _, v := range s.Non2xx {
			n += v
		}
	}
	return n
}

// phase runs the workers for dur, each drawing its next operation with
// next and sending it with do, until the time is up or it finds nothing
// left to do.
func (r *runner) phase(ctx context.Context, pid int, name string, dur time.Duration, next func(*rand.Rand) op, do func(*worker, op)) Phase {
	say("%s: %d workers for %s", name, r.opt.workers, dur)
	ws := make([]*worker, r.opt.workers)
	for i := range ws {
		ws[i] = &worker{n: i, rng: rand.New(rand.NewPCG(r.opt.seed, uint64(i)<<8|uint64(len(name))))}
	}
	srv0, _, _ := treeTicks(pid)
	db0 := r.databaseTicks()
	cli0, busy0 := selfCPU(), busyTicks()
	t0 := time.Now()
	end := t0.Add(dur)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(end) && !w.exhausted {
				do(w, next(w.rng))
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	srv1, procs, _ := treeTicks(pid)
	db1 := r.databaseTicks()
	cli1, busy1 := selfCPU(), busyTicks()

	ph := Phase{Name: name, Seconds: round(wall.Seconds(), 2), Processes: procs}
	var all [numOps + 1]tally
	for _, w := range ws {
		for o := range all {
			all[o].merge(&w.tallies[o])
		}
	}
	for o := range all {
		if len(all[o].durs) > 0 {
			s := all[o].stats(opName(op(o)), wall)
			ph.Ops = append(ph.Ops, s)
			ph.Requests += s.Requests
		}
	}
	ph.PerSec = round(float64(ph.Requests)/wall.Seconds(), 1)
	serverSec := float64(srv1-srv0) / userHZ
	if ph.Requests > 0 {
		ph.ServerCPUms = round(serverSec*1000/float64(ph.Requests), 3)
	}
	ph.ServerCores = round(serverSec/wall.Seconds(), 2)
	if dbSec := float64(db1-db0) / userHZ; r.pg != nil && ph.Requests > 0 {
		ph.DatabaseCPUms = round(dbSec*1000/float64(ph.Requests), 3)
		ph.DatabaseCores = round(dbSec/wall.Seconds(), 2)
	}
	ph.ClientCores = round((cli1-cli0).Seconds()/wall.Seconds(), 2)
	ph.MachineCores = round(float64(busy1-busy0)/userHZ/wall.Seconds(), 2)
	say("%s: %.0f req/s, %d non-2xx, server %.2f cores, client %.2f cores", name, ph.PerSec, ph.Non2xx(), ph.ServerCores, ph.ClientCores)
	return ph
}

// totalUsers is the tenant's user count, from an empty page.
func totalUsers(ctx context.Context, c *scim) (int, error) {
	status, b, err := c.do(ctx, "GET", "/Users?count=0", nil)
	if err != nil || status != 200 {
		return 0, fmt.Errorf("GET /Users?count=0: %d %v %s", status, err, clip(b))
	}
	var lr struct {
		Total int `json:"totalResults"`
	}
	err = json.Unmarshal(b, &lr)
	return lr.Total, err
}

// BigGroup is the cost of adding one member to a group of Members
// members, against a group of usersPerGroup.
type BigGroup struct {
	Members int `json:"members"`
	// MembersAfter is the group's size read back after the adds.
	MembersAfter int     `json:"members_after"`
	LoadSeconds  float64 `json:"load_seconds"`
	Big          OpStats `json:"add_to_big"`
	Small        OpStats `json:"add_to_small"`
}

// bigGroup gives a new group every preloaded user as a member, creates
// -adds users outside it, and adds them one request at a time to it and
// then to the first 100-member group.
func (r *runner) bigGroup(ctx context.Context, c *scim, d *directory, n int) (*BigGroup, error) {
	bg := &BigGroup{Members: n}
	t0 := time.Now()
	say("big group: %d members", n)
	id, err := c.created(ctx, "/Groups", groupBody("Everyone "+strconv.Itoa(n)))
	if err != nil {
		return nil, err
	}
	for a := 0; a < n; a += 1000 {
		if err := c.ok2xx(ctx, "PATCH", "/Groups/"+id, addMembersBody(d.ids[a:min(n, a+1000)])); err != nil {
			return nil, err
		}
	}
	bg.LoadSeconds = round(time.Since(t0).Seconds(), 1)
	say("big group loaded in %.1f s; creating %d more users", bg.LoadSeconds, r.opt.adds)
	extra := make([]string, r.opt.adds)
	err = forEach(0, len(extra), r.opt.preload, func(i int) error {
		p := newPerson(fmt.Sprintf("joiner%d-%d", n, i), i)
		var err error
		extra[i], err = c.created(ctx, "/Users", createBody(p))
		return err
	})
	if err != nil {
		return nil, err
	}
	measure := func(group, name string) OpStats {
		var t tally
		t0 := time.Now()
		for _, u := range extra {
			s := time.Now()
			status, _, err := c.do(ctx, "PATCH", "/Groups/"+group, addMembersBody([]string{u}))
			t.add(time.Since(s), status, err, false)
		}
		return t.stats(name, time.Since(t0))
	}
	bg.Big = measure(id, "add 1 to "+strconv.Itoa(n))
	bg.Small = measure(d.groups[0], "add 1 to "+strconv.Itoa(usersPerGroup))
	// The big group must now hold every member.
	status, b, err := c.do(ctx, "GET", "/Groups/"+id+"?attributes=members", nil)
	var g struct {
		Members []jsonRef `json:"members"`
	}
	if err == nil && status == 200 {
		err = json.Unmarshal(b, &g)
	} else if err == nil {
		err = fmt.Errorf("%d %s", status, clip(b))
	}
	if err != nil {
		return nil, fmt.Errorf("reading the big group: %w", err)
	}
	if bg.MembersAfter = len(g.Members); bg.MembersAfter != n+len(extra) {
		say("NOTE: the big group has %d members, want %d", bg.MembersAfter, n+len(extra))
	}
	say("add one member: %s p99 %.2f ms, %s p99 %.2f ms", bg.Big.Op, bg.Big.P99ms, bg.Small.Op, bg.Small.P99ms)
	return bg, nil
}

// databaseTicks is the CPU time, in ticks, of the PostgreSQL server's
// processes with -postgres, 0 without.
func (r *runner) databaseTicks() uint64 {
	if r.pg == nil {
		return 0
	}
	t, _, _ := treeTicks(r.pg.PID())
	return t
}
