//! `lit-session`: mint and inspect Lit Protocol session signatures from the command line.
//!
//! stdout carries only the result; diagnostics go to stderr. Bad input exits with status 2 and
//! one line naming the problem. Secrets are read from files, never from arguments.

mod capacity_cmd;
mod input;
mod inspect_cmd;
mod keys_cmd;
mod log_output;
mod payment_cmd;
#[cfg(feature = "http")]
mod pkp_cmd;
mod recap_cmd;
mod secret_flags;
mod session_sigs_cmd;
mod verify_cmd;
mod wallet_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Mint Lit Protocol session signatures byte-identical to the Lit JS SDK v7 (Datil) or v8 (Naga).
#[derive(Parser)]
#[command(name = "lit-session", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mint the per-node sessionSigs map (getSessionSigs; --format v8: issueSessionFromContext) and print it as JSON.
    SessionSigs(Box<session_sigs_cmd::Args>),
    /// Mint PKP / Lit Action session sigs (getPkpSessionSigs): the nodes sign the session key with the PKP.
    #[cfg(feature = "http")]
    PkpSessionSigs(Box<pkp_cmd::Args>),
    /// (Not in this build: needs the `http` feature.)
    #[cfg(not(feature = "http"))]
    #[command(hide = true, disable_help_flag = true)]
    PkpSessionSigs {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        _args: Vec<String>,
    },
    /// Print the access-control-condition resource id: <sha256 of canonical ACCs>/<dataToEncryptHash>.
    AccResourceId {
        /// File with the access control conditions (a JSON array).
        #[arg(long, value_name = "PATH")]
        accs: std::path::PathBuf,
        /// The dataToEncryptHash (64 hex digits).
        #[arg(long, value_name = "HEX")]
        data_hash: String,
    },
    /// Print a capacity-delegation AuthSig (createCapacityDelegationAuthSig) for --capability-auth-sig (v7).
    CapacityDelegation(Box<capacity_cmd::Args>),
    /// Print a payment-delegation AuthSig (createPaymentDelegationAuthSig) for --capability-auth-sig (v8).
    PaymentDelegation(Box<payment_cmd::Args>),
    /// Session keys on a PKCS#11 token (generate, list, delete).
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// The secp256k1 wallet key (generate on a PKCS#11 token, print the address).
    #[command(subcommand)]
    Wallet(wallet_cmd::WalletCommand),
    /// Encode or decode ReCap (EIP-5573) URNs.
    #[command(subcommand)]
    Recap(recap_cmd::RecapCommand),
    /// Verify one node's session signature as the node would; prints valid (exit 0) or invalid: ... (exit 1).
    Verify(verify_cmd::Args),
    /// Show a sessionSigs file per node: keys, times, resources, capabilities and verdicts.
    Inspect(inspect_cmd::Args),
}

/// The refusal of a PKCS#11 flag or subcommand in a build without the `pkcs11` feature.
#[cfg(not(feature = "pkcs11"))]
pub fn without_pkcs11(what: &str) -> CliError {
    CliError(format!(
        "{what} needs a PKCS#11 token, but this lit-session was built without the `pkcs11` feature \
         (rebuild with default features, or with --features pkcs11)"
    ))
}

/// A failure to report on stderr; the message names the problem.
#[derive(Debug)]
pub struct CliError(pub String);

impl<E: std::error::Error + 'static> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(input::error_text(&e))
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::SessionSigs(args) => session_sigs_cmd::run(*args),
        #[cfg(feature = "http")]
        Command::PkpSessionSigs(args) => pkp_cmd::run(*args),
        #[cfg(not(feature = "http"))]
        Command::PkpSessionSigs { .. } => Err(CliError(
            "pkp-session-sigs asks the Lit nodes over HTTP, but this lit-session was built without the `http` \
             feature (rebuild with default features, or with --features http)"
                .into(),
        )),
        Command::AccResourceId { accs, data_hash } => {
            let accs = input::read_json(&accs, "--accs")?;
            let id = lit_session_signer::resources::access_control_resource_id(&accs, data_hash.trim())?;
            println!("{id}");
            Ok(())
        }
        Command::Recap(cmd) => recap_cmd::run(cmd),
        Command::Keys(cmd) => keys_cmd::run(cmd),
        Command::Wallet(cmd) => wallet_cmd::run(cmd),
        Command::CapacityDelegation(args) => capacity_cmd::run(*args),
        Command::PaymentDelegation(args) => payment_cmd::run(*args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Inspect(args) => inspect_cmd::run(args),
    }
}

fn main() -> ExitCode {
    if let Some(refusal) = secret_flags::refusal(std::env::args_os().skip(1)) {
        eprintln!("lit-session: error: {refusal}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    log_output::init_from_env();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(msg)) => {
            eprintln!("lit-session: error: {msg}");
            ExitCode::from(2)
        }
    }
}
