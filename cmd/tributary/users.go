package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/auth"
	"github.com/tributary-data/tributary/store"
)

func newUsersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Create and list the users who log in to the server",
	}
	cmd.AddCommand(newUsersCreateCmd(), newUsersListCmd())
	return cmd
}

func newUsersCreateCmd() *cobra.Command {
	var dataDir, email, name, password, role string
	var admin bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a user in the configured store (the first administrator, for one)",
		Long: `Create a user in the configured store. Without --password the password is
read from the first line of standard input, so it stays out of the shell history:

  tributary users create --admin --email admin@example.com --password 'S3cure-enough!'
  printf '%s\n' "$PASS" | tributary users create --email ann@example.com --role editor

A password has at least 12 characters and mixes three of lower case, upper
case, digits and other characters.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if admin {
				if cmd.Flags().Changed("role") && role != string(store.RoleAdmin) {
					return errors.New("--admin and --role " + role + " disagree")
				}
				role = string(store.RoleAdmin)
			}
			if !store.Role(role).Valid() {
				return fmt.Errorf("--role %q: want viewer, editor or admin", role)
			}
			email = strings.TrimSpace(email)
			if email == "" || !strings.Contains(email, "@") {
				return fmt.Errorf("--email %q: want an e-mail address", email)
			}
			if password == "" {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read the password from standard input: %w", err)
				}
				password = strings.TrimRight(line, "\r\n")
			}
			if err := auth.CheckPasswordStrength(password, email); err != nil {
				return fmt.Errorf("--password: %w", err)
			}
			hash, err := auth.HashPassword(password)
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			u := &store.User{Email: email, Name: name, Role: store.Role(role), PasswordHash: hash}
			if err := st.CreateUser(cmd.Context(), u); err != nil {
				return err
			}
			if err := st.AppendAudit(cmd.Context(), &store.AuditEntry{Actor: "cli", IP: "local", Action: "user.create", Target: "user " + u.ID,
				After: []byte(fmt.Sprintf(`{"email":%q,"role":%q}`, u.Email, u.Role))}); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s created: %s (%s)\n", u.ID, u.Email, u.Role)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory holding the SQLite store")
	cmd.Flags().StringVar(&email, "email", "", "the user's e-mail address, used to log in")
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().StringVar(&password, "password", "", "password; read from standard input when absent")
	cmd.Flags().StringVar(&role, "role", string(store.RoleViewer), "viewer, editor or admin")
	cmd.Flags().BoolVar(&admin, "admin", false, "make the user an administrator (--role admin)")
	return cmd
}

func newUsersListCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "EMAIL\tROLE\tSTATE\tLAST LOGIN\tID")
			for off := 0; ; off += store.MaxLimit {
				us, err := st.Users(cmd.Context(), store.Page{Limit: store.MaxLimit, Offset: off})
				if err != nil {
					return err
				}
				for _, u := range us {
					state, last := "active", "never"
					if u.Disabled {
						state = "disabled"
					}
					if u.LastLoginAt != nil {
						last = u.LastLoginAt.Format(time.RFC3339)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Email, u.Role, state, last, u.ID)
				}
				if len(us) < store.MaxLimit {
					break
				}
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory holding the SQLite store")
	return cmd
}

func newTokensCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Create API tokens for automation",
	}
	cmd.AddCommand(newTokensCreateCmd(), newTokensListCmd(), newTokensRevokeCmd())
	return cmd
}

func newTokensListCmd() *cobra.Command {
	var dataDir, email string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API tokens (of one user with --email): never the tokens themselves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			owner := ""
			if email != "" {
				u, err := st.UserByEmail(cmd.Context(), email)
				if err != nil {
					return fmt.Errorf("--email: %w", err)
				}
				owner = u.ID
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tROLE\tPREFIX\tSTATE\tLAST USED\tUSER")
			for off := 0; ; off += store.MaxLimit {
				ts, err := st.APITokens(cmd.Context(), owner, store.Page{Limit: store.MaxLimit, Offset: off})
				if err != nil {
					return err
				}
				for _, t := range ts {
					state, last := "active", "never"
					switch {
					case t.RevokedAt != nil:
						state = "revoked"
					case t.ExpiresAt != nil && !time.Now().Before(*t.ExpiresAt):
						state = "expired"
					}
					if t.LastUsedAt != nil {
						last = t.LastUsedAt.Format(time.RFC3339)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.Prefix, state, last, t.UserID)
				}
				if len(ts) < store.MaxLimit {
					break
				}
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory holding the SQLite store")
	cmd.Flags().StringVar(&email, "email", "", "only this user's tokens")
	return cmd
}

func newTokensRevokeCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token by its id (from tokens list)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.RevokeAPIToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			if err := st.AppendAudit(cmd.Context(), &store.AuditEntry{Actor: "cli", IP: "local", Action: "token.revoke", Target: "token " + args[0]}); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory holding the SQLite store")
	return cmd
}

func newTokensCreateCmd() *cobra.Command {
	var dataDir, email, name, role string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an API token of a user and print it once",
		Long: `Create an API token of the user with --email and print it on standard output,
once: only its hash is stored. Send it as "Authorization: Bearer TOKEN".
Its role is at most the user's.

  tributary tokens create --email admin@example.com --name ci --role editor --expires 720h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !store.Role(role).Valid() {
				return fmt.Errorf("--role %q: want viewer, editor or admin", role)
			}
			if strings.TrimSpace(name) == "" {
				return errors.New("--name: say what the token is for")
			}
			if expires < 0 {
				return errors.New("--expires must be positive")
			}
			st, err := openStore(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			u, err := st.UserByEmail(cmd.Context(), email)
			if err != nil {
				return fmt.Errorf("--email: %w", err)
			}
			if store.Role(role).Rank() > u.Role.Rank() {
				return fmt.Errorf("--role %s: above the user's role %s", role, u.Role)
			}
			var exp *time.Time
			if expires > 0 {
				e := time.Now().Add(expires)
				exp = &e
			}
			t, tok, err := api.CreateAPIToken(cmd.Context(), st, u.ID, name, store.Role(role), exp)
			if err != nil {
				return err
			}
			if err := st.AppendAudit(cmd.Context(), &store.AuditEntry{Actor: "cli", IP: "local", Action: "token.create", Target: "token " + t.ID,
				After: []byte(fmt.Sprintf(`{"name":%q,"role":%q,"user":%q}`, t.Name, t.Role, u.Email))}); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s (%s, %s) of %s created; it is shown only this once\n", t.ID, t.Name, t.Role, u.Email)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory holding the SQLite store")
	cmd.Flags().StringVar(&email, "email", "", "the user the token acts for")
	cmd.Flags().StringVar(&name, "name", "", "what the token is for")
	cmd.Flags().StringVar(&role, "role", string(store.RoleViewer), "viewer, editor or admin; at most the user's")
	cmd.Flags().DurationVar(&expires, "expires", 0, "life of the token, e.g. 720h; never expires when 0")
	return cmd
}

// Environment of the server's authentication settings.
const (
	corsEnv         = "TRIBUTARY_CORS_ORIGINS"
	smtpAddrEnv     = "TRIBUTARY_SMTP_ADDR"
	smtpUserEnv     = "TRIBUTARY_SMTP_USERNAME"
	smtpPasswordEnv = "TRIBUTARY_SMTP_PASSWORD"
	smtpFromEnv     = "TRIBUTARY_SMTP_FROM"
)

// serveAuth is the authentication of `tributary serve`: access tokens are
// signed with a key derived from the secret key (so servers sharing
// TRIBUTARY_SECRET_KEY accept each other's tokens), the mailer and CORS
// origins come from the environment, and an empty store gets a setup
// token, printed to w. Setting api.Config.Auth to it turns enforcement on.
func serveAuth(ctx context.Context, st store.Store, dataDir, publicURL string, w io.Writer) (*api.AuthConfig, error) {
	_, keys, err := storeSecrets(dataDir)
	if err != nil {
		return nil, err
	}
	cfg := &api.AuthConfig{
		SigningKey:    keys.Derive("access tokens"),
		SecureCookies: strings.HasPrefix(publicURL, "https://"),
		BaseURL:       publicURL,
	}
	for _, o := range strings.Split(os.Getenv(corsEnv), ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.CORSOrigins = append(cfg.CORSOrigins, o)
		}
	}
	if addr := os.Getenv(smtpAddrEnv); addr != "" {
		from := os.Getenv(smtpFromEnv)
		if from == "" {
			return nil, fmt.Errorf("%s is set but %s is not", smtpAddrEnv, smtpFromEnv)
		}
		cfg.Mailer = &auth.SMTPMailer{Addr: addr, Username: os.Getenv(smtpUserEnv), Password: os.Getenv(smtpPasswordEnv), From: from}
	}
	if cfg.OIDC, err = oidcFromEnv(publicURL); err != nil {
		return nil, err
	}
	n, err := st.CountUsers(ctx)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		tok, _ := auth.NewToken("setup_")
		cfg.SetupToken = tok
		fmt.Fprintf(w, "no users yet: create the first administrator with `tributary users create --admin --email EMAIL`, "+
			"or POST /api/v1/setup with setup_token %s\n", tok)
	}
	return cfg, nil
}
