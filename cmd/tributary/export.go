package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

func newExportCmd() *cobra.Command {
	var (
		dir string
		cl  client
	)
	cmd := &cobra.Command{
		Use:   "export --server URL -o DIR",
		Short: "Write a server's pipelines and connections as files that apply accepts",
		Long: `Write every pipeline of the server as DIR/NAME.yaml (the current version,
as saved) and every connection as DIR/connections/NAME.yaml (kind:
connection). Secrets are never written: a secret field becomes a ${VAR}
placeholder named after the connection and the field (connection
warehouse, field url: ${WAREHOUSE_URL}), to be set when the files are
applied. Existing files of the same names are replaced; others are left
alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			nc, np, err := export(ctx, &cl, dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %d pipelines and %d connections to %s.\n", np, nc, dir)
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "output", "o", "", "folder to write the files into (required)")
	cl.flags(cmd)
	cmd.MarkFlagRequired("output")
	return cmd
}

func export(ctx context.Context, c *client, dir string) (conns, pipes int, err error) {
	cs, err := all[remoteConnection](ctx, c, "/api/v1/connections")
	if err != nil {
		return 0, 0, err
	}
	ps, err := all[remotePipeline](ctx, c, "/api/v1/pipelines")
	if err != nil {
		return 0, 0, err
	}
	secrets, err := secretFields(ctx, c)
	if err != nil {
		return 0, 0, err
	}
	files := map[string]string{}
	claim := func(path, what string) error {
		if prev, ok := files[path]; ok {
			return fmt.Errorf("%s and %s would both be written to %s: rename one", prev, what, path)
		}
		files[path] = what
		return nil
	}
	for _, rc := range cs {
		path := filepath.Join(dir, "connections", fileName(rc.Name)+".yaml")
		if err := claim(path, "connection "+rc.Name); err != nil {
			return 0, 0, err
		}
		cfg := map[string]any{}
		for k, v := range rc.Config {
			if v == masked || (slices.Contains(secrets[rc.Connector], k) && v != nil && v != "") {
				v = "${" + secretVar(rc.Name, k) + "}"
			}
			cfg[k] = v
		}
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(connectionFile{Kind: "connection", Name: rc.Name, Connector: rc.Connector, Config: cfg}); err != nil {
			return 0, 0, err
		}
		if err := writeExported(path, b.Bytes()); err != nil {
			return 0, 0, err
		}
	}
	for _, rp := range ps {
		path := filepath.Join(dir, fileName(rp.Name)+".yaml")
		if err := claim(path, "pipeline "+rp.Name); err != nil {
			return 0, 0, err
		}
		b, err := c.do(ctx, "GET", "/api/v1/pipelines/"+url.PathEscape(rp.ID)+"/export", "", nil)
		if err != nil {
			return 0, 0, err
		}
		if err := writeExported(path, b); err != nil {
			return 0, 0, err
		}
	}
	return len(cs), len(ps), nil
}

func writeExported(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName is a name made safe for a file name.
func fileName(name string) string {
	n := strings.Trim(unsafeName.ReplaceAllString(name, "_"), ".")
	if n == "" {
		return "_"
	}
	return n
}

var notVarChar = regexp.MustCompile(`[^A-Z0-9_]+`)

// secretVar is the placeholder variable of a connection's secret field.
func secretVar(conn, field string) string {
	v := notVarChar.ReplaceAllString(strings.ToUpper(conn+"_"+field), "_")
	if v[0] >= '0' && v[0] <= '9' {
		v = "_" + v
	}
	return v
}
