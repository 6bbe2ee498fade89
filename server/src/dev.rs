//! Dev mode (`--dev`): no file at all. In-memory session key and wallet, a temporary SQLite
//! store, a policy that lets the `dev` client do everything, and a fresh bearer token printed
//! once on stderr. Loopback only, and loudly not for production.
//!
//! Sessions last at most one hour and the AuthSig 24 hours, so one wallet signature serves
//! every request for 23 hours (an AuthSig is reused only while it outlives the session asked for).
//! Both formats are allowed; v8 sessions up to the SDK's default maximum price.

use std::net::SocketAddr;
use std::path::Path;

use crate::app::PolicySource;
use crate::auth::Tokens;
use crate::config::{ConfigError, ConfigFile, Settings, SignerSection};

/// The dev-mode settings: the configuration file's defaults, but for one in-memory profile, a
/// SQLite file in `dir` (a temporary directory) committed with normal durability, readiness
/// probes every 2 s, the policy below, and `token` as the dev client's bearer token.
pub fn settings(
    listen: SocketAddr,
    metrics_listen: Option<SocketAddr>,
    token: &str,
    dir: &Path,
) -> Result<Settings, ConfigError> {
    let mut file = ConfigFile::default();
    file.server.listen = listen.to_string();
    file.server.metrics_listen = metrics_listen.map(|m| m.to_string());
    file.server.health_interval = "2s".into();
    file.store.path = Some(dir.join("dev-store.sqlite"));
    file.store.durability = Some("normal".into());
    let profile =
        SignerSection { session_key: Some("memory".into()), wallet: Some("random".into()), ..Default::default() };
    file.signers.insert("default".into(), profile);
    let mut settings = file.settings_with_policy(PolicySource::Inline(POLICY.to_string()))?;
    settings.app.extra_tokens = Tokens::default().with_token(DEV_CLIENT, token);
    Ok(settings)
}

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::signing::{SessionKeySpec, WalletSpec};
    use crate::store::StoreSettings;

    /// Dev mode is the configuration file's defaults but for its own few choices.
    #[test]
    fn dev_settings_are_the_file_defaults_but_for_dev_choices() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings("127.0.0.1:0".parse().unwrap(), None, "t0ken", dir.path()).unwrap();
        let limits = s.app.limits;
        assert_eq!(limits.body_limit, 256 * 1024);
        assert_eq!((limits.request_timeout, limits.body_timeout), (Duration::from_secs(30), Duration::from_secs(10)));
        let l = &s.listen;
        assert!(!l.allow_plaintext && l.tls.is_none() && l.metrics_listen.is_none());
        assert_eq!((l.max_connections, l.header_timeout), (1024, Duration::from_secs(10)));
        assert_eq!((l.shutdown_grace, l.health_interval), (Duration::from_secs(30), Duration::from_secs(2)));
        let StoreSettings::Sqlite(store) = &s.store else { panic!("{:?}", s.store) };
        assert_eq!(store.path, dir.path().join("dev-store.sqlite"));
        assert_eq!(store.durability, crate::store::sqlite::Durability::Normal);
        assert_eq!((store.mint_lock_wait, store.mint_sign_timeout), (Duration::from_secs(10), Duration::from_secs(60)));
        let [profile] = s.signers.as_slice() else { panic!("{:?}", s.signers) };
        assert!(matches!(profile.session_key, SessionKeySpec::Memory) && matches!(profile.wallet, WalletSpec::Random));
        assert_eq!(
            (profile.auth_sig_lifetime, profile.expiry_margin),
            (time::Duration::hours(24), time::Duration::minutes(5))
        );
        assert_eq!(s.app.default_signer, "default");
        assert!(matches!(&s.app.policy, PolicySource::Inline(p) if p == POLICY));
        assert_eq!(s.app.extra_tokens.client_for("t0ken").as_deref(), Some(DEV_CLIENT));
        assert!(s.app.tokens_file.is_none() && s.app.audit_spool.is_none());
        assert_eq!(s.blocking_threads, 32);
    }
}
