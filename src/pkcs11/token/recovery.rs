//! The recovery loop of [`Pkcs11Token::run`]: each failure sorted into a step (the `auto`
//! column of the error guide's `CKR_GUIDE`), the step taken, the call tried again; and the
//! checks that tell a lost login or a vanished token from a missing key.

use std::sync::atomic::{AtomicU64, Ordering};

use cryptoki::context::Function;
use cryptoki::error::RvError;
use cryptoki::session::{Session, SessionState};

use super::Pkcs11Token;
use crate::pkcs11::context::ContextGuard;
use crate::pkcs11::error::{ErrorContext, Pkcs11Error, Problem};
use crate::pkcs11::error_guide::{ckr_guide, AutoRecovery, Pkcs11ErrorKind};
use crate::pkcs11::session_pool::login_with;

/// Counters of recovery steps taken since the token was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Cached object handles dropped after `CKR_*_HANDLE_INVALID`.
    pub handle_refinds: u64,
    /// Logins repeated after the application was logged out.
    pub relogins: u64,
    /// New anchor + pool after lost sessions.
    pub reconnects: u64,
    /// Module re-initialisations (finalize + initialize).
    pub reinitializations: u64,
    /// Plain retries after a transient device or memory error.
    pub retries: u64,
    /// Logins in which the token refused a PIN read from the PIN source (each distinct wrong
    /// PIN is presented at most once).
    pub pins_refused: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    handle_refinds: AtomicU64,
    relogins: AtomicU64,
    reconnects: AtomicU64,
    reinitializations: AtomicU64,
    retries: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Refind,
    Relogin,
    Reconnect,
    Reinitialize,
    Retry,
    /// `CKR_GENERAL_ERROR`: wait, log in again (harmless if still logged in), re-find.
    Recheck,
    /// `CKR_GENERAL_ERROR` again: log out and in (resets the module's login state).
    HardRelogin,
}

/// The recovery step for an error: for return codes, the `auto` column of the guide's
/// `CKR_GUIDE`, so the README table and the behaviour agree.
fn step_for(e: &Pkcs11Error) -> Option<Step> {
    match e.problem() {
        Problem::Call { rv, .. } => match ckr_guide(*rv).map(|g| g.auto) {
            Some(AutoRecovery::Refind) => Some(Step::Refind),
            Some(AutoRecovery::Relogin) => Some(Step::Relogin),
            Some(AutoRecovery::Reconnect) => Some(Step::Reconnect),
            Some(AutoRecovery::Reinitialize) => Some(Step::Reinitialize),
            Some(AutoRecovery::Backoff) => Some(Step::Retry),
            // CKR_GENERAL_ERROR: the spec calls it unrecoverable, but SoftHSM 2.6.1 answers it
            // when a logout races an operation on a private key (the object vanishes mid-call).
            Some(AutoRecovery::Escalate) => Some(Step::Recheck),
            Some(AutoRecovery::None | AutoRecovery::Success) | None => None,
        },
        // The token was found at open time; not finding it now means it went away.
        _ => match e.kind() {
            Pkcs11ErrorKind::TokenNotFound | Pkcs11ErrorKind::ModuleLoad | Pkcs11ErrorKind::TokenUnavailable => {
                Some(Step::Reinitialize)
            }
            _ => None,
        },
    }
}

impl Pkcs11Token {
    /// Recovery steps taken so far.
    pub(crate) fn recovery_stats(&self) -> RecoveryStats {
        let c = &self.counters;
        RecoveryStats {
            handle_refinds: c.handle_refinds.load(Ordering::Relaxed),
            relogins: c.relogins.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            reinitializations: c.reinitializations.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            pins_refused: self.pin.refusals(),
        }
    }

    /// Runs `f` on a pooled session, with recovery and retries (see the module docs).
    ///
    /// `f` may run several times, so it must be safe to repeat. It must not call `run` or
    /// `run_on_anchor` itself.
    pub fn run<T>(
        &self,
        operation: &'static str,
        f: impl FnMut(&Session, &ErrorContext) -> Result<T, Pkcs11Error>,
    ) -> Result<T, Pkcs11Error> {
        self.run_inner(operation, false, f)
    }

    /// Like [`run`](Self::run) but on the anchor session: objects created here as session
    /// objects (`CKA_TOKEN=false`) live until the token is closed.
    pub(crate) fn run_on_anchor<T>(
        &self,
        operation: &'static str,
        f: impl FnMut(&Session, &ErrorContext) -> Result<T, Pkcs11Error>,
    ) -> Result<T, Pkcs11Error> {
        self.run_inner(operation, true, f)
    }

    fn run_inner<T>(
        &self,
        operation: &'static str,
        on_anchor: bool,
        mut f: impl FnMut(&Session, &ErrorContext) -> Result<T, Pkcs11Error>,
    ) -> Result<T, Pkcs11Error> {
        let mut backoff = self.policy.initial_backoff;
        let mut pending: Option<Step> = None;
        let mut attempt = 0u32;
        let mut general_errors = 0u32;
        // What earlier attempts knew (key, slot): a later failure to find the token at all
        // still names them.
        let mut seen = self.error_context().with_operation(operation);
        loop {
            attempt += 1;
            let (result, generation) = self.attempt(operation, on_anchor, pending, &mut f);
            let err = match result {
                Ok(v) => {
                    if attempt > 1 {
                        log::debug!("{operation}: succeeded on attempt {attempt} after recovery");
                    }
                    return Ok(v);
                }
                Err(e) => {
                    let e = e.in_context(&seen).in_context(&self.error_context());
                    if let Some(c) = e.context() {
                        seen = c.clone();
                    }
                    e
                }
            };
            let base = step_for(&err);
            let mut step = base;
            if step == Some(Step::Recheck) {
                // Escalate: log in again, then log out and in, then re-initialise.
                general_errors += 1;
                step = match general_errors {
                    1 => Some(Step::Recheck),
                    2 => Some(Step::HardRelogin),
                    // Re-initialising kills every session object (ephemeral keys), so only when
                    // the token itself stopped answering; otherwise the call is just refused.
                    _ if self.token_answers() => None,
                    _ => Some(Step::Reinitialize),
                };
            }
            if step.is_none() || attempt >= self.policy.max_attempts.max(1) {
                if step.is_some() {
                    log::warn!("{operation}: giving up after {attempt} attempts: {err}");
                } else {
                    log::debug!("{operation}: not recoverable: {err}");
                }
                // Only a token that really went missing is reported as gone; otherwise the last
                // error itself is the clearest message.
                return Err(match base {
                    Some(Step::Reinitialize) => Pkcs11Error::token_gone(attempt, err),
                    _ => err,
                });
            }
            log::debug!(
                "{operation}: attempt {attempt} of {} failed with {} {}; recovery step {step:?}, backoff {backoff:?}",
                self.policy.max_attempts,
                err.function().map_or_else(|| "-".to_string(), |f| format!("C_{f:?}")),
                err.code().map_or_else(|| format!("{:?}", err.kind()), str::to_string),
            );
            pending = step;
            match step {
                Some(Step::Refind) => {
                    self.counters.handle_refinds.fetch_add(1, Ordering::Relaxed);
                    self.invalidate_handles();
                }
                Some(Step::Reinitialize) => {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.policy.max_backoff);
                    if let Some(g) = generation {
                        // A failure here shows up again in the next attempt's `read()`.
                        match self.ctx.reinitialize(g, Some(self.policy.module_busy_wait)) {
                            Ok(true) => {
                                self.counters.reinitializations.fetch_add(1, Ordering::Relaxed);
                                log::info!("{operation}: module re-initialised (attempt {attempt})");
                            }
                            Ok(false) => log::debug!("{operation}: another thread re-initialised the module"),
                            Err(e) => log::warn!("{operation}: re-initialising the module failed: {e}"),
                        }
                    }
                }
                Some(Step::Retry) => {
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.policy.max_backoff);
                }
                Some(Step::Recheck) => {
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.policy.max_backoff);
                    pending = Some(Step::Relogin);
                }
                Some(Step::HardRelogin) => std::thread::sleep(backoff),
                // Done at the start of the next attempt, under the context guard.
                Some(Step::Relogin) | Some(Step::Reconnect) | None => {}
            }
        }
    }

    /// One attempt. Returns the result and the context generation it ran under (for a
    /// re-initialisation that must not repeat one another thread already did).
    fn attempt<T>(
        &self,
        operation: &'static str,
        on_anchor: bool,
        pending: Option<Step>,
        f: &mut impl FnMut(&Session, &ErrorContext) -> Result<T, Pkcs11Error>,
    ) -> (Result<T, Pkcs11Error>, Option<u64>) {
        let guard = match self.ctx.read() {
            Ok(g) => g,
            Err(e) => return (Err(e), None),
        };
        // Why exclusive for logins: Kryoptic 1.5.4 deadlocks when C_Login or C_Logout runs while
        // another thread is inside C_SignInit or C_FindObjectsInit on the same slot (see
        // `SharedContext::exclusive`). Logins are rare (opening, recovery), so the pause is short.
        let logs_in = matches!(pending, Some(Step::Relogin | Step::HardRelogin | Step::Reconnect));
        let guard = if logs_in || self.must_connect(&guard) {
            drop(guard);
            match self.ctx.exclusive(self.policy.module_busy_wait) {
                Ok(g) => g,
                Err(e) => return (Err(e), None),
            }
        } else {
            guard
        };
        let generation = Some(guard.generation());
        let result = self.attempt_guarded(&guard, operation, on_anchor, pending, f);
        (result, generation)
    }

    fn attempt_guarded<T>(
        &self,
        guard: &ContextGuard<'_>,
        operation: &'static str,
        on_anchor: bool,
        pending: Option<Step>,
        f: &mut impl FnMut(&Session, &ErrorContext) -> Result<T, Pkcs11Error>,
    ) -> Result<T, Pkcs11Error> {
        let mut conn = self.connection(guard)?;
        let ctx = self.error_context().with_operation(operation);
        match pending {
            Some(Step::Reconnect) => {
                self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                log::info!("{operation}: sessions lost; opening a new anchor session and pool on {ctx}");
                self.drop_connection(&conn);
                conn = self.connection(guard)?;
            }
            Some(Step::Relogin) => {
                self.counters.relogins.fetch_add(1, Ordering::Relaxed);
                log::info!("{operation}: logging in again on {ctx}");
                self.invalidate_handles();
                conn.with_anchor(operation, &ctx, |s| login_with(s, &self.pin, &ctx))?;
            }
            Some(Step::HardRelogin) => {
                self.counters.relogins.fetch_add(1, Ordering::Relaxed);
                log::info!("{operation}: logging out and in again on {ctx} (CKR_GENERAL_ERROR repeated)");
                self.invalidate_handles();
                conn.with_anchor(operation, &ctx, |s| {
                    // Why log out: SoftHSM 2.6.1 can be left answering CKR_GENERAL_ERROR after
                    // a logout raced with an operation; a fresh login resets its state.
                    let _ = s.logout();
                    login_with(s, &self.pin, &ctx)
                })?;
            }
            Some(Step::Refind) => log::debug!("{operation}: looking keys up again on {ctx}"),
            _ => {}
        }
        if on_anchor {
            return conn.with_anchor(operation, &ctx, |s| self.lost_login_or(s, f(s, &ctx), &ctx));
        }
        let session = conn.checkout(guard.pkcs11(), &ctx)?;
        let result = self.lost_login_or(&session, f(&session, &ctx), &ctx);
        match result.as_ref().err().and_then(step_for) {
            // The session itself is suspect: do not give it back.
            Some(Step::Reconnect) | Some(Step::Reinitialize) => conn.discard(session),
            _ => conn.checkin(session),
        }
        result
    }

    /// `result`, unless it is a `CKR_GENERAL_ERROR` from a session that lost its login: then
    /// the lost login, which [`run`](Self::run) recovers from by logging in again at once.
    /// Why: Kryoptic 1.5.4 answers `CKR_GENERAL_ERROR` (not `CKR_USER_NOT_LOGGED_IN`) to
    /// `C_SignInit` with a private token key after a `C_Logout`, and SoftHSM 2.6.1 answers it
    /// when a logout races the call; escalating would wait first.
    fn lost_login_or<T>(
        &self,
        session: &Session,
        result: Result<T, Pkcs11Error>,
        ctx: &ErrorContext,
    ) -> Result<T, Pkcs11Error> {
        match result {
            Err(e) if matches!(e.problem(), Problem::Call { rv: RvError::GeneralError, .. }) => {
                self.check_logged_in(session, ctx)?;
                Err(e)
            }
            other => other,
        }
    }

    /// Whether the token still answers `C_GetTokenInfo` (true when there is no connection to
    /// ask). Takes a read guard: do not call while holding one.
    fn token_answers(&self) -> bool {
        let Ok(guard) = self.ctx.read() else { return false };
        match self.conn_slot() {
            Some(conn) if conn.generation == guard.generation() => conn.token_info().is_ok(),
            _ => true,
        }
    }

    /// Errors with [`Pkcs11ErrorKind::TokenUnavailable`] if the token no longer answers
    /// `C_GetTokenInfo`. Why: SoftHSM 2.6.1 keeps the slot and the logged-in sessions of a token
    /// whose directory went away, but finds no objects on it (and answers `CKR_GENERAL_ERROR`
    /// to `C_GetTokenInfo`) until the module is re-initialised, even after the directory is
    /// back; an empty search must not be taken for a deleted key then.
    pub(super) fn check_token_answers(&self, ctx: &ErrorContext) -> Result<(), Pkcs11Error> {
        let Some(conn) = self.conn_slot() else { return Ok(()) };
        match conn.token_info() {
            Ok(_) => Ok(()),
            Err(e) => {
                let rv = match e {
                    cryptoki::error::Error::Pkcs11(rv, _) => rv,
                    _ => RvError::GeneralError,
                };
                let e = Pkcs11Error::new(Problem::TokenUnavailable(rv), ctx);
                log::warn!(
                    "{ctx}: the token no longer answers C_GetTokenInfo ({}) although its slot is listed",
                    e.code().unwrap_or("-")
                );
                Err(e)
            }
        }
    }

    /// Errors with `CKR_USER_NOT_LOGGED_IN` if the token needs a login and `session` is in a
    /// public state (someone logged the application out).
    pub(super) fn check_logged_in(&self, session: &Session, ctx: &ErrorContext) -> Result<(), Pkcs11Error> {
        if !self.login_required.load(Ordering::Relaxed) {
            return Ok(());
        }
        let info = session.get_session_info().map_err(|e| Pkcs11Error::from_cryptoki("session info", e, ctx))?;
        match info.session_state() {
            SessionState::RoUser | SessionState::RwUser => Ok(()),
            _ => Err(Pkcs11Error::call("check login", Function::GetSessionInfo, RvError::UserNotLoggedIn, ctx)),
        }
    }
}
