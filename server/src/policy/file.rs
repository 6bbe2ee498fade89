//! The policy file as TOML writes it: every table refuses unknown keys, and every value is
//! checked as a whole by [`super::compile`].

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyFile {
    #[serde(default)]
    pub(super) version: Option<u32>,
    #[serde(default)]
    pub(super) clients: BTreeMap<String, ClientFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientFile {
    #[serde(default)]
    pub(super) auth: Option<Vec<String>>,
    #[serde(default)]
    pub(super) endpoints: Option<Vec<String>>,
    #[serde(default)]
    pub(super) rate: Option<RateFile>,
    #[serde(default)]
    pub(super) allow: Vec<AllowFile>,
    #[serde(default)]
    pub(super) deny: Vec<DenyFile>,
    #[serde(default)]
    pub(super) capacity_delegation: Option<CapacityFile>,
    #[serde(default)]
    pub(super) payment_delegation: Option<PaymentFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RateFile {
    pub(super) count: u64,
    pub(super) per: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AllowFile {
    #[serde(default)]
    pub(super) name: Option<String>,
    pub(super) signers: Vec<String>,
    pub(super) resources: Vec<String>,
    pub(super) abilities: Vec<String>,
    pub(super) max_lifetime: String,
    pub(super) nodes: Vec<String>,
    #[serde(default)]
    pub(super) formats: Option<Vec<String>>,
    #[serde(default)]
    pub(super) max_price: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DenyFile {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) signers: Option<Vec<String>>,
    #[serde(default)]
    pub(super) resources: Option<Vec<String>>,
    #[serde(default)]
    pub(super) abilities: Option<Vec<String>>,
    #[serde(default)]
    pub(super) nodes: Option<Vec<String>>,
    #[serde(default)]
    pub(super) wildcard_only: bool,
    #[serde(default)]
    pub(super) formats: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CapacityFile {
    pub(super) signers: Vec<String>,
    pub(super) max_uses: u64,
    pub(super) max_lifetime: String,
    #[serde(default)]
    pub(super) token_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PaymentFile {
    pub(super) signers: Vec<String>,
    pub(super) max_price: toml::Value,
    pub(super) max_lifetime: String,
    pub(super) scopes: Vec<String>,
    pub(super) delegatees: Vec<String>,
}
