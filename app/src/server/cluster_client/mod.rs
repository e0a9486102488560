//! Talking to a team's cluster through the kube client: the client made from the saved
//! kubeconfig (the demo cluster through this instance's own address), every call
//! time-boxed, and the connection test with its permission matrix.

pub mod overview;
pub mod owners;
pub mod quantity;
pub mod writes;

use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ListParams, PostParams};
use kube::config::KubeConfigOptions;
use kube::{Api, Client, Config};
use uuid::Uuid;

use crate::domain::cluster::{ConnectionReport, PermissionCheck};
use crate::error::{AppError, OrInternal};
use crate::server::egress::Policy;
use crate::server::state::AppState;

/// How long one call to a cluster may take, connecting included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole connection test or overview may take.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for the team's cluster `id`, in its default namespace.
pub async fn connect(state: &AppState, team: Uuid, id: Uuid) -> Result<Client, AppError> {
    let (demo, namespace): (bool, String) =
        sqlx::query_as("select demo, namespace from clusters where id = $1 and team_id = $2")
            .bind(id)
            .bind(team)
            .fetch_optional(&state.db)
            .await
            .or_internal("reading a cluster failed")?
            .ok_or(AppError::NotFound)?;
    let kubeconfig = crate::server::clusters::kubeconfig(state, team, id).await?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|error| AppError::Conflict(format!("The saved kubeconfig cannot be used: {error}")))?;
    if demo {
        // Every instance serves the demo cluster; each reaches it at its own address
        // (the saved address's path on this instance), which only the server itself
        // writes: the one internal address clients reach.
        let url = format!("{}{}", state.self_url, config.cluster_url.path());
        config.cluster_url = url.parse().or_internal("the demo cluster's address is malformed")?;
    } else {
        within_policy(&state.settings.outbound.policy(), &mut config).await?;
    }
    config.default_namespace = namespace;
    config.connect_timeout = Some(CALL_TIMEOUT);
    config.read_timeout = Some(CALL_TIMEOUT);
    config.write_timeout = Some(CALL_TIMEOUT);
    Client::try_from(config)
        .map_err(|error| AppError::Conflict(format!("The saved kubeconfig cannot be used: {error}")))
}

/// Points `config` at an address the outbound policy checked: the server's name is
/// resolved once here and every address it resolves to checked, and the client connects
/// to the first of them, verifying TLS against the name in the kubeconfig. Proxies are
/// refused (the proxy would be the destination).
async fn within_policy(policy: &Policy, config: &mut Config) -> Result<(), AppError> {
    let refused = |why: String| AppError::Conflict(format!("The cluster's server cannot be used: {why}."));
    if config.proxy_url.is_some() {
        return Err(refused("the kubeconfig names a proxy (proxy-url), which DreamOps does not use".into()));
    }
    let url = policy.check_url(&config.cluster_url.to_string()).map_err(|error| refused(error.to_string()))?;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses = policy.resolve(&host, port).await.map_err(|error| refused(error.to_string()))?;
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if config.tls_server_name.is_none() && literal.parse::<std::net::IpAddr>().is_err() {
        config.tls_server_name = Some(host.clone());
    }
    let mut parts = config.cluster_url.clone().into_parts();
    parts.authority = Some(addresses[0].to_string().parse().or_internal("an address is malformed")?);
    config.cluster_url = axum::http::Uri::from_parts(parts).or_internal("an address is malformed")?;
    Ok(())
}

/// Labels as a label selector (`app=web,tier=front`), as Kubernetes writes them.
pub fn selector<'a, V: std::fmt::Display + 'a>(labels: impl IntoIterator<Item = (&'a String, V)>) -> String {
    labels.into_iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(",")
}

/// Runs `call` for at most [`CALL_TIMEOUT`]; a failure says in words what happened.
pub async fn timed<T>(what: &str, call: impl Future<Output = kube::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Err(_) => Err(format!("{what}: the cluster did not answer within {} seconds", CALL_TIMEOUT.as_secs())),
        Ok(Err(error)) => Err(format!("{what}: {}", describe(&error))),
        Ok(Ok(value)) => Ok(value),
    }
}

/// A kube client error in words an operator can act on.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.code == 401 => {
            "the cluster refused the credentials (401 Unauthorized): the token or certificate is wrong or expired"
                .into()
        }
        // An answer that is not a Kubernetes status (kube-client keeps the body as the
        // message): a web server, a proxy — its body is not shown.
        kube::Error::Api(status) if status.reason == "Failed to parse error data" => {
            format!("HTTP {} from the API server, which is not a Kubernetes answer", status.code)
        }
        kube::Error::Api(status) if status.code == 403 => format!("the cluster forbids it (403): {}", status.message),
        kube::Error::Api(status) => {
            format!("the cluster answered {} {}: {}", status.code, status.reason, status.message)
        }
        kube::Error::HyperError(error) => unreachable_because(error),
        kube::Error::Service(error) => unreachable_because(error.as_ref()),
        kube::Error::SerdeError(_) => "the API server answered something that is not Kubernetes JSON".into(),
        other => other.to_string(),
    }
}

/// Why a cluster could not be reached, classified: TLS (with the TLS library's reason)
/// or the connection; the transport's own texts (refused, reset, timed out) are not
/// shown, so that the connection test cannot serve as a port scanner.
fn unreachable_because(error: &(dyn std::error::Error + 'static)) -> String {
    crate::server::egress::tls_failure(error).unwrap_or_else(|| "could not connect to the API server".into())
}

/// One capability the agent needs: its name, API group, resource, subresource, verb.
struct Capability {
    name: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
    verb: &'static str,
}

const CAPABILITIES: &[Capability] = &[
    Capability { name: "List namespaces", group: "", resource: "namespaces", subresource: "", verb: "list" },
    Capability { name: "List nodes", group: "", resource: "nodes", subresource: "", verb: "list" },
    Capability { name: "List pods", group: "", resource: "pods", subresource: "", verb: "list" },
    Capability { name: "Read pods", group: "", resource: "pods", subresource: "", verb: "get" },
    Capability { name: "Read pod logs", group: "", resource: "pods", subresource: "log", verb: "get" },
    Capability { name: "List events", group: "", resource: "events", subresource: "", verb: "list" },
    Capability { name: "Read deployments", group: "apps", resource: "deployments", subresource: "", verb: "get" },
    Capability { name: "List deployments", group: "apps", resource: "deployments", subresource: "", verb: "list" },
    Capability { name: "List replica sets", group: "apps", resource: "replicasets", subresource: "", verb: "list" },
    Capability { name: "Read replica sets", group: "apps", resource: "replicasets", subresource: "", verb: "get" },
    Capability { name: "Read stateful sets", group: "apps", resource: "statefulsets", subresource: "", verb: "get" },
    Capability { name: "Read daemon sets", group: "apps", resource: "daemonsets", subresource: "", verb: "get" },
    Capability { name: "Read jobs", group: "batch", resource: "jobs", subresource: "", verb: "get" },
    Capability { name: "List jobs", group: "batch", resource: "jobs", subresource: "", verb: "list" },
    Capability { name: "Read cron jobs", group: "batch", resource: "cronjobs", subresource: "", verb: "get" },
    Capability { name: "Read services", group: "", resource: "services", subresource: "", verb: "get" },
    Capability { name: "Read endpoints", group: "", resource: "endpoints", subresource: "", verb: "get" },
    Capability {
        name: "Read volume claims",
        group: "",
        resource: "persistentvolumeclaims",
        subresource: "",
        verb: "get",
    },
    Capability {
        name: "List storage classes",
        group: "storage.k8s.io",
        resource: "storageclasses",
        subresource: "",
        verb: "list",
    },
    Capability {
        name: "List autoscalers",
        group: "autoscaling",
        resource: "horizontalpodautoscalers",
        subresource: "",
        verb: "list",
    },
    Capability {
        name: "List ingresses",
        group: "networking.k8s.io",
        resource: "ingresses",
        subresource: "",
        verb: "list",
    },
    Capability {
        name: "List ingress classes",
        group: "networking.k8s.io",
        resource: "ingressclasses",
        subresource: "",
        verb: "list",
    },
    Capability {
        name: "List network policies",
        group: "networking.k8s.io",
        resource: "networkpolicies",
        subresource: "",
        verb: "list",
    },
    Capability { name: "Patch deployments", group: "apps", resource: "deployments", subresource: "", verb: "patch" },
    Capability {
        name: "Scale deployments",
        group: "apps",
        resource: "deployments",
        subresource: "scale",
        verb: "patch",
    },
    Capability { name: "Delete pods", group: "", resource: "pods", subresource: "", verb: "delete" },
];

impl Capability {
    /// `verb resource[.group][/subresource]`, as kubectl names it.
    fn rule(&self) -> String {
        let group = if self.group.is_empty() { String::new() } else { format!(".{}", self.group) };
        let sub = if self.subresource.is_empty() { String::new() } else { format!("/{}", self.subresource) };
        format!("{} {}{group}{sub}", self.verb, self.resource)
    }

    /// The kubectl commands that grant it to `subject` (`--user=…` / `--serviceaccount=…`).
    fn grant(&self, subject: &str) -> String {
        let (verb, resource) =
            self.rule().split_once(' ').map(|(v, r)| (v.to_string(), r.to_string())).unwrap_or_default();
        let role = format!("dreamops-{}-{}", self.verb, resource.replace(['.', '/'], "-"));
        format!(
            "kubectl create clusterrole {role} --verb={verb} --resource={resource}\nkubectl create clusterrolebinding {role} --clusterrole={role} {subject}"
        )
    }
}

/// Who the client signs in as, for the grant commands: a service account, a user, or a
/// placeholder when the cluster does not say.
async fn subject(client: &Client) -> String {
    let review = serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let request = axum::http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .header("content-type", "application/json")
        .body(review.to_string().into_bytes());
    let answer: Option<serde_json::Value> = match request {
        Ok(request) => tokio::time::timeout(CALL_TIMEOUT, client.request(request)).await.ok().and_then(Result::ok),
        Err(_) => None,
    };
    let username =
        answer.as_ref().and_then(|a| a.pointer("/status/userInfo/username")).and_then(|u| u.as_str()).unwrap_or("");
    match username.strip_prefix("system:serviceaccount:") {
        Some(account) => format!("--serviceaccount={account}"),
        None if !username.is_empty() => format!("--user={username}"),
        None => "--user=<the user your kubeconfig signs in as>".into(),
    }
}

/// Tests the connection to the team's cluster `id`: the version, the namespaces, and
/// for every capability the agent needs whether it is allowed. Done within
/// [`TEST_TIMEOUT`]; a failure is part of the report, not an error.
pub async fn test_connection(state: &AppState, team: Uuid, id: Uuid) -> Result<ConnectionReport, AppError> {
    let started = Instant::now();
    let client = connect(state, team, id).await?;
    let mut report =
        ConnectionReport { version: None, namespaces: Vec::new(), permissions: Vec::new(), error: None, elapsed_ms: 0 };
    let outcome = tokio::time::timeout(TEST_TIMEOUT, probe(&client, &mut report)).await;
    report.error = match outcome {
        Err(_) => Some(format!("The test did not finish within {} seconds.", TEST_TIMEOUT.as_secs())),
        Ok(Err(error)) => Some(error),
        Ok(Ok(())) => None,
    };
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

async fn probe(client: &Client, report: &mut ConnectionReport) -> Result<(), String> {
    let version = timed("Reading the version (/version)", client.apiserver_version()).await?;
    report.version = Some(version.git_version);
    let namespaces =
        timed("Listing namespaces", Api::<Namespace>::all(client.clone()).list(&ListParams::default())).await;
    match namespaces {
        Ok(list) => report.namespaces = list.items.into_iter().filter_map(|ns| ns.metadata.name).collect(),
        // Listing namespaces may be forbidden: that shows in the matrix.
        Err(_) => report.namespaces.clear(),
    }
    let subject = subject(client).await;
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let checks = CAPABILITIES.iter().map(|capability| {
        let reviews = reviews.clone();
        let subject = subject.clone();
        async move {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        group: Some(capability.group.to_string()),
                        resource: Some(capability.resource.to_string()),
                        subresource: (!capability.subresource.is_empty()).then(|| capability.subresource.to_string()),
                        verb: Some(capability.verb.to_string()),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            let answer = timed("Reviewing access", reviews.create(&PostParams::default(), &review)).await;
            let allowed = answer.ok().and_then(|review| review.status).map(|status| status.allowed);
            PermissionCheck {
                capability: capability.name.to_string(),
                rule: capability.rule(),
                allowed,
                grant: if allowed == Some(true) { String::new() } else { capability.grant(&subject) },
            }
        }
    });
    report.permissions = futures::future::join_all(checks).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_name_the_resource_as_kubectl_does() {
        let scale = CAPABILITIES.iter().find(|c| c.subresource == "scale").unwrap();
        assert_eq!(scale.rule(), "patch deployments.apps/scale");
        let grant = scale.grant("--serviceaccount=ops:dreamops");
        assert!(grant.starts_with("kubectl create clusterrole dreamops-patch-deployments-apps-scale --verb=patch --resource=deployments.apps/scale\n"));
        assert!(grant.ends_with("--clusterrole=dreamops-patch-deployments-apps-scale --serviceaccount=ops:dreamops"));
    }
}
