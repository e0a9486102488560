//! Encryption of stored credentials (AES-256-GCM, authenticated): integration secrets
//! now, kubeconfigs later. Each ciphertext is `key id (1 byte) | nonce (12) | sealed`,
//! so that a later key rotation can tell which key sealed what.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use secrecy::{ExposeSecret as _, SecretString};

/// The id of the only key in use so far.
const KEY_ID: u8 = 1;

/// Seals and opens stored credentials.
#[derive(Clone)]
pub struct Cipher {
    cipher: Aes256Gcm,
    /// The key itself, from which [`Cipher::derive`] makes other secrets.
    key: std::sync::Arc<[u8; 32]>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([REDACTED])")
    }
}

/// Why a stored secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The ciphertext was sealed by another key, or altered.
    #[error("a stored secret cannot be decrypted (wrong DREAMOPS_SECRET_KEY, or altered data)")]
    Undecryptable,
    /// The key file could not be read or written.
    #[error("{0}")]
    KeyFile(String),
}

impl Cipher {
    /// From 64 hex characters.
    pub fn from_hex(key: &SecretString) -> Result<Self, SecretError> {
        let bytes = hex::decode(key.expose_secret().trim())
            .ok()
            .filter(|bytes| bytes.len() == 32)
            .ok_or_else(|| SecretError::KeyFile("DREAMOPS_SECRET_KEY must be 64 hex characters".into()))?;
        let mut key = [0_u8; 32];
        key.copy_from_slice(&bytes);
        Ok(Cipher { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)), key: std::sync::Arc::new(key) })
    }

    /// A secret for `purpose` derived from the key (HMAC-SHA256 of the purpose, hex):
    /// the same at every instance sharing the key, unrelated to the key and to other
    /// purposes' secrets. For development secrets nobody configured.
    pub fn derive(&self, purpose: &str) -> String {
        use hmac::Mac;
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key[..]).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The configured key, or the one in `data_dir/secret.key` (generated on first use).
    pub fn load(configured: Option<&SecretString>, data_dir: &Path) -> Result<Self, SecretError> {
        if let Some(key) = configured {
            return Self::from_hex(key);
        }
        let path = data_dir.join("secret.key");
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(_) => {
                tracing::warn!(
                    path = %path.display(),
                    "DREAMOPS_SECRET_KEY is not set: generated a key file; set the variable in production"
                );
                let key = crate::server::auth::token::random_hex(32);
                std::fs::create_dir_all(data_dir).map_err(|e| SecretError::KeyFile(e.to_string()))?;
                write_private(&path, &key).map_err(|e| SecretError::KeyFile(format!("{}: {e}", path.display())))?;
                key
            }
        };
        Self::from_hex(&SecretString::from(key))
    }

    /// Encrypts `plaintext`.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self.cipher.encrypt(&nonce, plaintext).expect("AES-GCM encryption does not fail");
        let mut out = Vec::with_capacity(1 + nonce.len() + sealed.len());
        out.push(KEY_ID);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`Cipher::seal`] produced.
    pub fn open(&self, ciphertext: &[u8]) -> Result<Vec<u8>, SecretError> {
        if ciphertext.len() < 13 || ciphertext[0] != KEY_ID {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, sealed) = ciphertext[1..].split_at(12);
        self.cipher.decrypt(Nonce::from_slice(nonce), sealed).map_err(|_| SecretError::Undecryptable)
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(byte: char) -> Cipher {
        Cipher::from_hex(&SecretString::from(byte.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_unaltered() {
        let sealed = cipher('a').seal(b"routing-key");
        assert_eq!(cipher('a').open(&sealed).unwrap(), b"routing-key");
        assert!(cipher('b').open(&sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(cipher('a').open(&altered).is_err());
        assert!(!sealed.windows(11).any(|w| w == b"routing-key"), "the plaintext does not appear");
    }
}
