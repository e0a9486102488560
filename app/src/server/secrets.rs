//! Encryption of stored credentials (AES-256-GCM, authenticated): kubeconfigs,
//! integration secrets, LLM provider keys, PagerDuty and Slack addresses. Each
//! ciphertext is `0 | key id (1 byte) | nonce (12) | sealed`, sealed to its [`Place`]
//! (column, team and row, as associated data), so a ciphertext copied into another
//! row, column or team does not open there. The current key seals, every configured
//! key opens what its id sealed, and [`reseal`] moves everything to the current key
//! and to its place (credentials sealed before places were, `key id | nonce | sealed`)
//! — at every start, and by `dreamops reseal`. The database remembers which key each id
//! stood for ([`check_keys`]), so an instance with another key refuses to start.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::PgPool;
use uuid::Uuid;

use crate::server::config::SecretKey;

/// Every column that holds sealed credentials, as (table, its team (a column, or the
/// nil id for what belongs to a user), its key column, column). A test checks that
/// every `bytea` column of the schema is here or known not to be.
pub const SEALED_COLUMNS: &[(&str, &str, &str, &str)] = &[
    ("integrations", "team_id", "id", "secrets_ciphertext"),
    ("clusters", "team_id", "id", "credentials_ciphertext"),
    ("team_llm_providers", "team_id", "team_id", "key_ciphertext"),
    ("team_notifications", "team_id", "team_id", "pagerduty_key"),
    ("team_notifications", "team_id", "team_id", "slack_webhook"),
    ("two_factor", NO_TEAM, "user_id", "secret"),
    ("team_sso", "team_id", "team_id", "client_secret"),
    ("webhook_endpoints", "team_id", "id", "secret"),
    ("webhook_endpoints", "team_id", "id", "previous_secret"),
    ("api_idempotency", "team_id", "id", "body"),
    ("github_connections", "team_id", "team_id", "token"),
    ("notion_connections", "team_id", "team_id", "token"),
];

/// The team of a credential that belongs to a user, not a team.
const NO_TEAM: &str = "'00000000-0000-0000-0000-000000000000'::uuid";

/// The first byte of a credential sealed to its place (key ids are 1 to 255).
const PLACED: u8 = 0;

/// Where a sealed credential is stored: its table and column, its team and its row
/// (the key column's value). Sealed into the ciphertext as associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    table: &'static str,
    column: &'static str,
    team: Uuid,
    row: Uuid,
}

impl Place {
    /// An integration's secrets (`integrations.secrets_ciphertext`).
    pub fn integration(team: Uuid, id: Uuid) -> Self {
        Place { table: "integrations", column: "secrets_ciphertext", team, row: id }
    }

    /// A cluster's kubeconfig (`clusters.credentials_ciphertext`).
    pub fn cluster(team: Uuid, id: Uuid) -> Self {
        Place { table: "clusters", column: "credentials_ciphertext", team, row: id }
    }

    /// The team's own LLM provider's key.
    pub fn team_llm_key(team: Uuid) -> Self {
        Place { table: "team_llm_providers", column: "key_ciphertext", team, row: team }
    }

    /// The team's GitHub token (`github_connections.token`).
    pub fn github_token(team: Uuid) -> Self {
        Place { table: "github_connections", column: "token", team, row: team }
    }

    /// The team's Notion integration token (`notion_connections.token`).
    pub fn notion_token(team: Uuid) -> Self {
        Place { table: "notion_connections", column: "token", team, row: team }
    }

    /// The team's PagerDuty REST API key.
    pub fn pagerduty_key(team: Uuid) -> Self {
        Place { table: "team_notifications", column: "pagerduty_key", team, row: team }
    }

    /// The team's Slack incoming-webhook address.
    pub fn slack_webhook(team: Uuid) -> Self {
        Place { table: "team_notifications", column: "slack_webhook", team, row: team }
    }

    /// A user's two-factor secret (`two_factor.secret`).
    pub fn two_factor(user: Uuid) -> Self {
        Place { table: "two_factor", column: "secret", team: Uuid::nil(), row: user }
    }

    /// The client secret of the team's single sign-on (`team_sso.client_secret`).
    pub fn sso_client_secret(team: Uuid) -> Self {
        Place { table: "team_sso", column: "client_secret", team, row: team }
    }

    /// An API answer kept for its `Idempotency-Key` (it may show a secret once).
    pub fn api_answer(team: Uuid, row: Uuid) -> Self {
        Place { table: "api_idempotency", column: "body", team, row }
    }

    /// A webhook endpoint's signing secret.
    pub fn webhook_secret(team: Uuid, endpoint: Uuid) -> Self {
        Place { table: "webhook_endpoints", column: "secret", team, row: endpoint }
    }

    /// A webhook endpoint's previous signing secret, kept for a day after a rotation.
    pub fn webhook_previous_secret(team: Uuid, endpoint: Uuid) -> Self {
        Place { table: "webhook_endpoints", column: "previous_secret", team, row: endpoint }
    }

    fn associated_data(&self) -> String {
        format!("dreamops/{}.{}/{}/{}", self.table, self.column, self.team, self.row)
    }
}

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
                let key = crate::server::token::random_hex(32);
                std::fs::create_dir_all(data_dir).map_err(|e| SecretError::KeyFile(e.to_string()))?;
                write_private(&path, &key).map_err(|e| SecretError::KeyFile(format!("{}: {e}", path.display())))?;
                key
            }
        };
        Self::new(&SecretKey { id: 1, key: SecretString::from(key) }, previous)
    }

    /// Encrypts `plaintext`, to be stored at `place`, with the current key.
    pub fn seal(&self, plaintext: &[u8], place: &Place) -> Vec<u8> {
        self.seal_with_key(self.current, plaintext, place)
    }

    fn seal_with_key(&self, id: u8, plaintext: &[u8], place: &Place) -> Vec<u8> {
        let mut out = vec![PLACED];
        out.extend(self.seal_with_data(id, plaintext, place.associated_data().as_bytes()));
        out
    }

    /// Decrypts what [`Cipher::seal`] sealed for `place`, with the key its id names; a
    /// ciphertext sealed for another place does not open.
    pub fn open(&self, ciphertext: &[u8], place: &Place) -> Result<Vec<u8>, SecretError> {
        match ciphertext.split_first() {
            Some((&PLACED, rest)) => self.open_with_data(rest, place.associated_data().as_bytes()),
            _ => Err(SecretError::Undecryptable),
        }
    }

    /// `key id | nonce | sealed` under key `id` (one of ours), with `data` as the
    /// associated data.
    fn seal_with_data(&self, id: u8, plaintext: &[u8], data: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self.keys[&id]
            .encrypt(&nonce, Payload { msg: plaintext, aad: data })
            .expect("AES-GCM encryption does not fail");
        let mut out = Vec::with_capacity(1 + nonce.len() + sealed.len());
        out.push(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    fn open_with_data(&self, ciphertext: &[u8], data: &[u8]) -> Result<Vec<u8>, SecretError> {
        let (Some(cipher), true) = (ciphertext.first().and_then(|id| self.keys.get(id)), ciphertext.len() >= 13) else {
            return Err(SecretError::Undecryptable);
        };
        let (nonce, sealed) = ciphertext[1..].split_at(12);
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: data })
            .map_err(|_| SecretError::Undecryptable)
    }

    /// Opens a credential stored at `place` whether sealed to it or, as before places
    /// were sealed in, to no place: only for resealing it.
    fn open_for_reseal(&self, ciphertext: &[u8], place: &Place) -> Result<Vec<u8>, SecretError> {
        match ciphertext.first() {
            Some(&PLACED) => self.open(ciphertext, place),
            _ => self.open_with_data(ciphertext, b""),
        }
    }

    /// The key `ciphertext` was sealed with, if it is one of ours.
    fn key_of(&self, ciphertext: &[u8]) -> Option<u8> {
        let id = match ciphertext.first() {
            Some(&PLACED) => ciphertext.get(1),
            id => id,
        };
        id.copied().filter(|id| self.keys.contains_key(id))
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
        // (A known text, not a credential: sealed to no place.)
        sqlx::query("insert into secret_keys (id, check_sealed) values ($1, $2) on conflict (id) do nothing")
            .bind(i16::from(id))
            .bind(single.seal_with_data(id, KEY_CHECK, b""))
            .execute(db)
            .await?;
        let known: Vec<u8> = sqlx::query_scalar("select check_sealed from secret_keys where id = $1")
            .bind(i16::from(id))
            .fetch_one(db)
            .await?;
        if single.open_with_data(&known, b"").ok().as_deref() != Some(KEY_CHECK) {
            return Err(SecretError::WrongKey(id));
        }
    }
    Ok(())
}

/// What [`reseal`] seals again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reseal {
    /// Credentials sealed to no place (before places were sealed in), each to its place
    /// under the key that sealed it: what every start does, so that instances that do not
    /// know a newer key yet can still open everything during a key rotation.
    ToTheirPlaces,
    /// Also everything an older key sealed, with the current key: the last step of a
    /// key rotation (`dreamops reseal`), after which the previous keys can go.
    ToTheCurrentKey,
}

/// Seals again, in one transaction, the stored credentials `what` names; returns how
/// many. Reads (and locks) only the rows that need it, so a start with none costs a
/// few index-free scans of small tables and no lock.
pub async fn reseal(db: &PgPool, cipher: &Cipher, what: Reseal) -> Result<u64, SecretError> {
    let mut tx = db.begin().await?;
    let mut resealed = 0;
    // The key id no ciphertext's second byte can be: only the place is checked.
    let wanted = match what {
        Reseal::ToTheirPlaces => None,
        Reseal::ToTheCurrentKey => Some(i32::from(cipher.current)),
    };
    for &(table, team, key, column) in SEALED_COLUMNS {
        // Identifiers from the constant above, never from input.
        let rows: Vec<(Uuid, Uuid, Vec<u8>)> = sqlx::query_as(&format!(
            "select {team}, {key}, {column} from {table}
             where {column} is not null
               and (get_byte({column}, 0) <> $1 or ($2::integer is not null and get_byte({column}, 1) <> $2))
             for update"
        ))
        .bind(i32::from(PLACED))
        .bind(wanted)
        .fetch_all(&mut *tx)
        .await?;
        for (team, row, sealed) in rows {
            let place = Place { table, column, team, row };
            let plaintext = cipher.open_for_reseal(&sealed, &place)?;
            let sealing_key = match what {
                Reseal::ToTheirPlaces => cipher.key_of(&sealed).ok_or(SecretError::Undecryptable)?,
                Reseal::ToTheCurrentKey => cipher.current,
            };
            sqlx::query(&format!("update {table} set {column} = $1 where {key} = $2"))
                .bind(cipher.seal_with_key(sealing_key, &plaintext, &place))
                .bind(row)
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

    fn place() -> Place {
        Place::integration(Uuid::from_u128(1), Uuid::from_u128(2))
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_unaltered() {
        let sealed = cipher('a').seal(b"routing-key", &place());
        assert_eq!(cipher('a').open(&sealed, &place()).unwrap(), b"routing-key");
        assert!(cipher('b').open(&sealed, &place()).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(cipher('a').open(&altered, &place()).is_err());
        assert!(!sealed.windows(11).any(|w| w == b"routing-key"), "the plaintext does not appear");
    }

    #[test]
    fn a_sealed_secret_opens_only_in_its_place() {
        let (team, other_team) = (Uuid::from_u128(1), Uuid::from_u128(9));
        let sealed = cipher('a').seal(b"kubeconfig", &Place::cluster(team, Uuid::from_u128(2)));
        for elsewhere in [
            Place::cluster(team, Uuid::from_u128(3)),
            Place::cluster(other_team, Uuid::from_u128(2)),
            Place::integration(team, Uuid::from_u128(2)),
            Place::slack_webhook(team),
        ] {
            assert!(cipher('a').open(&sealed, &elsewhere).is_err(), "opened at {elsewhere:?}");
        }
        let slack = cipher('a').seal(b"https://hooks.slack.com/x", &Place::slack_webhook(team));
        assert!(cipher('a').open(&slack, &Place::pagerduty_key(team)).is_err(), "another column of the same row");
        assert!(cipher('a').open(&slack, &Place::slack_webhook(other_team)).is_err());
    }

    #[test]
    fn what_was_sealed_to_no_place_opens_only_for_resealing() {
        // As every credential was sealed before places were.
        let unplaced = cipher('a').seal_with_data(1, b"token", b"");
        assert!(cipher('a').open(&unplaced, &place()).is_err());
        assert_eq!(cipher('a').open_for_reseal(&unplaced, &place()).unwrap(), b"token");
        assert_ne!(unplaced[0], PLACED);
        assert_eq!(cipher('a').key_of(&unplaced), Some(1));
        let placed = cipher('a').seal(b"token", &place());
        assert_eq!(placed[..2], [PLACED, 1]);
        assert_eq!(cipher('a').key_of(&placed), Some(1));
        assert_eq!(cipher('a').open_for_reseal(&placed, &place()).unwrap(), b"token");
    }

    fn key(id: u8, byte: char) -> SecretKey {
        SecretKey { id, key: SecretString::from(byte.to_string().repeat(64)) }
    }

    #[test]
    fn after_a_rotation_the_new_key_seals_and_the_previous_one_still_opens() {
        let before = Cipher::new(&key(1, 'a'), &[]).unwrap();
        let old = before.seal(b"kubeconfig", &place());
        let rotated = Cipher::new(&key(2, 'b'), &[key(1, 'a')]).unwrap();
        assert_eq!(rotated.open(&old, &place()).unwrap(), b"kubeconfig");
        let new = rotated.seal(b"kubeconfig", &place());
        assert_eq!(new[..2], [PLACED, 2], "sealed under the new key's id");
        assert_eq!((rotated.key_of(&new), rotated.key_of(&old)), (Some(2), Some(1)));
        assert!(before.open(&new, &place()).is_err(), "the old key alone cannot open what the new one sealed");
        assert!(
            Cipher::new(&key(2, 'b'), &[]).unwrap().open(&old, &place()).is_err(),
            "without the previous key, old data stays shut"
        );
        assert!(matches!(Cipher::new(&key(1, 'b'), &[key(1, 'a')]), Err(SecretError::DuplicateId(1))));
    }
}
