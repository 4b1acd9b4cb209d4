package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// op is one kind of request in the measured mix.
type op int

const (
	opCreate  op = iota // POST /Users, Entra's attribute set
	opPatch             // PATCH /Users/{id}, Entra's capitalised Replace ops, active as "True"/"False"
	opPut               // PUT /Users/{id}, Okta's whole user
	opMembers           // PATCH /Groups/{id}, Add of 10 members
	opFilter            // GET /Users?filter=userName eq "…" of an existing user
	opGet               // GET /Users/{id}
	opPage              // GET /Users?startIndex=<random>&count=100
	opRemove            // PATCH /Groups/{id}, Remove of 10 members added earlier
	opDelete            // DELETE /Users/{id} of a user created earlier
	numOps
)

var opNames = [numOps]string{"create", "patch", "put", "members", "filter", "get", "page", "remove", "delete"}

func (o op) String() string {
	if o >= 0 && o < numOps {
		return opNames[o]
	}
	return "op" + strconv.Itoa(int(o))
}

// defaultMix is the share of each operation in the measured phase, in
// percent. It follows what an IdP's sync cycle does once a directory is
// provisioned: mostly lookups before a write (Entra and Okta both query
// userName eq before they create or update), a steady trickle of
// attribute updates and deactivations (Entra PATCH, Okta PUT), new hires,
// group membership changes, and Okta's import paging.
//
//	create  10   POST /Users (Entra shape)
//	patch   15   PATCH /Users/{id} (Entra Replace ops, active "False"/"True")
//	put     10   PUT /Users/{id} (Okta, whole user)
//	members  5   PATCH /Groups/{id} (Add, 10 members)
//	filter  30   GET /Users?filter=userName eq "…" (existing user)
//	get     20   GET /Users/{id}
//	page    10   GET /Users?startIndex=<random>&count=100
//
// remove and delete undo what earlier creates and member adds did, so they
// are left out of the mix and measured in the write phases alone.
var defaultMix = mix{10, 15, 10, 5, 30, 20, 10, 0, 0}

// mix holds a weight per operation; a zero weight leaves it out.
type mix [numOps]int

// parseMix reads "create=10,patch=15,…": operations not named get weight
// 0. An empty string is defaultMix.
func parseMix(s string) (mix, error) {
	if strings.TrimSpace(s) == "" {
		return defaultMix, nil
	}
	var m mix
	seen := map[op]bool{}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return m, fmt.Errorf("mix %q: want name=weight", part)
		}
		o := op(-1)
		for k, n := range opNames {
			if n == strings.TrimSpace(name) {
				o = op(k)
			}
		}
		if o < 0 {
			return m, fmt.Errorf("mix: unknown operation %q (known: %s)", name, strings.Join(opNames[:], ", "))
		}
		if seen[o] {
			return m, fmt.Errorf("mix: %s given twice", o)
		}
		seen[o] = true
		w, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || w < 0 {
			return m, fmt.Errorf("mix: weight of %s must be a whole number ≥ 0, got %q", o, val)
		}
		m[o] = w
	}
	if m.total() == 0 {
		return m, fmt.Errorf("mix %q: all weights are 0", s)
	}
	return m, nil
}

func (m mix) total() int {
	t := 0
	for _, w := range m {
		t += w
	}
	return t
}

// String renders m in parseMix's syntax, zero weights left out.
func (m mix) String() string {
	var parts []string
	for o, w := range m {
		if w > 0 {
			parts = append(parts, opNames[o]+"="+strconv.Itoa(w))
		}
	}
	return strings.Join(parts, ",")
}

// pick chooses an operation with probability weight/total, from a number
// in [0, total).
func (m mix) pick(n int) op {
	for o, w := range m {
		if n < w {
			return op(o)
		}
		n -= w
	}
	return numOps - 1
}

// draw picks an operation at random.
func (m mix) draw(rng *rand.Rand) op { return m.pick(rng.IntN(m.total())) }
