package schema

// Schema URNs (RFC 7643 §8.7.1 and §8.7.2).
const (
	UserURN           = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupURN          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseUserURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaURN         = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	ResourceTypeURN   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	ServiceConfigURN  = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ListResponseURN   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchOpURN        = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SearchRequestURN  = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
)

// str returns a readWrite, caseInsensitive, singular string attribute.
func str(name, desc string) *Attribute {
	return &Attribute{Name: name, Type: String, Description: desc}
}

func sub(name string, t Type, desc string) *Attribute {
	return &Attribute{Name: name, Type: t, Description: desc}
}

// multi returns the sub-attributes shared by the multi-valued attributes of
// RFC 7643 §2.4 (value, display, type, primary), with the given value type
// and canonical type values.
func multi(name, desc string, valueType Type, types []string, extra ...*Attribute) *Attribute {
	value := sub("value", valueType, "The value of the "+name+" entry.")
	if valueType == Reference {
		// RFC 7643 §8.7.1: photos.value refers to a resource outside the
		// service provider.
		value.ReferenceTypes = []string{"external"}
	}
	subs := []*Attribute{
		value,
		sub("display", String, "A human-readable name, primarily used for display purposes."),
		{Name: "type", Type: String, Description: "A label indicating the entry's function.", CanonicalValues: types},
		sub("primary", Boolean, "Whether this is the primary or preferred entry; at most one entry is primary."),
	}
	subs = append(subs, extra...)
	return &Attribute{Name: name, Type: Complex, MultiValued: true, Description: desc, SubAttributes: subs}
}

// identifierValue marks the value sub-attribute of a as an identifier
// (emails.value).
func identifierValue(a *Attribute) *Attribute {
	a.Sub("value").identifier = true
	return a
}

// commonAttributes are the attributes every resource has (RFC 7643 §3.1).
// They are not part of any schema's attribute list.
var commonAttributes = []*Attribute{
	{Name: "id", Type: String, CaseExact: true, Mutability: ReadOnly, Returned: Always, Uniqueness: Server,
		Description: "Unique identifier for the resource, assigned by the service provider."},
	{Name: "externalId", Type: String, CaseExact: true, identifier: true,
		Description: "Identifier of the resource as defined by the provisioning client."},
	{Name: "meta", Type: Complex, Mutability: ReadOnly, Description: "Resource metadata.",
		SubAttributes: []*Attribute{
			{Name: "resourceType", Type: String, CaseExact: true, Mutability: ReadOnly, Description: "The name of the resource type."},
			{Name: "created", Type: DateTime, Mutability: ReadOnly, Description: "When the resource was added to the service provider."},
			{Name: "lastModified", Type: DateTime, Mutability: ReadOnly, Description: "When the resource was last modified."},
			{Name: "location", Type: Reference, CaseExact: true, Mutability: ReadOnly, Description: "The URI of the resource.", ReferenceTypes: []string{"uri"}},
			{Name: "version", Type: String, CaseExact: true, Mutability: ReadOnly, Description: "The version (ETag) of the resource."},
		}},
}

// CommonAttributes returns the definitions of id, externalId and meta.
func CommonAttributes() []*Attribute { return commonAttributes }

// UserSchema is the core User schema (RFC 7643 §4.1, §8.7.1).
var UserSchema = &Schema{
	ID:          UserURN,
	Name:        "User",
	Description: "User Account",
	Attributes: []*Attribute{
		{Name: "userName", Type: String, Required: true, Uniqueness: Server, identifier: true,
			Description: "Unique identifier for the user, typically used to sign in. Unique case-insensitively."},
		{Name: "name", Type: Complex, Description: "The components of the user's real name.",
			SubAttributes: []*Attribute{
				str("formatted", "The full name, formatted for display."),
				str("familyName", "The family name of the user."),
				str("givenName", "The given name of the user."),
				str("middleName", "The middle name(s) of the user."),
				str("honorificPrefix", "The honorific prefix(es) of the user."),
				str("honorificSuffix", "The honorific suffix(es) of the user."),
			}},
		str("displayName", "The name of the user, suitable for display to end-users."),
		str("nickName", "The casual way to address the user."),
		{Name: "profileUrl", Type: Reference, ReferenceTypes: []string{"external"}, Description: "A URI of the user's online profile."},
		str("title", "The user's title, such as \"Vice President\"."),
		str("userType", "The relationship between the organization and the user."),
		str("preferredLanguage", "The user's preferred written or spoken language."),
		str("locale", "The user's default location for localization."),
		str("timezone", "The user's time zone in IANA database format."),
		{Name: "active", Type: Boolean, Description: "The user's administrative status."},
		{Name: "password", Type: String, Mutability: WriteOnly, Returned: Never,
			Description: "The user's cleartext password. Accepted and never stored or returned."},
		identifierValue(multi("emails", "Email addresses for the user.", String, []string{"work", "home", "other"})),
		multi("phoneNumbers", "Phone numbers for the user.", String, []string{"work", "home", "mobile", "fax", "pager", "other"}),
		multi("ims", "Instant messaging addresses for the user.", String, []string{"aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"}),
		multi("photos", "URLs of photos of the user.", Reference, []string{"photo", "thumbnail"}),
		{Name: "addresses", Type: Complex, MultiValued: true, Description: "A physical mailing address for this user.",
			SubAttributes: []*Attribute{
				{Name: "formatted", Type: String, freeText: true, Description: "The full mailing address, formatted for display."},
				str("streetAddress", "The full street address component."),
				str("locality", "The city or locality component."),
				str("region", "The state or region component."),
				str("postalCode", "The zip code or postal code component."),
				str("country", "The country name component."),
				{Name: "type", Type: String, Description: "A label indicating the address's function.", CanonicalValues: []string{"work", "home", "other"}},
				sub("primary", Boolean, "Whether this is the primary address."),
			}},
		{Name: "groups", Type: Complex, MultiValued: true, Mutability: ReadOnly,
			Description: "The groups the user belongs to, derived from group membership.",
			SubAttributes: []*Attribute{
				{Name: "value", Type: String, Mutability: ReadOnly, Description: "The id of the group."},
				{Name: "$ref", Type: Reference, Mutability: ReadOnly, ReferenceTypes: []string{"User", "Group"}, Description: "The URI of the group."},
				{Name: "display", Type: String, Mutability: ReadOnly, Description: "The group's displayName."},
				{Name: "type", Type: String, Mutability: ReadOnly, CanonicalValues: []string{"direct", "indirect"}, Description: "How the membership was derived."},
			}},
		multi("entitlements", "Entitlements for the user.", String, nil),
		multi("roles", "Roles for the user.", String, nil),
		{Name: "x509Certificates", Type: Complex, MultiValued: true, Description: "X.509 certificates issued to the user.",
			SubAttributes: []*Attribute{
				sub("value", Binary, "The DER-encoded certificate, base64."),
				str("display", "A human-readable name."),
				str("type", "A label indicating the certificate's function."),
				sub("primary", Boolean, "Whether this is the primary certificate."),
			}},
	},
}

// EnterpriseUserSchema is the Enterprise User extension (RFC 7643 §4.3).
var EnterpriseUserSchema = &Schema{
	ID:          EnterpriseUserURN,
	Name:        "EnterpriseUser",
	Description: "Enterprise User",
	Attributes: []*Attribute{
		str("employeeNumber", "A string identifier, typically numeric or alphanumeric, assigned to a person."),
		str("costCenter", "The name of a cost center."),
		str("organization", "The name of an organization."),
		str("division", "The name of a division."),
		str("department", "The name of a department."),
		{Name: "manager", Type: Complex, bareValue: true, Description: "The user's manager.",
			SubAttributes: []*Attribute{
				{Name: "value", Type: String, Description: "The id of the manager's User resource."},
				{Name: "$ref", Type: Reference, ReferenceTypes: []string{"User"}, Description: "The URI of the manager's User resource."},
				{Name: "displayName", Type: String, Mutability: ReadOnly, Description: "The manager's displayName."},
			}},
	},
}

// GroupSchema is the core Group schema (RFC 7643 §4.2, §8.7.1).
var GroupSchema = &Schema{
	ID:          GroupURN,
	Name:        "Group",
	Description: "Group",
	Attributes: []*Attribute{
		{Name: "displayName", Type: String, Required: true, Uniqueness: Server, identifier: true,
			Description: "A human-readable name for the group. Unique case-insensitively."},
		{Name: "members", Type: Complex, MultiValued: true, keepDuplicates: true, Description: "The members of the group.",
			SubAttributes: []*Attribute{
				{Name: "value", Type: String, Mutability: Immutable, Description: "The id of the member resource."},
				{Name: "$ref", Type: Reference, Mutability: Immutable, ReferenceTypes: []string{"User", "Group"}, Description: "The URI of the member resource."},
				{Name: "display", Type: String, Mutability: ReadOnly, Description: "The member's display name."},
				{Name: "type", Type: String, Mutability: Immutable, CanonicalValues: []string{"User", "Group"}, Description: "The type of the member resource."},
			}},
	},
}

// User is the User resource type with the Enterprise User extension.
var User = &ResourceType{
	ID:          "User",
	Name:        "User",
	Endpoint:    "/Users",
	Description: "User Account",
	Schema:      UserSchema,
	Extensions:  []Extension{{Schema: EnterpriseUserSchema}},
}

// Group is the Group resource type.
var Group = &ResourceType{
	ID:          "Group",
	Name:        "Group",
	Endpoint:    "/Groups",
	Description: "Group",
	Schema:      GroupSchema,
}

// ResourceTypes returns the resource types this server offers, in the order
// the discovery endpoints list them.
func ResourceTypes() []*ResourceType { return []*ResourceType{User, Group} }

// Schemas returns every schema of every resource type, in discovery order.
func Schemas() []*Schema {
	var out []*Schema
	for _, rt := range ResourceTypes() {
		out = append(out, rt.schemas()...)
	}
	return out
}

// ByEndpoint returns the resource type served at endpoint ("Users",
// "/Groups"), case-insensitively, or nil.
func ByEndpoint(endpoint string) *ResourceType {
	if len(endpoint) > 0 && endpoint[0] != '/' {
		endpoint = "/" + endpoint
	}
	for _, rt := range ResourceTypes() {
		if equalFold(rt.Endpoint, endpoint) {
			return rt
		}
	}
	return nil
}
