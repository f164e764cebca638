package api

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// The reference at /api/docs is rendered here from the OpenAPI document,
// not by a script from a CDN: it must work on a server with no internet,
// under a security policy that allows only the server's own scripts.

type refField struct {
	Name, Type, Doc string
	Required        bool
}

type refResponse struct{ Status, Doc, Body string }

type refOp struct {
	ID, Method, Path, Summary, Doc, Role string
	Params                               []refField
	Body                                 string
	BodyFields                           []refField
	Responses                            []refResponse
}

type refTag struct {
	Name string
	Ops  []refOp
}

var referencePage = template.Must(template.New("ref").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1f2937}
nav{width:17rem;flex:none;height:100vh;overflow:auto;position:sticky;top:0;background:#f3f4f6;padding:1rem;box-sizing:border-box}
nav a{display:block;color:#1f2937;text-decoration:none;font-size:13px;padding:1px 0}
main{padding:1rem 2rem;max-width:60rem}
h2{margin-top:2rem;border-bottom:1px solid #d1d5db}
section{margin:1.5rem 0}
code{background:#f3f4f6;padding:0 .25rem;border-radius:3px}
.m{display:inline-block;min-width:4rem;font-weight:700}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d1d5db;padding:.2rem .5rem;text-align:left;vertical-align:top;font-size:14px}
</style></head><body>
<nav aria-label="Operations"><strong>{{.Title}} API</strong>
<a href="/api/openapi.json">OpenAPI document (JSON)</a><a href="/api/openapi.yaml">OpenAPI document (YAML)</a>
{{range .Tags}}<p><strong>{{.Name}}</strong></p>{{range .Ops}}<a href="#{{.ID}}">{{.Method}} {{.Path}}</a>{{end}}{{end}}</nav>
<main><h1>{{.Title}} API reference</h1><p>{{.Doc}}</p>
{{range .Tags}}<h2>{{.Name}}</h2>{{range .Ops}}<section id="{{.ID}}">
<h3><span class="m">{{.Method}}</span> <code>{{.Path}}</code></h3>
<p><strong>{{.Summary}}</strong>{{if .Role}} (role: {{.Role}}){{end}}</p>{{if .Doc}}<p>{{.Doc}}</p>{{end}}
{{if .Params}}<table><caption>Parameters</caption><tr><th>name</th><th>type</th><th>required</th><th>description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td>{{if .Required}}yes{{end}}</td><td>{{.Doc}}</td></tr>{{end}}</table>{{end}}
{{if .Body}}<p>Request body: {{.Body}}</p>{{if .BodyFields}}<table><caption>Body fields</caption><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>
{{range .BodyFields}}<tr><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td>{{if .Required}}yes{{end}}</td><td>{{.Doc}}</td></tr>{{end}}</table>{{end}}{{end}}
<table><caption>Responses</caption><tr><th>status</th><th>description</th><th>body</th></tr>
{{range .Responses}}<tr><td>{{.Status}}</td><td>{{.Doc}}</td><td>{{.Body}}</td></tr>{{end}}</table>
</section>{{end}}{{end}}</main></body></html>`))

// reference serves the API reference page.
func reference(api huma.API) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		doc := api.OpenAPI()
		byTag := map[string][]refOp{}
		for path, item := range doc.Paths {
			for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
				if op == nil {
					continue
				}
				tag := "other"
				if len(op.Tags) > 0 {
					tag = op.Tags[0]
				}
				byTag[tag] = append(byTag[tag], refOpOf(doc, path, op))
			}
		}
		data := struct {
			Title, Doc string
			Tags       []refTag
		}{Title: doc.Info.Title, Doc: doc.Info.Description}
		for name, ops := range byTag {
			slices.SortFunc(ops, func(a, b refOp) int { return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method)) })
			data.Tags = append(data.Tags, refTag{Name: name, Ops: ops})
		}
		slices.SortFunc(data.Tags, func(a, b refTag) int { return cmp.Compare(a.Name, b.Name) })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := referencePage.Execute(w, data); err != nil {
			http.Error(w, "reference: "+err.Error(), http.StatusInternalServerError)
		}
	}
}

func refOpOf(doc *huma.OpenAPI, path string, op *huma.Operation) refOp {
	out := refOp{ID: op.OperationID, Method: op.Method, Path: path, Summary: op.Summary, Doc: op.Description, Role: access[op.OperationID]}
	for _, p := range op.Parameters {
		out.Params = append(out.Params, refField{Name: p.Name + " (" + p.In + ")", Type: schemaType(doc, p.Schema), Doc: p.Description, Required: p.Required})
	}
	if rb := op.RequestBody; rb != nil {
		for ct, mt := range rb.Content {
			out.Body = ct
			if mt.Schema != nil {
				out.Body += ", " + schemaType(doc, mt.Schema)
				out.BodyFields = fieldsOf(doc, mt.Schema)
			}
			break
		}
	}
	codes := make([]string, 0, len(op.Responses))
	for c := range op.Responses {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		r := op.Responses[c]
		var body []string
		for ct, mt := range r.Content {
			body = append(body, ct+" "+schemaType(doc, mt.Schema))
		}
		sort.Strings(body)
		out.Responses = append(out.Responses, refResponse{Status: c, Doc: r.Description, Body: strings.Join(body, "; ")})
	}
	return out
}

func resolve(doc *huma.OpenAPI, s *huma.Schema) *huma.Schema {
	if s != nil && s.Ref != "" && doc.Components != nil && doc.Components.Schemas != nil {
		if r := doc.Components.Schemas.SchemaFromRef(s.Ref); r != nil {
			return r
		}
	}
	return s
}

// schemaType names a schema briefly: a referenced type's name, a list of
// one, or the JSON type.
func schemaType(doc *huma.OpenAPI, s *huma.Schema) string {
	if s == nil {
		return ""
	}
	if s.Ref != "" {
		return s.Ref[strings.LastIndex(s.Ref, "/")+1:]
	}
	if s.Type == huma.TypeArray && s.Items != nil {
		return "list of " + schemaType(doc, s.Items)
	}
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i], _ = v.(string)
		}
		return s.Type + " (" + strings.Join(vals, ", ") + ")"
	}
	return s.Type
}

func fieldsOf(doc *huma.OpenAPI, s *huma.Schema) []refField {
	s = resolve(doc, s)
	if s == nil || len(s.Properties) == 0 {
		return nil
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]refField, len(names))
	for i, n := range names {
		p := s.Properties[n]
		out[i] = refField{Name: n, Type: schemaType(doc, p), Doc: p.Description, Required: slices.Contains(s.Required, n)}
	}
	return out
}
