//! The one place Komander handles credentials: secret variable values, provider tokens,
//! connection credentials and secret environment settings are all sealed here.
//!
//! - [`Keyring`]: XChaCha20-Poly1305 keys `id:base64`; the first key seals, every key opens, so a
//!   key is rotated by putting a new one first.
//! - Every ciphertext is bound to where it is stored by [`Aad`] (table, row id, field): a
//!   ciphertext copied onto another row fails to open.
//! - [`SecretString`] redacts itself in `Debug` and has no `Serialize`, so it cannot reach a log
//!   line or a response by accident.
//! - API tokens: 32 random bytes, looked up by their SHA-256 ([`ApiToken`]).
//!
//! It must not depend on the store, the server or any async runtime.
//!
//! ```
//! use komander_secrets::{Aad, Keyring};
//!
//! let keyring = Keyring::parse(&[Keyring::generate_key_spec("k1")]).unwrap();
//! let here = Aad { table: "variables", row: "0190-a", field: "value" };
//! let sealed = keyring.seal(b"hunter2", &here);
//! assert_eq!(keyring.open(&sealed, &here).unwrap().expose(), "hunter2");
//! let elsewhere = Aad { row: "0190-b", ..here };
//! assert!(keyring.open(&sealed, &elsewhere).is_err());
//! ```
#![deny(missing_docs)]

use std::{fmt, fs, io::Write, path::Path};

use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use sha2::{Digest, Sha256};

/// What can go wrong with keys and ciphertexts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// A key spec is not `id:base64-of-32-bytes`. Names the key by its position and, once
    /// its id is valid, its id: never by anything else in the spec, which may be key material
    /// (a spec written `base64:id` has the key where the id goes).
    #[error("invalid secret key #{position}{}: {reason}", KeyId(id.as_deref()))]
    InvalidKey {
        /// Where the key is in the list, from 1.
        position: usize,
        /// The key's id, when it is a valid id (never the key material).
        id: Option<String>,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The keyring holds no key.
    #[error("the keyring is empty: configure secret_keys or let Komander generate one")]
    EmptyKeyring,
    /// A ciphertext was sealed with a key id the keyring does not hold.
    #[error("no secret key with id {0:?} in the keyring")]
    UnknownKey(String),
    /// A ciphertext does not open: tampered, truncated, or copied from another row or field.
    #[error(
        "a secret failed to decrypt for {table}.{field} (tampered, or not sealed for this row)"
    )]
    Decrypt {
        /// The table of the associated data.
        table: String,
        /// The field of the associated data.
        field: String,
    },
    /// Reading or writing the key file failed.
    #[error("secret key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The ` (id "k1")` of an [`SecretsError::InvalidKey`], empty without an id.
struct KeyId<'a>(Option<&'a str>);

impl fmt::Display for KeyId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, " (id {id:?})"),
            None => Ok(()),
        }
    }
}

/// A secret in memory. `Debug` prints `***`; it cannot be serialized.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself: call this only where it is handed to an executor or a cipher.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a ciphertext is stored: bound into it as associated data.
#[derive(Clone, Copy, Debug)]
pub struct Aad<'a> {
    /// The table.
    pub table: &'a str,
    /// The row's immutable id.
    pub row: &'a str,
    /// The column or logical field.
    pub field: &'a str,
}

impl Aad<'_> {
    fn bytes(&self) -> Vec<u8> {
        [self.table, self.row, self.field].join("\0").into_bytes()
    }
}

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The secret keys: the first seals, all open.
pub struct Keyring {
    keys: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

impl Keyring {
    /// Builds a keyring from specs `id:base64` (standard base64 of 32 bytes), newest first.
    ///
    /// # Errors
    /// [`SecretsError::EmptyKeyring`] for no specs; [`SecretsError::InvalidKey`] for a bad one,
    /// which never holds the spec's text but its position and valid id.
    pub fn parse(specs: &[SecretString]) -> Result<Self, SecretsError> {
        let mut keys = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let refused = |id: Option<&str>, reason| SecretsError::InvalidKey {
                position: index + 1,
                id: id.map(str::to_owned),
                reason,
            };
            let (id, material) = spec
                .expose()
                .trim()
                .split_once(':')
                .ok_or_else(|| refused(None, "expected id:base64"))?;
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(refused(None, "the id must be 1 to 32 letters or digits"));
            }
            let invalid = |reason| refused(Some(id), reason);
            let bytes = STANDARD
                .decode(material)
                .map_err(|_| invalid("the key is not valid base64"))?;
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| invalid("the key must be 32 bytes"))?;
            if keys.iter().any(|k: &Key| k.id == id) {
                return Err(invalid("the id appears twice"));
            }
            keys.push(Key {
                id: id.to_owned(),
                cipher,
            });
        }
        if keys.is_empty() {
            return Err(SecretsError::EmptyKeyring);
        }
        Ok(Self { keys })
    }

    /// A new random key spec `id:base64`.
    pub fn generate_key_spec(id: &str) -> SecretString {
        SecretString(format!("{id}:{}", STANDARD.encode(random_bytes::<32>())))
    }

    /// Loads the keyring from `path` (one spec a line), creating the file with one new key and
    /// mode 0600 when it does not exist.
    ///
    /// # Errors
    /// [`SecretsError::KeyFile`] when the file cannot be read or written; parse errors as
    /// [`Keyring::parse`].
    pub fn load_or_create(path: &Path) -> Result<Self, SecretsError> {
        let io = |source| SecretsError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            let spec = Self::generate_key_spec("k1");
            write_private_file(path, format!("{}\n", spec.expose()).as_bytes()).map_err(io)?;
        }
        let text = fs::read_to_string(path).map_err(io)?;
        let specs: Vec<SecretString> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(SecretString::new)
            .collect();
        Self::parse(&specs)
    }

    /// Seals `plaintext` for the place `aad` names, with the newest key and a random nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad<'_>) -> Vec<u8> {
        let key = &self.keys[0];
        let nonce = random_bytes::<NONCE_LEN>();
        let aad_bytes = aad.bytes();
        let ciphertext = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad_bytes,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(2 + key.id.len() + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_VERSION);
        out.push(key.id.len() as u8);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Opens a ciphertext sealed by [`Keyring::seal`] for the same `aad`.
    ///
    /// # Errors
    /// [`SecretsError::UnknownKey`] when its key is not in the keyring; [`SecretsError::Decrypt`]
    /// when it was tampered with or sealed for another place.
    pub fn open(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<SecretString, SecretsError> {
        let fail = || SecretsError::Decrypt {
            table: aad.table.to_owned(),
            field: aad.field.to_owned(),
        };
        let [version, id_len, rest @ ..] = sealed else {
            return Err(fail());
        };
        if *version != FORMAT_VERSION || rest.len() < usize::from(*id_len) + NONCE_LEN {
            return Err(fail());
        }
        let (id, rest) = rest.split_at(usize::from(*id_len));
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let id = std::str::from_utf8(id).map_err(|_| fail())?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SecretsError::UnknownKey(id.to_owned()))?;
        let plaintext = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad.bytes(),
                },
            )
            .map_err(|_| fail())?;
        String::from_utf8(plaintext)
            .map(SecretString)
            .map_err(|_| fail())
    }
}

/// An API token or invitation token: 32 random bytes, base64url, with a prefix that says what
/// it is. Only its SHA-256 is stored.
pub struct ApiToken {
    /// The token, to show once.
    pub token: SecretString,
    /// Its SHA-256, to store and look up.
    pub hash: [u8; 32],
}

impl ApiToken {
    /// A new random token starting with `prefix` (such as `kmd_`).
    pub fn generate(prefix: &str) -> Self {
        let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()));
        let hash = token_hash(&token);
        Self {
            token: SecretString(token),
            hash,
        }
    }
}

/// The SHA-256 of a token, as stored and looked up.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Writes `contents` to a new file readable by its owner alone (mode 0600), creating parent
/// folders. Refuses to overwrite an existing file.
///
/// # Errors
/// The I/O error, such as `AlreadyExists`.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aad(row: &str) -> Aad<'_> {
        Aad {
            table: "variables",
            row,
            field: "value",
        }
    }

    #[test]
    fn seal_open_round_trip_and_rotation() {
        let old = Keyring::generate_key_spec("old");
        let new = Keyring::generate_key_spec("new");
        let before = Keyring::parse(std::slice::from_ref(&old)).unwrap();
        let sealed = before.seal(b"s3cret", &aad("r1"));
        let rotated = Keyring::parse(&[new, old]).unwrap();
        assert_eq!(
            rotated.open(&sealed, &aad("r1")).unwrap().expose(),
            "s3cret"
        );
        let resealed = rotated.seal(b"s3cret", &aad("r1"));
        assert!(matches!(
            before.open(&resealed, &aad("r1")),
            Err(SecretsError::UnknownKey(id)) if id == "new"
        ));
    }

    #[test]
    fn ciphertexts_are_bound_to_their_row_and_field() {
        let keyring = Keyring::parse(&[Keyring::generate_key_spec("k")]).unwrap();
        let sealed = keyring.seal(b"value", &aad("r1"));
        assert!(keyring.open(&sealed, &aad("r2")).is_err());
        let other_field = Aad {
            field: "other",
            ..aad("r1")
        };
        assert!(keyring.open(&sealed, &other_field).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(keyring.open(&tampered, &aad("r1")).is_err());
        assert!(keyring.open(&[], &aad("r1")).is_err());
    }

    #[test]
    fn bad_key_specs_are_refused_by_id() {
        let err = Keyring::parse(&[SecretString::new("k1:c2hvcnQ=")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid secret key #1 (id \"k1\"): the key must be 32 bytes"
        );
        assert!(Keyring::parse(&[SecretString::new("nocolon")]).is_err());
        assert!(matches!(
            Keyring::parse(&[]),
            Err(SecretsError::EmptyKeyring)
        ));
    }

    /// Regression: a key given the wrong way round (`base64:id`) or without its id was
    /// printed in the error.
    #[test]
    fn bad_key_specs_never_echo_the_key() {
        let good = Keyring::generate_key_spec("k1");
        let material = good.expose().split_once(':').unwrap().1.to_owned();
        for (spec, reason) in [
            (format!("{material}:k2"), "the id must be"),
            (material.clone(), "expected id:base64"),
            (format!("k2:{material}x"), "not valid base64"),
            (format!("k-2:{material}"), "the id must be"),
        ] {
            let specs = [good.clone(), SecretString::new(spec)];
            let err = Keyring::parse(&specs).unwrap_err().to_string();
            assert!(!err.contains(&material[..16]), "{err}");
            assert!(err.starts_with("invalid secret key #2"), "{err}");
            assert!(err.contains(reason), "{err}");
        }
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret-keys");
        let first = Keyring::load_or_create(&path).unwrap();
        let sealed = first.seal(b"x", &aad("r"));
        let again = Keyring::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed, &aad("r")).unwrap().expose(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn secrets_redact_in_debug_and_tokens_hash() {
        assert_eq!(format!("{:?}", SecretString::new("pw")), "***");
        let t = ApiToken::generate("kmd_");
        assert!(t.token.expose().starts_with("kmd_"));
        assert_eq!(t.hash, token_hash(t.token.expose()));
    }
}
