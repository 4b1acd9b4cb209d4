package caddymodule

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapter/tenants"
)

func TestEffectiveRuntimeTenant(t *testing.T) {
	t.Setenv("SCIM_TEST_SECRET", "from-env")
	p := &RuntimeProfile{Name: "default", Tenant: Tenant{
		TokenValidity:   caddy.Duration(365 * 24 * time.Hour),
		RotationOverlap: caddy.Duration(time.Hour),
		RateLimit:       &RateLimit{Requests: 10, Window: caddy.Duration(time.Second)},
		Backend: &BackendConfig{Name: "webhook", Settings: json.RawMessage(
			`{"url":"https://hooks.example/in","secret":"{env.SCIM_TEST_SECRET}","mode":"a"}`)},
	}}

	// Nothing overridden: the profile's values, placeholders resolved.
	got, err := effective(p, &tenants.Record{Name: "t1", Profile: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if got.TokenValidity != p.TokenValidity || got.RotationOverlap != p.RotationOverlap || got.RateLimit.Requests != 10 {
		t.Fatalf("defaults: %+v", got)
	}
	var s map[string]string
	if err := json.Unmarshal(got.Backend.Settings, &s); err != nil || s["secret"] != "from-env" || s["mode"] != "a" {
		t.Fatalf("default settings: %s %v", got.Backend.Settings, err)
	}

	// Overrides: key by key; a record's placeholder stays literal, so a
	// runtime tenant cannot read the server's environment.
	zero := time.Duration(0)
	got, err = effective(p, &tenants.Record{Name: "t2", Profile: "default",
		Settings:        json.RawMessage(`{"mode":"b","echo":"{env.SCIM_TEST_SECRET}"}`),
		TokenValidity:   30 * 24 * time.Hour,
		RotationOverlap: &zero,
		RateLimit:       &tenants.RateLimit{Requests: 1, Window: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	s = nil
	if err := json.Unmarshal(got.Backend.Settings, &s); err != nil {
		t.Fatal(err)
	}
	if s["mode"] != "b" || s["url"] != "https://hooks.example/in" || s["secret"] != "from-env" || s["echo"] != "{env.SCIM_TEST_SECRET}" {
		t.Fatalf("merged settings: %v", s)
	}
	if got.TokenValidity != caddy.Duration(30*24*time.Hour) || got.RotationOverlap != 0 || got.RateLimit.Requests != 1 {
		t.Fatalf("overrides: %+v", got)
	}
	// The profile itself is untouched.
	if p.RotationOverlap != caddy.Duration(time.Hour) || p.RateLimit.Requests != 10 {
		t.Fatalf("the profile changed: %+v", p.Tenant)
	}

	// Settings for a profile without a backend are refused.
	if _, err := effective(&RuntimeProfile{Name: "bare"}, &tenants.Record{Name: "t3", Settings: json.RawMessage(`{"a":"b"}`)}); err == nil {
		t.Fatal("settings accepted for a profile without a backend")
	}
	if _, err := effective(p, &tenants.Record{Name: "t4", Settings: json.RawMessage(`["a"]`)}); err == nil {
		t.Fatal("settings that are not an object were merged")
	}
}
