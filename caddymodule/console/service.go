package console

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/requestlog"
)

// Service is what the console shows and changes. The scim app implements
// it over its store, token manager, delivery and backends; the console
// never reaches those itself. Every method takes the tenant it is about;
// the console has already checked that the signed-in user may see it.
//
// Errors: ErrNotFound for a tenant the server does not know,
// *InvalidError for input the user can correct (its message is shown on
// the page), ErrTokenExists from IssueToken; anything else is an internal
// error, shown as a generic failure and logged.
type Service interface {
	// Tenants lists every tenant, sorted by name, for the operator's view.
	Tenants(ctx context.Context) ([]Summary, error)
	// Panel returns what a tenant's panel shows.
	Panel(ctx context.Context, tenant string) (*Panel, error)
	// IssueToken generates a token. Without regenerate it refuses with
	// ErrTokenExists while the tenant has a valid token.
	IssueToken(ctx context.Context, tenant string, regenerate bool) (*Credentials, error)
	// Activity returns up to limit of the tenant's newest journal events,
	// newest first.
	Activity(ctx context.Context, tenant string, limit int) ([]Activity, error)
	// Requests returns the last requests the tenant's Tenant URL received,
	// newest first: the connection check.
	Requests(ctx context.Context, tenant string) ([]Request, error)
	// DeadLetters returns the changes the backend refused.
	DeadLetters(ctx context.Context, tenant string) ([]DeadLetter, error)
	// Replay puts dead letters back for delivery; empty seqs means all.
	// It returns the sequences replayed.
	Replay(ctx context.Context, tenant string, seqs []uint64) ([]uint64, error)
	// Settings returns the backend's settings, as its Describe documents
	// them, with the tenant's current values, and its actions.
	Settings(ctx context.Context, tenant string) (*Settings, error)
	// SaveSettings replaces the tenant's own backend settings (a JSON
	// object; the profile's defaults apply to keys it lacks). The backend
	// validates them first: its refusal is an *InvalidError.
	SaveSettings(ctx context.Context, tenant string, settings json.RawMessage) error
	// RunAction runs a backend action with payload as its input.
	RunAction(ctx context.Context, tenant, action string, payload []byte) (*ActionResult, error)
	// Profiles returns the runtime_tenants profiles of the running config.
	Profiles(ctx context.Context) []string
	// EnableTenant enables SCIM for a tenant at runtime: a new runtime
	// tenant of profile, or a disabled one again (profile "" keeps its
	// own).
	EnableTenant(ctx context.Context, tenant, profile string) error
	// DisableTenant stops serving a runtime tenant, keeping its data.
	DisableTenant(ctx context.Context, tenant string) error
	// Connections returns the named SCIM connections an account created
	// (each a tenant with its own Tenant URL and token), and how many more
	// it may create: 0 when the operator allows it none.
	Connections(ctx context.Context, account string) ([]Summary, int, error)
	// CreateConnection creates a connection of account called name and
	// returns the new tenant's name.
	CreateConnection(ctx context.Context, account, name string) (string, error)
	// Account returns the account a tenant is a connection of, or "" for
	// a tenant that is no connection.
	Account(ctx context.Context, tenant string) string
}

// Errors a Service returns.
var (
	// ErrNotFound: the server knows no such tenant.
	ErrNotFound = errors.New("no such tenant")
	// ErrTokenExists: the tenant has a valid token and regenerate was not
	// asked for.
	ErrTokenExists = errors.New("the tenant already has a valid token")
)

// InvalidError is a refusal the user can act on; Message says why, in
// words fit for the page.
type InvalidError struct{ Message string }

func (e *InvalidError) Error() string { return e.Message }

// Summary is one tenant in the operator's list.
type Summary struct {
	Tenant string
	// Name is a connection's own name, without its account's.
	Name string
	// TenantURL is what the IdP is given.
	TenantURL string
	// Kind is "static" (declared in the config) or "runtime".
	Kind string
	// Profile is a runtime tenant's profile.
	Profile string
	// Enabled is false for a disabled runtime tenant or one whose profile
	// the config lacks.
	Enabled     bool
	Backend     string
	TokenExpiry *time.Time
	LastRequest *time.Time
	LastChange  *time.Time
	Warnings    []Warning
}

// Panel is what a tenant's panel shows.
type Panel struct {
	Tenant string
	// Kind is "static" or "runtime"; Profile is a runtime tenant's.
	Kind    string
	Profile string
	// Enabled says whether SCIM is on for the tenant: its Tenant URL
	// answers.
	Enabled bool
	// TenantURL is what the IdP is given.
	TenantURL string
	// Token is the newest token; nil when none was generated.
	Token *TokenInfo
	// Overlapping are older tokens a rotation overlap still accepts.
	Overlapping []TokenInfo
	// TokenValidity is how long a new token is valid; RotationOverlap how
	// long a replaced one keeps working (0: it stops at once).
	TokenValidity   time.Duration
	RotationOverlap time.Duration
	// LastRequest is the IdP's last request; LastChange its last accepted
	// change.
	LastRequest *time.Time
	LastChange  *time.Time
	// Warnings carry the server's codes (token_missing, token_expiring,
	// token_expired, never_used, idle, dead_letters, delivery_failing,
	// disabled, …); the console words them for a tenant admin.
	Warnings []Warning
	// Backend is the tenant's backend and its delivery; nil without one.
	Backend *Backend
	// Now is the server's clock, which the warnings were computed with.
	Now time.Time
}

// TokenInfo describes a token, never its value.
type TokenInfo struct {
	ID        string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// AcceptedUntil is when an overlapping token stops working.
	AcceptedUntil *time.Time
}

// Warning is something to act on; Message is the server's wording, for
// operators.
type Warning struct {
	Code    string
	Message string
}

// Backend is a tenant's backend and how delivery to it goes.
type Backend struct {
	Name    string
	Version string
	// Delivered is the journal sequence delivered through, of Head.
	Delivered, Head uint64
	// Lag is how many changes wait; LagTime how long the oldest has.
	Lag     uint64
	LagTime time.Duration
	// DeadLetters waits for a replay.
	DeadLetters int
	// Failing is set while delivery fails; LastError says why.
	Failing   bool
	LastError string
	// RequiredAttributes are the SCIM attributes (paths) every user must
	// have for the product: a user without one is refused.
	RequiredAttributes []string
}

// Credentials are shown once, on the page that answers the POST that
// generated them.
type Credentials struct {
	Tenant    string
	TenantURL string
	Token     string
	ExpiresAt time.Time
	// Previous says what became of the tokens valid before.
	Previous []PreviousToken
}

// PreviousToken is what generating a token did to an earlier one.
type PreviousToken struct {
	ID         string
	RevokedNow bool
	// AcceptedUntil is when it stops working, unless RevokedNow.
	AcceptedUntil *time.Time
}

// Activity is one journal event.
type Activity struct {
	Seq  uint64
	Time time.Time
	// Kind is the change kind, e.g. "user.created".
	Kind         string
	ResourceType string
	ID           string
	// Who names the resource: userName or displayName.
	Who string
	// Changed lists the attributes changed, for updates.
	Changed []string
	// Members is how many members a membership change added or removed.
	Members int
}

// Request is one request the Tenant URL received.
type Request = requestlog.Entry

// DeadLetter is a change the backend refused.
type DeadLetter struct {
	Seq          uint64
	Time         time.Time
	Kind         string
	ResourceType string
	ID           string
	Who          string
	Error        string
	Attempts     int
}

// Settings are a backend's settings and actions.
type Settings struct {
	Backend string
	// Editable is false for a tenant declared in the config, whose
	// settings only the operator changes; ReadOnlyReason says so.
	Editable       bool
	ReadOnlyReason string
	Fields         []Field
	Actions        []Action
}

// Field is one setting.
type Field struct {
	Name        string
	Description string
	Required    bool
	// Value is the tenant's effective value as JSON (a string, an array
	// of strings, …), or empty when unset.
	Value json.RawMessage
	// Own is set when the value is the tenant's own rather than the
	// profile's default.
	Own bool
}

// Action is an operator action a backend offers.
type Action struct {
	Name        string
	Description string
}

// ActionResult is an action's outcome.
type ActionResult struct {
	Message string
	// Result is optional detail as JSON.
	Result json.RawMessage
}
