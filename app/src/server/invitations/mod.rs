//! Invitations: an admin invites an email address with a role; the single-use link is
//! mailed to it (and shown to the admin to copy), expires after 7 days; the invitee
//! signs up or signs in through it and joins.

pub(crate) mod store;

use chrono::Utc;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::account::{CreatedInvitation, Email, InvitationPreview, PendingInvitation, Role};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::audit::{self, Actor, Event};
use crate::server::auth::context::{Account, RequestContext};
use crate::server::auth::session::{self, SignIn};
use crate::server::db;
use crate::server::mail::{self, Mail, letters};
use crate::server::state::AppState;
use crate::server::token;

/// How long an invitation link works.
pub const VALID_FOR: chrono::Duration = chrono::Duration::days(7);

/// Invites `email` to the caller's team as `role`; the returned link is shown once.
pub async fn create(state: &AppState, acting: &Acting, email: &str, role: Role) -> Result<CreatedInvitation, AppError> {
    let email = Email::parse(email).map_err(|message| AppError::field("email", message))?;
    let member = acting.member()?;
    if !member.role.gives(role) {
        return Err(AppError::Forbidden);
    }
    let pool = &state.db;
    let already_member = db::teams::members(pool, acting.team_id)
        .await
        .or_internal("an invitation query failed")?
        .iter()
        .any(|member| member.email.eq_ignore_ascii_case(email.as_str()));
    if already_member {
        return Err(AppError::field("email", format!("{email} is already a member of this team.")));
    }
    let token = token::random_hex(32);
    let invitation =
        PendingInvitation { id: Uuid::new_v4(), email: email.to_string(), role, expires_at: Utc::now() + VALID_FOR };
    let mut tx = pool.begin().await.or_internal("an invitation query failed")?;
    store::insert(
        &mut *tx,
        &store::NewInvitation {
            id: invitation.id,
            team_id: acting.team_id,
            email: email.as_str(),
            role,
            token_hash: &token::digest(&token),
            invited_by: member.user_id,
            expires_at: invitation.expires_at,
        },
    )
    .await
    .or_internal("an invitation query failed")?;
    acting.audit(&mut *tx, "invitation.created", Some(email.as_str()), serde_json::json!({ "role": role })).await?;
    let team_name = db::teams::name(&mut *tx, acting.team_id).await.or_internal("an invitation query failed")?;
    let letter = letters::invitation(
        &member.email,
        &team_name,
        role.as_str(),
        &format!("{}/invitations/{token}", state.public_url()),
        VALID_FOR.num_days(),
    );
    mail::queue(&mut tx, Mail { to: email.to_string(), purpose: "invitation", letter })
        .await
        .or_internal("queueing a mail failed")?;
    tx.commit().await.or_internal("an invitation query failed")?;
    Ok(CreatedInvitation { invitation, link: format!("/invitations/{token}") })
}

/// The caller's team's invitations that can still be accepted.
pub async fn pending(state: &AppState, acting: &Acting) -> Result<Vec<PendingInvitation>, AppError> {
    store::pending(&state.db, acting.team_id).await.or_internal("an invitation query failed")
}

/// Revokes one of the caller's team's pending invitations; 404 for any other.
pub async fn revoke(state: &AppState, acting: &Acting, id: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("an invitation query failed")?;
    let email = store::revoke(&mut *tx, acting.team_id, id)
        .await
        .or_internal("an invitation query failed")?
        .ok_or(AppError::NotFound)?;
    acting.audit(&mut *tx, "invitation.revoked", Some(&email), serde_json::json!({})).await?;
    tx.commit().await.or_internal("an invitation query failed")
}

/// An invitation that may still be accepted.
pub struct Acceptable {
    /// The link's token.
    pub token: String,
    /// Who it is for.
    pub email: String,
    /// What the invitation page shows.
    pub preview: InvitationPreview,
}

/// Checks an invitation row: 404 when used or revoked, a clear conflict when expired.
fn acceptable(row: Option<store::InvitationRow>) -> Result<store::InvitationRow, AppError> {
    let row = row.ok_or(AppError::NotFound)?;
    if row.accepted_at.is_some() || row.revoked_at.is_some() {
        return Err(AppError::NotFound);
    }
    if row.expires_at <= Utc::now() {
        return Err(AppError::Conflict(format!(
            "This invitation expired on {}. Ask a team admin for a new one.",
            row.expires_at.format("%-d %B %Y")
        )));
    }
    Ok(row)
}

/// The invitation behind `token`, if it can still be accepted.
pub async fn find_acceptable(pool: &PgPool, token: &str) -> Result<Acceptable, AppError> {
    let row = acceptable(
        store::find_by_token(pool, &token::digest(token), false).await.or_internal("an invitation query failed")?,
    )?;
    Ok(Acceptable {
        token: token.to_string(),
        email: row.email.clone(),
        preview: InvitationPreview {
            team_name: row.team_name,
            email: row.email,
            role: row.role.parse().unwrap_or(Role::Viewer),
            expires_at: row.expires_at,
        },
    })
}

/// Accepts the invitation inside `tx` (locking it, so it is used at most once) and
/// makes `user_id` a member; returns the team.
pub async fn accept_in(
    tx: &mut Transaction<'_, Postgres>,
    token: &str,
    user_id: Uuid,
    actor: &Actor,
    request: &RequestContext,
) -> Result<Uuid, AppError> {
    let row = acceptable(
        store::find_by_token(&mut **tx, &token::digest(token), true).await.or_internal("an invitation query failed")?,
    )?;
    let role: Role = row.role.parse().unwrap_or(Role::Viewer);
    db::teams::add_member(&mut **tx, row.team_id, user_id, role).await.or_internal("an invitation query failed")?;
    store::mark_accepted(&mut **tx, row.id, user_id).await.or_internal("an invitation query failed")?;
    audit::record(
        &mut **tx,
        Event {
            team_id: row.team_id,
            actor,
            action: "invitation.accepted",
            target: Some(&row.email),
            client_addr: Some(&request.client_addr),
            details: serde_json::json!({ "role": role }),
        },
    )
    .await
    .or_internal("an invitation query failed")?;
    Ok(row.team_id)
}

/// A signed-in user accepts an invitation addressed to their email, joins the team and
/// switches to it.
pub async fn accept(auth: &Account, token: &str) -> Result<(), AppError> {
    auth.require_own_sign_in("join another team")?;
    auth.require_verified("accept an invitation")?;
    let invitation = find_acceptable(&auth.request.state.db, token).await?;
    if !invitation.email.eq_ignore_ascii_case(&auth.email) {
        return Err(AppError::Conflict(format!(
            "This invitation is for {}, but you are signed in as {}. Sign out and use the link again.",
            invitation.email, auth.email
        )));
    }
    let mut tx = auth.request.state.db.begin().await.or_internal("an invitation query failed")?;
    let team_id = accept_in(&mut tx, token, auth.user_id, &auth.actor(), &auth.request).await?;
    tx.commit().await.or_internal("an invitation query failed")?;
    session::update(&auth.request.session, &SignIn { team_id: Some(team_id), ..auth.sign_in.clone() }).await
}
