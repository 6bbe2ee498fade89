//! The session-sigs request parser never panics and answers every bad request with a 4xx.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let status = lit_session_server::api::parse_session_sigs_request(data);
    assert!(status == 200 || (400..500).contains(&status));
});
