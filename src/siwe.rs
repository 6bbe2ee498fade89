//! Sign-In with Ethereum (EIP-4361) messages with the Lit SDK's defaults.
//!
//! The node hashes the `siwe` crate's re-rendering of the parsed text, not the text it was
//! sent, so [`SiweMessage::render`] refuses any text that does not round-trip byte for byte.

use time::Duration;

use crate::eth::EthAddress;
use crate::recap::Recap;
use crate::resources::ResourceAbilityRequest;
use crate::timestamp::Timestamp;

/// The SDK's default domain.
pub const DEFAULT_DOMAIN: &str = "localhost";
/// The SDK's default statement (two spaces after the first period).
pub const DEFAULT_STATEMENT: &str = "This is a test statement.  You can put anything you want here.";
/// The SDK's default URI for plain AuthSigs.
pub const DEFAULT_URI: &str = "https://localhost/login";
/// `createSiweMessage`'s default lifetime.
pub const DEFAULT_LIFETIME: Duration = Duration::days(7);

/// Errors building or parsing a SIWE message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiweError {
    /// The `siwe` crate (as the node runs it) rejects the text.
    #[error("invalid SIWE message: {0}")]
    Invalid(String),
    /// The `siwe` crate re-renders the text differently, so the node would hash other bytes.
    #[error("SIWE message does not round-trip through the siwe crate (the node would hash different bytes)")]
    RoundTrip,
    /// A statement with a line break.
    #[error("SIWE statement must be a single line")]
    MultiLineStatement,
    /// A statement character outside EIP-4361's ABNF (ASCII letters, digits, space and
    /// `-._~:/?#[]@!$&'()*+,;=`). The `siwe` crate lets it through, but the SDK's `siwe`
    /// rejects it.
    #[error("SIWE statement contains {0:?}, which EIP-4361 does not allow (ASCII letters, digits, space and -._~:/?#[]@!$&'()*+,;= only)")]
    StatementCharacter(char),
}

/// The SIWE fields a caller may choose for a session AuthSig; unset fields keep the SDK's
/// defaults ([`DEFAULT_DOMAIN`], [`DEFAULT_STATEMENT`], chain 1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiweOptions {
    /// The domain asking for the signature.
    pub domain: Option<String>,
    /// The statement, before the ReCap sentence.
    pub statement: Option<String>,
    /// The EIP-155 chain id.
    pub chain_id: Option<u64>,
}

/// An EIP-4361 message, field for field. Build it with [`SiweMessage::new`] and the `with_*`
/// methods, then [`render`](SiweMessage::render) it.
///
/// ```
/// use lit_session_signer::{siwe::SiweMessage, Timestamp};
/// let now: Timestamp = "2024-07-01T12:00:00.000Z".parse().unwrap();
/// let address = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23".parse().unwrap();
/// let text = SiweMessage::new(address, "0x1f623ab8dfe6bbd3b3dc22c7a041deb697c14817bce471b1bd1d86a25d5a319c", now)
///     .render()
///     .unwrap();
/// assert!(text.ends_with("Expiration Time: 2024-07-08T12:00:00.000Z"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SiweMessage {
    /// RFC 3986 authority asking for the signature.
    pub domain: String,
    /// The signing wallet.
    pub address: EthAddress,
    /// One ASCII line.
    pub statement: String,
    /// The subject of the signature, e.g. `lit:session:<pubkey>`.
    pub uri: String,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// At least 8 alphanumeric characters; Lit uses a recent block hash.
    pub nonce: String,
    /// When the message was made.
    pub issued_at: Timestamp,
    /// When it stops being valid (Lit nodes require one).
    pub expiration_time: Timestamp,
    /// Resource URIs, e.g. one `urn:recap:`.
    pub resources: Vec<String>,
}

impl SiweMessage {
    /// A message with the SDK's `createSiweMessage` defaults: domain `localhost`, the test
    /// statement, `https://localhost/login`, chain 1, expiring 7 days after `issued_at`.
    pub fn new(address: EthAddress, nonce: &str, issued_at: Timestamp) -> Self {
        Self {
            domain: DEFAULT_DOMAIN.to_string(),
            address,
            statement: DEFAULT_STATEMENT.to_string(),
            uri: DEFAULT_URI.to_string(),
            chain_id: 1,
            nonce: nonce.to_string(),
            issued_at,
            expiration_time: issued_at.saturating_add(DEFAULT_LIFETIME),
            resources: Vec::new(),
        }
    }

    /// Sets the domain.
    pub fn with_domain(mut self, domain: &str) -> Self {
        self.domain = domain.to_string();
        self
    }

    /// Sets the statement (before any ReCap sentence is appended).
    pub fn with_statement(mut self, statement: &str) -> Self {
        self.statement = statement.to_string();
        self
    }

    /// Sets the URI.
    pub fn with_uri(mut self, uri: &str) -> Self {
        self.uri = uri.to_string();
        self
    }

    /// Sets the chain id.
    pub fn with_chain_id(mut self, chain_id: u64) -> Self {
        self.chain_id = chain_id;
        self
    }

    /// Sets the fields `options` sets.
    pub fn with_options(mut self, options: &SiweOptions) -> Self {
        if let Some(domain) = &options.domain {
            self.domain = domain.clone();
        }
        if let Some(statement) = &options.statement {
            self.statement = statement.clone();
        }
        if let Some(chain_id) = options.chain_id {
            self.chain_id = chain_id;
        }
        self
    }

    /// Sets the nonce.
    pub fn with_nonce(mut self, nonce: &str) -> Self {
        self.nonce = nonce.to_string();
        self
    }

    /// Sets the expiration time.
    pub fn with_expiration(mut self, expiration: Timestamp) -> Self {
        self.expiration_time = expiration;
        self
    }

    /// Appends a ReCap: its sentence goes after the statement (joined by one space) and its URN
    /// becomes the last resource.
    pub fn with_recap(mut self, recap: &Recap) -> Self {
        self.statement = format!("{} {}", self.statement, recap.statement());
        self.resources.push(recap.encode());
        self
    }

    /// `createSiweMessageWithRecaps`: merges the requests one at a time into a single ReCap
    /// (the SDK's `addRecapToSiweMessage`) and appends it.
    pub fn with_requests(self, requests: &[ResourceAbilityRequest]) -> Self {
        self.with_recap(&recap_for_requests(requests))
    }

    /// The message text, lines joined with `\n`, no trailing newline. Fails unless the `siwe`
    /// crate parses it and renders the same bytes.
    pub fn render(&self) -> Result<String, SiweError> {
        if self.statement.contains(['\n', '\r']) {
            return Err(SiweError::MultiLineStatement);
        }
        if let Some(c) = self.statement.chars().find(|c| !statement_char_allowed(*c)) {
            return Err(SiweError::StatementCharacter(c));
        }
        let mut lines = vec![
            format!("{} wants you to sign in with your Ethereum account:", self.domain),
            self.address.to_checksum(),
            String::new(),
            self.statement.clone(),
            String::new(),
            format!("URI: {}", self.uri),
            "Version: 1".to_string(),
            format!("Chain ID: {}", self.chain_id),
            format!("Nonce: {}", self.nonce),
            format!("Issued At: {}", self.issued_at),
            format!("Expiration Time: {}", self.expiration_time),
        ];
        if !self.resources.is_empty() {
            lines.push("Resources:".to_string());
            lines.extend(self.resources.iter().map(|r| format!("- {r}")));
        }
        let text = lines.join("\n");
        if parse(&text)?.to_string() != text {
            return Err(SiweError::RoundTrip);
        }
        Ok(text)
    }
}

// EIP-4361: statement = *( reserved / unreserved / " " ) (RFC 3986 sets).
fn statement_char_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || " -._~:/?#[]@!$&'()*+,;=".contains(c)
}

/// The single merged ReCap the SDK builds from resource-ability requests.
pub fn recap_for_requests(requests: &[ResourceAbilityRequest]) -> Recap {
    let mut recap = Recap::new();
    for r in requests {
        recap.merge_capability(r.resource(), r.ability(), r.data().cloned());
    }
    recap
}

/// Parses SIWE text with the `siwe` crate, as the node does.
pub fn parse(text: &str) -> Result<::siwe::Message, SiweError> {
    text.parse::<::siwe::Message>().map_err(|e| SiweError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> EthAddress {
        "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23".parse().unwrap()
    }

    #[test]
    fn refuses_what_the_node_would_refuse() {
        let now = Timestamp::now();
        let base = SiweMessage::new(addr(), "0x1f623ab8dfe6bbd3", now);
        assert_eq!(base.clone().with_statement("two\nlines").render(), Err(SiweError::MultiLineStatement));
        assert!(matches!(base.clone().with_nonce("short").render(), Err(SiweError::Invalid(_))));
        assert!(matches!(base.clone().with_domain("bad domain").render(), Err(SiweError::Invalid(_))));
        assert_eq!(base.clone().with_statement("Grüße").render(), Err(SiweError::StatementCharacter('ü')));
        assert_eq!(base.clone().with_statement("say \"hi\"").render(), Err(SiweError::StatementCharacter('"')));
        assert!(matches!(base.clone().with_uri("not a uri").render(), Err(SiweError::Invalid(_))));
        assert!(base.render().is_ok());
    }
}
