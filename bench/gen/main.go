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
	flag.Parse()
	if err := write(*out, *rows); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func write(path string, rows int64) error {
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
	if _, err := w.WriteString(people.Header + "\n"); err != nil {
		f.Close()
		return err
	}
	for i := int64(1); i <= rows; i++ {
		line = people.AppendCSV(line[:0], i)
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
