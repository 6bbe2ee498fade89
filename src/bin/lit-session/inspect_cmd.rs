//! `lit-session inspect`: a readable view of a sessionSigs file with validity verdicts.

use std::path::PathBuf;

use lit_session_signer::verify::{inspect, parse_session_sigs, Verifier, VerifyPolicy};
use lit_session_signer::Timestamp;

use crate::CliError;

/// Arguments of `inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The sessionSigs JSON (a map node URL → SessionSig, or one SessionSig).
    #[arg(long, value_name = "PATH")]
    session_sigs: PathBuf,
    /// Judge validity as of this time (default: now).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    network_keys: crate::verify_cmd::NetworkKeyArgs,
    #[command(flatten)]
    generation: crate::verify_cmd::GenerationArg,
}

/// Prints the report.
pub fn run(args: Args) -> Result<(), CliError> {
    let path = args.session_sigs.display();
    let text =
        std::fs::read_to_string(&args.session_sigs).map_err(|e| CliError(format!("--session-sigs {path}: {e}")))?;
    let entries = parse_session_sigs(&text).map_err(|e| CliError(format!("--session-sigs {path}: {e}")))?;
    let now = match &args.now {
        Some(t) => crate::input::timestamp("--now", t)?,
        None => Timestamp::now(),
    };
    let policy = args.generation.apply(args.network_keys.apply(VerifyPolicy::node())?)?;
    let mut report = inspect(&entries, now, &Verifier::new(policy));
    crate::verify_cmd::add_flag_hints(&mut report);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}
