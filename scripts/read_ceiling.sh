#!/usr/bin/env bash
# The read-status targets of issue 17, measured in one run, alternating:
#
#   scripts/read_ceiling.sh [options] BASE_BIN NEW_BIN [BARE_BIN]
#
# 1. fresh: `GET …/party/{id}/status` under `loadgen --mode read` against a
#    fresh `partybus serve` from BASE_BIN, then NEW_BIN, then the bare
#    tiny_http server BARE_BIN (examples/bare_http.rs, answering the same
#    bytes: a status body fetched from NEW_BIN first), PAIRS times over.
# 2. stored (with --stored N): the same read run against a server that first
#    had N parties created (`loadgen --mode create --parties N`) and planned
#    (the script waits until the server's CPU has been idle for 8 s: planned,
#    and no automatic compaction running; unless --no-settle),
#    BASE_BIN then NEW_BIN, PAIRS times over. The read pool (4 parties per client) comes on top, so
#    the server runs with --max-parties N + 10,000.
#
# Options: --pairs P (default 2), --duration D (read run, default 10s),
#          --concurrency C (default 64), --stored N (default 0: skip),
#          --no-settle (read at once after the creates, while the agents
#          still plan the backlog), --only fresh|stored, --out FILE (TSV of every run; default
#          target/read-ceiling/runs.tsv).
# LOADGEN=BIN picks the load generator (default: BASE_BIN's `loadgen`, so
# both servers are loaded by the same client). Every server is started here
# on 127.0.0.1 port 0 with a fresh data directory under target/read-ceiling
# and the rate limits off (as scripts/bench.sh does), and stopped with
# SIGTERM. Prints one line per run and a summary of the medians.
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=2
DURATION=10s
CONC=64
STORED=0
SETTLE=1
ONLY=
RUN_DIR=target/read-ceiling
OUT=
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) PAIRS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --concurrency) CONC="$2"; shift ;;
    --stored) STORED="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --no-settle) SETTLE=0 ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    -*) echo "read_ceiling.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ $# -ge 2 ] || { sed -n '2,26p' "$0"; exit 2; }
BASE=$(realpath "$1"); NEW=$(realpath "$2"); BARE=${3:+$(realpath "$3")}
LOADGEN=${LOADGEN:-$BASE}
# The stored parties must outlive their create run: loadgen deletes the
# parties it created unless --keep (a loadgen older than --keep keeps them).
KEEP=
if "$LOADGEN" loadgen --help 2>/dev/null | grep -q -- '--keep'; then KEEP=--keep; fi
mkdir -p "$RUN_DIR"
OUT=${OUT:-$RUN_DIR/runs.tsv}
printf 'phase\tpair\tserver\treq_per_s\tp50_ms\tp99_ms\tserver_cores\terrors\n' >"$OUT"
API=/api/v1/event-driven

PID=
URL=
stop() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
  fi
  PID=
}
trap stop EXIT

# start NAME CMD...: starts a server whose stderr says `listening on URL`.
start() {
  local name="$1"; shift
  local log="$RUN_DIR/$name.log"
  "$@" 2>"$log" &
  PID=$!
  URL=
  for _ in $(seq 200); do
    URL=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -n1 | sed 's/^listening on //' || true)
    [ -n "$URL" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "read_ceiling.sh: $name did not start; its log:" >&2; cat "$log" >&2; exit 1
}

# serve BIN NAME [flags...]: a partybus server on a fresh data directory.
serve() {
  local bin="$1" name="$2"; shift 2
  rm -rf "$RUN_DIR/data-$name"
  start "$name" "$bin" serve --host 127.0.0.1 --port 0 --data-dir "$RUN_DIR/data-$name" \
    --rate-reads 0 --rate-writes 0 "$@"
}

# Waits until the server's CPU use stays under 5 % of a core for IDLE_WINDOW
# seconds (its agents have planned every party, and no automatic compaction
# runs: the compactor looks every 5 s, and after a burst of creates it runs
# several times, 7-30 s each, with quiet seconds in between), at most 600 s.
IDLE_WINDOW=8
wait_idle() {
  local tck; tck=$(getconf CLK_TCK)
  local before after
  for _ in $(seq $((600 / IDLE_WINDOW))); do
    before=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    sleep "$IDLE_WINDOW"
    after=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    if [ $(( (after - before) * 20 )) -lt $((tck * IDLE_WINDOW)) ]; then return 0; fi
  done
  echo "read_ceiling.sh: the server stayed busy for 600 s" >&2
}

# read PHASE PAIR NAME: one read run against $URL; one line out.
read_run() {
  local phase="$1" pair="$2" name="$3" json="$RUN_DIR/$1-$2-$3.json"
  "$LOADGEN" loadgen --url "$URL" --mode read --concurrency "$CONC" --duration "$DURATION" \
    --quiet --server-pid "$PID" --json "$json" >/dev/null
  local line
  line=$(jq -r '[.requests_per_s, .steps.status.p50_ms, .steps.status.p99_ms,
                 .cpu.server_cores, .error_count] | map(tostring) | join("\t")' "$json")
  printf '%s\t%s\t%s\t%s\n' "$phase" "$pair" "$name" "$line" | tee -a "$OUT"
}

if [ -n "$BARE" ] && [ "$ONLY" != stored ]; then
  # The bytes the bare server answers: a planned party's status from NEW.
  serve "$NEW" capture
  created=$(curl -sf -X POST "$URL$API/party" -H 'Content-Type: application/json' \
    -d '{"initial_inputs":[{"content":"jungle theme party for 75 guests","source_type":"text"},{"content":"need a chocolate cake with animal decorations","source_type":"text"},{"content":"outdoor venue preferred, budget around $2000","source_type":"text"}],"user_id":"loadgen"}')
  id=$(jq -r .party_id <<<"$created"); token=$(jq -r .party_token <<<"$created")
  for _ in $(seq 100); do
    curl -sf "$URL$API/party/$id/status" -H "Authorization: Bearer $token" -o "$RUN_DIR/status.json"
    [ "$(jq -r '.party.final_plan != null' "$RUN_DIR/status.json")" = true ] && break
    sleep 0.1
  done
  stop
fi

echo "== $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg); c$CONC, $DURATION per run"
for pair in $(seq "$PAIRS"); do
  if [ "$ONLY" != stored ]; then
    serve "$BASE" base; read_run fresh "$pair" base; stop
    serve "$NEW" new; read_run fresh "$pair" new; stop
    if [ -n "$BARE" ]; then
      start bare "$BARE" "$RUN_DIR/status.json"; read_run fresh "$pair" bare; stop
    fi
  fi
  if [ "$STORED" -gt 0 ] && [ "$ONLY" != fresh ]; then
    for who in base new; do
      bin=$BASE; [ "$who" = new ] && bin=$NEW
      serve "$bin" "stored-$who" --max-parties $((STORED + 10000))
      "$LOADGEN" loadgen --url "$URL" --mode create --concurrency 32 --parties "$STORED" $KEEP \
        --quiet --json "$RUN_DIR/create-$pair-$who.json" >/dev/null
      phase="stored$STORED"
      if [ "$SETTLE" = 1 ]; then wait_idle; else phase="unsettled$STORED"; fi
      read_run "$phase" "$pair" "$who"
      stop
      rm -rf "$RUN_DIR/data-stored-$who"
    done
  fi
done

echo "== medians (req/s)"
python3 - "$OUT" <<'PY'
import csv, statistics, sys
runs, cpu = {}, {}
for r in csv.DictReader(open(sys.argv[1]), delimiter="\t"):
    k = (r["phase"], r["server"])
    runs.setdefault(k, []).append(float(r["req_per_s"]))
    # Server CPU per request, microseconds: steadier than req/s on a shared machine.
    cpu.setdefault(k, []).append(float(r["server_cores"]) / float(r["req_per_s"]) * 1e6)
med = {k: statistics.median(v) for k, v in runs.items()}
for (phase, server), v in sorted(runs.items()):
    us = " ".join(f"{x:.1f}" for x in cpu[(phase, server)])
    print(f"{phase:<14} {server:<5} {med[(phase, server)]:>9.0f}   runs: {' '.join(f'{x:.0f}' for x in v)}"
          f"   server CPU us/request: {us}")
for phase in sorted({p for p, _ in runs}):
    bare = med.get((phase, "bare"))
    for s in ("base", "new"):
        if bare and (phase, s) in med:
            print(f"{phase} {s} / bare: {med[(phase, s)] / bare:.2f}")
for s in ("base", "new"):
    fresh = med.get(("fresh", s))
    for (phase, server), m in sorted(med.items()):
        if server == s and phase != "fresh" and fresh:
            print(f"{phase} {s} / fresh {s}: {m / fresh:.2f}")
PY
