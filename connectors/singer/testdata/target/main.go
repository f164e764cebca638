// Command target is a small Singer target for the tests of the singer
// connector. It appends each stream's records to out/<stream>.jsonl when a
// STATE arrives, then prints that state, as Singer targets do; it keeps the
// last SCHEMA of each stream in out/<stream>.schema.json. With mode "fail"
// it exits with status 2 after fail_after records; with mode "noecho" it
// writes and prints state only when its input ends. Each start is noted in
// out/starts.log.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

type config struct {
	Out       string `json:"out"`
	Mode      string `json:"mode"`
	FailAfter int    `json:"fail_after"`
}

func main() {
	cfgPath := flag.String("config", "", "")
	flag.Parse()
	var cfg config
	b, err := os.ReadFile(*cfgPath)
	if err != nil {
		fail(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		fail(err)
	}
	fmt.Fprintln(os.Stderr, "target starting")
	if f, err := os.OpenFile(filepath.Join(cfg.Out, "starts.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		f.WriteString("start\n")
		f.Close()
	}
	var last json.RawMessage
	pending := map[string][]json.RawMessage{}
	flush := func() {
		for stream, recs := range pending {
			f, err := os.OpenFile(filepath.Join(cfg.Out, stream+".jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				fail(err)
			}
			for _, r := range recs {
				f.Write(append(r, '\n'))
			}
			if err := f.Close(); err != nil {
				fail(err)
			}
		}
		clear(pending)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	records := 0
	schemas := map[string]bool{}
	for in.Scan() {
		var m struct {
			Type   string          `json:"type"`
			Stream string          `json:"stream"`
			Record json.RawMessage `json:"record"`
			Schema json.RawMessage `json:"schema"`
			Keys   []string        `json:"key_properties"`
			Value  json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(in.Bytes(), &m); err != nil {
			fail(fmt.Errorf("bad message %q: %w", in.Text(), err))
		}
		switch m.Type {
		case "SCHEMA":
			schemas[m.Stream] = true
			b, _ := json.Marshal(map[string]any{"schema": m.Schema, "key_properties": m.Keys})
			if err := os.WriteFile(filepath.Join(cfg.Out, m.Stream+".schema.json"), b, 0o644); err != nil {
				fail(err)
			}
		case "RECORD":
			if !schemas[m.Stream] {
				fail(fmt.Errorf("RECORD of stream %s before its SCHEMA", m.Stream))
			}
			if cfg.Mode == "fail" && records == cfg.FailAfter {
				fmt.Fprintln(os.Stderr, "error: disk full while writing", m.Stream)
				os.Exit(2)
			}
			records++
			pending[m.Stream] = append(pending[m.Stream], m.Record)
		case "STATE":
			if cfg.Mode == "noecho" {
				last = m.Value
				continue
			}
			flush()
			fmt.Println(string(m.Value))
		}
	}
	flush()
	if last != nil {
		fmt.Println(string(last))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "target:", err)
	os.Exit(1)
}
