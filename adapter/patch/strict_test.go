package patch

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/scimjson"
)

// TestDecodeIsStrict pins that a PatchOp body is held to the decoding
// rules of every request body (package scimjson).
func TestDecodeIsStrict(t *testing.T) {
	deep := strings.Repeat(`[`, scimjson.MaxDepth) + strings.Repeat(`]`, scimjson.MaxDepth)
	tests := []struct {
		name     string
		body     string
		scimType string
		detail   string
	}{
		{name: "trailing-brace", body: body(`{"op":"remove","path":"a"}`) + `}`, scimType: scimerr.InvalidSyntax, detail: "data after"},
		{name: "trailing-bracket", body: body(`{"op":"remove","path":"a"}`) + "\n]", scimType: scimerr.InvalidSyntax, detail: "data after"},
		{name: "invalid-utf8-in-value", body: body("{\"op\":\"add\",\"path\":\"nickName\",\"value\":\"\xff\"}"), scimType: scimerr.InvalidSyntax, detail: "not valid UTF-8 at byte"},
		{name: "lone-surrogate-in-value", body: body(`{"op":"add","path":"nickName","value":"\ud800"}`), scimType: scimerr.InvalidSyntax, detail: "surrogate"},
		{name: "nul-in-value", body: body(`{"op":"add","path":"nickName","value":"a\u0000"}`), scimType: scimerr.InvalidValue, detail: "Operations[0].value holds the control character U+0000"},
		{name: "control-in-valuepath-filter", body: body(`{"op":"remove","path":"emails[value eq \"a\u0001\"]"}`), scimType: scimerr.InvalidValue, detail: "Operations[0].path"},
		{name: "control-in-path-less-value", body: body(`{"op":"replace","value":{"displayName":"x\u007f"}}`), scimType: scimerr.InvalidValue, detail: "Operations[0].value.displayName"},
		{name: "value-too-deep", body: body(`{"op":"add","path":"urn:x:y","value":` + deep + `}`), scimType: scimerr.InvalidValue, detail: "deeper than 32 levels"},
		{name: "value-too-long", body: body(`{"op":"add","path":"nickName","value":"` + strings.Repeat("x", scimjson.MaxString+1) + `"}`), scimType: scimerr.InvalidValue, detail: "65537 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.body))
			checkErr(t, err, http.StatusBadRequest, tc.scimType, tc.detail)
		})
	}
}
