//! `lit-session recap encode|decode`.

use clap::Subcommand;
use lit_session_signer::recap::Recap;
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::siwe::recap_for_requests;

use crate::CliError;

/// ReCap subcommands.
#[derive(Subcommand)]
pub enum RecapCommand {
    /// Decode a urn:recap: URI; prints its JSON and statement.
    Decode {
        /// The urn:recap:... URI.
        urn: String,
    },
    /// Build the ReCap the SDK would put in a session SIWE for these requests; prints the URN.
    Encode {
        /// PREFIX://ID=ABILITY, e.g. lit-pkp://*=pkp-signing (repeatable).
        #[arg(long = "resource", value_name = "PREFIX://ID=ABILITY", required = true)]
        resources: Vec<String>,
    },
}

pub fn run(cmd: RecapCommand) -> Result<(), CliError> {
    match cmd {
        RecapCommand::Decode { urn } => {
            let recap = Recap::decode(urn.trim())?;
            let out = serde_json::json!({ "recap": recap.to_json(), "statement": recap.statement() });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        RecapCommand::Encode { resources } => {
            let requests = resources
                .iter()
                .map(|r| r.parse::<ResourceAbilityRequest>().map_err(|e| CliError(format!("--resource {r}: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            println!("{}", recap_for_requests(&requests).encode());
        }
    }
    Ok(())
}
