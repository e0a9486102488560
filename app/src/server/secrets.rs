//! Encryption of stored credentials (AES-256-GCM, authenticated): kubeconfigs,
//! integration secrets, LLM provider keys, PagerDuty and Slack addresses. Each
//! ciphertext is `key id (1 byte) | nonce (12) | sealed`: the current key seals, every
//! configured key opens what its id sealed, and [`reseal`] moves everything to the
//! current key after a rotation. The database remembers which key each id stood for
//! ([`check_keys`]), so an instance with another key refuses to start.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::PgPool;

use crate::server::config::SecretKey;

/// Every column that holds sealed credentials, as (table, its key column, column).
/// A test checks that every `bytea` column of the schema is here or known not to be.
pub const SEALED_COLUMNS: &[(&str, &str, &str)] = &[
    ("integrations", "id", "secrets_ciphertext"),
    ("clusters", "id", "credentials_ciphertext"),
    ("team_llm_providers", "team_id", "key_ciphertext"),
    ("team_notifications", "team_id", "pagerduty_key"),
    ("team_notifications", "team_id", "slack_webhook"),
];

/// What each key seals into `secret_keys` to be recognised by.
const KEY_CHECK: &[u8] = b"DreamOps secret key check";

/// Seals and opens stored credentials.
#[derive(Clone)]
pub struct Cipher {
    /// The id of the key that seals.
    current: u8,
    /// Every key that opens, by id (the current one included).
    keys: Arc<BTreeMap<u8, Aes256Gcm>>,
    /// The current key itself, from which [`Cipher::derive`] makes other secrets.
    key: Arc<[u8; 32]>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([REDACTED])")
    }
}

/// Why a stored secret could not be read, or the keys cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The ciphertext was sealed by another key, or altered.
    #[error("a stored secret cannot be decrypted (wrong DREAMOPS_SECRET_KEY, or altered data)")]
    Undecryptable,
    /// The key file could not be read or written.
    #[error("{0}")]
    KeyFile(String),
    /// A configured key is not the one the database knows under its id.
    #[error(
        "the key with id {0} is not the key this database's credentials were sealed with: every instance needs the same DREAMOPS_SECRET_KEY (and DREAMOPS_PREVIOUS_SECRET_KEYS)"
    )]
    WrongKey(u8),
    /// Two keys were given the same id.
    #[error("two secret keys share the id {0}: each key needs an id of its own")]
    DuplicateId(u8),
    /// The database could not be read or written (checking the keys, or resealing).
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

fn key_bytes(key: &SecretString) -> Result<[u8; 32], SecretError> {
    let bytes = hex::decode(key.expose_secret().trim())
        .ok()
        .filter(|bytes| bytes.len() == 32)
        .ok_or_else(|| SecretError::KeyFile("DREAMOPS_SECRET_KEY must be 64 hex characters".into()))?;
    let mut key = [0_u8; 32];
    key.copy_from_slice(&bytes);
    Ok(key)
}

impl Cipher {
    /// One key (id 1), from 64 hex characters.
    pub fn from_hex(key: &SecretString) -> Result<Self, SecretError> {
        Self::new(&SecretKey { id: 1, key: key.clone() }, &[])
    }

    /// Seals with `current`; opens what `current` or one of `previous` sealed.
    pub fn new(current: &SecretKey, previous: &[SecretKey]) -> Result<Self, SecretError> {
        let key = key_bytes(&current.key)?;
        let mut keys = BTreeMap::new();
        for SecretKey { id, key } in std::iter::once(current).chain(previous) {
            let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key_bytes(key)?));
            if keys.insert(*id, cipher).is_some() {
                return Err(SecretError::DuplicateId(*id));
            }
        }
        Ok(Cipher { current: current.id, keys: Arc::new(keys), key: Arc::new(key) })
    }

    /// A secret for `purpose` derived from the current key (HMAC-SHA256 of the purpose,
    /// hex): the same at every instance sharing the key, unrelated to the key and to
    /// other purposes' secrets. For development secrets nobody configured.
    pub fn derive(&self, purpose: &str) -> String {
        use hmac::Mac;
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key[..]).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The configured keys, or (development) the one in `data_dir/secret.key`,
    /// generated on first use.
    pub fn load(current: Option<&SecretKey>, previous: &[SecretKey], data_dir: &Path) -> Result<Self, SecretError> {
        if let Some(current) = current {
            return Self::new(current, previous);
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
        Self::new(&SecretKey { id: 1, key: SecretString::from(key) }, previous)
    }

    /// Encrypts `plaintext` with the current key.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self.keys[&self.current].encrypt(&nonce, plaintext).expect("AES-GCM encryption does not fail");
        let mut out = Vec::with_capacity(1 + nonce.len() + sealed.len());
        out.push(self.current);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`Cipher::seal`] produced, with the key its id names.
    pub fn open(&self, ciphertext: &[u8]) -> Result<Vec<u8>, SecretError> {
        let (Some(cipher), true) = (ciphertext.first().and_then(|id| self.keys.get(id)), ciphertext.len() >= 13) else {
            return Err(SecretError::Undecryptable);
        };
        let (nonce, sealed) = ciphertext[1..].split_at(12);
        cipher.decrypt(Nonce::from_slice(nonce), sealed).map_err(|_| SecretError::Undecryptable)
    }

    /// Whether `ciphertext` was sealed by the current key.
    fn is_current(&self, ciphertext: &[u8]) -> bool {
        ciphertext.first() == Some(&self.current)
    }
}

/// Checks every configured key against the one the database knows under its id (a
/// known text each key sealed when it was first used there), and records the keys it
/// has not met yet. Run at start-up: an instance with another key under a known id
/// refuses to start instead of failing on every stored credential later.
pub async fn check_keys(db: &PgPool, cipher: &Cipher) -> Result<(), SecretError> {
    for (&id, key) in cipher.keys.iter() {
        let single =
            Cipher { current: id, keys: Arc::new(BTreeMap::from([(id, key.clone())])), key: cipher.key.clone() };
        // Two instances starting at once: the first insert wins, both check against it.
        sqlx::query("insert into secret_keys (id, check_sealed) values ($1, $2) on conflict (id) do nothing")
            .bind(i16::from(id))
            .bind(single.seal(KEY_CHECK))
            .execute(db)
            .await?;
        let known: Vec<u8> = sqlx::query_scalar("select check_sealed from secret_keys where id = $1")
            .bind(i16::from(id))
            .fetch_one(db)
            .await?;
        if single.open(&known).ok().as_deref() != Some(KEY_CHECK) {
            return Err(SecretError::WrongKey(id));
        }
    }
    Ok(())
}

/// Seals every stored credential that an older key sealed with the current key, in one
/// transaction; returns how many were resealed. After it, the previous keys can go.
pub async fn reseal(db: &PgPool, cipher: &Cipher) -> Result<u64, SecretError> {
    let mut tx = db.begin().await?;
    let mut resealed = 0;
    for (table, key, column) in SEALED_COLUMNS {
        // Identifiers from the constant above, never from input.
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as(&format!("select {key}::text, {column} from {table} where {column} is not null for update"))
                .fetch_all(&mut *tx)
                .await?;
        for (id, sealed) in rows.into_iter().filter(|(_, sealed)| !cipher.is_current(sealed)) {
            let plaintext = cipher.open(&sealed)?;
            sqlx::query(&format!("update {table} set {column} = $1 where {key}::text = $2"))
                .bind(cipher.seal(&plaintext))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            resealed += 1;
        }
    }
    tx.commit().await?;
    Ok(resealed)
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

    fn key(id: u8, byte: char) -> SecretKey {
        SecretKey { id, key: SecretString::from(byte.to_string().repeat(64)) }
    }

    #[test]
    fn after_a_rotation_the_new_key_seals_and_the_previous_one_still_opens() {
        let before = Cipher::new(&key(1, 'a'), &[]).unwrap();
        let old = before.seal(b"kubeconfig");
        let rotated = Cipher::new(&key(2, 'b'), &[key(1, 'a')]).unwrap();
        assert_eq!(rotated.open(&old).unwrap(), b"kubeconfig");
        let new = rotated.seal(b"kubeconfig");
        assert_eq!(new[0], 2, "sealed under the new key's id");
        assert!(rotated.is_current(&new) && !rotated.is_current(&old));
        assert!(before.open(&new).is_err(), "the old key alone cannot open what the new one sealed");
        assert!(
            Cipher::new(&key(2, 'b'), &[]).unwrap().open(&old).is_err(),
            "without the previous key, old data stays shut"
        );
        assert!(matches!(Cipher::new(&key(1, 'b'), &[key(1, 'a')]), Err(SecretError::DuplicateId(1))));
    }
}
