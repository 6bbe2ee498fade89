//! The anchor session and a bounded pool of sessions on one token.
//!
//! Login state belongs to the application, not to a session, and closing the *last* session
//! logs the application out (PKCS#11 spec; kryoptic#163). So a [`Connection`] keeps one
//! long-lived, logged-in anchor session for its whole life (as Krill does), and session
//! objects (ephemeral keys) are created on it so they live as long as the store. A session
//! runs one operation at a time and `cryptoki::Session` is `Send` but not `Sync`, so
//! concurrent signing checks sessions out of a bounded pool, sized from the token's
//! `ulMaxSessionCount` and capped at twice the CPU count.
//!
//! Sessions are opened with the `_no_drop` variants: a session from a finalised (older)
//! context generation must be dropped *without* `C_CloseSession`, because the module may have
//! reused its handle number for someone else's new session.

use std::sync::{Condvar, Mutex, PoisonError};

use cryptoki::context::{Function, Pkcs11};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Limit, Slot, TokenInfo};

use super::error::{ErrorContext, Pkcs11Error, Problem};
use super::error_guide::Pkcs11ErrorKind;
use super::pin::{Pin, PinKeeper};

/// Whether pool sessions are opened read/write or read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionMode {
    /// R/W sessions (needed to create or destroy token objects).
    #[default]
    ReadWrite,
    /// R/O sessions (for write-protected tokens; signing only).
    ReadOnly,
}

/// The pool size for a token: `requested` (or 2 × CPUs), at least 1, and leaving one of the
/// token's sessions for the anchor.
pub(crate) fn pool_size(info: &TokenInfo, requested: Option<usize>) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let wanted = requested.unwrap_or(cpus.saturating_mul(2)).max(1);
    let token_max = match info.max_session_count() {
        Limit::Max(n) => usize::try_from(n).unwrap_or(usize::MAX).saturating_sub(1),
        Limit::Unavailable | Limit::Infinite => usize::MAX,
    };
    wanted.min(token_max).max(1)
}

struct PoolState {
    idle: Vec<Session>,
    /// Sessions open (idle or checked out).
    open: usize,
}

/// An anchor session holding the login, and a pool of sessions, for one token in one context
/// generation.
pub(crate) struct Connection {
    /// The context generation these sessions belong to.
    pub(crate) generation: u64,
    /// The token's slot (for this generation only).
    pub(crate) slot: Slot,
    /// The context of this generation (an `Arc`; only call it under a read guard).
    pkcs11: Pkcs11,
    mode: SessionMode,
    capacity: usize,
    /// `None` once closed.
    anchor: Mutex<Option<Session>>,
    pool: Mutex<PoolState>,
    available: Condvar,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("generation", &self.generation)
            .field("slot", &self.slot.id())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// How a successful [`login`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoginOutcome {
    /// `C_Login` accepted the PIN.
    LoggedIn,
    /// The application was already logged in (login is per application, and another session
    /// or store logged in first); the PIN was not checked.
    AlreadyLoggedIn,
}

/// `C_Login` as the user; `CKR_USER_ALREADY_LOGGED_IN` is success (login is per
/// application, and another store may have logged in first).
fn login(session: &Session, pin: Option<&Pin>, ctx: &ErrorContext) -> Result<LoginOutcome, Pkcs11Error> {
    use cryptoki::error::{Error, RvError};
    use cryptoki::session::SessionState;
    let auth = pin.map(Pin::auth_pin);
    let mut attempt = 0;
    let result = loop {
        match session.login(UserType::User, auth.as_ref()) {
            // SoftHSM 2.6.1 answers CKR_GENERAL_ERROR when logins (or a logout) race on other
            // threads; if the application ended up logged in, that is success, else try again.
            Err(Error::Pkcs11(RvError::GeneralError, f)) => {
                let logged_in = session
                    .get_session_info()
                    .is_ok_and(|i| matches!(i.session_state(), SessionState::RoUser | SessionState::RwUser));
                if logged_in {
                    log::debug!("C_Login raced another login or logout (CKR_GENERAL_ERROR); the session is logged in");
                    break Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, f));
                }
                if attempt >= 4 {
                    break Err(Error::Pkcs11(RvError::GeneralError, f));
                }
                attempt += 1;
                log::debug!("C_Login returned CKR_GENERAL_ERROR (a racing logout); retry {attempt} of 4");
                std::thread::sleep(std::time::Duration::from_millis(5 << attempt));
            }
            other => break other,
        }
    };
    match result {
        Ok(()) => Ok(LoginOutcome::LoggedIn),
        Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(LoginOutcome::AlreadyLoggedIn),
        Err(Error::Pkcs11(RvError::PinIncorrect, _)) => Err(Pkcs11Error::new(Problem::PinIncorrect, ctx)),
        Err(Error::Pkcs11(RvError::PinLocked, _)) => Err(Pkcs11Error::new(Problem::PinLocked, ctx)),
        Err(e) => Err(Pkcs11Error::from_cryptoki("log in", e, ctx)),
    }
}

/// Logs in with the PINs `keeper` offers (the source re-read, then the last accepted PIN),
/// recording which the token accepts or refuses; without a PIN source, logs in through the
/// protected authentication path.
pub(crate) fn login_with(session: &Session, keeper: &PinKeeper, ctx: &ErrorContext) -> Result<(), Pkcs11Error> {
    if !keeper.has_source() {
        log::debug!("C_Login without a PIN (protected authentication path) on {ctx}");
        return login(session, None, ctx).map(|_| ());
    }
    let candidates = keeper.candidates();
    if candidates.is_empty() {
        log::warn!("not logging in on {ctx}: every PIN available was already refused by the token");
        return Err(Pkcs11Error::new(Problem::PinIncorrect, ctx));
    }
    let mut last = None;
    for (i, pin) in candidates.iter().enumerate() {
        match login(session, Some(pin), ctx) {
            Ok(LoginOutcome::LoggedIn) => {
                keeper.accepted(pin);
                if i > 0 {
                    log::warn!("logged in on {ctx} with the PIN of the last login, not the current pin-source");
                } else {
                    log::debug!("C_Login accepted the PIN on {ctx}");
                }
                return Ok(());
            }
            Ok(LoginOutcome::AlreadyLoggedIn) => {
                log::debug!("already logged in on {ctx} (CKR_USER_ALREADY_LOGGED_IN)");
                return Ok(());
            }
            Err(e) if e.kind() == Pkcs11ErrorKind::PinIncorrect => {
                keeper.refused(pin);
                let source = keeper.source().map(ToString::to_string).unwrap_or_default();
                log::warn!(
                    "the token refused PIN candidate {} of {} from {source} on {ctx} (CKR_PIN_INCORRECT); \
                     it will not be presented again",
                    i + 1,
                    candidates.len()
                );
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Pkcs11Error::new(Problem::PinIncorrect, ctx)))
}

/// Whether to log in when opening a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Login<'a> {
    /// The token needs no login.
    Skip,
    /// Log in as the user with the PINs the keeper offers.
    User(&'a PinKeeper),
}

impl Connection {
    /// Opens the anchor session (in `mode`: a write-protected token refuses R/W sessions)
    /// and logs in if `how` says so.
    pub(crate) fn open(
        pkcs11: &Pkcs11,
        (generation, slot): (u64, Slot),
        mode: SessionMode,
        capacity: usize,
        how: Login<'_>,
        ctx: &ErrorContext,
    ) -> Result<Self, Pkcs11Error> {
        let anchor = open_session(pkcs11, slot, mode, ctx)?;
        log::debug!("opened the anchor session on {ctx} (generation {generation}, pool capacity {capacity})");
        if let Login::User(keeper) = how {
            if let Err(e) = login_with(&anchor, keeper, ctx) {
                let _ = anchor.close();
                return Err(e);
            }
        }
        Ok(Self {
            generation,
            slot,
            pkcs11: pkcs11.clone(),
            mode,
            capacity: capacity.max(1),
            anchor: Mutex::new(Some(anchor)),
            pool: Mutex::new(PoolState { idle: Vec::new(), open: 0 }),
            available: Condvar::new(),
        })
    }

    /// `C_GetTokenInfo` on the slot. Only call while holding a read guard of this generation.
    pub(crate) fn token_info(&self) -> Result<TokenInfo, cryptoki::error::Error> {
        self.pkcs11.get_token_info(self.slot)
    }

    /// How many pool sessions may be open at once.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Runs `f` on the anchor session (locked). Used for login and for session objects.
    pub(crate) fn with_anchor<T>(
        &self,
        operation: &'static str,
        ctx: &ErrorContext,
        f: impl FnOnce(&Session) -> Result<T, Pkcs11Error>,
    ) -> Result<T, Pkcs11Error> {
        let anchor = self.anchor.lock().unwrap_or_else(PoisonError::into_inner);
        match anchor.as_ref() {
            Some(session) => f(session),
            // The store closed the anchor (it is being dropped).
            None => {
                Err(Pkcs11Error::call(operation, Function::CloseSession, cryptoki::error::RvError::SessionClosed, ctx))
            }
        }
    }

    /// Takes an idle session, opens a new one if under capacity, or waits for one.
    pub(crate) fn checkout(&self, pkcs11: &Pkcs11, ctx: &ErrorContext) -> Result<Session, Pkcs11Error> {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(s) = pool.idle.pop() {
                return Ok(s);
            }
            if pool.open < self.capacity {
                pool.open += 1;
                let open = pool.open;
                drop(pool);
                log::trace!("pool grows to {open} of {} sessions on {ctx}", self.capacity);
                // Opening happens outside the lock: it is a call into the module.
                return open_session(pkcs11, self.slot, self.mode, ctx).inspect_err(|_| {
                    self.forget_one();
                });
            }
            log::trace!("all {} pool sessions busy; waiting", self.capacity);
            pool = self.available.wait(pool).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Returns a healthy session to the pool.
    pub(crate) fn checkin(&self, session: Session) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        pool.idle.push(session);
        drop(pool);
        self.available.notify_one();
    }

    /// Drops a session that is broken (or belongs to a dead generation) without closing it,
    /// freeing its place in the pool.
    pub(crate) fn discard(&self, session: Session) {
        drop(session); // opened with `_no_drop`: dropping does not call C_CloseSession
        self.forget_one();
    }

    fn forget_one(&self) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        pool.open = pool.open.saturating_sub(1);
        drop(pool);
        self.available.notify_one();
    }

    /// Closes every idle session and then the anchor. Only call while the context generation
    /// is still `self.generation` (hold a read guard), else the handles may be someone else's.
    /// Closing the anchor destroys the session objects created on it.
    pub(crate) fn close(&self) {
        let idle = {
            let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut pool.idle)
        };
        for s in idle {
            let _ = s.close();
        }
        let anchor = self.anchor.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(anchor) = anchor {
            let _ = anchor.close();
        }
    }
}

fn open_session(pkcs11: &Pkcs11, slot: Slot, mode: SessionMode, ctx: &ErrorContext) -> Result<Session, Pkcs11Error> {
    let r = match mode {
        SessionMode::ReadWrite => pkcs11.open_rw_session_no_drop(slot),
        SessionMode::ReadOnly => pkcs11.open_ro_session_no_drop(slot),
    };
    r.map_err(|e| Pkcs11Error::from_cryptoki("open session", e, ctx))
}
