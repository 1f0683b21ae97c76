#!/usr/bin/env bash
# The server benchmark of BENCHMARKS.md ("Server"): `cimon serve` on loopback, driven by
# examples/load.rs.
#
#   benches/serve_load.sh                       # SQLite and PostgreSQL, everything
#   BACKENDS=sqlite DURATION=5 benches/serve_load.sh   # a quick look
#
# For each backend, on a fresh store each time (SQLite: a file in a temporary directory;
# PostgreSQL: a freshly created database):
#   1. closed loop at 1, 16 and 64 connections for DURATION s (after WARMUP s): reports/s,
#      p50, p99, max latency, errors, and the server's CPU time per stored report;
#   2. open loop at half the best closed-loop rate of that backend for OPEN_DURATION s:
#      p50/p99 from when each request was due;
#   3. GET /api/v1/tests over QUERY_RUNS runs × QUERY_TESTS tests (default 100 × 10 000 = 1 M
#      test results, posted through the API), with and without &branch=: p50/p99.
# Prints the machine, the commands and a Markdown table; the table also goes to $OUT.
#
# Environment:
#   BACKENDS       "sqlite postgres" (default)
#   POSTGRES_URL   an admin URL whose role may CREATE DATABASE (default
#                  postgres://cimon:cimon@127.0.0.1:5432/cimon_test); the benchmark uses
#                  and drops the database cimon_serve_bench
#   CONNECTIONS    "1 16 64" (default)
#   DURATION       closed-loop seconds per run (default 10); WARMUP (default 2)
#   OPEN_DURATION  open-loop seconds (default 20)
#   QUERY_TESTS, QUERY_RUNS, QUERY_REQUESTS   (default 10000, 100, 20)
#   OUT            where the Markdown table goes (default target/serve_load.md)
#
# Needs: cargo, curl, psql (for PostgreSQL), a PostgreSQL server (scripts/test starts one).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BACKENDS=${BACKENDS:-"sqlite postgres"}
POSTGRES_URL=${POSTGRES_URL:-postgres://cimon:cimon@127.0.0.1:5432/cimon_test}
CONNECTIONS=${CONNECTIONS:-"1 16 64"}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
OPEN_DURATION=${OPEN_DURATION:-20}
QUERY_TESTS=${QUERY_TESTS:-10000}
QUERY_RUNS=${QUERY_RUNS:-100}
QUERY_REQUESTS=${QUERY_REQUESTS:-20}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$TARGET_DIR/serve_load.md}
TOKEN=serve-load-bench

echo "building (cargo build --release --bin cimon --example load)…" >&2
cargo build --release --quiet --bin cimon --example load
CIMON=$TARGET_DIR/release/cimon
LOAD=$TARGET_DIR/release/examples/load

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cimon-serve-bench.XXXXXX")
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

pg_base() { # the admin URL without its database
    local url=${POSTGRES_URL%%\?*}
    echo "${url%/*}"
}

# fresh_store BACKEND -> prints a database URL for a store nobody has used
fresh_store() {
    case $1 in
        sqlite)
            local dir
            dir=$(mktemp -d "$WORK/sqlite.XXXXXX")
            echo "sqlite://$dir/cimon.db"
            ;;
        postgres)
            psql -q "$POSTGRES_URL" -c "DROP DATABASE IF EXISTS cimon_serve_bench WITH (FORCE)" \
                -c "CREATE DATABASE cimon_serve_bench" >/dev/null
            echo "$(pg_base)/cimon_serve_bench"
            ;;
    esac
}

# start_server URL -> sets SERVER_PID and BASE_URL
start_server() {
    local log=$WORK/serve.log
    CIMON_TOKEN=$TOKEN CIMON_LOG=warn "$CIMON" serve --listen 127.0.0.1:0 --database "$1" \
        >"$log" 2>&1 &
    SERVER_PID=$!
    BASE_URL=""
    for _ in $(seq 1 100); do
        BASE_URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log")
        [[ -n "$BASE_URL" ]] && break
        sleep 0.1
    done
    if [[ -z "$BASE_URL" ]]; then
        cat "$log" >&2
        echo "cimon serve did not start" >&2
        exit 1
    fi
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

cpu_ticks() { # user + system clock ticks of the server so far
    awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"
}

field() { # field NAME "RESULT k=v …"
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

TICKS=$(getconf CLK_TCK)
ROWS=()
COMMANDS=()

# run BACKEND MODE ARGS… : one load run on a fresh store; appends a table row
run() {
    local backend=$1 mode=$2
    shift 2
    local url
    url=$(fresh_store "$backend")
    start_server "$url"
    local load before after result
    load=$(cut -d' ' -f1 /proc/loadavg)
    before=$(cpu_ticks)
    COMMANDS+=("load --url URL $mode $*")
    result=$(CIMON_TOKEN=$TOKEN "$LOAD" --url "$BASE_URL" "$mode" "$@" | grep '^RESULT' | tail -n 1)
    after=$(cpu_ticks)
    stop_server
    local reports cpu
    reports=$(field reports "$result")
    cpu=$(awk -v t=$((after - before)) -v hz="$TICKS" -v n="$reports" -v w="$WARMUP" \
        -v rps="$(field rps "$result")" \
        'BEGIN { total = n + w * rps; if (total > 0) printf "%.2f", t / hz * 1000 / total; else print "-" }')
    echo "$backend $mode $*: $result (load average before: $load)" >&2
    local what
    case $mode in
        closed) what="closed loop, $(field connections "$result") connections" ;;
        open) what="open loop at $(field rate "$result")/s (most in flight: $(field most_in_flight "$result"))" ;;
    esac
    ROWS+=("| $backend | $what | $(field rps "$result") | $(field p50_ms "$result") | $(field p99_ms "$result") | $(field max_ms "$result") | $(field errors "$result") | $cpu | $load |")
    LAST_RPS=$(field rps "$result")
}

QUERY_ROWS=()
query() {
    local backend=$1 url
    url=$(fresh_store "$backend")
    start_server "$url"
    COMMANDS+=("load --url URL query --tests $QUERY_TESTS --runs $QUERY_RUNS --requests $QUERY_REQUESTS")
    local out
    out=$(CIMON_TOKEN=$TOKEN "$LOAD" --url "$BASE_URL" query --tests "$QUERY_TESTS" \
        --runs "$QUERY_RUNS" --requests "$QUERY_REQUESTS" 2>"$WORK/query.err")
    cat "$WORK/query.err" >&2
    stop_server
    while read -r line; do
        local scope="repository"
        [[ $(field branch "$line") == true ]] && scope="repository + branch"
        QUERY_ROWS+=("| $backend | \`GET /api/v1/tests\` ($scope), $((QUERY_TESTS * QUERY_RUNS)) results | $(field bytes "$line") | $(field p50_ms "$line") | $(field p99_ms "$line") | $(field max_ms "$line") |")
    done < <(grep '^RESULT' <<<"$out")
    FILL=$(sed -n 's/^filled .* in \([0-9.]*\) s$/\1/p' "$WORK/query.err")
    QUERY_ROWS+=("| $backend | (fill: $QUERY_RUNS reports of $QUERY_TESTS tests through \`POST /api/v1/runs\`: ${FILL:-?} s) | | | | |")
}

for backend in $BACKENDS; do
    if [[ $backend == postgres ]] && ! psql -q "$POSTGRES_URL" -c 'SELECT 1' >/dev/null 2>&1; then
        echo "PostgreSQL is not reachable at POSTGRES_URL; skipping it" >&2
        continue
    fi
    best=0
    for c in $CONNECTIONS; do
        run "$backend" closed --connections "$c" --duration "$DURATION" --warmup "$WARMUP" \
            --max-rate 2500
        best=$(awk -v a="$best" -v b="$LAST_RPS" 'BEGIN { print (b > a) ? b : a }')
    done
    half=$(awk -v b="$best" 'BEGIN { printf "%d", b / 2 }')
    if ((half > 0)); then
        run "$backend" open --rate "$half" --duration "$OPEN_DURATION" --warmup "$WARMUP"
    fi
    query "$backend"
done

{
    echo "Machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(free -g | awk '/^Mem:/ {print $2}') GiB;" \
        "$(rustc -V); $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + local changes')."
    echo
    echo "Commands (\`cargo build --release\`; each run on a fresh store, server and generator on the same machine):"
    echo
    echo '```'
    echo "benches/serve_load.sh   # BACKENDS=\"$BACKENDS\" CONNECTIONS=\"$CONNECTIONS\" DURATION=$DURATION WARMUP=$WARMUP OPEN_DURATION=$OPEN_DURATION"
    printf '%s\n' "${COMMANDS[@]}" | sort -u
    echo '```'
    echo
    echo "| store | load | reports/s | p50 ms | p99 ms | max ms | errors | server CPU ms/report | load avg before |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "| store | query | bytes | p50 ms | p99 ms | max ms |"
    echo "|---|---|---:|---:|---:|---:|"
    printf '%s\n' "${QUERY_ROWS[@]}"
} | tee "$OUT"
