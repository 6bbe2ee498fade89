//! Dev mode (`--dev`): no file at all. In-memory session key and wallet, a temporary SQLite
//! store, a policy that lets the `dev` client do everything, and a fresh bearer token printed
//! once on stderr. Loopback only, and loudly not for production.
//!
//! Sessions last at most one hour and the AuthSig 24 hours, so one wallet signature serves
//! every request for 23 hours (an AuthSig is reused only while it outlives the session asked for).

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
endpoints = ["session-sigs", "verify", "keys", "policy-evaluate", "capacity-delegation", "admin"]

[[clients.dev.allow]]
name = "dev-allow-all"
signers = ["*"]
resources = ["lit-pkp://*", "lit-litaction://*", "lit-accesscontrolcondition://*", "lit-ratelimitincrease://*"]
abilities = ["*"]
max_lifetime = "1h"
nodes = ["*"]

[clients.dev.capacity_delegation]
signers = ["*"]
max_uses = 1000000
max_lifetime = "30d"
"#;
