package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "scim",
		Usage: "tenant|token|status|oauth|inspect|action|deadletters|backend|backup|restore [--tenant <name>] [--json] [--address <interface>]",
		Short: "Generates and revokes SCIM tokens, shows tenant status, runs backend actions",
		Long: `
Talks to the admin API of a running Caddy, like 'caddy reload' does.

'caddy scim tenant add <name> [--profile <p>] [--setting key=value ...]'
enables SCIM for a tenant at runtime, without a reload, in a scim directive
that has a runtime_tenants block; 'set' changes one, 'disable' stops serving
it (its data is kept; 'enable' restores it), 'purge <name> --confirm <name>'
deletes it and all its data, and 'list' shows every tenant.

'caddy scim token --tenant <name>' generates a bearer token for the tenant
and prints its Tenant URL, token and expiry: the values to enter in the IdP.
If the tenant already has a valid token it refuses: pass --regenerate to
replace that token (it stops working at once, or after the tenant's
rotation_overlap, and the output says which), or --revoke to end it.
With --out FILE the credentials are written to FILE (mode 0600) instead of
printed. The token is shown only this once.

'caddy scim token --tenant <name> --revoke' ends every token of the tenant at
once, including one a rotation_overlap still accepts: for a leaked token.
The IdP's requests get 401 until it has a newly generated token.

'caddy scim oauth secret --tenant <name>' generates an OAuth 2.0 client secret
for the tenant (creating its client on first use) and prints the client id,
the secret and the token endpoint: what Entra ID gallery apps need. The
tenant's other secrets keep working, so the IdP can be moved to the new one;
'caddy scim oauth revoke --tenant <name> --secret <id>' then revokes the old
one and the access tokens it obtained. 'caddy scim oauth --tenant <name>'
shows the client and its secrets (never a secret itself).

'caddy scim status [--tenant <name>]' shows each tenant's Tenant URL, token
expiry, last IdP request and change, and warnings. It never creates a token.

With a backend configured for the tenant:
'caddy scim inspect --tenant <name>' prints the backend's product store as JSON;
'caddy scim action --tenant <name> <action> [<file>|-]' runs a backend action
(for example import-cards cards.csv) with the file (or stdin) as its input;
'caddy scim deadletters --tenant <name>' lists the changes the backend refused,
and '--replay all' (or --replay <seq>,<seq>) puts them back for delivery.

'caddy scim backend describe <name>' (or 'exec <path> [args]') starts the
backend locally, without a running server, and prints its settings and
actions.

'caddy scim backup --out <file>' writes a consistent copy of the running
server's store to a file while it serves; 'caddy scim restore <file>
[--storage-dir <dir>]' restores one into an empty storage directory, with
no server running on it.

The admin address comes from --address, or from the config given with
--config / --adapter, or defaults to localhost:2019. --json prints JSON.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(tenantCommand(), consoleCommand(), tokenCommand(), statusCommand(), oauthCommand(), inspectCommand(), actionCommand(), deadLettersCommand(), backendCLICommand(),
				backupCommand(), restoreCommand())
		},
	})
}

func tokenCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "token --tenant <name> [--regenerate | --revoke] [--out <file>] [--json]",
		Short: "Generates, regenerates or revokes a tenant's bearer token",
		Args:  cobra.NoArgs,
		RunE:  runToken,
	}
	c.Flags().String("tenant", "", "the tenant (required)")
	c.Flags().String("out", "", "write the credentials to this file instead of printing them")
	c.Flags().Bool("regenerate", false, "replace the tenant's valid token with a new one")
	c.Flags().Bool("revoke", false, "end every token of the tenant now, overlap or not")
	adminFlags(c)
	return c
}

func statusCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "status [--tenant <name>] [--json]",
		Short: "Shows tenant status: token expiry, last access, warnings",
		Args:  cobra.NoArgs,
		RunE:  runStatus,
	}
	c.Flags().String("tenant", "", "show only this tenant")
	adminFlags(c)
	return c
}

func inspectCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "inspect --tenant <name>",
		Short: "Prints a tenant's backend product store as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tenant, err := requiredTenant(cmd)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := adminCall(cmd, http.MethodGet, "/scim/tenants/"+url.PathEscape(tenant)+"/backend", nil, &raw); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), raw)
		},
	}
	c.Flags().String("tenant", "", "the tenant (required)")
	adminFlags(c)
	return c
}

func actionCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "action --tenant <name> <action> [<file>|-]",
		Short: "Runs a backend action, such as import-cards cards.csv",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			tenant, err := requiredTenant(cmd)
			if err != nil {
				return err
			}
			var payload []byte
			switch {
			case len(args) == 2 && args[1] == "-":
				payload, err = io.ReadAll(cmd.InOrStdin())
			case len(args) == 2:
				payload, err = os.ReadFile(args[1])
			}
			if err != nil {
				return fmt.Errorf("reading the action's input: %w", err)
			}
			var res ActionResult
			if err := adminCall(cmd, http.MethodPost, "/scim/tenants/"+url.PathEscape(tenant)+"/actions/"+url.PathEscape(args[0]), payload, &res); err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Message)
			if len(res.Result) > 0 && string(res.Result) != "null" {
				return printJSON(cmd.OutOrStdout(), res.Result)
			}
			return nil
		},
	}
	c.Flags().String("tenant", "", "the tenant (required)")
	adminFlags(c)
	return c
}

func deadLettersCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "deadletters --tenant <name> [--replay all|<seq>,<seq>…]",
		Short: "Lists the changes a backend refused, or replays them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tenant, err := requiredTenant(cmd)
			if err != nil {
				return err
			}
			base := "/scim/tenants/" + url.PathEscape(tenant) + "/deadletters"
			asJSON, _ := cmd.Flags().GetBool("json")
			if replay, _ := cmd.Flags().GetString("replay"); replay != "" {
				var req ReplayRequest
				if replay != "all" {
					for _, f := range strings.Split(replay, ",") {
						n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
						if err != nil {
							return fmt.Errorf("--replay takes all or sequence numbers separated by commas, not %q", f)
						}
						req.Seqs = append(req.Seqs, n)
					}
				}
				body, _ := json.Marshal(req)
				var res ReplayResult
				if err := adminCall(cmd, http.MethodPost, base+"/replay", body, &res); err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), res)
				}
				if n := len(res.Replayed); n == 1 {
					fmt.Fprintln(cmd.OutOrStdout(), "Replayed 1 change; it is delivered again with a new sequence number.")
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "Replayed %d changes; they are delivered again with new sequence numbers.\n", n)
				}
				return nil
			}
			var list []delivery.DeadLetter
			if err := adminCall(cmd, http.MethodGet, base, nil, &list); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			printDeadLetters(cmd.OutOrStdout(), list)
			return nil
		},
	}
	c.Flags().String("tenant", "", "the tenant (required)")
	c.Flags().String("replay", "", "replay these dead letters: all, or sequence numbers separated by commas")
	adminFlags(c)
	return c
}

func oauthCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "oauth --tenant <name> [--json]",
		Short: "Shows a tenant's OAuth client; 'secret' and 'revoke' manage its secrets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tenant, err := requiredTenant(cmd)
			if err != nil {
				return err
			}
			var st OAuthStatus
			if err := adminCall(cmd, http.MethodGet, "/scim/tenants/"+url.PathEscape(tenant)+"/oauth", nil, &st); err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			printOAuthStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	c.Flags().String("tenant", "", "the tenant (required)")
	adminFlags(c)
	c.AddCommand(oauthSecretCommand(), oauthRevokeCommand())
	return c
}

func oauthSecretCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "secret --tenant <name> [--out <file>] [--json]",
		Short: "Generates an OAuth client secret; the tenant's other secrets keep working",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tenant, err := requiredTenant(cmd)
			if err != nil {
				return err
			}
			var creds OAuthCredentials
			if err := adminCall(cmd, http.MethodPost, "/scim/tenants/"+url.PathEscape(tenant)+"/oauth/secrets", nil, &creds); err != nil {
				return err
			}
			if saved, err := saveCredentials(cmd, creds, fmt.Sprintf("the OAuth credentials of tenant %s (client id, secret %s, token endpoint)", creds.Tenant, creds.SecretID)); saved || err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return printJSON(cmd.OutOrStdout(), creds)
			}
			printOAuthCredentials(cmd.OutOrStdout(), creds)
			return nil
		},
	}
	c.Flags().String("tenant", "", "the tenant (required)")
	c.Flags().String("out", "", "write the credentials to this file instead of printing them")
	adminFlags(c)
	return c
}

func oauthRevokeCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "revoke --tenant <name> --secret <id> [--json]",
		Short: "Revokes an OAuth client secret and the access tokens it obtained",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tenant, err := requiredTenant(cmd)
			if err != nil {
				return err
			}
			id, _ := cmd.Flags().GetString("secret")
			if id == "" {
				return fmt.Errorf("--secret is required: the id shown by 'caddy scim oauth --tenant %s'", tenant)
			}
			var st OAuthStatus
			if err := adminCall(cmd, http.MethodDelete, "/scim/tenants/"+url.PathEscape(tenant)+"/oauth/secrets/"+url.PathEscape(id), nil, &st); err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked secret %s of tenant %s; access tokens it obtained no longer work.\n", id, tenant)
			printOAuthStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	c.Flags().String("tenant", "", "the tenant (required)")
	c.Flags().String("secret", "", "the id of the secret to revoke (required)")
	adminFlags(c)
	return c
}

func printOAuthCredentials(w io.Writer, c OAuthCredentials) {
	fmt.Fprintf(w, "Tenant:          %s\nTenant URL:      %s\nToken endpoint:  %s\nClient id:       %s\nClient secret:   %s\nSecret id:       %s\n\n",
		c.Tenant, c.TenantURL, c.TokenEndpoint, c.ClientID, c.ClientSecret, c.SecretID)
	fmt.Fprintln(w, "Enter the Tenant URL, token endpoint, client id and client secret in the IdP's provisioning settings.")
	fmt.Fprintln(w, "The secret is shown only now. Older secrets keep working until revoked with 'caddy scim oauth revoke'.")
}

func printOAuthStatus(w io.Writer, st OAuthStatus) {
	fmt.Fprintf(w, "Tenant:          %s\nToken endpoint:  %s\nAccess tokens:   valid %s\n", st.Tenant, st.TokenEndpoint,
		time.Duration(st.AccessTokenLifetime)*time.Second)
	if st.ClientID == "" {
		fmt.Fprintf(w, "Client:          none; generate a secret with 'caddy scim oauth secret --tenant %s'\n", st.Tenant)
		return
	}
	fmt.Fprintf(w, "Client id:       %s\n", st.ClientID)
	if len(st.Secrets) == 0 {
		fmt.Fprintln(w, "Secrets:         none active")
	}
	for _, s := range st.Secrets {
		used := "never used"
		if s.LastUsed != nil {
			used = "last used " + s.LastUsed.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "Secret:          %s, created %s, %s\n", s.ID, s.CreatedAt.Format(time.RFC3339), used)
	}
}

func requiredTenant(cmd *cobra.Command) (string, error) {
	tenant, _ := cmd.Flags().GetString("tenant")
	if tenant == "" {
		return "", fmt.Errorf("--tenant is required")
	}
	return tenant, nil
}

func printDeadLetters(w io.Writer, list []delivery.DeadLetter) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No dead letters.")
		return
	}
	for _, d := range list {
		fmt.Fprintf(w, "seq %d  %s %s %s  (%s, %s)\n    %s\n", d.Event.Seq, d.Event.Kind, d.Event.ResourceType, d.Event.ID,
			plural(d.Attempts, "attempt", "attempts"), d.Time.Format(time.RFC3339), d.Error)
	}
	fmt.Fprintln(w, "Fix the cause (the backend's settings or the IdP's data), then replay with --replay all.")
}

func adminFlags(c *cobra.Command) {
	c.Flags().Bool("json", false, "print JSON")
	c.Flags().String("address", "", "the admin API address")
	c.Flags().StringP("config", "c", "", "config file to read the admin address from")
	c.Flags().StringP("adapter", "a", "", "name of the config adapter for --config")
}

func adminAddress(cmd *cobra.Command) (string, error) {
	addr, _ := cmd.Flags().GetString("address")
	cfg, _ := cmd.Flags().GetString("config")
	adapter, _ := cmd.Flags().GetString("adapter")
	return caddycmd.DetermineAdminAPIAddress(addr, nil, cfg, adapter)
}

// adminCall sends a request to the admin API and decodes its JSON answer.
func adminCall(cmd *cobra.Command, method, path string, body []byte, out any) error {
	return adminRequest(cmd, method, path, nil, body, out)
}

// adminRequest is adminCall with extra request headers.
func adminRequest(cmd *cobra.Command, method, path string, header http.Header, body []byte, out any) error {
	addr, err := adminAddress(cmd)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	h := http.Header{"Accept": {"application/json"}}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		h[k] = v
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, path, h, rd)
	if err != nil {
		return fmt.Errorf("asking the admin API at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

func runToken(cmd *cobra.Command, _ []string) error {
	tenant, err := requiredTenant(cmd)
	if err != nil {
		return err
	}
	regenerate, _ := cmd.Flags().GetBool("regenerate")
	revoke, _ := cmd.Flags().GetBool("revoke")
	out, _ := cmd.Flags().GetString("out")
	asJSON, _ := cmd.Flags().GetBool("json")
	path := "/scim/tenants/" + url.PathEscape(tenant) + "/token"
	switch {
	case regenerate && revoke:
		return fmt.Errorf("pass --regenerate or --revoke, not both")
	case revoke && out != "":
		return fmt.Errorf("--revoke generates no credentials to write to --out")
	case revoke:
		var res Revocation
		if err := adminCall(cmd, http.MethodDelete, path, nil, &res); err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), res)
		}
		printRevocation(cmd.OutOrStdout(), res)
		return nil
	case regenerate:
		path += "?regenerate=true"
	}
	var creds Credentials
	if err := adminCall(cmd, http.MethodPost, path, nil, &creds); err != nil {
		return err
	}
	if saved, err := saveCredentials(cmd, creds, fmt.Sprintf("the credentials of tenant %s (Tenant URL and token; expires %s)", creds.Tenant, creds.ExpiresAt.Format(time.RFC3339))); saved || err != nil {
		if err == nil {
			printPrevious(cmd.OutOrStdout(), creds.Previous)
		}
		return err
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), creds)
	}
	printCredentials(cmd.OutOrStdout(), creds)
	return nil
}

func runStatus(cmd *cobra.Command, _ []string) error {
	tenant, _ := cmd.Flags().GetString("tenant")
	var list []TenantStatus
	if tenant != "" {
		var one TenantStatus
		if err := adminCall(cmd, http.MethodGet, "/scim/tenants/"+url.PathEscape(tenant), nil, &one); err != nil {
			return err
		}
		list = []TenantStatus{one}
	} else if err := adminCall(cmd, http.MethodGet, "/scim/tenants", nil, &list); err != nil {
		return err
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		if tenant != "" {
			return printJSON(cmd.OutOrStdout(), list[0])
		}
		return printJSON(cmd.OutOrStdout(), list)
	}
	printStatus(cmd.OutOrStdout(), list)
	return nil
}

// saveCredentials writes creds to the file named by --out, readable by its
// owner only, and reports whether it did: the "Download" of a secret that is
// shown only once.
func saveCredentials(cmd *cobra.Command, creds any, what string) (bool, error) {
	out, _ := cmd.Flags().GetString("out")
	if out == "" {
		return false, nil
	}
	b, _ := json.MarshalIndent(creds, "", "  ")
	if err := os.WriteFile(out, append(b, '\n'), 0o600); err != nil {
		return true, fmt.Errorf("writing credentials: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s to %s.\n", what, out)
	return true, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printCredentials(w io.Writer, c Credentials) {
	fmt.Fprintf(w, "Tenant:      %s\nTenant URL:  %s\nToken:       %s\nExpires:     %s\n",
		c.Tenant, c.TenantURL, c.Token, c.ExpiresAt.Format(time.RFC3339))
	printPrevious(w, c.Previous)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Enter the Tenant URL and the token in the IdP's provisioning settings.")
	fmt.Fprintln(w, "The token is shown only now. Replace it with --regenerate, or end it at once with --revoke.")
}

// printPrevious says what generating a token did to the tenant's earlier
// ones.
func printPrevious(w io.Writer, prev []PreviousToken) {
	if len(prev) == 0 {
		fmt.Fprintln(w, "Previous:    none; the tenant had no valid token")
	}
	for _, p := range prev {
		if p.RevokedNow || p.AcceptedUntil == nil {
			fmt.Fprintf(w, "Previous:    token %s revoked now; the IdP fails until it has the new token\n", p.ID)
			continue
		}
		fmt.Fprintf(w, "Previous:    token %s accepted until %s; update the IdP before then\n", p.ID, p.AcceptedUntil.Format(time.RFC3339))
	}
}

func printRevocation(w io.Writer, r Revocation) {
	if r.Revoked == 0 {
		fmt.Fprintf(w, "Tenant %s had no valid token; nothing was revoked.\n", r.Tenant)
		return
	}
	fmt.Fprintf(w, "Revoked %d token(s) of tenant %s (%s); requests with them now get 401.\n", r.Revoked, r.Tenant, strings.Join(r.IDs, ", "))
	fmt.Fprintf(w, "Generate a new one with 'caddy scim token --tenant %s' and enter it in the IdP.\n", r.Tenant)
}

func printStatus(w io.Writer, list []TenantStatus) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No SCIM tenants are enabled.")
		return
	}
	when := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.Format(time.RFC3339)
	}
	for i, st := range list {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Tenant:        %s\nTenant URL:    %s\n", st.Tenant, st.TenantURL)
		switch {
		case st.Runtime != nil && st.Enabled:
			fmt.Fprintf(w, "Kind:          runtime (profile %s), enabled\n", st.Runtime.Profile)
		case st.Runtime != nil:
			fmt.Fprintf(w, "Kind:          runtime (profile %s), not served\n", st.Runtime.Profile)
		default:
			fmt.Fprintln(w, "Kind:          declared in the config")
		}
		if st.Status.Token != nil {
			fmt.Fprintf(w, "Token:         %s, issued %s, expires %s\n", st.Status.Token.ID,
				st.Status.Token.IssuedAt.Format(time.RFC3339), st.Status.Token.ExpiresAt.Format(time.RFC3339))
		} else {
			fmt.Fprintln(w, "Token:         none")
		}
		for _, o := range st.Overlapping {
			fmt.Fprintf(w, "Previous token %s still accepted until %s\n", o.ID, o.RevokedAt.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "Last request:  %s\nLast change:   %s\n", when(st.LastRequest), when(st.LastChange))
		if b := st.Backend; b != nil {
			fmt.Fprintf(w, "Backend:       %s %s, delivered through %d of %d (%d waiting, %s)\n",
				b.Name, b.Version, b.Delivery.Delivered, b.Delivery.Head, b.Delivery.Lag, plural(b.Delivery.DeadLetters, "dead letter", "dead letters"))
		}
		if len(st.Warnings) == 0 {
			fmt.Fprintln(w, "Warnings:      none")
		}
		for _, warn := range st.Warnings {
			fmt.Fprintf(w, "Warning:       %s\n", warn.Message)
		}
	}
}
