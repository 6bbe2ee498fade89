#!/usr/bin/env bash
# Builds Kryoptic, the second PKCS#11 module the tests run on, once per machine, and prints the
# path of its module. Kryoptic is a soft token written in Rust on OpenSSL; its Ed25519 needs
# OpenSSL >= 3.2 while Debian 12 ships 3.0, so it is linked against a static libcrypto built from
# the OpenSSL sources that crates.io's `openssl-src` carries. Everything comes from crates.io at
# pinned versions; nothing is kept in the repository.
#
# usage: scripts/kryoptic.sh            # prints /path/to/libkryoptic_pkcs11.so
# cache: $LIT_KRYOPTIC_CACHE (default ~/.cache/lit-session-signer/kryoptic-<version>); delete it
#        to rebuild. Installs build-essential, perl, pkg-config, libclang-dev and libsqlite3-dev
#        with apt when run as root and they are missing.
set -euo pipefail
KRYOPTIC_VERSION=1.5.4
OPENSSL_SRC_VERSION=300.6.1   # OpenSSL 3.6.x
cache="${LIT_KRYOPTIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lit-session-signer/kryoptic-$KRYOPTIC_VERSION}"
module="$cache/libkryoptic_pkcs11.so"
if [ -f "$module" ]; then
  echo "$module"
  exit 0
fi

missing=()
for pkg in build-essential perl pkg-config libclang-dev libsqlite3-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "kryoptic.sh: ${missing[*]} missing; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "kryoptic.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "kryoptic.sh: building Kryoptic $KRYOPTIC_VERSION with static OpenSSL (a few minutes, once per machine)" >&2
# The build tools' chatter goes to a log, shown only when a step fails.
log="$work/build.log"
step() {
  "$@" >>"$log" 2>&1 || {
    echo "kryoptic.sh: failed: $*; the end of its output:" >&2
    tail -n 40 "$log" >&2
    exit 1
  }
}

# 1. The sources, through cargo's own registry cache.
mkdir -p "$work/fetch/src"
cat > "$work/fetch/Cargo.toml" <<TOML
[package]
name = "kryoptic-fetch"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
kryoptic = "=$KRYOPTIC_VERSION"
openssl-src = "=$OPENSSL_SRC_VERSION"
TOML
echo 'fn main() {}' > "$work/fetch/src/main.rs"
(cd "$work/fetch" && cargo fetch -q)
dir_of() {
  (cd "$work/fetch" && cargo metadata --format-version 1 -q) |
    python3 -c 'import json, os, sys; d = json.load(sys.stdin); print(os.path.dirname([p["manifest_path"] for p in d["packages"] if p["name"] == sys.argv[1]][0]))' "$1"
}
cp -r "$(dir_of kryoptic)" "$work/kryoptic"
cp -r "$(dir_of openssl-src)/openssl" "$work/openssl"

# 2. A static libcrypto.a. Kryoptic's build script would configure OpenSSL itself, but the
#    trimmed source tree in openssl-src lacks files its shared build needs; it skips its own
#    build when libcrypto.a exists.
cd "$work/openssl"
printf 'OSSL_provider_init                     1\t*\tEXIST::FUNCTION:\n' > util/providers.num
step ./Configure no-shared no-module no-deprecated no-aria no-argon2 no-atexit no-des no-dsa \
  no-cast no-mdc2 no-ec2m no-rc2 no-rc4 no-rc5 no-rmd160 no-seed no-sm2 no-sm3 no-sm4 \
  no-docs no-tests enable-ec_nistp_64_gcc_128
step make -j"$(nproc)" build_generated
step make -j"$(nproc)" libcrypto.a

# 3. The module, without the "dynamic" feature so it links that libcrypto.a.
cd "$work/kryoptic"
step env KRYOPTIC_OPENSSL_SOURCES="$work/openssl" CARGO_TARGET_DIR="$work/target" \
  cargo build --release --no-default-features --features kryoptic-lib/standard,ossl/ossl-sys
mkdir -p "$cache"
cp "$work/target/release/libkryoptic_pkcs11.so" "$module.tmp"
mv "$module.tmp" "$module"
echo "kryoptic.sh: built in $(( $(date +%s) - start )) s" >&2
echo "$module"
