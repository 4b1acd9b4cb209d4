package patch

import (
	"context"
	"fmt"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// Member is one member of a group: the id of a User or Group resource.
type Member struct {
	// Value is the member resource's id.
	Value string
	// Type is "User" or "Group", or empty when the client did not say.
	Type string
	// Ref is the member's "$ref" URI as the client sent it, or empty.
	Ref string
}

// MemberDelta is the change a PATCH makes to a group's membership. The store
// applies it as: when Clear, remove every current member; then add each of
// Add; then remove each id in Remove. Add and Remove never share an id, and
// Remove is empty when Clear is set, so the order of the last two steps does
// not matter.
type MemberDelta struct {
	// Clear removes all existing members first: a replace of "members", or
	// a remove of "members" with neither filter nor value.
	Clear bool
	// Add are the members added, one per id, in the order first named.
	Add []Member
	// Remove are the ids removed. Removing an id that is not a member is
	// not an error.
	Remove []string
}

// Members reads a group's current membership. Apply calls it only when a
// remove or replace carries a members filter that is not a plain
// `value eq "…"` or an `or` of those, and at most once per call.
type Members interface {
	// List returns every current member of the group.
	List(ctx context.Context) ([]Member, error)
}

// memberDelta accumulates a MemberDelta with map indexes, so that a request
// naming many thousands of members stays linear.
type memberDelta struct {
	clear    bool
	addOrder []string
	add      map[string]Member
	remove   map[string]bool
	rmOrder  []string
}

func newMemberDelta() *memberDelta {
	return &memberDelta{add: map[string]Member{}, remove: map[string]bool{}}
}

func (d *memberDelta) addMember(m Member) {
	delete(d.remove, m.Value)
	if old, ok := d.add[m.Value]; ok {
		if m.Type == "" {
			m.Type = old.Type
		}
		if m.Ref == "" {
			m.Ref = old.Ref
		}
		d.add[m.Value] = m
		return
	}
	d.add[m.Value] = m
	d.addOrder = append(d.addOrder, m.Value)
}

func (d *memberDelta) removeMember(id string) {
	delete(d.add, id)
	if d.clear || d.remove[id] {
		return
	}
	d.remove[id] = true
	d.rmOrder = append(d.rmOrder, id)
}

func (d *memberDelta) clearAll() {
	*d = memberDelta{clear: true, add: map[string]Member{}, remove: map[string]bool{}}
}

// result renders the delta; ids dropped and re-added keep their first
// position.
func (d *memberDelta) result() *MemberDelta {
	out := &MemberDelta{Clear: d.clear}
	seen := make(map[string]bool, len(d.add))
	for _, id := range d.addOrder {
		if m, ok := d.add[id]; ok && !seen[id] {
			seen[id] = true
			out.Add = append(out.Add, m)
		}
	}
	seen = make(map[string]bool, len(d.remove))
	for _, id := range d.rmOrder {
		if d.remove[id] && !seen[id] {
			seen[id] = true
			out.Remove = append(out.Remove, id)
		}
	}
	return out
}

// isMembers reports whether t is the "members" attribute of a resource type
// whose membership lives outside the resource map.
func (a *applier) isMembers(t *target) bool {
	return t.attr != nil && t.ext == nil && a.membersAttr != nil && t.attr == a.membersAttr
}

// membersOp turns an operation on "members" into member-delta steps.
func (a *applier) membersOp(op string, t *target, value any) error {
	if t.sub != nil {
		return scimerr.BadRequest(scimerr.Mutability,
			"members.%s cannot be changed (%s); add or remove the member instead", t.sub.Name, t.sub.EffectiveMutability())
	}
	if a.delta == nil {
		a.delta = newMemberDelta()
	}
	switch op {
	case OpAdd:
		var ms []Member
		var err error
		if t.filter != nil {
			ms, err = a.filteredMemberValue(t, value)
		} else {
			ms, err = ParseMembers("members", value)
		}
		if err != nil {
			return err
		}
		for _, m := range ms {
			a.delta.addMember(m)
		}
	case OpReplace:
		ms, err := replacementMembers(t, value)
		if err != nil {
			return err
		}
		if t.filter == nil {
			a.delta.clearAll()
		} else {
			ids, exact, err := a.matchMembers(t.filter)
			if err != nil {
				return err
			}
			if len(ids) == 0 && !exact {
				return scimerr.BadRequest(scimerr.NoTarget, "no member matches the filter (RFC 7644 §3.5.2.3)")
			}
			for _, id := range ids {
				a.delta.removeMember(id)
			}
		}
		for _, m := range ms {
			a.delta.addMember(m)
		}
	case OpRemove:
		switch {
		case t.filter != nil:
			// Entra ID, flag dialect, and Okta:
			// {"op":"remove","path":"members[value eq \"id\"]"}.
			ids, _, err := a.matchMembers(t.filter)
			if err != nil {
				return err
			}
			for _, id := range ids {
				a.delta.removeMember(id)
			}
		case value != nil:
			// Entra ID, default dialect, and JumpCloud:
			// {"op":"Remove","path":"members","value":[{"value":"id"}]}
			// removes only the ids listed. Reading it as "remove all
			// members" would drop every other membership of the group.
			ms, err := ParseMembers("members", value)
			if err != nil {
				return err
			}
			for _, m := range ms {
				a.delta.removeMember(m.Value)
			}
		default:
			a.delta.clearAll()
		}
	}
	return nil
}

// replacementMembers reads the value of a replace of members. With a
// filter, the path selects values of members, and the value may be one
// member object as well as an array of them (RFC 7644 §3.5.2.3).
func replacementMembers(t *target, value any) ([]Member, error) {
	if obj, ok := value.(map[string]any); ok && t.filter != nil {
		m, err := parseMember(clip(t.text), obj)
		if err != nil {
			return nil, err
		}
		return []Member{m}, nil
	}
	return ParseMembers("members", value)
}

// filteredMemberValue reads `add members[value eq "id"]`: the member named by
// the filter's equalities, completed by the value, if any. The value may not
// contradict the filter.
func (a *applier) filteredMemberValue(t *target, value any) ([]Member, error) {
	eqs, ok := equalities(t.filter, a.membersAttr)
	if !ok {
		return nil, scimerr.BadRequest(scimerr.InvalidPath, "add to members takes no filter other than value eq \"id\"")
	}
	if value != nil {
		obj, ok := value.(map[string]any)
		if !ok {
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "the value of an add to %s must be a JSON object; got %s", clip(t.text), describe(value))
		}
		for _, k := range sortedKeys(obj) {
			v := obj[k]
			if name, known := memberAttrs[strings.ToLower(k)]; known {
				if fv, inFilter := eqs[name]; inFilter {
					if !sameMemberAttr(name, fv, v) {
						return nil, scimerr.BadRequest(scimerr.InvalidValue,
							"the value gives %s %s but the path's filter says %s; send one or make them agree", name, quoteAny(v), quoteAny(fv))
					}
					continue
				}
			}
			eqs[k] = v
		}
	}
	m, err := parseMember(clip(t.text), eqs)
	if err != nil {
		return nil, err
	}
	return []Member{m}, nil
}

// sameMemberAttr reports whether two values of a member attribute agree:
// type compares case-insensitively, as its canonical values do.
func sameMemberAttr(name string, a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	if !aok || !bok {
		return false
	}
	if name == "type" {
		return strings.EqualFold(as, bs)
	}
	return as == bs
}

// matchMembers returns the ids of current members a filter selects. exact
// reports that the ids were read off the filter itself (a value eq, or an or
// of them) without reading membership, so that an empty result says nothing
// about whether they were members.
func (a *applier) matchMembers(e filter.Expr) (ids []string, exact bool, err error) {
	if ids, ok := valueEqIDs(e); ok {
		return ids, true, nil
	}
	current, err := a.currentMembers()
	if err != nil {
		return nil, false, err
	}
	for _, m := range current {
		el := map[string]any{"value": m.Value}
		if m.Type != "" {
			el["type"] = m.Type
		}
		if m.Ref != "" {
			el["$ref"] = m.Ref
		}
		if filter.MatchValue(e, a.membersAttr, el) {
			ids = append(ids, m.Value)
		}
	}
	return ids, false, nil
}

// currentMembers is the membership as the operations so far have left it:
// what Members.List returns, with the delta applied. List is called once.
func (a *applier) currentMembers() ([]Member, error) {
	if !a.listed {
		a.listed = true
		if a.members != nil {
			list, err := a.members.List(a.ctx)
			if err != nil {
				return nil, fmt.Errorf("reading group members: %w", err)
			}
			a.stored = list
		}
	}
	var out []Member
	if !a.delta.clear {
		for _, m := range a.stored {
			if _, added := a.delta.add[m.Value]; !added && !a.delta.remove[m.Value] {
				out = append(out, m)
			}
		}
	}
	for _, m := range a.delta.result().Add {
		out = append(out, m)
	}
	return out, nil
}

// valueEqIDs reads `value eq "a"` and `value eq "a" or value eq "b" …`.
func valueEqIDs(e filter.Expr) ([]string, bool) {
	switch x := e.(type) {
	case *filter.Compare:
		if x.Op != filter.Eq || x.Value.Kind != filter.StringLit || !isPlainName(x.Path) || !strings.EqualFold(x.Path.Attr, "value") {
			return nil, false
		}
		return []string{x.Value.Str}, true
	case *filter.Or:
		l, ok := valueEqIDs(x.Left)
		if !ok {
			return nil, false
		}
		r, ok := valueEqIDs(x.Right)
		if !ok {
			return nil, false
		}
		return append(l, r...), true
	}
	return nil, false
}

// MaxMemberValueBytes is the longest member value (a resource id) a
// request may carry.
const MaxMemberValueBytes = 1024

// ParseMembers reads the members of a group as a POST or PUT body or the
// value of a PATCH operation gives them: null, which names no member, or an
// array of member objects. A member object has a "value" holding the id of
// a User or Group, a non-empty string; "$ref", "type" and "display" are
// accepted, each a string or null ("display" is read-only and ignored, and
// "type", when not empty, is "User" or "Group" in any case); names are
// case-insensitive. Anything else is a 400 invalidValue naming the member
// by its index, such as `members[2] has unknown attribute "foo"`. name is
// how errors refer to the array, "members" in a request body.
//
// The value is checked as the client sent it, before any schema
// normalization, so that a malformed member can never be dropped and read
// as an empty membership.
func ParseMembers(name string, v any) ([]Member, error) {
	var list []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		list = x
	default:
		return nil, scimerr.BadRequest(scimerr.InvalidValue,
			`%s must be an array of member objects such as [{"value":"<id of a User or Group>"}]; got %s`, name, describe(v))
	}
	out := make([]Member, 0, len(list))
	for i, el := range list {
		m, err := parseMember(name+"["+itoa(i)+"]", el)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// memberAttrs are the attributes of a member object, by lower-case name.
var memberAttrs = map[string]string{"value": "value", "$ref": "$ref", "type": "type", "display": "display"}

// parseMember reads one member object; where names it in errors.
func parseMember(where string, el any) (Member, error) {
	obj, ok := el.(map[string]any)
	if !ok {
		return Member{}, scimerr.BadRequest(scimerr.InvalidValue,
			`%s must be an object with a "value" holding the id of a User or Group; got %s`, where, describe(el))
	}
	var m Member
	seen := make(map[string]string, len(obj))
	for _, k := range sortedKeys(obj) {
		name, ok := memberAttrs[strings.ToLower(k)]
		if !ok {
			return Member{}, scimerr.BadRequest(scimerr.InvalidValue,
				"%s has unknown attribute %q; a member has only value, $ref, type and display", where, clip(k))
		}
		if prev, dup := seen[name]; dup {
			return Member{}, scimerr.BadRequest(scimerr.InvalidValue,
				"%s names %s twice, as %q and %q; send it once", where, name, clip(prev), clip(k))
		}
		seen[name] = k
		v := obj[k]
		if name == "value" {
			id, ok := v.(string)
			if !ok || strings.TrimSpace(id) == "" {
				return Member{}, scimerr.BadRequest(scimerr.InvalidValue,
					"%s.value must be a non-empty string, the id of a User or Group; got %s", where, describeMember(v))
			}
			if len(id) > MaxMemberValueBytes {
				return Member{}, scimerr.BadRequest(scimerr.InvalidValue,
					"%s.value is %d bytes long; a member's id is at most %d bytes", where, len(id), MaxMemberValueBytes)
			}
			m.Value = id
			continue
		}
		if v == nil {
			continue // RFC 7643 §2.5: null is the same as unassigned.
		}
		s, ok := v.(string)
		if !ok {
			return Member{}, scimerr.BadRequest(scimerr.InvalidValue, "%s.%s must be a string; got %s", where, name, describe(v))
		}
		switch name {
		case "type":
			switch {
			case s == "":
			case strings.EqualFold(s, "User"):
				m.Type = "User"
			case strings.EqualFold(s, "Group"):
				m.Type = "Group"
			default:
				return Member{}, scimerr.BadRequest(scimerr.InvalidValue,
					`%s.type is %q; a member's type is "User" or "Group"`, where, clip(s))
			}
		case "$ref":
			m.Ref = s
		}
	}
	if _, ok := seen["value"]; !ok {
		return Member{}, scimerr.BadRequest(scimerr.InvalidValue,
			`%s has no "value"; every member needs the id of a User or Group`, where)
	}
	return m, nil
}

// describeMember describes a member value for an error detail: an empty or
// blank string is named as such.
func describeMember(v any) string {
	if s, ok := v.(string); ok {
		if s == "" {
			return "an empty string"
		}
		return "a blank string"
	}
	return describe(v)
}
