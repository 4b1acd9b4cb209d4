package caddymodule

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// backendCLICommand is "caddy scim backend", the commands about backends
// themselves rather than a tenant's.
func backendCLICommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "backend",
		Short: "Commands about backends: describe",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(backendDescribeCommand())
	return c
}

func backendDescribeCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "describe <name> | exec <path> [-- <args>...]",
		Short: "Prints a backend's settings and actions, from its Describe",
		Long: `
Starts the backend's process locally, asks it to describe itself, stops it
and prints its name, version, the user attributes it requires, its settings
and its actions. No server needs to be running; nothing is configured and
no store or data directory is opened.

<name> is a built-in backend (` + builtinNames() + `), or exec with the
path of a vendor's plugin binary and its arguments (after -- when they
start with a dash). --json prints the description as JSON.`,
		Args: cobra.MinimumNArgs(1),
		RunE: runBackendDescribe,
	}
	c.Flags().Bool("json", false, "print JSON")
	return c
}

func runBackendDescribe(cmd *cobra.Command, args []string) error {
	cfg := &BackendConfig{Name: args[0]}
	switch {
	case cfg.Name == "exec" && len(args) < 2:
		return fmt.Errorf("backend exec needs the path of the plugin binary: exec <path> [args]")
	case cfg.Name == "exec":
		cfg.Path, cfg.Args = args[1], args[2:]
	case len(args) > 1:
		return fmt.Errorf("built-in backend %s takes no arguments", cfg.Name)
	}
	if err := checkBackend(cfg); err != nil {
		return err
	}
	desc, err := describeBackend(cmd.Context(), cfg, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return printJSON(cmd.OutOrStdout(), desc)
	}
	printDescription(cmd.OutOrStdout(), desc)
	return nil
}

// describeBackend launches the backend's process, calls Describe and kills
// the process. It never calls Configure, so the backend opens no store.
// The plugin's warnings and errors go to logw.
func describeBackend(ctx context.Context, cfg *BackendConfig, logw io.Writer) (*sdk.DescribeResponse, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := backendCommand(cfg)
	if err != nil {
		return nil, err
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "backend " + cfg.Name, Level: hclog.Warn, Output: logw})
	p, err := sdk.Launch(sdk.LaunchConfig{Cmd: c, Logger: logger, StartTimeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("starting backend %s: %w", cfg.Name, err)
	}
	defer p.Kill()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	desc, err := p.Backend().Describe(ctx, &sdk.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("describing backend %s: %w", cfg.Name, err)
	}
	return desc, nil
}

func printDescription(w io.Writer, d *sdk.DescribeResponse) {
	fmt.Fprintf(w, "Backend:     %s %s\n", d.Name, d.Version)
	if d.Description != "" {
		fmt.Fprintf(w, "Description: %s\n", d.Description)
	}
	required := "none"
	if len(d.RequiredUserAttributes) > 0 {
		required = strings.Join(d.RequiredUserAttributes, ", ")
	}
	fmt.Fprintf(w, "Requires:    %s (every user must have a value)\n", required)
	fmt.Fprintln(w, "\nSettings:")
	if len(d.Settings) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, s := range d.Settings {
		req := "optional"
		if s.Required {
			req = "required"
		}
		fmt.Fprintf(w, "  %s (%s)\n", s.Name, req)
		if s.Description != "" {
			fmt.Fprintf(w, "      %s\n", s.Description)
		}
	}
	fmt.Fprintln(w, "\nActions (caddy scim action --tenant <name> <action> [<file>|-]):")
	if len(d.Actions) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, a := range d.Actions {
		fmt.Fprintf(w, "  %s\n", a.Name)
		if a.Description != "" {
			fmt.Fprintf(w, "      %s\n", a.Description)
		}
	}
}
