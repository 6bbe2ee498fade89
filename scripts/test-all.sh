#!/usr/bin/env bash
# The whole test suite: unit, vector, CLI and doc tests, plus the PKCS#11 tests against two
# independent modules, SoftHSM2 and Kryoptic, on tokens the tests create in temporary
# directories; the signing service, its client packages and the README's runnable blocks.
# Installs what is missing:
#   apt (as root): softhsm2, opensc, postgresql, curl, openssl
#   npm: the JS SDKs v7 and v8 (interop/, interop/v8/) and the JS client's build tools
#        (clients/js), each from its lock file
#   PyPI: the Python client's test and build dependencies (clients/python/requirements-dev.txt,
#         hashed) into a virtual environment; schemathesis (server/scripts/schemathesis.sh)
#   crates.io: Kryoptic, built once per machine (scripts/kryoptic.sh: a few minutes the first
#              time, cached afterwards); cargo-fuzz (scripts/fuzz-smoke.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v softhsm2-util >/dev/null 2>&1 || need_apt+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || need_apt+=(opensc)
# The service's store tests start Debian's PostgreSQL server themselves (initdb in a temporary
# directory, unix socket only).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# The README's runnable blocks (server/tests/readme.rs) call the service with curl and make
# certificates with openssl.
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "test-all: installing ${need_apt[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test-all: ${need_apt[*]} missing; run as root or: sudo apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
fi

# The Lit JS SDK 7.4.0 and friends, exact versions from interop/package-lock.json.
command -v npm >/dev/null 2>&1 || { echo "test-all: npm (Node.js 18+) is required for the interop tests" >&2; exit 1; }
(cd interop && npm ci --no-audit --no-fund --loglevel=error)
# The Lit JS SDK v8 (Naga: @lit-protocol/auth 8.2.3, networks 8.4.1), exact versions from
# interop/v8/package-lock.json.
(cd interop/v8 && npm ci --no-audit --no-fund --loglevel=error)

# The second PKCS#11 module; the tests find it through LIT_KRYOPTIC_MODULE.
LIT_KRYOPTIC_MODULE="$(time bash scripts/kryoptic.sh)"
export LIT_KRYOPTIC_MODULE

# Every token, database and dev-server directory the tests make goes under one scratch
# directory (a test process's tokens live as long as the process, so it cannot remove them
# itself). Removed after a passing run; kept, and named, after a failing one.
scratch="$(mktemp -d)"
# Run as root, the PostgreSQL tests hand their data directory to the postgres user, which must
# be able to pass through (each directory inside keeps its own mode).
chmod 711 "$scratch"
on_exit() {
  local status=$?
  if [ "$status" -eq 0 ]; then rm -rf "$scratch"; else echo "test-all: the tests' files are kept in $scratch" >&2; fi
}
trap on_exit EXIT
export TMPDIR="$scratch"

# The client packages (clients/js, clients/python): built, their generated types checked
# against server/openapi.yaml, packed; server/tests/clients.rs finds them through
# LIT_CLIENT_ARTIFACTS and runs their tests against live servers.
client_env="$(time bash scripts/client-packages.sh "$scratch/client-packages")"
eval "$client_env"

# The PKCS#11 and interop tests fail (rather than skip) when they cannot run.
export LIT_REQUIRE_HSM=1
export LIT_REQUIRE_PG=1
export LIT_REQUIRE_INTEROP=1
# The optional alloy adapter is compiled in, so its tests (against the SoftHSM2 wallet too) run
# in the same build.
time cargo test --release --features alloy
hsm_count() { cargo test -q --release --features alloy --test hsm -- --list 2>/dev/null | grep -c "::$1: test"; }
echo "test-all: hsm tests run on SoftHSM2: $(hsm_count softhsm2), on Kryoptic: $(hsm_count kryoptic)" >&2
# The signing service: real server processes with TLS certificates made in the test,
# a SoftHSM2 token; the client packages' own tests (node --test, pytest) against live servers,
# with the real JS SDKs, and their artifacts installed into clean directories
# (tests/clients.rs); the README's runnable shell blocks and command synopsis (tests/readme.rs);
# replicas on PostgreSQL and on one SQLite file, the database stopped, hung and failed over
# (tests/replicas.rs).
time cargo test --release -p lit-session-server
# The OpenAPI file against a live dev server (schemathesis from PyPI): no 5xx, nothing off-schema.
time bash server/scripts/schemathesis.sh
# Faults under load: signatures from 8 threads on a throwaway token while another thread logs
# out, closes the sessions, moves the token away (SoftHSM2 only: Kryoptic holds its file open)
# and swaps in a wrong PIN file; exits non-zero on any invalid or lost signature or a recovery
# over the bound. The counts give each module several rounds of every fault (Kryoptic signs
# faster: 100,000 signatures give it 18 rounds in about 11 s).
time cargo run --release --features alloy --example hsm-stress -- --module softhsm2 --signatures 50000 --gap-ms 150 --hold-ms 150
time cargo run --release --features alloy --example hsm-stress -- --module kryoptic --signatures 100000 --gap-ms 150 --hold-ms 150
# The command line without its optional backends (PKCS#11, HTTP).
time bash scripts/check-minimal-cli.sh
# Every cargo-fuzz target for a short bounded time (installs cargo-fuzz when missing).
time bash scripts/fuzz-smoke.sh
