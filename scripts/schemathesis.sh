#!/usr/bin/env bash
# Schema fuzzing: starts `partybus serve --port 0 --auth off` (release build),
# runs schemathesis against its /openapi.json for a bounded number of
# examples per operation, and stops the server. Fails on any 5xx or any
# response that does not match the document.
#
#   pip install schemathesis
#   scripts/schemathesis.sh            # MAX_EXAMPLES=100 by default
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES="${MAX_EXAMPLES:-100}"
command -v schemathesis >/dev/null || { echo "schemathesis is not installed: pip install schemathesis" >&2; exit 1; }

cargo build --release --quiet
log="$(mktemp)"
data="$(mktemp -d)"
# Generous rate limits: the fuzzer is one IP sending as fast as it can.
./target/release/partybus serve --port 0 --auth off --log-level info --data-dir "$data" \
  --rate-writes 0 --rate-reads 0 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$log" "$data"' EXIT

url=""
for _ in $(seq 1 100); do
  url="$(grep -o 'listening on http://[0-9.:]*' "$log" | head -1 | sed 's/listening on //')" || true
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the server did not start:" >&2; cat "$log" >&2; exit 1; }
echo "== schemathesis against $url (max $MAX_EXAMPLES examples per operation)"

schemathesis run "$url/openapi.json" \
  --url "$url" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "$MAX_EXAMPLES" \
  --exclude-path-regex '/ws/'
