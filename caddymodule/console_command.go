package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
)

// consoleCommand is "caddy scim console": a single-use sign-in link to the
// console, for a tenant's admin or for the operator.
func consoleCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "console [--tenant <name>] [--ttl <duration>] [--json]",
		Short: "Prints a single-use sign-in link to the User and Group Sync console",
		Long: `Prints a link that signs one person in to the console once: with --tenant,
a tenant's admin, to that tenant's panel only; without, an operator, who sees
every tenant. The link works once and expires after --ttl (default 15m). Send
it to the person it is for over a channel you trust; it is not shown again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tenant, _ := cmd.Flags().GetString("tenant")
			ttlText, _ := cmd.Flags().GetString("ttl")
			req := ConsoleLinkRequest{Tenant: tenant, Operator: tenant == ""}
			if ttlText != "" {
				d, err := caddy.ParseDuration(ttlText)
				if err != nil {
					return fmt.Errorf("--ttl %q is not a duration such as 15m", ttlText)
				}
				req.TTL = caddy.Duration(d)
			}
			body, _ := json.Marshal(req)
			var link ConsoleLink
			if err := adminCall(cmd, http.MethodPost, "/scim/console/links", body, &link); err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return printJSON(cmd.OutOrStdout(), link)
			}
			w := cmd.OutOrStdout()
			if link.Operator {
				fmt.Fprintln(w, "Operator sign-in link (every tenant):")
			} else {
				fmt.Fprintf(w, "Sign-in link for the admin of tenant %s:\n", link.Tenant)
			}
			fmt.Fprintf(w, "\n  %s\n\nIt works once, until %s.\n", link.URL, link.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	c.Flags().String("tenant", "", "sign in the admin of this tenant (without it: an operator)")
	c.Flags().String("ttl", "", "how long the link is valid (default 15m, at most 24h)")
	adminFlags(c)
	return c
}
