package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/secrets"
	"github.com/tributary-data/tributary/store"
)

// storeSecrets is the sealer that encrypts secret config fields at rest
// under the keys of TRIBUTARY_SECRET_KEY or the data directory's key file.
func storeSecrets(dataDir string) (store.Sealer, *secrets.Keyring, error) {
	load := secrets.Load
	if os.Getenv(databaseURLEnv) != "" {
		load = secrets.LoadShared
	}
	keys, err := load(dataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("secret key: %w", err)
	}
	return secrets.Sealer{Keys: keys}, keys, nil
}

func newSecretsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Manage the key that encrypts stored secrets",
	}
	var dataDir string
	rotate := &cobra.Command{
		Use:   "rotate-key",
		Short: "Re-encrypt every stored secret under a new key",
		Long: `Re-encrypt the secret fields of every connection and alert channel under a new key.

With the generated key file (DATA/` + secrets.KeyFile + `), a new key is generated,
everything is re-encrypted, and the old key is removed from the file.

With ` + secrets.KeyEnv + `, put the new key first and the old one after a comma
(TRIBUTARY_SECRET_KEY=NEW,OLD), run rotate-key, then keep only NEW. Keys are 32
random bytes in base64 (for example: openssl rand -base64 32).

Stop servers and workers first: they hold the old keys until restarted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			sealer, keys, err := storeSecrets(dataDir)
			if err != nil {
				return err
			}
			old := keys.CurrentID()
			if !keysFromEnv() {
				if err := keys.Rotate(); err != nil {
					return err
				}
			}
			st, err := store.Open(ctx, storeOptions(dataDir, sealer))
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := secrets.Reencrypt(ctx, st)
			if err != nil {
				return fmt.Errorf("re-encrypt (the new key is in place; run rotate-key again to finish): %w", err)
			}
			if err := keys.DropOld(); err != nil {
				return err
			}
			if keysFromEnv() {
				fmt.Fprintf(cmd.OutOrStdout(), "re-encrypted %d records under key %s; keep only the first key in %s\n", n, keys.CurrentID(), secrets.KeyEnv)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-encrypted %d records: key %s replaced by %s\n", n, old, keys.CurrentID())
			return nil
		},
	}
	rotate.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory holding the SQLite store and the key file")
	cmd.AddCommand(rotate)
	return cmd
}

func keysFromEnv() bool { return os.Getenv(secrets.KeyEnv) != "" }

// storeOptions are the options of the configured store with its sealer.
func storeOptions(dataDir string, sealer store.Sealer) store.Options {
	return store.Options{DataDir: dataDir, DatabaseURL: os.Getenv(databaseURLEnv), Secrets: sealer}
}
