package keepnet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// Setting keys.
const (
	settingTargetGroup  = "target_group"
	settingFieldMap     = "field_map"
	settingGroupBy      = "group_by"
	settingMirrorGroups = "mirror_groups"
)

// DefaultTargetGroup is the target group users join when target_group is
// not set.
const DefaultTargetGroup = "SCIM Users"

// MaxFieldMappings is the most field_map entries a tenant may configure.
const MaxFieldMappings = 20

// groupByDepartment is the group_by value that groups users by their
// enterprise department; groupByFieldPrefix starts one that names a mapped
// custom field.
const (
	groupByDepartment  = "department"
	groupByFieldPrefix = "field:"
)

// builtinFields are the target user's own columns; a custom field may not
// take one of their names.
var builtinFields = []string{"email", "first_name", "last_name", "department", "phone", "active"}

// settings is a tenant's effective configuration.
type settings struct {
	// targetGroup is the default target group.
	targetGroup string
	// fieldMap lists the custom field mappings in the operator's order.
	fieldMap []fieldMapping
	// groupBy is "" (off), "department", or "field:<name>" with the
	// mapped field's name as configured.
	groupBy string
	// mirrorGroups makes SCIM groups target groups too.
	mirrorGroups bool
}

// fieldMapping fills one custom field from one SCIM attribute path.
type fieldMapping struct {
	field string
	path  string
}

// defaultSettings returns the settings of a tenant that configured none.
func defaultSettings() settings {
	return settings{targetGroup: DefaultTargetGroup}
}

// groupByField returns the custom field group_by names, if it names one.
func (s settings) groupByField() (string, bool) {
	return strings.CutPrefix(s.groupBy, groupByFieldPrefix)
}

// settingsView is the effective settings as Inspect shows them; Configure
// accepts it back unchanged.
type settingsView struct {
	TargetGroup  string      `json:"target_group"`
	FieldMap     [][2]string `json:"field_map"`
	GroupBy      string      `json:"group_by"`
	MirrorGroups bool        `json:"mirror_groups"`
}

func (s settings) view() settingsView {
	v := settingsView{
		TargetGroup:  s.targetGroup,
		FieldMap:     make([][2]string, 0, len(s.fieldMap)),
		GroupBy:      s.groupBy,
		MirrorGroups: s.mirrorGroups,
	}
	for _, m := range s.fieldMap {
		v.FieldMap = append(v.FieldMap, [2]string{m.field, m.path})
	}
	if v.GroupBy == "" {
		v.GroupBy = "none"
	}
	return v
}

// settingDocs documents the settings for Describe.
var settingDocs = []sdk.Setting{
	{
		Name: settingTargetGroup,
		Description: `Target group every provisioned user joins, unless group_by places them elsewhere; ` +
			`default "` + DefaultTargetGroup + `".`,
	},
	{
		Name: settingFieldMap,
		Description: fmt.Sprintf("Custom field mappings, each a custom field name and a SCIM attribute path "+
			"(core, enterprise or custom extension, e.g. `addresses[type eq \"work\"].locality`); "+
			"one pair or a list of pairs, at most %d, field names unique.", MaxFieldMappings),
	},
	{
		Name: settingGroupBy,
		Description: `Places each user in the target group named by their "department" or by a mapped ` +
			`custom field ("field:<name>"); users without a value stay in target_group. Empty or "none" turns it off.`,
	},
	{
		Name:        settingMirrorGroups,
		Description: `"true" makes SCIM groups target groups too, with their members; default "false".`,
	},
}

// parseSettings reads and validates a tenant's settings. Every error is
// sdk.Invalid and names the setting it is about.
func parseSettings(raw json.RawMessage) (settings, error) {
	s := defaultSettings()
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return s, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return s, sdk.Invalid("keepnet settings must be a JSON object with the keys %s: %v", acceptedKeys(), err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case settingTargetGroup, settingFieldMap, settingGroupBy, settingMirrorGroups:
		default:
			return s, sdk.Invalid("unknown keepnet setting %q: accepted settings are %s", k, acceptedKeys())
		}
	}
	if v, ok := obj[settingTargetGroup]; ok {
		name, err := words(v)
		if err != nil || strings.TrimSpace(name) == "" {
			return s, sdk.Invalid(`setting %s must name a target group, e.g. "All Staff"`, settingTargetGroup)
		}
		if strings.ContainsRune(name, 0) {
			return s, sdk.Invalid("setting %s: a target group name may not contain a NUL character", settingTargetGroup)
		}
		s.targetGroup = strings.TrimSpace(name)
	}
	if v, ok := obj[settingFieldMap]; ok {
		m, err := parseFieldMap(v)
		if err != nil {
			return s, err
		}
		s.fieldMap = m
	}
	if v, ok := obj[settingGroupBy]; ok {
		g, err := parseGroupBy(v, s.fieldMap)
		if err != nil {
			return s, err
		}
		s.groupBy = g
	}
	if v, ok := obj[settingMirrorGroups]; ok {
		b, err := parseBool(v)
		if err != nil {
			return s, sdk.Invalid("setting %s must be true or false, not %s", settingMirrorGroups, clip(v))
		}
		s.mirrorGroups = b
	}
	return s, nil
}

func acceptedKeys() string {
	return strings.Join([]string{settingTargetGroup, settingFieldMap, settingGroupBy, settingMirrorGroups}, ", ")
}

// words reads a JSON string, or an array of strings joined by spaces: a
// Caddyfile line "target_group All Staff" arrives as ["All","Staff"].
func words(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return "", err
	}
	return strings.Join(list, " "), nil
}

func parseBool(v json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(v, &b); err == nil {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

func parseGroupBy(v json.RawMessage, fieldMap []fieldMapping) (string, error) {
	g, err := words(v)
	if err != nil {
		return "", sdk.Invalid(`setting %s must be "department", "field:<custom field name>" or "none", not %s`,
			settingGroupBy, clip(v))
	}
	g = strings.TrimSpace(g)
	switch {
	case g == "" || strings.EqualFold(g, "none"):
		return "", nil
	case strings.EqualFold(g, groupByDepartment):
		return groupByDepartment, nil
	case len(g) >= len(groupByFieldPrefix) && strings.EqualFold(g[:len(groupByFieldPrefix)], groupByFieldPrefix):
		name := strings.TrimSpace(g[len(groupByFieldPrefix):])
		for _, m := range fieldMap {
			if strings.EqualFold(m.field, name) {
				return groupByFieldPrefix + m.field, nil
			}
		}
		return "", sdk.Invalid("setting %s: %q names no field_map entry; mapped fields: %s",
			settingGroupBy, g, mappedFields(fieldMap))
	}
	return "", sdk.Invalid(`setting %s must be "department", "field:<custom field name>" or "none", not %q`,
		settingGroupBy, g)
}

func mappedFields(fieldMap []fieldMapping) string {
	if len(fieldMap) == 0 {
		return "none"
	}
	names := make([]string, len(fieldMap))
	for i, m := range fieldMap {
		names[i] = m.field
	}
	return strings.Join(names, ", ")
}

// parseFieldMap reads field_map in the shapes a Caddyfile block or a JSON
// config produces: one entry (["name","path"] or "name path"), a list of
// entries ([["a","b"],["c","d"]]), or an object {"name":"path"}. An entry
// with more than two strings is a path the Caddyfile split at its spaces,
// such as addresses[type eq "work"].locality, and is joined back.
func parseFieldMap(v json.RawMessage) ([]fieldMapping, error) {
	var entries [][]string
	var one string
	var strs []string
	var list []json.RawMessage
	var obj map[string]string
	switch {
	case bytes.Equal(bytes.TrimSpace(v), []byte("null")):
		return nil, nil
	case json.Unmarshal(v, &one) == nil:
		entries = [][]string{strings.Fields(one)}
	case json.Unmarshal(v, &strs) == nil:
		if len(strs) > 0 {
			entries = [][]string{strs}
		}
	case json.Unmarshal(v, &list) == nil:
		for i, el := range list {
			var e []string
			if json.Unmarshal(el, &one) == nil {
				e = strings.Fields(one)
			} else if err := json.Unmarshal(el, &e); err != nil {
				return nil, sdk.Invalid("setting %s: entry %d must be a custom field name and a SCIM attribute path, not %s",
					settingFieldMap, i+1, clip(el))
			}
			entries = append(entries, e)
		}
	case json.Unmarshal(v, &obj) == nil:
		names := make([]string, 0, len(obj))
		for k := range obj {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			entries = append(entries, []string{k, obj[k]})
		}
	default:
		return nil, sdk.Invalid("setting %s must be pairs of a custom field name and a SCIM attribute path, not %s",
			settingFieldMap, clip(v))
	}
	if len(entries) > MaxFieldMappings {
		return nil, sdk.Invalid("setting %s has %d entries; at most %d are allowed",
			settingFieldMap, len(entries), MaxFieldMappings)
	}
	out := make([]fieldMapping, 0, len(entries))
	seen := map[string]int{}
	for i, e := range entries {
		n := i + 1
		if len(e) < 2 {
			return nil, sdk.Invalid("setting %s: entry %d (%s) needs a custom field name and a SCIM attribute path",
				settingFieldMap, n, strings.Join(e, " "))
		}
		name := strings.TrimSpace(e[0])
		if name == "" || strings.ContainsRune(name, 0) {
			return nil, sdk.Invalid("setting %s: entry %d has an empty custom field name", settingFieldMap, n)
		}
		for _, b := range builtinFields {
			if strings.EqualFold(name, b) {
				return nil, sdk.Invalid("setting %s: entry %d (%q) names a built-in target user field; choose another name",
					settingFieldMap, n, name)
			}
		}
		if prev, dup := seen[strings.ToLower(name)]; dup {
			return nil, sdk.Invalid("setting %s: entry %d (%q) repeats the custom field of entry %d; field names must be unique",
				settingFieldMap, n, name, prev)
		}
		seen[strings.ToLower(name)] = n
		path, err := canonicalPath(strings.Join(e[1:], " "))
		if err != nil {
			return nil, sdk.Invalid("setting %s: entry %d (%q): %v", settingFieldMap, n, name, err)
		}
		out = append(out, fieldMapping{field: name, path: path})
	}
	return out, nil
}

// canonicalPath checks a SCIM attribute path and writes it the way
// User.Attributes keys it: an optional value filter becomes
// `[type eq "work"]`, with the value quoted and single spaces.
func canonicalPath(p string) (string, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", fmt.Errorf("the SCIM attribute path is empty")
	}
	open := strings.IndexByte(p, '[')
	if open < 0 {
		if strings.ContainsAny(p, " \t]\"\x00") {
			return "", fmt.Errorf("%q is not a SCIM attribute path", p)
		}
		return p, nil
	}
	end := strings.IndexByte(p[open:], ']')
	if end < 0 {
		return "", fmt.Errorf("%q has no closing ]", p)
	}
	end += open
	attr := strings.TrimSpace(p[:open])
	rest := strings.TrimSpace(p[end+1:])
	f := strings.Fields(p[open+1 : end])
	if attr == "" || strings.ContainsAny(attr, " \t\"\x00") ||
		strings.ContainsAny(rest, " \t[]\"\x00") || (rest != "" && !strings.HasPrefix(rest, ".")) {
		return "", fmt.Errorf("%q is not a SCIM attribute path", p)
	}
	if len(f) < 3 || !strings.EqualFold(f[1], "eq") {
		return "", fmt.Errorf(`%q: only filters of the form [type eq "work"] can be mapped`, p)
	}
	value := strings.Trim(strings.Join(f[2:], " "), `"`)
	if value == "" {
		return "", fmt.Errorf("%q filters on an empty value", p)
	}
	return attr + "[" + f[0] + " eq " + strconv.Quote(value) + "]" + rest, nil
}

// clip renders a setting's raw value for an error message, shortened.
func clip(v json.RawMessage) string {
	const limit = 80
	s := string(bytes.TrimSpace(v))
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}
