package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	// schemaEntraGroup is the extra schema Entra puts on every group it
	// creates.
	schemaEntraGroup = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
)

var departments = []string{"Engineering", "Sales", "Finance", "Marketing", "Support", "Operations", "Legal", "People"}

// person is what the directory knows about one user; every body about the
// user is built from it.
type person struct {
	Key       string // unique among the run's users: "00042" or "c3-17"
	Given     string
	Family    string
	Dept      string
	ManagerID string // a SCIM id, or "" for none
	Active    bool
}

// newPerson derives a user from its key and a number that varies the
// attributes.
func newPerson(key string, n int) person {
	return person{
		Key:    key,
		Given:  "Given" + key,
		Family: fmt.Sprintf("Family%d", n%997),
		Dept:   departments[n%len(departments)],
		Active: true,
	}
}

func (p person) userName() string    { return "user" + p.Key + "@bench.example" }
func (p person) externalID() string  { return "ext-" + p.Key }
func (p person) displayName() string { return p.Given + " " + p.Family }

type jsonName struct {
	GivenName  string `json:"givenName"`
	FamilyName string `json:"familyName"`
	Formatted  string `json:"formatted,omitempty"`
}

type jsonEmail struct {
	Value   string `json:"value"`
	Type    string `json:"type"`
	Primary bool   `json:"primary"`
}

type jsonRef struct {
	Value string `json:"value"`
}

type jsonEnterprise struct {
	Department     string   `json:"department,omitempty"`
	EmployeeNumber string   `json:"employeeNumber,omitempty"`
	Manager        *jsonRef `json:"manager,omitempty"`
}

// entraUser is the body of Entra's POST /Users with the attributes of its
// default mapping.
type entraUser struct {
	Schemas     []string       `json:"schemas"`
	ExternalID  string         `json:"externalId"`
	UserName    string         `json:"userName"`
	Active      bool           `json:"active"`
	DisplayName string         `json:"displayName"`
	Emails      []jsonEmail    `json:"emails"`
	Name        jsonName       `json:"name"`
	Enterprise  jsonEnterprise `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
}

// createBody is Entra's create of p.
func createBody(p person) []byte {
	u := entraUser{
		Schemas:     []string{schemaUser, schemaEnterprise},
		ExternalID:  p.externalID(),
		UserName:    p.userName(),
		Active:      p.Active,
		DisplayName: p.displayName(),
		Emails:      []jsonEmail{{Value: p.userName(), Type: "work", Primary: true}},
		Name:        jsonName{GivenName: p.Given, FamilyName: p.Family},
		Enterprise:  jsonEnterprise{Department: p.Dept, EmployeeNumber: "E" + p.Key},
	}
	if p.ManagerID != "" {
		u.Enterprise.Manager = &jsonRef{Value: p.ManagerID}
	}
	return mustJSON(u)
}

// oktaUser is the body of an Okta wizard app's PUT /Users/{id}: the whole
// user as Okta holds it, deactivation included, with the extra
// attributes Okta always sends.
type oktaUser struct {
	Schemas  []string    `json:"schemas"`
	ID       string      `json:"id"`
	UserName string      `json:"userName"`
	Name     jsonName    `json:"name"`
	Emails   []jsonEmail `json:"emails"`
	Display  string      `json:"displayName"`
	Locale   string      `json:"locale"`
	External string      `json:"externalId"`
	Groups   []jsonRef   `json:"groups"`
	Password string      `json:"password,omitempty"`
	Active   bool        `json:"active"`
}

// putBody is Okta's full replace of p, whose SCIM id is id.
func putBody(p person, id string) []byte {
	return mustJSON(oktaUser{
		Schemas:  []string{schemaUser},
		ID:       id,
		UserName: p.userName(),
		Name:     jsonName{GivenName: p.Given, FamilyName: p.Family, Formatted: p.displayName()},
		Emails:   []jsonEmail{{Value: p.userName(), Type: "work", Primary: true}},
		Display:  p.displayName(),
		Locale:   "en-US",
		External: p.externalID(),
		Groups:   []jsonRef{},
		Active:   p.Active,
	})
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value"`
}

type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

func patchBody(ops ...patchOp) []byte {
	return mustJSON(patchRequest{Schemas: []string{schemaPatchOp}, Operations: ops})
}

// entraPatchBody is Entra's update of p: capitalised Replace ops, one per
// changed attribute, with active as the string "True" or "False".
func entraPatchBody(p person) []byte {
	active := "False"
	if p.Active {
		active = "True"
	}
	return patchBody(
		patchOp{Op: "Replace", Path: "displayName", Value: p.displayName()},
		patchOp{Op: "Replace", Path: "name.familyName", Value: p.Family},
		patchOp{Op: "Replace", Path: schemaEnterprise + ":department", Value: p.Dept},
		patchOp{Op: "Replace", Path: "active", Value: active},
	)
}

// addMembersBody is Entra's member add: one Add op with the ids as a
// value array.
func addMembersBody(ids []string) []byte {
	refs := make([]jsonRef, len(ids))
	for i, id := range ids {
		refs[i] = jsonRef{Value: id}
	}
	return patchBody(patchOp{Op: "Add", Path: "members", Value: refs})
}

// removeMembersBody is Entra's member removal: Remove on members with the
// ids as the value.
func removeMembersBody(ids []string) []byte {
	refs := make([]jsonRef, len(ids))
	for i, id := range ids {
		refs[i] = jsonRef{Value: id}
	}
	return patchBody(patchOp{Op: "Remove", Path: "members", Value: refs})
}

// groupBody is Entra's group create: empty, with externalId and the
// Microsoft schema.
func groupBody(name string) []byte {
	return mustJSON(struct {
		Schemas     []string  `json:"schemas"`
		ExternalID  string    `json:"externalId"`
		DisplayName string    `json:"displayName"`
		Members     []jsonRef `json:"members"`
	}{[]string{schemaGroup, schemaEntraGroup}, "ext-" + name, name, []jsonRef{}})
}

// filterQuery is the path and query of an exact userName lookup.
func filterQuery(userName string) string {
	return "/Users?filter=" + url.QueryEscape(`userName eq "`+userName+`"`)
}

// pageQuery is the path and query of one page of Okta's import.
func pageQuery(startIndex, count int) string {
	return "/Users?startIndex=" + strconv.Itoa(startIndex) + "&count=" + strconv.Itoa(count)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed struct types are marshalled
	}
	return b
}
