#!/usr/bin/env bash
# Runs the benchmark suite and writes a markdown report.
#
#   scripts/bench.sh            full run: loadgen (10 s per run) against a release
#                               `partybus serve --port 0`, closed loop, then open loop
#                               (--rate) at 50/80/95 % of the closed-loop e2e c32
#                               maximum, then `cargo bench` (core, http, agents,
#                               memory, ws_clients); adds a dated section for the run
#                               to BENCHMARKS.md, keeping the earlier ones
#   scripts/bench.sh --smoke    CI smoke: ~1 s loadgen runs (failing on any error, one
#                               of them open loop at 50/s) and the criterion benches
#                               in quick mode; asserts no timings; writes a fresh
#                               target/bench-smoke/BENCHMARKS.md
#
# Options: --duration D (loadgen run length, default 10s), --out FILE,
#          --no-criterion (loadgen only).
# Environment: CARGO_TARGET_DIR is honoured; BENCH_SERVER=/path/to/partybus
# serves with that build instead (e.g. a baseline of main), loaded by this
# tree's loadgen.
# Each server is started by this script on 127.0.0.1 port 0 (the address is
# read from its log) with a fresh journal under target/, and stopped with
# SIGTERM; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
DURATION=10s
OUT=BENCHMARKS.md
CRITERION=1
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1; DURATION=1s; OUT=target/bench-smoke/BENCHMARKS.md ;;
    --duration) DURATION="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --no-criterion) CRITERION=0 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$SMOKE" = 1 ]; then
  RUN_DIR=target/bench-smoke
  LOADGEN_FLAGS=(--quiet --fail-on-errors)
else
  RUN_DIR=target/bench
  LOADGEN_FLAGS=(--quiet)
fi
mkdir -p "$RUN_DIR" "$(dirname "$OUT")"
rm -f "$RUN_DIR"/*.json "$RUN_DIR"/runs.tsv "$RUN_DIR"/extra.txt
STARTED=$(date +%s)
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=$TARGET_DIR/release/partybus
SERVER_BIN=${BENCH_SERVER:-$BIN}

echo "== build (release)"
cargo build --release --bin partybus --example bench_report

SERVER_PID=
SERVER_URL=
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || echo "bench.sh: server exited with status $?" >&2
  fi
  SERVER_PID=
}
trap stop_server EXIT

# start_server NAME [serve flags...]: sets SERVER_PID and SERVER_URL.
start_server() {
  local name="$1"; shift
  local log="$RUN_DIR/server-$name.log"
  # A fresh journal per server, with the default durability (normal).
  local data="$RUN_DIR/data-$name"
  rm -rf "$data"
  # Rate limits off: every load client shares one IP (127.0.0.1), and the
  # default write budget (1,000/s per IP) would measure the limiter.
  "$SERVER_BIN" serve --host 127.0.0.1 --port 0 --data-dir "$data" --rate-reads 0 --rate-writes 0 \
    "$@" 2>"$log" &
  SERVER_PID=$!
  SERVER_URL=
  for _ in $(seq 100); do
    SERVER_URL=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -n1 | sed 's/^listening on //' || true)
    [ -n "$SERVER_URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$SERVER_URL" ]; then
    echo "bench.sh: the server did not start; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  echo "== server $name at $SERVER_URL (pid $SERVER_PID)"
}

# run NAME DURATION DESCRIPTION [loadgen flags...]
run() {
  local name="$1" duration="$2" what="$3"; shift 3
  echo "-- $what (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN" loadgen --url "$SERVER_URL" --server-pid "$SERVER_PID" --duration "$duration" \
    --json "$RUN_DIR/$name.json" "${LOADGEN_FLAGS[@]}" "$@"
  printf '%s\t%s\n' "$name" "$what" >>"$RUN_DIR/runs.tsv"
}

if [ "$SMOKE" = 1 ]; then
  start_server auth-on
  run e2e-auth "$DURATION" "e2e, auth on" --mode e2e --concurrency 8 --scenario mixed
  run e2e-rate "$DURATION" "e2e open loop at 50/s, auth on" --mode e2e --concurrency 8 --rate 50
  run create-auth 500ms "create, auth on" --mode create --concurrency 8
  run read-auth 500ms "read status, auth on" --mode read --concurrency 8
  run input-auth 500ms "add input, auth on" --mode input --concurrency 8
  stop_server
  start_server auth-off --auth off
  run e2e-open "$DURATION" "e2e, auth off, subscribe before create" --mode e2e --concurrency 8 --token-mode none
  stop_server
  if [ "$CRITERION" = 1 ]; then
    echo "== criterion (quick, no timing assertions)"
    cargo bench --bench http --bench agents -- --quick --warm-up-time 1 --measurement-time 1 >"$RUN_DIR/criterion.txt"
  fi
else
  # A fresh server per row: one row's leftovers (tens of thousands of
  # parties, an automatic compaction past 250,000 events) would be
  # measured in the next.
  row() {
    local name="$1"; shift
    start_server "$name"
    run "$name" "$DURATION" "$@"
    stop_server
    rm -rf "$RUN_DIR/data-$name"
  }
  row e2e-c32 "e2e, auth on" --mode e2e --concurrency 32 --scenario jungle
  # The latency-vs-throughput curve: open loop at fixed shares of the
  # closed-loop maximum just measured, each on a fresh server.
  E2E_MAX=$(sed -n 's/^  "units_per_s": \([0-9.e+-]*\),\{0,1\}$/\1/p' "$RUN_DIR/e2e-c32.json" | head -n1)
  if awk -v m="${E2E_MAX:-0}" 'BEGIN { exit !(m > 0) }'; then
    for pct in 50 80 95; do
      rate=$(awk -v m="$E2E_MAX" -v p="$pct" 'BEGIN { printf "%.1f", m * p / 100 }')
      row "e2e-open$pct" "e2e open loop at $pct % of the c32 maximum ($rate/s), auth on" \
        --mode e2e --concurrency 32 --scenario jungle --rate "$rate"
    done
  else
    echo "bench.sh: no closed-loop e2e maximum in $RUN_DIR/e2e-c32.json; no open-loop runs" >&2
  fi
  row e2e-c1 "e2e, auth on, one client" --mode e2e --concurrency 1 --scenario jungle
  row e2e-mixed "e2e mixed scenarios, auth on" --mode e2e --concurrency 32 --scenario mixed
  row create-c32 "create, auth on" --mode create --concurrency 32
  row read-c64 "read status, auth on" --mode read --concurrency 64
  row input-c32 "add input (and remove the oldest), auth on" --mode input --concurrency 32
  start_server e2e-open --auth off
  run e2e-open "$DURATION" "e2e, auth off, subscribe before create" --mode e2e --concurrency 32 --token-mode none
  stop_server
  if [ "$CRITERION" = 1 ]; then
    echo "== criterion"
    cargo bench --bench core --bench http --bench agents | tee "$RUN_DIR/criterion.txt"
    PARTIES=20000 cargo bench --bench memory | grep '^memory:' | tee -a "$RUN_DIR/extra.txt"
    cargo bench --bench ws_clients | grep -E '^(ws_clients|e2e_latency):' | tee -a "$RUN_DIR/extra.txt"
  fi
fi

echo "== report"
# The smoke report starts afresh each time; a full run is added to the record
# of dated runs in BENCHMARKS.md (the README only links to it).
if [ "$SMOKE" = 1 ]; then rm -f "$OUT"; fi
CRITERION_DIR="$TARGET_DIR/criterion" "$TARGET_DIR/release/examples/bench_report" "$RUN_DIR" "$OUT" "$STARTED"
