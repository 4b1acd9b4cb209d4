package server

import (
	"sort"
	"strconv"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// bodyMembers reads the members of a group from a POST or PUT body as the
// client sent it, before schema normalization, so that no malformed member
// is dropped and the rest read as a smaller (or empty) membership. has
// reports whether the body names members at all: a PUT without members
// leaves the membership alone, while "members": null or [] clears it
// (RFC 7644 §3.5.1 replaces every attribute the body gives).
func bodyMembers(rt *schema.ResourceType, body map[string]any) (members []patch.Member, has bool, err error) {
	attr := rt.Schema.Attr("members")
	if attr == nil {
		return nil, false, nil
	}
	var keys []string
	for k := range body {
		if urn, name := rt.SplitURN(k); rt.Attr(urn, name) == attr {
			keys = append(keys, k)
		}
	}
	switch len(keys) {
	case 0:
		return nil, false, nil
	case 1:
		members, err = patch.ParseMembers("members", body[keys[0]])
		if err != nil {
			return nil, false, err
		}
		return members, true, nil
	}
	sort.Strings(keys)
	return nil, false, scimerr.BadRequest(scimerr.InvalidValue,
		"members is given twice, as %s and %s; send it once", strconv.Quote(clip(keys[0])), strconv.Quote(clip(keys[1])))
}

// logSkipped reports the member ids a write to a group skipped because they
// name no User or Group of the tenant: in the log, at warn, and to the
// OnSkippedMembers hook, so that the operator sees what the IdP referenced
// outside its provisioning scope.
func (q *request) logSkipped(rt *schema.ResourceType, id string, skipped []string) {
	if len(skipped) == 0 || rt != schema.Group {
		return
	}
	q.log.Warn("group members that name no resource were skipped",
		zap.String("tenant", q.tenant), zap.String("group_id", id), zap.Int("skipped", len(skipped)))
	if q.cfg.OnSkippedMembers != nil {
		q.cfg.OnSkippedMembers(q.ctx, q.tenant, id, append([]string(nil), skipped...))
	}
}
