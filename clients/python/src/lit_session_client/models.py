"""The service's request and response types, generated from server/openapi.yaml by
tools/gen_models.py. Do not edit: change the contract and run `python tools/gen_models.py`."""

# ruff: noqa
from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from typing_extensions import Literal, NotRequired, TypedDict

Price = Union[str, int]


class Problem(TypedDict):
    type: Literal['https://lit-session-signer.dev/problems/malformed-json', 'https://lit-session-signer.dev/problems/invalid-request', 'https://lit-session-signer.dev/problems/invalid-resource', 'https://lit-session-signer.dev/problems/unsupported-format', 'https://lit-session-signer.dev/problems/format-mismatch', 'https://lit-session-signer.dev/problems/invalid-price', 'https://lit-session-signer.dev/problems/max-price-too-low', 'https://lit-session-signer.dev/problems/unauthenticated', 'https://lit-session-signer.dev/problems/token-in-query', 'https://lit-session-signer.dev/problems/denied', 'https://lit-session-signer.dev/problems/not-found', 'https://lit-session-signer.dev/problems/unknown-signer', 'https://lit-session-signer.dev/problems/method-not-allowed', 'https://lit-session-signer.dev/problems/request-timeout', 'https://lit-session-signer.dev/problems/reload-in-progress', 'https://lit-session-signer.dev/problems/not-rotating', 'https://lit-session-signer.dev/problems/rotation-in-progress', 'https://lit-session-signer.dev/problems/body-too-large', 'https://lit-session-signer.dev/problems/unsupported-media-type', 'https://lit-session-signer.dev/problems/policy-invalid', 'https://lit-session-signer.dev/problems/rate-limited', 'https://lit-session-signer.dev/problems/hsm-unavailable', 'https://lit-session-signer.dev/problems/store-unavailable', 'https://lit-session-signer.dev/problems/store-busy', 'https://lit-session-signer.dev/problems/audit-unavailable', 'https://lit-session-signer.dev/problems/signer-unavailable', 'https://lit-session-signer.dev/problems/timeout', 'https://lit-session-signer.dev/problems/shutting-down', 'https://lit-session-signer.dev/problems/internal']
    title: str
    status: int
    detail: str
    requestId: NotRequired[str]
    decision: NotRequired[Literal['denied']]
    rule: NotRequired[str]
    reasons: NotRequired[List[str]]
    errors: NotRequired[List[str]]


class Resource(TypedDict):
    """What JSON.stringify makes of the SDK's resource classes (LitPKPResource, …)."""
    resource: str
    resourcePrefix: Literal['lit-accesscontrolcondition', 'lit-pkp', 'lit-litaction', 'lit-ratelimitincrease', 'lit-paymentdelegation']


class ResourceAbilityRequest(TypedDict):
    resource: Resource
    ability: Literal['access-control-condition-decryption', 'access-control-condition-signing', 'pkp-signing', 'lit-action-execution', 'rate-limit-increase-auth', 'lit-payment-delegation']
    data: NotRequired[Dict[str, Any]]


class AuthSigJson(TypedDict):
    sig: str
    derivedVia: str
    signedMessage: str
    address: str
    algo: NotRequired[str]


class SessionSigsRequest(TypedDict):
    nodeUrls: List[str]
    resourceAbilityRequests: List[ResourceAbilityRequest]
    expiration: NotRequired[str]
    nonce: str
    capabilityAuthSigs: NotRequired[List[AuthSigJson]]
    domain: NotRequired[str]
    statement: NotRequired[str]
    chainId: NotRequired[int]
    signer: NotRequired[str]
    format: NotRequired[Literal['v7', 'v8']]
    nodePrices: NotRequired[Dict[str, Price]]
    threshold: NotRequired[int]
    userMaxPrice: NotRequired[Price]


class SessionSigsResponseSessionSigsValue(TypedDict):
    sig: str
    derivedVia: Literal['litSessionSignViaNacl']
    signedMessage: str
    address: str
    algo: Literal['ed25519']


class SessionSigsResponseAuthSig(TypedDict):
    use: Literal['reused', 'signed', 'waited']
    address: str
    expiration: str


class SessionSigsResponsePolicyClamped(TypedDict):
    requested: NotRequired[str]
    maxLifetimeSeconds: NotRequired[int]


class SessionSigsResponsePolicy(TypedDict):
    rule: str
    clamped: Optional[SessionSigsResponsePolicyClamped]
    reasons: List[str]


class SessionSigsResponse(TypedDict):
    sessionSigs: Dict[str, SessionSigsResponseSessionSigsValue]
    sessionKey: str
    expiration: str
    authSig: SessionSigsResponseAuthSig
    requestId: str
    policy: SessionSigsResponsePolicy


class EvaluationClamped(TypedDict):
    requested: NotRequired[str]
    maxLifetimeSeconds: NotRequired[int]


class Evaluation(TypedDict):
    decision: Literal['approved', 'denied']
    rule: str
    reasons: List[str]
    expiration: NotRequired[Optional[str]]
    clamped: NotRequired[Optional[EvaluationClamped]]
    requestId: str


class VerifyRequest(TypedDict):
    sessionSigs: Dict[str, Any]
    resourceAbilityRequests: List[ResourceAbilityRequest]
    nodeUrls: NotRequired[List[str]]
    strict: NotRequired[bool]
    now: NotRequired[str]
    network: NotRequired[Literal['datil', 'naga']]
    route: NotRequired[Literal['v1', 'unversioned']]
    nodePrice: NotRequired[Union[str, int]]


class VerifyResponseResultsItem(TypedDict):
    nodeUrl: str
    resource: str
    valid: bool
    error: NotRequired[str]
    rule: NotRequired[str]
    nodeFunction: NotRequired[str]
    viaFallback: NotRequired[bool]


class VerifyResponse(TypedDict):
    valid: bool
    results: List[VerifyResponseResultsItem]
    requestId: str


class KeysResponseSignersItem(TypedDict):
    name: str
    sessionKey: str
    sessionKeyBackend: Literal['memory', 'pkcs11']
    walletAddress: str
    walletBackend: Literal['memory', 'pkcs11']
    default: bool
    rotation: NotRequired[KeyRotation]


class KeysResponseAuditKey(TypedDict):
    """The ed25519 key that signs audit checkpoints (when configured); `audit verify` checks them against it."""
    publicKey: str
    backend: Literal['memory', 'pkcs11']


class KeysResponse(TypedDict):
    signers: List[KeysResponseSignersItem]
    auditKey: NotRequired[KeysResponseAuditKey]
    requestId: str


class KeyRotation(TypedDict):
    """A profile whose session keys rotate across the fleet: its key family as this replica
last read it from the store (once per health interval)."""
    family: str
    rotateAfterSeconds: NotRequired[Optional[int]]
    overlapSeconds: int
    current: NotRequired[Optional[int]]
    asOf: str
    keys: List[SessionKeyGeneration]


class SessionKeyGeneration(TypedDict):
    generation: int
    label: str
    publicKey: str
    state: Literal['generated', 'active', 'retired', 'destroyed']
    createdAt: str
    activatesAt: str
    retiredAt: NotRequired[Optional[str]]
    destroyAfter: NotRequired[Optional[str]]
    destroyedAt: NotRequired[Optional[str]]
    revoked: bool


class RotateRequest(TypedDict):
    signer: NotRequired[str]
    revoke: NotRequired[bool]


class RotateResponse(TypedDict):
    signer: str
    revoked: bool
    previous: NotRequired[Optional[SessionKeyGeneration]]
    next: NotRequired[Optional[SessionKeyGeneration]]
    requestId: str


class CapacityRequest(TypedDict):
    nonce: str
    signer: NotRequired[str]
    capacityTokenId: NotRequired[str]
    delegateeAddresses: NotRequired[List[str]]
    uses: NotRequired[Union[int, str]]
    expiration: NotRequired[str]
    domain: NotRequired[str]
    statement: NotRequired[str]


class PaymentRequest(TypedDict):
    nonce: str
    signer: NotRequired[str]
    delegateeAddresses: List[str]
    maxPrice: Price
    scopes: List[Literal['encryption_sign', 'lit_action', 'pkp_sign', 'sign_session_key']]
    expiration: NotRequired[str]
    domain: NotRequired[str]
    statement: NotRequired[str]


class PaymentResponse(TypedDict):
    paymentDelegationAuthSig: AuthSigJson
    expiration: NotRequired[Optional[str]]
    clamped: NotRequired[Optional[Dict[str, Any]]]
    requestId: str


class CapacityResponse(TypedDict):
    capacityDelegationAuthSig: AuthSigJson
    expiration: NotRequired[Optional[str]]
    clamped: NotRequired[Optional[Dict[str, Any]]]
    requestId: str


class ReadinessChecksItem(TypedDict):
    id: Literal['hsm', 'store', 'policy', 'audit']
    status: Literal['ok', 'degraded', 'down']
    detail: NotRequired[str]


class Readiness(TypedDict):
    status: Literal['ready', 'not-ready']
    checks: List[ReadinessChecksItem]
