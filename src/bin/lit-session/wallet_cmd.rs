//! `lit-session wallet`: the secp256k1 wallet key, on a PKCS#11 token or in a key file.

use std::path::{Path, PathBuf};

use clap::Subcommand;
#[cfg(feature = "pkcs11")]
use lit_session_signer::wallet::Pkcs11Wallet;
use lit_session_signer::wallet::{MemoryWallet, WalletSigner};

use crate::{input, CliError};

/// Wallet subcommands.
#[derive(Subcommand)]
pub enum WalletCommand {
    /// Generate a secp256k1 wallet key on the token; prints its URI, then its address.
    Generate {
        /// Token (and module, PIN source) as an RFC 7512 URI, e.g.
        /// pkcs11:token=lit?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin
        #[arg(long, value_name = "URI")]
        pkcs11_uri: String,
        /// The key's label (CKA_LABEL).
        #[arg(long, value_name = "L")]
        label: String,
    },
    /// Print the wallet's EIP-55 address.
    Address {
        /// The wallet key on a token (object=<label> or id=<CKA_ID>).
        #[arg(
            long,
            value_name = "URI",
            required_unless_present = "wallet_key_file",
            conflicts_with = "wallet_key_file"
        )]
        pkcs11_uri: Option<String>,
        /// File holding the wallet's secp256k1 private key as hex.
        #[arg(long, value_name = "PATH")]
        wallet_key_file: Option<PathBuf>,
    },
}

/// Opens the wallet named by `--wallet pkcs11:URI` (flag name `uri_flag`) or
/// `--wallet-key-file PATH`; exactly one must be given.
/// The wallet flags shared by `session-sigs`, `capacity-delegation` and `payment-delegation`
/// (one of the two is needed; [`WalletArgs::open`] says so otherwise).
#[derive(clap::Args)]
pub struct WalletArgs {
    /// File holding the wallet's secp256k1 private key as hex.
    #[arg(long, value_name = "PATH", conflicts_with = "wallet")]
    wallet_key_file: Option<PathBuf>,
    /// The wallet key on a PKCS#11 token instead, by RFC 7512 URI (object=<label> or id=<CKA_ID>).
    #[arg(long, value_name = "pkcs11:URI")]
    wallet: Option<String>,
}

impl WalletArgs {
    /// Whether a wallet flag was given.
    pub fn given(&self) -> bool {
        self.wallet_key_file.is_some() || self.wallet.is_some()
    }

    /// Opens the wallet the flags name.
    pub fn open(&self) -> Result<Box<dyn WalletSigner>, CliError> {
        open_wallet(self.wallet_key_file.as_deref(), self.wallet.as_deref(), "--wallet")
    }
}

pub fn open_wallet(
    key_file: Option<&Path>,
    uri: Option<&str>,
    uri_flag: &str,
) -> Result<Box<dyn WalletSigner>, CliError> {
    match (key_file, uri) {
        (Some(path), None) => {
            let key = input::read_key32(path, "--wallet-key-file")?;
            let wallet = MemoryWallet::from_bytes(&key).map_err(|e| CliError(format!("--wallet-key-file: {e}")))?;
            Ok(Box::new(wallet))
        }
        #[cfg(feature = "pkcs11")]
        (None, Some(uri)) => {
            let parsed = input::pkcs11_uri(uri_flag, uri)?;
            let wallet = Pkcs11Wallet::open(&parsed).map_err(|e| CliError(format!("{uri_flag}: {e}")))?;
            Ok(Box::new(wallet))
        }
        #[cfg(not(feature = "pkcs11"))]
        (None, Some(_)) => Err(crate::without_pkcs11(uri_flag)),
        (Some(_), Some(_)) => Err(CliError(format!("give either --wallet-key-file or {uri_flag}, not both"))),
        (None, None) => Err(CliError(format!("no wallet: give --wallet-key-file PATH or {uri_flag} pkcs11:URI"))),
    }
}

pub fn run(cmd: WalletCommand) -> Result<(), CliError> {
    match cmd {
        #[cfg(not(feature = "pkcs11"))]
        WalletCommand::Generate { .. } => return Err(crate::without_pkcs11("lit-session wallet generate")),
        #[cfg(feature = "pkcs11")]
        WalletCommand::Generate { pkcs11_uri, label } => {
            let uri = input::pkcs11_uri("--pkcs11-uri", &pkcs11_uri)?;
            let (wallet, id) =
                Pkcs11Wallet::generate(&uri, &label).map_err(|e| CliError(format!("--pkcs11-uri: {e}")))?;
            // Both selectors: the id is exact, the label is for people.
            let mut key_uri = uri.with_id(id.as_bytes());
            key_uri.object = Some(label.clone());
            println!("{key_uri}");
            println!("{}", wallet.address());
            eprintln!("lit-session: generated wallet key {label} (id {id}), address {}", wallet.address());
        }
        WalletCommand::Address { pkcs11_uri, wallet_key_file } => {
            let wallet = open_wallet(wallet_key_file.as_deref(), pkcs11_uri.as_deref(), "--pkcs11-uri")?;
            println!("{}", wallet.address());
        }
    }
    Ok(())
}
