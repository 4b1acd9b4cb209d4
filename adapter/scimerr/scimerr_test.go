package scimerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestBodyHasStatusAsString(t *testing.T) {
	b, err := json.Marshal(BadRequest(InvalidFilter, "bad %s", "filter").Body())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidFilter","detail":"bad filter"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestFromNeverLeaksInternalText(t *testing.T) {
	e := From(fmt.Errorf("opening /var/lib/secret: %w", errors.New("disk on fire")))
	if e.Status != 500 || e.Detail == "" {
		t.Fatalf("From(internal) = %+v", e)
	}
	for _, leak := range []string{"secret", "fire", "/var"} {
		if strings.Contains(e.Detail, leak) {
			t.Errorf("detail %q leaks %q", e.Detail, leak)
		}
	}
	wrapped := fmt.Errorf("context: %w", Conflict("taken"))
	if got := From(wrapped); got.Status != 409 || got.ScimType != Uniqueness {
		t.Errorf("From(wrapped SCIM error) = %+v", got)
	}
}
