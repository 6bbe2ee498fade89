//! The one place the service's tests and benches name the library's throwaway-token makers and
//! fault helpers (`hsm-tests/common/tokens`): if they move, this path is the only line to change.

#[path = "../../../hsm-tests/common/tokens/mod.rs"]
pub mod tokens;
