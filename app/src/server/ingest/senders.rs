//! Who is sending: the integration behind a URL token or routing key, kept in memory
//! until it changes, so that a delivery is authenticated without a database query.
//!
//! Every change to an integration (new token, new or revoked signing secret, deleted
//! team) notifies `integration_changed` in its transaction (migration 0007); each
//! instance listens and forgets what changed, so a rotated token or revoked secret
//! stops working at every instance within moments — and at once at the instance that
//! made the change ([`SenderDirectory::forget_all`]). While the listening connection is
//! down nothing is served from memory, and everything remembered is forgotten when it
//! comes back (notifications may have been missed meanwhile).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::integrations::{self, Integration};
use crate::domain::integration::IntegrationKind;
use crate::error::AppError;
use crate::server::secrets::Cipher;
use crate::server::token;

/// The notification channel integration changes are announced on.
const CHANNEL: &str = "integration_changed";
/// Integrations remembered at most; beyond, memory starts over.
const CAPACITY: usize = 10_000;

/// Integrations by token digest; cheap to clone.
#[derive(Clone, Debug)]
pub struct SenderDirectory {
    pool: PgPool,
    cipher: Cipher,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    known: RwLock<HashMap<Vec<u8>, Arc<Integration>>>,
    /// Whether changes are being heard: only then is memory trusted.
    listening: AtomicBool,
    /// Counts forgettings, so that a lookup racing a change does not remember the
    /// integration as it was before the change.
    generation: AtomicU64,
}

impl SenderDirectory {
    /// Starts listening for changes on the current tokio runtime (on a connection of
    /// its own from `pool`, until the pool closes).
    pub fn start(pool: PgPool, cipher: Cipher) -> Self {
        let directory = Self { pool, cipher, shared: Arc::default() };
        tokio::spawn(directory.clone().listen());
        directory
    }

    /// The integration of `kind` whose token is `token`.
    pub async fn find(&self, kind: IntegrationKind, token: &str) -> Result<Option<Arc<Integration>>, AppError> {
        let digest = token::digest(token);
        if self.shared.listening.load(Ordering::Acquire)
            && let Some(integration) = self.shared.known.read().expect("not poisoned").get(&digest)
        {
            return Ok((integration.kind == kind).then(|| integration.clone()));
        }
        let generation = self.shared.generation.load(Ordering::Acquire);
        let Some(integration) = integrations::find(&self.pool, &self.cipher, kind, token).await?.map(Arc::new) else {
            return Ok(None);
        };
        if self.shared.listening.load(Ordering::Acquire) {
            let mut known = self.shared.known.write().expect("not poisoned");
            // Checked under the lock that forgetting also takes.
            if self.shared.generation.load(Ordering::Acquire) == generation {
                if known.len() >= CAPACITY {
                    known.clear();
                }
                known.insert(digest, integration.clone());
            }
        }
        Ok(Some(integration))
    }

    /// Forgets every integration (this instance changed one; others hear of it).
    pub fn forget_all(&self) {
        let mut known = self.shared.known.write().expect("not poisoned");
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        known.clear();
    }

    fn forget(&self, digest_hex: &str) {
        let digest = hex::decode(digest_hex).unwrap_or_default();
        let mut known = self.shared.known.write().expect("not poisoned");
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        known.remove(&digest);
    }

    async fn listen(self) {
        loop {
            match self.listen_until_lost().await {
                Ok(()) => return,
                Err(error) => {
                    self.shared.listening.store(false, Ordering::Release);
                    self.forget_all();
                    tracing::warn!(%error, "not hearing integration changes; looking integrations up meanwhile");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Listens until the pool closes (`Ok`) or the connection fails.
    async fn listen_until_lost(&self) -> Result<(), sqlx::Error> {
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Err(sqlx::Error::PoolClosed) => return Ok(()),
            connected => connected?,
        };
        listener.listen(CHANNEL).await?;
        self.shared.listening.store(true, Ordering::Release);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => self.forget(notification.payload()),
                // Reconnected: anything may have changed meanwhile.
                Ok(None) => self.forget_all(),
                Err(sqlx::Error::PoolClosed) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }
}
