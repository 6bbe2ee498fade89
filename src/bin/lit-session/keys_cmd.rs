//! `lit-session keys`: session keys on a PKCS#11 token.

use std::path::Path;
use std::sync::Arc;

use clap::Subcommand;
use lit_session_signer::keystore::{KeyId, MemoryKeyStore, SessionKeyStore};
#[cfg(feature = "pkcs11")]
use lit_session_signer::{
    keystore::{KeyOptions, Pkcs11KeyStore},
    pkcs11::Pkcs11Uri,
};

use crate::{input, CliError};

/// Key subcommands.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate an ed25519 session key on the token; prints its URI and public key.
    Generate {
        /// Token (and module, PIN source) as an RFC 7512 URI, e.g.
        /// pkcs11:token=lit?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin
        #[arg(long, value_name = "URI")]
        pkcs11_uri: String,
        /// The key's label (CKA_LABEL). The key is a token object: it stays on the token until
        /// `keys delete` (a session object would vanish when this command returns).
        #[arg(long, value_name = "L")]
        label: String,
    },
    /// List the session keys on the token.
    List {
        /// The token's URI.
        #[arg(long, value_name = "URI")]
        pkcs11_uri: String,
    },
    /// Delete the key the URI names (object=<label> or id=<CKA_ID>).
    Delete {
        /// The key's URI.
        #[arg(long, value_name = "URI")]
        pkcs11_uri: String,
    },
}

/// Parses a `pkcs11:` URI and opens the token it names.
#[cfg(feature = "pkcs11")]
pub fn open_store(uri: &str, flag: &str) -> Result<(Pkcs11KeyStore, Pkcs11Uri), CliError> {
    let parsed = crate::input::pkcs11_uri(flag, uri)?;
    let store = Pkcs11KeyStore::open(&parsed).map_err(|e| CliError(format!("{flag}: {e}")))?;
    Ok((store, parsed))
}

#[cfg(not(feature = "pkcs11"))]
pub fn run(_: KeysCommand) -> Result<(), CliError> {
    Err(crate::without_pkcs11("lit-session keys"))
}

#[cfg(feature = "pkcs11")]
pub fn run(cmd: KeysCommand) -> Result<(), CliError> {
    match cmd {
        KeysCommand::Generate { pkcs11_uri, label } => {
            let (store, uri) = open_store(&pkcs11_uri, "--pkcs11-uri")?;
            let id = store.generate_with(&label, KeyOptions::default())?;
            let public_key = store.public_key(&id)?;
            // Both selectors: the id is exact, the label is for people.
            let mut key_uri = uri.with_id(id.as_bytes());
            key_uri.object = Some(label.clone());
            println!("{key_uri}");
            eprintln!(
                "lit-session: generated session key {label} (id {id}), public key {}",
                hex::encode(public_key.as_bytes())
            );
        }
        KeysCommand::List { pkcs11_uri } => {
            let (store, _) = open_store(&pkcs11_uri, "--pkcs11-uri")?;
            for key in store.list()? {
                println!("{}\t{}\t{}", key.label, key.id, hex::encode(key.public_key.as_bytes()));
            }
        }
        KeysCommand::Delete { pkcs11_uri } => {
            let (store, uri) = open_store(&pkcs11_uri, "--pkcs11-uri")?;
            let id = store.resolve(&uri)?;
            store.delete(&id)?;
            eprintln!("lit-session: deleted session key {id}");
        }
    }
    Ok(())
}

/// The session key: a token key by URI, a seed file, or a fresh in-memory key.
pub fn open_session_key(
    uri: Option<&str>,
    seed_file: Option<&Path>,
) -> Result<(Arc<dyn SessionKeyStore>, KeyId), CliError> {
    match (uri, seed_file) {
        #[cfg(feature = "pkcs11")]
        (Some(uri), _) => {
            let (store, parsed) = open_store(uri, "--session-key")?;
            let id = store.resolve(&parsed).map_err(|e| CliError(format!("--session-key: {e}")))?;
            Ok((Arc::new(store), id))
        }
        #[cfg(not(feature = "pkcs11"))]
        (Some(_), _) => Err(crate::without_pkcs11("--session-key")),
        (None, Some(path)) => {
            let store = MemoryKeyStore::new();
            let id = store.import_seed("session", input::read_key32(path, "--session-seed-file")?)?;
            Ok((Arc::new(store), id))
        }
        (None, None) => {
            let store = MemoryKeyStore::new();
            let id = store.generate("session")?;
            Ok((Arc::new(store), id))
        }
    }
}
