package caddymodule

import "testing"

func TestMissingRequired(t *testing.T) {
	user := map[string]any{
		"userName": "a",
		"name":     map[string]any{"givenName": "A", "familyName": ""},
		"emails":   []any{map[string]any{"value": "a@example.com", "type": "work"}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Sales"},
	}
	tests := []struct {
		required []string
		want     string
	}{
		{nil, ""},
		{[]string{"emails"}, ""},
		{[]string{"EMAILS"}, ""},
		{[]string{"emails.value"}, ""},
		{[]string{"userName", "name.givenName"}, ""},
		{[]string{"name.familyName"}, "name.familyName"},
		{[]string{"phoneNumbers"}, "phoneNumbers"},
		{[]string{"emails", "title"}, "title"},
		{[]string{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}, ""},
		{[]string{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"}, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"},
		{[]string{"user"}, "user"}, // a prefix of a name is not the name
	}
	for _, tt := range tests {
		if got := missingRequired(tt.required, user); got != tt.want {
			t.Errorf("missingRequired(%v) = %q, want %q", tt.required, got, tt.want)
		}
	}
}
