//! A team's members: listing, changing roles, removing, leaving. A team always keeps
//! at least one owner, and only owners make or unmake owners and admins. What a member
//! made that outlives their rights goes with them: when they are removed (or leave),
//! their pending invitations and their API keys are revoked; when they are demoted,
//! the invitations to roles they may no longer give, and their API keys if they may no
//! longer hold any.

use uuid::Uuid;

use crate::domain::account::{Member, Permission, Role};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::state::AppState;
use crate::server::{api_keys, db, invitations};

const LAST_OWNER: &str = "A team needs at least one owner: make someone else an owner first.";

/// The caller's team's members.
pub async fn list(state: &AppState, acting: &Acting) -> Result<Vec<Member>, AppError> {
    db::teams::members(&state.db, acting.team_id).await.or_internal("a membership query failed")
}

/// Revokes what `user` made in `team` and may no longer stand behind with `role`
/// (`None`: no longer a member): pending invitations to roles they cannot give, and
/// their API keys unless they may still manage keys. The numbers revoked.
async fn revoke_outlived(
    tx: &mut sqlx::PgConnection,
    team: Uuid,
    user: Uuid,
    role: Option<Role>,
) -> Result<serde_json::Value, sqlx::Error> {
    let grantable: Vec<&str> = role
        .map(|role| Role::ALL.into_iter().filter(|given| role.gives(*given)).map(Role::as_str).collect())
        .unwrap_or_default();
    let invitations = invitations::store::revoke_made_by(&mut *tx, team, user, &grantable).await?;
    let api_keys = if role.is_some_and(|role| role.can(Permission::ManageApiKeys)) {
        0
    } else {
        api_keys::store::revoke_made_by(&mut *tx, team, user).await?
    };
    Ok(serde_json::json!({ "invitations_revoked": invitations, "api_keys_revoked": api_keys }))
}

/// Gives a member of the caller's team a new role.
pub async fn change_role(state: &AppState, acting: &Acting, user_id: Uuid, new_role: Role) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("a membership query failed")?;
    let roles = db::teams::lock_roles(&mut *tx, acting.team_id).await.or_internal("a membership query failed")?;
    let current = roles.iter().find(|(user, _)| *user == user_id).map(|(_, role)| *role).ok_or(AppError::NotFound)?;
    let role = acting.member()?.role;
    if !role.gives(current) || !role.gives(new_role) {
        return Err(AppError::Forbidden);
    }
    if current == new_role {
        return Ok(());
    }
    let owners = roles.iter().filter(|(_, role)| *role == Role::Owner).count();
    if current == Role::Owner && owners == 1 {
        return Err(AppError::Conflict(LAST_OWNER.to_string()));
    }
    db::teams::set_role(&mut *tx, acting.team_id, user_id, new_role).await.or_internal("a membership query failed")?;
    let revoked = revoke_outlived(&mut tx, acting.team_id, user_id, Some(new_role))
        .await
        .or_internal("a membership query failed")?;
    let email =
        db::users::find(&mut *tx, user_id).await.or_internal("a membership query failed")?.map(|user| user.email);
    acting
        .audit(
            &mut *tx,
            "member.role_changed",
            email.as_deref(),
            serde_json::json!({ "from": current, "to": new_role, "revoked": revoked }),
        )
        .await?;
    tx.commit().await.or_internal("a membership query failed")?;
    state.live.recheck(acting.team_id);
    Ok(())
}

/// Removes a member from the caller's team (the caller themselves: see [`leave`]).
pub async fn remove(state: &AppState, acting: &Acting, user_id: Uuid) -> Result<(), AppError> {
    remove_member(state, acting, user_id, "member.removed", true).await
}

/// The caller leaves their active team.
pub async fn leave(state: &AppState, acting: &Acting) -> Result<(), AppError> {
    remove_member(state, acting, acting.member()?.user_id, "member.left", false).await
}

async fn remove_member(
    state: &AppState,
    acting: &Acting,
    user_id: Uuid,
    action: &str,
    check_rights: bool,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("a membership query failed")?;
    let roles = db::teams::lock_roles(&mut *tx, acting.team_id).await.or_internal("a membership query failed")?;
    let current = roles.iter().find(|(user, _)| *user == user_id).map(|(_, role)| *role).ok_or(AppError::NotFound)?;
    if check_rights && !acting.member()?.role.gives(current) {
        return Err(AppError::Forbidden);
    }
    let owners = roles.iter().filter(|(_, role)| *role == Role::Owner).count();
    if current == Role::Owner && owners == 1 {
        return Err(AppError::Conflict(LAST_OWNER.to_string()));
    }
    let email =
        db::users::find(&mut *tx, user_id).await.or_internal("a membership query failed")?.map(|user| user.email);
    db::teams::remove_member(&mut *tx, acting.team_id, user_id).await.or_internal("a membership query failed")?;
    let revoked =
        revoke_outlived(&mut tx, acting.team_id, user_id, None).await.or_internal("a membership query failed")?;
    acting
        .audit(&mut *tx, action, email.as_deref(), serde_json::json!({ "role": current, "revoked": revoked }))
        .await?;
    tx.commit().await.or_internal("a membership query failed")?;
    state.live.recheck(acting.team_id);
    Ok(())
}
