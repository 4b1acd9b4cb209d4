package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

func TestPrintCredentials(t *testing.T) {
	expires := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	overlapEnd := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC).In(time.FixedZone("", 2*60*60))
	tests := []struct {
		name  string
		creds Credentials
		want  string
	}{
		{
			name: "utc",
			creds: Credentials{
				Tenant:    "acme",
				TenantURL: "https://app.example.com/scim/v2/acme",
				Token:     "scim_0123456789abcdef",
				ExpiresAt: expires,
			},
			want: "Tenant:      acme\n" +
				"Tenant URL:  https://app.example.com/scim/v2/acme\n" +
				"Token:       scim_0123456789abcdef\n" +
				"Expires:     2027-03-01T12:00:00Z\n" +
				"Previous:    none; the tenant had no valid token\n" +
				"\n" +
				"Enter the Tenant URL and the token in the IdP's provisioning settings.\n" +
				"The token is shown only now. Replace it with --regenerate, or end it at once with --revoke.\n",
		},
		{
			name: "offset kept",
			creds: Credentials{
				Tenant:    "globex",
				TenantURL: "https://localhost:8443/scim/v2/globex",
				Token:     "t",
				ExpiresAt: expires.In(time.FixedZone("", 2*60*60)),
				Previous:  []PreviousToken{{ID: "0a1b2c3d4e5f", AcceptedUntil: &overlapEnd}},
			},
			want: "Tenant:      globex\n" +
				"Tenant URL:  https://localhost:8443/scim/v2/globex\n" +
				"Token:       t\n" +
				"Expires:     2027-03-01T14:00:00+02:00\n" +
				"Previous:    token 0a1b2c3d4e5f accepted until 2026-03-02T14:00:00+02:00; update the IdP before then\n" +
				"\n" +
				"Enter the Tenant URL and the token in the IdP's provisioning settings.\n" +
				"The token is shown only now. Replace it with --regenerate, or end it at once with --revoke.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printCredentials(&b, tt.creds)
			if b.String() != tt.want {
				t.Errorf("printCredentials printed\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestPrintPrevious(t *testing.T) {
	until := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		prev []PreviousToken
		want string
	}{
		{"none", nil, "Previous:    none; the tenant had no valid token\n"},
		{"revoked now", []PreviousToken{{ID: "0a1b2c3d4e5f", RevokedNow: true}},
			"Previous:    token 0a1b2c3d4e5f revoked now; the IdP fails until it has the new token\n"},
		{"overlap", []PreviousToken{{ID: "0a1b2c3d4e5f", AcceptedUntil: &until}, {ID: "ffeeddccbbaa", AcceptedUntil: &until}},
			"Previous:    token 0a1b2c3d4e5f accepted until 2026-03-02T12:00:00Z; update the IdP before then\n" +
				"Previous:    token ffeeddccbbaa accepted until 2026-03-02T12:00:00Z; update the IdP before then\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printPrevious(&b, tt.prev)
			if b.String() != tt.want {
				t.Errorf("printPrevious printed\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestPrintRevocation(t *testing.T) {
	at := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		res  Revocation
		want string
	}{
		{"nothing", Revocation{Tenant: "acme", IDs: []string{}},
			"Tenant acme had no valid token; nothing was revoked.\n"},
		{"two", Revocation{Tenant: "acme", Revoked: 2, IDs: []string{"0a1b2c3d4e5f", "ffeeddccbbaa"}, RevokedAt: &at},
			"Revoked 2 token(s) of tenant acme (0a1b2c3d4e5f, ffeeddccbbaa); requests with them now get 401.\n" +
				"Generate a new one with 'caddy scim token --tenant acme' and enter it in the IdP.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printRevocation(&b, tt.res)
			if b.String() != tt.want {
				t.Errorf("printRevocation printed\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestPrintStatus(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	ptr := func(s string) *time.Time { tm := at(s); return &tm }

	fresh := TenantStatus{
		TenantURL: "https://app.example.com/scim/v2/acme",
		Status: &tokens.Status{
			Tenant:   "acme",
			Warnings: []tokens.Warning{{Code: "token_missing", Message: "no token has been generated; generate one and enter it in the IdP"}},
		},
	}
	rotating := TenantStatus{
		TenantURL: "https://app.example.com/scim/v2/globex",
		Status: &tokens.Status{
			Tenant: "globex",
			Token: &tokens.TokenInfo{
				ID: "tok-new", IssuedAt: at("2026-05-01T08:00:00Z"), ExpiresAt: at("2027-05-01T08:00:00Z"),
			},
			Overlapping: []tokens.TokenInfo{
				{ID: "tok-old", IssuedAt: at("2025-05-01T08:00:00Z"), ExpiresAt: at("2026-05-01T08:00:00Z"), RevokedAt: ptr("2026-05-02T08:00:00Z")},
				{ID: "tok-older", IssuedAt: at("2025-01-01T08:00:00Z"), ExpiresAt: at("2026-01-01T08:00:00Z"), RevokedAt: ptr("2026-05-01T20:00:00Z")},
			},
			LastRequest: ptr("2026-05-01T09:30:00Z"),
			LastChange:  ptr("2026-04-30T17:00:00Z"),
			Warnings:    []tokens.Warning{},
		},
	}
	warned := TenantStatus{
		TenantURL: "https://app.example.com/scim/v2/initech",
		Status: &tokens.Status{
			Tenant: "initech",
			Token: &tokens.TokenInfo{
				ID: "tok-1", IssuedAt: at("2025-06-01T00:00:00Z"), ExpiresAt: at("2026-06-01T00:00:00Z"),
			},
			LastRequest: ptr("2026-01-15T10:00:00Z"),
			Warnings: []tokens.Warning{
				{Code: "token_expiring", Message: "the token expires on 2026-06-01; regenerate it and update the IdP before then"},
				{Code: "idle", Message: "no update from the IdP since 2026-01-15 (over 60 days); check that provisioning is running"},
			},
		},
	}

	tests := []struct {
		name string
		list []TenantStatus
		// want are lines that must appear, in this order.
		want []string
		// absent are substrings that must not appear.
		absent []string
	}{
		{
			name: "no tenants",
			list: nil,
			want: []string{"No SCIM tenants are enabled."},
		},
		{
			name: "no token yet",
			list: []TenantStatus{fresh},
			want: []string{
				"Tenant:        acme",
				"Tenant URL:    https://app.example.com/scim/v2/acme",
				"Token:         none",
				"Last request:  never",
				"Last change:   never",
				"Warning:       no token has been generated; generate one and enter it in the IdP",
			},
			absent: []string{"Previous token", "Warnings:      none"},
		},
		{
			name: "rotation in progress",
			list: []TenantStatus{rotating},
			want: []string{
				"Tenant:        globex",
				"Tenant URL:    https://app.example.com/scim/v2/globex",
				"Token:         tok-new, issued 2026-05-01T08:00:00Z, expires 2027-05-01T08:00:00Z",
				"Previous token tok-old still accepted until 2026-05-02T08:00:00Z",
				"Previous token tok-older still accepted until 2026-05-01T20:00:00Z",
				"Last request:  2026-05-01T09:30:00Z",
				"Last change:   2026-04-30T17:00:00Z",
				"Warnings:      none",
			},
			absent: []string{"never", "Warning: "},
		},
		{
			name: "every warning listed",
			list: []TenantStatus{warned},
			want: []string{
				"Tenant:        initech",
				"Token:         tok-1, issued 2025-06-01T00:00:00Z, expires 2026-06-01T00:00:00Z",
				"Last request:  2026-01-15T10:00:00Z",
				"Last change:   never",
				"Warning:       the token expires on 2026-06-01; regenerate it and update the IdP before then",
				"Warning:       no update from the IdP since 2026-01-15 (over 60 days); check that provisioning is running",
			},
			absent: []string{"Warnings:      none", "Previous token"},
		},
		{
			name: "several tenants, separated by a blank line",
			list: []TenantStatus{fresh, rotating},
			want: []string{
				"Tenant:        acme",
				"Warning:       no token has been generated; generate one and enter it in the IdP",
				"",
				"Tenant:        globex",
				"Warnings:      none",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printStatus(&b, tt.list)
			out := b.String()
			if !strings.HasSuffix(out, "\n") {
				t.Errorf("output does not end with a newline:\n%s", out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			i := 0
			for _, want := range tt.want {
				for i < len(lines) && lines[i] != want {
					i++
				}
				if i == len(lines) {
					t.Errorf("line %q missing or out of order in\n%s", want, out)
					break
				}
				i++
			}
			for _, s := range tt.absent {
				if strings.Contains(out, s) {
					t.Errorf("output contains %q:\n%s", s, out)
				}
			}
		})
	}
}
