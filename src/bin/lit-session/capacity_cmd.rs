//! `lit-session capacity-delegation`: the SDK's `createCapacityDelegationAuthSig`.

use lit_session_signer::capacity_delegation::CapacityDelegation;
use lit_session_signer::Timestamp;

use crate::{input, wallet_cmd, CliError};

/// Flags of `capacity-delegation`.
#[derive(clap::Args)]
pub struct Args {
    /// The signing wallet (the credits' owner for a delegation).
    #[command(flatten)]
    wallet: wallet_cmd::WalletArgs,
    /// Capacity credit NFT id (decimal); default: any of the owner's credits (`*`).
    #[arg(long, value_name = "ID")]
    token_id: Option<String>,
    /// Address allowed to use the credits (repeatable); omit to allow anyone.
    #[arg(long = "delegatee", value_name = "ADDR")]
    delegatees: Vec<String>,
    /// Delegate to nobody (an empty delegatee list), as the SDK does for `delegateeAddresses: []`.
    #[arg(long, conflicts_with = "delegatees")]
    no_delegatees: bool,
    /// How many uses.
    #[arg(long, value_name = "N")]
    uses: Option<u64>,
    #[command(flatten)]
    siwe: DelegationSiweArgs,
}

/// The SIWE flags every delegation AuthSig takes (`capacity-delegation`, `payment-delegation`).
#[derive(clap::Args)]
pub struct DelegationSiweArgs {
    /// SIWE nonce: a recent Ethereum block hash.
    #[arg(long, value_name = "0xBLOCKHASH")]
    pub nonce: String,
    /// Expiration (default: now + 7 days).
    #[arg(long, value_name = "RFC3339")]
    pub expiration: Option<String>,
    /// Fix the clock for reproducible output.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// SIWE domain (default localhost).
    #[arg(long, value_name = "D")]
    pub domain: Option<String>,
    /// SIWE statement (default: the SDK's test statement).
    #[arg(long, value_name = "S")]
    pub statement: Option<String>,
}

impl DelegationSiweArgs {
    /// `--now`, or the clock.
    pub fn now(&self) -> Result<Timestamp, CliError> {
        match &self.now {
            Some(n) => input::timestamp("--now", n),
            None => Ok(Timestamp::now()),
        }
    }

    /// `--expiration`, if given.
    pub fn expiration(&self) -> Result<Option<Timestamp>, CliError> {
        self.expiration.as_deref().map(|e| input::timestamp("--expiration", e)).transpose()
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    let now = args.siwe.now()?;
    let delegation = CapacityDelegation {
        token_id: args.token_id,
        delegatees: if args.no_delegatees {
            Some(Vec::new())
        } else if args.delegatees.is_empty() {
            None
        } else {
            Some(args.delegatees)
        },
        uses: args.uses,
        expiration: args.siwe.expiration()?,
        domain: args.siwe.domain,
        statement: args.siwe.statement,
        allow_empty_delegatees: args.no_delegatees,
    };
    let owner = args.wallet.open()?;
    let auth_sig = delegation.sign(owner.as_ref(), &args.siwe.nonce, now)?;
    println!("{}", serde_json::to_string(&auth_sig)?);
    Ok(())
}
