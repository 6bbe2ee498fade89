#!/usr/bin/env bash
# Writes the committed seed inputs, fuzz/corpus/<target>/seed-*, from the repository's
# conformance vectors (tests/vectors) plus a few hand-written
# cases for inputs the vectors do not contain (PKCS#11 URIs, EC points). Re-run when the
# vectors change; libFuzzer's own additions to corpus/ are not committed (.gitignore).
set -euo pipefail
cd "$(dirname "$0")"
vectors=../tests/vectors
[ -d "$vectors" ] || { echo "seed.sh: no vectors at $vectors" >&2; exit 1; }
python3 - "$vectors" <<'PY'
import hashlib, json, os, re, sys

vectors = sys.argv[1]
out = {}

def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    out.setdefault(target, {})[hashlib.sha1(data).hexdigest()[:12]] = data

def cli(selector, text):
    add("cli_input", bytes([selector]) + text.encode())

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
def walk(v):
    if isinstance(v, dict):
        if isinstance(v.get("sig"), str) and isinstance(v.get("signedMessage"), str):
            add("session_sigs_json", json.dumps(v, separators=(",", ":")))
        if {"resourcePrefix", "ability"} <= v.keys() and "resourceId" in v:
            cli(3, f'{v["resourcePrefix"]}://{v["resourceId"]}={v["ability"]}')
        for k, x in v.items():
            if k == "sessionSigs" and isinstance(x, dict):
                add("session_sigs_json", json.dumps(x, separators=(",", ":")))
            if k in ("accs", "accessControlConditions", "nb", "data") and isinstance(x, (dict, list)):
                cli(1, json.dumps(x))
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
    elif isinstance(v, str):
        if v.startswith("urn:recap:"):
            add("recap_decode", v)
        if " wants you to sign in with your Ethereum account:\n" in v:
            add("siwe_round_trip", v)
            for line in v.split("\n"):
                if line.startswith("- urn:recap:"):
                    add("recap_decode", line[2:])
        if v.startswith("{\"sessionKey\""):
            try:
                inner = json.loads(v)
                for cap in inner.get("capabilities", []):
                    add("siwe_round_trip", cap.get("signedMessage", ""))
                cli(1, v)
            except ValueError:
                pass
        if TS.match(v):
            cli(2, v)
        if re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", v):
            cli(0, v + "\n")
        if re.fullmatch(r"0x[0-9a-fA-F]{40}", v):
            cli(5, v)
        if re.fullmatch(r"https?://[^/ ]+", v):
            cli(4, v)

for name in sorted(os.listdir(vectors)):
    if name.endswith(".json"):
        with open(os.path.join(vectors, name)) as f:
            walk(json.load(f))

# PKCS#11 URIs: RFC 7512's examples and the forms this project documents.
for uri in [
    "pkcs11:token=lit;object=session-1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
    "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=",
    "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
    "pkcs11:token=t?pin-source=env:LIT_PIN&x-vendor=1",
    "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft;library-version=1;slot-description=s;slot-manufacturer=m;id=%00%01",
    "pkcs11:token=a?module-name=softhsm2&pin-source=file:///run/pin",
]:
    add("pkcs11_uri", uri)

# EC points (first byte: an extra length to try): raw, DER OCTET STRING and BIT STRING, both curves.
ed = bytes(range(1, 33))
sec = b"\x04" + bytes(range(64))
for point in (ed, sec):
    n = len(point)
    for value in (point, bytes([4, n]) + point, bytes([3, n + 1, 0]) + point, bytes([4, 0x81, n]) + point):
        add("ec_point", bytes([n]) + value)

# Inline-secret refusal checks (selector 6).
for s in ["4242424242424242424242424242424242424242424242424242424242424242", "1234", "/run/pin", "pkcs11:token=a"]:
    cli(6, s)

# Inputs that once failed (kept as seeds so every run re-checks them).
add("cli_input", bytes([0xc5]) + b"424422464242422246422464242422424424226422464242422246422464242422424424224242424424224242")
add("pkcs11_uri", "//uifi")
add("pkcs11_uri", "pkcs11:?pin-source=file:////uifi")
cli(2, "9999-12-31T23:59:59-01:00")
cli(3, "lit-pkp://0x=pkp-signing")
cli(3, "lit-pkp://0x0xalias=pkp-signing")

# The structured target reads mutation choices, not text: a few byte patterns to start from.
for i, pattern in enumerate([b"\x00" * 64, b"\xff" * 64, bytes(range(256)), b"\x01\x02\x03\x04" * 32]):
    add("session_sigs_mutate", pattern)

for target, items in sorted(out.items()):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        if old.startswith("seed-"):
            os.remove(os.path.join(d, old))
    for digest, data in sorted(items.items()):
        with open(os.path.join(d, "seed-" + digest), "wb") as f:
            f.write(data)
    print(f"{target}: {len(items)} seeds, {sum(map(len, items.values()))} bytes")
PY
