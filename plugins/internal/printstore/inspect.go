package printstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// Inspect returns the product store as JSON, sorted by key, group name and
// card. The product's KeyName and GroupsName name the members that differ
// between products, and the members of the profile's JSON object stand
// between a user's key and its enabled flag:
//
//	{"users": [{"<key>": "…", <profile members>, "enabled": true,
//	            "cards": ["…"], "<groups>": ["<group name>"], "scim_id": "…"}],
//	 "<groups>": [{"name": "…", "members": ["<key>"]}],
//	 "retained_cards": [{"card": "…", "<key>": "<former key>"}],
//	 "last_seq": 0}
func (b *Backend[P]) Inspect(ctx context.Context, req *sdk.InspectRequest) (*sdk.InspectResponse, error) {
	snap, err := b.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	key, groups := b.product.KeyName, b.product.GroupsName
	users := make([]object, 0, len(snap.Users))
	for _, u := range snap.Users {
		users = append(users, object{
			{key, u.Key}, {"", u.Profile}, {"enabled", u.Enabled},
			{"cards", u.Cards}, {groups, u.Groups}, {"scim_id", u.ScimID},
		})
	}
	gs := make([]object, 0, len(snap.Groups))
	for _, g := range snap.Groups {
		gs = append(gs, object{{"name", g.Name}, {"members", g.Members}})
	}
	retained := make([]object, 0, len(snap.Retained))
	for _, r := range snap.Retained {
		retained = append(retained, object{{"card", r.Card}, {key, r.FormerKey}})
	}
	data, err := json.Marshal(object{
		{"users", users}, {groups, gs}, {"retained_cards", retained}, {"last_seq", snap.LastSeq},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the %s store: %w", b.product.Name, err)
	}
	return &sdk.InspectResponse{JSON: data}, nil
}

// object is a JSON object that keeps its members in the order given, so
// that one writer serves products whose member names differ.
type object []member

// member is one member of an object. A member without a name contributes
// the members of its value, which must encode as a JSON object.
type member struct {
	name  string
	value any
}

// errNotObject is returned for a nameless member that is not an object.
var errNotObject = errors.New("a profile must encode as a JSON object")

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for _, m := range o {
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		if m.name == "" {
			if len(v) < 2 || v[0] != '{' {
				return nil, errNotObject
			}
			v = bytes.TrimSpace(v[1 : len(v)-1])
			if len(v) == 0 {
				continue
			}
		} else {
			k, err := json.Marshal(m.name)
			if err != nil {
				return nil, err
			}
			v = append(append(k, ':'), v...)
		}
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = append(buf, v...)
	}
	return append(buf, '}'), nil
}

// Interface guards
var _ sdk.Inspector = (*Backend[struct{}])(nil)
