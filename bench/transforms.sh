#!/usr/bin/env bash
# Times the transforms benchmark: JSONL of generated people rows →
# filter, normalize (2 fields), set (1 expression), mask (hash one field)
# → JSONL, run by `tributary run` (column profiling off, then on) and by
# bench/plain, a single-goroutine Go program doing the same four
# operations with no framework (ordinary: encoding/json into a struct;
# hand-tuned: -decode scan). Checks every output is the same bytes, and
# prints the median wall time, rows/s (input rows), peak RSS and the ratio
# to each plain program.
#
#   bench/transforms.sh                 # 1M rows, 3 runs each
#   ROWS=200000 RUNS=5 bench/transforms.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-3}
DATA=bench/data
TIME=/usr/bin/time
export BENCH_SALT=${BENCH_SALT:-tributary-bench-salt}

mkdir -p "$DATA" bin
go build -o bin/gen ./bench/gen
go build -o bin/tributary ./cmd/tributary
go build -o bin/plain ./bench/plain
in=$(cd "$DATA" && pwd)/people_$ROWS.jsonl
[ -f "$in" ] || bin/gen -rows "$ROWS" -format jsonl -out "$in"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure CMD... runs CMD under /usr/bin/time -v and appends its wall time
# (s) and peak RSS (KB) to $tmp/walls and $tmp/rss.
measure() {
	local log=$tmp/time.log
	if ! "$TIME" -v "$@" >"$log.out" 2>"$log"; then
		echo "$* failed:" >&2
		cat "$log.out" "$log" >&2
		exit 1
	fi
	awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$log" >>"$tmp/walls"
	awk -F': ' '/Maximum resident set size/ {print $2}' "$log" >>"$tmp/rss"
	awk -F': ' '/(User|System) time/ {s += $2} END {print s}' "$log" >>"$tmp/cpu"
}

median() { sort -n "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# report LABEL prints the medians of the runs measured since the last
# call (wall time, CPU time user+sys, peak RSS) and sets WALL. Ratios are
# of wall time; CPU time is the steadier figure while other work shares
# the machine.
report() {
	WALL=$(median "$tmp/walls")
	CPU=$(median "$tmp/cpu")
	local rss
	rss=$(median "$tmp/rss")
	printf '%-24s %7.2f %7.2f %11.0f %7.1f %8.2f %8.2f\n' "$1" "$WALL" "$CPU" "$(echo "$ROWS / $WALL" | bc -l)" "$(echo "$rss / 1024" | bc -l)" \
		"$(echo "$WALL / ${plain_wall:-$WALL}" | bc -l)" "$(echo "$WALL / ${scan_wall:-$WALL}" | bc -l)"
	rm -f "$tmp/walls" "$tmp/rss" "$tmp/cpu"
}

# same LABEL FILE fails unless FILE holds the plain program's output.
same() {
	if ! cmp -s "$2" "$tmp/plain.jsonl"; then
		echo "$1: output differs from the plain program's (rows: $(wc -l <"$2") vs $(wc -l <"$tmp/plain.jsonl"))" >&2
		diff <(head -3 "$2") <(head -3 "$tmp/plain.jsonl") >&2 || true
		exit 1
	fi
}

echo "rows=$ROWS runs=$RUNS (medians; rows/s counts input rows)"
printf '%-24s %7s %7s %11s %7s %8s %8s\n' program wall_s cpu_s rows_per_s rss_mb x_plain x_scan

for _ in $(seq "$RUNS"); do
	measure bin/plain -in "$in" -out "$tmp/plain.jsonl"
done
report "plain Go (encoding/json)"
plain_wall=$WALL
for _ in $(seq "$RUNS"); do
	measure bin/plain -decode scan -in "$in" -out "$tmp/scan.jsonl"
done
report "plain Go (hand scan)"
scan_wall=$WALL
same "plain Go (hand scan)" "$tmp/scan.jsonl"

for profile in false true; do
	cat >"$tmp/pipeline.yaml" <<YAML
version: 1
name: bench-transforms
source:
  connector: jsonl
  config:
    path: $in
  streams:
    - name: people
      sync_mode: full_refresh_overwrite
      schema: {id: int64, name: string, email: string, amount: decimal, created_at: timestamp, country: string, active: bool, score: float64}
destination:
  connector: jsonl
  config: {path: $tmp/out}
transforms:
  - filter: 'active == true'
  - normalize:
      email: [trim, lower]
      country: [trim, upper]
  - set:
      amount_cents: 'int(amount * 100)'
  - mask:
      email: {method: hash, salt_env: BENCH_SALT}
options:
  profile: $profile
YAML
	for _ in $(seq "$RUNS"); do
		rm -rf "$tmp/out"
		measure bin/tributary run "$tmp/pipeline.yaml"
	done
	label="tributary profile=$profile"
	report "$label"
	# Part names sort in write order; together they are the stream.
	cat "$tmp"/out/people/part-*.jsonl >"$tmp/tributary.jsonl"
	same "$label" "$tmp/tributary.jsonl"
done
echo "outputs identical: $(wc -l <"$tmp/plain.jsonl") rows each, sha256 $(sha256sum <"$tmp/plain.jsonl" | cut -c1-16)…"
