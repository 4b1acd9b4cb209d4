package filter_test

import (
	"errors"
	"fmt"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

func ExampleParse() {
	e, err := filter.Parse(`userType EQ "Employee" and (emails.type eq "work" or not (title pr))`)
	if err != nil {
		panic(err)
	}
	and := e.(*filter.And)
	fmt.Printf("%T and %T\n", and.Left, and.Right)
	fmt.Println(e)
	// Output:
	// *filter.Compare and *filter.Or
	// userType eq "Employee" and (emails.type eq "work" or not (title pr))
}

func ExampleParse_entra() {
	for _, s := range []string{
		`externalId eq jyoung`,
		`emails[type eq "work"].value eq "ryan3@contoso.com"`,
	} {
		e, _ := filter.Parse(s)
		c := e.(*filter.Compare)
		fmt.Printf("%s  (attr %s, sub %q, value %s)\n", e, c.Path.Attr, c.Path.Sub, c.Value)
	}
	// Output:
	// externalId eq "jyoung"  (attr externalId, sub "", value "jyoung")
	// emails[type eq "work"].value eq "ryan3@contoso.com"  (attr emails, sub "value", value "ryan3@contoso.com")
}

func ExampleParse_error() {
	_, err := filter.Parse(`userName eq "bjensen" and title`)
	fmt.Println(err)

	var scimErr *scimerr.Error
	if errors.As(err, &scimErr) {
		fmt.Println(scimErr.Status, scimErr.ScimType)
	}
	// Output:
	// invalid filter at position 31: expected a comparison operator or "pr" after "title", found the end of the input
	// 400 invalidFilter
}

func ExampleMatch() {
	user := map[string]any{
		"userName": "bjensen@example.com",
		"active":   true,
		"emails": []any{
			map[string]any{"value": "bjensen@example.com", "type": "work"},
			map[string]any{"value": "babs@jensen.org", "type": "home"},
		},
		schema.EnterpriseUserURN: map[string]any{"employeeNumber": "701984"},
	}
	for _, s := range []string{
		`userName eq "BJensen@Example.com"`,
		`active eq true and emails[type eq "home" and value ew ".org"]`,
		`emails[type eq "home"].value co "example.com"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber sw "70"`,
	} {
		e, err := filter.Parse(s)
		if err != nil {
			panic(err)
		}
		if err := filter.Check(e, schema.User); err != nil {
			panic(err)
		}
		fmt.Println(filter.Match(e, schema.User, user))
	}
	// Output:
	// true
	// true
	// false
	// true
}

func ExampleParsePath() {
	p, err := filter.ParsePath(`addresses[type eq "work"].locality`)
	if err != nil {
		panic(err)
	}
	fmt.Printf("attr %s, filter %s, sub %s\n", p.Attr, p.Filter, p.Sub)

	addresses := schema.User.Attr("", p.Attr)
	work := map[string]any{"type": "work", "locality": "Hollywood"}
	fmt.Println(filter.MatchValue(p.Filter, addresses, work))
	// Output:
	// attr addresses, filter type eq "work", sub locality
	// true
}
