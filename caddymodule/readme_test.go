package caddymodule

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestREADMEConfigReference: the README's JSON config table names every
// JSON field of the app's and the handlers' config types, so a field added
// to a type and not to the README fails here.
func TestREADMEConfigReference(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "#### JSON config")
	end := strings.Index(text[max(start, 0):], "\n### ")
	if start < 0 || end < 0 {
		t.Fatal("the README has no JSON config section")
	}
	section := text[start : start+end]
	for _, v := range []any{App{}, Storage{}, Handler{}, Tenant{}, RuntimeProfile{}, BackendConfig{}, OAuth{}, RateLimit{}, ConsoleHandler{}} {
		typ := reflect.TypeOf(v)
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			if !strings.Contains(section, "`"+name+"`") {
				t.Errorf("the README's JSON config does not name %s.%s (`%s`)", typ.Name(), f.Name, name)
			}
		}
	}
}
