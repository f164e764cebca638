package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tributary-data/tributary/bench/people"
)

func main() {
	rows := flag.Int64("rows", 1_000_000, "number of rows")
	out := flag.String("out", "bench/data/people.csv", "output file")
	format := flag.String("format", "csv", "csv (with a header line) or jsonl (one object a line)")
	flag.Parse()
	var err error
	switch *format {
	case "csv":
		err = write(*out, *rows, people.Header+"\n", people.AppendCSV)
	case "jsonl":
		err = write(*out, *rows, "", people.AppendJSON)
	default:
		err = fmt.Errorf("unknown -format %q (known: csv, jsonl)", *format)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// write writes header, then rows lines made by appendRow.
func write(path string, rows int64, header string, appendRow func([]byte, int64) []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	w := bufio.NewWriterSize(f, 1<<20)
	line := make([]byte, 0, 256)
	if _, err := w.WriteString(header); err != nil {
		f.Close()
		return err
	}
	for i := int64(1); i <= rows; i++ {
		line = appendRow(line[:0], i)
		if _, err := w.Write(line); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
