//! One process-wide PKCS#11 context per module.
//!
//! `C_Initialize` may be called once per process per library, and `C_Finalize` must never run
//! while another thread is inside a call (crashes in pkcs11-provider#281, SoftHSM#446). So every
//! module gets one [`SharedContext`] in a global registry, and every call into the module is made
//! while holding a read guard from [`SharedContext::read`]; re-initialisation (finalize +
//! initialize) takes the write lock. Each (re-)initialisation bumps a generation number:
//! sessions and object handles from an older generation are dead and must be dropped without
//! being closed (their numbers may have been reused).
//!
//! After `fork()` the child must call `C_Initialize` itself (PKCS#11 usage guide §6.5.1). We
//! record the process id at initialisation and re-initialise lazily when it changes (the
//! p11-kit "forkid" approach), instead of doing work in `pthread_atfork`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CryptokiError, RvError};

use super::error::{ErrorContext, Pkcs11Error, Problem};

/// The global registry: module path → shared context.
fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<SharedContext>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Arc<SharedContext>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

struct State {
    /// `None` after a failed re-initialisation.
    pkcs11: Option<Pkcs11>,
    /// Bumped on every successful (re-)initialisation.
    generation: u64,
    /// The process that called `C_Initialize`.
    pid: u32,
}

/// A loaded, initialised PKCS#11 module shared by every store in the process.
pub struct SharedContext {
    module: PathBuf,
    state: RwLock<State>,
}

impl std::fmt::Debug for SharedContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedContext").field("module", &self.module).finish_non_exhaustive()
    }
}

/// Proof that the context is initialised and will not be finalised while this guard lives.
/// Every PKCS#11 call must be made while holding one. Do not take a second guard on the same
/// thread while holding one (a waiting writer would deadlock the pair).
pub struct ContextGuard<'a> {
    held: Held<'a>,
    // A clone (an Arc) so no unsafe borrow into the guarded state is needed.
    pkcs11: Pkcs11,
}

/// A shared guard (calls on other threads may run meanwhile) or an exclusive one (none may).
enum Held<'a> {
    Shared(RwLockReadGuard<'a, State>),
    Exclusive(RwLockWriteGuard<'a, State>),
}

impl ContextGuard<'_> {
    /// The cryptoki context.
    pub fn pkcs11(&self) -> &Pkcs11 {
        &self.pkcs11
    }

    /// The initialisation generation this guard belongs to.
    pub(crate) fn generation(&self) -> u64 {
        match &self.held {
            Held::Shared(state) => state.generation,
            Held::Exclusive(state) => state.generation,
        }
    }

    /// Whether no other thread can be inside a call into the module while this guard lives.
    pub(crate) fn is_exclusive(&self) -> bool {
        matches!(self.held, Held::Exclusive(_))
    }
}

impl SharedContext {
    /// The shared context for `module`, loading and initialising it on first use.
    ///
    /// The path is canonicalised so two spellings of one file share a context.
    pub(crate) fn get(module: &Path) -> Result<Arc<Self>, Pkcs11Error> {
        let load_err = |reason: String| module_load(module, reason);
        let canonical = std::fs::canonicalize(module).map_err(|e| load_err(e.to_string()))?;
        let mut reg = registry().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ctx) = reg.get(&canonical) {
            return Ok(Arc::clone(ctx));
        }
        let pkcs11 = Pkcs11::new(&canonical).map_err(|e| load_err(e.to_string()))?;
        initialize(&pkcs11, &canonical)?;
        log::debug!("loaded and initialised PKCS#11 module {}", canonical.display());
        let ctx = Arc::new(Self {
            module: canonical.clone(),
            state: RwLock::new(State { pkcs11: Some(pkcs11), generation: 1, pid: std::process::id() }),
        });
        reg.insert(canonical, Arc::clone(&ctx));
        Ok(ctx)
    }

    /// The canonical module path.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// A read guard on an initialised context, re-initialising first if the process forked
    /// or an earlier re-initialisation failed.
    pub fn read(&self) -> Result<ContextGuard<'_>, Pkcs11Error> {
        loop {
            let state = self.state.read();
            if state.pid == std::process::id() {
                if let Some(pkcs11) = state.pkcs11.clone() {
                    return Ok(ContextGuard { held: Held::Shared(state), pkcs11 });
                }
            }
            let generation = state.generation;
            drop(state);
            // Nothing of this process runs on a context that is not initialised (or belongs
            // to the parent process), so the write lock waits only for calls another thread
            // began after initialising it first; unbounded, as this path has no policy.
            self.reinitialize(generation, None)?;
        }
    }

    /// Like [`read`](Self::read), but no other thread is inside a call into the module while
    /// the guard lives: calls in flight finish first and new ones wait.
    ///
    /// For calls that change the application's login state. Kryoptic 1.5.4 takes its token
    /// lock and then every session's lock in `C_Login` and `C_Logout`, and the other way round
    /// in `C_SignInit` and `C_FindObjectsInit`, so a login racing a signature on another
    /// session of the slot deadlocks the module.
    ///
    /// Waits at most `wait` for the calls in flight (new calls wait meanwhile, then go on): a
    /// call that never returns (a hung HSM connection) gives a
    /// [`ModuleBusy`](super::Pkcs11ErrorKind::ModuleBusy) error instead of stopping every
    /// later login, and the calls that do not need the lock keep working.
    pub(crate) fn exclusive(&self, wait: Duration) -> Result<ContextGuard<'_>, Pkcs11Error> {
        loop {
            let state = self.write_within(Some(wait))?;
            if state.pid == std::process::id() {
                if let Some(pkcs11) = state.pkcs11.clone() {
                    return Ok(ContextGuard { held: Held::Exclusive(state), pkcs11 });
                }
            }
            let generation = state.generation;
            drop(state);
            self.reinitialize(generation, Some(wait))?;
        }
    }

    /// The write lock, waiting at most `wait` (`None`: as long as it takes).
    fn write_within(&self, wait: Option<Duration>) -> Result<RwLockWriteGuard<'_, State>, Pkcs11Error> {
        let Some(deadline) = wait.and_then(|w| Instant::now().checked_add(w)) else {
            return Ok(self.state.write());
        };
        self.state.try_write_until(deadline).ok_or_else(|| {
            Pkcs11Error::new(Problem::ModuleBusy { waited: wait.unwrap_or_default() }, &module_context(&self.module))
        })
    }

    /// Runs `f` while no other thread is inside a call into the module (it holds the write
    /// lock, so calls in flight finish first and new ones wait).
    ///
    /// For operations that must not race a call on another thread, such as a raw
    /// `C_CloseAllSessions` in fault-injection tests (SoftHSM 2.6.1 frees a session that
    /// another thread may be using inside `C_Sign`) or a raw `C_Logout` on Kryoptic (see
    /// [`exclusive`](Self::exclusive)).
    pub fn quiesced<T>(&self, f: impl FnOnce(&Pkcs11) -> T) -> Result<T, Pkcs11Error> {
        let state = self.state.write();
        match state.pkcs11.as_ref() {
            Some(pkcs11) if state.pid == std::process::id() => Ok(f(pkcs11)),
            _ => Err(Pkcs11Error::call(
                "quiesce module",
                Function::Initialize,
                RvError::CryptokiNotInitialized,
                &module_context(&self.module),
            )),
        }
    }

    /// Finalises and initialises the module again, unless someone already did since
    /// `seen_generation`. Takes the write lock, so it waits for every call in flight (at most
    /// `wait`, see [`exclusive`](Self::exclusive)). Returns whether this call did it.
    pub(crate) fn reinitialize(&self, seen_generation: u64, wait: Option<Duration>) -> Result<bool, Pkcs11Error> {
        let mut state = self.write_within(wait)?;
        let forked = state.pid != std::process::id();
        if state.generation != seen_generation && state.pkcs11.is_some() && !forked {
            return Ok(false);
        }
        let pkcs11 = match state.pkcs11.take() {
            Some(p) => p,
            None => Pkcs11::new(&self.module).map_err(|e| module_load(&self.module, e.to_string()))?,
        };
        // Finalize a clone: `finalize` consumes its receiver, and we keep the loaded library to
        // initialise it again. Errors are ignored: after a fork or a device loss the module may
        // already consider itself finalised.
        log::debug!("C_Finalize + C_Initialize of {} (generation {seen_generation})", self.module.display());
        let _ = pkcs11.clone().finalize();
        // Why bump before initialising: even if initialise fails, every old session and handle
        // is dead now, and holders must notice.
        state.generation += 1;
        state.pid = std::process::id();
        initialize(&pkcs11, &self.module)?;
        state.pkcs11 = Some(pkcs11);
        Ok(true)
    }
}

/// `C_Initialize` with OS locking. `CKR_CRYPTOKI_ALREADY_INITIALIZED` is success: another
/// component of this process initialised the module first (SoftHSM without `reset_on_fork`
/// also answers this in a forked child).
fn initialize(pkcs11: &Pkcs11, module: &Path) -> Result<(), Pkcs11Error> {
    // SoftHSM 2.6.1 turns its mutexes off when the flag is missing.
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CryptokiError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(Pkcs11Error::from_cryptoki("initialise module", e, &module_context(module))),
    }
}

fn module_context(module: &Path) -> ErrorContext {
    ErrorContext { module: Some(module.to_path_buf()), ..ErrorContext::default() }
}

fn module_load(module: &Path, reason: String) -> Pkcs11Error {
    Pkcs11Error::new(Problem::ModuleLoad(reason), &module_context(module))
}
