//! The agent's analysis of an incident as the browser sees it: what kind of failure it
//! is, the root cause, the evidence, the confidence, and the recommended actions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of failure the agent recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Family {
    PodCrash,
    OomKill,
    ImagePull,
    RolloutFailure,
    Unschedulable,
    ProbeFailure,
    ServiceWithoutEndpoints,
    NodeNotReady,
    VolumeProblem,
    JobFailure,
    HighCpu,
    HighMemory,
    DatabaseConnections,
    SlowQueries,
    ServerResources,
    ProcessCrash,
    Security,
    Network,
    /// A dependency the program needs does not answer (DNS, refused connections).
    Dependency,
    /// The program is refused by the Kubernetes API (RBAC) or the file system.
    Permissions,
    /// A HorizontalPodAutoscaler cannot scale its target.
    Autoscaling,
    /// An Ingress routes to a Service or class that does not exist.
    Ingress,
    /// A namespace's ResourceQuota is used up.
    Quota,
    /// The API server, scheduler, controller manager or the kubelets' certificates.
    ControlPlane,
    /// The monitoring itself: scrape targets down, the alerting pipeline's heartbeat.
    Monitoring,
    Unknown,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 26] = [
        Family::PodCrash,
        Family::OomKill,
        Family::ImagePull,
        Family::RolloutFailure,
        Family::Unschedulable,
        Family::ProbeFailure,
        Family::ServiceWithoutEndpoints,
        Family::NodeNotReady,
        Family::VolumeProblem,
        Family::JobFailure,
        Family::HighCpu,
        Family::HighMemory,
        Family::DatabaseConnections,
        Family::SlowQueries,
        Family::ServerResources,
        Family::ProcessCrash,
        Family::Security,
        Family::Network,
        Family::Dependency,
        Family::Permissions,
        Family::Autoscaling,
        Family::Ingress,
        Family::Quota,
        Family::ControlPlane,
        Family::Monitoring,
        Family::Unknown,
    ];

    /// Its name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::PodCrash => "pod_crash",
            Family::OomKill => "oom_kill",
            Family::ImagePull => "image_pull",
            Family::RolloutFailure => "rollout_failure",
            Family::Unschedulable => "unschedulable",
            Family::ProbeFailure => "probe_failure",
            Family::ServiceWithoutEndpoints => "service_without_endpoints",
            Family::NodeNotReady => "node_not_ready",
            Family::VolumeProblem => "volume_problem",
            Family::JobFailure => "job_failure",
            Family::HighCpu => "high_cpu",
            Family::HighMemory => "high_memory",
            Family::DatabaseConnections => "database_connections",
            Family::SlowQueries => "slow_queries",
            Family::ServerResources => "server_resources",
            Family::ProcessCrash => "process_crash",
            Family::Security => "security",
            Family::Network => "network",
            Family::Dependency => "dependency",
            Family::Permissions => "permissions",
            Family::Autoscaling => "autoscaling",
            Family::Ingress => "ingress",
            Family::Quota => "quota",
            Family::ControlPlane => "control_plane",
            Family::Monitoring => "monitoring",
            Family::Unknown => "unknown",
        }
    }

    /// The family stored as `name`.
    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|family| family.as_str() == name)
    }

    /// Its name for people.
    pub fn label(self) -> &'static str {
        match self {
            Family::PodCrash => "Pod crash loop",
            Family::OomKill => "Out of memory (OOMKilled)",
            Family::ImagePull => "Image pull failure",
            Family::RolloutFailure => "Rollout failure",
            Family::Unschedulable => "Unschedulable pod",
            Family::ProbeFailure => "Failing probes",
            Family::ServiceWithoutEndpoints => "Service without endpoints",
            Family::NodeNotReady => "Node not ready",
            Family::VolumeProblem => "Volume problem",
            Family::JobFailure => "Job failure",
            Family::HighCpu => "High CPU",
            Family::HighMemory => "High memory",
            Family::DatabaseConnections => "Database connections exhausted",
            Family::SlowQueries => "Slow database queries",
            Family::ServerResources => "Server resources",
            Family::ProcessCrash => "Process crash",
            Family::Security => "Security",
            Family::Network => "Network",
            Family::Dependency => "Dependency unreachable",
            Family::Permissions => "Permission denied",
            Family::Autoscaling => "Autoscaler cannot scale",
            Family::Ingress => "Ingress misrouted",
            Family::Quota => "Quota used up",
            Family::ControlPlane => "Control plane",
            Family::Monitoring => "Monitoring",
            Family::Unknown => "Unclassified",
        }
    }

    /// Whether it is about a Kubernetes workload (and the cluster is worth reading).
    pub fn is_kubernetes(self) -> bool {
        matches!(
            self,
            Family::PodCrash
                | Family::OomKill
                | Family::ImagePull
                | Family::RolloutFailure
                | Family::Unschedulable
                | Family::ProbeFailure
                | Family::ServiceWithoutEndpoints
                | Family::NodeNotReady
                | Family::VolumeProblem
                | Family::JobFailure
                | Family::HighCpu
                | Family::HighMemory
                | Family::Dependency
                | Family::Permissions
                | Family::Autoscaling
                | Family::Ingress
                | Family::Quota
                | Family::ControlPlane
        )
    }
}

/// How sure the agent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }

    pub fn parse(text: &str) -> Confidence {
        match text {
            "high" => Confidence::High,
            "medium" => Confidence::Medium,
            _ => Confidence::Low,
        }
    }
}

/// How much could go wrong if an action is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    /// Every level, least first.
    pub const ALL: [Risk; 3] = [Risk::Low, Risk::Medium, Risk::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Risk> {
        match text {
            "low" => Some(Risk::Low),
            "medium" => Some(Risk::Medium),
            "high" => Some(Risk::High),
            _ => None,
        }
    }
}

/// One line the diagnosis rests on, quoted from where it was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Evidence {
    /// Where: `pod demo/web-1 status`, `events`, `previous log of web-1`, `alert`.
    pub source: String,
    /// The line as found.
    pub line: String,
}

/// What an action changes in the cluster, exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Raise a container's memory limit.
    SetMemoryLimit { namespace: String, deployment: String, container: String, from: Option<String>, to: String },
    /// Roll back to the previous revision.
    RollBack { namespace: String, deployment: String, from_revision: i64, to_revision: i64, to_image: Option<String> },
    /// Scale a deployment.
    Scale { namespace: String, deployment: String, from: i32, to: i32 },
    /// Restart a deployment's pods.
    RolloutRestart { namespace: String, deployment: String },
    /// Delete a pod (its controller starts a new one).
    DeletePod { namespace: String, pod: String },
    /// Nothing DreamOps can do: a person has to (fix a config, a selector, a query).
    Manual { steps: Vec<String> },
}

impl Change {
    /// The namespace and the workload (deployment, or pod) it acts on; none for a
    /// manual step.
    pub fn target(&self) -> Option<(&str, &str)> {
        match self {
            Change::SetMemoryLimit { namespace, deployment, .. }
            | Change::RollBack { namespace, deployment, .. }
            | Change::Scale { namespace, deployment, .. }
            | Change::RolloutRestart { namespace, deployment } => Some((namespace, deployment)),
            Change::DeletePod { namespace, pod } => Some((namespace, pod)),
            Change::Manual { .. } => None,
        }
    }

    /// Its kind, as stored (the serialised tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Change::SetMemoryLimit { .. } => "set_memory_limit",
            Change::RollBack { .. } => "roll_back",
            Change::Scale { .. } => "scale",
            Change::RolloutRestart { .. } => "rollout_restart",
            Change::DeletePod { .. } => "delete_pod",
            Change::Manual { .. } => "manual",
        }
    }

    /// Whether it destroys something (a pod): allowed only where the policy allows it.
    pub fn destructive(&self) -> bool {
        matches!(self, Change::DeletePod { .. })
    }

    /// The change as `kubectl` would make it, for people to read before approving.
    pub fn command(&self) -> Option<String> {
        Some(match self {
            Change::SetMemoryLimit { namespace, deployment, container, to, .. } => {
                format!(
                    "kubectl -n {namespace} set resources deployment/{deployment} -c {container} --limits=memory={to}"
                )
            }
            Change::RollBack { namespace, deployment, to_revision, .. } => {
                format!("kubectl -n {namespace} rollout undo deployment/{deployment} --to-revision={to_revision}")
            }
            Change::Scale { namespace, deployment, to, .. } => {
                format!("kubectl -n {namespace} scale deployment/{deployment} --replicas={to}")
            }
            Change::RolloutRestart { namespace, deployment } => {
                format!("kubectl -n {namespace} rollout restart deployment/{deployment}")
            }
            Change::DeletePod { namespace, pod } => format!("kubectl -n {namespace} delete pod {pod}"),
            Change::Manual { .. } => return None,
        })
    }
}

/// A recommended action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RecommendedAction {
    /// What it does, in a sentence.
    pub title: String,
    pub risk: Risk,
    /// Whether it can be undone.
    pub reversible: bool,
    /// The exact change.
    pub change: Change,
}

/// The agent's analysis of one incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AnalysisView {
    pub family: Family,
    /// The root cause in one sentence.
    pub root_cause: String,
    pub confidence: Confidence,
    pub evidence: Vec<Evidence>,
    pub actions: Vec<RecommendedAction>,
    /// The workload looked at: `demo/deployment/memory-hog`.
    pub workload: Option<String>,
    /// The model that added its analysis, and what it said, when one did.
    pub llm_model: Option<String>,
    pub llm_answer: Option<String>,
    pub created_at: DateTime<Utc>,
    /// From the first alert to the analysis, in milliseconds.
    pub diagnosed_after_ms: i64,
    /// What a responder said of it.
    pub feedback: Option<Feedback>,
}

/// A responder's verdict on an analysis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Feedback {
    /// Whether the analysis was right.
    pub right: bool,
    /// What the cause really was, when it was wrong.
    pub correction: Option<String>,
    pub given_by: String,
    pub given_at: DateTime<Utc>,
}

/// How right the analyses were, by responders' verdicts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DiagnosisAccuracy {
    /// Per week (its Monday), oldest first: verdicts right and in all.
    pub weeks: Vec<(chrono::NaiveDate, i64, i64)>,
    /// The latest analyses marked wrong, for review.
    pub wrong: Vec<WrongDiagnosis>,
}

/// An analysis a responder marked wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct WrongDiagnosis {
    pub incident_id: uuid::Uuid,
    pub incident_title: String,
    pub root_cause: String,
    pub correction: Option<String>,
    pub given_at: DateTime<Utc>,
}

/// Where the agent is with an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum AgentProgress {
    /// Held over quota, or not yet queued.
    NotQueued,
    /// Waiting for a worker (attempts so far).
    Queued { attempts: i32 },
    /// A worker is on it.
    Working,
    /// Parked after its last attempt failed with this error.
    Failed { error: String, attempts: i32 },
    /// Done: the analysis.
    Done(Box<AnalysisView>),
}

/// How a team's analyses use LLMs, as its admins see it (never a key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LlmView {
    /// The deployment's providers, in order (`anthropic/claude-…`).
    pub deployment_providers: Vec<String>,
    /// The team's own provider, asked first.
    pub team_provider: Option<TeamLlmProvider>,
    /// Tokens used this calendar month, and the monthly budget.
    pub tokens_this_month: i64,
    pub monthly_tokens: i64,
}

/// A team's own LLM provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TeamLlmProvider {
    /// `anthropic` or `openai` (any OpenAI-compatible endpoint).
    pub kind: String,
    pub base_url: String,
    pub model: String,
    /// Whether a key is saved (it is never shown).
    pub has_key: bool,
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::Change;

    #[test]
    fn a_changes_kind_is_its_stored_tag() {
        let (namespace, deployment) = (String::from("n"), String::from("d"));
        let every = [
            Change::SetMemoryLimit {
                namespace: namespace.clone(),
                deployment: deployment.clone(),
                container: "c".into(),
                from: None,
                to: "1Gi".into(),
            },
            Change::RollBack {
                namespace: namespace.clone(),
                deployment: deployment.clone(),
                from_revision: 2,
                to_revision: 1,
                to_image: None,
            },
            Change::Scale { namespace: namespace.clone(), deployment: deployment.clone(), from: 0, to: 1 },
            Change::RolloutRestart { namespace: namespace.clone(), deployment },
            Change::DeletePod { namespace, pod: "p".into() },
            Change::Manual { steps: Vec::new() },
        ];
        for change in every {
            assert_eq!(serde_json::to_value(&change).unwrap()["kind"], change.kind());
        }
    }
}
