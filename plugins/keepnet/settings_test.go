package keepnet

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func TestSettingsAccepted(t *testing.T) {
	work := `addresses[type eq "work"].locality`
	tests := []struct {
		name string
		in   string
		want settingsView
	}{
		{
			name: "none",
			in:   ``,
			want: settingsView{TargetGroup: DefaultTargetGroup, FieldMap: [][2]string{}, GroupBy: "none"},
		},
		{
			name: "null",
			in:   `null`,
			want: settingsView{TargetGroup: DefaultTargetGroup, FieldMap: [][2]string{}, GroupBy: "none"},
		},
		{
			name: "one pair from one Caddyfile line",
			in:   `{"field_map":["employee_code","` + entURN + `:employeeNumber"]}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, GroupBy: "none",
				FieldMap: [][2]string{{"employee_code", entURN + ":employeeNumber"}}},
		},
		{
			name: "pairs from several Caddyfile lines",
			in:   `{"field_map":[["employee_code","` + entURN + `:employeeNumber"],["title","title"]]}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, GroupBy: "none",
				FieldMap: [][2]string{{"employee_code", entURN + ":employeeNumber"}, {"title", "title"}}},
		},
		{
			name: "filtered path split by the Caddyfile lexer",
			in:   `{"field_map":["office","addresses[type","eq","work","].locality"]}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, GroupBy: "none", FieldMap: [][2]string{{"office", work}}},
		},
		{
			name: "filtered path quoted with backticks",
			in:   `{"field_map":["office","addresses[type eq \"work\"].locality"]}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, GroupBy: "none", FieldMap: [][2]string{{"office", work}}},
		},
		{
			name: "one string",
			in:   `{"field_map":"office addresses[type eq work].locality"}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, GroupBy: "none", FieldMap: [][2]string{{"office", work}}},
		},
		{
			name: "object",
			in:   `{"field_map":{"title":"title","badge":"` + customURN + `:badgeId"}}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, GroupBy: "none",
				FieldMap: [][2]string{{"badge", customURN + ":badgeId"}, {"title", "title"}}},
		},
		{
			name: "unquoted multi-word target group",
			in:   `{"target_group":["All","Staff"]}`,
			want: settingsView{TargetGroup: "All Staff", FieldMap: [][2]string{}, GroupBy: "none"},
		},
		{
			name: "group by department, any case",
			in:   `{"group_by":"Department"}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, FieldMap: [][2]string{}, GroupBy: "department"},
		},
		{
			name: "group by a mapped field, named in another case",
			in:   `{"field_map":["Office","title"],"group_by":"FIELD:office"}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, FieldMap: [][2]string{{"Office", "title"}}, GroupBy: "field:Office"},
		},
		{
			name: "group by none",
			in:   `{"group_by":"none"}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, FieldMap: [][2]string{}, GroupBy: "none"},
		},
		{
			name: "mirror groups as a Caddyfile string",
			in:   `{"mirror_groups":"true"}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, FieldMap: [][2]string{}, GroupBy: "none", MirrorGroups: true},
		},
		{
			name: "mirror groups as a JSON boolean",
			in:   `{"mirror_groups":false}`,
			want: settingsView{TargetGroup: DefaultTargetGroup, FieldMap: [][2]string{}, GroupBy: "none"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseSettings(json.RawMessage(tt.in))
			if err != nil {
				t.Fatalf("parseSettings: %v", err)
			}
			if got := s.view(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("settings = %+v, want %+v", got, tt.want)
			}
			again, err := json.Marshal(s.view())
			if err != nil {
				t.Fatal(err)
			}
			s2, err := parseSettings(again)
			if err != nil {
				t.Fatalf("the effective settings %s are refused: %v", again, err)
			}
			if !reflect.DeepEqual(s2.view(), s.view()) {
				t.Errorf("round trip = %+v, want %+v", s2.view(), s.view())
			}
		})
	}
}

func TestSettingsRefused(t *testing.T) {
	var many []string
	for i := range MaxFieldMappings + 1 {
		many = append(many, fmt.Sprintf(`["f%d","title"]`, i))
	}
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"not an object", `["target_group"]`, []string{"JSON object", "target_group"}},
		{"unknown key", `{"target_groups":"x"}`, []string{`"target_groups"`, "target_group, field_map, group_by, mirror_groups"}},
		{"empty target group", `{"target_group":"  "}`, []string{"target_group"}},
		{"target group not text", `{"target_group":5}`, []string{"target_group"}},
		{"mirror groups not a boolean", `{"mirror_groups":"maybe"}`, []string{"mirror_groups", "true or false", "maybe"}},
		{"group by unknown", `{"group_by":"title"}`, []string{"group_by", "department", "field:<custom field name>", `"title"`}},
		{"group by an unmapped field", `{"field_map":["office","title"],"group_by":"field:site"}`, []string{"group_by", "field:site", "office"}},
		{"group by a field without field_map", `{"group_by":"field:site"}`, []string{"group_by", "field:site"}},
		{"entry without a path", `{"field_map":["office"]}`, []string{"field_map", "entry 1", "office"}},
		{"entry with an empty path", `{"field_map":[["title","title"],["office",""]]}`, []string{"field_map", "entry 2", "office", "empty"}},
		{"entry with an empty name", `{"field_map":[["","title"]]}`, []string{"field_map", "entry 1"}},
		{"duplicate field names", `{"field_map":[["Office","title"],["office","nickName"]]}`, []string{"field_map", "entry 2", "entry 1", "unique"}},
		{"built-in field name", `{"field_map":["department","title"]}`, []string{"field_map", `"department"`, "built-in"}},
		{"too many entries", `{"field_map":[` + strings.Join(many, ",") + `]}`, []string{"field_map", "21", "20"}},
		{"unsupported filter", `{"field_map":["office","addresses[type ne \"work\"].locality"]}`, []string{"field_map", "office", "eq"}},
		{"unclosed filter", `{"field_map":["office","addresses[type eq \"work\".locality"]}`, []string{"field_map", "office", "]"}},
		{"not pairs", `{"field_map":5}`, []string{"field_map"}},
		{"entry not a pair", `{"field_map":[["a","title"],{"b":"c"}]}`, []string{"field_map", "entry 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New().(*Backend)
			defer b.Close()
			_, err := b.Configure(context.Background(), &sdk.ConfigureRequest{
				Tenant: tenant, Settings: json.RawMessage(tt.in), DataDir: t.TempDir(),
			})
			if !sdk.IsInvalid(err) {
				t.Fatalf("Configure(%s) = %v, want an Invalid error", tt.in, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigureNeedsDataDir(t *testing.T) {
	b := New().(*Backend)
	defer b.Close()
	_, err := b.Configure(context.Background(), &sdk.ConfigureRequest{Tenant: tenant})
	if !sdk.IsInvalid(err) {
		t.Fatalf("Configure without a data directory = %v, want an Invalid error", err)
	}
}

func TestDescribe(t *testing.T) {
	d, err := New().Describe(context.Background(), &sdk.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "keepnet" || !reflect.DeepEqual(d.RequiredUserAttributes, []string{"emails"}) {
		t.Errorf("Describe = %+v", d)
	}
	var names []string
	for _, s := range d.Settings {
		names = append(names, s.Name)
	}
	if want := []string{"target_group", "field_map", "group_by", "mirror_groups"}; !reflect.DeepEqual(names, want) {
		t.Errorf("settings = %v, want %v", names, want)
	}
	if len(d.Actions) != 1 || d.Actions[0].Name != ActionRegroup {
		t.Errorf("actions = %+v", d.Actions)
	}
}
