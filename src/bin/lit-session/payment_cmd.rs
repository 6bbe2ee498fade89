//! `lit-session payment-delegation`: the v8 SDK's `createPaymentDelegationAuthSig`.

use lit_session_signer::payment_delegation::{PaymentDelegation, PaymentScope};
use lit_session_signer::Timestamp;

use crate::{input, wallet_cmd, CliError};

/// Flags of `payment-delegation`.
#[derive(clap::Args)]
pub struct Args {
    /// The paying wallet.
    #[command(flatten)]
    wallet: wallet_cmd::WalletArgs,
    /// SIWE nonce: a recent Ethereum block hash.
    #[arg(long, value_name = "0xBLOCKHASH")]
    nonce: String,
    /// An address the wallet pays for (0x optional; repeatable, at least one).
    #[arg(long = "delegatee", value_name = "ADDR")]
    delegatees: Vec<String>,
    /// The most a delegatee's session may sign as one node's maxPrice (decimal or 0x-hex).
    #[arg(long, value_name = "PRICE", allow_hyphen_values = true)]
    max_price: Option<String>,
    /// What the payments are for: encryption_sign, lit_action, pkp_sign or sign_session_key
    /// (repeatable, at least one).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Expiration (default: now + 7 days).
    #[arg(long, value_name = "RFC3339")]
    expiration: Option<String>,
    /// Fix the clock for reproducible output.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// SIWE statement (default: the SDK's test statement).
    #[arg(long, value_name = "S")]
    statement: Option<String>,
    /// SIWE domain (default localhost).
    #[arg(long, value_name = "D")]
    domain: Option<String>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let now = match &args.now {
        Some(n) => input::timestamp("--now", n)?,
        None => Timestamp::now(),
    };
    input::nonce(&args.nonce)?;
    if args.delegatees.is_empty() {
        return Err(CliError("payment-delegation needs at least one --delegatee: it would pay for nobody".into()));
    }
    if args.scopes.is_empty() {
        return Err(CliError(
            "payment-delegation needs at least one --scope (encryption_sign, lit_action, pkp_sign, sign_session_key)"
                .into(),
        ));
    }
    let max_price = args.max_price.ok_or_else(|| CliError("payment-delegation needs --max-price".into()))?;
    // Checked here so the message names the flag; the library writes it as the SDK does.
    input::price("--max-price", &max_price)?;
    let scopes = args
        .scopes
        .iter()
        .map(|s| s.parse::<PaymentScope>().map_err(|e| CliError(format!("--scope: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let delegation = PaymentDelegation {
        expiration: args.expiration.as_deref().map(|e| input::timestamp("--expiration", e)).transpose()?,
        domain: args.domain,
        statement: args.statement,
        ..PaymentDelegation::new(args.delegatees, max_price.trim(), scopes)
    };
    // Every input is checked before the wallet (perhaps an HSM) is opened.
    delegation.restriction().map_err(|e| CliError(format!("--delegatee: {e}")))?;
    let payer = args.wallet.open()?;
    let auth_sig = delegation.sign(payer.as_ref(), &args.nonce, now)?;
    println!("{}", serde_json::to_string(&auth_sig)?);
    Ok(())
}
