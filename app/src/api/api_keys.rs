//! The team's API keys.

use leptos::prelude::*;
use server_fn::codec::GetUrl;
use uuid::Uuid;

use crate::domain::account::{ApiKeySummary, ApiScope, CreatedApiKey};
use crate::error::AppError;

/// Creates a key allowed `scopes` (sending alerts when none are given); its secret is
/// in the answer and never again.
#[server(prefix = "/api", endpoint = "create_api_key")]
pub async fn create_api_key(name: String, #[server(default)] scopes: Vec<ApiScope>) -> Result<CreatedApiKey, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageApiKeys).await?;
    crate::server::api_keys::create(auth.state(), &auth.acting, &name, &scopes).await
}

/// The active team's keys, without secrets.
#[server(prefix = "/api", endpoint = "list_api_keys", input = GetUrl)]
pub async fn list_api_keys() -> Result<Vec<ApiKeySummary>, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageApiKeys).await?;
    crate::server::api_keys::list(auth.state(), &auth.acting).await
}

/// Revokes a key: requests with it are refused from now on.
#[server(prefix = "/api", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(key_id: Uuid) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageApiKeys).await?;
    crate::server::api_keys::revoke(auth.state(), &auth.acting, key_id).await
}
