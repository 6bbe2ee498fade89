//! The API's endpoints, in one table: the router takes each path from it, the access check and
//! the policy file each name, and metrics, logs and audit rows each label. The table also names
//! the one source of audit rows that is not a request: the session-key events of fleet rotation.

use serde::{Deserialize, Serialize};

/// An endpoint of the API listener (`/metrics` has a listener of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    /// `GET /livez`: open.
    Livez,
    /// `GET /readyz`: open.
    Readyz,
    /// `POST /v1/session-sigs`.
    SessionSigs,
    /// `POST /v1/verify`.
    Verify,
    /// `GET /v1/keys`.
    Keys,
    /// `POST /v1/policy/evaluate`.
    PolicyEvaluate,
    /// `POST /v1/capacity-delegation` (also needs the `capacity_delegation` grant).
    CapacityDelegation,
    /// `POST /v1/payment-delegation` (also needs the `payment_delegation` grant).
    PaymentDelegation,
    /// `POST|GET /v1/admin/reload` (policy reload) and `POST /v1/admin/rotate` (session-key
    /// rotation).
    Admin,
    /// No path: the session-key events fleet rotation records (`generated`, `activated`,
    /// `retired`, `destroyed`), on its schedule or for an operator's rotation.
    SessionKey,
}

/// `POST /v1/admin/rotate`, the admin endpoint's second path.
pub const ADMIN_ROTATE: &str = "/v1/admin/rotate";

/// Each endpoint's name (policy file, metrics, logs, audit rows) and paths.
const TABLE: [(Endpoint, &str, &[&str]); 10] = [
    (Endpoint::Livez, "livez", &["/livez"]),
    (Endpoint::Readyz, "readyz", &["/readyz"]),
    (Endpoint::SessionSigs, "session-sigs", &["/v1/session-sigs"]),
    (Endpoint::Verify, "verify", &["/v1/verify"]),
    (Endpoint::Keys, "keys", &["/v1/keys"]),
    (Endpoint::PolicyEvaluate, "policy-evaluate", &["/v1/policy/evaluate"]),
    (Endpoint::CapacityDelegation, "capacity-delegation", &["/v1/capacity-delegation"]),
    (Endpoint::PaymentDelegation, "payment-delegation", &["/v1/payment-delegation"]),
    (Endpoint::Admin, "admin", &["/v1/admin/reload", ADMIN_ROTATE]),
    (Endpoint::SessionKey, "session-key", &[]),
];

impl Endpoint {
    /// Every endpoint, in the table's order.
    pub const ALL: [Endpoint; 10] = {
        let mut all = [Endpoint::Livez; 10];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    /// The endpoints a client is granted by name in the policy file (every one with a path but
    /// the open health checks), in the table's order.
    pub fn grantable() -> impl Iterator<Item = Endpoint> {
        Self::ALL.into_iter().filter(|e| !e.is_open() && !e.paths().is_empty())
    }

    const fn row(self) -> (Endpoint, &'static str, &'static [&'static str]) {
        TABLE[self as usize]
    }

    /// The name in the policy file, metrics, logs and audit rows.
    pub const fn name(self) -> &'static str {
        self.row().1
    }

    /// The paths (none for [`Endpoint::SessionKey`]).
    pub const fn paths(self) -> &'static [&'static str] {
        self.row().2
    }

    /// Open to anyone: no authentication and no grant (the health checks).
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Livez | Self::Readyz)
    }

    /// The endpoint at `path`, if any.
    pub fn at(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.paths().contains(&path))
    }

    /// An endpoint as the policy file grants it.
    pub fn parse_grant(s: &str) -> Result<Self, String> {
        Self::grantable().find(|e| e.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::grantable().map(Self::name).collect();
            format!("unknown endpoint {s:?} (expected {})", names.join(", "))
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_order_and_names_serialise_as_written() {
        for (i, (e, name, paths)) in TABLE.iter().enumerate() {
            assert_eq!(*e as usize, i);
            assert_eq!((e.name(), e.paths()), (*name, *paths));
            assert_eq!(serde_json::to_string(e).unwrap(), format!("\"{name}\""));
            for path in *paths {
                assert_eq!(Endpoint::at(path), Some(*e));
            }
        }
        assert_eq!(Endpoint::at("/v1/admin/rotate"), Some(Endpoint::Admin));
        assert_eq!(Endpoint::at("/v1/nope"), None);
        // Key events are audited, never granted.
        assert!(Endpoint::parse_grant("session-key").is_err());
        let err = Endpoint::parse_grant("livez").unwrap_err();
        assert_eq!(
            err,
            "unknown endpoint \"livez\" (expected session-sigs, verify, keys, policy-evaluate, capacity-delegation, \
             payment-delegation, admin)"
        );
        assert_eq!(Endpoint::parse_grant("admin"), Ok(Endpoint::Admin));
    }
}
