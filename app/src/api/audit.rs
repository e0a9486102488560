//! The audit log.

use leptos::prelude::*;
use server_fn::codec::GetUrl;

use crate::domain::audit::{AuditFilter, AuditPage};
use crate::error::AppError;

/// A page of the active team's audit log, newest first; `before` continues a listing.
#[server(prefix = "/api", endpoint = "list_audit_log", input = GetUrl)]
pub async fn list_audit_log(
    #[server(default)] filter: AuditFilter,
    #[server(default)] before: Option<i64>,
) -> Result<AuditPage, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ReadAuditLog).await?;
    crate::server::audit::page(&auth.request.state.db, auth.team_id(), &filter, before).await
}
