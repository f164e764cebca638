// Command tap is a small Singer tap for the tests of the singer connector.
// It offers the streams users and audit, reads users from a JSON Lines
// file newer than its bookmark, and misbehaves on request (mode).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"
)

type config struct {
	Data       string `json:"data"`
	Log        string `json:"log"`
	Mode       string `json:"mode"`
	StateEvery int    `json:"state_every"`
	FailAfter  int    `json:"fail_after"`
	Token      string `json:"token"`
	StartDate  string `json:"start_date"`
	Count      int    `json:"count"` // generate this many users instead of reading data
	// RepeatSchema sends the SCHEMA again before every record.
	RepeatSchema bool `json:"repeat_schema"`
}

// builtin are the users emitted when the config names no data file.
var builtin = []string{
	`{"id":1,"name":"Ada","updated_at":"2025-12-31T23:00:00Z"}`,
	`{"id":2,"name":"Grace","updated_at":"2026-01-01T08:00:00Z"}`,
	`{"id":3,"name":"Edsger","updated_at":"2026-01-02T08:00:00Z"}`,
}

const usersSchema = `{"type":"object","properties":{
 "id":{"type":"integer"},
 "name":{"type":["null","string"]},
 "updated_at":{"type":"string","format":"date-time"},
 "score":{"type":["null","number"],"multipleOf":0.01},
 "tags":{"type":["null","array"],"items":{"type":"string"}}},
 "required":["id","updated_at"]}`

const auditSchema = `{"type":"object","properties":{"event":{"type":"string"}}}`

func main() {
	cfgPath := flag.String("config", "", "")
	discover := flag.Bool("discover", false, "")
	catPath := flag.String("catalog", "", "")
	propsPath := flag.String("properties", "", "")
	statePath := flag.String("state", "", "")
	flag.Parse()
	var cfg config
	mustRead(*cfgPath, &cfg)
	fmt.Fprintln(os.Stderr, "tap starting")
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	emit := func(v any) {
		b, _ := json.Marshal(v)
		out.Write(append(b, '\n'))
	}
	if *discover {
		emit(map[string]any{"streams": []any{
			map[string]any{"tap_stream_id": "users", "stream": "users", "schema": json.RawMessage(usersSchema), "key_properties": []string{"id"},
				"metadata": []any{map[string]any{"breadcrumb": []string{}, "metadata": map[string]any{"table-key-properties": []string{"id"}, "valid-replication-keys": []string{"updated_at"}}}}},
			map[string]any{"tap_stream_id": "audit", "stream": "audit", "schema": json.RawMessage(auditSchema)},
		}})
		return
	}
	flagUsed, path := "catalog", *catPath
	if *propsPath != "" {
		flagUsed, path = "properties", *propsPath
	}
	var cat struct {
		Streams []struct {
			ID       string `json:"tap_stream_id"`
			Selected bool   `json:"selected"`
			Metadata []struct {
				Breadcrumb []string       `json:"breadcrumb"`
				Metadata   map[string]any `json:"metadata"`
			} `json:"metadata"`
		} `json:"streams"`
	}
	mustRead(path, &cat)
	var selected []string
	for _, s := range cat.Streams {
		sel := s.Selected && flagUsed == "properties"
		for _, m := range s.Metadata {
			if len(m.Breadcrumb) == 0 && flagUsed == "catalog" {
				sel = m.Metadata["selected"] == true
			}
		}
		if sel {
			selected = append(selected, s.ID)
		}
	}
	var state struct {
		Bookmarks map[string]map[string]string `json:"bookmarks"`
	}
	if *statePath != "" {
		mustRead(*statePath, &state)
	}
	if cfg.Log != "" {
		f, err := os.OpenFile(cfg.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fail(err)
		}
		rawState, _ := os.ReadFile(*statePath)
		b, _ := json.Marshal(map[string]any{"flag": flagUsed, "selected": selected, "state": string(rawState), "token": cfg.Token})
		f.Write(append(b, '\n'))
		f.Close()
	}
	// A tap that emits a stream nobody selected.
	emit(map[string]any{"type": "SCHEMA", "stream": "audit", "schema": json.RawMessage(auditSchema), "key_properties": []string{}})
	emit(map[string]any{"type": "RECORD", "stream": "audit", "record": map[string]any{"event": "started"}})
	if !slices.Contains(selected, "users") {
		return
	}
	emit(map[string]any{"type": "SCHEMA", "stream": "users", "schema": json.RawMessage(usersSchema),
		"key_properties": []string{"id"}, "bookmark_properties": []string{"updated_at"}})
	after := state.Bookmarks["users"]["updated_at"]
	every := cfg.StateEvery
	if every == 0 {
		every = 2
	}
	if after == "" {
		after = cfg.StartDate
	}
	var lines [][]byte
	if cfg.Count > 0 {
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 1; i <= cfg.Count; i++ {
			lines = append(lines, fmt.Appendf(nil, `{"id":%d,"name":"user %d","updated_at":"%s","score":%d.25,"tags":["a","b"]}`,
				i, i, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i%1000))
		}
	} else if cfg.Data == "" {
		for _, l := range builtin {
			lines = append(lines, []byte(l))
		}
	} else {
		f, err := os.Open(cfg.Data)
		if err != nil {
			fail(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
		}
		f.Close()
	}
	n, last := 0, after
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			fail(err)
		}
		ts, _ := rec["updated_at"].(string)
		if ts <= after {
			continue
		}
		if cfg.Mode == "fail" && n == cfg.FailAfter {
			out.Flush()
			fmt.Fprintln(os.Stderr, "error: connection reset by peer while reading users")
			os.Exit(3)
		}
		if cfg.RepeatSchema {
			emit(map[string]any{"type": "SCHEMA", "stream": "users", "schema": json.RawMessage(usersSchema), "key_properties": []string{"id"}})
		}
		emit(map[string]any{"type": "RECORD", "stream": "users", "record": rec, "time_extracted": "2026-01-01T00:00:00Z"})
		n++
		last = ts
		if n == 1 && cfg.Mode == "malformed" {
			out.WriteString(`{"type":"RECORD","stream":"users","record":{"id":"x1","name":"bad id","updated_at":"2026-01-01T00:00:00Z"}}` + "\n")
			out.WriteString(`{"type":"RECORD","stream":"users","record":{"id":99,` + "\n")
			out.WriteString(`{"type":"ACTIVATE_VERSION","stream":"users","version":1}` + "\n")
			out.WriteString(`{"type":"RECORD","stream":"users","record":{"id":98,"name":null,"updated_at":"not a date"}}` + "\n")
			out.WriteString(`{"type":"RECORD","stream":"audit","record":{"event":` + "\n")
		}
		if n == 2 && cfg.Mode == "garbage" {
			out.WriteString("Fetching page 2 of users...\n")
		}
		if n%every == 0 {
			emit(map[string]any{"type": "STATE", "value": map[string]any{"bookmarks": map[string]any{"users": map[string]string{"updated_at": last}}}})
		}
	}
	emit(map[string]any{"type": "STATE", "value": map[string]any{"bookmarks": map[string]any{"users": map[string]string{"updated_at": last}}}})
}

func mustRead(path string, v any) {
	b, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		fail(fmt.Errorf("%s: %w", path, err))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tap:", err)
	os.Exit(1)
}
