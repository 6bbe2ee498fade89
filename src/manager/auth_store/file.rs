//! AuthSigs on disk, one JSON file per (signer, session key[, grant set]), so a restarted process
//! reuses the wallet's signatures instead of asking for new ones.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{session_pair_name, AuthSigKey, AuthSigStore, AuthStoreError, GrantsDigest};
use crate::auth_sig::AuthSig;
use crate::eth::EthAddress;
use crate::keystore::VerifyingKey;

// A real AuthSig is a few KiB; anything far larger is not ours.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// A directory of cached AuthSigs: `<dir>/<signer>-<session key>.json`, or
/// `<dir>/<signer>-<session key>-<grants digest>.json` for an entry of one grant set
/// ([`AuthSigKey::name`]), mode 0600, written atomically (temporary file, fsync, rename), so a
/// crash leaves the old file or the new one.
///
/// A file that does not parse as an AuthSig is reported as [`AuthStoreError::Corrupt`] and
/// replaced by the next save. A file that parses is still only a candidate: the manager checks
/// its signature, signer, session key, expiry and grants before reusing it.
///
/// ```
/// use lit_session_signer::manager::FileAuthSigStore;
/// let dir = tempfile::tempdir().unwrap();
/// let store = FileAuthSigStore::open(dir.path().join("auth-sigs")).unwrap();
/// assert!(store.dir().is_dir());
/// ```
#[derive(Debug)]
pub struct FileAuthSigStore {
    dir: PathBuf,
    counter: AtomicU64,
}

impl FileAuthSigStore {
    /// Opens `dir`, creating it (mode 0700) if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, AuthStoreError> {
        let dir = dir.into();
        create_private_dir(&dir).map_err(|source| AuthStoreError::Io { path: dir.clone(), source })?;
        Ok(Self { dir, counter: AtomicU64::new(0) })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `key`'s AuthSig.
    pub fn path_of(&self, key: &AuthSigKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.name()))
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("auth-sig");
        let tmp = self.dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        let result = (|| {
            let mut file = private_file_options().open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, path)?;
            // The rename is durable only once the directory entry is.
            fs::File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

impl AuthSigStore for FileAuthSigStore {
    fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError> {
        let path = self.path_of(key);
        let io_err = |source| AuthStoreError::Io { path: path.clone(), source };
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let mut text = String::new();
        let read = file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text);
        let corrupt = |reason: String| AuthStoreError::Corrupt { path: path.clone(), reason };
        match read {
            Ok(n) if n as u64 > MAX_FILE_BYTES => return Err(corrupt(format!("larger than {MAX_FILE_BYTES} bytes"))),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(corrupt("not UTF-8".to_string())),
            Err(e) => return Err(io_err(e)),
        }
        serde_json::from_str::<AuthSig>(&text).map(Some).map_err(|e| corrupt(format!("not an AuthSig: {e}")))
    }

    fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError> {
        let path = self.path_of(key);
        let json = serde_json::to_vec_pretty(auth_sig).map_err(|e| AuthStoreError::Io {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        self.write_atomically(&path, &json).map_err(|source| AuthStoreError::Io { path, source })
    }

    fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError> {
        let path = self.path_of(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(AuthStoreError::Io { path, source }),
        }
    }

    fn remove_all(&self, signer: EthAddress, session_key: &VerifyingKey) -> Result<(), AuthStoreError> {
        let pair = session_pair_name(signer, session_key);
        let io_err = |path: &Path, source| AuthStoreError::Io { path: path.to_path_buf(), source };
        for entry in fs::read_dir(&self.dir).map_err(|e| io_err(&self.dir, e))? {
            let entry = entry.map_err(|e| io_err(&self.dir, e))?;
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(pair.as_str())) else { continue };
            let ours = match rest.strip_suffix(".json") {
                Some("") => true,
                Some(grants) => grants.strip_prefix('-').and_then(GrantsDigest::from_hex).is_some(),
                None => false,
            };
            if ours {
                match fs::remove_file(entry.path()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&entry.path(), e)),
                }
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

fn private_file_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::{MemoryKeyStore, SessionKeyStore};

    fn key() -> AuthSigKey {
        let keys = MemoryKeyStore::new();
        let id = keys.generate("s").unwrap();
        AuthSigKey {
            signer: EthAddress::from_bytes([0xab; 20]),
            session_key: keys.public_key(&id).unwrap(),
            grants: None,
        }
    }

    fn auth_sig() -> AuthSig {
        AuthSig {
            sig: "0x00".into(),
            derived_via: "web3.eth.personal.sign".into(),
            signed_message: "m".into(),
            address: "0xab".into(),
            algo: None,
        }
    }

    #[test]
    fn round_trip_is_private_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileAuthSigStore::open(dir.path().join("c")).unwrap();
        let k = key();
        assert!(store.load(&k).unwrap().is_none());
        store.save(&k, &auth_sig()).unwrap();
        store.save(&k, &auth_sig()).unwrap();
        assert_eq!(store.load(&k).unwrap(), Some(auth_sig()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path_of(&k)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(store.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let names: Vec<_> = fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        store.remove(&k).unwrap();
        store.remove(&k).unwrap();
        assert!(store.load(&k).unwrap().is_none());
    }

    #[test]
    fn corrupt_files_are_reported_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileAuthSigStore::open(dir.path()).unwrap();
        let k = key();
        for bad in [&b"{not json"[..], b"{\"sig\":1}", b"\xff\xfe", b""] {
            fs::write(store.path_of(&k), bad).unwrap();
            assert!(matches!(store.load(&k), Err(AuthStoreError::Corrupt { .. })), "{bad:?}");
        }
        fs::write(store.path_of(&k), vec![b' '; MAX_FILE_BYTES as usize + 10]).unwrap();
        assert!(matches!(store.load(&k), Err(AuthStoreError::Corrupt { .. })));
        store.save(&k, &auth_sig()).unwrap();
        assert_eq!(store.load(&k).unwrap(), Some(auth_sig()));
    }

    #[test]
    fn each_grant_set_has_its_own_file_and_remove_all_takes_every_one_of_the_pair() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileAuthSigStore::open(dir.path()).unwrap();
        let covering = key();
        let grants = |r: &str| Some(GrantsDigest::of_requests(&[r.parse().unwrap()]));
        let a = AuthSigKey { grants: grants("lit-pkp://*=pkp-signing"), ..covering };
        let b = AuthSigKey { grants: grants("lit-litaction://*=lit-action-execution"), ..covering };
        let other_key = AuthSigKey { grants: a.grants, ..key() };
        let other_signer = AuthSigKey { signer: EthAddress::from_bytes([0xcd; 20]), ..a };
        let with = |sig: &str| AuthSig { sig: sig.into(), ..auth_sig() };
        for (k, sig) in [(covering, "0x00"), (a, "0x0a"), (b, "0x0b"), (other_key, "0x01"), (other_signer, "0x02")] {
            store.save(&k, &with(sig)).unwrap();
        }
        assert_eq!(store.load(&a).unwrap(), Some(with("0x0a")));
        assert_eq!(store.load(&b).unwrap(), Some(with("0x0b")));
        assert_eq!(store.load(&covering).unwrap(), Some(with("0x00")));
        // Files that only look alike are left alone.
        let stray = dir.path().join(format!("{}-notes.json", covering.name()));
        fs::write(&stray, b"{}").unwrap();

        store.remove_all(covering.signer, &covering.session_key).unwrap();
        for k in [covering, a, b] {
            assert!(store.load(&k).unwrap().is_none(), "{k}");
        }
        assert_eq!(store.load(&other_key).unwrap(), Some(with("0x01")));
        assert_eq!(store.load(&other_signer).unwrap(), Some(with("0x02")));
        assert!(stray.exists());
    }
}
