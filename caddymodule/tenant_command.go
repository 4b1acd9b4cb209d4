package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
)

// tenantCommand is "caddy scim tenant": runtime tenants from the command
// line, through the admin API of the running server.
func tenantCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "tenant add|set|enable|disable|purge|list",
		Short: "Enables, changes, disables and purges tenants at runtime, without a reload",
	}
	add := &cobra.Command{
		Use:   "add <name> [--profile <name>] [--setting key=value ...] [--settings <json>] [--token-validity <d>] [--rotation-overlap <d>] [--rate-limit <n>/<window>]",
		Short: "Enables SCIM for a new tenant at runtime",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return runTenantPut(cmd, args[0], true) },
	}
	set := &cobra.Command{
		Use:   "set <name> [the options of add]",
		Short: "Changes a runtime tenant: the options given replace the tenant's, the others stay",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return runTenantPut(cmd, args[0], false) },
	}
	for _, x := range []*cobra.Command{add, set} {
		x.Flags().String("profile", "", "the runtime_tenants profile (needed when the config has several)")
		x.Flags().StringArray("setting", nil, "a backend setting as a string, key=value (repeat for several; other JSON values through --settings)")
		x.Flags().String("settings", "", "the backend settings as a JSON object")
		x.Flags().String("token-validity", "", "how long generated tokens are valid, such as 365d")
		x.Flags().String("rotation-overlap", "", "how long a replaced token keeps working, such as 24h (0 revokes at once)")
		x.Flags().String("rate-limit", "", "requests per window, such as 100/1s")
		adminFlags(x)
	}
	set.Flags().StringArray("unset", nil, "remove a backend setting of the tenant, so the profile's applies (repeat for several)")
	enable := &cobra.Command{
		Use:   "enable <name>",
		Short: "Serves a disabled runtime tenant again, with its data and settings",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := getTenant(cmd, args[0])
			if err != nil {
				return err
			}
			if st.Runtime == nil {
				return fmt.Errorf("tenant %s is declared in the config, not enabled at runtime", args[0])
			}
			return putTenant(cmd, args[0], requestFrom(st.Runtime), http.Header{"If-Match": {"*"}})
		},
	}
	disable := &cobra.Command{
		Use:   "disable <name>",
		Short: "Stops serving a runtime tenant: its Tenant URL answers 404 and its tokens stop working; its data is kept",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var st TenantStatus
			if err := adminCall(cmd, http.MethodDelete, tenantPath(args[0]), nil, &st); err != nil {
				return err
			}
			return printTenantResult(cmd, st, "disabled; its data is kept. 'caddy scim tenant enable "+args[0]+"' serves it again")
		},
	}
	purge := &cobra.Command{
		Use:   "purge <name> --confirm <name>",
		Short: "Deletes a runtime tenant and all its data, in the store and in the backend's product",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			confirm, _ := cmd.Flags().GetString("confirm")
			if confirm != args[0] {
				return fmt.Errorf("purging deletes every user, group, token and change of tenant %s, and its data in the backend's product, for good; confirm with --confirm %s", args[0], args[0])
			}
			var res PurgeResult
			q := url.Values{"purge": {"true"}, "confirm": {confirm}}
			if err := adminCall(cmd, http.MethodDelete, tenantPath(args[0])+"?"+q.Encode(), nil, &res); err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Tenant %s is purged. Its data in the backend's product: %s.\n", res.Tenant, res.BackendData)
			return nil
		},
	}
	purge.Flags().String("confirm", "", "the tenant's name again")
	list := &cobra.Command{
		Use:   "list",
		Short: "Lists every tenant: declared in the config or enabled at runtime",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var all []TenantStatus
			if err := adminCall(cmd, http.MethodGet, "/scim/tenants", nil, &all); err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return printJSON(cmd.OutOrStdout(), all)
			}
			printTenantList(cmd.OutOrStdout(), all)
			return nil
		},
	}
	for _, x := range []*cobra.Command{enable, disable, purge, list} {
		adminFlags(x)
	}
	c.AddCommand(add, set, enable, disable, purge, list)
	return c
}

func tenantPath(name string) string { return "/scim/tenants/" + url.PathEscape(name) }

func getTenant(cmd *cobra.Command, name string) (*TenantStatus, error) {
	var st TenantStatus
	if err := adminCall(cmd, http.MethodGet, tenantPath(name), nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// requestFrom is the PUT body that keeps a runtime tenant as it is.
func requestFrom(info *RuntimeTenantInfo) RuntimeTenantRequest {
	req := RuntimeTenantRequest{Profile: info.Profile, Settings: info.Settings, RateLimit: info.RateLimit}
	if d, err := time.ParseDuration(info.TokenValidity); err == nil {
		req.TokenValidity = caddy.Duration(d)
	}
	if d, err := time.ParseDuration(info.RotationOverlap); err == nil {
		cd := caddy.Duration(d)
		req.RotationOverlap = &cd
	}
	return req
}

func runTenantPut(cmd *cobra.Command, name string, create bool) error {
	req := RuntimeTenantRequest{}
	header := http.Header{"If-None-Match": {"*"}}
	if !create {
		st, err := getTenant(cmd, name)
		if err != nil {
			return err
		}
		if st.Runtime == nil {
			return fmt.Errorf("tenant %s is declared in the config; change it there", name)
		}
		req = requestFrom(st.Runtime)
		header = http.Header{"If-Match": {"*"}}
	}
	if err := applyTenantFlags(cmd, &req); err != nil {
		return err
	}
	return putTenant(cmd, name, req, header)
}

func putTenant(cmd *cobra.Command, name string, req RuntimeTenantRequest, header http.Header) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var st TenantStatus
	if err := adminRequest(cmd, http.MethodPut, tenantPath(name), header, body, &st); err != nil {
		return err
	}
	return printTenantResult(cmd, st, "enabled")
}

// applyTenantFlags sets the options given on the command line.
func applyTenantFlags(cmd *cobra.Command, req *RuntimeTenantRequest) error {
	f := cmd.Flags()
	if v, _ := f.GetString("profile"); v != "" {
		req.Profile = v
	}
	settings := map[string]json.RawMessage{}
	if len(req.Settings) > 0 && string(req.Settings) != "null" {
		if err := json.Unmarshal(req.Settings, &settings); err != nil {
			return fmt.Errorf("the tenant's settings are not a JSON object: %w", err)
		}
	}
	if v, _ := f.GetString("settings"); v != "" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
			return errors.New("--settings must be a JSON object, such as '{\"target_group\": \"All staff\"}'")
		}
		settings = m
	}
	pairs, _ := f.GetStringArray("setting")
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--setting %q: use key=value", kv)
		}
		// A string, as a Caddyfile setting line gives; other JSON values
		// go through --settings.
		b, _ := json.Marshal(v)
		settings[k] = b
	}
	if f.Lookup("unset") != nil {
		unset, _ := f.GetStringArray("unset")
		for _, k := range unset {
			if _, ok := settings[k]; !ok {
				return fmt.Errorf("--unset %s: the tenant has no setting %s of its own", k, k)
			}
			delete(settings, k)
		}
	}
	if len(settings) > 0 {
		b, _ := json.Marshal(settings)
		req.Settings = b
	} else {
		req.Settings = nil
	}
	if v, _ := f.GetString("token-validity"); v != "" {
		d, err := caddy.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("--token-validity %q is not a duration such as 365d or 720h", v)
		}
		req.TokenValidity = caddy.Duration(d)
	}
	if v, _ := f.GetString("rotation-overlap"); v != "" {
		d, err := caddy.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("--rotation-overlap %q is not a duration such as 24h or 0", v)
		}
		cd := caddy.Duration(d)
		req.RotationOverlap = &cd
	}
	if v, _ := f.GetString("rate-limit"); v != "" {
		n, w, ok := strings.Cut(v, "/")
		requests, err := strconv.Atoi(n)
		window, werr := caddy.ParseDuration(w)
		if !ok || err != nil || requests <= 0 || werr != nil || window <= 0 {
			return fmt.Errorf("--rate-limit %q: use <requests>/<window>, such as 100/1s", v)
		}
		req.RateLimit = &RateLimit{Requests: requests, Window: caddy.Duration(window)}
	}
	return nil
}

func printTenantResult(cmd *cobra.Command, st TenantStatus, what string) error {
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return printJSON(cmd.OutOrStdout(), st)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Tenant %s is %s.\n", st.Tenant, what)
	if st.Enabled {
		fmt.Fprintf(w, "Tenant URL: %s\n", st.TenantURL)
		if st.Token == nil {
			fmt.Fprintf(w, "It has no token yet: generate one with 'caddy scim token --tenant %s'.\n", st.Tenant)
		}
	}
	return nil
}

func printTenantList(w io.Writer, all []TenantStatus) {
	if len(all) == 0 {
		fmt.Fprintln(w, "No SCIM tenants. Declare them in a scim directive, or enable them with 'caddy scim tenant add <name>'.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tKIND\tPROFILE\tSTATE\tTOKEN EXPIRES\tLAST REQUEST")
	for _, st := range all {
		profile, state := "-", "enabled"
		if st.Runtime != nil {
			profile = st.Runtime.Profile
		}
		if !st.Enabled {
			state = "disabled"
			for _, warn := range st.Warnings {
				if warn.Code == "profile_missing" {
					state = "no profile"
				}
			}
		}
		expires, last := "no token", "never"
		if st.Token != nil {
			expires = st.Token.ExpiresAt.Format("2006-01-02")
		}
		if st.LastRequest != nil {
			last = st.LastRequest.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Tenant, st.Kind, profile, state, expires, last)
	}
	tw.Flush()
}
