package sdktest

import (
	"time"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// enterprise is the SCIM Enterprise User extension's schema URN, the
// prefix of its attribute paths (RFC 7643 §4.3).
const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// Fixed SCIM ids of the sample resources, so that tests can name them.
const (
	aliceID       = "2819c223-7f76-453a-919d-413861904646"
	bobID         = "6c5bb468-14b2-4183-baf2-06d523e03bd3"
	carolID       = "b8a4c2f6-5e0b-4a43-9c1d-2f7e1a9d3c55"
	erinID        = "e3f1a7c9-0d2b-4e6f-8a15-7c9b2d4e6f80"
	engineeringID = "e9e30dba-f08f-4109-8486-d5c6a331660a"
	salesID       = "fc348aa8-3835-40eb-a20b-c726e15c55b5"
)

// sampleEpoch is the commit time of the first sample change; each next
// change is a minute later.
var sampleEpoch = time.Date(2025, time.March, 3, 9, 0, 0, 0, time.UTC)

// SampleChanges returns a realistic ordered sequence of changes for tenant,
// with Seq 1, 2, 3, … and no gaps, as the host would deliver them after an
// IdP's first sync and some weeks of edits:
//
//	 1 user.created          alice (department, cost center, employee number, work address)
//	 2 user.created          bob, managed by alice
//	 3 user.created          carol, managed by alice
//	 4 group.created         Engineering
//	 5 group.members_added   Engineering: alice, bob
//	 6 group.members_added   Engineering: carol
//	 7 group.members_removed Engineering: bob
//	 8 user.updated          carol renamed (userName, family name, email)
//	 9 group.updated         Engineering renamed Platform Engineering
//	10 user.deactivated      bob
//	11 user.reactivated      bob, with a new title
//	12 group.created         Sales
//	13 group.members_added   Sales: bob, carol
//	14 user.deleted          alice (removed from her groups with her)
//	15 user.updated          bob: manager cleared, since alice is gone
//	16 group.deleted         Sales
//
// Every user has a userName, given and family name, display name, title,
// primary work email, work phone, work address and Enterprise User
// attributes; Attributes holds them by SCIM path. Each call returns fresh
// values that the caller may change.
func SampleChanges(tenant string) []sdk.Change {
	alice := sampleUser(aliceID, "alice.smith", "Alice", "Smith", "Head of Engineering", "1001", "")
	bob := sampleUser(bobID, "bob.jones", "Bob", "Jones", "Software Engineer", "1002", aliceID)
	carol := sampleUser(carolID, "carol.white", "Carol", "White", "Site Reliability Engineer", "1003", aliceID)
	engineering := sampleGroup(engineeringID, "Engineering")
	sales := sampleGroup(salesID, "Sales")

	carolRenamed := cloneUser(carol)
	carolRenamed.UserName = "carol.jones"
	carolRenamed.FamilyName = "Jones"
	setEmail(carolRenamed, "carol.jones@example.com")
	fillUser(carolRenamed)

	engineeringRenamed := sampleGroup(engineeringID, "Platform Engineering")

	bobInactive := cloneUser(bob)
	bobInactive.Active = false
	fillUser(bobInactive)

	bobBack := cloneUser(bob)
	bobBack.Title = "Senior Software Engineer"
	fillUser(bobBack)

	bobNoManager := cloneUser(bobBack)
	bobNoManager.ManagerID = ""
	fillUser(bobNoManager)

	user := func(u *sdk.User) *sdk.User { return cloneUser(u) }
	members := func(ids ...string) []sdk.Member {
		var m []sdk.Member
		for _, id := range ids {
			m = append(m, sdk.Member{ID: id, Type: "User"})
		}
		return m
	}
	changes := []sdk.Change{
		{Kind: sdk.UserCreated, User: user(alice)},
		{Kind: sdk.UserCreated, User: user(bob)},
		{Kind: sdk.UserCreated, User: user(carol)},
		{Kind: sdk.GroupCreated, Group: cloneGroup(engineering)},
		{Kind: sdk.MembersAdded, Group: cloneGroup(engineering), Members: members(aliceID, bobID)},
		{Kind: sdk.MembersAdded, Group: cloneGroup(engineering), Members: members(carolID)},
		{Kind: sdk.MembersRemoved, Group: cloneGroup(engineering), Members: members(bobID)},
		{Kind: sdk.UserUpdated, User: user(carolRenamed), Changed: []string{"userName", "name.familyName", "name.formatted", "displayName", "emails"}},
		{Kind: sdk.GroupUpdated, Group: cloneGroup(engineeringRenamed), Changed: []string{"displayName"}},
		{Kind: sdk.UserDeactivated, User: user(bobInactive), Changed: []string{"active"}},
		{Kind: sdk.UserReactivated, User: user(bobBack), Changed: []string{"active", "title"}},
		{Kind: sdk.GroupCreated, Group: cloneGroup(sales)},
		{Kind: sdk.MembersAdded, Group: cloneGroup(sales), Members: members(bobID, carolID)},
		{Kind: sdk.UserDeleted, User: user(alice)},
		{Kind: sdk.UserUpdated, User: user(bobNoManager), Changed: []string{enterprise + ":manager"}},
		{Kind: sdk.GroupDeleted, Group: cloneGroup(sales)},
	}
	for i := range changes {
		changes[i].Seq = uint64(i + 1)
		changes[i].Tenant = tenant
		changes[i].Time = sampleEpoch.Add(time.Duration(i) * time.Minute)
	}
	return changes
}

// sampleUser returns an active user with every common attribute set.
func sampleUser(id, userName, given, family, title, employeeNumber, managerID string) *sdk.User {
	u := &sdk.User{
		ID:             id,
		ExternalID:     "ext-" + employeeNumber,
		UserName:       userName,
		Active:         true,
		GivenName:      given,
		FamilyName:     family,
		DisplayName:    given + " " + family,
		NickName:       given,
		Title:          title,
		UserType:       "Employee",
		Locale:         "en-US",
		Language:       "en",
		Timezone:       "America/Chicago",
		Phone:          "+1 312 555 " + employeeNumber,
		PhoneNumbers:   []sdk.Phone{{Value: "+1 312 555 " + employeeNumber, Type: "work", Primary: true}},
		EmployeeNumber: employeeNumber,
		CostCenter:     "CC-4100",
		Organization:   "Example Corp",
		Division:       "Technology",
		Department:     "Engineering",
		ManagerID:      managerID,
		Addresses: []sdk.Address{{
			Type:          "work",
			StreetAddress: "233 S Wacker Dr",
			Locality:      "Chicago",
			Region:        "IL",
			PostalCode:    "60606",
			Country:       "US",
			Primary:       true,
		}},
	}
	u.Addresses[0].Formatted = "233 S Wacker Dr\nChicago, IL 60606\nUS"
	setEmail(u, userName+"@example.com")
	fillUser(u)
	return u
}

// setEmail makes address u's only email: primary, of type work.
func setEmail(u *sdk.User, address string) {
	u.Email = address
	u.Emails = []sdk.Email{{Value: address, Type: "work", Primary: true}}
}

// fillUser sets u's formatted name and Attributes from its other fields.
func fillUser(u *sdk.User) {
	u.FormattedName = u.GivenName + " " + u.FamilyName
	u.DisplayName = u.FormattedName
	u.Attributes = userAttributes(u)
}

func sampleGroup(id, name string) *sdk.Group {
	return &sdk.Group{
		ID:          id,
		ExternalID:  "ext-" + id[:8],
		DisplayName: name,
		Attributes: map[string]string{
			"id":          id,
			"externalId":  "ext-" + id[:8],
			"displayName": name,
		},
	}
}
