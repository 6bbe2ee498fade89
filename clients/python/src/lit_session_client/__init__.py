"""Client for lit-session-server: Lit Protocol session signatures from an HSM-held session key,
typed from the service's OpenAPI contract, as the Lit JS SDK's ``SessionSigsMap``.

>>> from lit_session_client import SignerClient
>>> signer = SignerClient("http://127.0.0.1:8470", token_file="token")  # doctest: +SKIP
"""

from ._client import AsyncSignerClient, SessionSig, SessionSigsMap, SignerClient, TlsFiles
from ._errors import ClientProblem, SignerError
from ._retry import Retry
from . import models

__all__ = [
    "AsyncSignerClient",
    "ClientProblem",
    "Retry",
    "SessionSig",
    "SessionSigsMap",
    "SignerClient",
    "SignerError",
    "TlsFiles",
    "models",
]
__version__ = "0.1.0"
