//! The one place the service's tests and benches name the library's throwaway SoftHSM2 token
//! maker (`hsm-tests/common`): if that file moves, this path is the only line to change.

#[path = "../../../hsm-tests/common/softhsm.rs"]
pub mod softhsm;
