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
    /// Whether it is the demo cluster built into DreamOps (a simulation).
    pub demo: bool,
}

/// A failure the demo cluster's "simulate failure" panel can cause (to its healthy app).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimulatedFailure {
    /// A release without its database URL: the pods crash-loop.
    PodCrash,
    /// A release whose image tag does not exist.
    ImagePullError,
    /// The memory limit cut below what the app uses.
    OomKill,
    /// A release asking for more memory than any node has: it never rolls out.
    DeploymentFailure,
    /// Scaled to zero: the service has no endpoints.
    ServiceUnavailable,
}

impl SimulatedFailure {
    /// Every failure, in the panel's order.
    pub const ALL: [SimulatedFailure; 5] = [
        SimulatedFailure::PodCrash,
        SimulatedFailure::ImagePullError,
        SimulatedFailure::OomKill,
        SimulatedFailure::DeploymentFailure,
        SimulatedFailure::ServiceUnavailable,
    ];

    /// Its name on the panel's button.
    pub fn label(self) -> &'static str {
        match self {
            SimulatedFailure::PodCrash => "Pod crash",
            SimulatedFailure::ImagePullError => "Image pull error",
            SimulatedFailure::OomKill => "OOM kill",
            SimulatedFailure::DeploymentFailure => "Deployment failure",
            SimulatedFailure::ServiceUnavailable => "Service unavailable",
        }
    }

    /// What it does, in a sentence.
    pub fn description(self) -> &'static str {
        match self {
            SimulatedFailure::PodCrash => "Releases healthy-app without its DATABASE_URL: its pods crash-loop.",
            SimulatedFailure::ImagePullError => "Releases healthy-app with an image tag that does not exist.",
            SimulatedFailure::OomKill => "Cuts healthy-app's memory limit below what it uses: it is OOM-killed.",
            SimulatedFailure::DeploymentFailure => "Releases healthy-app asking for 64 GiB of memory: no node fits it.",
            SimulatedFailure::ServiceUnavailable => "Scales healthy-app to zero: its service has no endpoints.",
        }
    }
}
