package sdk

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	backendv2 "github.com/caddy-scim/caddy-scim/plugins/proto/backend/v2"
)

// The functions below convert between the SDK's types and the generated
// protocol messages. Empty slices, maps and byte strings travel as absent
// and come back nil; a zero Time travels as an absent timestamp and comes
// back zero; any other Time comes back in UTC.

func describeResponseToProto(r *DescribeResponse) *backendv2.DescribeResponse {
	if r == nil {
		return &backendv2.DescribeResponse{}
	}
	p := &backendv2.DescribeResponse{
		Name:                   r.Name,
		Version:                r.Version,
		Description:            r.Description,
		RequiredUserAttributes: orNil(r.RequiredUserAttributes),
	}
	for _, s := range r.Settings {
		p.Settings = append(p.Settings, &backendv2.Setting{Name: s.Name, Description: s.Description, Required: s.Required})
	}
	for _, a := range r.Actions {
		p.Actions = append(p.Actions, &backendv2.ActionInfo{Name: a.Name, Description: a.Description})
	}
	return p
}

func describeResponseFromProto(p *backendv2.DescribeResponse) *DescribeResponse {
	r := &DescribeResponse{
		Name:                   p.GetName(),
		Version:                p.GetVersion(),
		Description:            p.GetDescription(),
		RequiredUserAttributes: orNil(p.GetRequiredUserAttributes()),
	}
	for _, s := range p.GetSettings() {
		r.Settings = append(r.Settings, Setting{Name: s.GetName(), Description: s.GetDescription(), Required: s.GetRequired()})
	}
	for _, a := range p.GetActions() {
		r.Actions = append(r.Actions, ActionInfo{Name: a.GetName(), Description: a.GetDescription()})
	}
	return r
}

func configureRequestToProto(r *ConfigureRequest) *backendv2.ConfigureRequest {
	if r == nil {
		return &backendv2.ConfigureRequest{}
	}
	return &backendv2.ConfigureRequest{Tenant: r.Tenant, Settings: orNil(r.Settings), DataDir: r.DataDir}
}

func configureRequestFromProto(p *backendv2.ConfigureRequest) *ConfigureRequest {
	return &ConfigureRequest{Tenant: p.GetTenant(), Settings: orNil(p.GetSettings()), DataDir: p.GetDataDir()}
}

func applyRequestToProto(r *ApplyRequest) *backendv2.ApplyRequest {
	if r == nil {
		return &backendv2.ApplyRequest{}
	}
	p := &backendv2.ApplyRequest{Tenant: r.Tenant}
	for i := range r.Changes {
		p.Changes = append(p.Changes, changeToProto(&r.Changes[i]))
	}
	return p
}

func applyRequestFromProto(p *backendv2.ApplyRequest) *ApplyRequest {
	r := &ApplyRequest{Tenant: p.GetTenant()}
	for _, c := range p.GetChanges() {
		r.Changes = append(r.Changes, changeFromProto(c))
	}
	return r
}

func applyResponseToProto(r *ApplyResponse) *backendv2.ApplyResponse {
	if r == nil {
		return &backendv2.ApplyResponse{}
	}
	return &backendv2.ApplyResponse{AppliedThrough: r.AppliedThrough}
}

func applyResponseFromProto(p *backendv2.ApplyResponse) *ApplyResponse {
	return &ApplyResponse{AppliedThrough: p.GetAppliedThrough()}
}

func inspectRequestToProto(r *InspectRequest) *backendv2.InspectRequest {
	if r == nil {
		return &backendv2.InspectRequest{}
	}
	return &backendv2.InspectRequest{Tenant: r.Tenant}
}

func inspectRequestFromProto(p *backendv2.InspectRequest) *InspectRequest {
	return &InspectRequest{Tenant: p.GetTenant()}
}

func inspectResponseToProto(r *InspectResponse) *backendv2.InspectResponse {
	if r == nil {
		return &backendv2.InspectResponse{}
	}
	return &backendv2.InspectResponse{Json: orNil(r.JSON)}
}

func inspectResponseFromProto(p *backendv2.InspectResponse) *InspectResponse {
	return &InspectResponse{JSON: orNil(p.GetJson())}
}

func actionRequestToProto(r *ActionRequest) *backendv2.ActionRequest {
	if r == nil {
		return &backendv2.ActionRequest{}
	}
	return &backendv2.ActionRequest{Tenant: r.Tenant, Name: r.Name, Payload: orNil(r.Payload)}
}

func actionRequestFromProto(p *backendv2.ActionRequest) *ActionRequest {
	return &ActionRequest{Tenant: p.GetTenant(), Name: p.GetName(), Payload: orNil(p.GetPayload())}
}

func actionResponseToProto(r *ActionResponse) *backendv2.ActionResponse {
	if r == nil {
		return &backendv2.ActionResponse{}
	}
	return &backendv2.ActionResponse{Message: r.Message, Result: orNil(r.Result)}
}

func actionResponseFromProto(p *backendv2.ActionResponse) *ActionResponse {
	return &ActionResponse{Message: p.GetMessage(), Result: orNil(p.GetResult())}
}

func purgeRequestToProto(r *PurgeRequest) *backendv2.PurgeRequest {
	if r == nil {
		return &backendv2.PurgeRequest{}
	}
	return &backendv2.PurgeRequest{Tenant: r.Tenant}
}

func purgeRequestFromProto(p *backendv2.PurgeRequest) *PurgeRequest {
	return &PurgeRequest{Tenant: p.GetTenant()}
}

func changeToProto(c *Change) *backendv2.Change {
	p := &backendv2.Change{
		Seq:     c.Seq,
		Tenant:  c.Tenant,
		Kind:    string(c.Kind),
		User:    userToProto(c.User),
		Group:   groupToProto(c.Group),
		Changed: orNil(c.Changed),
	}
	if !c.Time.IsZero() {
		p.Time = timestamppb.New(c.Time)
	}
	for _, m := range c.Members {
		p.Members = append(p.Members, &backendv2.Member{Id: m.ID, Type: m.Type})
	}
	return p
}

func changeFromProto(p *backendv2.Change) Change {
	c := Change{
		Seq:     p.GetSeq(),
		Tenant:  p.GetTenant(),
		Kind:    Kind(p.GetKind()),
		User:    userFromProto(p.GetUser()),
		Group:   groupFromProto(p.GetGroup()),
		Changed: orNil(p.GetChanged()),
	}
	if p.GetTime() != nil {
		c.Time = p.GetTime().AsTime()
	}
	for _, m := range p.GetMembers() {
		c.Members = append(c.Members, Member{ID: m.GetId(), Type: m.GetType()})
	}
	return c
}

func userToProto(u *User) *backendv2.User {
	if u == nil {
		return nil
	}
	p := &backendv2.User{
		Id:             u.ID,
		ExternalId:     u.ExternalID,
		UserName:       u.UserName,
		Active:         u.Active,
		GivenName:      u.GivenName,
		FamilyName:     u.FamilyName,
		MiddleName:     u.MiddleName,
		FormattedName:  u.FormattedName,
		DisplayName:    u.DisplayName,
		NickName:       u.NickName,
		Title:          u.Title,
		UserType:       u.UserType,
		Locale:         u.Locale,
		Language:       u.Language,
		Timezone:       u.Timezone,
		Email:          u.Email,
		Phone:          u.Phone,
		EmployeeNumber: u.EmployeeNumber,
		CostCenter:     u.CostCenter,
		Organization:   u.Organization,
		Division:       u.Division,
		Department:     u.Department,
		ManagerId:      u.ManagerID,
		Attributes:     attributes(u.Attributes),
	}
	for _, e := range u.Emails {
		p.Emails = append(p.Emails, &backendv2.Email{Value: e.Value, Type: e.Type, Primary: e.Primary})
	}
	for _, ph := range u.PhoneNumbers {
		p.PhoneNumbers = append(p.PhoneNumbers, &backendv2.Phone{Value: ph.Value, Type: ph.Type, Primary: ph.Primary})
	}
	for _, a := range u.Addresses {
		p.Addresses = append(p.Addresses, &backendv2.Address{
			Type:          a.Type,
			Formatted:     a.Formatted,
			StreetAddress: a.StreetAddress,
			Locality:      a.Locality,
			Region:        a.Region,
			PostalCode:    a.PostalCode,
			Country:       a.Country,
			Primary:       a.Primary,
		})
	}
	return p
}

func userFromProto(p *backendv2.User) *User {
	if p == nil {
		return nil
	}
	u := &User{
		ID:             p.GetId(),
		ExternalID:     p.GetExternalId(),
		UserName:       p.GetUserName(),
		Active:         p.GetActive(),
		GivenName:      p.GetGivenName(),
		FamilyName:     p.GetFamilyName(),
		MiddleName:     p.GetMiddleName(),
		FormattedName:  p.GetFormattedName(),
		DisplayName:    p.GetDisplayName(),
		NickName:       p.GetNickName(),
		Title:          p.GetTitle(),
		UserType:       p.GetUserType(),
		Locale:         p.GetLocale(),
		Language:       p.GetLanguage(),
		Timezone:       p.GetTimezone(),
		Email:          p.GetEmail(),
		Phone:          p.GetPhone(),
		EmployeeNumber: p.GetEmployeeNumber(),
		CostCenter:     p.GetCostCenter(),
		Organization:   p.GetOrganization(),
		Division:       p.GetDivision(),
		Department:     p.GetDepartment(),
		ManagerID:      p.GetManagerId(),
		Attributes:     attributes(p.GetAttributes()),
	}
	for _, e := range p.GetEmails() {
		u.Emails = append(u.Emails, Email{Value: e.GetValue(), Type: e.GetType(), Primary: e.GetPrimary()})
	}
	for _, ph := range p.GetPhoneNumbers() {
		u.PhoneNumbers = append(u.PhoneNumbers, Phone{Value: ph.GetValue(), Type: ph.GetType(), Primary: ph.GetPrimary()})
	}
	for _, a := range p.GetAddresses() {
		u.Addresses = append(u.Addresses, Address{
			Type:          a.GetType(),
			Formatted:     a.GetFormatted(),
			StreetAddress: a.GetStreetAddress(),
			Locality:      a.GetLocality(),
			Region:        a.GetRegion(),
			PostalCode:    a.GetPostalCode(),
			Country:       a.GetCountry(),
			Primary:       a.GetPrimary(),
		})
	}
	return u
}

func groupToProto(g *Group) *backendv2.Group {
	if g == nil {
		return nil
	}
	return &backendv2.Group{
		Id:          g.ID,
		ExternalId:  g.ExternalID,
		DisplayName: g.DisplayName,
		Attributes:  attributes(g.Attributes),
	}
}

func groupFromProto(p *backendv2.Group) *Group {
	if p == nil {
		return nil
	}
	return &Group{
		ID:          p.GetId(),
		ExternalID:  p.GetExternalId(),
		DisplayName: p.GetDisplayName(),
		Attributes:  attributes(p.GetAttributes()),
	}
}

// orNil returns s, or nil when s is empty.
func orNil[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

// attributes returns m, or nil when m is empty.
func attributes(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
