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
//!
//! Here: the token, its connection (anchor session and pool) and its calls; `config` holds
//! how to reach it and how hard to try, `recovery` the loop above, `objects` the look-ups and
//! the handle cache.

mod config;
mod objects;
mod recovery;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::slot::Slot;

pub use config::{RecoveryPolicy, TokenConfig};
pub(crate) use objects::KeyHalf;
pub use recovery::RecoveryStats;

use super::context::{ContextGuard, SharedContext};
use super::error::{ErrorContext, Pkcs11Error, Problem};
use super::pin::PinKeeper;
use super::session_pool::{pool_size, Connection, Login, SessionMode};
use super::slot::{find_token, require_mechanisms, TokenSelector};
use objects::HandleCache;
use recovery::Counters;

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

impl Drop for Pkcs11Token {
    fn drop(&mut self) {
        self.close();
    }
}
