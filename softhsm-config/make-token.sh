#!/usr/bin/env bash
# Creates a throwaway SoftHSM2 token in a temporary directory and prints the environment for it.
#
#   eval "$(softhsm-config/make-token.sh [LABEL])"
#
# Prints (on stdout, for eval):
#   export SOFTHSM2_CONF=...        the generated config (tokendir in a fresh temp directory)
#   export LIT_PKCS11_MODULE=...    path of libsofthsm2.so
#   export LIT_PKCS11_PIN_FILE=...  the user PIN, in a 0600 file (never on the command line of
#                                   the program under test)
#   export LIT_PKCS11_TOKEN=...     the token label
# Installs softhsm2 with apt-get when running as root and softhsm2-util is missing.
# Everything else goes to stderr.
set -euo pipefail

LABEL="${1:-lit-test}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE="$HERE/softhsm2.conf.in"

log() { printf '%s\n' "$*" >&2; }

if ! command -v softhsm2-util >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "softhsm2-util not found; installing softhsm2 with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq softhsm2 >&2
    else
        log "error: softhsm2-util not found; install softhsm2 (Debian: apt-get install softhsm2)"
        exit 1
    fi
fi

MODULE=""
for candidate in /usr/lib/softhsm/libsofthsm2.so \
                 /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
                 /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so \
                 /usr/local/lib/softhsm/libsofthsm2.so; do
    if [ -f "$candidate" ]; then MODULE="$candidate"; break; fi
done
if [ -z "$MODULE" ]; then
    log "error: libsofthsm2.so not found"
    exit 1
fi

umask 077
DIR="$(mktemp -d "${TMPDIR:-/tmp}/lit-softhsm.XXXXXX")"
mkdir -p "$DIR/tokens"
sed "s|@TOKENDIR@|$DIR/tokens|" "$TEMPLATE" > "$DIR/softhsm2.conf"

# Random PINs: this token is throwaway, but nobody should be able to guess them either.
rand_pin() { od -An -N8 -tu8 /dev/urandom | tr -d ' \n' | cut -c1-12; }
USER_PIN="$(rand_pin)"
SO_PIN="$(rand_pin)"

PIN_FILE="$DIR/user.pin"
printf '%s\n' "$USER_PIN" > "$PIN_FILE"
chmod 600 "$PIN_FILE"

# The PINs appear on softhsm2-util's argv for a moment; acceptable for a throwaway test
# token (softhsm2-util has no other non-interactive way to set them).
SOFTHSM2_CONF="$DIR/softhsm2.conf" softhsm2-util --init-token --free --label "$LABEL" \
    --so-pin "$SO_PIN" --pin "$USER_PIN" >&2

log "created SoftHSM2 token '$LABEL' in $DIR"
printf 'export SOFTHSM2_CONF=%q\n' "$DIR/softhsm2.conf"
printf 'export LIT_PKCS11_MODULE=%q\n' "$MODULE"
printf 'export LIT_PKCS11_PIN_FILE=%q\n' "$PIN_FILE"
printf 'export LIT_PKCS11_TOKEN=%q\n' "$LABEL"
