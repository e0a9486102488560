//! A team's members, and each member's own settings in it (email notifications).

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::account::{Member, NotificationPreferences, Role};
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

/// Which incident mails the signed-in member gets from the active team.
#[server(prefix = "/api", endpoint = "get_email_notifications", input = GetUrl)]
pub async fn get_email_notifications() -> Result<NotificationPreferences, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    crate::server::notifications::preferences(&auth.request.state.db, &auth.acting).await
}

/// Chooses which incident mails the signed-in member gets from the active team. The
/// severity is `none` (no mails about new incidents) or the least severe one mailed.
#[server(prefix = "/api", endpoint = "set_email_notifications")]
pub async fn set_email_notifications(
    new_incident_severity: String,
    #[server(default)] awaiting_approval: bool,
    #[server(default)] resolved: bool,
    #[server(default)] weekly_digest: bool,
) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadTeam).await?;
    let new_incident_severity =
        match new_incident_severity.as_str() {
            "none" => None,
            severity => Some(severity.parse().map_err(|_| {
                AppError::field("new_incident_severity", "Choose critical, error, warning, info or none.")
            })?),
        };
    let chosen = NotificationPreferences { new_incident_severity, awaiting_approval, resolved, weekly_digest };
    crate::server::notifications::save(auth.state(), &auth.acting, &chosen).await
}
