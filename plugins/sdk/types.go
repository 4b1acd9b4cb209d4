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
// One backend process serves every tenant of its backend definition —
// thousands of them — and every call but Describe names its tenant. The
// host calls Describe once, Configure for each tenant with that tenant's
// settings (again whenever they change, and after the process restarts),
// then Apply with each tenant's batches of changes, in order. Calls for
// different tenants may arrive concurrently; a backend keeps its tenants'
// data apart, each tenant's in the DataDir of its ConfigureRequest.
//
// A backend written for one tenant serves many through PerTenant, which
// gives each tenant its own instance.
type Backend interface {
	// Describe names the backend and declares what it needs. It is about
	// the backend, not a tenant.
	Describe(ctx context.Context, req *DescribeRequest) (*DescribeResponse, error)
	// Configure hands the backend a tenant's settings and data directory.
	// It is called for each tenant, and again with new settings; keep it
	// cheap (validate the settings and remember them, open stores when
	// they are first needed), since the host configures every tenant when
	// it starts. An Invalid error refuses the configuration, the operator
	// sees its message, and the tenant's previous configuration stays in
	// force.
	Configure(ctx context.Context, req *ConfigureRequest) (*ConfigureResponse, error)
	// Apply applies a batch of a tenant's changes in order. It must be
	// idempotent: after a crash or a lost answer the host sends changes
	// again, and a change whose Seq is at or below the last one applied
	// for that tenant must change nothing. Apply reports how far it got in
	// AppliedThrough; when it returns an error, the error is about the
	// change after that one. A call for a tenant that is not configured
	// (the process restarted, or the tenant was purged) should fail with
	// an Unavailable error: the host configures the tenant and retries.
	Apply(ctx context.Context, req *ApplyRequest) (*ApplyResponse, error)
}

// Inspector is implemented by backends that can show a tenant's product
// store, for operators ("caddy scim inspect") and for tests.
type Inspector interface {
	Inspect(ctx context.Context, req *InspectRequest) (*InspectResponse, error)
}

// Actioner is implemented by backends that offer operator actions, such as
// importing badge cards.
type Actioner interface {
	Action(ctx context.Context, req *ActionRequest) (*ActionResponse, error)
}

// Purger is implemented by backends that can remove a tenant: Purge
// deletes all of the tenant's product data (its DataDir and anything kept
// elsewhere for it) and forgets the tenant, so that later calls for it
// answer as for a tenant never configured. The host purges a tenant that
// is deleted. PerTenant closes a tenant's instance before it calls the
// instance's Purge.
type Purger interface {
	Purge(ctx context.Context, req *PurgeRequest) (*PurgeResponse, error)
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
	// Tenant is the tenant being configured.
	Tenant string
	// Settings is the JSON object of the tenant's backend settings, as the
	// operator wrote them: in a Caddyfile block, each line "key value"
	// becomes "key": "value", a line with several values an array of
	// strings, and a key given on several lines an array of those.
	Settings json.RawMessage
	// DataDir is the tenant's own directory, which the host gives
	// (<storage>/backends/<tenant>), for the tenant's product store. The
	// backend owns it. It may not exist yet: the host does not create it,
	// so that thousands of idle tenants leave no directories behind;
	// create it (with its parents) when the tenant first has data to
	// keep. A backend serving many tenants keeps each tenant's data in
	// that tenant's DataDir.
	DataDir string
}

// ConfigureResponse is empty; it exists so fields can be added.
type ConfigureResponse struct{}

// ApplyRequest is a batch of a tenant's changes, in sequence order.
type ApplyRequest struct {
	// Tenant is the tenant whose changes these are.
	Tenant  string
	Changes []Change
}

// ApplyResponse says how far a batch was applied.
type ApplyResponse struct {
	// AppliedThrough is the Seq of the last change applied (or skipped as
	// already applied); every change before it was applied too.
	AppliedThrough uint64
}

// InspectRequest asks for a tenant's product store.
type InspectRequest struct {
	// Tenant is the tenant whose store is wanted.
	Tenant string
}

// InspectResponse is the product store as JSON.
type InspectResponse struct {
	JSON json.RawMessage
}

// ActionRequest runs an operator action for a tenant.
type ActionRequest struct {
	// Tenant is the tenant the action is for.
	Tenant string
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

// PurgeRequest asks a backend to remove a tenant.
type PurgeRequest struct {
	// Tenant is the tenant to remove.
	Tenant string
}

// PurgeResponse is empty; it exists so fields can be added.
type PurgeResponse struct{}

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
//
// A Change and its parts have a JSON form, with snake_case keys and
// optional fields left out when empty, for a backend that passes changes
// on as they are (examples/webhook posts them so). docs/change-json.md in
// the repository lists every field. The host sends changes over gRPC, not
// as JSON.
type Change struct {
	// Seq is the tenant's journal sequence number, strictly increasing.
	// It is never used twice for a tenant name, even when the tenant was
	// purged and created again: the new tenant's sequence goes on after
	// the old one's, so a "last applied" kept by a backend (on any
	// instance) never makes it skip a new tenant's changes.
	Seq uint64 `json:"seq"`
	// Tenant is the tenant of the change.
	Tenant string `json:"tenant"`
	// Time is when the change was committed.
	Time time.Time `json:"time"`
	// Kind says what happened.
	Kind Kind `json:"kind"`
	// User is set for user changes: the user after the change, or before
	// it for a delete.
	User *User `json:"user,omitempty"`
	// Group is set for group and membership changes.
	Group *Group `json:"group,omitempty"`
	// Members are the members added or removed.
	Members []Member `json:"members,omitempty"`
	// Changed lists the attributes that changed, for updates.
	Changed []string `json:"changed,omitempty"`
}

// User is a normalized SCIM user. Attributes holds every attribute,
// flattened by SCIM path; the other fields are the common ones, ready to
// use.
type User struct {
	ID         string `json:"id"`
	ExternalID string `json:"external_id,omitempty"`
	UserName   string `json:"user_name"`
	Active     bool   `json:"active"`

	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	MiddleName    string `json:"middle_name,omitempty"`
	FormattedName string `json:"formatted_name,omitempty"`
	DisplayName   string `json:"display_name,omitempty"`
	NickName      string `json:"nick_name,omitempty"`
	Title         string `json:"title,omitempty"`
	UserType      string `json:"user_type,omitempty"`
	Locale        string `json:"locale,omitempty"`
	Language      string `json:"language,omitempty"`
	Timezone      string `json:"timezone,omitempty"`

	// Email is the primary email, or else the work email, or else the
	// first.
	Email  string  `json:"email,omitempty"`
	Emails []Email `json:"emails,omitempty"`
	// Phone is the primary phone number, or else the work one, or else the
	// first.
	Phone        string    `json:"phone,omitempty"`
	PhoneNumbers []Phone   `json:"phone_numbers,omitempty"`
	Addresses    []Address `json:"addresses,omitempty"`

	// Enterprise User extension.
	EmployeeNumber string `json:"employee_number,omitempty"`
	CostCenter     string `json:"cost_center,omitempty"`
	Organization   string `json:"organization,omitempty"`
	Division       string `json:"division,omitempty"`
	Department     string `json:"department,omitempty"`
	// ManagerID is the SCIM id of the user's manager.
	ManagerID string `json:"manager_id,omitempty"`

	// Attributes holds every attribute as text by SCIM path: "userName",
	// "name.givenName", "emails.value" (the primary or first value),
	// `emails[type eq "work"].value`, and for extensions
	// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
	// or "urn:…:manager.value". Booleans are "true"/"false".
	Attributes map[string]string `json:"attributes,omitempty"`
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
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// Phone is one phone number.
type Phone struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// Address is one postal address.
type Address struct {
	Type          string `json:"type,omitempty"`
	Formatted     string `json:"formatted,omitempty"`
	StreetAddress string `json:"street_address,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postal_code,omitempty"`
	Country       string `json:"country,omitempty"`
	Primary       bool   `json:"primary,omitempty"`
}

// Group is a normalized SCIM group, without its members.
type Group struct {
	ID          string `json:"id"`
	ExternalID  string `json:"external_id,omitempty"`
	DisplayName string `json:"display_name"`
	// Attributes holds every attribute as text by SCIM path, as for User.
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Attr returns the attribute at a SCIM path, case-insensitively.
func (g *Group) Attr(path string) (string, bool) { return attr(g.Attributes, path) }

// Member is one member of a membership change.
type Member struct {
	// ID is the SCIM id of the member.
	ID string `json:"id"`
	// Type is "User" or "Group".
	Type string `json:"type"`
}
