//! Payment-delegation AuthSigs (the v8 SDK's `createPaymentDelegationAuthSig`), Naga's
//! replacement for capacity credits: a wallet with a Lit balance pays for the requests of the
//! addresses it names, up to a `maxPrice` per request and for the scopes it lists.
//!
//! The AuthSig is a `lit:capability:delegation` SIWE granting `lit-paymentdelegation://*`
//! `Auth/Auth` with the restriction (`nb`) `{delegate_to, max_price, scopes}`; the delegatee puts
//! it among a v8 session's capabilities, before the session AuthSig. A Naga node pays from the
//! delegator when the session's signed `maxPrice` is at most `max_price`, the delegatee is the
//! session's user and the operation is in `scopes`. [`PaymentDelegation`] writes the `nb`;
//! [`PaymentDelegationGrant`] reads it back as the node does.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::auth_sig::{AuthSig, AuthSigError};
use crate::capacity_delegation::DelegationSiwe;
use crate::eth::EthAddress;
use crate::protocol::{Price, PriceError};
use crate::resources::{LitAbility, LitResource, ResourceAbilityRequest, ResourcePrefix};
use crate::siwe::SiweMessage;
use crate::timestamp::Timestamp;
use crate::wallet::WalletSigner;

pub use crate::capacity_delegation::DELEGATION_URI;

/// What a delegated payment may be used for (the node's `PayedEndpoint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PaymentScope {
    /// `encryption_sign`: decryption (encryption signing).
    EncryptionSign,
    /// `lit_action`: running Lit Actions.
    LitAction,
    /// `pkp_sign`: PKP signing.
    PkpSign,
    /// `sign_session_key`: PKP session keys.
    SignSessionKey,
}

impl PaymentScope {
    /// Every scope.
    pub const ALL: [PaymentScope; 4] = [Self::EncryptionSign, Self::LitAction, Self::PkpSign, Self::SignSessionKey];

    /// The scope string, e.g. `pkp_sign`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EncryptionSign => "encryption_sign",
            Self::LitAction => "lit_action",
            Self::PkpSign => "pkp_sign",
            Self::SignSessionKey => "sign_session_key",
        }
    }
}

impl FromStr for PaymentScope {
    type Err = PaymentDelegationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| PaymentDelegationError::UnknownScope(s.to_string()))
    }
}

impl fmt::Display for PaymentScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors building a payment delegation.
#[derive(Debug, thiserror::Error)]
pub enum PaymentDelegationError {
    /// No delegatee: the delegation would pay for nobody.
    #[error("a payment delegation needs at least one delegatee")]
    NoDelegatees,
    /// No scope: the delegation would pay for nothing.
    #[error("a payment delegation needs at least one scope (encryption_sign, lit_action, pkp_sign, sign_session_key)")]
    NoScopes,
    /// A scope the nodes do not know.
    #[error(
        "unknown payment delegation scope {0:?} (expected encryption_sign, lit_action, pkp_sign or sign_session_key)"
    )]
    UnknownScope(String),
    /// A delegatee that is not an Ethereum address.
    #[error("delegatee is not an Ethereum address (40 hex digits, 0x optional, EIP-55 if mixed case): {0:?}")]
    InvalidDelegatee(String),
    /// A maximum price that is not a number below 2^256.
    #[error("max price: {0}")]
    MaxPrice(#[from] PriceError),
    /// Expiration not after issuedAt.
    #[error("expiration {expiration} is not after issuedAt {issued_at}")]
    ExpirationNotAfterIssuedAt {
        /// The SIWE's Issued At.
        issued_at: Timestamp,
        /// The requested expiration.
        expiration: Timestamp,
    },
    /// Signing failed.
    #[error(transparent)]
    AuthSig(#[from] AuthSigError),
}

/// What a payment delegation grants, as `createPaymentDelegationAuthSig` takes it.
///
/// ```
/// use lit_session_signer::payment_delegation::{PaymentDelegation, PaymentScope};
/// use lit_session_signer::wallet::MemoryWallet;
/// use lit_session_signer::Timestamp;
///
/// let payer = MemoryWallet::random().unwrap();
/// let delegation = PaymentDelegation::new(
///     vec!["0x5D467fe98ff120fe0C85F2217bC61732571b28EC".into()],
///     "1000",
///     vec![PaymentScope::PkpSign, PaymentScope::LitAction],
/// );
/// let nb = delegation.restriction().unwrap();
/// assert_eq!(
///     serde_json::to_string(&nb).unwrap(),
///     r#"{"delegate_to":["5d467fe98ff120fe0c85f2217bc61732571b28ec"],"max_price":"3e8","scopes":["pkp_sign","lit_action"]}"#
/// );
/// let auth_sig = delegation.sign(&payer, "0xcdcdcdcdcdcdcdcd", Timestamp::now()).unwrap();
/// assert!(auth_sig.signed_message.contains("URI: lit:capability:delegation"));
/// ```
#[derive(Clone, Debug)]
pub struct PaymentDelegation {
    /// Who may spend: Ethereum addresses, `0x` optional, any case that passes EIP-55 (written
    /// lowercase without `0x`, order and repeats kept, as the SDK does).
    pub delegatees: Vec<String>,
    /// The most a delegatee's session may sign as one node's `maxPrice`: decimal, or `0x` + hex
    /// digits (written as hex without `0x`; given hex digits are kept as written, lowercased).
    pub max_price: String,
    /// What the payments may be for (repeats dropped, first order kept).
    pub scopes: Vec<PaymentScope>,
    /// Default: now + 7 days ([`crate::siwe::DEFAULT_LIFETIME`]).
    pub expiration: Option<Timestamp>,
    /// Default `localhost` (written as given: the SDK does not strip a path here).
    pub domain: Option<String>,
    /// Default: the SDK's test statement.
    pub statement: Option<String>,
}

impl PaymentDelegation {
    /// A delegation with the SDK's SIWE defaults.
    pub fn new(delegatees: Vec<String>, max_price: impl Into<String>, scopes: Vec<PaymentScope>) -> Self {
        Self { delegatees, max_price: max_price.into(), scopes, expiration: None, domain: None, statement: None }
    }

    /// The `nb` object: `delegate_to` (lowercase addresses without `0x`), `max_price` (hex
    /// without `0x`), `scopes`.
    pub fn restriction(&self) -> Result<Map<String, Value>, PaymentDelegationError> {
        if self.delegatees.is_empty() {
            return Err(PaymentDelegationError::NoDelegatees);
        }
        if self.scopes.is_empty() {
            return Err(PaymentDelegationError::NoScopes);
        }
        let delegate_to = self
            .delegatees
            .iter()
            .map(|a| {
                let trimmed = a.trim();
                let prefixed = if trimmed.starts_with("0x") { trimmed.to_string() } else { format!("0x{trimmed}") };
                let address: EthAddress =
                    prefixed.parse().map_err(|_| PaymentDelegationError::InvalidDelegatee(a.clone()))?;
                Ok(Value::String(hex::encode(address.as_bytes())))
            })
            .collect::<Result<Vec<_>, PaymentDelegationError>>()?;
        let mut scopes: Vec<PaymentScope> = Vec::with_capacity(self.scopes.len());
        for s in &self.scopes {
            if !scopes.contains(s) {
                scopes.push(*s);
            }
        }
        let mut nb = Map::new();
        nb.insert("delegate_to".into(), Value::Array(delegate_to));
        nb.insert("max_price".into(), Value::String(nb_max_price(&self.max_price)?));
        nb.insert("scopes".into(), scopes.iter().map(|s| Value::from(s.as_str())).collect());
        Ok(nb)
    }

    /// The SIWE `createPaymentDelegationAuthSig` builds: `createSiweMessage` with the
    /// `lit:capability:delegation` URI and one `lit-paymentdelegation://*` `Auth/Auth` resource
    /// carrying the restriction.
    pub fn siwe(&self, owner: EthAddress, nonce: &str, now: Timestamp) -> Result<SiweMessage, PaymentDelegationError> {
        let request = ResourceAbilityRequest::new(
            LitResource::wildcard(ResourcePrefix::PaymentDelegation),
            LitAbility::PaymentDelegation,
        )
        .expect("lit-paymentdelegation accepts lit-payment-delegation")
        .with_data(self.restriction()?);
        let fields = DelegationSiwe {
            expiration: self.expiration,
            domain: self.domain.as_deref(),
            statement: self.statement.as_deref(),
        };
        fields
            .siwe(owner, nonce.trim(), now, request)
            .map_err(|expiration| PaymentDelegationError::ExpirationNotAfterIssuedAt { issued_at: now, expiration })
    }

    /// Builds and signs the delegation AuthSig with the paying wallet.
    pub fn sign(
        &self,
        payer: &(impl WalletSigner + ?Sized),
        nonce: &str,
        now: Timestamp,
    ) -> Result<AuthSig, PaymentDelegationError> {
        Ok(AuthSig::sign(payer, &self.siwe(payer.address(), nonce, now)?)?)
    }
}

// `max_price` as the SDK writes it: decimal becomes hex, `0x`-hex keeps its digits (lowercased,
// leading zeros too). Both must be numbers below 2^256.
fn nb_max_price(given: &str) -> Result<String, PriceError> {
    given.parse::<Price>()?;
    Ok(match given.strip_prefix("0x") {
        Some(digits) => digits.to_ascii_lowercase(),
        None => Price::from_decimal(given)?.to_hex_digits(),
    })
}

/// A payment delegation as a Naga node reads it from a capability's ReCap restriction
/// (`construct_payment_delegation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentDelegationGrant {
    /// Who may spend, as written (the node compares them lowercase with the user's address).
    pub delegate_to: Vec<String>,
    /// The most one node's signed `maxPrice` may be.
    pub max_price: Price,
    /// What payments may be for.
    pub scopes: Vec<PaymentScope>,
}

impl PaymentDelegationGrant {
    /// Reads a `lit-paymentdelegation` `Auth/Auth` restriction as the Naga node does
    /// (`payment/payment_delegation.rs::construct_payment_delegation`): `delegate_to` an array
    /// (entries that are not strings never match), `max_price` a string read by ethers'
    /// `U256::from_str` ([`Price::from_uint_hex`]: always hex, so `"1000"` is 0x1000, and `""`
    /// is 0), `scopes` an array of known scopes; the reason when the node would not use it.
    pub fn from_restriction(nb: &Map<String, Value>) -> Result<Self, String> {
        let delegate_to = nb
            .get("delegate_to")
            .ok_or("delegate_to is not set")?
            .as_array()
            .ok_or("delegate_to is not an array")?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let text = nb.get("max_price").ok_or("max_price is not set")?.as_str().ok_or("max_price is not a string")?;
        let max_price = Price::from_uint_hex(text).map_err(|e| format!("max_price is not hex: {e}"))?;
        let scopes = nb
            .get("scopes")
            .ok_or("scopes is not set")?
            .as_array()
            .ok_or("scopes is not an array")?
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| s.parse::<PaymentScope>().ok())
                    .ok_or_else(|| format!("{v} is not a payment delegation scope"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { delegate_to, max_price, scopes })
    }

    /// Whether `user` is among the delegatees.
    pub fn delegates_to(&self, user: &EthAddress) -> bool {
        let wanted = hex::encode(user.as_bytes());
        self.delegate_to.iter().any(|d| d.to_ascii_lowercase() == wanted)
    }

    /// Whether a session signing `max_price` for a node stays within the delegation.
    pub fn covers(&self, max_price: Price) -> bool {
        max_price <= self.max_price
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delegation(max_price: &str) -> PaymentDelegation {
        PaymentDelegation::new(
            vec!["0x5D467fe98ff120fe0C85F2217bC61732571b28EC".into()],
            max_price,
            vec![PaymentScope::PkpSign],
        )
    }

    #[test]
    fn max_price_is_written_as_the_sdk_writes_it() {
        for (given, written) in [("1000", "3e8"), ("10", "a"), ("0", "0"), ("0x00FF", "00ff"), ("0xAbC", "abc")] {
            let nb = delegation(given).restriction().unwrap();
            assert_eq!(nb["max_price"], written, "{given}");
        }
        for bad in ["", "-5", "ff", "0x", "0xzz", "1.5", &format!("0x1{}", "0".repeat(64))] {
            assert!(matches!(delegation(bad).restriction(), Err(PaymentDelegationError::MaxPrice(_))), "{bad:?}");
        }
    }

    #[test]
    fn delegatees_and_scopes_are_normalised_as_the_sdk_does() {
        let mut d = delegation("1");
        d.delegatees = vec![
            " 5d467fe98ff120fe0c85f2217bc61732571b28ec ".into(),
            "0x5D467FE98FF120FE0C85F2217BC61732571B28EC".into(),
            "0x5D467fe98ff120fe0C85F2217bC61732571b28EC".into(),
        ];
        d.scopes = vec![PaymentScope::LitAction, PaymentScope::PkpSign, PaymentScope::LitAction];
        let nb = d.restriction().unwrap();
        assert_eq!(nb["delegate_to"], serde_json::json!(vec!["5d467fe98ff120fe0c85f2217bc61732571b28ec"; 3]));
        assert_eq!(nb["scopes"], serde_json::json!(["lit_action", "pkp_sign"]));
        d.delegatees = vec!["0x5d467FE98ff120fe0C85F2217bC61732571b28EC".into()]; // bad checksum
        assert!(matches!(d.restriction(), Err(PaymentDelegationError::InvalidDelegatee(_))));
        d.delegatees.clear();
        assert!(matches!(d.restriction(), Err(PaymentDelegationError::NoDelegatees)));
        let mut d = delegation("1");
        d.scopes.clear();
        assert!(matches!(d.restriction(), Err(PaymentDelegationError::NoScopes)));
        assert!(matches!("pay_all".parse::<PaymentScope>(), Err(PaymentDelegationError::UnknownScope(_))));
    }

    #[test]
    fn the_grant_reads_back_what_is_written() {
        let nb = delegation("0x00ff").restriction().unwrap();
        let grant = PaymentDelegationGrant::from_restriction(&nb).unwrap();
        assert_eq!(grant.max_price, Price::from(255u64));
        assert_eq!(grant.scopes, [PaymentScope::PkpSign]);
        let user: EthAddress = "0x5D467fe98ff120fe0C85F2217bC61732571b28EC".parse().unwrap();
        assert!(grant.delegates_to(&user));
        assert!(grant.covers(Price::from(255u64)) && !grant.covers(Price::from(256u64)));
        let mut broken = nb.clone();
        broken.remove("scopes");
        assert_eq!(PaymentDelegationGrant::from_restriction(&broken).unwrap_err(), "scopes is not set");
        broken = nb;
        broken.insert("max_price".into(), Value::from(5));
        assert_eq!(PaymentDelegationGrant::from_restriction(&broken).unwrap_err(), "max_price is not a string");
    }
}
