//! Accounts: signing up (with a new team or through an invitation), signing in and
//! out, changing the password, creating and switching teams; [`reset`]: resetting a
//! forgotten password; [`verification`]: confirming an address, and moving to another;
//! [`two_factor`]: sign-in with a second factor.

pub mod reset;
pub mod two_factor;
pub mod verification;

use secrecy::SecretString;
use uuid::Uuid;

use crate::domain::account::{Email, Role, SignInStep, TeamName, check_password_length};
use crate::error::{AppError, Checks, OrInternal};
use crate::server::audit::{self, Actor, Event};
use crate::server::auth::context::{Account, RequestContext};
use crate::server::auth::session::{self, SignIn};
use crate::server::auth::{password, throttle};
use crate::server::ingest::integrations;
use crate::server::mail::{self, Mail, letters};
use crate::server::{db, invitations};

/// Checks a new password: length, and not a common one.
fn check_new_password(checks: &mut Checks, field: &str, password: &str) {
    if let Some(()) = checks.field(field, check_password_length(password))
        && password::is_common(password)
    {
        checks.fail(field, "This password is too common and easy to guess; choose another.");
    }
}

/// What the sign-up form sends.
pub struct SignUp {
    /// The email address.
    pub email: String,
    /// The chosen password.
    pub password: String,
    /// The new team's name (ignored when joining through an invitation).
    pub team_name: String,
    /// The token of the invitation being accepted, if any.
    pub invitation: Option<String>,
}

/// What became of a sign-up.
#[derive(Debug, PartialEq, Eq)]
pub enum SignedUp {
    /// Through an invitation (whose link reached the address): a member, signed in.
    SignedIn,
    /// Without one: a link was mailed to confirm the address — or, when the address
    /// already has an account, a mail saying so. The answer is the same either way, so
    /// that sign-up never tells whether an address has an account.
    CheckInbox,
}

/// Creates the account and either a new team it owns (the address to be confirmed by
/// a mailed link) or its membership of the team it was invited to (then signed in), all
/// in one transaction.
pub async fn sign_up(request: &RequestContext, form: SignUp) -> Result<SignedUp, AppError> {
    let mut checks = Checks::default();
    let email = checks.field("email", Email::parse(&form.email));
    check_new_password(&mut checks, "password", &form.password);
    let invitation = match form.invitation.as_deref().filter(|token| !token.is_empty()) {
        Some(token) => Some(invitations::find_acceptable(&request.state.db, token).await?),
        None => None,
    };
    let team_name = match invitation {
        Some(_) => None,
        None => checks.field("team_name", TeamName::parse(&form.team_name)),
    };
    if let (Some(email), Some(invitation)) = (&email, &invitation)
        && !invitation.email.eq_ignore_ascii_case(email.as_str())
    {
        checks.fail("email", &format!("This invitation is for {}; sign up with that address.", invitation.email));
    }
    checks.finish()?;
    let email = email.ok_or(AppError::Internal)?;

    throttle::sign_up(&request.state.db, &request.client_addr, &request.state.settings.sessions).await?;
    let hash = password::hash(SecretString::from(form.password)).await?;
    let state = &request.state;
    let mut tx = state.db.begin().await.or_internal("an account query failed")?;
    let user_id = Uuid::new_v4();
    if !db::users::insert(&mut *tx, user_id, email.as_str(), &hash).await.or_internal("an account query failed")? {
        if invitation.is_some() {
            // Only the holder of an invitation to this address learns it has an account.
            return Err(AppError::field("email", "An account with this email already exists. Log in instead."));
        }
        drop(tx);
        tell_the_account_holder(state, email.as_str()).await?;
        return Ok(SignedUp::CheckInbox);
    }
    let actor = Actor::User { id: user_id, email: email.to_string() };
    let (team_id, signed_up) = match (invitation, team_name) {
        (Some(invitation), _) => {
            // The invitation's link reached this address: it is confirmed.
            sqlx::query("update users set email_verified_at = now() where id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .or_internal("an account query failed")?;
            let team_id = invitations::accept_in(&mut tx, &invitation.token, user_id, &actor, request).await?;
            (team_id, SignedUp::SignedIn)
        }
        (None, Some(team_name)) => {
            let team_id = Uuid::new_v4();
            db::teams::insert(&mut *tx, team_id, team_name.as_str()).await.or_internal("an account query failed")?;
            db::teams::add_member(&mut *tx, team_id, user_id, Role::Owner)
                .await
                .or_internal("an account query failed")?;
            integrations::create_missing(&mut tx, &state.cipher, team_id).await?;
            verification::send_link(&mut tx, state, user_id, email.as_str(), verification::Link::Verify).await?;
            (team_id, SignedUp::CheckInbox)
        }
        (None, None) => return Err(AppError::Internal),
    };
    audit::record(
        &mut *tx,
        Event {
            team_id,
            actor: &actor,
            action: "account.signed_up",
            target: Some(email.as_str()),
            client_addr: Some(&request.client_addr),
            details: serde_json::json!({}),
        },
    )
    .await
    .or_internal("an account query failed")?;
    tx.commit().await.or_internal("an account query failed")?;

    if signed_up == SignedUp::SignedIn {
        let sign_in = SignIn {
            user_id,
            team_id: Some(team_id),
            session_version: 1,
            signed_in_at: chrono::Utc::now().timestamp(),
            sso_team: None,
        };
        session::start(&request.session, &sign_in).await?;
    }
    Ok(signed_up)
}

/// Mails the holder of `email`'s account that someone signed up with it — at most
/// [`verification::LINKS_PER_HOUR`] such mails an hour, so that nobody floods a mailbox
/// through the sign-up form.
async fn tell_the_account_holder(state: &crate::server::state::AppState, email: &str) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("an account query failed")?;
    let told: i64 = sqlx::query_scalar(
        "select count(*) from mails where recipient = $1::citext and purpose = 'already_registered'
         and created_at > now() - interval '1 hour'",
    )
    .bind(email)
    .fetch_one(&mut *tx)
    .await
    .or_internal("an account query failed")?;
    if told < verification::LINKS_PER_HOUR {
        let base = state.public_url();
        let letter = letters::already_registered(&format!("{base}/login"), &format!("{base}/forgot-password"));
        mail::queue(&mut tx, Mail { to: email.to_string(), purpose: "already_registered", letter })
            .await
            .or_internal("queueing a mail failed")?;
    }
    tx.commit().await.or_internal("an account query failed")
}

/// The message for any failed sign-in: it never says whether the account exists.
const WRONG_CREDENTIALS: &str = "The email or password is incorrect.";

/// Signs in with email and password, subject to throttling; with a second factor (and
/// a browser not remembered), the code is awaited before the session starts.
pub async fn log_in(request: &RequestContext, email: &str, password: String) -> Result<SignInStep, AppError> {
    let email = Email::parse(email).map_err(|message| AppError::field("email", message))?;
    if password.is_empty() {
        return Err(AppError::field("password", "Enter your password."));
    }
    let pool = &request.state.db;
    let attempt = throttle::begin(pool, email.as_str(), &request.client_addr).await?;
    let user = db::users::find_by_email(pool, email.as_str()).await.or_internal("an account query failed")?;
    if attempt.burst
        && let Some(user) = &user
    {
        record_for_every_team(request, user.id, &user.email, "auth.login_throttled").await?;
    }
    if let Some(refused) = attempt.refused {
        return Err(refused);
    }
    if attempt.slowed {
        tokio::time::sleep(throttle::SLOW_DOWN).await;
    }
    let stored = user.as_ref().map(|user| user.password_hash.clone());
    let matches = password::verify(SecretString::from(password), stored).await?;
    let (Some(user), true) = (user, matches) else {
        return Err(AppError::field("password", WRONG_CREDENTIALS));
    };
    attempt.succeeded(pool).await?;
    if two_factor::awaits_code(request, &user).await? {
        return Ok(SignInStep::CodeNeeded);
    }
    let team_id = sign_in(request, user.id, user.session_version).await?;
    record_sign_in(request, team_id, user.id, &user.email, serde_json::json!({})).await?;
    Ok(SignInStep::SignedIn)
}

/// Starts a session of `user_id` (at `session_version`) in the first of their teams —
/// or in none, when they belong to none (they may create one); that team's id.
async fn sign_in(request: &RequestContext, user_id: Uuid, session_version: i32) -> Result<Option<Uuid>, AppError> {
    let team_id = db::teams::memberships_of(&request.state.db, user_id)
        .await
        .or_internal("an account query failed")?
        .into_iter()
        .next()
        .map(|team| team.team_id);
    let sign_in =
        SignIn { user_id, team_id, session_version, signed_in_at: chrono::Utc::now().timestamp(), sso_team: None };
    session::start(&request.session, &sign_in).await?;
    Ok(team_id)
}

/// Writes a sign-in (with `details`, e.g. the second factor used) to the audit log of
/// the team it started in, if any.
async fn record_sign_in(
    request: &RequestContext,
    team_id: Option<Uuid>,
    user_id: Uuid,
    email: &str,
    details: serde_json::Value,
) -> Result<(), AppError> {
    let Some(team_id) = team_id else { return Ok(()) };
    let event = Event {
        team_id,
        actor: &Actor::User { id: user_id, email: email.to_string() },
        action: "auth.logged_in",
        target: None,
        client_addr: Some(&request.client_addr),
        details,
    };
    audit::record(&request.state.db, event).await.or_internal("an account query failed")
}

/// Writes `action` to the audit log of every team the user belongs to.
async fn record_for_every_team(
    request: &RequestContext,
    user_id: Uuid,
    email: &str,
    action: &str,
) -> Result<(), AppError> {
    let pool = &request.state.db;
    let actor = Actor::User { id: user_id, email: email.to_string() };
    for team in db::teams::memberships_of(pool, user_id).await.or_internal("an account query failed")? {
        audit::record(
            pool,
            Event {
                team_id: team.team_id,
                actor: &actor,
                action,
                target: Some(email),
                client_addr: Some(&request.client_addr),
                details: serde_json::json!({}),
            },
        )
        .await
        .or_internal("an account query failed")?;
    }
    Ok(())
}

/// Ends the session (its server-side data is deleted), and the live streams it opened.
pub async fn log_out(request: &RequestContext) -> Result<(), AppError> {
    let signed_in = session::read(&request.session).await?;
    session::end(&request.session).await?;
    if let Some(team_id) = signed_in.and_then(|sign_in| sign_in.team_id) {
        request.state.live.recheck(team_id);
    }
    Ok(())
}

/// Changes the password after checking the current one. Every other session of the
/// user ends (their session version is now stale); this one carries on, under a new id.
pub async fn change_password(auth: &Account, current: String, new: String) -> Result<(), AppError> {
    let mut checks = Checks::default();
    check_new_password(&mut checks, "new_password", &new);
    if new == current {
        checks.fail("new_password", "Choose a password different from the current one.");
    }
    let pool = &auth.request.state.db;
    let user = db::users::find(pool, auth.user_id)
        .await
        .or_internal("an account query failed")?
        .ok_or(AppError::Unauthorized)?;
    if !password::verify(SecretString::from(current), Some(user.password_hash)).await? {
        checks.fail("current_password", "That is not your current password.");
    }
    checks.finish()?;

    let hash = password::hash(SecretString::from(new)).await?;
    let session_version =
        db::users::set_password(pool, auth.user_id, &hash).await.or_internal("an account query failed")?;
    let sign_in = SignIn { session_version, ..auth.sign_in.clone() };
    session::start(&auth.request.session, &sign_in).await?;
    record_for_every_team(&auth.request, auth.user_id, &auth.email, "auth.password_changed").await?;
    end_live_streams(&auth.request, auth.user_id).await
}

/// Has the live streams of `user_id`'s teams check their sessions again: those of a
/// session that ended close.
async fn end_live_streams(request: &RequestContext, user_id: Uuid) -> Result<(), AppError> {
    for team in db::teams::memberships_of(&request.state.db, user_id).await.or_internal("an account query failed")? {
        request.state.live.recheck(team.team_id);
    }
    Ok(())
}

/// Creates a team owned by the caller (in a team or not) and makes it their active team.
pub async fn create_team(auth: &Account, name: &str) -> Result<Uuid, AppError> {
    auth.require_own_sign_in("create a team")?;
    let name = TeamName::parse(name).map_err(|message| AppError::field("team_name", message))?;
    let mut tx = auth.request.state.db.begin().await.or_internal("an account query failed")?;
    let team_id = Uuid::new_v4();
    db::teams::insert(&mut *tx, team_id, name.as_str()).await.or_internal("an account query failed")?;
    db::teams::add_member(&mut *tx, team_id, auth.user_id, Role::Owner).await.or_internal("an account query failed")?;
    integrations::create_missing(&mut tx, &auth.request.state.cipher, team_id).await?;
    audit::record(
        &mut *tx,
        Event {
            team_id,
            actor: &auth.actor(),
            action: "team.created",
            target: Some(name.as_str()),
            client_addr: Some(&auth.request.client_addr),
            details: serde_json::json!({}),
        },
    )
    .await
    .or_internal("an account query failed")?;
    tx.commit().await.or_internal("an account query failed")?;
    session::update(&auth.request.session, &SignIn { team_id: Some(team_id), ..auth.sign_in.clone() }).await?;
    Ok(team_id)
}

/// Makes another of the caller's teams the active one; 404 for a team they are not in
/// (or, signed in through a team's single sign-on, for any other team).
pub async fn switch_team(auth: &Account, team_id: Uuid) -> Result<(), AppError> {
    if auth.sign_in.sso_team.is_some_and(|sso_team| sso_team != team_id) {
        return Err(AppError::NotFound);
    }
    db::teams::membership(&auth.request.state.db, team_id, auth.user_id)
        .await
        .or_internal("an account query failed")?
        .ok_or(AppError::NotFound)?;
    session::update(&auth.request.session, &SignIn { team_id: Some(team_id), ..auth.sign_in.clone() }).await
}
