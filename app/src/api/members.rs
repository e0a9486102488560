//! A team's members.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::account::{Member, Role};
use crate::error::AppError;

/// The active team's members.
#[server(prefix = "/api", endpoint = "list_members", input = GetUrl)]
pub async fn list_members() -> Result<Vec<Member>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::members::list(auth.state(), &auth.acting).await
}

/// Gives a member a new role.
#[server(prefix = "/api", endpoint = "change_member_role")]
pub async fn change_member_role(user_id: Uuid, role: Role) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageMembers).await?;
    crate::server::members::change_role(auth.state(), &auth.acting, user_id, role).await
}

/// Removes a member from the team.
#[server(prefix = "/api", endpoint = "remove_member")]
pub async fn remove_member(user_id: Uuid) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageMembers).await?;
    crate::server::members::remove(auth.state(), &auth.acting, user_id).await
}

/// The signed-in user leaves the active team.
#[server(prefix = "/api", endpoint = "leave_team")]
pub async fn leave_team() -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::members::leave(auth.state(), &auth.acting).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}
