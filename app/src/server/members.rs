//! A team's members: listing, changing roles, removing, leaving. A team always keeps
//! at least one owner, and only owners make or unmake owners and admins.

use uuid::Uuid;

use crate::domain::account::{Member, Permission, Role};
use crate::error::AppError;
use crate::server::auth::context::Authenticated;
use crate::server::db;

fn database(error: sqlx::Error) -> AppError {
    AppError::internal("a membership query failed", &error)
}

const LAST_OWNER: &str = "A team needs at least one owner: make someone else an owner first.";

/// The caller's team's members.
pub async fn list(auth: &Authenticated) -> Result<Vec<Member>, AppError> {
    db::teams::members(&auth.request.state.db, auth.team_id()).await.map_err(database)
}

/// Whether the caller may change a member who has (or will have) `role`.
fn may_manage(auth: &Authenticated, role: Role) -> bool {
    match role {
        Role::Owner | Role::Admin => auth.role().can(Permission::ManageOwners),
        Role::Operator | Role::Viewer => auth.role().can(Permission::ManageMembers),
    }
}

/// Gives a member of the caller's team a new role.
pub async fn change_role(auth: &Authenticated, user_id: Uuid, new_role: Role) -> Result<(), AppError> {
    let mut tx = auth.request.state.db.begin().await.map_err(database)?;
    let roles = db::teams::lock_roles(&mut *tx, auth.team_id()).await.map_err(database)?;
    let current = roles.iter().find(|(user, _)| *user == user_id).map(|(_, role)| *role).ok_or(AppError::NotFound)?;
    if !may_manage(auth, current) || !may_manage(auth, new_role) {
        return Err(AppError::Forbidden);
    }
    if current == new_role {
        return Ok(());
    }
    let owners = roles.iter().filter(|(_, role)| *role == Role::Owner).count();
    if current == Role::Owner && owners == 1 {
        return Err(AppError::Conflict(LAST_OWNER.to_string()));
    }
    db::teams::set_role(&mut *tx, auth.team_id(), user_id, new_role).await.map_err(database)?;
    let email = db::users::find(&mut *tx, user_id).await.map_err(database)?.map(|user| user.email);
    auth.audit(
        &mut *tx,
        "member.role_changed",
        email.as_deref(),
        serde_json::json!({ "from": current, "to": new_role }),
    )
    .await?;
    tx.commit().await.map_err(database)
}

/// Removes a member from the caller's team (the caller themselves: see [`leave`]).
pub async fn remove(auth: &Authenticated, user_id: Uuid) -> Result<(), AppError> {
    remove_member(auth, user_id, "member.removed", true).await
}

/// The caller leaves their active team.
pub async fn leave(auth: &Authenticated) -> Result<(), AppError> {
    remove_member(auth, auth.user_id, "member.left", false).await
}

async fn remove_member(auth: &Authenticated, user_id: Uuid, action: &str, check_rights: bool) -> Result<(), AppError> {
    let mut tx = auth.request.state.db.begin().await.map_err(database)?;
    let roles = db::teams::lock_roles(&mut *tx, auth.team_id()).await.map_err(database)?;
    let current = roles.iter().find(|(user, _)| *user == user_id).map(|(_, role)| *role).ok_or(AppError::NotFound)?;
    if check_rights && !may_manage(auth, current) {
        return Err(AppError::Forbidden);
    }
    let owners = roles.iter().filter(|(_, role)| *role == Role::Owner).count();
    if current == Role::Owner && owners == 1 {
        return Err(AppError::Conflict(LAST_OWNER.to_string()));
    }
    let email = db::users::find(&mut *tx, user_id).await.map_err(database)?.map(|user| user.email);
    db::teams::remove_member(&mut *tx, auth.team_id(), user_id).await.map_err(database)?;
    auth.audit(&mut *tx, action, email.as_deref(), serde_json::json!({ "role": current })).await?;
    tx.commit().await.map_err(database)
}
