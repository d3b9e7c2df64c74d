#!/usr/bin/env bash
# Checks ../schema.graphql and the client operations the way a frontend team
# would: relay-compiler, GraphQL Code Generator (client preset), @graphql-eslint.
# Usage: bash clients/check.sh   (CLIENTS_OPERATIONS_GLOB overrides the
# operations, default ../docs/operations/*.graphql, relative to clients/)
# Every check runs; the exit status is non-zero when any of them failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
clients=$PWD
root=$(cd .. && pwd)
bin=$clients/node_modules/.bin
export CLIENTS_OPERATIONS_GLOB=${CLIENTS_OPERATIONS_GLOB:-../docs/operations/*.graphql}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=()
summary=()
header() { printf '\n=== %s\n' "$*"; }
# Milliseconds and paths through node, so that this runs on macOS too.
now() { node -p 'Date.now()'; }
took() { node -p "((Date.now() - $1) / 1000).toFixed(1) + 's'"; }

# --- 0. dependencies ----------------------------------------------------------
header "npm ci (node $(node --version), npm $(npm --version))"
start=$(now)
if ! npm ci --no-audit --no-fund >"$tmp/npm.log" 2>&1; then
  cat "$tmp/npm.log"
  echo "npm ci failed"
  exit 1
fi
grep -E '^added ' "$tmp/npm.log" || true
engine_warnings=$(grep -c 'EBADENGINE' "$tmp/npm.log" || true)
if [ "$engine_warnings" -gt 0 ]; then
  echo "note: $engine_warnings EBADENGINE warning lines: some packages declare a newer Node (see README.md)"
fi
summary+=("npm ci: $(took "$start")")

# --- 1. relay-compiler ----------------------------------------------------------
relay() {
  # --validate only compares with artifacts on disk, which are not committed
  # (relay/__generated__ is ignored): compile them first, then validate.
  mkdir -p relay/__generated__
  "$bin/relay-compiler" && "$bin/relay-compiler" --validate
}

# --- 2. graphql-codegen ---------------------------------------------------------
codegen() {
  local status=0
  # Progress lines (❯ ✔) dropped from the display; errors and warnings shown.
  "$bin/graphql-codegen" --config codegen.ts 2>&1 | tee "$tmp/codegen.log" | sed -E '/^(❯|✔) /d' || status=$?
  [ "$status" -eq 0 ] || return "$status"
  # The client preset only warns about an anonymous operation (the operation
  # index plugin in codegen.ts already fails on it; this is a second guard).
  if grep -q 'operation is skipped' "$tmp/codegen.log"; then
    echo "FAIL: codegen skipped an operation (see the warning above)"
    return 1
  fi
  # strictScalars makes an unmapped scalar an error; make sure no scalar field
  # came out as unknown/any anyway (DateTime, Date and JSON must be typed).
  local bad
  bad=$(grep -nE '^\s*(DateTime|Date|JSON): \{ input: (unknown|any)|[A-Za-z0-9_]\??: (unknown|any)\b|Array<(unknown|any)>' gql/graphql.ts \
    | grep -vE '^[0-9]+:\s*(/\*|\*)' || true)
  if [ -n "$bad" ]; then
    echo "FAIL: fields typed unknown/any in gql/graphql.ts (an unmapped scalar):"
    echo "$bad" | cut -c1-200 | head -20
    return 1
  fi
  echo "operations: $(grep -c '": "' gql/operations.json) named, no unknown/any scalar types"
}

# --- 3. eslint ------------------------------------------------------------------
lint() {
  local paths=(schema.graphql "clients/relay/src") globs glob file
  IFS=, read -r -a globs <<<"$CLIENTS_OPERATIONS_GLOB"
  shopt -s nullglob
  local found=0
  for glob in "${globs[@]}"; do
    # shellcheck disable=SC2206 # the glob is meant to expand here
    local matches=($glob)
    for file in "${matches[@]}"; do
      paths+=("$(node -p 'require("path").relative(process.argv[1], process.argv[2])' "$root" "$PWD/$file")")
      found=1
    done
  done
  shopt -u nullglob
  [ "$found" -eq 1 ] || echo "note: no file matches $CLIENTS_OPERATIONS_GLOB (the codegen step reports it)"
  (cd "$root" && "$bin/eslint" --config clients/eslint.config.mjs --max-warnings 0 "${paths[@]}")
}

run() {
  local name=$1 start
  header "$name"
  start=$(now)
  if "$2"; then
    summary+=("$name: ok, $(took "$start")")
  else
    summary+=("$name: FAILED, $(took "$start")")
    failed+=("$name")
  fi
}

run "relay-compiler --validate" relay
run "graphql-codegen" codegen
run "eslint" lint

header "summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all checks passed"
