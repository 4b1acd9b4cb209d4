package sdk

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Backend is what a vendor implements: a product's side of SCIM
// provisioning. Every method takes a context and a request struct and
// returns a response struct, so fields can be added to either without
// breaking a backend.
//
// One backend process serves one tenant. The host calls Describe once,
// then Configure with the tenant's settings, then Apply with batches of
// changes, in order.
type Backend interface {
	// Describe names the backend and declares what it needs.
	Describe(ctx context.Context, req *DescribeRequest) (*DescribeResponse, error)
	// Configure hands the backend its tenant's settings and data
	// directory. An Invalid error refuses the configuration; the operator
	// sees its message.
	Configure(ctx context.Context, req *ConfigureRequest) (*ConfigureResponse, error)
	// Apply applies a batch of changes in order. It must be idempotent:
	// after a crash or a lost answer the host sends changes again, and a
	// change whose Seq is at or below the last one applied must change
	// nothing. Apply reports how far it got in AppliedThrough; when it
	// returns an error, the error is about the change after that one.
	Apply(ctx context.Context, req *ApplyRequest) (*ApplyResponse, error)
}

// Inspector is implemented by backends that can show their product store,
// for operators ("caddy scim inspect") and for tests.
type Inspector interface {
	Inspect(ctx context.Context, req *InspectRequest) (*InspectResponse, error)
}

// Actioner is implemented by backends that offer operator actions, such as
// importing badge cards.
type Actioner interface {
	Action(ctx context.Context, req *ActionRequest) (*ActionResponse, error)
}

// DescribeRequest asks a backend to describe itself.
type DescribeRequest struct{}

// DescribeResponse describes a backend.
type DescribeResponse struct {
	// Name is the backend's short name, e.g. "pharos".
	Name string
	// Version is the backend's own version.
	Version string
	// Description says what product the backend provisions.
	Description string
	// RequiredUserAttributes are SCIM attribute paths every user must have
	// a value for ("emails", "name.familyName", "urn:…:User:department").
	// The host refuses a write that lacks one with a 400 the IdP shows,
	// before anything is committed.
	RequiredUserAttributes []string
	// Settings documents the settings Configure accepts.
	Settings []Setting
	// Actions lists the operator actions the backend offers.
	Actions []ActionInfo
}

// Setting documents one setting.
type Setting struct {
	// Name is the setting's key in the settings object.
	Name string
	// Description says what it does and which values it takes.
	Description string
	// Required settings must be present.
	Required bool
}

// ActionInfo documents one operator action.
type ActionInfo struct {
	Name        string
	Description string
}

// ConfigureRequest carries a tenant's configuration.
type ConfigureRequest struct {
	// Tenant is the tenant this process serves.
	Tenant string
	// Settings is the JSON object of the tenant's backend settings, as the
	// operator wrote them: in a Caddyfile block, each line "key value"
	// becomes "key": "value", a line with several values an array of
	// strings, and a key given on several lines an array of those.
	Settings json.RawMessage
	// DataDir is a directory the backend owns, for its product store.
	DataDir string
}

// ConfigureResponse is empty; it exists so fields can be added.
type ConfigureResponse struct{}

// ApplyRequest is a batch of changes, in sequence order.
type ApplyRequest struct {
	Tenant  string
	Changes []Change
}

// ApplyResponse says how far a batch was applied.
type ApplyResponse struct {
	// AppliedThrough is the Seq of the last change applied (or skipped as
	// already applied); every change before it was applied too.
	AppliedThrough uint64
}

// InspectRequest asks for the product store.
type InspectRequest struct{}

// InspectResponse is the product store as JSON.
type InspectResponse struct {
	JSON json.RawMessage
}

// ActionRequest runs an operator action.
type ActionRequest struct {
	// Name is the action, e.g. "import-cards".
	Name string
	// Payload is the action's input, e.g. a CSV file.
	Payload []byte
}

// ActionResponse reports an action's outcome.
type ActionResponse struct {
	// Message is a summary for the operator.
	Message string
	// Result is optional detail as JSON.
	Result json.RawMessage
}

// Kind is the kind of a change.
type Kind string

// Change kinds. A deactivated or reactivated user may also have other
// changed attributes (see Change.Changed). A deleted user is removed from
// every group without separate membership changes.
const (
	UserCreated     Kind = "user.created"
	UserUpdated     Kind = "user.updated"
	UserDeactivated Kind = "user.deactivated"
	UserReactivated Kind = "user.reactivated"
	UserDeleted     Kind = "user.deleted"
	GroupCreated    Kind = "group.created"
	GroupUpdated    Kind = "group.updated"
	GroupDeleted    Kind = "group.deleted"
	MembersAdded    Kind = "group.members_added"
	MembersRemoved  Kind = "group.members_removed"
)

// Change is one normalized change.
type Change struct {
	// Seq is the tenant's journal sequence number, strictly increasing.
	Seq uint64
	// Tenant is the tenant of the change.
	Tenant string
	// Time is when the change was committed.
	Time time.Time
	// Kind says what happened.
	Kind Kind
	// User is set for user changes: the user after the change, or before
	// it for a delete.
	User *User
	// Group is set for group and membership changes.
	Group *Group
	// Members are the members added or removed.
	Members []Member
	// Changed lists the attributes that changed, for updates.
	Changed []string
}

// User is a normalized SCIM user. Attributes holds every attribute,
// flattened by SCIM path; the other fields are the common ones, ready to
// use.
type User struct {
	ID         string
	ExternalID string
	UserName   string
	Active     bool

	GivenName     string
	FamilyName    string
	MiddleName    string
	FormattedName string
	DisplayName   string
	NickName      string
	Title         string
	UserType      string
	Locale        string
	Language      string
	Timezone      string

	// Email is the primary email, or else the work email, or else the
	// first.
	Email  string
	Emails []Email
	// Phone is the primary phone number, or else the work one, or else the
	// first.
	Phone        string
	PhoneNumbers []Phone
	Addresses    []Address

	// Enterprise User extension.
	EmployeeNumber string
	CostCenter     string
	Organization   string
	Division       string
	Department     string
	// ManagerID is the SCIM id of the user's manager.
	ManagerID string

	// Attributes holds every attribute as text by SCIM path: "userName",
	// "name.givenName", "emails.value" (the primary or first value),
	// `emails[type eq "work"].value`, and for extensions
	// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
	// or "urn:…:manager.value". Booleans are "true"/"false".
	Attributes map[string]string
}

// Attr returns the attribute at a SCIM path, matching names
// case-insensitively as SCIM does.
func (u *User) Attr(path string) (string, bool) { return attr(u.Attributes, path) }

func attr(m map[string]string, path string) (string, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, path) {
			return v, true
		}
	}
	return "", false
}

// Email is one email address.
type Email struct {
	Value   string
	Type    string
	Primary bool
}

// Phone is one phone number.
type Phone struct {
	Value   string
	Type    string
	Primary bool
}

// Address is one postal address.
type Address struct {
	Type          string
	Formatted     string
	StreetAddress string
	Locality      string
	Region        string
	PostalCode    string
	Country       string
	Primary       bool
}

// Group is a normalized SCIM group, without its members.
type Group struct {
	ID          string
	ExternalID  string
	DisplayName string
	// Attributes holds every attribute as text by SCIM path, as for User.
	Attributes map[string]string
}

// Attr returns the attribute at a SCIM path, case-insensitively.
func (g *Group) Attr(path string) (string, bool) { return attr(g.Attributes, path) }

// Member is one member of a membership change.
type Member struct {
	// ID is the SCIM id of the member.
	ID string
	// Type is "User" or "Group".
	Type string
}
