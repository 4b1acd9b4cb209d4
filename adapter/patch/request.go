package patch

import (
	"sort"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/scimjson"
)

// Limits on a PatchOp message. A request over them is refused before any
// operation is applied.
const (
	// MaxOperations is the most operations one request may carry. More is
	// answered with 400 tooMany: RFC 7644 §3.12 defines tooMany as more than
	// the server is willing to process, and unlike bulk (§3.7.4, 413 with
	// maxOperations advertised) PATCH has no advertised limit to exceed.
	MaxOperations = 1000
	// MaxPathLength is the longest "path" accepted, in bytes. A longer one
	// is answered with 400 invalidPath.
	MaxPathLength = 1024
)

// Operation names, as Apply and Decode spell them after normalization.
const (
	OpAdd     = "add"
	OpRemove  = "remove"
	OpReplace = "replace"
)

// Request is a PatchOp message body (RFC 7644 §3.5.2).
type Request struct {
	// Schemas is the "schemas" member as sent; it is empty when the client
	// left it out.
	Schemas []string
	// Operations are the operations, in the order they are applied.
	Operations []Operation
}

// Operation is one PATCH operation (RFC 7644 §3.5.2). Op is lowercase after
// Decode; Value is decoded by package scimjson, so numbers are
// json.Number.
type Operation struct {
	// Op is "add", "remove" or "replace".
	Op string
	// Path is the attribute path, or empty when the operation has none.
	Path string
	// Value is the operation's value; nil when absent or null.
	Value any
}

// Decode parses and validates a PatchOp message body. It accepts what real
// identity providers send: op names in any case (Entra ID sends "Add",
// "Replace", "Remove"), member names of the message in any case, and a
// missing "schemas" member. It rejects, with a 400 *scimerr.Error:
// whatever package scimjson refuses in every request body (invalid UTF-8,
// data after the JSON value, nesting or strings over the limits, control
// characters); a body that is not a JSON object (invalidSyntax); "schemas" present without
// the PatchOp URN (invalidSyntax); "Operations" missing, empty or not an array
// of objects (invalidSyntax); more than MaxOperations operations (tooMany); an
// op other than add, remove or replace (invalidValue); add or replace without
// a "value" member (invalidValue); a "path" that is not a string
// (invalidSyntax) or longer than MaxPathLength (invalidPath); and a remove
// without a path (noTarget, RFC 7644 §3.5.2.2).
func Decode(body []byte) (*Request, error) {
	// Every request body is held to the same strict decoding: one JSON
	// value, valid UTF-8, bounded depth and strings, no control characters.
	raw, err := scimjson.Decode(body)
	if err != nil {
		return nil, err
	}
	msg, ok := raw.(map[string]any)
	if !ok {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the request body must be a PatchOp JSON object; got %s", describe(raw))
	}
	req := &Request{}
	var ops any
	var haveOps bool
	for _, k := range sortedKeys(msg) {
		switch {
		case strings.EqualFold(k, "schemas"):
			s, err := decodeSchemas(msg[k])
			if err != nil {
				return nil, err
			}
			req.Schemas = s
		case strings.EqualFold(k, "Operations"):
			ops, haveOps = msg[k], true
		}
	}
	if !haveOps {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `the PatchOp message has no "Operations" array (RFC 7644 §3.5.2)`)
	}
	list, ok := ops.([]any)
	if !ok {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `"Operations" must be an array of operations; got %s`, describe(ops))
	}
	if len(list) == 0 {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `"Operations" is empty; a PatchOp message carries one or more operations (RFC 7644 §3.5.2)`)
	}
	if len(list) > MaxOperations {
		return nil, tooManyOps(len(list))
	}
	req.Operations = make([]Operation, 0, len(list))
	for i, el := range list {
		op, err := decodeOperation(el)
		if err != nil {
			se, _ := scimerr.As(err)
			return nil, &scimerr.Error{Status: se.Status, ScimType: se.ScimType, Detail: "operation " + itoa(i+1) + ": " + se.Detail}
		}
		req.Operations = append(req.Operations, op)
	}
	return req, nil
}

func decodeSchemas(v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `"schemas" must be an array holding %q`, schema.PatchOpURN)
	}
	out := make([]string, 0, len(arr))
	found := false
	for _, s := range arr {
		str, ok := s.(string)
		if !ok {
			return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `"schemas" must be an array holding %q`, schema.PatchOpURN)
		}
		if strings.EqualFold(str, schema.PatchOpURN) {
			found = true
		}
		out = append(out, str)
	}
	if !found {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `"schemas" must hold %q (RFC 7644 §3.5.2)`, schema.PatchOpURN)
	}
	return out, nil
}

func decodeOperation(el any) (Operation, error) {
	m, ok := el.(map[string]any)
	if !ok {
		return Operation{}, scimerr.BadRequest(scimerr.InvalidSyntax, "an operation must be a JSON object; got %s", describe(el))
	}
	var op Operation
	var haveOp, haveValue bool
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch {
		case strings.EqualFold(k, "op"):
			s, ok := v.(string)
			if !ok {
				return Operation{}, scimerr.BadRequest(scimerr.InvalidSyntax, `"op" must be a string; got %s`, describe(v))
			}
			op.Op, haveOp = s, true
		case strings.EqualFold(k, "path"):
			switch p := v.(type) {
			case string:
				op.Path = strings.TrimSpace(p)
			case nil:
			default:
				return Operation{}, scimerr.BadRequest(scimerr.InvalidSyntax, `"path" must be a string; got %s`, describe(v))
			}
		case strings.EqualFold(k, "value"):
			op.Value, haveValue = v, true
		}
	}
	if !haveOp {
		return Operation{}, scimerr.BadRequest(scimerr.InvalidSyntax, `the operation has no "op" member`)
	}
	name, err := normalizeOp(op.Op)
	if err != nil {
		return Operation{}, err
	}
	op.Op = name
	if len(op.Path) > MaxPathLength {
		return Operation{}, pathTooLong(len(op.Path))
	}
	switch {
	case name == OpRemove && op.Path == "":
		return Operation{}, scimerr.BadRequest(scimerr.NoTarget, "remove needs a path naming what to remove (RFC 7644 §3.5.2.2)")
	case name != OpRemove && !haveValue:
		return Operation{}, scimerr.BadRequest(scimerr.InvalidValue, `%s needs a "value" (RFC 7644 §3.5.2.1, §3.5.2.3)`, name)
	}
	return op, nil
}

// normalizeOp lowercases an op name: Entra ID sends "Add", "Replace" and
// "Remove" (IDP-DIALECTS: Entra, capitalised ops).
func normalizeOp(op string) (string, error) {
	switch {
	case strings.EqualFold(op, OpAdd):
		return OpAdd, nil
	case strings.EqualFold(op, OpRemove):
		return OpRemove, nil
	case strings.EqualFold(op, OpReplace):
		return OpReplace, nil
	}
	return "", scimerr.BadRequest(scimerr.InvalidValue, `unknown op %q; SCIM PATCH has "add", "remove" and "replace" (RFC 7644 §3.5.2)`, clip(op))
}

func tooManyOps(n int) error {
	return scimerr.BadRequest(scimerr.TooMany, "the request has %d operations; at most %d are accepted in one PATCH", n, MaxOperations)
}

func pathTooLong(n int) error {
	return scimerr.BadRequest(scimerr.InvalidPath, "the path is %d bytes long; at most %d are accepted", n, MaxPathLength)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
