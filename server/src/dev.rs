//! Dev mode (`--dev`): no file at all. In-memory session key and wallet, a temporary SQLite
//! store, a policy that lets the `dev` client do everything, and a fresh bearer token printed
//! once on stderr. Loopback only, and loudly not for production.
//!
//! Sessions last at most one hour and the AuthSig 24 hours, so one wallet signature serves
//! every request for 23 hours (an AuthSig is reused only while it outlives the session asked for).
//! Both formats are allowed; v8 sessions up to the SDK's default maximum price.

/// The dev client's name.
pub const DEV_CLIENT: &str = "dev";

/// The banner printed on stderr at start.
pub const BANNER: &str = "\
==========================================================================
  lit-session-server DEV MODE -- NOT FOR PRODUCTION
  in-memory session key and wallet, a temporary store, an allow-all policy
  for the client \"dev\"; everything is lost when the process exits.
==========================================================================";

/// The dev policy: the `dev` client may call every endpoint for any resource, node and signer.
pub const POLICY: &str = r#"
version = 1

[clients.dev]
endpoints = ["session-sigs", "verify", "keys", "policy-evaluate", "capacity-delegation", "payment-delegation", "admin"]

[[clients.dev.allow]]
name = "dev-allow-all"
signers = ["*"]
resources = ["lit-pkp://*", "lit-litaction://*", "lit-accesscontrolcondition://*", "lit-ratelimitincrease://*",
             "lit-paymentdelegation://*"]
abilities = ["*"]
max_lifetime = "1h"
nodes = ["*"]
formats = ["v7", "v8"]
# The v8 SDK's default user maximum (2^128 - 1): whatever it splits stays within it.
max_price = "340282366920938463463374607431768211455"

[clients.dev.capacity_delegation]
signers = ["*"]
max_uses = 1000000
max_lifetime = "30d"

[clients.dev.payment_delegation]
signers = ["*"]
max_price = "340282366920938463463374607431768211455"
max_lifetime = "30d"
scopes = ["*"]
delegatees = ["*"]
"#;
