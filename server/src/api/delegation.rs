//! `POST /v1/capacity-delegation` (Datil's capacity credits) and
//! `POST /v1/payment-delegation` (Naga's payments): a delegation AuthSig signed by a profile's
//! wallet, each under its own grant, the same steps from the decision on.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::extract::Json;
use super::outcome::{clamped_json, Outcome};
use super::parse::{self, MAX_NODES};
use crate::app::App;
use crate::audit::AuditEntry;
use crate::policy::{CapacityQuery, Decision, PaymentQuery, Verdict};
use crate::problem::{Kind, Problem};
use crate::signing::{self, CapacityInput, PaymentInput, Profile, SignError, Timestamp};

/// The v7 SDK's `createCapacityDelegationAuthSig` parameters (the signer is a profile here).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct CapacityBody {
    nonce: String,
    #[serde(default)]
    signer: Option<String>,
    #[serde(default)]
    capacity_token_id: Option<String>,
    #[serde(default)]
    delegatee_addresses: Option<Vec<String>>,
    /// A number or a decimal string (the SDK takes a string).
    #[serde(default)]
    uses: Option<Value>,
    #[serde(default)]
    expiration: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    statement: Option<String>,
}

/// The v8 SDK's `createPaymentDelegationAuthSig` parameters (the signer is a profile here).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct PaymentBody {
    nonce: String,
    #[serde(default)]
    signer: Option<String>,
    delegatee_addresses: Vec<String>,
    max_price: Box<RawValue>,
    scopes: Vec<String>,
    #[serde(default)]
    expiration: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    statement: Option<String>,
}

fn invalid(detail: impl Into<String>) -> Problem {
    Problem::new(Kind::InvalidRequest, detail)
}

/// The profile a request names, or the default one.
fn profile(app: &App, name: Option<&str>) -> Result<(String, Arc<Profile>), Problem> {
    let name = name.unwrap_or(&app.default_signer);
    match app.profiles.get(name) {
        Some(p) => Ok((name.to_string(), p.clone())),
        None => Err(Problem::new(Kind::UnknownSigner, format!("no signer profile {name:?}"))),
    }
}

/// From the grant's decision on: denied, or signed by the profile's wallet (the row has the
/// expiration handed out), each with its row; returns the AuthSig.
async fn delegate<F>(
    outcome: &Outcome,
    mut row: AuditEntry,
    d: &Decision,
    profile: &str,
    sign: impl FnOnce() -> F,
) -> Result<Value, Problem>
where
    F: Future<Output = Result<Value, SignError>>,
{
    outcome.decided(d);
    if d.result == Verdict::Denied {
        return Err(outcome.deny(row, d).await);
    }
    let auth_sig = match sign().await {
        Ok(a) => a,
        Err(e) => return Err(outcome.fail(row, profile, &e).await),
    };
    outcome.signed(profile);
    row.expiration = d.expiration.map(|t| t.to_string());
    outcome.record(row).await?;
    Ok(auth_sig)
}

fn respond(outcome: &Outcome, member: &str, auth_sig: Value, d: &Decision) -> Result<Response, Problem> {
    let mut body = serde_json::Map::new();
    body.insert(member.into(), auth_sig);
    body.insert("expiration".into(), d.expiration.map(|t| t.to_string()).into());
    body.insert("clamped".into(), clamped_json(d));
    body.insert("requestId".into(), outcome.ctx.request_id.clone().into());
    super::json(&body)
}

/// `POST /v1/capacity-delegation`.
pub(super) async fn capacity(
    State(app): State<Arc<App>>,
    outcome: Outcome,
    Json(body): Json<CapacityBody>,
) -> Result<Response, Problem> {
    let now = Timestamp::now();
    let uses = match &body.uses {
        None => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(|| invalid("uses must be a whole number"))?),
        Some(Value::String(s)) => Some(s.parse::<u64>().map_err(|_| invalid("uses must be a whole number"))?),
        Some(_) => return Err(invalid("uses must be a number or a decimal string")),
    };
    let expiration = body
        .expiration
        .as_deref()
        .map(|e| signing::parse_time(e).map_err(|e| invalid(format!("expiration: {e}"))))
        .transpose()?;
    parse::nonce(&body.nonce)?;
    let (name, profile) = profile(&app, body.signer.as_deref())?;
    let q = CapacityQuery {
        client: &outcome.caller.client,
        signer: &name,
        uses,
        token_id: body.capacity_token_id.as_deref(),
        expiration,
        now,
    };
    let d = app.policy().evaluate_capacity(&q);
    let token = body.capacity_token_id.as_deref().unwrap_or("*");
    let row = AuditEntry {
        signer: Some(name.clone()),
        resources: vec![format!("lit-ratelimitincrease://{token}=rate-limit-increase-auth")],
        ..outcome.row_for(&d)
    };
    let input = CapacityInput {
        nonce: body.nonce,
        token_id: body.capacity_token_id,
        delegatees: body.delegatee_addresses,
        uses,
        expiration: d.expiration,
        domain: body.domain,
        statement: body.statement,
    };
    let auth_sig = delegate(&outcome, row, &d, &name, || profile.capacity_delegation(input)).await?;
    respond(&outcome, "capacityDelegationAuthSig", auth_sig, &d)
}

/// `POST /v1/payment-delegation`.
pub(super) async fn payment(
    State(app): State<Arc<App>>,
    outcome: Outcome,
    Json(body): Json<PaymentBody>,
) -> Result<Response, Problem> {
    let now = Timestamp::now();
    parse::nonce(&body.nonce)?;
    if body.delegatee_addresses.is_empty() {
        return Err(invalid("delegateeAddresses is empty: the delegation would pay for nobody"));
    }
    if body.scopes.is_empty() {
        return Err(invalid(
            "scopes is empty: name what the payments are for (encryption_sign, lit_action, pkp_sign, sign_session_key)",
        ));
    }
    if body.delegatee_addresses.len() > MAX_NODES || body.scopes.len() > 16 {
        return Err(invalid("too many delegateeAddresses or scopes"));
    }
    parse::siwe_text(&body.domain, &body.statement)?;
    let (max_price, max_price_text) = parse::price(&body.max_price, "maxPrice")?;
    let scopes = body
        .scopes
        .iter()
        .map(|s| signing::parse_scope(s).map_err(|e| invalid(format!("scopes: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let delegatees = body
        .delegatee_addresses
        .iter()
        .map(|a| signing::address_key(a).map_err(|e| invalid(format!("delegateeAddresses: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let expiration = parse::future_expiration(body.expiration.as_deref(), now)?;
    let (name, profile) = profile(&app, body.signer.as_deref())?;
    let input = PaymentInput {
        nonce: body.nonce,
        delegatees: body.delegatee_addresses,
        max_price: max_price_text,
        scopes: scopes.clone(),
        expiration: now,
        domain: body.domain,
        statement: body.statement,
    };
    // Everything the library would refuse is refused before the policy and the wallet.
    signing::check_payment_delegation(&input).map_err(|e| invalid(e.to_string()))?;
    let q = PaymentQuery {
        client: &outcome.caller.client,
        signer: &name,
        max_price,
        scopes: &scopes,
        delegatees: &delegatees,
        expiration,
        now,
    };
    let d = app.policy().evaluate_payment(&q);
    let row = AuditEntry {
        signer: Some(name.clone()),
        resources: vec!["lit-paymentdelegation://*=lit-payment-delegation".into()],
        max_price: Some(max_price.to_string()),
        ..outcome.row_for(&d)
    };
    let input = PaymentInput { expiration: d.expiration.unwrap_or(now), ..input };
    let auth_sig = delegate(&outcome, row, &d, &name, || profile.payment_delegation(input)).await?;
    respond(&outcome, "paymentDelegationAuthSig", auth_sig, &d)
}
