package sdk

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	backendv2 "github.com/caddy-scim/caddy-scim/plugins/proto/backend/v2"
)

// fullUser returns a user with every field set.
func fullUser() *User {
	return &User{
		ID:             "2819c223-7f76-453a-919d-413861904646",
		ExternalID:     "ext-1001",
		UserName:       "bjensen@example.com",
		Active:         true,
		GivenName:      "Barbara",
		FamilyName:     "Jensen",
		MiddleName:     "Jane",
		FormattedName:  "Ms. Barbara J Jensen, III",
		DisplayName:    "Babs Jensen",
		NickName:       "Babs",
		Title:          "Tour Guide",
		UserType:       "Employee",
		Locale:         "en-US",
		Language:       "en-US",
		Timezone:       "America/Los_Angeles",
		Email:          "bjensen@example.com",
		Emails:         []Email{{Value: "bjensen@example.com", Type: "work", Primary: true}, {Value: "babs@jensen.org", Type: "home"}},
		Phone:          "555-555-5555",
		PhoneNumbers:   []Phone{{Value: "555-555-5555", Type: "work", Primary: true}, {Value: "555-555-4444", Type: "mobile"}},
		Addresses:      []Address{{Type: "work", Formatted: "100 Universal City Plaza\nHollywood, CA 91608 USA", StreetAddress: "100 Universal City Plaza", Locality: "Hollywood", Region: "CA", PostalCode: "91608", Country: "USA", Primary: true}},
		EmployeeNumber: "701984",
		CostCenter:     "4130",
		Organization:   "Universal Studios",
		Division:       "Theme Park",
		Department:     "Tour Operations",
		ManagerID:      "26118915-6090-4610-87e4-49d8ca9f808d",
		Attributes: map[string]string{
			"userName":                     "bjensen@example.com",
			`emails[type eq "work"].value`: "bjensen@example.com",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Tour Operations",
		},
	}
}

// fullChange returns a change with every field set.
func fullChange() Change {
	return Change{
		Seq:    42,
		Tenant: "acme",
		Time:   time.Date(2025, time.March, 3, 9, 30, 15, 123456789, time.UTC),
		Kind:   MembersAdded,
		User:   fullUser(),
		Group: &Group{
			ID:          "e9e30dba-f08f-4109-8486-d5c6a331660a",
			ExternalID:  "ext-tour-guides",
			DisplayName: "Tour Guides",
			Attributes:  map[string]string{"displayName": "Tour Guides"},
		},
		Members: []Member{{ID: "2819c223-7f76-453a-919d-413861904646", Type: "User"}, {ID: "fc348aa8-3835-40eb-a20b-c726e15c55b5", Type: "Group"}},
		Changed: []string{"members"},
	}
}

// wire sends m through its wire encoding and returns the decoded copy.
func wire[M proto.Message](t *testing.T, m M) M {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshalling %T: %v", m, err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(data, out); err != nil {
		t.Fatalf("unmarshalling %T: %v", m, err)
	}
	return out
}

func TestConvertRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   any
		// roundTrip converts in to its message, through the wire, and back.
		roundTrip func(t *testing.T, in any) any
	}{
		{"DescribeResponse", &DescribeResponse{
			Name:                   "pharos",
			Version:                "1.2.3",
			Description:            "Pharos-style print management.",
			RequiredUserAttributes: []string{"userName", "emails"},
			Settings:               []Setting{{Name: "site", Description: "The site.", Required: true}, {Name: "group_by", Description: "Attribute to group by."}},
			Actions:                []ActionInfo{{Name: "import-cards", Description: "Import badge cards from CSV."}},
		}, func(t *testing.T, in any) any {
			return describeResponseFromProto(wire(t, describeResponseToProto(in.(*DescribeResponse))))
		}},
		{"ConfigureRequest", &ConfigureRequest{
			Tenant:   "acme",
			Settings: json.RawMessage(`{"site":"hq","group_by":["department","title"]}`),
			DataDir:  "/var/lib/caddy/scim/acme",
		}, func(t *testing.T, in any) any {
			return configureRequestFromProto(wire(t, configureRequestToProto(in.(*ConfigureRequest))))
		}},
		{"ApplyRequest", &ApplyRequest{
			Tenant:  "acme",
			Changes: []Change{fullChange(), {Seq: 43, Tenant: "acme", Kind: UserDeleted, User: &User{ID: "x"}}},
		}, func(t *testing.T, in any) any {
			return applyRequestFromProto(wire(t, applyRequestToProto(in.(*ApplyRequest))))
		}},
		{"ApplyResponse", &ApplyResponse{AppliedThrough: 1 << 40}, func(t *testing.T, in any) any {
			return applyResponseFromProto(wire(t, applyResponseToProto(in.(*ApplyResponse))))
		}},
		{"InspectRequest", &InspectRequest{Tenant: "acme"}, func(t *testing.T, in any) any {
			return inspectRequestFromProto(wire(t, inspectRequestToProto(in.(*InspectRequest))))
		}},
		{"InspectResponse", &InspectResponse{JSON: json.RawMessage(`{"users":[]}`)}, func(t *testing.T, in any) any {
			return inspectResponseFromProto(wire(t, inspectResponseToProto(in.(*InspectResponse))))
		}},
		{"ActionRequest", &ActionRequest{Tenant: "acme", Name: "import-cards", Payload: []byte("userName,card\nbjensen,0042\n")}, func(t *testing.T, in any) any {
			return actionRequestFromProto(wire(t, actionRequestToProto(in.(*ActionRequest))))
		}},
		{"ActionResponse", &ActionResponse{Message: "imported 1 card", Result: json.RawMessage(`{"imported":1}`)}, func(t *testing.T, in any) any {
			return actionResponseFromProto(wire(t, actionResponseToProto(in.(*ActionResponse))))
		}},
		{"PurgeRequest", &PurgeRequest{Tenant: "acme"}, func(t *testing.T, in any) any {
			return purgeRequestFromProto(wire(t, purgeRequestToProto(in.(*PurgeRequest))))
		}},
		{"empty ApplyRequest", &ApplyRequest{}, func(t *testing.T, in any) any {
			return applyRequestFromProto(wire(t, applyRequestToProto(in.(*ApplyRequest))))
		}},
		{"empty DescribeResponse", &DescribeResponse{}, func(t *testing.T, in any) any {
			return describeResponseFromProto(wire(t, describeResponseToProto(in.(*DescribeResponse))))
		}},
		{"change without user or group", &ApplyRequest{Changes: []Change{{Seq: 1, Kind: GroupDeleted}}}, func(t *testing.T, in any) any {
			return applyRequestFromProto(wire(t, applyRequestToProto(in.(*ApplyRequest))))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.roundTrip(t, tt.in); !reflect.DeepEqual(got, tt.in) {
				t.Errorf("round trip changed the value:\n got %#v\nwant %#v", got, tt.in)
			}
		})
	}
}

// TestFixturesSetEveryField makes sure the round trip above covers every
// field, including fields added to the SDK types later.
func TestFixturesSetEveryField(t *testing.T) {
	change := fullChange()
	requireAllSet(t, "Change", reflect.ValueOf(change))
}

func requireAllSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	if v.Type() == reflect.TypeFor[time.Time]() {
		if v.Interface().(time.Time).IsZero() {
			t.Errorf("%s is not set", path)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s is nil", path)
			return
		}
		requireAllSet(t, path, v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() {
				requireAllSet(t, path+"."+f.Name, v.Field(i))
			}
		}
	case reflect.Slice:
		// The first element must be complete; later ones may differ, such
		// as a second email that is not primary.
		if v.Len() == 0 {
			t.Errorf("%s is empty", path)
			return
		}
		requireAllSet(t, path+"[0]", v.Index(0))
	default:
		if v.IsZero() {
			t.Errorf("%s is not set", path)
		}
	}
}

func TestConvertTime(t *testing.T) {
	chicago := time.FixedZone("CST", -6*60*60)
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"zero stays zero", time.Time{}, time.Time{}},
		{"UTC", time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)},
		{"other zones come back in UTC", time.Date(2025, 1, 2, 3, 4, 5, 6, chicago), time.Date(2025, 1, 2, 9, 4, 5, 6, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wire(t, changeToProto(&Change{Time: tt.in}))
			if tt.in.IsZero() && p.Time != nil {
				t.Errorf("a zero time was sent as %v, want absent", p.Time)
			}
			if got := changeFromProto(p).Time; got != tt.want {
				t.Errorf("time came back as %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConvertNilRequests(t *testing.T) {
	// A nil request converts to an empty message rather than panicking.
	if got := applyRequestToProto(nil); !proto.Equal(got, &backendv2.ApplyRequest{}) {
		t.Errorf("applyRequestToProto(nil) = %v", got)
	}
	if got := configureRequestToProto(nil); !proto.Equal(got, &backendv2.ConfigureRequest{}) {
		t.Errorf("configureRequestToProto(nil) = %v", got)
	}
	if got := actionRequestToProto(nil); !proto.Equal(got, &backendv2.ActionRequest{}) {
		t.Errorf("actionRequestToProto(nil) = %v", got)
	}
	if got := inspectRequestToProto(nil); !proto.Equal(got, &backendv2.InspectRequest{}) {
		t.Errorf("inspectRequestToProto(nil) = %v", got)
	}
	if got := purgeRequestToProto(nil); !proto.Equal(got, &backendv2.PurgeRequest{}) {
		t.Errorf("purgeRequestToProto(nil) = %v", got)
	}
}
