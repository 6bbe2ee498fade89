#!/usr/bin/env bash
# Builds the client packages into OUT (default: a new temporary directory) and prints
# `export LIT_CLIENT_ARTIFACTS=OUT` for server/tests/clients.rs, which runs their tests against
# live servers and installs these artifacts into clean directories:
#   clients/js:     npm ci (package-lock.json), the generated types checked against
#                   server/openapi.yaml, the ESM + CommonJS build, `npm pack` -> OUT/*.tgz
#   clients/python: a virtual environment OUT/venv with the pinned, hashed requirements-dev.txt,
#                   the generated models checked against server/openapi.yaml, `python -m build`
#                   -> OUT/*.whl and OUT/*.tar.gz, the wheel installed into OUT/venv
# Usage: env="$(bash scripts/client-packages.sh [OUT])" && eval "$env"
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

(
  cd clients/js
  npm ci --no-audit --no-fund --loglevel=error
  npm run --silent check-types
  npm run --silent build
  npm pack --silent --pack-destination "$out" >/dev/null
) >&2

python3 -m venv "$out/venv"
pip=("$out/venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps --only-binary :all:)
"${pip[@]}" -r clients/python/requirements-dev.txt >&2
"$out/venv/bin/python" clients/python/tools/gen_models.py --check >&2
"$out/venv/bin/python" -m build --no-isolation --outdir "$out" clients/python >/dev/null
"$out/venv/bin/pip" install -q --disable-pip-version-check --no-deps "$out"/lit_session_client-*.whl >&2
rm -rf clients/python/build clients/python/src/*.egg-info

echo "client-packages: $(cd "$out" && ls -- *.tgz *.whl *.tar.gz | tr '\n' ' ')" >&2
echo "export LIT_CLIENT_ARTIFACTS=$out"
