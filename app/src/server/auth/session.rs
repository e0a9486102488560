//! What a sign-in session holds, and starting, reading and ending one.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use uuid::Uuid;

use crate::error::AppError;

/// The key under which the sign-in is stored in the session.
const KEY: &str = "auth";
/// The key under which the time of the session's last renewal is stored (Unix ms).
const RENEWED_KEY: &str = "renewed_at";
/// The key under which a sign-in waiting for its second factor is stored.
const PENDING_KEY: &str = "pending_second_factor";
/// The key under which a single sign-on waiting for the provider's answer is stored.
const PENDING_SSO_KEY: &str = "pending_sso";
/// How long a right password waits for its second factor.
pub const SECOND_FACTOR_WINDOW: chrono::Duration = chrono::Duration::minutes(5);

/// A right password whose second factor is still to come (not signed in yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSecondFactor {
    pub user_id: Uuid,
    pub email: String,
    pub session_version: i32,
    /// Until when the code may come (Unix seconds).
    pub until: i64,
}

/// Remembers a right password, waiting for its second factor.
pub async fn await_second_factor(session: &Session, pending: &PendingSecondFactor) -> Result<(), AppError> {
    session.insert(PENDING_KEY, pending).await.map_err(session_error)
}

/// The sign-in waiting for its second factor, if it has not expired.
pub async fn pending_second_factor(session: &Session) -> Result<Option<PendingSecondFactor>, AppError> {
    let pending = session.get::<PendingSecondFactor>(PENDING_KEY).await.map_err(session_error)?;
    Ok(pending.filter(|pending| pending.until > chrono::Utc::now().timestamp()))
}

/// A single sign-on sent to the provider, awaiting its answer in this browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSso {
    /// The team whose provider it is.
    pub team_id: Uuid,
    /// The `state` sent, which the answer must carry.
    pub state: String,
    /// The `nonce` sent, which the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier of the challenge sent.
    pub pkce_verifier: String,
    /// Until when the answer may come (Unix seconds).
    pub until: i64,
}

/// Remembers a single sign-on sent to the provider.
pub async fn await_sso(session: &Session, pending: &PendingSso) -> Result<(), AppError> {
    session.insert(PENDING_SSO_KEY, pending).await.map_err(session_error)
}

/// Takes (and forgets: it is good for one answer) the single sign-on awaiting its answer.
pub async fn take_pending_sso(session: &Session) -> Result<Option<PendingSso>, AppError> {
    let pending = session.remove::<PendingSso>(PENDING_SSO_KEY).await.map_err(session_error)?;
    Ok(pending.filter(|pending| pending.until > chrono::Utc::now().timestamp()))
}

/// The sign-in stored in a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    /// Who signed in.
    pub user_id: Uuid,
    /// The team they are working in; none after leaving (or losing) their last team.
    pub team_id: Option<Uuid>,
    /// The user's session version at sign-in; a password change bumps it, which ends
    /// every session that carries an older one.
    pub session_version: i32,
    /// When they signed in (Unix seconds), for the absolute lifetime.
    pub signed_in_at: i64,
    /// Signed in through this team's single sign-on: the session reaches this team only
    /// (its provider vouched for the person there, and nowhere else).
    #[serde(default)]
    pub sso_team: Option<Uuid>,
}

fn session_error(error: tower_sessions::session::Error) -> AppError {
    AppError::internal("session store failed", &error)
}

/// Starts a signed-in session. The session id changes first, so an id planted before
/// sign-in (session fixation) is worthless afterwards.
pub async fn start(session: &Session, sign_in: &SignIn) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_error)?;
    session.remove_value(PENDING_KEY).await.map_err(session_error)?;
    session.insert(KEY, sign_in).await.map_err(session_error)?;
    session.insert(RENEWED_KEY, now_ms()).await.map_err(session_error)
}

/// Keeps a session in use alive. The store only saves a session that changed, and
/// saving is what pushes its idle expiry (and the cookie's) out; so a session is
/// marked changed when its last renewal is at least `renewal` old — a busy user's
/// requests read their session without writing it each time, and an idle session
/// ends within its timeout plus `renewal`.
pub async fn keep_alive(session: &Session, renewal: Duration) -> Result<(), AppError> {
    let now = now_ms();
    let renewed_at = session.get::<i64>(RENEWED_KEY).await.map_err(session_error)?;
    let renewal_ms = i64::try_from(renewal.as_millis()).unwrap_or(i64::MAX);
    if renewed_at.is_none_or(|at| now.saturating_sub(at) >= renewal_ms) {
        session.insert(RENEWED_KEY, now).await.map_err(session_error)?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The sign-in in this session, if any.
pub async fn read(session: &Session) -> Result<Option<SignIn>, AppError> {
    session.get::<SignIn>(KEY).await.map_err(session_error)
}

/// Replaces the sign-in (e.g. after switching teams or changing the password).
pub async fn update(session: &Session, sign_in: &SignIn) -> Result<(), AppError> {
    session.insert(KEY, sign_in).await.map_err(session_error)
}

/// Ends the session: its data is deleted from the store and the cookie cleared.
pub async fn end(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_error)
}
