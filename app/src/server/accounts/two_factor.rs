//! Two-factor sign-in for a user: enrolment (a secret shown as a QR code, confirmed by a
//! first code, then ten recovery codes shown once), the second step of signing in
//! (a code from the app or a recovery code, throttled like passwords; the browser may
//! be remembered for 30 days), turning it off (with the password), and a team's rule
//! that its members must use it (owners set it, having it themselves).

use qrcode::QrCode;
use qrcode::render::svg;
use secrecy::SecretString;

use crate::domain::account::TwoFactorSetup;
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::auth::context::{Account, RequestContext};
use crate::server::auth::session::{self, PendingSecondFactor};
use crate::server::auth::{password, throttle, two_factor};
use crate::server::db;
use crate::server::state::AppState;

/// What a wrong code says.
const WRONG_CODE: &str = "That code is not right. Enter the current one from your app, or a recovery code.";

fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// Starts (or starts again) enrolment: a new secret, pending until a code confirms it.
pub async fn start(auth: &Account) -> Result<TwoFactorSetup, AppError> {
    auth.require_own_sign_in("set up two-factor sign-in")?;
    if auth.two_factor {
        return Err(AppError::Conflict(
            "Two-factor sign-in is already on. Turn it off first to move to a new app.".into(),
        ));
    }
    let state = &auth.request.state;
    let secret = two_factor::new_secret();
    let mut db = state.db.acquire().await.or_internal("a two-factor query failed")?;
    two_factor::store_pending(&mut db, &state.cipher, auth.user_id, &secret).await?;
    let totp = two_factor::totp(secret, &auth.email)?;
    let url = totp.get_url();
    let qr_svg = QrCode::new(url.as_bytes())
        .map_err(|error| AppError::internal("the QR code cannot be drawn", &error))?
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(TwoFactorSetup { secret: totp.get_secret_base32(), otpauth_url: url, qr_svg })
}

/// Confirms enrolment with a first code; the recovery codes, shown once.
pub async fn confirm(auth: &Account, code: &str) -> Result<Vec<String>, AppError> {
    auth.require_own_sign_in("set up two-factor sign-in")?;
    let state = &auth.request.state;
    let user = auth.user_id;
    let mut tx = state.db.begin().await.or_internal("a two-factor query failed")?;
    if !two_factor::check_code(&mut tx, &state.cipher, user, &auth.email, code, true, now()).await? {
        return Err(AppError::field("code", "That code is not right. Enter the 6 digits your app shows now."));
    }
    sqlx::query("update two_factor set enabled_at = now() where user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await
        .or_internal("a two-factor query failed")?;
    let codes = two_factor::new_recovery_codes(&mut tx, user).await?;
    tx.commit().await.or_internal("a two-factor query failed")?;
    super::record_for_every_team(&auth.request, user, &auth.email, "auth.two_factor_enabled").await?;
    Ok(codes)
}

/// Turns two-factor sign-in off after checking the password.
pub async fn turn_off(auth: &Account, password: String) -> Result<(), AppError> {
    let state = &auth.request.state;
    let user = db::users::find(&state.db, auth.user_id)
        .await
        .or_internal("an account query failed")?
        .ok_or(AppError::Unauthorized)?;
    if !password::verify(SecretString::from(password), Some(user.password_hash)).await? {
        return Err(AppError::field("password", "That is not your password."));
    }
    let mut tx = state.db.begin().await.or_internal("a two-factor query failed")?;
    two_factor::remove(&mut tx, user.id).await?;
    tx.commit().await.or_internal("a two-factor query failed")?;
    super::record_for_every_team(&auth.request, user.id, &user.email, "auth.two_factor_disabled").await
}

/// Whether a right password for `user` needs a code before the session starts: they
/// use a second factor and this browser is not remembered. If so, it is awaited.
pub(super) async fn awaits_code(request: &RequestContext, user: &db::users::UserRow) -> Result<bool, AppError> {
    if !user.two_factor
        || two_factor::is_remembered(&request.state.db, user.id, user.session_version, request.device.as_deref())
            .await?
    {
        return Ok(false);
    }
    let pending = PendingSecondFactor {
        user_id: user.id,
        email: user.email.clone(),
        session_version: user.session_version,
        until: chrono::Utc::now().timestamp() + session::SECOND_FACTOR_WINDOW.num_seconds(),
    };
    session::await_second_factor(&request.session, &pending).await?;
    Ok(true)
}

/// The second step of signing in: `code` from the app or a recovery code, counted
/// like a password guess. Signed in, returns the token of a remembered browser when
/// `remember` asks for one.
pub async fn sign_in_with_code(
    request: &RequestContext,
    code: &str,
    remember: bool,
) -> Result<Option<String>, AppError> {
    let Some(pending) = session::pending_second_factor(&request.session).await? else {
        return Err(AppError::Conflict("Your sign-in timed out. Enter your email and password again.".into()));
    };
    let state = &request.state;
    let attempt = throttle::begin(&state.db, &pending.email, &request.client_addr).await?;
    if let Some(refused) = attempt.refused {
        return Err(refused);
    }
    if attempt.slowed {
        tokio::time::sleep(throttle::SLOW_DOWN).await;
    }
    let mut tx = state.db.begin().await.or_internal("a two-factor query failed")?;
    let by_app =
        two_factor::check_code(&mut tx, &state.cipher, pending.user_id, &pending.email, code, false, now()).await?;
    let by_recovery = !by_app && two_factor::use_recovery_code(&mut tx, pending.user_id, code).await?;
    if !by_app && !by_recovery {
        return Err(AppError::field("code", WRONG_CODE));
    }
    tx.commit().await.or_internal("a two-factor query failed")?;
    attempt.succeeded(&state.db).await?;
    let team_id = super::sign_in(request, pending.user_id, pending.session_version).await?;
    let details = serde_json::json!({ "with": if by_app { "app" } else { "recovery_code" }, "remembered": remember });
    super::record_sign_in(request, team_id, pending.user_id, &pending.email, details).await?;
    if !remember {
        return Ok(None);
    }
    two_factor::remember_device(&state.db, pending.user_id, pending.session_version).await.map(Some)
}

/// Sets whether the team requires its members to sign in with a second factor; an
/// owner requiring it must use it.
pub async fn require_for_team(state: &AppState, acting: &Acting, required: bool) -> Result<(), AppError> {
    if required && !two_factor::enabled(&state.db, acting.member()?.user_id).await? {
        return Err(AppError::Conflict(
            "Turn on two-factor sign-in for yourself first (account page), so that you are not locked out.".into(),
        ));
    }
    let mut tx = state.db.begin().await.or_internal("a team query failed")?;
    sqlx::query("update teams set require_two_factor = $2 where id = $1")
        .bind(acting.team_id)
        .bind(required)
        .execute(&mut *tx)
        .await
        .or_internal("a team query failed")?;
    let action = if required { "team.two_factor_required" } else { "team.two_factor_optional" };
    acting.audit(&mut *tx, action, None, serde_json::json!({})).await?;
    tx.commit().await.or_internal("a team query failed")
}

/// Whether the team requires a second factor of its members.
pub async fn required_by_team(state: &AppState, acting: &Acting) -> Result<bool, AppError> {
    sqlx::query_scalar("select require_two_factor from teams where id = $1")
        .bind(acting.team_id)
        .fetch_one(&state.db)
        .await
        .or_internal("a team query failed")
}
