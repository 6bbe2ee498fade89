"""The live servers the tests run against (server/tests/clients.rs makes them and passes this
file in LIT_CLIENT_FIXTURE), the restartable server's life cycle, the `lit-session verify` check,
and everything the client logged or raised, for the no-secret test."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

if not os.environ.get("LIT_CLIENT_FIXTURE"):
    raise RuntimeError(
        "LIT_CLIENT_FIXTURE is not set: run these tests through server/tests/clients.rs "
        "(cargo test -p lit-session-server --test clients)"
    )
FIXTURE: Dict[str, Any] = json.loads(Path(os.environ["LIT_CLIENT_FIXTURE"]).read_text())

PKP = [{"resource": {"resource": "*", "resourcePrefix": "lit-pkp"}, "ability": "pkp-signing"}]
ACTION = [{"resource": {"resource": "*", "resourcePrefix": "lit-litaction"}, "ability": "lit-action-execution"}]
NONCE = "0x" + "3a9c4f1e8b7d6a5c" * 4
NODES = ["https://127.0.0.1:7470", "https://127.0.0.1:7471", "https://127.0.0.1:7472"]

SEEN: List[str] = []
"""Every log record of the client and every error a test saw."""


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        SEEN.append(self.format(record))


_handler = _Keep(level=logging.DEBUG)
logging.getLogger("lit_session_client").addHandler(_handler)
logging.getLogger("lit_session_client").setLevel(logging.DEBUG)
# httpx and httpcore log requests at DEBUG: collect those lines too.
for name in ("httpx", "httpcore"):
    logging.getLogger(name).addHandler(_handler)
    logging.getLogger(name).setLevel(logging.DEBUG)


def remember(error: BaseException) -> BaseException:
    import traceback

    SEEN.append(str(error))
    SEEN.append(repr(error))
    SEEN.append("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    return error


def secrets_in(texts: List[str]) -> List[str]:
    return [f"a secret in text {i}" for s in FIXTURE["secrets"] for i, t in enumerate(texts) if s in t]


def verify_with_cli(session_sigs: Dict[str, Any], network: str = "datil", resource: str = "lit-pkp://*=pkp-signing") -> List[str]:
    """`lit-session verify` for every node of the map; each node's verdict line."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "session-sigs.json"
        path.write_text(json.dumps(session_sigs))
        out = []
        for node in session_sigs:
            r = subprocess.run(
                [FIXTURE["litSession"], "verify", "--session-sigs", str(path), "--node", node, "--resource", resource, "--network", network],
                capture_output=True,
                text=True,
            )
            out.append((r.stdout + r.stderr).strip())
        return out


class Restartable:
    """The server the tests stop, restart and take the HSM token from."""

    def __init__(self) -> None:
        self.conf = FIXTURE["restartable"]
        self.url: str = self.conf["url"]
        self.lines: List[str] = []
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        env = {**os.environ, **{k: str(v) for k, v in self.conf["env"].items()}}
        self.proc = subprocess.Popen(
            [str(a) for a in self.conf["argv"]], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        started = threading.Event()
        proc = self.proc

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("lit-session-server: listening on "):
                    started.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 30
        while not started.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start:\n" + self.log())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def park_token(self) -> None:
        os.rename(self.conf["hsmTokenDir"], self.conf["hsmParkedDir"])

    def park_token_until_not_ready(self, client) -> None:
        """Parks the token and waits until the service has seen it gone: SoftHSM2 keeps serving
        from its cached objects until a new session or a search looks at the token again, so a
        few concurrent requests (which open pool sessions) go in until readiness turns false."""
        from concurrent.futures import ThreadPoolExecutor

        from lit_session_client import SignerClient, SignerError

        self.park_token()
        body = {"nodeUrls": NODES, "resourceAbilityRequests": PKP, "nonce": NONCE}
        until = time.monotonic() + 30
        with SignerClient(self.url, token_file=self.conf["tokenFile"], retry=False) as load:
            while client.ready()["status"] != "not-ready":
                if time.monotonic() > until:
                    raise RuntimeError("readiness stayed true with the token gone")

                def one(_: int) -> None:
                    try:
                        load.session_sigs(body, deadline=10)
                    except SignerError:
                        pass

                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(one, range(8)))

    def restore_token(self) -> None:
        os.rename(self.conf["hsmParkedDir"], self.conf["hsmTokenDir"])

    def restore_token_if_parked(self) -> None:
        if os.path.exists(self.conf["hsmParkedDir"]):
            self.restore_token()

    def log(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="session")
def restartable():
    server = Restartable()
    server.start()
    yield server
    server.stop()
