//! Kubernetes clusters as the browser sees them: never their credentials.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One context of a kubeconfig, as offered when adding a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeconfigContext {
    /// The context's name.
    pub name: String,
    /// The API server's URL.
    pub server: String,
    /// The user's name in the kubeconfig.
    pub user: Option<String>,
    /// The context's namespace, if it names one.
    pub namespace: Option<String>,
}

/// What a kubeconfig offers: its contexts, and the current one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeconfigContexts {
    pub contexts: Vec<KubeconfigContext>,
    pub current: Option<String>,
}

/// A saved cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    pub id: Uuid,
    pub name: String,
    pub server: String,
    pub context: String,
    pub user: Option<String>,
    pub namespace: String,
    pub created_at: DateTime<Utc>,
    /// `read_only`, `approve` or `autonomous`.
    pub remediation_mode: String,
}
