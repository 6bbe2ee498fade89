//! Auth methods: how the nodes decide the caller may use the PKP. The access token is a secret
//! (an OAuth JWT, a WebAuthn assertion, a wallet AuthSig…): it is zeroized on drop and never
//! shown by `Debug`.

use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

/// The SDK's `AUTH_METHOD_TYPE` values.
pub mod auth_method_type {
    /// An Ethereum wallet; the access token is an AuthSig as JSON text.
    pub const ETH_WALLET: u32 = 1;
    /// A Lit Action.
    pub const LIT_ACTION: u32 = 2;
    /// WebAuthn.
    pub const WEB_AUTHN: u32 = 3;
    /// Discord OAuth.
    pub const DISCORD: u32 = 4;
    /// Google OAuth.
    pub const GOOGLE: u32 = 5;
    /// Google JWT.
    pub const GOOGLE_JWT: u32 = 6;
    /// Apple JWT.
    pub const APPLE_JWT: u32 = 8;
    /// Stytch OTP.
    pub const STYTCH_OTP: u32 = 9;
    /// Stytch email factor OTP.
    pub const STYTCH_EMAIL_FACTOR_OTP: u32 = 10;
    /// Stytch SMS factor OTP.
    pub const STYTCH_SMS_FACTOR_OTP: u32 = 11;
    /// Stytch WhatsApp factor OTP.
    pub const STYTCH_WHATSAPP_FACTOR_OTP: u32 = 12;
    /// Stytch TOTP factor.
    pub const STYTCH_TOTP_FACTOR_OTP: u32 = 13;
}

/// An auth method read from JSON that is not `{"authMethodType": <number>, "accessToken": "<text>"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthMethodError {
    /// Not a JSON object (or array of objects).
    #[error(
        "an auth method must be a JSON object {{\"authMethodType\": N, \"accessToken\": \"...\"}} or an array of them"
    )]
    NotAnObject,
    /// `authMethodType` missing or not a non-negative integer.
    #[error("authMethodType must be a non-negative integer")]
    BadType,
    /// `accessToken` missing or empty.
    #[error("accessToken must be a non-empty string")]
    BadAccessToken,
    /// Not JSON of that shape (e.g. a token that is not a string).
    #[error("auth method is not valid JSON of the form {{\"authMethodType\": N, \"accessToken\": \"...\"}}: {0}")]
    Json(String),
}

/// One `{authMethodType, accessToken}` entry of `authMethods`, serialised in that key order.
///
/// ```
/// use lit_session_signer::pkp::{auth_method_type, AuthMethod};
/// let m = AuthMethod::new(auth_method_type::GOOGLE_JWT, "eyJhbGciOi...");
/// assert_eq!(format!("{m:?}"), "AuthMethod { auth_method_type: 6, access_token: [redacted] }");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AuthMethod {
    auth_method_type: u32,
    access_token: Zeroizing<String>,
}

impl AuthMethod {
    /// An auth method of type `auth_method_type` (see [`auth_method_type`](super::auth_method_type)).
    pub fn new(auth_method_type: u32, access_token: impl Into<String>) -> Self {
        Self { auth_method_type, access_token: Zeroizing::new(access_token.into()) }
    }

    /// The method's type number.
    pub fn auth_method_type(&self) -> u32 {
        self.auth_method_type
    }

    /// The secret access token.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// Reads an auth-method file: one `{"authMethodType": N, "accessToken": "..."}` object or
    /// an array of them. Extra keys are ignored. The token goes straight from the parser into
    /// zeroizing memory (no intermediate `serde_json::Value`).
    ///
    /// ```
    /// use lit_session_signer::pkp::AuthMethod;
    /// let methods = AuthMethod::list_from_json(r#"[{"authMethodType": 1, "accessToken": "{\"sig\":\"0x..\"}"}]"#).unwrap();
    /// assert_eq!(methods[0].auth_method_type(), 1);
    /// assert_eq!(methods[0].access_token(), r#"{"sig":"0x.."}"#);
    /// ```
    pub fn list_from_json(text: &str) -> Result<Vec<Self>, AuthMethodError> {
        let json = |e: serde_json::Error| AuthMethodError::Json(e.to_string());
        let trimmed = text.trim_start();
        let wires: Vec<Wire> = if trimmed.starts_with('[') {
            serde_json::from_str(trimmed).map_err(json)?
        } else if trimmed.starts_with('{') {
            vec![serde_json::from_str(trimmed).map_err(json)?]
        } else {
            return Err(AuthMethodError::NotAnObject);
        };
        wires.into_iter().map(Wire::into_method).collect()
    }
}

// The wire shape; `accessToken` is moved (not copied) into `Zeroizing`.
#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "authMethodType")]
    auth_method_type: Option<Value>,
    #[serde(rename = "accessToken")]
    access_token: Option<String>,
}

impl Wire {
    fn into_method(self) -> Result<AuthMethod, AuthMethodError> {
        let token = Zeroizing::new(self.access_token.ok_or(AuthMethodError::BadAccessToken)?);
        let kind = self
            .auth_method_type
            .as_ref()
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(AuthMethodError::BadType)?;
        if token.is_empty() {
            return Err(AuthMethodError::BadAccessToken);
        }
        Ok(AuthMethod { auth_method_type: kind, access_token: token })
    }
}

impl fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMethod")
            .field("auth_method_type", &self.auth_method_type)
            .field("access_token", &format_args!("[redacted]"))
            .finish()
    }
}

impl Serialize for AuthMethod {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("AuthMethod", 2)?;
        st.serialize_field("authMethodType", &self.auth_method_type)?;
        st.serialize_field("accessToken", self.access_token.as_str())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_sdk_shape() {
        let m = AuthMethod::list_from_json(r#" {"accessToken": "s3cr3t", "authMethodType": 5, "extra": 1}"#).unwrap();
        assert_eq!(serde_json::to_string(&m[0]).unwrap(), r#"{"authMethodType":5,"accessToken":"s3cr3t"}"#);
        assert!(!format!("{m:?}").contains("s3cr3t"));
        assert_eq!(AuthMethod::list_from_json("[]").unwrap(), vec![]);
    }

    #[test]
    fn refuses_malformed_methods() {
        for (bad, err) in [
            (r#""x""#, AuthMethodError::NotAnObject),
            (r#"{"accessToken": "t"}"#, AuthMethodError::BadType),
            (r#"{"authMethodType": -1, "accessToken": "t"}"#, AuthMethodError::BadType),
            (r#"{"authMethodType": 1.5, "accessToken": "t"}"#, AuthMethodError::BadType),
            (r#"{"authMethodType": 1}"#, AuthMethodError::BadAccessToken),
            (r#"[{"authMethodType": 1, "accessToken": ""}]"#, AuthMethodError::BadAccessToken),
        ] {
            assert_eq!(AuthMethod::list_from_json(bad).unwrap_err(), err, "{bad}");
        }
        for bad in [r#"{"authMethodType": 1, "accessToken": 7}"#, "{", "[1]"] {
            assert!(matches!(AuthMethod::list_from_json(bad), Err(AuthMethodError::Json(_))), "{bad}");
        }
    }
}
