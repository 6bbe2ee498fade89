"""The client against live servers: the dev server (bearer token), the mTLS server with a policy
that denies Lit Actions, and a server on a SoftHSM2 session key that these tests restart and take
the token from. Sync and asyncio clients alike."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import pytest

from conftest import ACTION, FIXTURE, NODES, NONCE, PKP, SEEN, remember, secrets_in, verify_with_cli
from lit_session_client import AsyncSignerClient, ClientProblem, SignerClient, SignerError

DEV = dict(url=FIXTURE["dev"]["url"], token_file=FIXTURE["dev"]["tokenFile"])
MTLS = FIXTURE["mtls"]
TLS = {"cert": MTLS["cert"], "key": MTLS["key"], "ca": MTLS["ca"]}


def request(resources=PKP, **extra):
    return {"nodeUrls": NODES, "resourceAbilityRequests": resources, "nonce": NONCE, **extra}


def raises(fn) -> SignerError:
    with pytest.raises(SignerError) as info:
        fn()
    remember(info.value)
    return info.value


def test_dev_server_v7_map_that_lit_session_verify_accepts_for_every_node():
    with SignerClient(DEV["url"], token_file=DEV["token_file"]) as signer:
        answer = signer.session_sigs_response(request())
        assert list(answer["sessionSigs"]) == NODES
        assert verify_with_cli(answer["sessionSigs"]) == ["valid"] * 3
        default = next(s for s in signer.keys()["signers"] if s["default"])
        assert answer["sessionKey"] == default["sessionKey"]
        for sig in answer["sessionSigs"].values():
            assert sorted(sig) == ["address", "algo", "derivedVia", "sig", "signedMessage"]
        assert list(signer.session_sigs(request())) == NODES


def test_dev_server_v8_map_that_naga_nodes_accept():
    with SignerClient(DEV["url"], token_file=DEV["token_file"]) as signer:
        sigs = signer.session_sigs(
            request(format="v8", nodePrices={NODES[0]: "300", NODES[1]: 100, NODES[2]: "0xc8"}, threshold=2, userMaxPrice="1000")
        )
    assert list(sigs) == [NODES[1], NODES[2]]
    assert [int(json.loads(s["signedMessage"])["maxPrice"], 16) for s in sigs.values()] == [450, 550]
    assert verify_with_cli(sigs, network="naga") == ["valid", "valid"]


def test_every_call_sends_a_correlation_id():
    with SignerClient(DEV["url"], token_file=DEV["token_file"]) as signer:
        assert signer.session_sigs_response(request(), correlation_id="py-test:1")["requestId"] == "py-test:1"
        generated = signer.session_sigs_response(request())["requestId"]
        assert re.fullmatch(r"lsc-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", generated)
        with pytest.raises(ValueError):
            signer.keys(correlation_id="no spaces")


def test_verify_evaluate_keys_ready_and_delegations():
    with SignerClient(DEV["url"], token_file=DEV["token_file"]) as signer:
        sigs = signer.session_sigs(request())
        checked = signer.verify({"sessionSigs": sigs, "resourceAbilityRequests": PKP, "strict": True})
        assert checked["valid"] and len(checked["results"]) == 3
        evaluation = signer.evaluate_policy(request())
        assert (evaluation["decision"], evaluation["rule"]) == ("approved", "dev-allow-all")
        ready = signer.ready()
        assert ready["status"] == "ready"
        assert sorted(c["id"] for c in ready["checks"]) == ["audit", "hsm", "policy", "store"]
        capacity = signer.capacity_delegation({"nonce": NONCE, "capacityTokenId": "7", "uses": 10, "delegateeAddresses": ["0x" + "11" * 20]})
        assert "lit-ratelimitincrease://7" in capacity["capacityDelegationAuthSig"]["signedMessage"]
        payment = signer.payment_delegation(
            {"nonce": NONCE, "delegateeAddresses": ["0x" + "22" * 20], "maxPrice": "1000000", "scopes": ["pkp_sign"]}
        )
        assert payment["paymentDelegationAuthSig"]["derivedVia"] == "web3.eth.personal.sign"


def test_mtls_approves_pkp_signing_and_a_denial_names_its_rule():
    with SignerClient(MTLS["url"], tls=TLS) as signer:
        assert verify_with_cli(signer.session_sigs(request())) == ["valid"] * 3
        denied = raises(lambda: signer.session_sigs(request(ACTION), correlation_id="py-denied-1"))
        assert denied.status == 403
        assert denied.type == "https://lit-session-signer.dev/problems/denied"
        assert denied.slug == "denied"
        assert denied.rule == MTLS["deniedRule"]
        assert denied.request_id == "py-denied-1"
        assert denied.attempts == 1
        assert denied.reasons
        assert re.search(r"HTTP 403 denied: .*\(rule no-lit-actions\) \[request py-denied-1\]", str(denied))
        dry = signer.evaluate_policy(request(ACTION))
        assert (dry["decision"], dry["rule"]) == ("denied", MTLS["deniedRule"])


def test_mtls_asyncio_client_the_same():
    async def run() -> SignerError:
        async with AsyncSignerClient(MTLS["url"], tls=TLS) as signer:
            sigs = await signer.session_sigs(request())
            assert list(sigs) == NODES
            try:
                await signer.session_sigs(request(ACTION))
            except SignerError as e:
                return e
            raise AssertionError("not denied")

    denied = remember(asyncio.run(run()))
    assert (denied.status, denied.slug, denied.rule) == (403, "denied", MTLS["deniedRule"])


def test_mtls_without_a_client_certificate_is_a_network_error_not_retried():
    with SignerClient(MTLS["url"], tls={"ca": MTLS["ca"]}, retry=False) as anonymous:
        e = raises(anonymous.keys)
    assert (e.type, e.status, e.attempts) == (ClientProblem.NETWORK, 0, 1)


def test_a_wrong_token_is_401_and_nothing_shows_it():
    wrong_token = "py-wrong-token-0123456789abcdef"
    with SignerClient(DEV["url"], token=wrong_token) as wrong:
        e = raises(wrong.keys)
        shown = [str(e), repr(e), repr(wrong), str(wrong), e.detail]
    assert (e.status, e.slug) == (401, "unauthenticated")
    assert not any(wrong_token in t for t in shown)
    with pytest.raises(ValueError, match="in clear"):
        SignerClient("http://192.0.2.1:8470", token="x")


def test_503_hsm_unavailable_is_retried_until_the_token_is_back(restartable, caplog):
    with SignerClient(restartable.url, token_file=restartable.conf["tokenFile"], deadline=30) as app:
        app.session_sigs(request())
        restore = threading.Timer(2.5, restartable.restore_token)
        try:
            restartable.park_token_until_not_ready(app)
            restore.start()
            with caplog.at_level("INFO", logger="lit_session_client"):
                sigs = app.session_sigs(request())
        finally:
            if restore.is_alive():
                restore.join()
            restartable.restore_token_if_parked()
    assert verify_with_cli(sigs) == ["valid"] * 3
    assert any(re.search(r"attempt \d+ failed: HTTP 503 hsm-unavailable", r.getMessage()) for r in caplog.records), caplog.text


def test_a_deadline_ends_the_retry_loop_with_the_last_503(restartable):
    with SignerClient(restartable.url, token_file=restartable.conf["tokenFile"]) as app:
        try:
            restartable.park_token_until_not_ready(app)
            started = time.monotonic()
            e = raises(lambda: app.session_sigs(request(), deadline=5))
        finally:
            restartable.restore_token_if_parked()
    took = time.monotonic() - started
    assert e.type == ClientProblem.DEADLINE_EXCEEDED
    assert took < 7.5, took
    assert e.attempts >= 2 and e.status == 503
    assert isinstance(e.__cause__, SignerError) and e.__cause__.slug == "hsm-unavailable"
    assert re.search(r"gave up after \d+ ms and \d+ attempts; last: HTTP 503 hsm-unavailable", str(e))


def test_the_server_restarted_under_the_asyncio_client(restartable, caplog):
    async def run():
        async with AsyncSignerClient(restartable.url, token_file=restartable.conf["tokenFile"], deadline=30) as app:
            await app.session_sigs(request())
            restartable.stop()
            pending = asyncio.ensure_future(app.session_sigs(request()))
            await asyncio.sleep(1)
            await asyncio.get_running_loop().run_in_executor(None, restartable.start)
            return await pending

    with caplog.at_level("INFO", logger="lit_session_client"):
        sigs = asyncio.run(run())
    assert verify_with_cli(sigs) == ["valid"] * 3
    assert any(re.search(r"attempt \d+ failed: network: ConnectError", r.getMessage()) for r in caplog.records), caplog.text


def test_429_from_the_rate_limit_is_retried(restartable, caplog):
    with caplog.at_level("INFO", logger="lit_session_client"):
        with SignerClient(restartable.url, token_file=restartable.conf["limitedTokenFile"], deadline=10) as limited:
            for _ in range(3):
                limited.session_sigs(request())
    assert any(
        re.search(r"attempt \d+ failed: HTTP 429 rate-limited: .*\(rule rate-limit\)", r.getMessage()) for r in caplog.records
    ), caplog.text


def test_zz_no_token_or_pin_in_any_error_or_log_line(restartable):
    restartable.stop()
    assert len(SEEN) > 10
    assert secrets_in(SEEN + [restartable.log()]) == []
    assert any("[request lsc-" in line for line in SEEN)
