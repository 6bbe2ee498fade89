//! PKCS#11 integration tests (being written).
