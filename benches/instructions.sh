#!/usr/bin/env bash
# Instructions the gateway's request path spends per GraphQL request, counted by callgrind.
#
# req/s and CPU time on a shared 2-core machine move by 15–30 % between runs, as much as a
# change's gain; the instructions one request costs are the same to ~0.2 % from run to run.
# This starts the gateway under valgrind, sends the document N times (one at a time, after a
# warm-up), and counts the instructions inside `execute_http` (the GraphQL handler, from the
# request's body to the response's bytes; background tasks and the sockets left out).
#
#   DATABASE_URL=... SG_JWT_SECRET=... benches/instructions.sh BIN QUERY_FILE [N] [VARIABLES_JSON]
#
# BIN: a release build (`target/release/support-gateway`); QUERY_FILE: the document; N: 50.
# SG_AGENT (admin@northwind-cloud.example, seeded by `seed`) signs the token; PORT 8099.
# Needs valgrind and curl. The profile stays in $OUT (/tmp/sg-instructions) for
# `callgrind_annotate --inclusive=yes $OUT/callgrind.out.1`.
set -euo pipefail
BIN="${1:?usage: benches/instructions.sh BIN QUERY_FILE [N] [VARIABLES_JSON]}"
QUERY_FILE="${2:?usage: benches/instructions.sh BIN QUERY_FILE [N] [VARIABLES_JSON]}"
N="${3:-50}"
VARIABLES="${4:-{\}}"
PORT="${PORT:-8099}"
OUT="${OUT:-/tmp/sg-instructions}"
: "${DATABASE_URL:?set DATABASE_URL to a seeded database}"
: "${SG_JWT_SECRET:?set SG_JWT_SECRET (32+ characters)}"
command -v valgrind > /dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }

mkdir -p "$OUT" && rm -f "$OUT"/callgrind.out*
TOKEN="$(RUST_LOG=error "$BIN" token --agent "${SG_AGENT:-admin@northwind-cloud.example}")"
BODY="$(python3 -c 'import json,sys; print(json.dumps({"query": open(sys.argv[1]).read(), "variables": json.loads(sys.argv[2])}))' "$QUERY_FILE" "$VARIABLES")"

RUST_LOG=warn valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$OUT/callgrind.out" \
  "$BIN" serve --bind "127.0.0.1:$PORT" > "$OUT/gateway.log" 2>&1 &
GW=$!
trap 'kill $GW 2> /dev/null || true' EXIT
for _ in $(seq 1 180); do curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null && break; sleep 1; done

send() {
  for _ in $(seq 1 "$1"); do
    curl -sf "http://127.0.0.1:$PORT/graphql" -H "authorization: Bearer $TOKEN" \
      -H 'content-type: application/json' --data "$BODY" -o "$OUT/response.json"
  done
}
send 20
grep -q '"errors"' "$OUT/response.json" && { echo "the document fails:" >&2; head -c 400 "$OUT/response.json" >&2; exit 1; }
callgrind_control -z "$GW" > /dev/null 2>&1
send "$N"
callgrind_control -d "$GW" > /dev/null 2>&1
sleep 1
kill "$GW"; wait "$GW" 2> /dev/null || true
trap - EXIT

IR="$(callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$OUT/callgrind.out.1" 2> /dev/null |
  grep -E 'http::graphql::execute_http::\{\{closure\}\} \[' | head -1 | awk '{gsub(",", "", $1); print $1}')"
[ -n "$IR" ] || { echo "no execute_http in the profile (a release build with debug symbols?)" >&2; exit 1; }
echo "$(basename "$QUERY_FILE"): $((IR / N)) instructions per request ($N requests, $(basename "$BIN"))"
