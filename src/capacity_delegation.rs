//! Capacity-delegation AuthSigs (the SDK's `createCapacityDelegationAuthSig`): a wallet that owns
//! capacity credits lets other addresses spend them.

use serde_json::{Map, Value};

use crate::auth_sig::{AuthSig, AuthSigError};
use crate::eth::EthAddress;
use crate::resources::{LitAbility, LitResource, ResourceAbilityRequest, ResourceError, ResourcePrefix};
use crate::siwe::SiweMessage;
use crate::timestamp::Timestamp;
use crate::wallet::WalletSigner;

/// The SIWE URI of a capacity delegation.
pub const DELEGATION_URI: &str = "lit:capability:delegation";

/// Errors building a capacity delegation.
#[derive(Debug, thiserror::Error)]
pub enum CapacityDelegationError {
    /// An empty delegatee list means nobody may use the credits; refused unless explicitly
    /// allowed.
    #[error("an empty delegatee list lets nobody use the credits; omit it to allow anyone, or allow it explicitly")]
    EmptyDelegatees,
    /// A delegatee that is not an Ethereum address.
    #[error("delegatee is not an Ethereum address (0x + 40 hex digits): {0:?}")]
    InvalidDelegatee(String),
    /// A token id that is not a decimal number.
    #[error("capacity token id must be a decimal number: {0:?}")]
    InvalidTokenId(String),
    /// Expiration not after issuedAt.
    #[error("expiration {expiration} is not after issuedAt {issued_at}")]
    ExpirationNotAfterIssuedAt {
        /// The SIWE's Issued At.
        issued_at: Timestamp,
        /// The requested expiration.
        expiration: Timestamp,
    },
    /// A resource error (cannot happen for the fixed prefix and ability, kept for typing).
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// Signing failed.
    #[error(transparent)]
    AuthSig(#[from] AuthSigError),
}

/// What a capacity delegation grants. Field semantics follow the SDK exactly: `None` for
/// delegatees means anyone, `Some(vec![])` means nobody.
///
/// ```
/// use lit_session_signer::capacity_delegation::CapacityDelegation;
/// use lit_session_signer::wallet::MemoryWallet;
/// use lit_session_signer::Timestamp;
///
/// let owner = MemoryWallet::random().unwrap();
/// let delegation = CapacityDelegation {
///     token_id: Some("12345".into()),
///     delegatees: Some(vec!["0x5D467fe98ff120fe0C85F2217bC61732571b28EC".into()]),
///     uses: Some(10),
///     ..CapacityDelegation::default()
/// };
/// let auth_sig = delegation.sign(&owner, "0xcdcdcdcdcdcdcdcd", Timestamp::now()).unwrap();
/// assert!(auth_sig.signed_message.contains("URI: lit:capability:delegation"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct CapacityDelegation {
    /// The capacity credit NFT id (decimal); `None` means `lit-ratelimitincrease://*`.
    pub token_id: Option<String>,
    /// Who may use the credits; `None` = anyone, empty = nobody.
    pub delegatees: Option<Vec<String>>,
    /// How many uses.
    pub uses: Option<u64>,
    /// Default: now + 7 days ([`crate::siwe::DEFAULT_LIFETIME`]).
    pub expiration: Option<Timestamp>,
    /// Default `localhost`.
    pub domain: Option<String>,
    /// Default: the SDK's test statement.
    pub statement: Option<String>,
    /// Allow `delegatees: Some(vec![])` (nobody may use the credits).
    pub allow_empty_delegatees: bool,
}

impl CapacityDelegation {
    /// The `nb` object: `nft_id` if a token id is set, `delegate_to` (addresses without `0x`,
    /// case kept) if delegatees are given, `uses` as a decimal string if set.
    pub fn restriction(&self) -> Result<Map<String, Value>, CapacityDelegationError> {
        let mut nb = Map::new();
        if let Some(id) = &self.token_id {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CapacityDelegationError::InvalidTokenId(id.clone()));
            }
            nb.insert("nft_id".into(), Value::Array(vec![Value::String(id.clone())]));
        }
        if let Some(delegatees) = &self.delegatees {
            if delegatees.is_empty() && !self.allow_empty_delegatees {
                return Err(CapacityDelegationError::EmptyDelegatees);
            }
            let stripped = delegatees
                .iter()
                .map(|a| {
                    a.parse::<EthAddress>().map_err(|_| CapacityDelegationError::InvalidDelegatee(a.clone()))?;
                    Ok(Value::String(a.strip_prefix("0x").unwrap_or(a).to_string()))
                })
                .collect::<Result<Vec<_>, CapacityDelegationError>>()?;
            nb.insert("delegate_to".into(), Value::Array(stripped));
        }
        if let Some(uses) = self.uses {
            nb.insert("uses".into(), Value::String(uses.to_string()));
        }
        Ok(nb)
    }

    /// The SIWE the SDK's `createSiweMessageWithCapacityDelegation` builds.
    pub fn siwe(&self, owner: EthAddress, nonce: &str, now: Timestamp) -> Result<SiweMessage, CapacityDelegationError> {
        let resource = match &self.token_id {
            Some(id) => LitResource::new(ResourcePrefix::RateLimitIncrease, id)?,
            None => LitResource::wildcard(ResourcePrefix::RateLimitIncrease),
        };
        let request =
            ResourceAbilityRequest::new(resource, LitAbility::RateLimitIncreaseAuth)?.with_data(self.restriction()?);
        let fields = DelegationSiwe {
            expiration: self.expiration,
            domain: self.domain.as_deref(),
            statement: self.statement.as_deref(),
        };
        fields
            .siwe(owner, nonce, now, request)
            .map_err(|expiration| CapacityDelegationError::ExpirationNotAfterIssuedAt { issued_at: now, expiration })
    }

    /// Builds and signs the delegation AuthSig with the credits' owner.
    pub fn sign(
        &self,
        owner: &(impl WalletSigner + ?Sized),
        nonce: &str,
        now: Timestamp,
    ) -> Result<AuthSig, CapacityDelegationError> {
        Ok(AuthSig::sign(owner, &self.siwe(owner.address(), nonce, now)?)?)
    }
}

/// The SIWE fields a delegation AuthSig (capacity or payment) lets its maker choose, over the
/// SDK's `createSiweMessage` defaults (expiration now + 7 days, domain `localhost`, the test
/// statement).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DelegationSiwe<'a> {
    pub expiration: Option<Timestamp>,
    pub domain: Option<&'a str>,
    pub statement: Option<&'a str>,
}

impl DelegationSiwe<'_> {
    /// The `lit:capability:delegation` SIWE granting `request` (with its `nb`), or the
    /// expiration when it is not after `now`.
    pub(crate) fn siwe(
        &self,
        owner: EthAddress,
        nonce: &str,
        now: Timestamp,
        request: ResourceAbilityRequest,
    ) -> Result<SiweMessage, Timestamp> {
        let mut siwe = SiweMessage::new(owner, nonce, now).with_uri(DELEGATION_URI);
        if let Some(exp) = self.expiration {
            if exp <= now {
                return Err(exp);
            }
            siwe = siwe.with_expiration(exp);
        }
        if let Some(d) = self.domain {
            siwe = siwe.with_domain(d);
        }
        if let Some(s) = self.statement {
            siwe = siwe.with_statement(s);
        }
        Ok(siwe.with_requests(&[request]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_delegatees_need_consent() {
        let d = CapacityDelegation { delegatees: Some(vec![]), ..Default::default() };
        assert!(matches!(d.restriction(), Err(CapacityDelegationError::EmptyDelegatees)));
        let d = CapacityDelegation { delegatees: Some(vec![]), allow_empty_delegatees: true, ..Default::default() };
        assert_eq!(serde_json::to_string(&d.restriction().unwrap()).unwrap(), r#"{"delegate_to":[]}"#);
    }

    #[test]
    fn bad_inputs() {
        let d = CapacityDelegation { token_id: Some("0x12".into()), ..Default::default() };
        assert!(matches!(d.restriction(), Err(CapacityDelegationError::InvalidTokenId(_))));
        let d = CapacityDelegation { delegatees: Some(vec!["0x12".into()]), ..Default::default() };
        assert!(matches!(d.restriction(), Err(CapacityDelegationError::InvalidDelegatee(_))));
    }
}
