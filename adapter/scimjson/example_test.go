package scimjson_test

import (
	"fmt"

	"github.com/caddy-scim/caddy-scim/adapter/scimjson"
)

func ExampleDecodeObject() {
	for _, body := range []string{
		`{"userName":"bjensen","emails":[{"value":"bjensen@example.com"}]}`,
		`{"userName":"bjensen"}}`,
		"{\"userName\":\"bj\xe9nsen\"}",
		`{"emails":[{"value":"bjensen@example.com\u0000"}]}`,
	} {
		m, err := scimjson.DecodeObject([]byte(body))
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(m["userName"])
	}
	// Output:
	// bjensen
	// scim 400 invalidSyntax: the request body has data after its JSON value, at byte 22; send exactly one JSON value
	// scim 400 invalidSyntax: the request body is not valid UTF-8 at byte 15; send text encoded as UTF-8
	// scim 400 invalidValue: emails[0].value holds the control character U+0000 at byte 19 of the string; only tab, line feed and carriage return are accepted
}
