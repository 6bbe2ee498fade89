//! Raw access to the PKCS#11 layer, for the benches (a bare `C_Sign` loop on the store's own
//! context), the hsm tests and hsm-stress (sessions of their own, logouts, `C_CloseAllSessions`
//! while the module is quiet, re-initialisation) and the `ec_point` fuzz target.

pub use crate::pkcs11::context::{ContextGuard, SharedContext};
pub use crate::pkcs11::ec_point::{parse_ec_point, EcPointEncoding, EcPointError};
pub use crate::pkcs11::token::Pkcs11Token;

use crate::keystore::Pkcs11KeyStore;
use crate::pkcs11::Pkcs11Error;

/// The token under a store: its context, slot, pool and recovering `run`.
pub fn store_token(store: &Pkcs11KeyStore) -> &Pkcs11Token {
    store.token()
}

/// `C_Finalize` + `C_Initialize` of the module now, as the token's recovery does after a token
/// loss (every session and handle of every store on the module dies).
pub fn reinitialize(context: &SharedContext) -> Result<(), Pkcs11Error> {
    let generation = context.read()?.generation();
    context.reinitialize(generation, None).map(|_| ())
}
