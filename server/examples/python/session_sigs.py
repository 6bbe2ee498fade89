import json, os
from lit_session_client import SignerClient

with SignerClient(os.environ["LITSIGNER_URL"], token_file=os.environ["LITSIGNER_TOKEN_FILE"]) as signer:
    session_sigs = signer.session_sigs({
        "nodeUrls": ["https://127.0.0.1:7470", "https://127.0.0.1:7471"],
        "resourceAbilityRequests": [{"resource": {"resource": "*", "resourcePrefix": "lit-pkp"}, "ability": "pkp-signing"}],
        "nonce": "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c",  # a recent block hash
    })
print(json.dumps(session_sigs))
