// Package change defines the normalized change events that every accepted
// write produces. The store writes them to the tenant's journal in the same
// transaction as the resource, with a monotonic per-tenant sequence number;
// delivery later hands them, in order, to the tenant's backend.
package change

import (
	"encoding/json"
	"reflect"
	"sort"
	"time"
)

// Kind is the kind of a change event.
type Kind string

// Event kinds. A user whose active flag changes produces a deactivated or
// reactivated event rather than an updated one; Changed still lists every
// attribute that changed.
const (
	UserCreated     Kind = "user.created"
	UserUpdated     Kind = "user.updated"
	UserDeactivated Kind = "user.deactivated"
	UserReactivated Kind = "user.reactivated"
	UserDeleted     Kind = "user.deleted"
	GroupCreated    Kind = "group.created"
	GroupUpdated    Kind = "group.updated"
	GroupDeleted    Kind = "group.deleted"
	MembersAdded    Kind = "group.members_added"
	MembersRemoved  Kind = "group.members_removed"
)

// Event is one normalized change, as recorded in the journal.
type Event struct {
	// Seq is the tenant's journal sequence number: strictly increasing, so a
	// backend can apply events idempotently by remembering the last one.
	Seq uint64 `json:"seq"`
	// Tenant is the tenant the change belongs to.
	Tenant string `json:"tenant"`
	// Time is when the change was committed.
	Time time.Time `json:"time"`
	// Kind says what happened.
	Kind Kind `json:"kind"`
	// ResourceType is "User" or "Group".
	ResourceType string `json:"resource_type"`
	// ID is the resource's id.
	ID string `json:"id"`
	// Changed lists the top-level attributes (extension attributes as
	// "urn:…:attr") whose values differ from the previous state. Empty for
	// created, deleted and membership events.
	Changed []string `json:"changed,omitempty"`
	// Resource is the resource after the change, or before it for deleted
	// events, without members or groups.
	Resource map[string]any `json:"resource,omitempty"`
	// Members are the member ids added or removed, for membership events.
	Members []Member `json:"members,omitempty"`
}

// Member is one member of a membership event.
type Member struct {
	// ID is the member resource's id.
	ID string `json:"id"`
	// Type is "User" or "Group".
	Type string `json:"type"`
}

// ignored are attributes whose changes are bookkeeping, not content.
var ignored = map[string]bool{"meta": true, "schemas": true}

// Diff returns the sorted top-level attributes that differ between old and
// new. Attributes of defined and custom extensions are compared one by one
// and reported as "urn:…:attr"; extension objects are recognised by their
// "urn:" key.
func Diff(old, new map[string]any) []string {
	set := map[string]bool{}
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range new {
		keys[k] = true
	}
	for k := range keys {
		if ignored[k] {
			continue
		}
		ov, nv := old[k], new[k]
		om, oIsMap := ov.(map[string]any)
		nm, nIsMap := nv.(map[string]any)
		if isURN(k) && (oIsMap || ov == nil) && (nIsMap || nv == nil) {
			for _, sub := range Diff(om, nm) {
				set[k+":"+sub] = true
			}
			continue
		}
		if !equal(ov, nv) {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isURN(k string) bool { return len(k) > 4 && (k[:4] == "urn:" || k[:4] == "URN:") }

// equal compares two generic JSON values, treating numbers by their text.
func equal(a, b any) bool {
	if an, ok := a.(json.Number); ok {
		bn, ok := b.(json.Number)
		return ok && an == bn
	}
	return reflect.DeepEqual(a, b)
}

// ForUser returns the event for a user going from old to new; old is nil
// for a create and new is nil for a delete. It returns nil when nothing
// changed. The caller assigns Seq, Tenant and Time.
func ForUser(id string, old, new map[string]any) *Event {
	ev := &Event{ResourceType: "User", ID: id}
	switch {
	case old == nil && new == nil:
		return nil
	case old == nil:
		ev.Kind, ev.Resource = UserCreated, new
	case new == nil:
		ev.Kind, ev.Resource = UserDeleted, old
	default:
		ev.Changed = Diff(old, new)
		if len(ev.Changed) == 0 {
			return nil
		}
		ev.Kind, ev.Resource = UserUpdated, new
		wasActive, isActive := Active(old), Active(new)
		switch {
		case wasActive && !isActive:
			ev.Kind = UserDeactivated
		case !wasActive && isActive:
			ev.Kind = UserReactivated
		}
	}
	return ev
}

// ForGroup returns the event for a group's attributes going from old to new,
// like ForUser. Membership changes are separate events (see ForMembers).
func ForGroup(id string, old, new map[string]any) *Event {
	ev := &Event{ResourceType: "Group", ID: id}
	switch {
	case old == nil && new == nil:
		return nil
	case old == nil:
		ev.Kind, ev.Resource = GroupCreated, new
	case new == nil:
		ev.Kind, ev.Resource = GroupDeleted, old
	default:
		ev.Changed = Diff(old, new)
		if len(ev.Changed) == 0 {
			return nil
		}
		ev.Kind, ev.Resource = GroupUpdated, new
	}
	return ev
}

// ForMembers returns a membership event of kind MembersAdded or
// MembersRemoved, or nil when members is empty. group is the group's state
// after the change.
func ForMembers(kind Kind, id string, group map[string]any, members []Member) *Event {
	if len(members) == 0 {
		return nil
	}
	return &Event{Kind: kind, ResourceType: "Group", ID: id, Resource: group, Members: members}
}

// Active reports a user's effective active flag: an unassigned active counts
// as active, since IdPs omit it for enabled users.
func Active(user map[string]any) bool {
	v, ok := user["active"].(bool)
	return !ok || v
}
