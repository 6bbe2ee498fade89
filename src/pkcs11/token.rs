//! A logged-in token with sessions, handle cache and recovery: the part every PKCS#11 key
//! backend shares (the ed25519 session-key store and the secp256k1 wallet are adapters over it).
//!
//! [`Pkcs11Token::run`] checks a session out of the pool, runs a closure on it and sorts any
//! failure into a recovery step, then retries: forget cached handles and look keys up again,
//! log in again, open a new anchor session and pool, re-initialise the module (finalize +
//! initialize under the context's write lock) with exponential backoff, or wait and retry;
//! `CKR_GENERAL_ERROR` from a session that lost its login is the lost login, otherwise it
//! escalates from logging in again to logging out and in, then to re-initialising if the token
//! stopped answering. Every login (connecting, logging in again) is made under the context's
//! write lock, with no other call in flight: Kryoptic 1.5.4 deadlocks otherwise.
//!
//! Which step a return code gets is the `auto` column of `CKR_GUIDE` in
//! [`error_guide`](super::error_guide), rendered in the README's section "PKCS#11 errors: what
//! they mean and what to do" (this module keeps no copy of that table). Codes the guide does
//! not list, and arguments, templates, mechanisms, PINs and missing keys, are returned at once.
//!
//! A logout on any session logs out every session of the application, and SoftHSM then
//! reports `CKR_OBJECT_HANDLE_INVALID` (Kryoptic `CKR_GENERAL_ERROR`, neither
//! `USER_NOT_LOGGED_IN`) for private keys, so a look-up
//! that finds nothing first checks whether the session is still logged in, then whether the
//! token still answers `C_GetTokenInfo` (SoftHSM keeps a token whose directory went away
//! listed and logged in, with no objects, until the module is re-initialised).
//!
//! Every login re-reads the PIN source ([`PinKeeper`]): a rotated PIN is picked up, a wrong
//! one is presented once and then the last accepted PIN is used. Each step is logged (`log`
//! facade: debug for attempts and backoff, info for re-logins, reconnects and
//! re-initialisations, warn when giving up); no PIN or key material is ever logged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cryptoki::context::Function;
use cryptoki::error::RvError;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState};
use cryptoki::slot::Slot;

use super::context::{ContextGuard, SharedContext};
use super::error::{ErrorContext, KeySelector, Pkcs11Error, Problem};
use super::error_guide::{ckr_guide, AutoRecovery, Pkcs11ErrorKind};
use super::pin::{PinKeeper, PinSource};
use super::session_pool::{login_with, pool_size, Connection, Login, SessionMode};
use super::slot::{find_token, require_mechanisms, TokenSelector};
use super::uri::Pkcs11Uri;

/// How hard to try before giving up on a failing token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryPolicy {
    /// Attempts per operation, the first included.
    pub max_attempts: u32,
    /// First wait before retrying after a token or device failure.
    pub initial_backoff: Duration,
    /// Ceiling of the doubling wait.
    pub max_backoff: Duration,
    /// Longest wait, before a login or a re-initialisation, for the calls in flight on the
    /// module to return (they must not race it); then the operation fails with
    /// [`ModuleBusy`](super::Pkcs11ErrorKind::ModuleBusy) rather than hang behind a call that
    /// never returns.
    pub module_busy_wait: Duration,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(25),
            max_backoff: Duration::from_secs(2),
            module_busy_wait: Duration::from_secs(10),
        }
    }
}

/// How to reach a token: module, token, PIN, pool and recovery settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenConfig {
    /// The PKCS#11 library.
    pub module: PathBuf,
    /// Which token.
    pub token: TokenSelector,
    /// Where the user PIN comes from; `None` for tokens without login or with a protected
    /// authentication path (PIN pad).
    pub pin: Option<PinSource>,
    /// Pool size; default 2 × CPUs, always capped by the token's session limit.
    pub pool_size: Option<usize>,
    /// R/W (default) or R/O pool sessions.
    pub session_mode: SessionMode,
    /// Retry and backoff settings.
    pub recovery: RecoveryPolicy,
}

impl TokenConfig {
    /// A configuration with defaults for pool, session mode and recovery.
    pub fn new(module: impl Into<PathBuf>, token: TokenSelector, pin: Option<PinSource>) -> Self {
        Self {
            module: module.into(),
            token,
            pin,
            pool_size: None,
            session_mode: SessionMode::ReadWrite,
            recovery: RecoveryPolicy::default(),
        }
    }

    /// The module, token and PIN source of a PKCS#11 URI. `module-path` and a token
    /// attribute (`token=`, `serial=`, …) are required; `module-name` alone is refused because
    /// this crate does not consult a module registry.
    pub fn from_uri(uri: &Pkcs11Uri) -> Result<Self, Pkcs11Error> {
        let module = match (&uri.module_path, &uri.module_name) {
            (Some(p), _) => p.clone(),
            (None, Some(name)) => {
                return Err(Pkcs11Error::config(format!(
                    "module-name={name} is not resolved; give module-path=/path/to/module.so"
                )))
            }
            (None, None) => return Err(Pkcs11Error::config("the URI has no module-path=/path/to/module.so")),
        };
        let token = TokenSelector::from_uri(uri);
        if token == TokenSelector::default() {
            return Err(Problem::NoTokenSelector.into());
        }
        Ok(Self::new(module, token, uri.pin_source.clone()))
    }
}

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
struct Counters {
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

/// The public or the private half of a key pair (the object class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KeyHalf {
    /// `CKO_PUBLIC_KEY`.
    Public,
    /// `CKO_PRIVATE_KEY`.
    Private,
}

impl KeyHalf {
    /// The `CKA_CLASS` of this half.
    pub(crate) fn class(self) -> ObjectClass {
        match self {
            Self::Public => ObjectClass::PUBLIC_KEY,
            Self::Private => ObjectClass::PRIVATE_KEY,
        }
    }
}

impl KeyHalf {
    /// Its place in a [`HandleCache`] entry.
    fn slot(self) -> usize {
        match self {
            Self::Public => 0,
            Self::Private => 1,
        }
    }
}

/// Cached object handles by `CKA_ID`, each half in its place ([`KeyHalf::slot`]); keyed by the
/// id alone so a look-up needs no allocation.
type HandleCache = HashMap<Vec<u8>, [Option<ObjectHandle>; 2]>;

/// A token reached through a shared context, logged in for its whole life, with a session
/// pool, a handle cache and automatic recovery.
pub struct Pkcs11Token {
    ctx: Arc<SharedContext>,
    selector: TokenSelector,
    pin: PinKeeper,
    /// Label and serial of the token found last (for error messages and logs).
    identity: Mutex<(Option<String>, Option<String>)>,
    pool_size: Option<usize>,
    mode: SessionMode,
    policy: RecoveryPolicy,
    required: Vec<MechanismType>,
    base_context: ErrorContext,
    conn: Mutex<Option<Arc<Connection>>>,
    login_required: AtomicBool,
    handles: Mutex<HandleCache>,
    counters: Counters,
}

impl std::fmt::Debug for Pkcs11Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Token")
            .field("module", &self.ctx.module())
            .field("selector", &self.selector)
            .field("pin", &self.pin)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Token {
    /// Loads the module (once per process), finds the token, checks it offers every mechanism
    /// in `required`, opens the anchor session and logs in.
    ///
    /// Errors here are not retried: a wrong path, label or PIN should fail fast and clearly.
    pub fn open(config: TokenConfig, required: &[MechanismType]) -> Result<Self, Pkcs11Error> {
        let open_ctx = ErrorContext {
            operation: Some("open token"),
            module: Some(config.module.clone()),
            token: config.token.label.clone(),
            serial: config.token.serial.clone(),
            ..ErrorContext::default()
        };
        let pin = PinKeeper::open(config.pin.clone())?;
        let ctx = SharedContext::get(&config.module).map_err(|e| e.in_context(&open_ctx))?;
        log::debug!("opening token {} with module {}", config.token, ctx.module().display());
        let token = Self {
            base_context: ErrorContext { module: Some(ctx.module().to_path_buf()), ..ErrorContext::default() },
            identity: Mutex::new((config.token.label.clone(), config.token.serial.clone())),
            ctx,
            selector: config.token,
            pin,
            pool_size: config.pool_size,
            mode: config.session_mode,
            policy: config.recovery,
            required: required.to_vec(),
            conn: Mutex::new(None),
            login_required: AtomicBool::new(true),
            handles: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        };
        {
            // Exclusive: connecting logs in (see `attempt`).
            let guard = token.ctx.exclusive(token.policy.module_busy_wait).map_err(|e| e.in_context(&open_ctx))?;
            token.connection(&guard).map_err(|e| e.in_context(&open_ctx))?;
        }
        log::debug!("token {} open: {}", token.selector, token.error_context());
        Ok(token)
    }

    /// The shared context (for raw cryptoki calls on the same module: tests, benches, fault
    /// injection).
    pub fn context(&self) -> &Arc<SharedContext> {
        &self.ctx
    }

    /// The token's current slot. Slot ids change between loads: use it only for immediate
    /// calls, never store it.
    pub fn slot(&self) -> Option<Slot> {
        self.conn_slot().map(|c| c.slot)
    }

    fn conn_slot(&self) -> Option<Arc<Connection>> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many sessions the pool may hold.
    pub fn pool_capacity(&self) -> usize {
        self.conn_slot().map_or(1, |c| c.capacity())
    }

    /// Module, token (label and serial) and slot, for error messages.
    pub fn error_context(&self) -> ErrorContext {
        let mut ctx = self.identity_context();
        ctx.slot = self.slot().map(|s| s.id());
        ctx
    }

    /// Module and token (label and serial), without the slot (does not lock the connection).
    fn identity_context(&self) -> ErrorContext {
        let mut ctx = self.base_context.clone();
        let (label, serial) = self.identity.lock().unwrap_or_else(PoisonError::into_inner).clone();
        ctx.token = label;
        ctx.serial = serial;
        ctx
    }

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

    /// Whether [`connection`](Self::connection) would have to connect (and log in) under
    /// this guard.
    fn must_connect(&self, guard: &ContextGuard<'_>) -> bool {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.as_ref().map_or(true, |c| c.generation != guard.generation())
    }

    /// The connection for the guard's generation, connecting (find token, probe, anchor,
    /// login) if there is none. Connecting needs an exclusive guard (see `attempt`).
    fn connection(&self, guard: &ContextGuard<'_>) -> Result<Arc<Connection>, Pkcs11Error> {
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            if c.generation == guard.generation() {
                return Ok(Arc::clone(c));
            }
        }
        debug_assert!(guard.is_exclusive(), "connecting logs in, which needs an exclusive guard");
        // A connection from an older generation is dropped without closing its sessions.
        *slot = None;
        let pkcs11 = guard.pkcs11();
        let (token_slot, info) = find_token(pkcs11, self.ctx.module(), &self.selector)
            .map_err(|e| e.in_context(&self.identity_context()))?;
        {
            let label = info.label().trim().to_string();
            let serial = info.serial_number().trim().to_string();
            *self.identity.lock().unwrap_or_else(PoisonError::into_inner) = (Some(label), Some(serial));
        }
        let mut ctx = self.identity_context();
        ctx.slot = Some(token_slot.id());
        log::debug!("found {ctx} (generation {})", guard.generation());
        require_mechanisms(pkcs11, token_slot, &self.required, &ctx)?;
        let login_required = info.login_required();
        if login_required && !self.pin.has_source() && !info.protected_authentication_path() {
            return Err(Pkcs11Error::new(Problem::PinRequired, &ctx));
        }
        let conn = Arc::new(Connection::open(
            pkcs11,
            (guard.generation(), token_slot),
            self.mode,
            pool_size(&info, self.pool_size),
            if login_required { Login::User(&self.pin) } else { Login::Skip },
            &ctx,
        )?);
        self.login_required.store(login_required, Ordering::Relaxed);
        self.invalidate_handles();
        *slot = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Forgets `bad` if it is still the current connection (its sessions are leaked, not
    /// closed: their handles may already belong to someone else).
    fn drop_connection(&self, bad: &Arc<Connection>) {
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, bad)) {
            *slot = None;
        }
    }

    /// Forgets every cached object handle.
    fn invalidate_handles(&self) {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Forgets the cached handle of one half of key pair `id`.
    pub(crate) fn forget_handle(&self, half: KeyHalf, id: &[u8]) {
        if let Some(entry) = self.handles.lock().unwrap_or_else(PoisonError::into_inner).get_mut(id) {
            entry[half.slot()] = None;
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

    /// Finds every object matching `template`.
    pub(crate) fn find_all(
        &self,
        session: &Session,
        template: &[Attribute],
        ctx: &ErrorContext,
    ) -> Result<Vec<ObjectHandle>, Pkcs11Error> {
        session.find_objects(template).map_err(|e| Pkcs11Error::from_cryptoki("find objects", e, ctx))
    }

    /// Finds every object matching `template`, making sure an empty answer is not caused by a
    /// lost login: if nothing matches and the session is logged out, returns a
    /// `CKR_USER_NOT_LOGGED_IN` error that [`run`](Self::run) recovers from.
    ///
    /// Why look again after a successful login check: another thread may have logged in
    /// again between our search (made while logged out) and the check.
    pub(crate) fn find_all_logged_in(
        &self,
        session: &Session,
        template: &[Attribute],
        ctx: &ErrorContext,
    ) -> Result<Vec<ObjectHandle>, Pkcs11Error> {
        for _ in 0..3 {
            let found = self.find_all(session, template, ctx)?;
            if !found.is_empty() {
                return Ok(found);
            }
            self.check_logged_in(session, ctx)?;
        }
        self.check_token_answers(ctx)?;
        Ok(Vec::new())
    }

    /// Finds exactly one object matching `template`. None → `KeyNotFound` (or, if the
    /// session lost its login, a `CKR_USER_NOT_LOGGED_IN` error that [`run`](Self::run)
    /// recovers from); several → `AmbiguousKey`.
    pub(crate) fn find_one(
        &self,
        session: &Session,
        template: &[Attribute],
        selector: &KeySelector,
        ctx: &ErrorContext,
    ) -> Result<ObjectHandle, Pkcs11Error> {
        let mut found = self.find_all_logged_in(session, template, ctx)?;
        match found.len() {
            1 => found.pop().ok_or_else(|| not_found(selector, ctx)),
            0 => Err(not_found(selector, ctx)),
            count => Err(Pkcs11Error::new(Problem::AmbiguousKey(selector.clone(), count), ctx)),
        }
    }

    /// The cached handle of `half` of key pair `id`, if there is one.
    pub(crate) fn handle_if_cached(&self, half: KeyHalf, id: &[u8]) -> Option<ObjectHandle> {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).get(id).and_then(|e| e[half.slot()])
    }

    /// The cached handle of `half` of key pair `id`, looking it up with `template` on a miss.
    pub(crate) fn cached_handle(
        &self,
        session: &Session,
        half: KeyHalf,
        id: &[u8],
        template: &[Attribute],
        ctx: &ErrorContext,
    ) -> Result<ObjectHandle, Pkcs11Error> {
        if let Some(h) = self.handle_if_cached(half, id) {
            return Ok(h);
        }
        let h = self.find_one(session, template, &KeySelector::Id(id.to_vec()), ctx)?;
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).entry(id.to_vec()).or_default()[half.slot()] =
            Some(h);
        Ok(h)
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
    fn check_token_answers(&self, ctx: &ErrorContext) -> Result<(), Pkcs11Error> {
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
    fn check_logged_in(&self, session: &Session, ctx: &ErrorContext) -> Result<(), Pkcs11Error> {
        if !self.login_required.load(Ordering::Relaxed) {
            return Ok(());
        }
        let info = session.get_session_info().map_err(|e| Pkcs11Error::from_cryptoki("session info", e, ctx))?;
        match info.session_state() {
            SessionState::RoUser | SessionState::RwUser => Ok(()),
            _ => Err(Pkcs11Error::call("check login", Function::GetSessionInfo, RvError::UserNotLoggedIn, ctx)),
        }
    }

    /// Reads attributes of an object (attributes the token withholds are simply absent).
    pub(crate) fn attributes(
        &self,
        session: &Session,
        object: ObjectHandle,
        types: &[AttributeType],
        ctx: &ErrorContext,
    ) -> Result<Vec<Attribute>, Pkcs11Error> {
        session.get_attributes(object, types).map_err(|e| Pkcs11Error::from_cryptoki("read attributes", e, ctx))
    }

    /// `C_SignInit` + `C_Sign` of `data` with `key`.
    pub fn sign(
        &self,
        session: &Session,
        mechanism: &Mechanism<'_>,
        key: ObjectHandle,
        data: &[u8],
        ctx: &ErrorContext,
    ) -> Result<Vec<u8>, Pkcs11Error> {
        session.sign(mechanism, key, data).map_err(|e| Pkcs11Error::from_cryptoki("sign", e, ctx))
    }

    /// Closes the pool and the anchor session (which destroys session objects), if they still
    /// belong to the current context generation. Done on drop.
    fn close(&self) {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(conn) = conn else { return };
        if let Ok(guard) = self.ctx.read() {
            if guard.generation() == conn.generation {
                conn.close();
            }
        }
    }
}

fn not_found(selector: &KeySelector, ctx: &ErrorContext) -> Pkcs11Error {
    Pkcs11Error::new(Problem::KeyNotFound(selector.clone()), ctx)
}

impl Drop for Pkcs11Token {
    fn drop(&mut self) {
        self.close();
    }
}
