//! Invitations to join a team.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::account::{CreatedInvitation, InvitationPreview, PendingInvitation, Role};
use crate::error::AppError;

/// Invites an email address to the active team with a role.
#[server(prefix = "/api", endpoint = "create_invitation")]
pub async fn create_invitation(email: String, role: Role) -> Result<CreatedInvitation, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageMembers).await?;
    crate::server::invitations::create(auth.state(), &auth.acting, &email, role).await
}

/// The active team's invitations that can still be accepted.
#[server(prefix = "/api", endpoint = "list_invitations", input = GetUrl)]
pub async fn list_invitations() -> Result<Vec<PendingInvitation>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageMembers).await?;
    crate::server::invitations::pending(auth.state(), &auth.acting).await
}

/// Revokes a pending invitation.
#[server(prefix = "/api", endpoint = "revoke_invitation")]
pub async fn revoke_invitation(invitation_id: Uuid) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageMembers).await?;
    crate::server::invitations::revoke(auth.state(), &auth.acting, invitation_id).await
}

/// What an invitation link offers; public, as the token itself is the credential.
#[server(prefix = "/api", endpoint = "get_invitation", input = GetUrl)]
pub async fn get_invitation(token: String) -> Result<InvitationPreview, AppError> {
    let state = expect_context::<crate::server::state::AppState>();
    Ok(crate::server::invitations::find_acceptable(&state.db, &token).await?.preview)
}

/// The signed-in user accepts an invitation addressed to them.
#[server(prefix = "/api", endpoint = "accept_invitation")]
pub async fn accept_invitation(token: String) -> Result<(), AppError> {
    let account = crate::server::auth::context::current_account().await?;
    crate::server::invitations::accept(&account, &token).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}
