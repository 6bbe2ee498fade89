#!/usr/bin/env bash
# Property-based API tests: schemathesis (PyPI) generates requests from server/openapi.yaml and
# sends them to a dev-mode server; it fails on any 5xx and on any response that is not in the
# OpenAPI file (status code, content type, body schema). Installs schemathesis into a cached
# virtualenv when missing. Needs the release binary (cargo build --release -p lit-session-server).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/lit-session-signer/schemathesis-$version"
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "schemathesis: installing schemathesis $version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
bin="${CARGO_TARGET_DIR:-target}/release/lit-session-server"
[ -x "$bin" ] || cargo build --release -p lit-session-server
log="$(mktemp)"
"$bin" --dev --listen 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q '^lit-session-server: listening on ' "$log" && break
  sleep 0.1
done
base="$(sed -n 's/^lit-session-server: listening on //p' "$log")"
token="$(sed -n 's/^dev token: //p' "$log")"
[ -n "$base" ] && [ -n "$token" ] || { cat "$log" >&2; exit 1; }
# A throwaway dev token of a loopback server that exits with this script. Run from a scratch
# directory: schemathesis keeps a cache in its working directory.
schema="$PWD/server/openapi.yaml"
scratch="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$log" "$scratch"' EXIT
(cd "$scratch" && "$venv/bin/schemathesis" run "$schema" --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-50}" --seed 1)
if grep -q panicked "$log"; then
  echo "schemathesis: the server panicked" >&2
  exit 1
fi
