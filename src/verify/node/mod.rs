//! How the Lit node's dependencies read the texts of a session signature, written out here so
//! the rules in [`super::rules`] apply the node's readings rather than this crate's stricter
//! ones:
//!
//! - [`hex`]: lit-core's `hex_to_bytes` (a `0x` optional, an odd digit count left-padded, any
//!   case) and ed25519's `Signature::from_str` (128 digits, one case, no prefix);
//! - [`time`]: chrono's `DateTime::parse_from_rfc3339` and its second-granular `timestamp()`.
//!
//! The other readings live with the formats they read: the AuthSig and signed-message readers
//! in [`crate::protocol`] ([`crate::protocol::NodeAuthSig`],
//! [`crate::protocol::SignedMessage::parse_as`]), the `U256` readings in
//! [`crate::protocol::Price`], the ReCap decoding in [`crate::recap::Recap::decode_as_node`],
//! the ECDSA recovery in [`crate::eth::recover_as_siwe_0_5`].

pub mod hex;
pub mod time;
