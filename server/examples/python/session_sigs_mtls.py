#!/usr/bin/env python3
"""Gets a sessionSigs map from lit-session-server over mutual TLS, with the standard library only.

usage:
  LITSIGNER_URL=https://signer.internal:8470 \
  LITSIGNER_CA=ca.pem LITSIGNER_CERT=client.pem LITSIGNER_KEY=client.key \
  python3 session_sigs_mtls.py https://node-1:443 https://node-2:443

The client certificate names the client (its first DNS or URI subject alternative name, else its
CN); the server's policy decides what that client may ask for. The map goes unchanged to a Lit
node (or to the JS SDK through the polyglot bridge). It prints the map as JSON on stdout.
"""

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request


def main() -> int:
    url = os.environ.get("LITSIGNER_URL", "https://127.0.0.1:8470")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(os.environ["LITSIGNER_CA"])
    ctx.load_cert_chain(os.environ["LITSIGNER_CERT"], os.environ["LITSIGNER_KEY"])
    nodes = sys.argv[1:] or ["https://127.0.0.1:7470"]
    body = {
        "nodeUrls": nodes,
        "resourceAbilityRequests": [
            {"resource": {"resource": "*", "resourcePrefix": "lit-pkp"}, "ability": "pkp-signing"}
        ],
        # A recent block hash in real use (the SDK's getLatestBlockhash()).
        "nonce": os.environ.get("LITSIGNER_NONCE", "0x" + "ab" * 32),
        "expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600)),
    }
    request = urllib.request.Request(
        f"{url}/v1/session-sigs",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-correlation-id": f"py-{int(time.time())}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=30) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as e:
        problem = json.load(e)
        print(f"error: HTTP {e.code}: {problem.get('type')}: {problem.get('detail')}", file=sys.stderr)
        return 1
    print(
        f"{len(answer['sessionSigs'])} session sigs, session key {answer['sessionKey']}, "
        f"expires {answer['expiration']}, AuthSig {answer['authSig']['use']}",
        file=sys.stderr,
    )
    json.dump(answer["sessionSigs"], sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
