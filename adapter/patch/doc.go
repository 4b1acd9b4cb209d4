// Package patch implements SCIM PATCH (RFC 7644 §3.5.2): it decodes a
// PatchOp message and applies its add, remove and replace operations to a
// resource held in the canonical generic form of package schema.
//
// Identity providers speak several dialects of PATCH, and every one of them
// is normalized here rather than in the HTTP layer: capitalised op names and
// string booleans from Entra ID, path-less values with dotted and
// URN-qualified keys, several adds that fill one typed entry
// (`addresses[type eq "work"].locality`, then `.postalCode`), the manager set
// from a bare id and cleared with "", Okta's path-less replace that repeats
// the resource's own id, and the two ways Entra removes group members (a
// value array without a filter, or a `members[value eq "…"]` filter). Each
// place that handles one names the shape it handles.
//
// Group membership is not part of the resource map: operations on "members"
// become a MemberDelta (clear, add, remove) that the store applies one edge at
// a time, so a PATCH that adds one member costs the same whatever the size of
// the group. Current membership is read through Members only when a filter
// cannot be answered from the request alone.
//
// Apply is atomic (RFC 7644 §3.5.2): it works on a deep copy and returns
// either the whole result or an *scimerr.Error naming the operation that
// failed, never a partly patched resource.
package patch
