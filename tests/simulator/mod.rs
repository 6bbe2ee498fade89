//! A local Lit network for tests: N in-process HTTP nodes, each holding a real BLS key share of
//! one test network key (threshold-shared by `bls::deal_shares_from_seed`), answering
//! `POST /web/sign_session_key/v1` as a Lit node does (LIT-Protocol/Node,
//! `rust/lit-node/src/endpoints/web_client.rs`, `sign_session_key`):
//!
//! 1. parse the body and the SIWE; refuse a statement containing `lit-resolvedauthcontext`;
//! 2. resolve the auth context: every auth method must be one the simulator was told about
//!    (for that PKP), a Lit Action (code XOR IPFS id) must be a known one (it "returns true");
//! 3. with `pkpPublicKey`, the SIWE address must be its address (else the PKP of the auth method);
//! 4. `validate_siwe`: `uri == sessionKey`, issuedAt ≤ now+60 s, expiration present, ≥ issuedAt,
//!    ≥ now−60 s, ≤ issuedAt+30 days; `epoch` present and current;
//! 5. the nonce must be a known block hash; Issued At becomes that block's time (seconds, `Z`);
//! 6. the SIWE is rebuilt with the PKP address, the merged ReCap (the client's plus
//!    `lit-resolvedauthcontext://*` `Auth/Auth` with the auth context) and the statement +
//!    ` ` + the merged ReCap sentence, rendered by the `siwe` crate as the node does;
//! 7. the share signs `sha256("lit_session:" + hex(eip191(siwe)))`.
//!
//! Per-node fault knobs: delay, garbage body, HTTP 500, wrong share, wrong root key.
//!
//! Shared by tests/ and hsm-tests/ (`#[path]`); not part of the library.

#![allow(dead_code)] // each test crate uses a different subset

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lit_session_signer::bls::{deal_shares_from_seed, session_digest, KeyShare, NetworkPublicKey};
use lit_session_signer::pkp::{
    EncodedRequest, NodeTransport, PkpPublicKey, SignSessionKeyResponse, TransportError, SIGN_SESSION_KEY_PATH,
};
use lit_session_signer::recap::Recap;
use lit_session_signer::session_sigs::NodeUrl;
use serde::Deserialize;
use serde_json::{json, Value};
use time::macros::format_description;
use time::{Duration as TimeDuration, OffsetDateTime};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What one node does wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// Behaves.
    #[default]
    None,
    /// Answers correctly, after this long.
    Delay(Duration),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 500 with a Lit-style JSON error.
    Http500,
    /// Signs with a key share that is not its share of the network key.
    WrongShare,
    /// Reports another network key as `blsRootPubkey`.
    WrongRootKey,
}

/// An auth method the network accepts, and the PKP it may act for (scope 2).
#[derive(Clone, Debug)]
pub struct KnownAuth {
    pub auth_method_type: u32,
    pub access_token: String,
    pub user_id: String,
    pub pkp: PkpPublicKey,
}

/// A Lit Action the network runs and that answers `true` for `pkp`.
#[derive(Clone, Debug)]
pub struct KnownAction {
    /// Base64 of the code, as sent in `code`.
    pub code_base64: Option<String>,
    /// Its IPFS CID (sent as `litActionIpfsId`, or computed by the node for inline code).
    pub ipfs_id: String,
    pub pkp: PkpPublicKey,
}

/// The network's settings.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    pub nodes: usize,
    pub threshold: usize,
    /// Seeds the network key and shares.
    pub seed: [u8; 32],
    pub epoch: u64,
    pub auths: Vec<KnownAuth>,
    pub actions: Vec<KnownAction>,
    /// Block hash → block time.
    pub blocks: Vec<(String, OffsetDateTime)>,
    /// The nodes' clock (`None`: the system clock).
    pub now: Option<OffsetDateTime>,
}

impl SimulatorConfig {
    /// `nodes` nodes, threshold `threshold`, epoch 1, one block 12 s old.
    pub fn new(nodes: usize, threshold: usize) -> Self {
        let block_time = OffsetDateTime::now_utc() - TimeDuration::seconds(12);
        Self {
            nodes,
            threshold,
            seed: [7; 32],
            epoch: 1,
            auths: Vec::new(),
            actions: Vec::new(),
            blocks: vec![(test_block_hash(1), block_time)],
            now: None,
        }
    }

    /// The latest block's hash: the nonce clients should use.
    pub fn latest_block_hash(&self) -> String {
        self.blocks.iter().max_by_key(|(_, t)| *t).map(|(h, _)| h.clone()).unwrap_or_default()
    }
}

/// A deterministic 0x + 64-hex block hash.
pub fn test_block_hash(n: u64) -> String {
    use sha2::Digest;
    format!("0x{}", hex::encode(sha2::Sha256::digest(format!("simulated block {n}"))))
}

/// What a node received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

struct Node {
    share: KeyShare,
    wrong_share: KeyShare,
    fault: Mutex<Fault>,
    received: Mutex<Vec<Received>>,
}

struct Network {
    config: SimulatorConfig,
    key: NetworkPublicKey,
    other_key: NetworkPublicKey,
    nodes: Vec<Node>,
}

/// A running simulated network. Dropping it stops the servers.
pub struct Simulator {
    network: Arc<Network>,
    urls: Vec<NodeUrl>,
    tasks: Vec<JoinHandle<()>>,
}

impl Simulator {
    /// Deals the key and starts one HTTP server per node on 127.0.0.1 (random ports), on the
    /// current tokio runtime.
    pub async fn start(config: SimulatorConfig) -> Self {
        let network = Arc::new(Network::new(config));
        let mut urls = Vec::new();
        let mut tasks = Vec::new();
        for index in 0..network.nodes.len() {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a simulator port");
            let addr: SocketAddr = listener.local_addr().expect("local address");
            urls.push(format!("http://127.0.0.1:{}", addr.port()).parse().expect("node URL"));
            tasks.push(tokio::spawn(serve(listener, network.clone(), index)));
        }
        Self { network, urls, tasks }
    }

    /// The node URLs, in share order.
    pub fn urls(&self) -> Vec<NodeUrl> {
        self.urls.clone()
    }

    /// The network public key.
    pub fn network_key(&self) -> NetworkPublicKey {
        self.network.key
    }

    /// The settings.
    pub fn config(&self) -> &SimulatorConfig {
        &self.network.config
    }

    /// Makes node `index` misbehave.
    pub fn set_fault(&self, index: usize, fault: Fault) {
        *self.network.nodes[index].fault.lock().unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// What node `index` received so far.
    pub fn received(&self, index: usize) -> Vec<Received> {
        self.network.nodes[index].received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The network without HTTP: answers bodies directly (for tests that need responses without
/// a runtime, e.g. to feed the JS SDK).
pub struct OfflineNetwork(Arc<Network>);

impl OfflineNetwork {
    pub fn new(config: SimulatorConfig) -> Self {
        Self(Arc::new(Network::new(config)))
    }

    pub fn network_key(&self) -> NetworkPublicKey {
        self.0.key
    }

    /// Node `index`'s answer: status and JSON body (faults other than shares ignored).
    pub fn answer(&self, index: usize, body: &[u8]) -> (u16, Value) {
        match self.0.sign_session_key(index, body) {
            Ok(v) => (200, v),
            Err((status, v)) => (status.as_u16(), v),
        }
    }
}

/// A transport that answers each node from recorded response bodies (URL → body): the client
/// side without HTTP or node work, e.g. to replay what another client was given.
pub struct CannedTransport(pub HashMap<String, Vec<u8>>);

#[async_trait::async_trait]
impl NodeTransport for CannedTransport {
    async fn sign_session_key(
        &self,
        node: &NodeUrl,
        _request: &EncodedRequest,
    ) -> Result<SignSessionKeyResponse, TransportError> {
        let body = self.0.get(node.as_str()).ok_or_else(|| TransportError::Connect("no recorded answer".into()))?;
        Ok(SignSessionKeyResponse::from_json_slice(body)?)
    }
}

impl OfflineNetwork {
    /// Every node's answer to `body`, node `i` at `urls[i]`; panics unless all are 200.
    pub fn canned(&self, urls: &[NodeUrl], body: &[u8]) -> CannedTransport {
        CannedTransport(
            urls.iter()
                .enumerate()
                .map(|(i, url)| {
                    let (status, answer) = self.answer(i, body);
                    assert_eq!(status, 200, "simulated node {i}: {answer}");
                    (url.to_string(), answer.to_string().into_bytes())
                })
                .collect(),
        )
    }
}

impl Network {
    fn new(config: SimulatorConfig) -> Self {
        let (key, shares) = deal_shares_from_seed(config.threshold, config.nodes, &config.seed).expect("deal shares");
        let mut other_seed = config.seed;
        other_seed[0] ^= 0xff;
        let (other_key, wrong) = deal_shares_from_seed(config.threshold, config.nodes, &other_seed).expect("deal");
        let nodes = shares
            .into_iter()
            .zip(wrong)
            .map(|(share, wrong_share)| Node {
                share,
                wrong_share,
                fault: Mutex::new(Fault::None),
                received: Mutex::new(Vec::new()),
            })
            .collect();
        Self { config, key, other_key, nodes }
    }

    fn now(&self) -> OffsetDateTime {
        self.config.now.unwrap_or_else(OffsetDateTime::now_utc)
    }

    fn fault(&self, index: usize) -> Fault {
        *self.nodes[index].fault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The node's handling of one request body: the response JSON, or a status and a Lit-style
    /// error body.
    fn sign_session_key(&self, index: usize, body: &[u8]) -> Result<Value, (StatusCode, Value)> {
        let bad = |code: &str, msg: String| Err((StatusCode::BAD_REQUEST, lit_error(400, code, &msg)));
        let unauthorized = |msg: String| Err((StatusCode::UNAUTHORIZED, lit_error(401, "NodeAuthFailed", &msg)));
        let req: WireRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return bad("NodeParserError", format!("cannot parse request: {e}")),
        };
        if req.curve_type != "BLS" {
            return bad("NodeInvalidCurveType", format!("unsupported curveType {}", req.curve_type));
        }
        let Some(epoch) = req.epoch else { return bad("NodeInvalidEpoch", "epoch missing".into()) };
        if epoch != self.config.epoch {
            return bad("NodeInvalidEpoch", format!("epoch {epoch} is not the current epoch {}", self.config.epoch));
        }
        // 1. Parse the SIWE.
        let mut siwe: siwe::Message = match req.siwe_message.parse() {
            Ok(m) => m,
            Err(e) => return bad("NodeSIWEMessageError", format!("invalid SIWE: {e}")),
        };
        // 2. The client may not smuggle in an auth context.
        if siwe.statement.as_deref().unwrap_or_default().contains("lit-resolvedauthcontext") {
            return bad("NodeSIWEMessageError", "statement must not contain lit-resolvedauthcontext".into());
        }
        // 3. Resolve the auth context.
        if req.code.is_some() && req.lit_action_ipfs_id.is_some() {
            return bad("NodeInvalidRequest", "code and litActionIpfsId cannot both be given".into());
        }
        let mut auth_contexts = Vec::new();
        let mut pkps = Vec::new();
        for m in &req.auth_methods {
            let known = self
                .config
                .auths
                .iter()
                .find(|k| k.auth_method_type == m.auth_method_type && k.access_token == m.access_token);
            let Some(known) = known else {
                return unauthorized(format!("auth method of type {} not accepted", m.auth_method_type));
            };
            pkps.push(known.pkp);
            auth_contexts.push((known.auth_method_type, known.user_id.clone()));
        }
        let action = match (&req.code, &req.lit_action_ipfs_id) {
            (Some(code), None) => {
                if base64::engine::general_purpose::STANDARD.decode(code).is_err() {
                    return bad("NodeInvalidRequest", "code is not base64".into());
                }
                match self.config.actions.iter().find(|a| a.code_base64.as_deref() == Some(code.as_str())) {
                    Some(a) => Some(a),
                    None => return unauthorized("Lit Action did not return true".into()),
                }
            }
            (None, Some(cid)) => match self.config.actions.iter().find(|a| a.ipfs_id == *cid) {
                Some(a) => Some(a),
                None => return unauthorized(format!("Lit Action {cid} did not return true")),
            },
            _ => None,
        };
        if let Some(a) = action {
            pkps.push(a.pkp);
        }
        if auth_contexts.is_empty() && action.is_none() {
            return unauthorized("no auth method and no Lit Action".into());
        }
        // 4. The PKP: given, or the auth method's.
        let pkp = match &req.pkp_public_key {
            Some(text) => match PkpPublicKey::from_str(text) {
                Ok(k) => k,
                Err(e) => return bad("NodeInvalidPublicKey", e.to_string()),
            },
            None => pkps[0],
        };
        if req.pkp_public_key.is_some() && siwe.address != *pkp.address().as_bytes() {
            return bad("NodeSIWEMessageError", "SIWE address is not the PKP's address".into());
        }
        // Scope 2: every auth method / action must be permitted for this PKP.
        if pkps.iter().any(|p| *p != pkp) {
            return unauthorized("auth method is not permitted for this PKP".into());
        }
        // 5. validate_siwe.
        let now = self.now();
        if siwe.uri.as_str() != req.session_key {
            return bad("NodeSIWEMessageError", "SIWE URI does not match sessionKey".into());
        }
        let issued_at = siwe.issued_at.as_ref();
        if *issued_at > now + TimeDuration::seconds(60) {
            return bad("NodeSIWEMessageError", "issued_at is in the future".into());
        }
        let Some(expiration) = siwe.expiration_time.as_ref().map(|t| *t.as_ref()) else {
            return bad("NodeSIWEMessageError", "Session key expiration time is not set".into());
        };
        if expiration < *issued_at || expiration < now - TimeDuration::seconds(60) {
            return bad("NodeSIWEMessageError", "SIWE message expired".into());
        }
        if expiration > *issued_at + TimeDuration::days(30) {
            return bad("NodeSIWEMessageError", "expiration more than 30 days after issued_at".into());
        }
        // 7. The nonce is a block hash; Issued At becomes its time.
        let Some((_, block_time)) = self.config.blocks.iter().find(|(h, _)| *h == siwe.nonce) else {
            return bad("NodeBlockhashNotFound", "Error fetching block from hash".into());
        };
        // 8. Rebuild the SIWE.
        let client_recap = siwe.resources.iter().rev().find_map(|r| Recap::decode(r.as_str()).ok()).unwrap_or_default();
        let mut merged = client_recap.to_json();
        let auth_context = json!({
            "actionIpfsIds": action.map(|a| vec![a.ipfs_id.clone()]).unwrap_or_default(),
            "authMethodContexts": auth_contexts.iter().map(|(t, user)| json!({
                "appId": "lit", "authMethodType": t, "expiration": expiration.unix_timestamp(),
                "usedForSignSessionKeyRequest": true, "userId": user,
            })).collect::<Vec<_>>(),
            "authSigAddress": null,
            "customAuthResource": "",
            "resources": [],
        });
        merged["att"]["lit-resolvedauthcontext://*"] = json!({"Auth/Auth": [{"auth_context": auth_context}]});
        let merged = match Recap::from_json(&merged) {
            Ok(r) => r,
            Err(e) => return bad("NodeInvalidRecap", e.to_string()),
        };
        let statement = format!("{} {}", siwe.statement.as_deref().unwrap_or_default(), merged.statement());
        siwe.statement = Some(statement);
        siwe.address = *pkp.address().as_bytes();
        let issued = block_time
            .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, lit_error(500, "NodeUnknownError", &e.to_string())))?;
        siwe.issued_at = issued.parse().map_err(|e: time::Error| {
            (StatusCode::INTERNAL_SERVER_ERROR, lit_error(500, "NodeUnknownError", &e.to_string()))
        })?;
        siwe.resources = vec![merged
            .encode()
            .parse()
            .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, lit_error(500, "NodeUnknownError", "recap URI")))?];
        let text = siwe.to_string();
        // 10. Sign the session digest with the key share.
        let node = &self.nodes[index];
        let fault = self.fault(index);
        let digest = session_digest(&text);
        let share = if fault == Fault::WrongShare { &node.wrong_share } else { &node.share };
        let root = if fault == Fault::WrongRootKey { self.other_key } else { self.key };
        let signature_share = share.sign_share(&digest);
        Ok(json!({
            "result": "success",
            "signatureShare": {"ProofOfPossession": signature_share.to_hex()},
            "shareIndex": u32::from(share.identifier()) - 1,
            "curveType": "BLS",
            "siweMessage": text,
            "dataSigned": hex::encode(digest),
            "blsRootPubkey": root.to_hex(),
        }))
    }
}

fn lit_error(status: u16, code: &str, message: &str) -> Value {
    json!({"errorKind": "Validation", "errorCode": code, "status": status, "message": message,
           "correlationId": "lit_sim", "details": [message]})
}

#[derive(Deserialize)]
struct WireAuthMethod {
    #[serde(rename = "authMethodType")]
    auth_method_type: u32,
    #[serde(rename = "accessToken")]
    access_token: String,
}

#[derive(Deserialize)]
struct WireRequest {
    #[serde(rename = "sessionKey")]
    session_key: String,
    #[serde(rename = "authMethods")]
    auth_methods: Vec<WireAuthMethod>,
    #[serde(rename = "pkpPublicKey")]
    pkp_public_key: Option<String>,
    #[serde(rename = "siweMessage")]
    siwe_message: String,
    #[serde(rename = "curveType")]
    curve_type: String,
    #[serde(rename = "litActionIpfsId")]
    lit_action_ipfs_id: Option<String>,
    code: Option<String>,
    #[serde(rename = "jsParams")]
    #[allow(dead_code)]
    js_params: Option<Value>,
    epoch: Option<u64>,
}

async fn serve(listener: TcpListener, network: Arc<Network>, index: usize) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let network = network.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(network.clone(), index, req));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(
    network: Arc<Network>,
    index: usize,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let respond = |status: StatusCode, content_type: &str, body: Vec<u8>| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = content_type.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        Ok(r)
    };
    if req.method() != hyper::Method::POST || req.uri().path() != SIGN_SESSION_KEY_PATH {
        return respond(StatusCode::NOT_FOUND, "text/plain", b"not found".to_vec());
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return respond(StatusCode::BAD_REQUEST, "text/plain", b"unreadable body".to_vec()),
    };
    network.nodes[index]
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Received { headers: headers.clone(), body: body.clone() });
    match network.fault(index) {
        Fault::Delay(d) => tokio::time::sleep(d).await,
        Fault::Garbage => return respond(StatusCode::OK, "application/json", b"<html>502 Bad Gateway</html>".to_vec()),
        Fault::Http500 => {
            let body = lit_error(500, "NodeUnknownError", "simulated internal error").to_string();
            return respond(StatusCode::INTERNAL_SERVER_ERROR, "application/json", body.into_bytes());
        }
        _ => {}
    }
    let (status, value) = match network.sign_session_key(index, &body) {
        Ok(v) => (StatusCode::OK, v),
        Err((s, v)) => (s, v),
    };
    respond(status, "application/json", value.to_string().into_bytes())
}

/// Lower-case header lookup.
pub fn header<'a>(received: &'a Received, name: &str) -> Option<&'a str> {
    received.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Request ids seen, per node (for "one id for all nodes" checks).
pub fn request_ids(sim: &Simulator) -> HashMap<usize, Vec<String>> {
    (0..sim.urls.len())
        .map(|i| (i, sim.received(i).iter().filter_map(|r| header(r, "x-request-id").map(str::to_string)).collect()))
        .collect()
}

/// A PKP public key for tests (secp256k1 key `[seed; 32]`).
pub fn test_pkp(seed: u8) -> PkpPublicKey {
    let key = k256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).expect("a valid scalar");
    PkpPublicKey::from_verifying_key(*key.verifying_key())
}

/// A network of `nodes` nodes (threshold two thirds, rounded up) that accepts
/// `(auth_method_type, access_token)` for `pkp`.
pub fn config_accepting(nodes: usize, pkp: PkpPublicKey, auth_method_type: u32, access_token: &str) -> SimulatorConfig {
    let mut config = SimulatorConfig::new(nodes, (2 * nodes).div_ceil(3));
    config.auths.push(KnownAuth {
        auth_method_type,
        access_token: access_token.to_string(),
        user_id: format!("sim-user-{auth_method_type}"),
        pkp,
    });
    config
}
