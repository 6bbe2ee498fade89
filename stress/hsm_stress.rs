//! Faults under load: signs session-signature-sized messages from several threads through
//! `Pkcs11KeyStore` on a throwaway token (SoftHSM2 or Kryoptic) while another thread injects
//! faults in rounds, then prints a count table and exits non-zero if any signature was invalid,
//! any request was lost, or recovery after a fault took longer than the bound.
//!
//! ```text
//! cargo run --release --example hsm-stress -- [--module softhsm2|kryoptic] [--signatures N]
//!     [--threads T] [--hold-ms MS] [--gap-ms MS] [--recovery-bound-ms MS] [--log LEVEL]
//!     [--faults logout,close-sessions,token-gone,wrong-pin]
//! ```
//!
//! Faults, one per round, in turn (by default every fault that applies to the module):
//!
//! - `logout`: `C_Logout` on a separate session of the same application (logs every session
//!   out). On Kryoptic it is made while no other thread is inside the module: Kryoptic 1.5.4
//!   deadlocks when a logout races a `C_SignInit` (the store itself logs in only that way);
//! - `close-sessions`: `C_CloseAllSessions` on the token's slot, made while no other thread is
//!   inside the module (SoftHSM 2.6.1 frees a session another thread may be using in `C_Sign`);
//! - `token-gone` (SoftHSM2 only): the token's directory is moved out of SoftHSM's token
//!   directory for `--hold-ms`, then moved back. Kryoptic keeps its token's sqlite file open,
//!   so it has no such fault;
//! - `wrong-pin`: the PIN file is replaced by a wrong PIN (a new one each round) and the
//!   application is logged out, so the store's next login reads the wrong PIN; after
//!   `--hold-ms` the right file is put back.
//!
//! What SoftHSM 2.6.1 does, and what the store does about it (`--probe-token-gone` prints the
//! raw answers):
//!
//! - `token-gone`: SoftHSM reads its token directory only in `C_Initialize`. Once the
//!   directory is gone, the slot stays listed and the sessions stay logged in, but cached
//!   handles give `CKR_OBJECT_HANDLE_INVALID`, `C_FindObjects` finds nothing and
//!   `C_GetTokenInfo` answers `CKR_GENERAL_ERROR`, and this stays so after the directory is
//!   back. The store checks `C_GetTokenInfo` when a search comes back empty; if it fails, it
//!   re-initialises the module (finalize + initialize under the write lock) with backoff, finds
//!   the token by label again (`TokenNotFound` while it is away), logs in and looks the key up.
//!   Requests that run out of attempts while the token is away end as `TokenGone` (transient).
//! - `wrong-pin`: the store re-reads its PIN source at every login. The wrong PIN is presented
//!   once (`CKR_PIN_INCORRECT`, counted as "wrong PINs presented"), never again, and the login
//!   falls back to the last PIN the token accepted, so signing goes on.
//! - `logout`: handles become invalid and sessions public; the store re-finds and logs in.
//! - `close-sessions`: `CKR_SESSION_HANDLE_INVALID`; the store opens a new anchor and pool.
//!
//! Every request ends as a signature (checked with `verify_strict` against the public key read
//! before any fault) or as a typed error, counted by kind, `CKR_*` code and retry class.
//! Recovery time of a fault: from the moment the fault ends to the first successful signature
//! of a request that started after it.

#[path = "../hsm-tests/common/tokens/mod.rs"]
mod tokens;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lit_session_signer::internal::pkcs11::{reinitialize, store_token};
use lit_session_signer::keystore::{KeyId, KeyStoreError, Pkcs11KeyStore, SessionKeyStore, VerifyingKey};
use lit_session_signer::pkcs11::{PinSource, Pkcs11Error, RecoveryStats, TokenConfig, TokenSelector};
use tokens::{faults, Module, ThrowawayTokens};

struct Args {
    module: Module,
    signatures: usize,
    threads: usize,
    hold: Duration,
    gap: Duration,
    recovery_bound: Duration,
    log: Option<log::LevelFilter>,
    faults: Vec<Fault>,
    probe: bool,
}

const USAGE: &str = "\
usage: cargo run --release --example hsm-stress -- [options]
  --module softhsm2|kryoptic   the PKCS#11 module of the throwaway token (default softhsm2)
  --signatures N               signatures to request in all (default 100000)
  --threads T                  signing threads (default 8)
  --hold-ms MS                 how long each fault lasts (default 300)
  --gap-ms MS                  the pause between faults (default 400)
  --recovery-bound-ms MS       the longest recovery that passes (default 10000)
  --faults F,F,...             logout, close-sessions, token-gone (SoftHSM2), wrong-pin
                               (default: every fault that applies to the module)
  --log LEVEL                  the library's log lines on stderr (error .. trace)
  --probe-token-gone           print SoftHSM2's raw answers with its token directory gone
Prints requested / returned / verified / errors by kind and the recovery time per fault; exits
1 on an invalid or lost signature, a permanent error or a recovery over the bound, 2 on bad
arguments or set-up.";

/// `None`: `--help` was asked for (the usage is printed).
fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        module: Module::SoftHsm2,
        signatures: 100_000,
        threads: 8,
        hold: Duration::from_millis(300),
        gap: Duration::from_millis(400),
        recovery_bound: Duration::from_secs(10),
        log: None,
        faults: Vec::new(),
        probe: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--module" => {
                let v = value()?;
                args.module = Module::from_id(&v).ok_or(format!("{flag}: {v} is not softhsm2 or kryoptic"))?
            }
            "--signatures" => args.signatures = num(value()?)? as usize,
            "--threads" => args.threads = (num(value()?)? as usize).max(1),
            "--hold-ms" => args.hold = Duration::from_millis(num(value()?)?),
            "--gap-ms" => args.gap = Duration::from_millis(num(value()?)?),
            "--recovery-bound-ms" => args.recovery_bound = Duration::from_millis(num(value()?)?),
            "--log" => args.log = Some(value()?.parse().map_err(|_| format!("{flag}: not a log level"))?),
            "--faults" => {
                args.faults = value()?
                    .split(',')
                    .map(|n| Fault::ALL.into_iter().find(|f| f.name() == n).ok_or(format!("unknown fault {n}")))
                    .collect::<Result<_, _>>()?
            }
            "--probe-token-gone" => args.probe = true,
            "--bench" => {} // cargo passes this to harness-less targets
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other} (--help lists them)")),
        }
    }
    if args.faults.is_empty() {
        args.faults = Fault::ALL.into_iter().filter(|f| f.applies_to(args.module)).collect();
    }
    if let Some(f) = args.faults.iter().find(|f| !f.applies_to(args.module)) {
        return Err(format!("fault {} does not apply to {}", f.name(), args.module));
    }
    if args.probe && args.module != Module::SoftHsm2 {
        return Err("--probe-token-gone is for SoftHSM2 (its token directory)".into());
    }
    Ok(Some(args))
}

/// A plain stderr logger for `--log`.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("[{} {:?}] {}", record.level(), std::thread::current().id(), record.args());
        }
    }
    fn flush(&self) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Logout,
    CloseSessions,
    TokenGone,
    WrongPin,
}

impl Fault {
    const ALL: [Fault; 4] = [Fault::Logout, Fault::CloseSessions, Fault::TokenGone, Fault::WrongPin];

    /// Whether the fault exists on `module`: only SoftHSM2 keeps a token in a directory that
    /// can vanish under it.
    fn applies_to(self, module: Module) -> bool {
        self != Self::TokenGone || module == Module::SoftHsm2
    }

    fn name(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::CloseSessions => "close-sessions",
            Self::TokenGone => "token-gone",
            Self::WrongPin => "wrong-pin",
        }
    }
}

/// One injected fault: when it ended (since the start of the run).
struct Injected {
    fault: Fault,
    ended: Duration,
}

/// What one worker saw.
#[derive(Default)]
struct WorkerLog {
    /// (start, end) of every successful signature, since the start of the run.
    successes: Vec<(Duration, Duration)>,
    returned: u64,
    verified: u64,
    invalid: u64,
    errors: BTreeMap<String, u64>,
    /// One full message per error class, for the report.
    examples: BTreeMap<String, String>,
    slowest: Duration,
    /// When the last request of this worker started.
    last_start: Duration,
}

/// Error class: variant, `CKR_*` code (or outcome) and retry class.
fn classify(e: &KeyStoreError) -> String {
    match e {
        KeyStoreError::Backend { source, transient } => {
            let class = if *transient { "transient" } else { "permanent" };
            match source.downcast_ref::<Pkcs11Error>() {
                Some(p) => format!(
                    "Pkcs11Error::{:?} {} {} [{class}]",
                    p.kind(),
                    p.function().map_or_else(|| "-".to_string(), |f| format!("C_{f:?}")),
                    p.code().unwrap_or("(no CKR code)")
                ),
                None => format!("Backend (not PKCS#11) [{class}]"),
            }
        }
        other => {
            let class = if other.is_transient() { "transient" } else { "permanent" };
            let name = format!("{other:?}");
            let variant = name.split(['(', ' ', '{']).next().unwrap_or("?").to_string();
            format!("KeyStoreError::{variant} [{class}]")
        }
    }
}

fn message(request: usize) -> Vec<u8> {
    // About the size of one per-node session-sig message.
    let mut m =
        format!("{{\"request\":{request},\"nodeAddress\":\"https://node-{}.example:7470\",\"pad\":\"", request % 30)
            .into_bytes();
    while m.len() < 1_200 {
        m.push(b'a' + (m.len() % 26) as u8);
    }
    m.extend_from_slice(b"\"}");
    m
}

fn worker(
    store: &Pkcs11KeyStore,
    id: &KeyId,
    vk: &VerifyingKey,
    total: usize,
    next: &AtomicUsize,
    t0: Instant,
    in_flight: &AtomicU64,
) -> WorkerLog {
    let mut log = WorkerLog::default();
    loop {
        let request = next.fetch_add(1, Ordering::Relaxed);
        if request >= total {
            break;
        }
        let m = message(request);
        let start = t0.elapsed();
        log.last_start = start;
        in_flight.store(start.as_millis() as u64 + 1, Ordering::Relaxed);
        let result = store.sign(id, &m);
        let end = t0.elapsed();
        in_flight.store(0, Ordering::Relaxed);
        log.slowest = log.slowest.max(end - start);
        log.returned += 1;
        match result {
            Ok(sig) => {
                if vk.verify_strict(&m, &sig).is_ok() {
                    log.verified += 1;
                    log.successes.push((start, end));
                } else {
                    log.invalid += 1;
                }
            }
            Err(e) => {
                let class = classify(&e);
                *log.errors.entry(class.clone()).or_default() += 1;
                log.examples.entry(class).or_insert_with(|| e.to_string());
            }
        }
    }
    log
}

/// The token's own directory inside SoftHSM's token directory (one token per run).
fn token_dir(tokens: &Path) -> Result<PathBuf, String> {
    let mut dirs = std::fs::read_dir(tokens)
        .map_err(|e| format!("cannot list {}: {e}", tokens.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir());
    match (dirs.next(), dirs.next()) {
        (Some(d), None) => Ok(d),
        _ => Err(format!("expected exactly one token directory in {}", tokens.display())),
    }
}

struct Injector {
    store: Arc<Pkcs11KeyStore>,
    module: Module,
    /// SoftHSM2's directory of this token (for `token-gone`).
    token_dir: Option<PathBuf>,
    parked: PathBuf,
    pin_file: PathBuf,
    good_pin: Vec<u8>,
    hold: Duration,
}

impl Injector {
    /// `C_Logout` from a separate session of the store's application.
    fn logout(&self) -> Result<(), String> {
        faults::logout_elsewhere(store_token(&self.store), self.module)
    }

    fn close_sessions(&self) -> Result<(), String> {
        faults::close_all_sessions(store_token(&self.store))
    }

    fn token_gone(&self) -> Result<(), String> {
        let dir = self.token_dir.as_ref().ok_or("this module keeps no token directory")?;
        std::fs::rename(dir, &self.parked).map_err(|e| format!("move token away: {e}"))?;
        std::thread::sleep(self.hold);
        std::fs::rename(&self.parked, dir).map_err(|e| format!("move token back: {e}"))
    }

    fn wrong_pin(&self, round: usize) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        let wrong = self.pin_file.with_extension("wrong");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&wrong)
            .map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut f, format!("wrong-{round:06}\n").as_bytes()).map_err(|e| e.to_string())?;
        std::fs::rename(&wrong, &self.pin_file).map_err(|e| format!("swap PIN file in: {e}"))?;
        let logout = self.logout();
        std::thread::sleep(self.hold);
        let good = self.pin_file.with_extension("good");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&good)
            .map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut f, &self.good_pin).map_err(|e| e.to_string())?;
        std::fs::rename(&good, &self.pin_file).map_err(|e| format!("swap PIN file back: {e}"))?;
        logout
    }

    fn inject(&self, fault: Fault, round: usize) -> Result<(), String> {
        match fault {
            Fault::Logout => self.logout(),
            Fault::CloseSessions => self.close_sessions(),
            Fault::TokenGone => self.token_gone(),
            Fault::WrongPin => self.wrong_pin(round),
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hsm-stress: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(level) = args.log {
        static LOGGER: StderrLogger = StderrLogger;
        let _ = log::set_logger(&LOGGER);
        log::set_max_level(level);
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("hsm-stress: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let hsm = ThrowawayTokens::create(args.module, &["lit-stress"])?;
    hsm.activate(); // before the first C_Initialize
    let token = hsm.main();
    let token_dir = hsm.softhsm_tokens_dir().map(|tokens| token_dir(&tokens)).transpose()?;
    let good_pin = std::fs::read(&token.pin_file).map_err(|e| e.to_string())?;

    let config = TokenConfig::new(
        &hsm.library,
        TokenSelector::label(&token.label),
        Some(PinSource::File(token.pin_file.clone())),
    );
    let store = Arc::new(Pkcs11KeyStore::open_with(config).map_err(|e| e.to_string())?);
    // A token key: it survives re-initialisation and logouts (a session key would not).
    let id = store.generate("stress-key").map_err(|e| e.to_string())?;
    let vk = store.public_key(&id).map_err(|e| e.to_string())?;
    let injector = Injector {
        store: Arc::clone(&store),
        module: args.module,
        parked: hsm.dir.join("parked-token"),
        token_dir,
        pin_file: token.pin_file.clone(),
        good_pin,
        hold: args.hold,
    };

    if args.probe {
        probe_token_gone(&injector, &store, &id);
        return Ok(true);
    }
    eprintln!(
        "hsm-stress: on {}, {} signatures, {} threads, pool {} sessions, faults {} every {:?} (held {:?}), token in {}",
        args.module,
        args.signatures,
        args.threads,
        store_token(&store).pool_capacity(),
        args.faults.iter().map(|f| f.name()).collect::<Vec<_>>().join(","),
        args.gap,
        args.hold,
        hsm.dir.display()
    );
    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let in_flight: Vec<AtomicU64> = (0..args.threads).map(|_| AtomicU64::new(0)).collect();
    let injected: Mutex<Vec<Injected>> = Mutex::new(Vec::new());
    let inject_failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let hung = AtomicBool::new(false);

    let logs: Vec<WorkerLog> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.threads)
            .map(|t| {
                let (store, id, vk, next, flight) = (&store, &id, &vk, &next, &in_flight[t]);
                scope.spawn(move || worker(store, id, vk, args.signatures, next, t0, flight))
            })
            .collect();
        // Fault injector: a round every `gap`, until the workers are done.
        let injector_thread = scope.spawn(|| {
            let mut round = 0usize;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(args.gap);
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let fault = args.faults[round % args.faults.len()];
                match injector.inject(fault, round) {
                    Ok(()) => injected.lock().unwrap().push(Injected { fault, ended: t0.elapsed() }),
                    Err(e) => inject_failures.lock().unwrap().push(format!("{} round {round}: {e}", fault.name())),
                }
                round += 1;
            }
        });
        // Watchdog: a request that does not return within 60 s counts as lost.
        let watchdog = scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let now = t0.elapsed().as_millis() as u64;
                for f in &in_flight {
                    let since = f.load(Ordering::Relaxed);
                    if since != 0 && now.saturating_sub(since - 1) > 60_000 {
                        hung.store(true, Ordering::Relaxed);
                    }
                }
                if hung.load(Ordering::Relaxed) {
                    eprintln!("hsm-stress: a request has not returned for 60 s: lost");
                    std::process::exit(1);
                }
            }
        });
        let logs: Vec<WorkerLog> =
            workers.into_iter().map(|w| w.join().unwrap_or_else(|_| WorkerLog::default())).collect();
        done.store(true, Ordering::Relaxed);
        let _ = injector_thread.join();
        let _ = watchdog.join();
        logs
    });
    let elapsed = t0.elapsed();
    // The token must be back where it belongs even if a round failed half-way.
    if let (true, Some(dir)) = (injector.parked.exists(), &injector.token_dir) {
        let _ = std::fs::rename(&injector.parked, dir);
    }
    let stats = store.recovery_stats();
    report(args, &logs, &injected.into_inner().unwrap(), &inject_failures.into_inner().unwrap(), elapsed, &stats)
}

fn report(
    args: &Args,
    logs: &[WorkerLog],
    injected: &[Injected],
    inject_failures: &[String],
    elapsed: Duration,
    stats: &RecoveryStats,
) -> Result<bool, String> {
    let requested = args.signatures as u64;
    let returned: u64 = logs.iter().map(|l| l.returned).sum();
    let verified: u64 = logs.iter().map(|l| l.verified).sum();
    let invalid: u64 = logs.iter().map(|l| l.invalid).sum();
    let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
    let mut examples: BTreeMap<&str, &str> = BTreeMap::new();
    for l in logs {
        for (k, v) in &l.errors {
            *errors.entry(k).or_default() += v;
        }
        for (k, v) in &l.examples {
            examples.entry(k).or_insert(v);
        }
    }
    let error_total: u64 = errors.values().sum();
    let lost = requested - returned.min(requested);
    let slowest = logs.iter().map(|l| l.slowest).max().unwrap_or_default();

    let mut successes: Vec<(Duration, Duration)> = logs.iter().flat_map(|l| l.successes.iter().copied()).collect();
    successes.sort();
    // For each fault: the first success of a request started after the fault ended.
    let mut recovery: BTreeMap<Fault, Vec<Option<Duration>>> = BTreeMap::new();
    let mut recovery_all = Vec::with_capacity(injected.len());
    for inj in injected {
        let first = successes.partition_point(|(start, _)| *start < inj.ended);
        let t = successes[first..].iter().map(|(_, end)| *end).min().map(|end| end - inj.ended);
        recovery.entry(inj.fault).or_default().push(t);
        recovery_all.push(t);
    }
    let last_start = logs.iter().map(|l| l.last_start).max().unwrap_or_default();

    println!(
        "\n## hsm-stress on {}: faults under load ({:.1} s, {} threads)\n",
        args.module,
        elapsed.as_secs_f64(),
        args.threads
    );
    println!("| count | value |\n|---|---:|");
    println!("| signatures requested | {requested} |");
    println!("| returned (signature or typed error) | {returned} |");
    println!("| verified (`verify_strict`) | {verified} |");
    println!("| invalid signatures | {invalid} |");
    println!("| typed errors | {error_total} |");
    println!("| lost (never returned) | {lost} |");
    println!("| slowest request | {:.0} ms |", slowest.as_secs_f64() * 1e3);
    println!("| throughput | {:.0} signatures/s |", verified as f64 / elapsed.as_secs_f64());
    println!(
        "| store recovery steps | re-finds {}, re-logins {}, reconnects {}, re-initialisations {}, retries {} |",
        stats.handle_refinds, stats.relogins, stats.reconnects, stats.reinitializations, stats.retries
    );
    println!("| wrong PINs presented (each refused once, then the last good PIN) | {} |", stats.pins_refused);
    println!("\n| error kind (variant, function, code, class) | count |\n|---|---:|");
    if errors.is_empty() {
        println!("| (none) | 0 |");
    }
    for (k, v) in &errors {
        println!("| {k} | {v} |");
    }
    println!("\n| fault | injected | recovered | recovery max | recovery median |\n|---|---:|---:|---:|---:|");
    let mut worst = Duration::ZERO;
    let mut unrecovered = 0usize;
    for fault in Fault::ALL.into_iter().filter(|f| args.faults.contains(f)) {
        let times = recovery.get(&fault).cloned().unwrap_or_default();
        let mut ok: Vec<Duration> = times.iter().flatten().copied().collect();
        ok.sort();
        // A fault that ended after the last request started cannot show a recovery.
        unrecovered += injected
            .iter()
            .zip(&recovery_all)
            .filter(|(i, t)| i.fault == fault && t.is_none() && i.ended < last_start)
            .count();
        let max = ok.last().copied().unwrap_or_default();
        worst = worst.max(max);
        let median = ok.get(ok.len() / 2).copied().unwrap_or_default();
        println!(
            "| {} | {} | {} | {:.1} ms | {:.1} ms |",
            fault.name(),
            times.len(),
            ok.len(),
            max.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3
        );
    }
    println!(
        "\nrecovery bound {:.0} ms; max recovery {:.1} ms",
        args.recovery_bound.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    if !examples.is_empty() {
        println!("\nOne message per error kind:");
        for (k, m) in &examples {
            println!("- {k}: {m}");
        }
    }
    for f in inject_failures {
        println!("fault not injected: {f}");
    }
    let mut pass = true;
    let mut fail = |why: String| {
        println!("FAIL: {why}");
        pass = false;
    };
    if invalid > 0 {
        fail(format!("{invalid} invalid signatures"));
    }
    if lost > 0 || returned != requested || verified + invalid + error_total != returned {
        fail(format!("{lost} lost requests ({returned} of {requested} returned)"));
    }
    if worst > args.recovery_bound {
        fail(format!("recovery took {worst:?}, over the bound {:?}", args.recovery_bound));
    }
    if unrecovered > 0 {
        fail(format!("{unrecovered} faults were never followed by a successful signature"));
    }
    // Every fault injected here is recoverable: a permanent error means a failure was
    // misclassified or recovery went wrong (e.g. an empty search on a vanished token taken for
    // a deleted key).
    let permanent: u64 = errors.iter().filter(|(k, _)| k.contains("[permanent]")).map(|(_, v)| v).sum();
    if permanent > 0 {
        fail(format!("{permanent} permanent errors for faults that are all recoverable"));
    }
    let wrong_pin_rounds = injected.iter().filter(|i| i.fault == Fault::WrongPin).count() as u64;
    if wrong_pin_rounds > 0 && stats.pins_refused == 0 {
        fail("wrong PIN files were swapped in but the store never read one (is the PIN re-read at login?)".into());
    }
    for fault in &args.faults {
        if !injected.iter().any(|i| i.fault == *fault) {
            fail(format!("fault {} was never injected (run longer or lower --gap-ms)", fault.name()));
        }
    }
    if pass {
        println!("PASS: 0 invalid, 0 lost, every fault recovered within {:?}", args.recovery_bound);
    }
    Ok(pass)
}

/// Prints what SoftHSM answers, on raw sessions of the store's context, while the token's
/// directory is away and after it is back (no recovery by the store involved).
fn probe_token_gone(inj: &Injector, store: &Pkcs11KeyStore, id: &KeyId) {
    use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, ObjectClass};
    let ctx = store_token(store).context();
    let slot = store_token(store).slot().expect("slot");
    let show = |when: &str| {
        let guard = ctx.read().expect("context");
        let p = guard.pkcs11();
        let info = p
            .get_token_info(slot)
            .map(|i| format!("label {:?} flags initialized={}", i.label(), i.token_initialized()));
        let slots = p.get_slots_with_token().map(|s| s.len());
        let session = p.open_ro_session(slot);
        let (state, found, sign) = match &session {
            Ok(s) => {
                let state = s.get_session_info().map(|i| format!("{:?}", i.session_state()));
                let found = s
                    .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(id.as_bytes().to_vec())]);
                let sign = match &found {
                    Ok(h) if !h.is_empty() => s
                        .sign(&Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)), h[0], b"probe")
                        .map(|sig| sig.len()),
                    _ => Ok(0),
                };
                (format!("{state:?}"), format!("{:?}", found.map(|h| h.len())), format!("{sign:?}"))
            }
            Err(e) => (format!("{e}"), String::new(), String::new()),
        };
        println!("{when}: C_GetTokenInfo {info:?}; slots with token {slots:?}; C_OpenSession {:?}; state {state}; private keys found {found}; C_Sign {sign}", session.as_ref().map(|_| "ok"));
    };
    let dir = inj.token_dir.as_ref().expect("SoftHSM2's token directory");
    show("before");
    std::fs::rename(dir, &inj.parked).expect("move away");
    show("token directory away");
    std::fs::rename(&inj.parked, dir).expect("move back");
    show("token directory back");
    reinitialize(ctx).expect("reinitialize");
    let slot = ctx.read().expect("ctx").pkcs11().get_slots_with_token().expect("slots");
    println!("after C_Finalize + C_Initialize: {} slots with a token", slot.len());
    let sig = store.sign(id, b"after re-initialisation");
    println!("store.sign after re-initialisation: {:?}", sig.map(|_| "ok"));
}
