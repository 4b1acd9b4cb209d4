// Package filter implements the SCIM filter language of RFC 7644 §3.4.2.2
// and the attribute path grammars built on it: the PATCH "path" of
// RFC 7644 §3.5.2 and the attribute names of the "attributes",
// "excludedAttributes" and "sortBy" parameters (RFC 7644 §3.4.2.3, §3.4.2.5).
//
// Parse turns a filter into a tree of Expr nodes; ParsePath and
// ParseAttrPath turn paths into a Path. Every node renders back to the
// grammar with String, and parsing that rendering yields an equal tree.
// Syntax errors are *SyntaxError values that carry the byte offset of the
// problem and convert, through errors.As, into the 400 invalidFilter or
// invalidPath *scimerr.Error that RFC 7644 §3.12 prescribes.
//
// Match evaluates a filter against a resource held in the generic JSON form
// of package schema, and MatchValue evaluates a value filter against one
// value of a multi-valued attribute. Check validates a filter against a
// resource type before evaluation and rejects operator and attribute
// combinations the RFC does not define.
//
// Two forms outside the RFC grammar are accepted because Microsoft Entra ID
// sends them: a value path followed by a sub-attribute inside a comparison
// (`emails[type eq "work"].value eq "x"`), and an unquoted comparison value
// (`externalId eq jyoung`), which is read as a string.
package filter
