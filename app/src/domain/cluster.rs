//! Kubernetes clusters as the browser sees them: never their credentials.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::analysis::Risk;

/// The largest kubeconfig accepted, in bytes.
pub const MAX_KUBECONFIG: usize = 256 * 1024;

/// One context of a kubeconfig, as offered when adding a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KubeconfigContexts {
    pub contexts: Vec<KubeconfigContext>,
    pub current: Option<String>,
}

/// A saved cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClusterView {
    pub id: Uuid,
    pub name: String,
    pub server: String,
    pub context: String,
    pub user: Option<String>,
    pub namespace: String,
    pub created_at: DateTime<Utc>,
    /// What DreamOps may do in it.
    pub policy: RemediationPolicy,
    /// Whether it is the demo cluster built into DreamOps (a simulation).
    pub demo: bool,
}

/// A failure the demo cluster's "simulate failure" panel can cause (to its healthy app).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// An autoscaler on CPU over pods that request no CPU: it cannot compute a thing.
    AutoscalerBlind,
    /// An Ingress routing to a Service name that does not exist.
    IngressMisrouted,
}

impl SimulatedFailure {
    /// Every failure, in the panel's order.
    pub const ALL: [SimulatedFailure; 7] = [
        SimulatedFailure::PodCrash,
        SimulatedFailure::ImagePullError,
        SimulatedFailure::OomKill,
        SimulatedFailure::DeploymentFailure,
        SimulatedFailure::ServiceUnavailable,
        SimulatedFailure::AutoscalerBlind,
        SimulatedFailure::IngressMisrouted,
    ];

    /// Its name on the panel's button.
    pub fn label(self) -> &'static str {
        match self {
            SimulatedFailure::PodCrash => "Pod crash",
            SimulatedFailure::ImagePullError => "Image pull error",
            SimulatedFailure::OomKill => "OOM kill",
            SimulatedFailure::DeploymentFailure => "Deployment failure",
            SimulatedFailure::ServiceUnavailable => "Service unavailable",
            SimulatedFailure::AutoscalerBlind => "Autoscaler blind",
            SimulatedFailure::IngressMisrouted => "Ingress misrouted",
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
            SimulatedFailure::AutoscalerBlind => {
                "Puts an autoscaler on healthy-app's CPU and drops its CPU request: it cannot scale."
            }
            SimulatedFailure::IngressMisrouted => {
                "Routes an Ingress to healthy-app-web, a Service that does not exist."
            }
        }
    }
}

/// One capability the agent needs, as the cluster's access review answered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PermissionCheck {
    /// What the agent does with it ("Delete pods").
    pub capability: String,
    /// The verb and resource (`delete pods`, `patch deployments.apps/scale`).
    pub rule: String,
    /// Whether it is allowed; `None` when the review itself failed.
    pub allowed: Option<bool>,
    /// The kubectl commands that grant it (when it is missing).
    pub grant: String,
}

/// What testing the connection to a cluster found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConnectionReport {
    /// The API server's version (`v1.31.4`), when it answered.
    pub version: Option<String>,
    /// The namespaces it lists.
    pub namespaces: Vec<String>,
    /// The permission matrix.
    pub permissions: Vec<PermissionCheck>,
    /// Why the test failed, when it did, in words an operator can act on.
    pub error: Option<String>,
    /// How long the test took, in milliseconds.
    pub elapsed_ms: u64,
}

/// A node and whether it is ready.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NodeView {
    pub name: String,
    pub ready: bool,
    /// The kubelet's version.
    pub version: String,
    /// The conditions that are not as they should be (`MemoryPressure`).
    pub problems: Vec<String>,
}

/// One workload the health summary points at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Finding {
    pub namespace: String,
    pub name: String,
    /// What is wrong, from its status.
    pub detail: String,
}

/// A cluster at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClusterOverview {
    pub version: String,
    pub nodes: Vec<NodeView>,
    pub namespaces: Vec<String>,
    /// How many pods it runs in all.
    pub pods: usize,
    pub crash_looping: Vec<Finding>,
    pub pending: Vec<Finding>,
    pub oom_killed: Vec<Finding>,
    pub image_pull_failing: Vec<Finding>,
    pub unavailable_deployments: Vec<Finding>,
    pub services_without_endpoints: Vec<Finding>,
    /// When it was read.
    pub read_at: DateTime<Utc>,
}

/// How far DreamOps may act on a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RemediationMode {
    /// Recommend, never act.
    ReadOnly,
    /// Act after an operator approves.
    Approve,
    /// Act within the policy's limits, unasked.
    Autonomous,
}

impl RemediationMode {
    /// Every mode, most cautious first.
    pub const ALL: [RemediationMode; 3] =
        [RemediationMode::ReadOnly, RemediationMode::Approve, RemediationMode::Autonomous];

    /// The name stored in the database and sent by forms.
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationMode::ReadOnly => "read_only",
            RemediationMode::Approve => "approve",
            RemediationMode::Autonomous => "autonomous",
        }
    }

    /// The short name shown to people.
    pub fn name(self) -> &'static str {
        match self {
            RemediationMode::ReadOnly => "read only",
            RemediationMode::Approve => "approve",
            RemediationMode::Autonomous => "autonomous",
        }
    }

    /// What the mode means, as the policy form offers it.
    pub fn label(self) -> &'static str {
        match self {
            RemediationMode::ReadOnly => "Read-only: recommend, never act",
            RemediationMode::Approve => "Approve: act after an operator approves",
            RemediationMode::Autonomous => "Autonomous: act within the limits below",
        }
    }
}

impl std::str::FromStr for RemediationMode {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RemediationMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or("Choose read-only, approve or autonomous.")
    }
}

/// How far a cluster's remediation policy lets DreamOps act.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RemediationPolicy {
    pub mode: RemediationMode,
    /// The highest risk autonomous mode may take.
    pub max_autonomous_risk: Risk,
    /// Namespaces no action touches.
    pub excluded_namespaces: Vec<String>,
    /// Whether destructive operations (deleting pods) are allowed.
    pub destructive_allowed: bool,
}
