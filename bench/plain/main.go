package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// person is one input line. Amount stays a json.Number so it is written
// back with its digits as read, the way an exact decimal is.
type person struct {
	ID        int64       `json:"id"`
	Name      string      `json:"name"`
	Email     string      `json:"email"`
	Amount    json.Number `json:"amount"`
	CreatedAt time.Time   `json:"created_at"`
	Country   string      `json:"country"`
	Active    bool        `json:"active"`
	Score     float64     `json:"score"`
}

// output is person plus the computed field, in the pipeline's field order.
type output struct {
	person
	AmountCents int64 `json:"amount_cents"`
}

func main() {
	in := flag.String("in", "bench/data/people_1000000.jsonl", "JSON Lines input")
	out := flag.String("out", "plain.jsonl", "JSON Lines output")
	decode := flag.String("decode", "json", "json: encoding/json into a struct; scan: hand-written scanning of the known line shape")
	flag.Parse()
	salt := os.Getenv("BENCH_SALT")
	if salt == "" {
		fmt.Fprintln(os.Stderr, "plain: BENCH_SALT is not set")
		os.Exit(2)
	}
	var (
		read, written int64
		err           error
	)
	switch *decode {
	case "json":
		read, written, err = run(*in, *out, salt)
	case "scan":
		read, written, err = runScan(*in, *out, salt)
	default:
		err = fmt.Errorf("unknown -decode %q (known: json, scan)", *decode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "plain:", err)
		os.Exit(1)
	}
	fmt.Printf("read %d rows, wrote %d\n", read, written)
}

func run(inPath, outPath, salt string) (read, written int64, err error) {
	in, err := os.Open(inPath)
	if err != nil {
		return 0, 0, err
	}
	defer in.Close()
	f, err := os.Create(outPath)
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	h := sha256.New()
	var sum []byte
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		read++
		var p person
		if err := json.Unmarshal(line, &p); err != nil {
			return read, written, fmt.Errorf("line %d: %w", read, err)
		}
		// filter: active == true
		if !p.Active {
			continue
		}
		// normalize: email [trim, lower], country [trim, upper]
		p.Email = strings.ToLower(strings.TrimSpace(p.Email))
		p.Country = strings.ToUpper(strings.TrimSpace(p.Country))
		// set: amount_cents = int(amount * 100)
		amount, err := p.Amount.Float64()
		if err != nil {
			return read, written, fmt.Errorf("line %d: amount: %w", read, err)
		}
		o := output{person: p, AmountCents: int64(math.Round(amount * 100))}
		// mask: email as the hex SHA-256 of salt+email
		h.Reset()
		h.Write([]byte(salt))
		h.Write([]byte(o.Email))
		sum = h.Sum(sum[:0])
		o.Email = hex.EncodeToString(sum)
		if err := enc.Encode(&o); err != nil {
			return read, written, err
		}
		written++
	}
	if err := sc.Err(); err != nil {
		return read, written, err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return read, written, err
	}
	return read, written, errors.Join(f.Sync(), f.Close())
}
