package schema

// Meta is the meta attribute of a discovery document (RFC 7643 §3.1).
type Meta struct {
	ResourceType string `json:"resourceType"`
	Location     string `json:"location,omitempty"`
}

// SchemaDoc is a schema representation served at /Schemas (RFC 7643 §7).
type SchemaDoc struct {
	Schemas     []string     `json:"schemas"`
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Attributes  []*Attribute `json:"attributes"`
	Meta        Meta         `json:"meta"`
}

// Document returns the /Schemas representation of s. base is the absolute
// SCIM base URL, used for meta.location.
func (s *Schema) Document(base string) SchemaDoc {
	return SchemaDoc{
		Schemas:     []string{SchemaURN},
		ID:          s.ID,
		Name:        s.Name,
		Description: s.Description,
		Attributes:  s.Attributes,
		Meta:        Meta{ResourceType: "Schema", Location: base + "/Schemas/" + s.ID},
	}
}

// SchemaExtensionDoc names one extension of a resource type.
type SchemaExtensionDoc struct {
	Schema   string `json:"schema"`
	Required bool   `json:"required"`
}

// ResourceTypeDoc is a resource type representation served at
// /ResourceTypes (RFC 7643 §6).
type ResourceTypeDoc struct {
	Schemas          []string             `json:"schemas"`
	ID               string               `json:"id"`
	Name             string               `json:"name"`
	Endpoint         string               `json:"endpoint"`
	Description      string               `json:"description"`
	Schema           string               `json:"schema"`
	SchemaExtensions []SchemaExtensionDoc `json:"schemaExtensions,omitempty"`
	Meta             Meta                 `json:"meta"`
}

// Document returns the /ResourceTypes representation of rt.
func (rt *ResourceType) Document(base string) ResourceTypeDoc {
	d := ResourceTypeDoc{
		Schemas:     []string{ResourceTypeURN},
		ID:          rt.ID,
		Name:        rt.Name,
		Endpoint:    rt.Endpoint,
		Description: rt.Description,
		Schema:      rt.Schema.ID,
		Meta:        Meta{ResourceType: "ResourceType", Location: base + "/ResourceTypes/" + rt.ID},
	}
	for _, e := range rt.Extensions {
		d.SchemaExtensions = append(d.SchemaExtensions, SchemaExtensionDoc{Schema: e.Schema.ID, Required: e.Required})
	}
	return d
}

// Supported is a capability flag of the service provider configuration.
type Supported struct {
	Supported bool `json:"supported"`
}

// BulkConfig describes Bulk support (RFC 7643 §5).
type BulkConfig struct {
	Supported      bool `json:"supported"`
	MaxOperations  int  `json:"maxOperations"`
	MaxPayloadSize int  `json:"maxPayloadSize"`
}

// FilterConfig describes filter support (RFC 7643 §5).
type FilterConfig struct {
	Supported  bool `json:"supported"`
	MaxResults int  `json:"maxResults"`
}

// PaginationConfig describes the pagination methods of lists and searches
// (RFC 9865, which adds it to RFC 7643 §5).
type PaginationConfig struct {
	// Cursor reports support for cursor pagination (RFC 9865).
	Cursor bool `json:"cursor"`
	// Index reports support for index pagination (RFC 7644 §3.4.2.4).
	Index bool `json:"index"`
	// DefaultPaginationMethod is "cursor" or "index": the method used
	// when a request names neither.
	DefaultPaginationMethod string `json:"defaultPaginationMethod,omitempty"`
	// DefaultPageSize is the page size when a request gives no count.
	DefaultPageSize int `json:"defaultPageSize,omitempty"`
	// MaxPageSize is the largest page returned, whatever the count.
	MaxPageSize int `json:"maxPageSize,omitempty"`
	// CursorTimeout is how many seconds a cursor stays valid.
	CursorTimeout int `json:"cursorTimeout,omitempty"`
}

// AuthenticationScheme describes one way clients authenticate (RFC 7643 §5).
type AuthenticationScheme struct {
	Type             string `json:"type"`
	Name             string `json:"name"`
	Description      string `json:"description"`
	SpecURI          string `json:"specUri,omitempty"`
	DocumentationURI string `json:"documentationUri,omitempty"`
	Primary          bool   `json:"primary,omitempty"`
}

// ServiceProviderConfig is the document served at /ServiceProviderConfig
// (RFC 7643 §5). Build it with NewServiceProviderConfig so that it always
// states what the server actually does.
type ServiceProviderConfig struct {
	Schemas               []string               `json:"schemas"`
	DocumentationURI      string                 `json:"documentationUri,omitempty"`
	Patch                 Supported              `json:"patch"`
	Bulk                  BulkConfig             `json:"bulk"`
	Filter                FilterConfig           `json:"filter"`
	ChangePassword        Supported              `json:"changePassword"`
	Sort                  Supported              `json:"sort"`
	ETag                  Supported              `json:"etag"`
	Pagination            *PaginationConfig      `json:"pagination,omitempty"`
	AuthenticationSchemes []AuthenticationScheme `json:"authenticationSchemes"`
	Meta                  Meta                   `json:"meta"`
}

// Capabilities are the facts the service provider configuration states.
type Capabilities struct {
	// MaxResults is the largest page a list or search returns.
	MaxResults int
	// DocumentationURI points at the operator's documentation, if any.
	DocumentationURI string
	// Bulk, when non-nil, advertises /Bulk with these limits.
	Bulk *BulkConfig
	// ETag advertises ETag and If-Match / If-None-Match support.
	ETag bool
	// Pagination, when non-nil, advertises the pagination methods
	// (RFC 9865).
	Pagination *PaginationConfig
}

// NewServiceProviderConfig returns the /ServiceProviderConfig document for
// the given capabilities. PATCH, filtering and sorting are always supported;
// password changes never are (passwords are not stored).
func NewServiceProviderConfig(c Capabilities, base string) ServiceProviderConfig {
	cfg := ServiceProviderConfig{
		Schemas:          []string{ServiceConfigURN},
		DocumentationURI: c.DocumentationURI,
		Patch:            Supported{true},
		Filter:           FilterConfig{Supported: true, MaxResults: c.MaxResults},
		Sort:             Supported{true},
		ETag:             Supported{c.ETag},
		Pagination:       c.Pagination,
		AuthenticationSchemes: []AuthenticationScheme{{
			Type:        "oauthbearertoken",
			Name:        "OAuth Bearer Token",
			Description: "Authentication with the tenant's bearer token in the Authorization header.",
			SpecURI:     "https://www.rfc-editor.org/info/rfc6750",
			Primary:     true,
		}},
		Meta: Meta{ResourceType: "ServiceProviderConfig", Location: base + "/ServiceProviderConfig"},
	}
	if c.Bulk != nil {
		cfg.Bulk = *c.Bulk
		cfg.Bulk.Supported = true
	}
	return cfg
}
