#!/usr/bin/env bash
# Times a CSV → PostgreSQL load by `tributary run` (full_refresh_overwrite)
# against `psql \copy … CSV HEADER` of the same file into the same table
# shape, for each row count, and prints the wall-time ratio and peak RSS.
#
#   bench/csv_to_postgres.sh              # 1M and 5M rows
#   ROWS="1000000" bench/csv_to_postgres.sh
#   PG_URL=postgres://… bench/csv_to_postgres.sh
#
# Before the CLI exists, MODE=writer times the destination alone through
# its Go benchmark (typed rows generated in memory, no CSV parsing).
set -euo pipefail

cd "$(dirname "$0")/.."
export PGOPTIONS="-c client_min_messages=warning"
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
ROWS=${ROWS:-"1000000 5000000"}
MODE=${MODE:-run}
SCHEMA=${SCHEMA:-tributary_bench}
DATA=bench/data
TIME=/usr/bin/time
DDL="(id bigint, name text, email text, amount numeric, created_at timestamptz, country text, active boolean, score double precision)"

mkdir -p "$DATA" bin
go build -o bin/gen ./bench/gen
if [ "$MODE" = run ]; then
	go build -o bin/tributary ./cmd/tributary
else
	go test -c -o bin/postgres.test ./connectors/postgres
fi
psql -qX "$PG_URL" -c "CREATE SCHEMA IF NOT EXISTS $SCHEMA" >/dev/null

# measure LABEL CMD... runs CMD under /usr/bin/time -v and sets WALL (s),
# CPU (user + system, s) and RSS (KB).
measure() {
	local label=$1 log
	shift
	log=$(mktemp)
	if ! "$TIME" -v "$@" >"$log.out" 2>"$log"; then
		echo "$label failed:" >&2
		cat "$log.out" "$log" >&2
		exit 1
	fi
	WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$log")
	CPU=$(awk -F': ' '/(User|System) time \(seconds\)/ {s += $2} END {print s}' "$log")
	RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
	rm -f "$log" "$log.out"
}

# cpu_s is the loader process's own CPU time (not the server's): on a
# shared machine it moves less than wall time, so it shows what profiling
# costs even when the wall clock cannot.
printf '%-10s %-10s %10s %12s %8s %10s %10s\n' rows loader wall_s rows_per_s cpu_s rss_mb ratio
for n in $ROWS; do
	csv=$DATA/people_$n.csv
	[ -f "$csv" ] || bin/gen -rows "$n" -out "$csv"

	psql -qX "$PG_URL" -c "DROP TABLE IF EXISTS $SCHEMA.psql_people; CREATE TABLE $SCHEMA.psql_people $DDL" >/dev/null
	measure psql psql -qX "$PG_URL" -c "\\copy $SCHEMA.psql_people FROM '$csv' CSV HEADER"
	psql_wall=$WALL
	printf '%-10s %-10s %10.2f %12.0f %8.2f %10.1f %10s\n' "$n" psql "$WALL" "$(echo "$n / $WALL" | bc -l)" "$CPU" "$(echo "$RSS / 1024" | bc -l)" 1.00

	if [ "$MODE" = writer ]; then
		measure writer env TRIBUTARY_BENCH_ROWS="$n" TRIBUTARY_BENCH_SCHEMA="$SCHEMA" TRIBUTARY_TEST_POSTGRES_URL="$PG_URL" \
			bin/postgres.test -test.run '^$' -test.bench BenchmarkLoadPeople -test.benchtime 1x
		label=writer
	else
		# Twice: with column profiling (the default) and without it, so the
		# second line shows what profiling costs.
		for profile in true false; do
			pipeline=$(mktemp --suffix=.yaml)
			abs=$(cd "$DATA" && pwd)/people_$n.csv
			cat >"$pipeline" <<YAML
version: 1
name: bench-csv-to-postgres
source:
  connector: csv
  config:
    path: $abs
  streams:
    - name: people
      sync_mode: full_refresh_overwrite
      schema: {id: int64, name: string, email: string, amount: decimal, created_at: timestamp, country: string, active: bool, score: float64}
destination:
  connector: postgres
  config:
    url: $PG_URL
    schema: $SCHEMA
options:
  profile: $profile
YAML
			measure tributary bin/tributary run "$pipeline"
			rm -f "$pipeline"
			label=tributary
			[ "$profile" = true ] || label=no-profile
			got=$(psql -qXAt "$PG_URL" -c "SELECT count(*) FROM $SCHEMA.people")
			if [ "$got" != "$n" ]; then
				echo "tributary loaded $got rows, want $n" >&2
				exit 1
			fi
			printf '%-10s %-10s %10.2f %12.0f %8.2f %10.1f %10.2f\n' "$n" "$label" "$WALL" "$(echo "$n / $WALL" | bc -l)" "$CPU" "$(echo "$RSS / 1024" | bc -l)" "$(echo "$WALL / $psql_wall" | bc -l)"
		done
		continue
	fi
	printf '%-10s %-10s %10.2f %12.0f %8.2f %10.1f %10.2f\n' "$n" "$label" "$WALL" "$(echo "$n / $WALL" | bc -l)" "$CPU" "$(echo "$RSS / 1024" | bc -l)" "$(echo "$WALL / $psql_wall" | bc -l)"
done
psql -qX "$PG_URL" -c "DROP SCHEMA $SCHEMA CASCADE" >/dev/null
