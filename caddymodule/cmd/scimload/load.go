package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// tenant is the one tenant the server is given.
const tenant = "bench"

// scim sends SCIM requests to the bench tenant over HTTPS (HTTP/1.1, one
// kept-alive connection per concurrent caller).
type scim struct {
	base string
	auth string
	hc   *http.Client
}

// newSCIM trusts the certificates tc trusts.
func newSCIM(port int, tc *tls.Config, conns int, token string) *scim {
	tr := pinned(port, conns)
	tr.TLSClientConfig = tc
	return &scim{
		base: "https://localhost:" + strconv.Itoa(port) + "/scim/v2/" + tenant,
		auth: "Bearer " + token,
		hc:   &http.Client{Transport: tr, Timeout: 2 * time.Minute},
	}
}

// pinned is an http.Transport whose connections all go to 127.0.0.1:port.
func pinned(port int, conns int) *http.Transport {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	d := net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     5 * time.Minute,
	}
}

// do sends one request below the tenant's base and reads the whole answer.
func (c *scim) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", c.auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// created sends a create and returns the new resource's id.
func (c *scim) created(ctx context.Context, path string, body []byte) (string, error) {
	status, b, err := c.do(ctx, "POST", path, body)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %d: %s", path, status, clip(b))
	}
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.ID == "" {
		return "", fmt.Errorf("POST %s: no id in %s", path, clip(b))
	}
	return r.ID, nil
}

// ok2xx sends a request that must succeed.
func (c *scim) ok2xx(ctx context.Context, method, path string, body []byte) error {
	status, b, err := c.do(ctx, method, path, body)
	if err == nil && (status < 200 || status > 299) {
		err = fmt.Errorf("%s %s: %d: %s", method, path, status, clip(b))
	}
	return err
}

func clip(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// directory is what the IdP knows it has provisioned: the preloaded users
// (index k is person k) and groups, with their SCIM ids.
type directory struct {
	people []person
	ids    []string
	groups []string

	// made are users created while measuring and added member adds
	// answered 2xx, for the delete and remove phases to undo.
	mu    sync.Mutex
	made  []string
	added []memberAdd
}

// memberAdd is one PATCH that added members to a group.
type memberAdd struct {
	group string
	ids   []string
}

// takeMade returns a user created while measuring, or "" when none is left.
func (d *directory) takeMade() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.made) == 0 {
		return ""
	}
	id := d.made[len(d.made)-1]
	d.made = d.made[:len(d.made)-1]
	return id
}

// takeAdded returns a member add made while measuring, or false when none
// is left.
func (d *directory) takeAdded() (memberAdd, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.added) == 0 {
		return memberAdd{}, false
	}
	a := d.added[len(d.added)-1]
	d.added = d.added[:len(d.added)-1]
	return a, true
}

// usersPerGroup is how many users there are per group, and how many
// members each group is preloaded with.
const usersPerGroup = 100

// managerOf is the index of user k's manager; only users before k manage.
func managerOf(k int) int { return k / 16 }

// forEach runs job(i) for i in [from, to) on conc goroutines and returns
// the first error; after an error no new job starts.
func forEach(from, to, conc int, job func(i int) error) error {
	var (
		mu    sync.Mutex
		next  = from
		first error
		wg    sync.WaitGroup
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= to
				mu.Unlock()
				if stop {
					return
				}
				if err := job(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// grow preloads users until there are n, then groups until there is one
// per usersPerGroup users, each with usersPerGroup members.
func (d *directory) grow(ctx context.Context, c *scim, n, conc int, progress func(string)) error {
	have := len(d.people)
	for k := have; k < n; k++ {
		d.people = append(d.people, newPerson(fmt.Sprintf("%06d", k), k))
		d.ids = append(d.ids, "")
	}
	// Waves in which every manager was created in an earlier wave, of
	// at most 10,000 users so that progress shows.
	for a := have; a < n; {
		b := min(n, a+10000, max(a+1, a*15))
		err := forEach(a, b, conc, func(k int) error {
			p := d.people[k]
			if m := managerOf(k); m < k {
				p.ManagerID = d.ids[m]
			}
			id, err := c.created(ctx, "/Users", createBody(p))
			d.ids[k] = id
			return err
		})
		if err != nil {
			return err
		}
		a = b
		progress(fmt.Sprintf("%d users", b))
	}
	first := len(d.groups)
	want := n / usersPerGroup
	for g := first; g < want; g++ {
		d.groups = append(d.groups, "")
	}
	err := forEach(first, want, conc, func(g int) error {
		id, err := c.created(ctx, "/Groups", groupBody(fmt.Sprintf("Group %05d", g)))
		if err != nil {
			return err
		}
		d.groups[g] = id
		return c.ok2xx(ctx, "PATCH", "/Groups/"+id, addMembersBody(d.ids[g*usersPerGroup:(g+1)*usersPerGroup]))
	})
	if err == nil && want > first {
		progress(fmt.Sprintf("%d groups", want))
	}
	return err
}

// worker is one of the concurrent clients of a phase.
type worker struct {
	n       int
	rng     *rand.Rand
	tallies [numOps + 1]tally
	made    int
	// exhausted is set when a remove or delete finds nothing left to
	// undo; the worker then stops for the rest of the phase.
	exhausted bool
}

// opRespond is the baseline's request: GET of a fixed body.
const opRespond = numOps

// step sends one request of kind o and records it. stamp tells the
// measured phases apart in the userNames of their creates.
func (w *worker) step(ctx context.Context, c *scim, d *directory, o op, stamp string) {
	var (
		method, path string
		body         []byte
		check        func([]byte) bool
	)
	k := w.rng.IntN(len(d.ids))
	switch o {
	case opCreate:
		w.made++
		p := newPerson(fmt.Sprintf("%s-w%d-%d", stamp, w.n, w.made), w.rng.IntN(1<<20))
		p.ManagerID = d.ids[k]
		method, path, body = "POST", "/Users", createBody(p)
		check = func(b []byte) bool {
			var r struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(b, &r) != nil || r.ID == "" {
				return false
			}
			d.mu.Lock()
			d.made = append(d.made, r.ID)
			d.mu.Unlock()
			return true
		}
	case opPatch:
		p := d.people[k]
		p.Family = "Changed" + strconv.Itoa(w.rng.IntN(1000))
		p.Dept = departments[w.rng.IntN(len(departments))]
		p.Active = w.rng.IntN(4) != 0
		method, path, body = "PATCH", "/Users/"+d.ids[k], entraPatchBody(p)
	case opPut:
		p := d.people[k]
		p.Active = w.rng.IntN(4) != 0
		method, path, body = "PUT", "/Users/"+d.ids[k], putBody(p, d.ids[k])
	case opMembers:
		add := memberAdd{group: d.groups[w.rng.IntN(len(d.groups))], ids: make([]string, 10)}
		for i := range add.ids {
			add.ids[i] = d.ids[w.rng.IntN(len(d.ids))]
		}
		method, path, body = "PATCH", "/Groups/"+add.group, addMembersBody(add.ids)
		check = func([]byte) bool {
			d.mu.Lock()
			d.added = append(d.added, add)
			d.mu.Unlock()
			return true
		}
	case opRemove:
		add, ok := d.takeAdded()
		if !ok {
			w.exhausted = true
			return
		}
		method, path, body = "PATCH", "/Groups/"+add.group, removeMembersBody(add.ids)
	case opDelete:
		id := d.takeMade()
		if id == "" {
			w.exhausted = true
			return
		}
		method, path = "DELETE", "/Users/"+id
	case opFilter:
		method, path = "GET", filterQuery(d.people[k].userName())
		check = func(b []byte) bool { return bytes.Contains(b, []byte(`"totalResults":1,`)) }
	case opGet:
		method, path = "GET", "/Users/"+d.ids[k]
	case opPage:
		method, path = "GET", pageQuery(1+w.rng.IntN(len(d.ids)), 100)
	case opRespond:
		method, path = "GET", "/"
	}
	t0 := time.Now()
	status, b, err := c.do(ctx, method, path, body)
	dur := time.Since(t0)
	if errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	wrong := err == nil && status/100 == 2 && check != nil && !check(b)
	w.tallies[o].add(dur, status, err, wrong)
}
