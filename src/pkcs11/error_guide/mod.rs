//! What each PKCS#11 failure means for this tool, in one place.
//!
//! [`ckr::CKR_GUIDE`] lists the `CKR_*` codes a token can answer: what the code means here,
//! whether retrying can help, what the layer already does about it by itself, and what an
//! operator should do. [`Pkcs11ErrorKind::guide`] (in `kinds`) does the same for every kind of
//! [`Pkcs11Error`](super::Pkcs11Error) (a key that is not there, a token that is not listed, …);
//! it is a `match`, so a new kind does not compile without its entry.
//!
//! The same tables drive [`Pkcs11Error::is_transient`](super::Pkcs11Error::is_transient), the
//! function and code every message names, the recovery step
//! [`Pkcs11Token`](super::token::Pkcs11Token) takes, and the advice every message ends with. A
//! test renders them as the README's section "PKCS#11 errors: what they mean and what to do"
//! and fails when the two differ, so documentation and behaviour cannot drift (`tests`). Here:
//! the words both tables use, whether a retry can help and what the layer does by itself.

mod ckr;
mod kinds;
#[cfg(test)]
mod tests;

pub(crate) use ckr::{ckr_guide, ckr_retry};
pub use kinds::Pkcs11ErrorKind;
pub(crate) use kinds::{Calls, Outcome};

/// Whether retrying the same call later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A device, session, login or token condition that can go away.
    Transient,
    /// An argument, template, mechanism, PIN or key problem: the same call fails again.
    Permanent,
    /// Not a failure for this tool (the code is treated as success).
    Success,
    /// Depends on the `CKR_*` code (the `Call` kind; see the README's CKR table).
    ByCode,
}

impl Retry {
    /// `transient` / `permanent` / `success` / `by code`, as printed in the README.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Success => "success",
            Self::ByCode => "by code",
        }
    }
}

/// What the layer does by itself before it reports an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutoRecovery {
    /// Nothing: the error is returned at once.
    None,
    /// Forgets cached object handles and looks the key up again by `CKA_ID`.
    Refind,
    /// Logs in again on the anchor session, re-reading the PIN source.
    Relogin,
    /// Opens a new anchor session and pool, and logs in again.
    Reconnect,
    /// `C_Finalize` + `C_Initialize` under the context's write lock, then finds the token by
    /// label/serial again, with exponential backoff.
    Reinitialize,
    /// Waits (exponential backoff) and retries.
    Backoff,
    /// Logs in again at once if the session lost its login; otherwise waits and logs in again,
    /// then logs out and in, then re-initialises.
    Escalate,
    /// Treated as success.
    Success,
}

impl AutoRecovery {
    /// A short description for the README.
    #[cfg(test)]
    fn describe(self) -> &'static str {
        match self {
            Self::None => "returns the error at once",
            Self::Refind => "looks the key up again by CKA_ID",
            Self::Relogin => "logs in again (PIN source re-read)",
            Self::Reconnect => "opens new sessions and logs in again",
            Self::Reinitialize => "re-initialises the module and finds the token again, with backoff",
            Self::Backoff => "waits with backoff and retries",
            Self::Escalate => {
                "logs in again at once if the session lost its login; else logs in again, then logs out and in, \
                 then re-initialises if the token stopped answering"
            }
            Self::Success => "treats it as success",
        }
    }
}
