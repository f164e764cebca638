package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/bench/internal/benchstore"
	"github.com/tributary-data/tributary/store"
)

func main() {
	var (
		kind      = flag.String("store", "sqlite", "store to measure: sqlite or postgres")
		pgURL     = flag.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for -store postgres (a schema of its own is created and dropped)")
		pipelines = flag.Int("pipelines", 1000, "pipelines stored")
		runs      = flag.Int("runs", 100000, "runs stored, spread over the pipelines")
		clients   = flag.Int("clients", 50, "concurrent clients")
		duration  = flag.Duration("duration", 20*time.Second, "how long the clients send requests, after a warm-up of a tenth of it")
		limit     = flag.Duration("p99", 50*time.Millisecond, "goal for the p99 of every route; the exit status is 1 when missed")
		profile   = flag.String("cpuprofile", "", "write a CPU profile of the measured load to this file")
		extra     = flag.String("paths", "", "more GET paths to load, comma-separated (e.g. /api/v1/dashboard,/api/v1/analytics/durations)")
	)
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		cpuProfile = f
	}
	if err := run(*kind, *pgURL, *pipelines, *runs, *clients, *duration, *limit, *extra); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(kind, pgURL string, pipelines, runs, clients int, duration, goal time.Duration, extra string) error {
	ctx := context.Background()
	st, cleanup, err := openStore(ctx, kind, pgURL)
	if err != nil {
		return err
	}
	defer cleanup()

	start := time.Now()
	ids, err := seed(ctx, st, pipelines, runs)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Printf("store %s: %d pipelines and %d runs stored in %s\n", kind, len(ids), runs, time.Since(start).Round(time.Millisecond))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api.New(api.Config{Store: st}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	routes := []route{
		{name: "GET /api/v1/pipelines", path: func(r *rand.Rand) string {
			return "/api/v1/pipelines?offset=" + strconv.Itoa(r.IntN(max(1, pipelines-50)))
		}},
		{name: "GET /api/v1/runs", path: func(r *rand.Rand) string {
			// People read the first pages of the newest runs.
			return "/api/v1/runs?offset=" + strconv.Itoa(50*r.IntN(10))
		}},
	}
	for _, p := range strings.Split(extra, ",") {
		if p = strings.TrimSpace(p); p != "" {
			routes = append(routes, route{name: "GET " + p, path: func(*rand.Rand) string { return p }, any: true})
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2}}
	if _, err := load(client, base, routes, clients, duration/10); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if cpuProfile != nil {
		if err := pprof.StartCPUProfile(cpuProfile); err != nil {
			return err
		}
	}
	cpu0 := cpuTime()
	res, err := load(client, base, routes, clients, duration)
	cpu := cpuTime() - cpu0
	if cpuProfile != nil {
		pprof.StopCPUProfile()
		cpuProfile.Close()
	}
	if err != nil {
		return err
	}
	fmt.Printf("%d clients for %s:\n", clients, duration)
	fmt.Printf("%-32s %8s %8s %8s %8s %8s %8s\n", "route", "requests", "req/s", "p50", "p95", "p99", "max")
	total := 0
	for _, lat := range res {
		total += len(lat)
	}
	// CPU per request says what the machine's load does not: on an idle
	// machine with N cores, about N s / cpu-per-request requests a second.
	fmt.Printf("process CPU time %s for %d requests: %.2fms a request (server and load generator together)\n",
		cpu.Round(time.Millisecond), total, float64(cpu.Microseconds())/1000/float64(total))
	missed := false
	for i, r := range routes {
		lat := res[i]
		if len(lat) == 0 {
			return fmt.Errorf("no request to %s completed", r.name)
		}
		slices.Sort(lat)
		p := func(q float64) time.Duration { return store.Percentile(lat, q) }
		fmt.Printf("%-32s %8d %8.0f %8s %8s %8s %8s\n", r.name, len(lat), float64(len(lat))/duration.Seconds(),
			ms(p(50)), ms(p(95)), ms(p(99)), ms(lat[len(lat)-1]))
		if p(99) > goal {
			missed = true
		}
	}
	if missed {
		return fmt.Errorf("a route's p99 is over %s", goal)
	}
	fmt.Printf("every route's p99 is under %s\n", goal)
	return nil
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuProfile receives the profile of the measured load when asked for.
var cpuProfile *os.File

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

type route struct {
	name string
	path func(*rand.Rand) string
	// any accepts any 200 answer, not only a list page.
	any bool
}

// load has each client pick a route at random and send requests back to
// back until the time is up; it returns each route's latencies.
func load(client *http.Client, base string, routes []route, clients int, d time.Duration) ([][]time.Duration, error) {
	var (
		mu   sync.Mutex
		out  = make([][]time.Duration, len(routes))
		errs []error
		wg   sync.WaitGroup
	)
	end := time.Now().Add(d)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(c), 7))
			local := make([][]time.Duration, len(routes))
			for time.Now().Before(end) {
				i := rnd.IntN(len(routes))
				t0 := time.Now()
				err := get(client, base+routes[i].path(rnd), routes[i].any)
				lat := time.Since(t0)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				local[i] = append(local[i], lat)
			}
			mu.Lock()
			for i := range local {
				out[i] = append(out[i], local[i]...)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func get(client *http.Client, url string, anyBody bool) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	// A full decode would cost the load generator, which shares the CPU
	// with the server, more than the check is worth.
	if !anyBody && !bytes.HasPrefix(b, []byte(`{"items":[{`)) {
		return fmt.Errorf("GET %s: no items in %.200s", url, b)
	}
	return nil
}

func openStore(ctx context.Context, kind, pgURL string) (store.Store, func(), error) {
	dir, err := os.MkdirTemp("", "tributary-bench-api")
	if err != nil {
		return nil, nil, err
	}
	st, done, err := benchstore.Open(ctx, kind, dir, pgURL, "bench_api_", "")
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return st, func() { done(); os.RemoveAll(filepath.Clean(dir)) }, nil
}

// result is a finished run's result as the engine writes it, with a
// column profile, so list pages carry realistic rows.
const result = `{"status":"succeeded","duration_ns":2500000000,"streams":[{"name":"people","read":1003,"written":1000,"quarantined":3,"filtered":0,"deduplicated":0,"duration_ns":2400000000,"rows_per_second":417.9,` +
	`"profile":[{"name":"id","type":"int64","count":1000,"nulls":0,"distinct":1000,"min":"1","max":"1000"},{"name":"email","type":"string","count":1000,"nulls":12,"distinct":988,"min":"a@example.com","max":"z@example.com"}]}]}`

// seed stores the pipelines through the store and the runs in multi-row
// inserts, as 100,000 single inserts would take minutes.
func seed(ctx context.Context, st store.Store, pipelines, runs int) ([]string, error) {
	ids := make([]string, 0, pipelines)
	for i := range pipelines {
		spec := fmt.Sprintf(`{"version":1,"name":"pipeline-%04d","source":{"connector":"csv","config":{"path":"data/p%d.csv"},"streams":[{"name":"people"}]},"destination":{"connector":"sqlite","config":{"path":"out.db"}}}`, i, i)
		p := &store.Pipeline{Name: fmt.Sprintf("pipeline-%04d", i)}
		if err := st.CreatePipeline(ctx, p, json.RawMessage(spec)); err != nil {
			return nil, err
		}
		ids = append(ids, p.ID)
	}
	db := st.(interface{ DB() *sql.DB }).DB()
	_, pg := st.(*store.Postgres)
	const batch = 500
	t0 := time.Now().UTC().Add(-time.Duration(runs) * time.Minute)
	for off := 0; off < runs; off += batch {
		n := min(batch, runs-off)
		var b strings.Builder
		b.WriteString(`INSERT INTO runs (id, pipeline_id, version, status, full_refresh, triggered_by, attempts, created_at, started_at, finished_at, result) VALUES `)
		args := make([]any, 0, n*11)
		for j := range n {
			k := off + j
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for c := range 11 {
				if c > 0 {
					b.WriteString(", ")
				}
				if pg {
					b.WriteString("$" + strconv.Itoa(len(args)+c+1))
				} else {
					b.WriteString("?")
				}
			}
			b.WriteString(")")
			created := t0.Add(time.Duration(k) * time.Minute)
			status := "succeeded"
			if k%20 == 0 {
				status = "failed"
			}
			args = append(args, uuid.NewString(), ids[k%len(ids)], 1, status, false, "schedule", 1,
				created, created.Add(time.Second), created.Add(4*time.Second), result)
		}
		if _, err := db.ExecContext(ctx, b.String(), args...); err != nil {
			return nil, err
		}
	}
	// As autovacuum would after such a load: without statistics the
	// planner may not pick the runs' index.
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return nil, err
	}
	return ids, nil
}
