package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// The cases of the bad-input suite (badinput_test.go), built per class.

// jq quotes s as a JSON string, leaving non-ASCII text as it is.
func jq(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// userJSON is a User body with the core schema and the given members.
func userJSON(fields string) string {
	return `{"schemas":["` + userURN + `"],` + fields + `}`
}

// newUser is a valid new User with extra members appended.
func newUser(extra string) string {
	return userJSON(`"userName":"new.user@example.com"` + extra)
}

func groupJSON(fields string) string {
	return `{"schemas":["` + groupURN + `"],` + fields + `}`
}

// patchOps is a PatchOp message with the given operations.
func patchOps(ops ...string) string {
	return `{"schemas":["` + patchURN + `"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// op is one PATCH operation; path and value are left out when empty, and
// value is raw JSON.
func op(name, path, value string) string {
	s := `{"op":` + jq(name)
	if path != "" {
		s += `,"path":` + jq(path)
	}
	if value != "" {
		s += `,"value":` + value
	}
	return s + "}"
}

// bulkOp is one bulk operation with raw JSON data ("" for none).
func bulkOpJSON(method, bulkID, path, data string) string {
	s := `{"method":` + jq(method)
	if bulkID != "" {
		s += `,"bulkId":` + jq(bulkID)
	}
	s += `,"path":` + jq(path)
	if data != "" {
		s += `,"data":` + data
	}
	return s + "}"
}

// nested is v wrapped in depth levels of arrays or objects.
func nested(depth int, object bool, v string) string {
	open, close := "[", "]"
	if object {
		open, close = `{"a":`, "}"
	}
	return strings.Repeat(open, depth) + v + strings.Repeat(close, depth)
}

func badInputCases() []badCase {
	var all []badCase
	for _, f := range []func() []badCase{
		membersCases, jsonCases, identifierCases, typeCases, limitCases, discoveryCases,
		patchCases, headerCases, methodCases, pathCases, queryCases, bulkCases,
	} {
		all = append(all, f()...)
	}
	return all
}

// membersCases: a group's members must be an array of objects with a
// non-empty string value; $ref, type and display are allowed, anything else
// is 400 invalidValue, and a malformed member fails the whole request.
func membersCases() []badCase {
	bad := []struct{ name, json string }{
		{"bare string", `"x"`},
		{"number", `5`},
		{"boolean", `true`},
		{"object instead of array", `{"value":"{kim}"}`},
		{"value a number", `[{"value":5}]`},
		{"display without value", `[{"display":"x"}]`},
		{"empty value", `[{"value":""}]`},
		{"null value", `[{"value":null}]`},
		{"unknown sub-attribute", `[{"value":"{kim}","role":"admin"}]`},
		{"nested array", `[["{kim}"]]`},
		{"null element", `[null]`},
		{"array of strings", `["{kim}"]`},
		{"value an array", `[{"value":["{kim}"]}]`},
		{"value an object", `[{"value":{"id":"{kim}"}}]`},
		{"type a number", `[{"value":"{kim}","type":5}]`},
		{"$ref a number", `[{"value":"{kim}","$ref":5}]`},
		{"display a number", `[{"value":"{kim}","display":5}]`},
		{"good member then bad", `[{"value":"{kim}"},{"value":5}]`},
	}
	forms := []struct {
		name, method, path string
		body               func(m string) string
	}{
		{"POST", "POST", "/Groups", func(m string) string {
			return groupJSON(`"displayName":"Badge Readers","members":` + m)
		}},
		{"PUT", "PUT", "/Groups/{g1}", func(m string) string {
			return groupJSON(`"displayName":"Printers","members":` + m)
		}},
		{"PATCH add", "PATCH", "/Groups/{g1}", func(m string) string { return patchOps(op("add", "members", m)) }},
		{"PATCH replace", "PATCH", "/Groups/{g1}", func(m string) string { return patchOps(op("replace", "members", m)) }},
		{"PATCH path-less replace", "PATCH", "/Groups/{g1}", func(m string) string {
			return patchOps(op("replace", "", `{"members":`+m+`}`))
		}},
		{"PATCH path-less add", "PATCH", "/Groups/{g1}", func(m string) string {
			return patchOps(op("add", "", `{"members":`+m+`}`))
		}},
	}
	var out []badCase
	for _, f := range forms {
		for _, m := range bad {
			out = append(out, badCase{class: "members", name: f.name + "/" + m.name, method: f.method, path: f.path,
				body: f.body(m.json), status: 400, scimType: "invalidValue"})
		}
	}
	// A value path selects one member; what replaces it must be a member.
	for _, e := range []struct{ name, json string }{
		{"value a number", `{"value":5}`},
		{"display without value", `{"display":"x"}`},
		{"empty value", `{"value":""}`},
		{"bare string", `"x"`},
		{"unknown sub-attribute", `{"value":"{kim}","role":"admin"}`},
		{"number", `5`},
		{"array of bad members", `[{"value":5}]`},
	} {
		out = append(out, badCase{class: "members", name: "PATCH valuePath replace/" + e.name, method: "PATCH", path: "/Groups/{g1}",
			body: patchOps(op("replace", `members[value eq "{bj}"]`, e.json)), status: 400, scimType: "invalidValue"})
	}
	for _, v := range []struct{ name, json string }{
		{"number", `5`},
		{"empty string", `""`},
		{"object", `{"value":"{kim}"}`},
		{"array", `["{kim}"]`},
		{"boolean", `true`},
		{"null", `null`},
	} {
		out = append(out, badCase{class: "members", name: "PATCH valuePath .value replace/" + v.name, method: "PATCH", path: "/Groups/{g1}",
			body: patchOps(op("replace", `members[value eq "{bj}"].value`, v.json)), status: 400, scimType: "invalidValue|noTarget|mutability"})
	}
	// Entra's default-dialect remove names the members to remove by value.
	for _, v := range []struct{ name, json string }{
		{"bare string", `"x"`},
		{"value a number", `[{"value":5}]`},
		{"display without value", `[{"display":"x"}]`},
	} {
		out = append(out, badCase{class: "members", name: "PATCH remove with value/" + v.name, method: "PATCH", path: "/Groups/{g1}",
			body: patchOps(op("remove", "members", v.json)), status: 400, scimType: "invalidValue"})
	}
	// The same through /Bulk: the operation fails, nothing is written.
	for _, m := range bad[:9] {
		if m.name == "null value" || m.name == "boolean" || m.name == "object instead of array" || m.name == "number" {
			continue
		}
		out = append(out,
			badCase{class: "members", name: "Bulk POST/" + m.name, method: "POST", path: "/Bulk", bulkOps: true, status: 400, scimType: "invalidValue",
				body: bulkRequest(0, bulkOpJSON("POST", "g", "/Groups", groupJSON(`"displayName":"Badge Readers","members":`+m.json)))},
			badCase{class: "members", name: "Bulk PUT/" + m.name, method: "POST", path: "/Bulk", bulkOps: true, status: 400, scimType: "invalidValue",
				body: bulkRequest(0, bulkOpJSON("PUT", "", "/Groups/{g1}", groupJSON(`"displayName":"Printers","members":`+m.json)))},
			badCase{class: "members", name: "Bulk PATCH/" + m.name, method: "POST", path: "/Bulk", bulkOps: true, status: 400, scimType: "invalidValue",
				body: bulkRequest(0, bulkOpJSON("PATCH", "", "/Groups/{g1}", patchOps(op("replace", "members", m.json))))},
		)
	}
	return out
}

// jsonCases: exactly one JSON value per body, valid UTF-8, no control
// characters where they do not belong.
func jsonCases() []badCase {
	var out []badCase
	add := func(name, method, path, body string, scimType string) {
		out = append(out, badCase{class: "json", name: name, method: method, path: path, body: body, status: 400, scimType: scimType})
	}
	valid := []struct{ name, method, path, body string }{
		{"POST /Users", "POST", "/Users", newUser("")},
		{"PUT /Users", "PUT", "/Users/{bj}", userJSON(`"userName":"bjensen@example.com","title":"Changed"`)},
		{"PATCH /Users", "PATCH", "/Users/{bj}", patchOps(op("replace", "title", `"Changed"`))},
		{"POST /Groups", "POST", "/Groups", groupJSON(`"displayName":"Badge Readers"`)},
		{"PATCH /Groups", "PATCH", "/Groups/{g1}", patchOps(op("add", "members", `[{"value":"{kim}"}]`))},
		{"POST /Bulk", "POST", "/Bulk", bulkRequest(0, bulkOpJSON("POST", "u", "/Users", newUser("")))},
		{"POST /.search", "POST", "/.search", `{"filter":"userName eq \"x\""}`},
	}
	for _, v := range valid {
		add("trailing brace/"+v.name, v.method, v.path, v.body+"}", "invalidSyntax")
		add("trailing bracket/"+v.name, v.method, v.path, v.body+"]", "invalidSyntax")
	}
	for _, v := range valid[:6] {
		add("second object/"+v.name, v.method, v.path, v.body+v.body, "invalidSyntax")
	}
	add("trailing word", "POST", "/Users", newUser("")+" x", "invalidSyntax")
	add("trailing comma", "POST", "/Users", newUser("")+",", "invalidSyntax")
	add("trailing null", "POST", "/Users", newUser("")+" null", "invalidSyntax")
	add("trailing number", "POST", "/Users", newUser("")+"\n0", "invalidSyntax")

	// Invalid UTF-8, in a userName unless named otherwise.
	for _, s := range []struct{ name, bytes string }{
		{"0xFF", "\xff"},
		{"0xFE", "\xfe"},
		{"lone continuation byte", "\x80"},
		{"two-byte lead then ASCII", "\xc3\x28"},
		{"two-byte lead at end of string", "\xc3"},
		{"three-byte sequence cut short", "\xe2\x82\x28"},
		{"three-byte lead at end of string", "\xe2\x82"},
		{"four-byte sequence cut short", "\xf0\x9f\x98"},
		{"overlong slash in two bytes", "\xc0\xaf"},
		{"overlong DEL in two bytes", "\xc1\xbf"},
		{"overlong slash in three bytes", "\xe0\x80\xaf"},
		{"overlong slash in four bytes", "\xf0\x80\x80\xaf"},
		{"encoded high surrogate", "\xed\xa0\x80"},
		{"encoded low surrogate", "\xed\xbf\xbf"},
		{"CESU-8 surrogate pair", "\xed\xa0\xbd\xed\xb8\x80"},
		{"above U+10FFFF", "\xf4\x90\x80\x80"},
		{"five-byte form", "\xf8\x88\x80\x80\x80"},
		{"six-byte form", "\xfc\x84\x80\x80\x80\x80"},
	} {
		add("invalid UTF-8/"+s.name, "POST", "/Users", userJSON(`"userName":"bjensen`+s.bytes+`@example.com"`), "invalidSyntax")
	}
	for _, s := range []struct{ name, method, path, body string }{
		{"in a member name", "POST", "/Users", userJSON(`"user` + "\xff" + `Name":"new.user@example.com"`)},
		{"in title", "POST", "/Users", newUser(`,"title":"T` + "\xc3\x28" + `"`)},
		{"in an undeclared extension", "POST", "/Users", `{"schemas":["` + userURN + `","urn:example:custom:1.0:User"],"userName":"new.user@example.com","urn:example:custom:1.0:User":{"badge":"` + "\xed\xa0\x80" + `"}}`},
		{"in a PATCH value", "PATCH", "/Users/{bj}", patchOps(op("replace", "title", `"T`+"\xff"+`"`))},
		{"in a PATCH path", "PATCH", "/Users/{bj}", `{"schemas":["` + patchURN + `"],"Operations":[{"op":"replace","path":"tit` + "\xff" + `le","value":"T"}]}`},
		{"in a member value", "PATCH", "/Groups/{g1}", patchOps(op("add", "members", `[{"value":"{kim}`+"\xc0\xaf"+`"}]`))},
		{"in a group displayName", "PUT", "/Groups/{g1}", groupJSON(`"displayName":"Printers` + "\xe2\x82" + `"`)},
		{"in a search filter", "POST", "/.search", `{"filter":"userName eq \"bjensen` + "\xff" + `@example.com\""}`},
		{"in Bulk data", "POST", "/Bulk", bulkRequest(0, bulkOpJSON("POST", "u", "/Users", userJSON(`"userName":"new`+"\xfe"+`@example.com"`)))},
		{"between tokens", "POST", "/Users", "{\xff" + `"schemas":["` + userURN + `"],"userName":"new.user@example.com"}`},
	} {
		add("invalid UTF-8/"+s.name, s.method, s.path, s.body, "invalidSyntax")
	}
	// Escaped lone surrogates decode to no character at all.
	for _, s := range []struct{ name, esc string }{
		{"lone high surrogate escape", `\ud800`},
		{"lone low surrogate escape", `\udc00`},
		{"reversed surrogate pair escape", `\udc00\ud800`},
	} {
		add("invalid UTF-8/"+s.name, "POST", "/Users", userJSON(`"userName":"bjensen`+s.esc+`@example.com"`), "invalidSyntax|invalidValue")
	}
	add("byte order mark before the body", "POST", "/Users", "\xef\xbb\xbf"+newUser(""), "invalidSyntax")

	for _, v := range valid {
		add("empty body/"+v.name, v.method, v.path, "", "invalidSyntax")
	}
	add("whitespace-only body", "POST", "/Users", " \r\n\t ", "invalidSyntax")
	for _, s := range []struct{ name, method, path, body string }{
		{"null", "POST", "/Users", "null"},
		{"empty array", "POST", "/Users", "[]"},
		{"array of a user", "POST", "/Users", "[" + newUser("") + "]"},
		{"string", "POST", "/Users", `"bjensen@example.com"`},
		{"number", "POST", "/Users", "5"},
		{"true", "POST", "/Users", "true"},
		{"PATCH array of operations", "PATCH", "/Users/{bj}", "[" + op("replace", "title", `"T"`) + "]"},
		{"Bulk null", "POST", "/Bulk", "null"},
		{"search array", "POST", "/.search", "[]"},
		{"PUT string", "PUT", "/Users/{bj}", `"x"`},
	} {
		add("not an object/"+s.name, s.method, s.path, s.body, "invalidSyntax")
	}
	// Raw control characters inside a JSON string are not JSON.
	for _, s := range []struct{ name, raw string }{
		{"raw NUL", "\x00"},
		{"raw SOH", "\x01"},
		{"raw LF", "\n"},
		{"raw TAB", "\t"},
	} {
		add("raw control in string/"+s.name, "POST", "/Users", userJSON(`"userName":"new`+s.raw+`user@example.com"`), "invalidSyntax")
	}
	// Escaped C0 controls are valid JSON and refused where they do not
	// belong: everywhere but TAB, LF and CR in free text and undeclared
	// extensions.
	custom := func(v string) string {
		return `{"schemas":["` + userURN + `","urn:example:custom:1.0:User"],"userName":"new.user@example.com","urn:example:custom:1.0:User":` + v + `}`
	}
	for _, s := range []struct{ name, method, path, body string }{
		{"SOH in title", "POST", "/Users", newUser(`,"title":"Tour\u0001Guide"`)},
		{"NUL in title", "POST", "/Users", newUser(`,"title":"Tour Guide\u0000"`)},
		{"US in name.givenName", "POST", "/Users", newUser(`,"name":{"givenName":"Bar\u001fbara"}`)},
		{"DEL in title", "POST", "/Users", newUser(`,"title":"\u007fTour"`)},
		{"TAB in title", "POST", "/Users", newUser(`,"title":"Tour\tGuide"`)},
		{"LF in emails.type", "POST", "/Users", newUser(`,"emails":[{"value":"n@example.com","type":"work\n"}]`)},
		{"ESC in addresses.formatted", "POST", "/Users", newUser(`,"addresses":[{"formatted":"1 Main St\u001b[31m"}]`)},
		{"SOH in an undeclared extension value", "POST", "/Users", custom(`{"badge":"7\u0001"}`)},
		{"NUL in an undeclared extension key", "POST", "/Users", custom(`{"ba\u0000dge":"7"}`)},
		{"BEL in a member name", "POST", "/Users", userJSON(`"userName":"new.user@example.com","ti\u0007tle":"x"`)},
		{"VT in a PATCH value", "PATCH", "/Users/{bj}", patchOps(op("replace", "title", `"Tour\u000bGuide"`))},
		{"FF in a PUT", "PUT", "/Users/{bj}", userJSON(`"userName":"bjensen@example.com","nickName":"Babs\f"`)},
	} {
		add("control character/"+s.name, s.method, s.path, s.body, "invalidValue")
	}
	// A name given twice is ambiguous: which one would be stored?
	for _, s := range []struct{ name, method, path, body string }{
		{"userName twice", "POST", "/Users", userJSON(`"userName":"new.user@example.com","userName":"other@example.com"`)},
		{"userName in two cases", "POST", "/Users", userJSON(`"userName":"new.user@example.com","USERNAME":"other@example.com"`)},
		{"givenName twice", "POST", "/Users", newUser(`,"name":{"givenName":"A","givenName":"B"}`)},
		{"op twice", "PATCH", "/Users/{bj}", patchOps(`{"op":"replace","op":"remove","path":"title","value":"T"}`)},
	} {
		add("duplicate member name/"+s.name, s.method, s.path, s.body, "invalidSyntax|invalidValue")
	}
	for _, s := range []struct{ name, body string }{
		{"truncated", userJSON(`"userName":"new.user@example.com"`)[:40]},
		{"single quotes", `{'userName':'new.user@example.com'}`},
		{"trailing comma in object", `{"userName":"new.user@example.com",}`},
		{"comment", `{"userName":"new.user@example.com" /* x */}`},
		{"NaN", newUser(`,"active":NaN`)},
		{"unquoted member name", `{userName:"new.user@example.com"}`},
		{"leading zero", newUser(`,"nickName":01`)},
		{"hex number", newUser(`,"nickName":0x1`)},
	} {
		add("syntax/"+s.name, "POST", "/Users", s.body, "invalidSyntax")
	}
	return out
}

// Identifier forms that are refused with 400 invalidValue: whitespace at
// either end, nothing but whitespace, format characters and controls.
var badIdentifiers = []struct{ name, value string }{
	{"leading space", " bjensen@example.com"},
	{"trailing space", "bjensen@example.com "},
	{"leading tab", "\tnew.user@example.com"},
	{"trailing newline", "new.user@example.com\n"},
	{"only spaces", "   "},
	{"only tabs", "\t\t"},
	{"empty", ""},
	{"zero-width space inside", "bjen\u200bsen@example.com"},
	{"zero-width joiner inside", "new\u200duser@example.com"},
	{"zero-width non-joiner inside", "new\u200cuser@example.com"},
	{"BOM inside", "new\ufeffuser@example.com"},
	{"BOM leading", "\ufeffbjensen@example.com"},
	{"trailing NUL", "bjensen@example.com\u0000"},
	{"SOH inside", "new\u0001user@example.com"},
	{"DEL inside", "new\u007fuser@example.com"},
	{"soft hyphen inside", "bjen\u00adsen@example.com"},
	{"word joiner inside", "new\u2060user@example.com"},
	{"right-to-left override inside", "new\u202euser@example.com"},
	{"left-to-right mark inside", "new\u200euser@example.com"},
	{"language tag inside", "new\U000e0001user@example.com"},
	{"leading no-break space", "\u00a0bjensen@example.com"},
	{"trailing ideographic space", "bjensen@example.com\u3000"},
	{"only no-break spaces", "\u00a0\u00a0"},
	{"NEL inside", "new\u0085user@example.com"},
	{"LF inside", "new\nuser@example.com"},
	{"TAB inside", "new\tuser@example.com"},
}

// Look-alikes of the seeded names, each of which must collide (409
// uniqueness) with the original under one comparison rule: width mapping,
// NFC and full case folding.
var lookAlikes = []struct{ name, value, of string }{
	{"upper case", "BJENSEN@EXAMPLE.COM", "{bj}"},
	{"mixed case", "Bjensen@Example.com", "{bj}"},
	{"fullwidth letters", "ｂｊｅｎｓｅｎ@example.com", "{bj}"},
	{"fullwidth everything", "ｂｊｅｎｓｅｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "{bj}"},
	{"fullwidth upper case", "ＢＪＥＮＳＥＮ@example.com", "{bj}"},
	{"long s", "bjenſen@example.com", "{bj}"},
	{"decomposed accent", "rene\u0301e@example.com", "{rn}"},
	{"upper case composed accent", "RENÉE@EXAMPLE.COM", "{rn}"},
	{"upper case decomposed accent", "RENE\u0301E@example.com", "{rn}"},
	{"Kelvin sign", "\u212aim@example.com", "{kim}"},
	{"sharp s", "straße@example.com", "{str}"},
	{"capital sharp s", "STRAẞE@example.com", "{str}"},
	{"final sigma", "οδυσσευς@example.com", "{ody}"},
	{"lower-case sigma", "οδυσσευσ@example.com", "{ody}"},
	{"title case with final sigma", "Οδυσσευς@example.com", "{ody}"},
}

// groupLookAlikes collide with the seeded groups "Printers" and "Café Staff".
var groupLookAlikes = []struct{ name, value, of string }{
	{"upper case", "PRINTERS", "{g1}"},
	{"fullwidth", "Ｐｒｉｎｔｅｒｓ", "{g1}"},
	{"decomposed accent", "Cafe\u0301 Staff", "{g2}"},
	{"upper case accent", "CAFÉ STAFF", "{g2}"},
	{"lower case", "café staff", "{g2}"},
}

func identifierCases() []badCase {
	var out []badCase
	add := func(name, method, path, body string, status int, scimType string) {
		out = append(out, badCase{class: "identifiers", name: name, method: method, path: path, body: body, status: status, scimType: scimType})
	}
	for _, id := range badIdentifiers {
		add("userName POST/"+id.name, "POST", "/Users", userJSON(`"userName":`+jq(id.value)), 400, "invalidValue")
	}
	for _, id := range badIdentifiers[:14] {
		add("group displayName POST/"+id.name, "POST", "/Groups", groupJSON(`"displayName":`+jq(strings.Replace(id.value, "@example.com", "", 1))), 400, "invalidValue")
	}
	for _, id := range badIdentifiers[:12] {
		add("emails.value POST/"+id.name, "POST", "/Users", newUser(`,"emails":[{"value":`+jq(id.value)+`,"type":"work"}]`), 400, "invalidValue")
	}
	for _, id := range badIdentifiers[:8] {
		add("userName PUT/"+id.name, "PUT", "/Users/{kim}", userJSON(`"userName":`+jq(id.value)), 400, "invalidValue")
		add("userName PATCH/"+id.name, "PATCH", "/Users/{kim}", patchOps(op("replace", "userName", jq(id.value))), 400, "invalidValue|mutability")
	}
	for _, id := range badIdentifiers[:4] {
		add("group displayName PATCH/"+id.name, "PATCH", "/Groups/{g1}", patchOps(op("replace", "displayName", jq(id.value))), 400, "invalidValue")
		add("emails.value PATCH/"+id.name, "PATCH", "/Users/{kim}", patchOps(op("add", "emails", `[{"value":`+jq(id.value)+`}]`)), 400, "invalidValue")
	}
	for _, id := range badIdentifiers[:3] {
		out = append(out, badCase{class: "identifiers", name: "userName Bulk POST/" + id.name, method: "POST", path: "/Bulk", bulkOps: true,
			status: 400, scimType: "invalidValue", body: bulkRequest(0, bulkOpJSON("POST", "u", "/Users", userJSON(`"userName":`+jq(id.value))))})
	}
	// Look-alikes of an existing name are that name.
	for _, l := range lookAlikes {
		add("look-alike POST/"+l.name, "POST", "/Users", userJSON(`"userName":`+jq(l.value)), 409, "uniqueness")
	}
	for _, i := range []int{0, 2, 5, 6, 11, 12} {
		l := lookAlikes[i]
		add("look-alike PUT/"+l.name, "PUT", "/Users/{kim}", userJSON(`"userName":`+jq(l.value)), 409, "uniqueness")
		add("look-alike PATCH/"+l.name, "PATCH", "/Users/{kim}", patchOps(op("replace", "userName", jq(l.value))), 409, "uniqueness")
	}
	for _, i := range []int{3, 6, 10} {
		l := lookAlikes[i]
		out = append(out, badCase{class: "identifiers", name: "look-alike Bulk POST/" + l.name, method: "POST", path: "/Bulk", bulkOps: true,
			status: 409, scimType: "uniqueness", body: bulkRequest(0, bulkOpJSON("POST", "u", "/Users", userJSON(`"userName":`+jq(l.value))))})
	}
	for _, l := range groupLookAlikes {
		add("group look-alike POST/"+l.name, "POST", "/Groups", groupJSON(`"displayName":`+jq(l.value)), 409, "uniqueness")
	}
	add("group look-alike PUT/upper case", "PUT", "/Groups/{g2}", groupJSON(`"displayName":"PRINTERS"`), 409, "uniqueness")
	add("group look-alike PATCH/fullwidth upper case", "PATCH", "/Groups/{g2}", patchOps(op("replace", "displayName", `"ＰＲＩＮＴＥＲＳ"`)), 409, "uniqueness")
	return out
}

// typeCases: a value of the wrong JSON type for a defined attribute is
// 400 invalidValue; schemas must name the core schema; unknown attributes
// of defined schemas are refused.
func typeCases() []badCase {
	var out []badCase
	add := func(name, method, path, body, scimType string) {
		out = append(out, badCase{class: "types", name: name, method: method, path: path, body: body, status: 400, scimType: scimType})
	}
	for _, s := range []struct{ name, fields string }{
		{"userName number", `"userName":123`},
		{"userName true", `"userName":true`},
		{"userName array", `"userName":[]`},
		{"userName array of string", `"userName":["new.user@example.com"]`},
		{"userName object", `"userName":{}`},
		{"userName fraction", `"userName":1.5`},
		{"userName null", `"userName":null`},
	} {
		add("user/"+s.name, "POST", "/Users", userJSON(s.fields), "invalidValue")
	}
	for _, s := range []struct{ name, extra string }{
		{"emails string", `"emails":"new.user@example.com"`},
		{"emails array of strings", `"emails":["new.user@example.com"]`},
		{"emails object", `"emails":{"value":"new.user@example.com"}`},
		{"emails value number", `"emails":[{"value":5}]`},
		{"emails primary maybe", `"emails":[{"value":"n@example.com","primary":"maybe"}]`},
		{"emails primary number", `"emails":[{"value":"n@example.com","primary":1}]`},
		{"emails type number", `"emails":[{"value":"n@example.com","type":5}]`},
		{"emails nested array", `"emails":[[{"value":"n@example.com"}]]`},
		{"active yes", `"active":"yes"`},
		{"active 1", `"active":1`},
		{"active 0", `"active":0`},
		{"active array", `"active":[true]`},
		{"active object", `"active":{}`},
		{"active empty string", `"active":""`},
		{"name string", `"name":"Barbara Jensen"`},
		{"name array", `"name":[{"givenName":"Barbara"}]`},
		{"name.givenName number", `"name":{"givenName":5}`},
		{"name.givenName true", `"name":{"givenName":true}`},
		{"name.familyName object", `"name":{"familyName":{}}`},
		{"displayName number", `"displayName":5`},
		{"title true", `"title":true`},
		{"nickName object", `"nickName":{}`},
		{"locale array", `"locale":["en-US"]`},
		{"externalId number", `"externalId":42`},
		{"phoneNumbers string", `"phoneNumbers":"555-0100"`},
		{"phoneNumbers value number", `"phoneNumbers":[{"value":5550100}]`},
		{"addresses string", `"addresses":"1 Main St"`},
		{"addresses.formatted number", `"addresses":[{"formatted":5}]`},
		{"x509Certificates not base64", `"x509Certificates":[{"value":"!!not base64!!"}]`},
		{"photos value number", `"photos":[{"value":5}]`},
		{"profileUrl number", `"profileUrl":5`},
		{"meta.lastModified garbage", `"meta":{"lastModified":"yesterday-ish"}`},
		{"enterprise employeeNumber number", `"` + enterprise + `":{"employeeNumber":5}`},
		{"enterprise manager number", `"` + enterprise + `":{"manager":5}`},
		{"enterprise manager value number", `"` + enterprise + `":{"manager":{"value":5}}`},
		{"enterprise department array", `"` + enterprise + `":{"department":["Tours"]}`},
	} {
		schemas := `"schemas":["` + userURN + `"],`
		if strings.Contains(s.extra, enterprise) {
			schemas = `"schemas":["` + userURN + `","` + enterprise + `"],`
		}
		add("user/"+s.name, "POST", "/Users", `{`+schemas+`"userName":"new.user@example.com",`+s.extra+`}`, "invalidValue")
	}
	for _, s := range []struct{ name, body string }{
		{"schemas missing", `{"userName":"new.user@example.com"}`},
		{"schemas a string", `{"schemas":"` + userURN + `","userName":"new.user@example.com"}`},
		{"schemas of numbers", `{"schemas":[5],"userName":"new.user@example.com"}`},
		{"schemas null element", `{"schemas":[null,"` + userURN + `"],"userName":"new.user@example.com"}`},
		{"schemas empty", `{"schemas":[],"userName":"new.user@example.com"}`},
		{"schemas without the core schema", `{"schemas":["` + enterprise + `"],"userName":"new.user@example.com"}`},
		{"schemas naming Group on /Users", `{"schemas":["` + groupURN + `"],"userName":"new.user@example.com"}`},
	} {
		add("user/"+s.name, "POST", "/Users", s.body, "invalidValue|invalidSyntax")
	}
	add("group/schemas naming User on /Groups", "POST", "/Groups", `{"schemas":["`+userURN+`"],"displayName":"Badge Readers"}`, "invalidValue|invalidSyntax")
	add("group/schemas missing on PUT", "PUT", "/Groups/{g1}", `{"displayName":"Printers"}`, "invalidValue|invalidSyntax")
	for _, s := range []struct{ name, extra string }{
		{"unknown core attribute", `"userNam":"x"`},
		{"unknown top-level attribute", `"favouriteColour":"blue"`},
		{"unknown name sub-attribute", `"name":{"middleInitial":"Q"}`},
		{"unknown emails sub-attribute", `"emails":[{"value":"n@example.com","label":"x"}]`},
		{"unknown enterprise attribute", `"` + enterprise + `":{"badge":"7"}`},
	} {
		add("user/"+s.name, "POST", "/Users", newUser(","+s.extra), "invalidSyntax|invalidValue|invalidPath")
	}
	for _, s := range []struct{ name, fields string }{
		{"displayName number", `"displayName":5`},
		{"displayName array", `"displayName":["Badge Readers"]`},
		{"displayName object", `"displayName":{}`},
		{"externalId number", `"displayName":"Badge Readers","externalId":7`},
	} {
		add("group/"+s.name, "POST", "/Groups", groupJSON(s.fields), "invalidValue")
	}
	for _, s := range []struct{ name, path, body string }{
		{"PATCH active yes", "/Users/{bj}", patchOps(op("replace", "active", `"yes"`))},
		{"PATCH userName number", "/Users/{bj}", patchOps(op("replace", "userName", `5`))},
		{"PATCH emails string", "/Users/{bj}", patchOps(op("add", "emails", `"n@example.com"`))},
		{"PATCH name.givenName number", "/Users/{bj}", patchOps(op("replace", "name.givenName", `5`))},
		{"PATCH name string", "/Users/{bj}", patchOps(op("replace", "name", `"Barbara Jensen"`))},
		{"PATCH primary maybe", "/Users/{bj}", patchOps(op("replace", `emails[type eq "work"].primary`, `"maybe"`))},
		{"PATCH enterprise employeeNumber number", "/Users/{bj}", patchOps(op("replace", enterprise+":employeeNumber", `5`))},
		{"PATCH group displayName number", "/Groups/{g1}", patchOps(op("replace", "displayName", `5`))},
		{"PATCH schemas a string", "/Users/{bj}", patchOps(op("replace", "schemas", `"`+userURN+`"`))},
		{"PATCH schemas without the core schema", "/Users/{bj}", patchOps(op("replace", "schemas", `["urn:example:nope"]`))},
	} {
		add("patch/"+s.name, "PATCH", s.path, s.body, "invalidValue")
	}
	return out
}

// limitCases: nesting depth at most 32, strings at most 65,536 bytes,
// identifiers at most 1,024 bytes, bodies at most the configured size.
func limitCases() []badCase {
	var out []badCase
	add := func(name, method, path, body string, status int, scimType string) {
		out = append(out, badCase{class: "limits", name: name, method: method, path: path, body: body, status: status, scimType: scimType})
	}
	custom := func(v string) string {
		return `{"schemas":["` + userURN + `","urn:example:custom:1.0:User"],"userName":"new.user@example.com","urn:example:custom:1.0:User":{"deep":` + v + `}}`
	}
	// The extension object and the body add two levels.
	add("depth 33 of arrays in an undeclared extension", "POST", "/Users", custom(nested(31, false, `"x"`)), 400, "invalidValue|invalidSyntax")
	add("depth 33 of objects in an undeclared extension", "POST", "/Users", custom(nested(31, true, `"x"`)), 400, "invalidValue|invalidSyntax")
	add("depth 10,000 of arrays in an undeclared extension", "POST", "/Users", custom(nested(9998, false, `1`)), 400, "invalidValue|invalidSyntax")
	add("depth 10,000 of objects in an undeclared extension", "POST", "/Users", custom(nested(9998, true, `1`)), 400, "invalidValue|invalidSyntax")
	add("depth 10,000 unclosed", "POST", "/Users", strings.Repeat("[", 10000), 400, "invalidValue|invalidSyntax")
	add("depth 40 in a PATCH value", "PATCH", "/Users/{bj}", patchOps(op("add", "urn:example:custom:1.0:User:deep", nested(40, false, `"x"`))), 400, "invalidValue|invalidSyntax")
	add("depth 40 in a PUT", "PUT", "/Users/{bj}", `{"schemas":["`+userURN+`","urn:example:custom:1.0:User"],"userName":"bjensen@example.com","urn:example:custom:1.0:User":{"deep":`+nested(40, true, `1`)+`}}`, 400, "invalidValue|invalidSyntax")
	add("depth 40 in a search request", "POST", "/.search", `{"filter":"userName pr","attributes":`+nested(40, false, `"userName"`)+`}`, 400, "invalidValue|invalidSyntax")
	out = append(out, badCase{class: "limits", name: "depth 40 in Bulk data", method: "POST", path: "/Bulk",
		body:   bulkRequest(0, bulkOpJSON("POST", "u", "/Users", custom(nested(40, false, `"x"`)))),
		status: 400, scimType: "invalidValue|invalidSyntax"})

	long := strings.Repeat("x", 65537)
	add("title over 65,536 bytes", "POST", "/Users", newUser(`,"title":"`+long+`"`), 400, "invalidValue")
	add("undeclared extension value over 65,536 bytes", "POST", "/Users", custom(`"`+long+`"`), 400, "invalidValue")
	add("member name over 65,536 bytes", "POST", "/Users", `{"schemas":["`+userURN+`","urn:example:custom:1.0:User"],"userName":"new.user@example.com","urn:example:custom:1.0:User":{"`+long+`":1}}`, 400, "invalidValue|invalidSyntax")
	add("PATCH value over 65,536 bytes", "PATCH", "/Users/{bj}", patchOps(op("replace", "title", `"`+long+`"`)), 400, "invalidValue")
	add("multi-byte title over 65,536 bytes", "POST", "/Users", newUser(`,"title":"`+strings.Repeat("é", 32769)+`"`), 400, "invalidValue")

	longID := strings.Repeat("a", 1013) + "@example.com" // 1,025 bytes
	add("userName over 1,024 bytes", "POST", "/Users", userJSON(`"userName":"`+longID+`"`), 400, "invalidValue")
	add("userName over 1,024 bytes in PATCH", "PATCH", "/Users/{kim}", patchOps(op("replace", "userName", `"`+longID+`"`)), 400, "invalidValue")
	add("group displayName over 1,024 bytes", "POST", "/Groups", groupJSON(`"displayName":"`+strings.Repeat("G", 1025)+`"`), 400, "invalidValue")
	add("externalId over 1,024 bytes", "POST", "/Users", newUser(`,"externalId":"`+strings.Repeat("e", 1025)+`"`), 400, "invalidValue")
	add("emails.value over 1,024 bytes", "POST", "/Users", newUser(`,"emails":[{"value":"`+longID+`"}]`), 400, "invalidValue")
	add("member value over 1,024 bytes", "PATCH", "/Groups/{g1}", patchOps(op("add", "members", `[{"value":"`+strings.Repeat("m", 1025)+`"}]`)), 400, "invalidValue")
	add("userName over 1,024 bytes in three-byte characters", "POST", "/Users", userJSON(`"userName":"`+strings.Repeat("€", 338)+`x@example.com"`), 400, "invalidValue")

	big := strings.Repeat("x", badMaxBody)
	add("body over the limit/POST", "POST", "/Users", newUser(`,"title":"`+big+`"`), 413, "")
	add("body over the limit/PUT", "PUT", "/Users/{bj}", userJSON(`"userName":"bjensen@example.com","title":"`+big+`"`), 413, "")
	add("body over the limit/PATCH", "PATCH", "/Users/{bj}", patchOps(op("replace", "title", `"`+big+`"`)), 413, "")
	add("body over the limit/Bulk", "POST", "/Bulk", bulkRequest(0, bulkOpJSON("POST", "u", "/Users", newUser(`,"title":"`+big+`"`))), 413, "")
	return out
}

// discoveryCases: RFC 7644 §4 answers filtering of the discovery
// endpoints with 403.
func discoveryCases() []badCase {
	var out []badCase
	for _, s := range []struct{ name, path string }{
		{"ServiceProviderConfig", "/ServiceProviderConfig?filter=" + urlq(`patch.supported eq true`)},
		{"ServiceProviderConfig with a malformed filter", "/ServiceProviderConfig?filter=" + urlq(`bogus`)},
		{"Schemas by id", "/Schemas?filter=" + urlq(`id eq "`+userURN+`"`)},
		{"Schemas by name", "/Schemas?filter=" + urlq(`name sw "User"`)},
		{"Schemas with a malformed filter", "/Schemas?filter=" + urlq(`name eq`)},
		{"ResourceTypes", "/ResourceTypes?filter=" + urlq(`name eq "User"`)},
		{"ResourceTypes with a malformed filter", "/ResourceTypes?filter=" + urlq(`(`)},
		{"one schema", "/Schemas/" + userURN + "?filter=" + urlq(`name pr`)},
		{"one resource type", "/ResourceTypes/User?filter=" + urlq(`name pr`)},
	} {
		out = append(out, badCase{class: "discovery", name: "filter on " + s.name, method: "GET", path: s.path, status: http.StatusForbidden})
	}
	return out
}

// urlq escapes a query parameter value.
func urlq(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "(", "%28", ")", "%29", "[", "%5B", "]", "%5D", "&", "%26", "#", "%23", "+", "%2B")
	return r.Replace(s)
}

// patchCases: malformed PatchOp messages and operations.
func patchCases() []badCase {
	var out []badCase
	add := func(name, path, body string, status int, scimType string) {
		out = append(out, badCase{class: "patch", name: name, method: "PATCH", path: path, body: body, status: status, scimType: scimType})
	}
	u, g := "/Users/{bj}", "/Groups/{g1}"
	add("unknown op", u, patchOps(op("frobnicate", "title", `"T"`)), 400, "invalidValue|invalidSyntax")
	add("empty op", u, patchOps(op("", "title", `"T"`)), 400, "invalidValue|invalidSyntax")
	add("op a number", u, patchOps(`{"op":5,"path":"title","value":"T"}`), 400, "invalidValue|invalidSyntax")
	add("op missing", u, patchOps(`{"path":"title","value":"T"}`), 400, "invalidValue|invalidSyntax")
	add("path a number", u, patchOps(`{"op":"replace","path":5,"value":"T"}`), 400, "invalidPath|invalidSyntax")
	add("path an unknown attribute", u, patchOps(op("replace", "nope", `"T"`)), 400, "invalidPath|noTarget")
	add("path an unknown sub-attribute", u, patchOps(op("replace", "name.nope", `"T"`)), 400, "invalidPath|noTarget")
	add("path with an empty segment", u, patchOps(op("replace", "emails..value", `"T"`)), 400, "invalidPath")
	add("path starting with a dot", u, patchOps(op("replace", ".title", `"T"`)), 400, "invalidPath")
	add("path with an unclosed filter", u, patchOps(op("replace", `emails[type eq "work"`, `"T"`)), 400, "invalidPath|invalidFilter")
	add("path with an incomplete filter", u, patchOps(op("replace", `emails[type eq].value`, `"T"`)), 400, "invalidPath|invalidFilter")
	add("path with an unknown operator", u, patchOps(op("replace", `emails[type like "work"].value`, `"T"`)), 400, "invalidPath|invalidFilter")
	add("path filter on an unknown sub-attribute", u, patchOps(op("replace", `emails[label eq "work"].value`, `"T"`)), 400, "invalidPath|invalidFilter|noTarget")
	add("path naming an unknown sub-attribute after a filter", u, patchOps(op("replace", `emails[type eq "work"].nope`, `"T"`)), 400, "invalidPath|noTarget")
	add("path filter with invalid UTF-8", u, `{"schemas":["`+patchURN+`"],"Operations":[{"op":"replace","path":"emails[type eq \"w`+"\xff"+`\"].value","value":"T"}]}`, 400, "invalidSyntax")
	add("path over 1,024 bytes", u, patchOps(op("replace", strings.Repeat("a", 1025), `"T"`)), 400, "invalidPath")
	add("members filter without a value", g, patchOps(op("remove", `members[value eq]`, "")), 400, "invalidPath|invalidFilter")
	add("members filter with a dangling and", g, patchOps(op("remove", `members[value eq "{bj}" and]`, "")), 400, "invalidPath|invalidFilter")
	add("remove without a path", u, patchOps(op("remove", "", "")), 400, "noTarget")
	add("remove with an empty path", u, patchOps(`{"op":"remove","path":""}`), 400, "noTarget")
	add("remove of a required attribute", u, patchOps(op("remove", "userName", "")), 400, "invalidValue|mutability")
	add("add without a value", u, patchOps(op("add", "title", "")), 400, "invalidValue")
	add("replace without a value", u, patchOps(op("replace", "title", "")), 400, "invalidValue")
	add("replace of id", u, patchOps(op("replace", "id", `"x"`)), 400, "mutability")
	add("replace of meta.created", u, patchOps(op("replace", "meta.created", `"2020-01-01T00:00:00Z"`)), 400, "mutability")
	add("add to groups", u, patchOps(op("add", "groups", `[{"value":"{g1}"}]`)), 400, "mutability")
	add("path-less replace with a string", u, patchOps(op("replace", "", `"x"`)), 400, "invalidValue|invalidSyntax")
	add("path-less add with an unknown attribute", u, patchOps(op("add", "", `{"favouriteColour":"blue"}`)), 400, "invalidPath|invalidValue|invalidSyntax")
	add("path-less replace of id", u, patchOps(op("replace", "", `{"id":"other"}`)), 400, "mutability")
	add("replace through a filter that matches nothing", u, patchOps(op("replace", `emails[value ew "@old.example.com"].value`, `"n@example.com"`)), 400, "noTarget")
	add("Operations an object", u, `{"schemas":["`+patchURN+`"],"Operations":{"op":"replace","path":"title","value":"T"}}`, 400, "invalidSyntax")
	add("Operations a string", u, `{"schemas":["`+patchURN+`"],"Operations":"replace"}`, 400, "invalidSyntax")
	add("Operations empty", u, `{"schemas":["`+patchURN+`"],"Operations":[]}`, 400, "invalidSyntax")
	add("Operations missing", u, `{"schemas":["`+patchURN+`"]}`, 400, "invalidSyntax")
	add("Operations of numbers", u, `{"schemas":["`+patchURN+`"],"Operations":[5]}`, 400, "invalidSyntax")
	add("schemas without the PatchOp URN", u, `{"schemas":["`+userURN+`"],"Operations":[`+op("replace", "title", `"T"`)+`]}`, 400, "invalidSyntax|invalidValue")
	add("schemas a string", u, `{"schemas":"`+patchURN+`","Operations":[`+op("replace", "title", `"T"`)+`]}`, 400, "invalidSyntax|invalidValue")
	ops := make([]string, 1001)
	for i := range ops {
		ops[i] = op("replace", "title", fmt.Sprintf(`"T%d"`, i))
	}
	add("over 1,000 operations", u, patchOps(ops...), 400, "tooMany")
	return out
}

// headerCases: media types and preconditions.
func headerCases() []badCase {
	var out []badCase
	add := func(name, method, path, body string, h map[string]string, status int) {
		out = append(out, badCase{class: "headers", name: name, method: method, path: path, body: body, header: h, status: status})
	}
	for _, ct := range []string{"text/plain", "text/xml", "application/xml", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "image/png", "application/", ";;;", "application/scim"} {
		add("Content-Type "+ct+"/POST /Users", "POST", "/Users", newUser(""), map[string]string{"Content-Type": ct}, 415)
	}
	add("Content-Type with a charset other than UTF-8/POST /Users", "POST", "/Users", newUser(""), map[string]string{"Content-Type": "application/scim+json; charset=iso-8859-1"}, 415)
	add("Content-Type with a charset other than UTF-8/Bulk", "POST", "/Bulk", bulkRequest(0, bulkOpJSON("POST", "u", "/Users", newUser(""))), map[string]string{"Content-Type": "application/json; charset=utf-16"}, 415)
	add("Content-Type text/plain/PUT", "PUT", "/Users/{bj}", userJSON(`"userName":"bjensen@example.com"`), map[string]string{"Content-Type": "text/plain"}, 415)
	add("Content-Type text/plain/PATCH", "PATCH", "/Users/{bj}", patchOps(op("replace", "title", `"T"`)), map[string]string{"Content-Type": "text/plain"}, 415)
	add("Content-Type text/plain/Bulk", "POST", "/Bulk", bulkRequest(0, bulkOpJSON("POST", "u", "/Users", newUser(""))), map[string]string{"Content-Type": "text/plain"}, 415)
	add("Content-Type text/plain/search", "POST", "/.search", `{"filter":"userName pr"}`, map[string]string{"Content-Type": "text/plain"}, 415)
	add("Content-Type form/PATCH group", "PATCH", "/Groups/{g1}", patchOps(op("add", "members", `[{"value":"{kim}"}]`)), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415)
	for _, s := range []struct{ name, method, path, body, ifMatch string }{
		{"garbage/PUT", "PUT", "/Users/{bj}", userJSON(`"userName":"bjensen@example.com"`), "garbage"},
		{"weak garbage/PATCH", "PATCH", "/Users/{bj}", patchOps(op("replace", "title", `"T"`)), `W/"nope"`},
		{"stale/PUT", "PUT", "/Users/{bj}", userJSON(`"userName":"bjensen@example.com"`), "{bjstale}"},
		{"stale/PATCH", "PATCH", "/Users/{bj}", patchOps(op("replace", "title", `"T"`)), "{bjstale}"},
		{"stale/DELETE", "DELETE", "/Users/{bj}", "", "{bjstale}"},
		{"another resource's version/DELETE group", "DELETE", "/Groups/{g1}", "", "{bjstale}"},
		{"empty list/PATCH group", "PATCH", "/Groups/{g1}", patchOps(op("add", "members", `[{"value":"{kim}"}]`)), `,`},
		{"unterminated quote/DELETE", "DELETE", "/Users/{bj}", "", `"`},
		{"list of wrong versions/PUT", "PUT", "/Users/{bj}", userJSON(`"userName":"bjensen@example.com"`), `"1", W/"2", "x"`},
		{"a user's version on a group/PUT", "PUT", "/Groups/{g1}", groupJSON(`"displayName":"Printers"`), "{bjv}"},
	} {
		add("If-Match "+s.name, s.method, s.path, s.body, map[string]string{"If-Match": s.ifMatch}, 412)
	}
	for _, s := range []struct{ name, method, path, body, tag string }{
		{"any/PUT", "PUT", "/Users/{bj}", userJSON(`"userName":"bjensen@example.com"`), "*"},
		{"any/DELETE", "DELETE", "/Users/{bj}", "", "*"},
		{"the current version/PATCH", "PATCH", "/Users/{bj}", patchOps(op("replace", "title", `"T"`)), "{bjv}"},
		{"the current version/DELETE group", "DELETE", "/Groups/{g1}", "", "{g1v}"},
	} {
		add("If-None-Match "+s.name, s.method, s.path, s.body, map[string]string{"If-None-Match": s.tag}, 412)
	}
	return out
}

// methodCases: methods an endpoint does not serve are 405 with Allow.
func methodCases() []badCase {
	var out []badCase
	for _, s := range []struct{ method, path, body string }{
		{"DELETE", "/Users", ""},
		{"PUT", "/Users", newUser("")},
		{"PATCH", "/Users", patchOps(op("replace", "title", `"T"`))},
		{"DELETE", "/Groups", ""},
		{"PUT", "/Groups", groupJSON(`"displayName":"x"`)},
		{"PATCH", "/Groups", patchOps(op("replace", "displayName", `"x"`))},
		{"POST", "/Users/{bj}", newUser("")},
		{"POST", "/Groups/{g1}", groupJSON(`"displayName":"x"`)},
		{"OPTIONS", "/Users", ""},
		{"OPTIONS", "/Users/{bj}", ""},
		{"FROB", "/Users/{bj}", ""},
		{"PATCH", "/ServiceProviderConfig", patchOps(op("replace", "patch.supported", `false`))},
		{"PUT", "/ServiceProviderConfig", `{}`},
		{"POST", "/ServiceProviderConfig", `{}`},
		{"DELETE", "/ServiceProviderConfig", ""},
		{"POST", "/Schemas", `{}`},
		{"DELETE", "/Schemas/" + userURN, ""},
		{"POST", "/ResourceTypes", `{}`},
		{"PUT", "/ResourceTypes/User", `{}`},
		{"GET", "/Bulk", ""},
		{"PUT", "/Bulk", bulkRequest(0, "")},
		{"DELETE", "/Bulk", ""},
		{"GET", "/.search", ""},
		{"PUT", "/.search", `{}`},
		{"GET", "/Users/.search", ""},
		{"DELETE", "/Groups/.search", ""},
	} {
		out = append(out, badCase{class: "methods", name: s.method + " " + s.path, method: s.method, path: s.path, body: s.body, status: 405})
	}
	return out
}

// pathCases: unknown endpoints and ids.
func pathCases() []badCase {
	var out []badCase
	for _, s := range []struct{ name, method, path string }{
		{"unknown endpoint", "GET", "/Widgets"},
		{"unknown endpoint POST", "POST", "/Widgets"},
		{"base URL", "GET", "/"},
		{"no separator after the base", "GET", "Users"},
		{"three segments", "GET", "/Users/{bj}/extra"},
		{"four segments", "DELETE", "/Users/a/b/c"},
		{"double slash", "DELETE", "/Users//{bj}"},
		{"dot segments", "DELETE", "/Users/../Groups/{g1}"},
		{"missing user GET", "GET", "/Users/{missing}"},
		{"missing user PUT", "PUT", "/Users/{missing}"},
		{"missing user PATCH", "PATCH", "/Users/{missing}"},
		{"missing user DELETE", "DELETE", "/Users/{missing}"},
		{"missing group DELETE", "DELETE", "/Groups/{missing}"},
		{"group id under Users", "DELETE", "/Users/{g1}"},
		{"user id under Groups", "PATCH", "/Groups/{bj}"},
		{"id of 500 bytes", "GET", "/Users/" + strings.Repeat("x", 500)},
		{"id with a NUL", "DELETE", "/Users/%00"},
		{"id with invalid UTF-8", "DELETE", "/Users/%FF%FE"},
		{"unknown schema", "GET", "/Schemas/urn:example:nope"},
		{"unknown resource type", "GET", "/ResourceTypes/Widget"},
		{"segment under ServiceProviderConfig", "GET", "/ServiceProviderConfig/x"},
		{"segment under Bulk", "POST", "/Bulk/x"},
		{"segment under .search", "POST", "/.search/x"},
	} {
		body := ""
		switch s.method {
		case "PUT":
			body = userJSON(`"userName":"ghost@example.com"`)
		case "PATCH":
			body = patchOps(op("replace", "displayName", `"x"`))
		case "POST":
			body = `{}`
		}
		out = append(out, badCase{class: "paths", name: s.name, method: s.method, path: s.path, body: body, status: 404})
	}
	out = append(out, badCase{class: "paths", name: "/Me", method: "GET", path: "/Me", status: http.StatusNotImplemented})
	return out
}

// queryCases: query parameters of lists and the attributes of a search.
func queryCases() []badCase {
	var out []badCase
	add := func(name, path string, scimType string) {
		out = append(out, badCase{class: "query", name: name, method: "GET", path: path, status: 400, scimType: scimType})
	}
	add("startIndex abc", "/Users?startIndex=abc", "invalidValue")
	add("startIndex fraction", "/Users?startIndex=1.5", "invalidValue")
	add("startIndex overflow", "/Users?startIndex=99999999999999999999999", "invalidValue")
	add("count abc", "/Users?count=abc", "invalidValue")
	add("count exponent", "/Groups?count=1e3", "invalidValue")
	add("sortOrder sideways", "/Users?sortOrder=sideways", "invalidValue")
	add("sortBy not a path", "/Users?sortBy=%5B", "invalidValue|invalidPath")
	add("attributes not a path", "/Users?attributes=emails%5Btype", "invalidValue|invalidPath")
	add("excludedAttributes not a path", "/Groups?excludedAttributes=members%5B%5D", "invalidValue|invalidPath")
	add("attributes not a path on a resource", "/Users/{bj}?attributes=name..givenName", "invalidValue|invalidPath")
	for _, f := range []struct{ name, filter string }{
		{"comparison without a value", `userName eq`},
		{"unknown operator", `userName like "b"`},
		{"unbalanced parenthesis", `(userName eq "b"`},
		{"dangling and", `userName eq "b" and`},
		{"unclosed value filter", `emails[type eq "work"`},
		{"unknown sub-attribute", `emails.nope eq "b"`},
		{"sub-attribute of a string", `userName.first eq "b"`},
		{"ordering a boolean", `active gt true`},
		{"unterminated string", `userName eq "b`},
		{"pr with a value", `userName pr "b"`},
		{"empty parentheses", `()`},
		{"not without parentheses", `not userName eq "b"`},
		{"deep parentheses", strings.Repeat("(", 5000) + `userName pr` + strings.Repeat(")", 5000)},
	} {
		add("filter "+f.name, "/Users?filter="+urlq(f.filter), "invalidFilter")
	}
	add("filter with a NUL", "/Users?filter=userName%20eq%20%22bj%00ensen%22", "invalidFilter")
	add("filter given twice", "/Users?filter="+urlq(`userName eq "kim@example.com"`)+"&filter="+urlq(`userName pr`), "invalidFilter")
	add("count given twice", "/Users?count=1&count=100", "invalidValue")
	add("startIndex given twice", "/Groups?startIndex=1&startIndex=2", "invalidValue")
	add("excludedAttributes given twice", "/Groups/{g1}?excludedAttributes=members&excludedAttributes=displayName", "invalidValue")
	add("filter with invalid UTF-8", "/Users?filter=userName%20eq%20%22bj%FFensen%22", "invalidFilter|invalidSyntax")
	add("filter on Groups with an unknown members sub-attribute", "/Groups?filter="+urlq(`members[nope eq "b"]`), "invalidFilter")
	add("cursor garbage", "/Users?cursor=garbage", "invalidCursor")
	add("cursor with startIndex", "/Users?cursor=&startIndex=2", "invalidValue")
	add("cursor with sortBy", "/Users?cursor=&sortBy=userName", "invalidValue")
	out = append(out, badCase{class: "query", name: "attributes not a path on POST", method: "POST", path: "/Users?attributes=emails%5Btype",
		body: newUser(""), status: 400, scimType: "invalidValue|invalidPath"})
	out = append(out, badCase{class: "query", name: "attributes not a path on PATCH", method: "PATCH", path: "/Users/{bj}?attributes=emails%5Btype",
		body: patchOps(op("replace", "title", `"T"`)), status: 400, scimType: "invalidValue|invalidPath"})
	for _, s := range []struct{ name, body, scimType string }{
		{"startIndex abc", `{"startIndex":"abc"}`, "invalidValue"},
		{"count array", `{"count":[]}`, "invalidValue"},
		{"sortOrder sideways", `{"sortOrder":"sideways"}`, "invalidValue"},
		{"filter a number", `{"filter":5}`, "invalidValue"},
		{"attributes a number", `{"attributes":5}`, "invalidValue"},
		{"unknown attribute", `{"bogus":1}`, "invalidSyntax"},
		{"bad filter", `{"filter":"userName eq"}`, "invalidFilter"},
	} {
		out = append(out, badCase{class: "query", name: "search " + s.name, method: "POST", path: "/Users/.search", body: s.body, status: 400, scimType: s.scimType})
	}
	return out
}

// bulkCases: malformed bulk messages (refused whole) and operations
// (refused one by one, in a 200 BulkResponse).
func bulkCases() []badCase {
	var out []badCase
	whole := func(name, body string, status int, scimType string) {
		out = append(out, badCase{class: "bulk", name: name, method: "POST", path: "/Bulk", body: body, status: status, scimType: scimType})
	}
	ops := func(name string, failOnErrors int, body string, status int, scimType string, count int) {
		out = append(out, badCase{class: "bulk", name: name, method: "POST", path: "/Bulk", body: bulkRequest(failOnErrors, body),
			bulkOps: true, status: status, scimType: scimType, opCount: count})
	}
	good := bulkOpJSON("POST", "u", "/Users", newUser(""))
	whole("Operations missing", `{"schemas":["`+BulkRequestURN+`"]}`, 400, "invalidSyntax")
	whole("Operations an object", `{"schemas":["`+BulkRequestURN+`"],"Operations":`+good+`}`, 400, "invalidSyntax")
	whole("schemas without the BulkRequest URN", `{"schemas":["`+patchURN+`"],"Operations":[`+good+`]}`, 400, "invalidSyntax")
	whole("unknown message attribute", `{"schemas":["`+BulkRequestURN+`"],"Operations":[`+good+`],"atomic":true}`, 400, "invalidSyntax")
	whole("failOnErrors 0", `{"schemas":["`+BulkRequestURN+`"],"failOnErrors":0,"Operations":[`+good+`]}`, 400, "invalidValue")
	whole("failOnErrors negative", `{"schemas":["`+BulkRequestURN+`"],"failOnErrors":-1,"Operations":[`+good+`]}`, 400, "invalidValue")
	whole("failOnErrors abc", `{"schemas":["`+BulkRequestURN+`"],"failOnErrors":"abc","Operations":[`+good+`]}`, 400, "invalidValue")
	many := make([]string, badBulkMax+1)
	for i := range many {
		many[i] = bulkOpJSON("POST", fmt.Sprint("u", i), "/Users", userJSON(fmt.Sprintf(`"userName":"bulk%d@example.com"`, i)))
	}
	whole("over maxOperations", bulkRequest(0, strings.Join(many, ",")), 413, "")

	ops("operation not an object", 0, `"POST /Users"`, 400, "invalidSyntax", 1)
	ops("method missing", 0, `{"bulkId":"u","path":"/Users","data":`+newUser("")+`}`, 400, "invalidSyntax", 1)
	ops("method GET", 0, bulkOpJSON("GET", "", "/Users/{bj}", ""), 400, "invalidValue", 1)
	ops("method FROB", 0, bulkOpJSON("FROB", "u", "/Users", newUser("")), 400, "invalidValue", 1)
	ops("POST without bulkId", 0, bulkOpJSON("POST", "", "/Users", newUser("")), 400, "invalidSyntax", 1)
	ops("path missing", 0, `{"method":"POST","bulkId":"u","data":`+newUser("")+`}`, 400, "invalidSyntax", 1)
	ops("path an unknown endpoint", 0, bulkOpJSON("POST", "u", "/Widgets", newUser("")), 400, "invalidPath", 1)
	ops("POST to a resource", 0, bulkOpJSON("POST", "u", "/Users/{bj}", newUser("")), 400, "invalidPath", 1)
	ops("PUT to an endpoint", 0, bulkOpJSON("PUT", "", "/Users", newUser("")), 400, "invalidPath", 1)
	ops("path with a query", 0, bulkOpJSON("DELETE", "", "/Users/{bj}?x=1", ""), 400, "invalidPath", 1)
	ops("data missing", 0, bulkOpJSON("PUT", "", "/Users/{bj}", ""), 400, "invalidSyntax", 1)
	ops("data a string", 0, bulkOpJSON("PATCH", "", "/Users/{bj}", `"replace title"`), 400, "invalidSyntax", 1)
	ops("unknown operation attribute", 0, `{"method":"DELETE","path":"/Users/{bj}","atomic":true}`, 400, "invalidSyntax", 1)
	ops("reference to an unknown bulkId", 0, bulkOpJSON("PATCH", "", "/Groups/{g1}", patchOps(op("add", "members", `[{"value":"bulkId:nope"}]`))), 400, "invalidValue", 1)
	ops("reference to a failed POST", 0, bulkOpJSON("POST", "bad", "/Users", userJSON(`"userName":5`))+","+
		bulkOpJSON("PATCH", "", "/Groups/{g1}", patchOps(op("add", "members", `[{"value":"bulkId:bad"}]`))), 400, "invalidValue", 2)
	ops("references in a circle", 0, bulkOpJSON("POST", "a", "/Groups", groupJSON(`"displayName":"A","members":[{"value":"bulkId:b"}]`))+","+
		bulkOpJSON("POST", "b", "/Groups", groupJSON(`"displayName":"B","members":[{"value":"bulkId:a"}]`)), 409, "", 2)
	ops("a POST that refers to itself", 0, bulkOpJSON("POST", "a", "/Groups", groupJSON(`"displayName":"A","members":[{"value":"bulkId:a"}]`)), 409, "", 1)
	ops("stale version", 0, `{"method":"DELETE","path":"/Users/{bj}","version":"{bjstaleJ}"}`, 412, "", 1)
	ops("version not a string", 0, `{"method":"DELETE","path":"/Users/{bj}","version":1}`, 400, "invalidSyntax", 1)
	ops("DELETE of a missing user", 0, bulkOpJSON("DELETE", "", "/Users/{missing}", ""), 404, "", 1)
	ops("PUT of a missing group", 0, bulkOpJSON("PUT", "", "/Groups/{missing}", groupJSON(`"displayName":"Ghosts"`)), 404, "", 1)
	ops("duplicate bulkId", 0, bulkOpJSON("POST", "u", "/Users", userJSON(`"userName":5`))+","+
		bulkOpJSON("POST", "u", "/Users", newUser("")), 400, "invalidValue", 2)
	ops("empty bulkId", 0, bulkOpJSON("POST", "", "/Users", newUser("")), 400, "invalidSyntax", 1)
	ops("reference to an empty bulkId", 0, bulkOpJSON("PATCH", "", "/Groups/{g1}", patchOps(op("add", "members", `[{"value":"bulkId:"}]`))), 400, "invalidValue", 1)
	ops("path /Bulk", 0, bulkOpJSON("POST", "b", "/Bulk", bulkRequest(0, "")), 400, "invalidPath", 1)
	ops("path /ServiceProviderConfig", 0, bulkOpJSON("PUT", "", "/ServiceProviderConfig/x", `{}`), 400, "invalidPath", 1)
	ops("PATCH data without Operations", 0, bulkOpJSON("PATCH", "", "/Users/{bj}", `{"schemas":["`+patchURN+`"]}`), 400, "invalidSyntax", 1)
	ops("method a number", 0, `{"method":5,"path":"/Users/{bj}"}`, 400, "invalidSyntax", 1)
	ops("failOnErrors stops after the first failure", 1, bulkOpJSON("DELETE", "", "/Users/{missing}", "")+","+
		bulkOpJSON("DELETE", "", "/Users/{bj}", ""), 404, "", 1)
	return out
}
