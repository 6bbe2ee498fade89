#!/usr/bin/env bash
# The command line built without its optional backends (no PKCS#11, no HTTP): it still mints
# with in-memory keys, and a flag or subcommand whose backend is compiled out exits 2 with a
# message naming the missing feature.
set -euo pipefail
cd "$(dirname "$0")/.."
target=target/minimal-cli
cargo build -q --bin lit-session --no-default-features --features cli --target-dir "$target"
bin="$target/debug/lit-session"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
umask 077 # key files readable by other users are refused
echo 0x3333333333333333333333333333333333333333333333333333333333333333 > "$dir/wallet.key"
mint=(session-sigs --wallet-key-file "$dir/wallet.key" --node https://127.0.0.1:7470
      --resource 'lit-pkp://*=pkp-signing' --nonce 0x3a9c4f1e8b7d6a5c)
out=$("$bin" "${mint[@]}" 2>&1) || { echo "check-minimal-cli: the in-memory mint failed: $out" >&2; exit 1; }
grep -q '"derivedVia":"litSessionSignViaNacl"' <<<"$out" ||
  { echo "check-minimal-cli: the in-memory mint printed no session signatures: $out" >&2; exit 1; }

refused() { # expected-feature, then the command line
  local feature=$1; shift
  local status=0 err
  err=$("$bin" "$@" 2>&1 >/dev/null) || status=$?
  if [ "$status" -ne 2 ] || ! grep -q "without the \`$feature\` feature" <<<"$err"; then
    echo "check-minimal-cli: '$*' gave exit $status: $err" >&2
    exit 1
  fi
}
refused pkcs11 keys list --pkcs11-uri 'pkcs11:token=x'
refused pkcs11 wallet generate --pkcs11-uri 'pkcs11:token=x' --label w
refused pkcs11 wallet address --pkcs11-uri 'pkcs11:token=x'
refused pkcs11 "${mint[@]}" --session-key 'pkcs11:token=x'
refused http pkp-session-sigs --node https://127.0.0.1:7470
echo "check-minimal-cli: the CLI without pkcs11/http mints in memory and names the missing features"
