//! SIWE (EIP-4361) text from arbitrary bytes. For anything the `siwe` crate parses (as the node
//! does): its re-rendering parses to the same message. When the fields fit our
//! [`SiweMessage`], `render` either refuses or produces text that parses back to exactly those
//! fields (the property the node relies on: it hashes the re-rendering).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lit_session_signer::eth::EthAddress;
use lit_session_signer::siwe::{parse, SiweMessage};
use lit_session_signer::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(message) = parse(text) else { return };
    let rendered = message.to_string();
    let again = parse(&rendered).unwrap_or_else(|e| panic!("re-rendering {rendered:?} does not parse: {e}"));
    assert_eq!(again, message, "parse(render(m)) != m for {rendered:?}");
    assert_eq!(again.to_string(), rendered, "rendering is not stable");

    // Our builder, from the parsed fields.
    let (Ok(issued_at), Some(expiration)) =
        (message.issued_at.to_string().parse::<Timestamp>(), message.expiration_time.as_ref())
    else {
        return;
    };
    let Ok(expiration) = expiration.to_string().parse::<Timestamp>() else { return };
    let ours = SiweMessage {
        domain: message.domain.to_string(),
        address: EthAddress::from_bytes(message.address),
        statement: message.statement.clone().unwrap_or_default(),
        uri: message.uri.to_string(),
        chain_id: message.chain_id,
        nonce: message.nonce.clone(),
        issued_at,
        expiration_time: expiration,
        resources: message.resources.iter().map(ToString::to_string).collect(),
    };
    let Ok(ours_text) = ours.render() else { return };
    let back = parse(&ours_text).unwrap_or_else(|e| panic!("render() gave unparseable {ours_text:?}: {e}"));
    assert_eq!(back.to_string(), ours_text, "render() output does not round-trip");
    assert_eq!(back.domain.to_string(), ours.domain);
    assert_eq!(back.address, *ours.address.as_bytes());
    assert_eq!(back.statement.unwrap_or_default(), ours.statement);
    assert_eq!(back.uri.to_string(), ours.uri);
    assert_eq!(back.chain_id, ours.chain_id);
    assert_eq!(back.nonce, ours.nonce);
    assert_eq!(back.issued_at.to_string(), ours.issued_at.to_string());
    assert_eq!(back.expiration_time.map(|t| t.to_string()), Some(ours.expiration_time.to_string()));
    assert!(back.not_before.is_none() && back.request_id.is_none());
    assert_eq!(back.resources.iter().map(ToString::to_string).collect::<Vec<_>>(), ours.resources);
});
