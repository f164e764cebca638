package filesink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tributary-data/tributary/connector"
)

// Read calls fn for every committed row of stream in the destination
// directory dir, in commit order, laid out in the stream's current schema
// (columns a part lacks are nil; values of widened columns are converted).
// Parts the manifest does not list are ignored. The row slice is reused
// between calls.
func Read(ctx context.Context, dir, stream string, f Format, fn func(schema *connector.Schema, row []any) error) error {
	sdir := filepath.Join(dir, SafeName(stream))
	m, err := ReadManifest(sdir)
	if err != nil || m == nil {
		return err
	}
	if m.Format != f.Name() {
		return fmt.Errorf("stream %q holds %s parts, not %s", stream, m.Format, f.Name())
	}
	schema := m.Schema
	if schema == nil {
		schema = &connector.Schema{}
	}
	return scan(ctx, sdir, m, m.Parts, schema, f, func(row []any) error { return fn(schema, row) })
}

// Rows returns the number of committed rows of stream, from its manifest.
func Rows(dir, stream string) (int64, error) {
	m, err := ReadManifest(filepath.Join(dir, SafeName(stream)))
	if err != nil || m == nil {
		return 0, err
	}
	return m.Rows(), nil
}

// Parts returns the paths of the committed parts of stream, in commit
// order: the files a reader of the destination should read, and no others.
func Parts(dir, stream string) ([]string, error) {
	sdir := filepath.Join(dir, SafeName(stream))
	m, err := ReadManifest(sdir)
	if err != nil || m == nil {
		return nil, err
	}
	out := make([]string, len(m.Parts))
	for i, p := range m.Parts {
		out[i] = filepath.Join(sdir, p.File)
	}
	return out, nil
}

// scan decodes parts and calls fn with each row laid out in schema.
func scan(ctx context.Context, dir string, m *Manifest, parts []Part, schema *connector.Schema, f Format, fn func(row []any) error) error {
	out := make([]any, len(schema.Fields))
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		ps, err := m.PartSchema(p)
		if err != nil {
			return err
		}
		pl := makePlan(schema, ps)
		file, err := os.Open(filepath.Join(dir, p.File))
		if err != nil {
			return fmt.Errorf("open part: %w", err)
		}
		st, err := file.Stat()
		if err != nil {
			file.Close()
			return fmt.Errorf("open part: %w", err)
		}
		var line int64
		err = f.Decode(file, st.Size(), ps, func(row []any) error {
			line++
			if pl.identity {
				return fn(row)
			}
			for j, i := range pl.src {
				if i < 0 || i >= len(row) {
					out[j] = nil
					continue
				}
				v := row[i]
				if t := pl.conv[j]; t != "" && v != nil {
					c, err := connector.Convert(t, v)
					if err != nil {
						return fmt.Errorf("row %d, column %q: %w", line, schema.Fields[j].Name, err)
					}
					v = c
				}
				out[j] = v
			}
			return fn(out)
		})
		file.Close()
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("read part %s: %w", p.File, err)
		}
	}
	return nil
}
