package filesink

import (
	"context"
	"errors"
	"fmt"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/location"
)

// Read calls fn for every committed row of stream in the destination
// directory dir, in commit order, laid out in the stream's current schema
// (columns a part lacks are nil; values of widened columns are converted).
// Parts the manifest does not list are ignored. The row slice is reused
// between calls.
func Read(ctx context.Context, dir, stream string, f Format, fn func(schema *connector.Schema, row []any) error) error {
	return ReadIn(ctx, nil, dir, stream, f, fn)
}

// ReadIn is [Read] of a directory that may be remote, reached through r.
func ReadIn(ctx context.Context, r *location.Resolver, dir, stream string, f Format, fn func(schema *connector.Schema, row []any) error) error {
	fsys, root, err := r.Resolve(ctx, dir)
	if err != nil {
		return err
	}
	sdir := fsys.Join(root, SafeName(stream))
	m, err := readManifest(ctx, fsys, sdir)
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
	return scan(ctx, fsys, sdir, m, m.Parts, schema, f, func(row []any) error { return fn(schema, row) })
}

// Rows returns the number of committed rows of stream, from its manifest.
func Rows(dir, stream string) (int64, error) {
	return RowsIn(context.Background(), nil, dir, stream)
}

// RowsIn is [Rows] of a directory that may be remote, reached through r.
func RowsIn(ctx context.Context, r *location.Resolver, dir, stream string) (int64, error) {
	fsys, root, err := r.Resolve(ctx, dir)
	if err != nil {
		return 0, err
	}
	m, err := readManifest(ctx, fsys, fsys.Join(root, SafeName(stream)))
	if err != nil || m == nil {
		return 0, err
	}
	return m.Rows(), nil
}

// Parts returns the paths of the committed parts of stream, in commit
// order: the files a reader of the destination should read, and no others.
func Parts(dir, stream string) ([]string, error) {
	return PartsIn(context.Background(), nil, dir, stream)
}

// PartsIn is [Parts] of a directory that may be remote, reached through
// r; remote parts are given as URLs.
func PartsIn(ctx context.Context, r *location.Resolver, dir, stream string) ([]string, error) {
	fsys, root, err := r.Resolve(ctx, dir)
	if err != nil {
		return nil, err
	}
	sdir := fsys.Join(root, SafeName(stream))
	m, err := readManifest(ctx, fsys, sdir)
	if err != nil || m == nil {
		return nil, err
	}
	out := make([]string, len(m.Parts))
	for i, p := range m.Parts {
		out[i] = fsys.URL(fsys.Join(sdir, p.File))
	}
	return out, nil
}

// scan decodes parts and calls fn with each row laid out in schema.
func scan(ctx context.Context, fsys location.FS, dir string, m *Manifest, parts []Part, schema *connector.Schema, f Format, fn func(row []any) error) error {
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
		file, err := fsys.OpenReaderAt(ctx, fsys.Join(dir, p.File))
		if err != nil {
			return fmt.Errorf("open part: %w", err)
		}
		var line int64
		err = f.Decode(file, file.Size(), ps, func(row []any) error {
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
