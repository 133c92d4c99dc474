#!/usr/bin/env bash
# The cluster benchmark of issue 18: one e2e load spread over the nodes
# (`partybus loadgen --spread`), in three configurations, each started fresh
# and stopped before the next:
#
#   1. 1 node, SQLite:  `partybus serve --data-dir <fresh>` (durability normal,
#                        auth on, as by default)
#   2. 1 node, Redis:   its own redis-server, one node `--journal redis://...`
#   3. 3 nodes, Redis:  a fresh redis-server, nodes n1..n3; every party is
#                        created on one node and streamed from the next
#
#   scripts/cluster_bench.sh [--duration 10s] [--concurrency 32] [--partitions 16]
#
# Prints one markdown table (parties/s, e2e plan p50/p99, errors, the nodes'
# summed CPU ms per party, Redis's own CPU in cores and ms per party, from
# /proc/<redis pid>/stat before and after the run) and saves it to
# target/cluster-bench/RESULT.md (logs and loadgen JSON next to it).
#
# Builds release first (CARGO_TARGET_DIR is honoured). Each redis-server is
# this script's own: a free port (never 6379), a scratch directory, no RDB
# snapshots, AOF with `appendfsync everysec`. Nodes listen on 127.0.0.1
# port 0 (the address is read from their log) with the rate limits off (every
# load client shares one IP, as in scripts/bench.sh). Everything this script
# started is stopped on exit, whatever the exit. Needs redis-server,
# redis-cli and jq.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10s
CONC=32
PARTITIONS=16
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift ;;
    --concurrency) CONC="$2"; shift ;;
    --partitions) PARTITIONS="$2"; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "cluster_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in redis-server redis-cli jq; do
  command -v "$tool" >/dev/null || { echo "cluster_bench.sh: $tool is needed" >&2; exit 2; }
done

RUN_DIR=target/cluster-bench
mkdir -p "$RUN_DIR"
rm -f "$RUN_DIR"/*.log "$RUN_DIR"/*.json "$RUN_DIR"/rows.md
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/partybus-cluster-bench.XXXXXX")
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=$TARGET_DIR/release/partybus
TICKS=$(getconf CLK_TCK)
READY_WAIT=60   # seconds a node or redis may take to be ready

# Every process this script started and has not stopped yet.
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_all: SIGTERM to the nodes, then to redis (started first), and wait.
stop_all() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
    wait "${PIDS[i]}" 2>/dev/null || true
  done
  PIDS=()
}

echo "== build (release)"
cargo build --release --bin partybus

# start_redis NAME: a fresh redis-server on a free port; sets REDIS_PID and
# REDIS_PORT. A port some other process took meanwhile makes our server exit
# (or answer with another pid): then another port, at most 5 times.
start_redis() {
  local name="$1" dir="$SCRATCH/redis-$1" log="$PWD/$RUN_DIR/redis-$1.log" attempt i
  rm -rf "$dir"; mkdir -p "$dir"
  for attempt in 1 2 3 4 5; do
    REDIS_PORT=$((20000 + RANDOM % 40000))
    [ "$REDIS_PORT" = 6379 ] && continue
    if ss -Hltn "sport = :$REDIS_PORT" 2>/dev/null | grep -q .; then continue; fi
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --save '' \
      --appendonly yes --appendfsync everysec --daemonize no --logfile "$log" &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    for ((i = 0; i < READY_WAIT * 10; i++)); do
      kill -0 "$REDIS_PID" 2>/dev/null || break
      if [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
        # Ours, not another server on that port.
        if redis-cli -p "$REDIS_PORT" info server | grep -q "^process_id:$REDIS_PID"; then
          echo "== redis $name on port $REDIS_PORT (pid $REDIS_PID)"
          return 0
        fi
        break
      fi
      sleep 0.1
    done
    kill -TERM "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    unset 'PIDS[-1]'
    echo "cluster_bench.sh: redis-server did not start on $REDIS_PORT (attempt $attempt)" >&2
  done
  echo "cluster_bench.sh: redis-server did not start; its log:" >&2
  cat "$log" >&2 || true
  exit 1
}

# start_node NAME [serve flags...]: a node on 127.0.0.1 port 0, ready (its
# log says `ready`); appends to NODE_URLS and NODE_PIDS.
start_node() {
  local name="$1"; shift
  local log="$RUN_DIR/node-$name.log" pid url="" i
  "$BIN" serve --host 127.0.0.1 --port 0 --rate-reads 0 --rate-writes 0 --log-level info \
    "$@" 2>"$log" >/dev/null &
  pid=$!
  PIDS+=("$pid")
  for ((i = 0; i < READY_WAIT * 20; i++)); do
    if [ -z "$url" ]; then
      url=$(grep -o -m1 'listening on http://[0-9.:]*' "$log" | sed 's/^listening on //' || true)
    fi
    if [ -n "$url" ] && grep -q ' ready$' "$log"; then
      NODE_URLS+=("$url")
      NODE_PIDS+=("$pid")
      echo "== node $name at $url (pid $pid)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "cluster_bench.sh: node $name was not ready; its log:" >&2
  cat "$log" >&2
  exit 1
}

# CPU ticks (user + system) of a process; fields after the `(comm)`.
cpu_ticks() {
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

printf '| configuration | parties/s | plan p50 ms | plan p99 ms | errors | server CPU ms/party | Redis cores | Redis CPU ms/party |\n' >"$RUN_DIR/rows.md"
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n' >>"$RUN_DIR/rows.md"

# measure NAME LABEL: the spread e2e load over NODE_URLS, one table row.
# Redis's CPU is read around the loadgen run when REDIS_PID is set.
measure() {
  local name="$1" label="$2" json="$RUN_DIR/$1.json"
  local urls pids r0=0 r1=0 t0 t1
  urls=$(IFS=,; echo "${NODE_URLS[*]}")
  pids=$(IFS=,; echo "${NODE_PIDS[*]}")
  local spread=()
  [ "${#NODE_URLS[@]}" -gt 1 ] && spread=(--spread)
  echo "-- $label: loadgen --mode e2e --concurrency $CONC --duration $DURATION${spread[*]:+ ${spread[*]}} (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  [ -n "${REDIS_PID:-}" ] && r0=$(cpu_ticks "$REDIS_PID")
  t0=$(date +%s.%N)
  "$BIN" loadgen --mode e2e --concurrency "$CONC" --duration "$DURATION" "${spread[@]}" \
    --url "$urls" --server-pid "$pids" --quiet --json "$json" | tee "$RUN_DIR/$name.txt"
  t1=$(date +%s.%N)
  [ -n "${REDIS_PID:-}" ] && r1=$(cpu_ticks "$REDIS_PID")
  jq -r --arg cfg "$label" --arg redis "${REDIS_PID:-}" \
    --argjson rticks "$((r1 - r0))" --argjson hz "$TICKS" \
    --argjson wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" '
    def f(n): if n == null then "-" else (n * 100 | round / 100 | tostring) end;
    (.parties | if . > 0 then . else null end) as $p
    | ($rticks / $hz) as $rs
    | "| \($cfg) | \(f(.parties_per_s)) | \(f(.steps.plan.p50_ms)) | \(f(.steps.plan.p99_ms)) | \(.error_count) | \(if $p and .cpu.server_s then f(.cpu.server_s * 1000 / $p) else "-" end) | \(if $redis == "" then "-" else f($rs / $wall) end) | \(if $redis == "" or ($p | not) then "-" else f($rs * 1000 / $p) end) |"
  ' "$json" >>"$RUN_DIR/rows.md"
}

# 1. One node on SQLite.
NODE_URLS=(); NODE_PIDS=(); REDIS_PID=
start_node sqlite --data-dir "$SCRATCH/sqlite"
measure 1-node-sqlite "1 node, SQLite"
stop_all

# 2. One node on its own Redis.
NODE_URLS=(); NODE_PIDS=()
start_redis one
start_node redis-n1 --journal "redis://127.0.0.1:$REDIS_PORT/0" --partitions "$PARTITIONS" \
  --node-id n1 --data-dir "$SCRATCH/redis-one-n1"
measure 1-node-redis "1 node, Redis"
stop_all

# 3. Three nodes on a fresh Redis.
NODE_URLS=(); NODE_PIDS=()
start_redis three
for n in n1 n2 n3; do
  start_node "redis3-$n" --journal "redis://127.0.0.1:$REDIS_PORT/0" --partitions "$PARTITIONS" \
    --node-id "$n" --data-dir "$SCRATCH/redis-three-$n"
done
measure 3-nodes-redis "3 nodes, Redis"
stop_all
REDIS_PID=

{
  echo "# partybus cluster bench ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "e2e, closed loop, concurrency $CONC, $DURATION per configuration, $PARTITIONS partitions;" \
    "$(nproc) cores; loadgen spread over the nodes (WebSockets on the next node)."
  echo
  cat "$RUN_DIR/rows.md"
} >"$RUN_DIR/RESULT.md"
echo
cat "$RUN_DIR/RESULT.md"
