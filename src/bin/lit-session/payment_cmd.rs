//! `lit-session payment-delegation`: the v8 SDK's `createPaymentDelegationAuthSig`.

use lit_session_signer::payment_delegation::{PaymentDelegation, PaymentScope};

use crate::capacity_cmd::DelegationSiweArgs;
use crate::{input, wallet_cmd, CliError};

/// Flags of `payment-delegation`.
#[derive(clap::Args)]
pub struct Args {
    /// The paying wallet.
    #[command(flatten)]
    wallet: wallet_cmd::WalletArgs,
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
    #[command(flatten)]
    siwe: DelegationSiweArgs,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let now = args.siwe.now()?;
    input::nonce(&args.siwe.nonce)?;
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
        expiration: args.siwe.expiration()?,
        domain: args.siwe.domain,
        statement: args.siwe.statement,
        ..PaymentDelegation::new(args.delegatees, max_price.trim(), scopes)
    };
    // Every input is checked before the wallet (perhaps an HSM) is opened.
    delegation.restriction().map_err(|e| CliError(format!("--delegatee: {e}")))?;
    let payer = args.wallet.open()?;
    let auth_sig = delegation.sign(payer.as_ref(), &args.siwe.nonce, now)?;
    println!("{}", serde_json::to_string(&auth_sig)?);
    Ok(())
}
