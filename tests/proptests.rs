//! Encode/decode round trips as properties (proptest, 256 cases each): whatever one side
//! writes, the other reads back to the same value. The fuzz targets in `fuzz/` push arbitrary
//! input through the decoders; these start from arbitrary *values*.

use lit_session_signer::eth::{AddressError, EthAddress, RecoverableSignature};
use lit_session_signer::jcs;
use lit_session_signer::keystore::MemoryKeyStore;
use lit_session_signer::pricing::{MaxPrice, NodePricing};
use lit_session_signer::protocol::Price;
use lit_session_signer::recap::{Recap, Restriction};
use lit_session_signer::resources::{LitAbility, LitResource, ResourceAbilityRequest, ResourcePrefix};
use lit_session_signer::secret_file::parse_key_hex;
use lit_session_signer::session_sigs::{NodeUrl, SessionSigsRequest};
use lit_session_signer::siwe::{parse as parse_siwe, SiweMessage};
use lit_session_signer::verify::{parse_session_sigs, verify_session_sig, Generation, VerifyPolicy};
use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
use lit_session_signer::SessionFormat;
use lit_session_signer::Timestamp;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z in Unix milliseconds.
const MIN_MS: i64 = -62_167_219_200_000;
const MAX_MS: i64 = 253_402_300_799_999;

fn timestamp_from_ms(ms: i64) -> Timestamp {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("in range");
    Timestamp::from_datetime(dt)
}

fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    (MIN_MS..=MAX_MS).prop_map(timestamp_from_ms)
}

/// Any JSON value: finite numbers of every kind, any Unicode strings, nested up to 3 deep.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((any::<String>(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_object() -> impl Strategy<Value = Map<String, Value>> {
    vec((any::<String>(), arb_json()), 0..4).prop_map(|kv| kv.into_iter().collect())
}

/// The (prefix, ability) pairs the SDKs accept: v7's five and v8's payment delegation.
fn arb_prefix_ability() -> impl Strategy<Value = (ResourcePrefix, LitAbility)> {
    let pairs: Vec<(ResourcePrefix, LitAbility)> = ResourcePrefix::ALL
        .into_iter()
        .flat_map(|p| LitAbility::ALL.into_iter().filter(move |a| p.accepts(*a)).map(move |a| (p, a)))
        .collect();
    proptest::sample::select(pairs)
}

fn arb_resource_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        "0x[0-9a-fA-F]{1,64}",
        "[0-9a-fA-F]{1,64}",
        "0x0x[0-9a-z]{0,10}",
        "Qm[1-9A-HJ-NP-Za-km-z]{44}",
        "\\PC{1,30}",
    ]
}

fn arb_request() -> impl Strategy<Value = ResourceAbilityRequest> {
    request_with_ids(arb_resource_id())
}

/// Ids that fit in a SIWE statement (EIP-4361's character set), for requests that get signed.
fn arb_signable_request() -> impl Strategy<Value = ResourceAbilityRequest> {
    request_with_ids(prop_oneof![
        Just("*".to_string()),
        "0x[0-9a-f]{1,64}",
        "Qm[1-9A-HJ-NP-Za-km-z]{44}",
        "[a-zA-Z0-9._~-]{1,20}",
    ])
}

fn request_with_ids(ids: impl Strategy<Value = String>) -> impl Strategy<Value = ResourceAbilityRequest> {
    (arb_prefix_ability(), ids).prop_filter_map("valid resource", |((prefix, ability), id)| {
        ResourceAbilityRequest::new(LitResource::new(prefix, &id).ok()?, ability).ok()
    })
}

fn arb_recap_via_builder() -> impl Strategy<Value = Recap> {
    vec((arb_request(), proptest::option::of(btree_map("[a-z_]{1,8}", "[ -~]{0,12}", 0..3))), 0..5).prop_map(
        |entries| {
            let mut recap = Recap::new();
            for (r, nb) in entries {
                let nb: Option<Restriction> = nb.map(|m| m.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
                recap.add_capability(r.resource(), r.ability(), nb);
            }
            recap
        },
    )
}

/// A ReCap with any resource URIs, any valid ability keys, any restrictions and proofs.
fn arb_recap_via_json() -> impl Strategy<Value = (Recap, Value)> {
    let ability = "[a-zA-Z0-9.*_+-]{1,8}/[a-zA-Z0-9.*_+-]{1,8}";
    let abilities = btree_map(ability, vec(arb_object(), 0..3), 0..3);
    (btree_map(any::<String>(), abilities, 0..3), vec(any::<String>(), 0..2)).prop_map(|(att, prf)| {
        let json = serde_json::json!({ "att": att, "prf": prf });
        (Recap::from_json(&json).expect("valid by construction"), json)
    })
}

fn arb_siwe() -> impl Strategy<Value = SiweMessage> {
    let domain =
        ("[a-z][a-z0-9-]{0,9}(\\.[a-z]{2,5}){0,2}", proptest::option::of(1u16..)).prop_map(|(host, port)| match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        });
    let statement = "[a-zA-Z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=][a-zA-Z0-9 \\-._~:/?#\\[\\]@!$&'()*+,;=]{0,60}[a-zA-Z0-9.]";
    let uri = prop_oneof!["lit:session:[0-9a-f]{64}", "https://[a-z]{1,10}(/[a-z0-9]{1,8}){0,2}"];
    let resources =
        vec(prop_oneof![arb_recap_via_builder().prop_map(|r| r.encode()), "https://[a-z]{1,8}\\.org/[a-z]{1,8}"], 0..3);
    (
        domain,
        any::<[u8; 20]>(),
        statement,
        uri,
        any::<u64>(),
        "[a-zA-Z0-9]{8,40}",
        0i64..(MAX_MS - 100 * 86_400_000),
        0i64..100 * 86_400_000,
        resources,
    )
        .prop_map(|(domain, address, statement, uri, chain_id, nonce, issued_ms, life_ms, resources)| {
            let issued_at = timestamp_from_ms(issued_ms);
            SiweMessage {
                domain,
                address: EthAddress::from_bytes(address),
                statement,
                uri,
                chain_id,
                nonce,
                issued_at,
                expiration_time: issued_at.saturating_add(Duration::milliseconds(life_ms)),
                resources,
            }
        })
}

#[cfg(feature = "pkcs11")]
mod pkcs11_uri {
    use lit_session_signer::pkcs11::{ObjectType, PinSource, Pkcs11Uri};
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn arb_pin_source() -> impl Strategy<Value = PinSource> {
        prop_oneof![
            "[A-Z_][A-Z0-9_]{0,15}".prop_map(PinSource::Env),
            "(/[^/\\x00]{1,10}){1,3}".prop_filter_map("parses", |p| PinSource::parse(&p).ok()),
            "//[a-z]{1,8}/[a-z]{1,8}".prop_filter_map("parses", |p| PinSource::parse(&p).ok()),
        ]
    }

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(any::<String>())
    }

    fn arb_uri() -> impl Strategy<Value = Pkcs11Uri> {
        let object_type = proptest::option::of(proptest::sample::select(vec![
            ObjectType::Private,
            ObjectType::Public,
            ObjectType::SecretKey,
            ObjectType::Cert,
            ObjectType::Data,
        ]));
        let vendor = vec(("x-[a-z0-9-]{1,8}", any::<String>()), 0..3);
        (
            (opt_text(), opt_text(), opt_text(), opt_text(), opt_text()),
            (proptest::option::of(vec(any::<u8>(), 0..20)), object_type),
            (opt_text(), opt_text(), opt_text(), opt_text(), opt_text()),
            (opt_text(), opt_text(), proptest::option::of(arb_pin_source())),
            (vendor.clone(), vendor),
        )
            .prop_map(
                |(tokens, (id, object_type), library, (module_path, module_name, pin_source), (vp, vq))| {
                    let mut uri = Pkcs11Uri::default();
                    (uri.token, uri.serial, uri.manufacturer, uri.model, uri.object) = tokens;
                    uri.id = id;
                    uri.object_type = object_type;
                    (
                        uri.library_manufacturer,
                        uri.library_description,
                        uri.library_version,
                        uri.slot_description,
                        uri.slot_manufacturer,
                    ) = library;
                    uri.module_path = module_path.map(Into::into);
                    uri.module_name = module_name;
                    uri.pin_source = pin_source;
                    uri.vendor_path = vp;
                    uri.vendor_query = vq;
                    uri
                },
            )
    }

    proptest! {
        #[test]
        fn display_then_parse(uri in arb_uri()) {
            let shown = uri.to_string();
            let parsed = Pkcs11Uri::parse(&shown);
            prop_assert!(parsed.is_ok(), "{shown:?}: {parsed:?}");
            prop_assert_eq!(parsed.unwrap(), uri);
        }
    }
}

fn hex_variants(bytes: &[u8]) -> impl Strategy<Value = String> {
    let h = hex::encode(bytes);
    (any::<bool>(), any::<bool>(), "[ \t\r\n]{0,3}").prop_map(move |(prefix, upper, ws)| {
        let body = if upper { h.to_uppercase() } else { h.clone() };
        format!("{ws}{}{body}{ws}", if prefix { "0x" } else { "" })
    })
}

proptest! {
    #[test]
    fn recap_encode_decode(recap in arb_recap_via_builder()) {
        let encoded = recap.encode();
        let decoded = Recap::decode(&encoded).unwrap();
        prop_assert_eq!(&decoded, &recap);
        prop_assert_eq!(decoded.statement(), recap.statement());
        for r in recap.attenuations().keys() {
            prop_assert!(encoded.starts_with("urn:recap:"), "{}", r);
        }
    }

    #[test]
    fn recap_any_json_decode_encode((recap, json) in arb_recap_via_json()) {
        let encoded = recap.encode();
        let decoded = Recap::decode(&encoded).unwrap();
        // Equal up to number spelling (1.0 is written 1, as JavaScript does).
        prop_assert_eq!(decoded.encode(), encoded.clone());
        prop_assert_eq!(jcs::to_canonical_string(&decoded.to_json()), jcs::to_canonical_string(&json));
    }

    #[test]
    fn siwe_render_parse(message in arb_siwe()) {
        let text = message.render();
        prop_assert!(text.is_ok(), "{:?}: {:?}", message, text);
        let text = text.unwrap();
        let parsed = parse_siwe(&text).unwrap();
        prop_assert_eq!(parsed.to_string(), text.clone());
        prop_assert_eq!(parsed.domain.to_string(), message.domain);
        prop_assert_eq!(parsed.address, *message.address.as_bytes());
        prop_assert_eq!(parsed.statement, Some(message.statement));
        prop_assert_eq!(parsed.uri.to_string(), message.uri);
        prop_assert_eq!(parsed.chain_id, message.chain_id);
        prop_assert_eq!(parsed.nonce, message.nonce);
        prop_assert_eq!(parsed.issued_at.to_string(), message.issued_at.to_string());
        prop_assert_eq!(parsed.expiration_time.map(|t| t.to_string()), Some(message.expiration_time.to_string()));
        prop_assert_eq!(parsed.resources.iter().map(ToString::to_string).collect::<Vec<_>>(), message.resources);
    }

    #[test]
    fn ec_point_forms(point in vec(any::<u8>(), 1..300), curve in 0usize..3) {
        let point = match curve {
            0 => point.iter().copied().cycle().take(32).collect(),
            1 => point.iter().copied().cycle().take(65).collect(),
            _ => point,
        };
        use lit_session_signer::internal::pkcs11::{parse_ec_point, EcPointEncoding};
        for encoding in [EcPointEncoding::Raw, EcPointEncoding::DerOctetString, EcPointEncoding::DerBitString] {
            let value = encoding.encode(&point);
            let parsed = parse_ec_point(&value, point.len());
            prop_assert_eq!(parsed, Ok((&point[..], encoding)));
        }
        // Unused bits in a BIT STRING and a wrong length are refused.
        let mut unused_bits = EcPointEncoding::DerBitString.encode(&point);
        let at = unused_bits.len() - point.len() - 1;
        unused_bits[at] = 1;
        prop_assert!(parse_ec_point(&unused_bits, point.len()).is_err());
        prop_assert!(parse_ec_point(&EcPointEncoding::DerOctetString.encode(&point), point.len() + 1).is_err());
    }

    #[test]
    fn timestamp_format_parse(t in arb_timestamp(), offset_min in -1439i32..=1439) {
        let shown = t.to_string();
        prop_assert_eq!(shown.len(), 24);
        let back: Timestamp = shown.parse().unwrap();
        prop_assert_eq!(back, t);
        // The same instant written with another offset parses to the same UTC instant, or is
        // refused when its UTC year leaves 0000..=9999 through the offset (it cannot).
        let offset = time::UtcOffset::from_whole_seconds(offset_min * 60).unwrap();
        if let Some(local) = t.as_datetime().checked_to_offset(offset) {
            if (0..=9999).contains(&local.year()) {
                let text = local.format(&time::format_description::well_known::Rfc3339).unwrap();
                prop_assert_eq!(text.parse::<Timestamp>().unwrap(), t, "{}", text);
            }
        }
    }

    #[test]
    fn resource_request_display_parse(request in arb_request()) {
        let shown = request.to_string();
        let parsed: ResourceAbilityRequest = shown.parse().unwrap();
        prop_assert_eq!(&parsed, &request);
        prop_assert_eq!(parsed.to_string(), shown);
    }

    #[test]
    fn eth_address_eip55(bytes in any::<[u8; 20]>(), flip in any::<prop::sample::Index>()) {
        let address = EthAddress::from_bytes(bytes);
        let shown = address.to_string();
        prop_assert_eq!(shown.parse::<EthAddress>().unwrap(), address);
        let body = &shown[2..];
        prop_assert_eq!(format!("0x{}", body.to_lowercase()).parse::<EthAddress>().unwrap(), address);
        prop_assert_eq!(format!("0x{}", body.to_uppercase()).parse::<EthAddress>().unwrap(), address);
        // Flipping the case of one letter breaks the checksum (unless that leaves one case).
        let letters: Vec<usize> = body.char_indices().filter(|(_, c)| c.is_ascii_alphabetic()).map(|(i, _)| i).collect();
        if !letters.is_empty() {
            let i = letters[flip.index(letters.len())];
            let mut chars: Vec<char> = body.chars().collect();
            chars[i] = if chars[i].is_ascii_uppercase() { chars[i].to_ascii_lowercase() } else { chars[i].to_ascii_uppercase() };
            let flipped: String = chars.into_iter().collect();
            let mixed = flipped.chars().any(|c| c.is_ascii_lowercase()) && flipped.chars().any(|c| c.is_ascii_uppercase());
            let result = format!("0x{flipped}").parse::<EthAddress>();
            if mixed {
                prop_assert!(matches!(result, Err(AddressError::BadChecksum(_))), "{flipped}");
            } else {
                prop_assert_eq!(result.unwrap(), address);
            }
        }
    }

    #[test]
    fn recoverable_signature_bytes(secret in any::<[u8; 32]>(), digest in any::<[u8; 32]>()) {
        let Ok(wallet) = MemoryWallet::from_bytes(&secret) else { return Ok(()) };
        let sig = wallet.sign_digest(&digest).unwrap();
        let bytes = sig.to_bytes();
        prop_assert_eq!(sig.to_hex(), format!("0x{}", hex::encode(bytes)));
        prop_assert_eq!(RecoverableSignature::from_bytes(&bytes).unwrap(), sig);
        let mut v01 = bytes;
        v01[64] -= 27;
        prop_assert_eq!(RecoverableSignature::from_bytes(&v01).unwrap(), sig);
        let from_hex = hex::decode(sig.to_hex().trim_start_matches("0x")).unwrap();
        prop_assert_eq!(RecoverableSignature::from_bytes(&from_hex).unwrap(), sig);
        prop_assert_eq!(sig.recover_address(&digest).unwrap(), wallet.address());
    }

    #[test]
    fn jcs_idempotent(value in arb_json()) {
        let canonical = jcs::to_canonical_string(&value);
        let reparsed: Value = serde_json::from_str(&canonical).unwrap();
        prop_assert_eq!(jcs::to_canonical_string(&reparsed), canonical.clone());
        // Key order does not matter to the canonical form; JSON.stringify's does round-trip.
        let js = jcs::to_js_string(&value);
        let from_js: Value = serde_json::from_str(&js).unwrap();
        prop_assert_eq!(jcs::to_canonical_string(&from_js), canonical);
        prop_assert_eq!(jcs::to_js_string(&from_js), js);
    }

    #[test]
    fn key_hex_parse(key in any::<[u8; 32]>().prop_flat_map(|k| (Just(k), hex_variants(&k)))) {
        let (bytes, text) = key;
        let parsed = parse_key_hex(&text).unwrap();
        prop_assert_eq!(parsed.expose(), &bytes);
    }
}

proptest! {
    // Signing and verifying dominate here; 64 cases keep the run well under a second.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn session_sigs_serialize_parse_verify(
        seed in any::<[u8; 32]>(),
        wallet in any::<[u8; 32]>(),
        ports in proptest::collection::btree_set(1u16.., 1..5),
        requests in vec(arb_signable_request(), 1..4),
        now_ms in 0i64..4_000_000_000_000,
        life_s in 1i64..86_400 * 30,
        v8 in any::<bool>(),
    ) {
        let Ok(wallet) = MemoryWallet::from_bytes(&wallet) else { return Ok(()) };
        // Each format with the resources its network generation knows.
        let (format, generation) =
            if v8 { (SessionFormat::V2, Generation::Naga) } else { (SessionFormat::V1, Generation::Datil) };
        let requests: Vec<ResourceAbilityRequest> =
            requests.into_iter().filter(|r| format.knows(r.resource().prefix())).collect();
        if requests.is_empty() {
            return Ok(());
        }
        let store = MemoryKeyStore::new();
        let id = store.import_seed("p", Zeroizing::new(seed)).unwrap();
        let nodes: Vec<NodeUrl> = ports.iter().map(|p| format!("https://127.0.0.1:{p}").parse().unwrap()).collect();
        let mut request = SessionSigsRequest::new(nodes.clone(), requests.clone(), "0x3a9c4f1e8b7d6a5c");
        request.now = timestamp_from_ms(now_ms);
        request.params.expiration = Some(request.now.saturating_add(Duration::seconds(life_s)));
        request.params.format = format;
        let sigs = request.sign(&store, &id, &wallet).unwrap();

        let entries = parse_session_sigs(&sigs.to_json()).unwrap();
        prop_assert_eq!(entries.len(), sigs.len());
        for (entry, (node, sig)) in entries.iter().zip(sigs.iter()) {
            prop_assert_eq!(entry.node.as_deref(), Some(node.as_str()));
            prop_assert_eq!(&entry.session_sig, sig);
            // A single SessionSig object reads back too.
            let single = parse_session_sigs(&serde_json::to_string(sig).unwrap()).unwrap();
            prop_assert_eq!(&single[0].session_sig, sig);
            for r in &requests {
                let policy = VerifyPolicy::node().for_generation(generation);
                let verdict = verify_session_sig(sig, node, r, request.now, &policy);
                // Requests shadowed by a wildcard of the same prefix are refused, as by the node.
                if !request.ungranted_requests().contains(&r) {
                    prop_assert!(verdict.is_ok(), "{r}: {verdict:?}");
                }
            }
        }
    }
}

proptest! {
    // A price reads back from its decimal and its hex form; hex is written without leading zeros.
    #[test]
    fn price_text_round_trips(digits in "[0-9a-fA-F]{1,64}") {
        let p: Price = format!("0x{digits}").parse().unwrap();
        let trimmed = digits.trim_start_matches('0').to_ascii_lowercase();
        prop_assert_eq!(p.to_hex_digits(), if trimmed.is_empty() { "0".to_string() } else { trimmed });
        prop_assert_eq!(p.to_string().parse::<Price>().unwrap(), p);
        prop_assert_eq!(p.to_hex().parse::<Price>().unwrap(), p);
    }

    // The v8 split: the k cheapest in ascending (stable) order, each at least its own price,
    // together within the maximum and leaving less than k behind.
    #[test]
    fn pricing_splits_the_maximum_over_the_cheapest(
        prices in vec(0u64..1_000_000, 1..40),
        extra in 0u64..u64::MAX / 2,
        k_seed in any::<usize>(),
    ) {
        let nodes: Vec<NodeUrl> = (0..prices.len()).map(|i| format!("https://10.5.0.{i}:443").parse().unwrap()).collect();
        let k = 1 + k_seed % prices.len();
        let mut order: Vec<usize> = (0..prices.len()).collect();
        order.sort_by_key(|&i| prices[i]);
        let total: u64 = order[..k].iter().map(|&i| prices[i]).sum();
        let max = Price::from(total).checked_add(Price::from(extra)).unwrap();
        let pricing = nodes.iter().zip(&prices).fold(NodePricing::new().with_threshold(k), |p, (n, price)| {
            p.with_node_price(n.clone(), Price::from(*price))
        });
        let plan = pricing.clone().with_max_price(MaxPrice::Split(max)).plan(&nodes).unwrap();
        prop_assert_eq!(plan.len(), k);
        let mut signed = Price::ZERO;
        for ((node, max_price), &i) in plan.iter().zip(&order[..k]) {
            prop_assert_eq!(node, &nodes[i]);
            prop_assert!(*max_price >= Price::from(prices[i]));
            signed = signed.checked_add(*max_price).unwrap();
        }
        prop_assert!(signed <= max);
        prop_assert!(max.checked_sub(signed).unwrap() < Price::from(k as u64));
        // One below the chosen nodes' total is refused.
        if total > 0 {
            prop_assert!(pricing.with_max_price(MaxPrice::Split(Price::from(total - 1))).plan(&nodes).is_err());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Single-field mutations of the SDK's own session sigs (the Datil and the Naga vector), re-signed
// with the vectors' keys so the later rules are reached: the verifier never panics, and every
// refusal names its rule and the node function that refuses (or says the strict policy does).

struct Signed {
    entry: Map<String, Value>,
    message: Value,
    session: ed25519_dalek::SigningKey,
    wallet: k256::ecdsa::SigningKey,
    node: NodeUrl,
    now: Timestamp,
}

fn signed_vector(file: &str, node: &str) -> Signed {
    let path = format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let inputs = &v["vector"]["inputs"];
    let seed: [u8; 32] = hex::decode(inputs["sessionKeySeedHex"].as_str().unwrap()).unwrap().try_into().unwrap();
    let wallet = hex::decode(inputs["walletPrivateKey"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let entry = v["vector"]["outputs"]["sessionSigs"][node].as_object().unwrap().clone();
    let message = serde_json::from_str(entry["signedMessage"].as_str().unwrap()).unwrap();
    Signed {
        entry,
        message,
        session: ed25519_dalek::SigningKey::from_bytes(&seed),
        wallet: k256::ecdsa::SigningKey::from_slice(&wallet).unwrap(),
        node: node.parse().unwrap(),
        now: inputs["frozenNow"].as_str().unwrap().parse().unwrap(),
    }
}

/// Where a mutation lands.
#[derive(Clone, Debug)]
enum Target {
    /// A key of the session sig object (set, or removed when the value is `None`).
    Entry(&'static str),
    /// A key of the signed message; the message is re-signed.
    Message(&'static str),
    /// A key of the session AuthSig; the message is re-signed.
    Capability(&'static str),
    /// One line of the session AuthSig's SIWE; the SIWE is re-signed by the wallet.
    SiweLine(usize),
}

fn arb_target() -> impl Strategy<Value = Target> {
    use Target::*;
    prop_oneof![
        proptest::sample::select(vec!["sig", "derivedVia", "signedMessage", "address", "algo", "extra"])
            .prop_map(Entry),
        proptest::sample::select(vec![
            "sessionKey",
            "resourceAbilityRequests",
            "capabilities",
            "issuedAt",
            "expiration",
            "nodeAddress",
            "maxPrice",
            "extra",
        ])
        .prop_map(Message),
        proptest::sample::select(vec!["sig", "derivedVia", "signedMessage", "address", "algo", "extra"])
            .prop_map(Capability),
        (0usize..14).prop_map(SiweLine),
    ]
}

fn mutate(s: &Signed, target: &Target, value: Option<Value>) -> String {
    use ed25519_dalek::Signer;
    let set = |obj: &mut Map<String, Value>, key: &str| match &value {
        Some(v) => drop(obj.insert(key.to_string(), v.clone())),
        None => drop(obj.remove(key)),
    };
    let mut entry = s.entry.clone();
    let mut message = s.message.clone();
    let session_cap = |m: &mut Value| -> Map<String, Value> {
        m["capabilities"].as_array().and_then(|c| c.last()).and_then(Value::as_object).cloned().unwrap_or_default()
    };
    match target {
        Target::Entry(key) => {
            set(&mut entry, key);
            return serde_json::to_string(&entry).unwrap();
        }
        Target::Message(key) => {
            if let Some(obj) = message.as_object_mut() {
                set(obj, key);
            }
        }
        Target::Capability(key) => {
            let mut cap = session_cap(&mut message);
            set(&mut cap, key);
            message["capabilities"] = Value::Array(vec![Value::Object(cap)]);
        }
        Target::SiweLine(line) => {
            let mut cap = session_cap(&mut message);
            let text = cap["signedMessage"].as_str().unwrap_or_default().to_string();
            let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
            let replacement = match &value {
                Some(Value::String(v)) => v.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            if let Some(l) = lines.get_mut(*line) {
                *l = replacement;
            }
            let text = lines.join("\n");
            // Signed as the node hashes it: the siwe crate's rendering, when it parses.
            if let Ok(parsed) = parse_siwe(&text) {
                let digest = parsed.eip191_hash().unwrap();
                let (sig, id) = s.wallet.sign_prehash_recoverable(&digest).unwrap();
                cap.insert(
                    "sig".into(),
                    Value::String(format!("0x{}{:02x}", hex::encode(sig.to_bytes()), 27 + id.to_byte())),
                );
            }
            cap.insert("signedMessage".into(), Value::String(text));
            message["capabilities"] = Value::Array(vec![Value::Object(cap)]);
        }
    }
    let text = serde_json::to_string(&message).unwrap();
    entry.insert("signedMessage".into(), Value::String(text.clone()));
    entry.insert("sig".into(), Value::String(hex::encode(s.session.sign(text.as_bytes()).to_bytes())));
    serde_json::to_string(&entry).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn single_field_mutations_never_panic_and_every_refusal_names_rule_and_function(
        naga_vector in any::<bool>(),
        target in arb_target(),
        value in proptest::option::weighted(0.9, prop_oneof![arb_json(), any::<String>().prop_map(Value::String)]),
    ) {
        use lit_session_signer::verify::Verifier;
        let s = if naga_vector {
            signed_vector("naga-v8-small.json", "https://192.0.2.30:443")
        } else {
            signed_vector("deterministic-session-sigs-small.json", "https://158.69.108.66:443")
        };
        let json = mutate(&s, &target, value);
        let request: ResourceAbilityRequest = "lit-pkp://*=pkp-signing".parse().unwrap();
        for generation in [Generation::Datil, Generation::Naga] {
            for policy in [VerifyPolicy::node(), VerifyPolicy::strict()] {
                let verifier = Verifier::new(policy.for_generation(generation));
                let Err(e) = verifier.verify_json(&json, &s.node, &request, s.now) else { continue };
                let text = e.explain(generation);
                prop_assert!(text.starts_with(&format!("{}: ", e.rule())), "{text}");
                match e.node_function(generation) {
                    Some(f) => {
                        prop_assert!(f.contains(".rs::"), "{f}");
                        let named = format!("({generation} node: {f})");
                        prop_assert!(text.ends_with(&named), "{text}");
                    }
                    None => {
                        prop_assert!(e.rule().starts_with("strict-"), "{text}");
                        prop_assert!(text.ends_with("(strict policy; no node checks this)"), "{text}");
                    }
                }
            }
        }
    }
}
