#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ for a bounded time each.
#
#   scripts/fuzz.sh [SECONDS] [--update-corpus] [TARGET...]
#
# SECONDS per target (default 60); targets default to all of them
# (request_body, classify_input, event_decode). Each starts from the committed
# corpus fuzz/corpus/<target>/ and writes what it discovers to
# fuzz/target/corpus/<target>/ (not tracked); --update-corpus merges the
# entries that add coverage back into fuzz/corpus/<target>/ (libFuzzer
# -merge=1; a minute's run adds about a thousand small files, so review
# before committing: the committed corpus is meant to stay a few dozen seeds
# plus every input that ever crashed).
#
# Works with the stable toolchain alone: cargo-fuzz passes -Z flags to rustc,
# which RUSTC_BOOTSTRAP=1 allows on stable. Installs cargo-fuzz (cargo install
# cargo-fuzz --locked) when it is missing; needs a C++ compiler (libFuzzer is
# built from source by libfuzzer-sys). FUZZ_SANITIZER picks the sanitizer:
# default none, since partybus has no unsafe code and what we hunt are panics,
# aborts, hangs and memory blow-ups; address (AddressSanitizer, also works on
# stable this way) runs about 3x slower with 10x the memory.
#
# Exits 1 if any target crashed, timed out or ran out of memory, after
# printing the crashing input's path (under fuzz/artifacts/<target>/) and how
# to reproduce it.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=60
UPDATE=0
TARGETS=()
for arg in "$@"; do
  case "$arg" in
    --update-corpus) UPDATE=1 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    ''|*[!0-9]*) TARGETS+=("$arg") ;;
    *) SECONDS_PER_TARGET="$arg" ;;
  esac
done
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(request_body classify_input event_decode)
fi

# Per-input limits: a body the server accepts is at most 64 KiB; an input of
# 4,000 characters is at most 16 KiB of UTF-8. A single input taking more than
# TIMEOUT seconds, or a run using more than RSS_MB, is a failure.
MAX_LEN=16384
TIMEOUT=10
RSS_MB=2048
SANITIZER="${FUZZ_SANITIZER:-none}"

export RUSTC_BOOTSTRAP=1
if command -v rustup >/dev/null 2>&1; then
  export RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN:-stable}"
fi
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

echo "== building ${TARGETS[*]} (sanitizer: $SANITIZER)"
for t in "${TARGETS[@]}"; do
  cargo fuzz build --sanitizer "$SANITIZER" "$t"
done

failed=()
summary=()
for t in "${TARGETS[@]}"; do
  seeds="$PWD/fuzz/corpus/$t"
  work="$PWD/fuzz/target/corpus/$t"
  artifacts="$PWD/fuzz/artifacts/$t"
  mkdir -p "$seeds" "$work" "$artifacts"
  log="$PWD/fuzz/target/fuzz-$t.log"
  before=$(ls "$artifacts" | wc -l)
  echo "== $t: ${SECONDS_PER_TARGET}s from $(ls "$seeds" | wc -l) seeds"
  status=0
  cargo fuzz run --sanitizer "$SANITIZER" "$t" "$work" "$seeds" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="$MAX_LEN" \
    -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -1 || true)
  execs=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}' | tail -1 || true)
  cov=$(grep -E '#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | sed -E 's/.*(cov: [0-9]+).*(corp: [^ ]+).*/\1 \2/' || true)
  summary+=("$t: ${done_line:-no summary} (${execs:-?} exec/s; ${cov:-?}; corpus now $(ls "$work" | wc -l) new + $(ls "$seeds" | wc -l) committed)")
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    echo "!! $t failed (exit $status); last lines of $log:" >&2
    tail -n 40 "$log" >&2
    after=$(ls "$artifacts" | wc -l)
    if [ "$after" -gt "$before" ]; then
      for a in $(ls -t "$artifacts" | head -n $((after - before))); do
        echo "!! crashing input: $artifacts/$a" >&2
        echo "   reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $SANITIZER $t $artifacts/$a" >&2
      done
    fi
    continue
  fi
  if [ "$UPDATE" -eq 1 ]; then
    echo "== $t: merging new coverage into $seeds"
    cargo fuzz run --sanitizer "$SANITIZER" "$t" "$seeds" "$work" -- \
      -merge=1 -max_len="$MAX_LEN" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
      >>"$log" 2>&1
  fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found failures in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
