//! What a failing container's log says, as a cause: the problem the log reader found,
//! named with the object to fix (the variable, the host:port, the policy, the claim, the
//! service account) and what to do about it.

use super::*;

/// Why a container that stopped says it stopped: its log, else the runtime's message.
pub(super) fn finding(context: &ClusterContext, status: Option<&ContainerStatus>) -> Option<Finding> {
    let log = context.previous_log.as_deref().or(context.current_log.as_deref()).unwrap_or("");
    logs::read(log).or_else(|| {
        // A command missing from the image never starts: the runtime says so in the status.
        let status = status?;
        let waiting = status.state.as_ref().and_then(|s| s.waiting.as_ref()?.message.clone());
        let ended = terminated(status).and_then(|t| t.message.clone());
        [ended, waiting].into_iter().flatten().find_map(|message| logs::read(&message))
    })
}

/// A cause read from a log: family, root cause (after `subject`), actions.
pub(super) struct LogCause {
    pub(super) family: Family,
    pub(super) root_cause: String,
    pub(super) actions: Vec<RecommendedAction>,
}

/// What the failing container's log (or runtime message) says is wrong, named.
pub(super) fn log_cause(context: &ClusterContext, subject: &str, container: &str, finding: &Finding) -> LogCause {
    let line = &finding.line;
    let restart_useless = "A restart will not help: the cause is in its configuration.";
    let service_named = |host: &str| {
        let short = host.split('.').next().unwrap_or(host);
        context.services_named.iter().find(|s| s.name == short)
    };
    match &finding.problem {
        Problem::MissingVariable { name } => {
            let mut actions: Vec<RecommendedAction> = roll_back(context, &format!("it had {name}"))
                .filter(|_| previous_revision_sets(context, name))
                .into_iter()
                .collect();
            actions.push(manual(
                &format!("Set {name}"),
                &[
                    &format!("Add {name} to container {container}'s environment (from a Secret if it is a credential)"),
                    restart_useless,
                ],
            ));
            LogCause {
                family: Family::PodCrash,
                root_cause: format!(
                    "{subject} crashes at start because the environment variable {name} is not set: \"{line}\""
                ),
                actions,
            }
        }
        Problem::MissingFile { path } if logs::is_config(path) => LogCause {
            family: Family::PodCrash,
            root_cause: format!(
                "{subject} crashes at start because its configuration file is missing ({path}): \"{line}\""
            ),
            actions: vec![manual(
                &format!("Provide {path}"),
                &[
                    "Create the ConfigMap (or Secret) holding the file",
                    &format!("Mount it so that {path} exists in container {container}"),
                    restart_useless,
                ],
            )],
        },
        Problem::MissingFile { path } => LogCause {
            family: Family::PodCrash,
            root_cause: format!("{subject} stops because {path} does not exist: \"{line}\""),
            actions: vec![manual(
                &format!("Provide {path}"),
                &["Check the image contains it, or mount the volume that holds it", restart_useless],
            )],
        },
        Problem::CommandNotFound { command } => LogCause {
            family: Family::PodCrash,
            root_cause: format!(
                "{subject} cannot start: the command {command} of container {container} is not in its image: \"{line}\""
            ),
            actions: roll_back(context, "its command existed in that image")
                .into_iter()
                .chain([manual(
                    &format!("Fix the command {command}"),
                    &[
                        "Correct the container's command/args, or install the program in the image",
                        "Check the image's entrypoint with: docker run --entrypoint sh <image> -c 'which <command>'",
                    ],
                )])
                .collect(),
        },
        Problem::UnknownHost { host } => {
            let (why, steps): (String, Vec<String>) = match service_named(host) {
                Some(state) if state.service.is_none() => (
                    format!(": there is no Service {} in namespace {}", state.name, state.namespace),
                    vec![
                        format!(
                            "Create the Service {} in {}, or point the program at the right name",
                            state.name, state.namespace
                        ),
                        "Check the host name in the program's configuration (a typo, a wrong namespace)".into(),
                    ],
                ),
                _ => (
                    String::new(),
                    vec![
                        format!("Check the host name {host} in the program's configuration"),
                        format!("kubectl run -it --rm dnscheck --image=busybox --restart=Never -- nslookup {host}"),
                        "Check CoreDNS is running: kubectl -n kube-system get pods -l k8s-app=kube-dns".into(),
                    ],
                ),
            };
            LogCause {
                family: Family::Dependency,
                root_cause: format!("{subject} cannot resolve the host name {host}{why}: \"{line}\""),
                actions: vec![manual_owned(&format!("Make {host} resolve"), steps)],
            }
        }
        Problem::ConnectionRefused { address } | Problem::ConnectionTimedOut { address } => {
            let refused = matches!(finding.problem, Problem::ConnectionRefused { .. });
            let host = address.rsplit_once(':').map_or(address.as_str(), |(h, _)| h);
            let policy = if refused { None } else { blocking_policy(context, address) };
            if let Some(policy) = policy {
                return LogCause {
                    family: Family::Network,
                    root_cause: format!(
                        "{subject}'s connections to {address} time out: NetworkPolicy {policy} blocks the traffic: \"{line}\""
                    ),
                    actions: vec![manual_owned(
                        &format!("Allow the traffic in NetworkPolicy {policy}"),
                        vec![
                            format!("kubectl -n {} describe networkpolicy {policy}", context.namespace),
                            format!("Add an egress (or ingress) rule allowing {address}"),
                            "Changing a policy opens traffic: review it before applying".into(),
                        ],
                    )],
                };
            }
            let detail = match service_named(host) {
                Some(state) if state.service.is_some() && state.ready_addresses == 0 => {
                    format!(": Service {}/{} has no ready endpoints", state.namespace, state.name)
                }
                Some(state) if state.service.is_none() => {
                    format!(": there is no Service {} in namespace {}", state.name, state.namespace)
                }
                _ => String::new(),
            };
            let verb = if refused { "refuses" } else { "does not answer" };
            LogCause {
                family: Family::Dependency,
                root_cause: format!("{subject}'s dependency at {address} {verb} connections{detail}: \"{line}\""),
                actions: vec![manual_owned(
                    &format!("Bring {address} back"),
                    vec![
                        format!("Check the service behind {address} is running and listening on that port"),
                        "Check the address and port in the program's configuration".into(),
                        "Restarting this workload will not help while the dependency is down".into(),
                    ],
                )],
            }
        }
        Problem::Forbidden { account, verb, resource, namespace } => {
            let place = namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default();
            let (sa_namespace, sa) = account.split_once('/').unwrap_or(("<namespace>", account));
            let role = format!("{sa}-{verb}-{}", resource.replace('.', "-"));
            let role_namespace = namespace.as_deref().unwrap_or(sa_namespace);
            LogCause {
                family: Family::Permissions,
                root_cause: format!(
                    "{subject}'s service account {account} may not {verb} {resource}{place} (RBAC forbidden): \"{line}\""
                ),
                actions: vec![manual_owned(
                    &format!("Grant {account} {verb} on {resource}"),
                    vec![
                        format!("kubectl -n {role_namespace} create role {role} --verb={verb} --resource={resource}"),
                        format!(
                            "kubectl -n {role_namespace} create rolebinding {role} --role={role} --serviceaccount={sa_namespace}:{sa}"
                        ),
                        "Or run the pod under the service account meant for it".into(),
                    ],
                )],
            }
        }
        Problem::NoSpace { path } => {
            let claim = path.as_deref().and_then(|p| claim_at(context, container, p));
            let (what, steps) = match &claim {
                Some((claim, size)) => (
                    format!("its volume claim {claim} ({size}) is full"),
                    vec![
                        format!("Expand {claim} if its storage class allows (edit spec.resources.requests.storage)"),
                        "Or delete what it no longer needs (old logs, WAL, segments)".into(),
                    ],
                ),
                None => (
                    format!(
                        "the disk it writes{} is full",
                        path.as_ref().map(|p| format!(" ({p})")).unwrap_or_default()
                    ),
                    vec![
                        "Find the volume behind the path and expand it, or free space".into(),
                        "If it is the node's disk (emptyDir), set an ephemeral-storage limit".into(),
                    ],
                ),
            };
            LogCause {
                family: Family::VolumeProblem,
                root_cause: format!("{subject} fails because {what} (No space left on device): \"{line}\""),
                actions: vec![manual_owned("Give it space", steps)],
            }
        }
        Problem::PermissionDenied { path } => LogCause {
            family: Family::Permissions,
            root_cause: format!(
                "{subject} may not write {path}: the file system refuses its user (Permission denied): \"{line}\""
            ),
            actions: vec![manual(
                "Let its user write the path",
                &[
                    "Set the pod's securityContext.fsGroup to the group the program runs as",
                    "Or fix the owner of the volume's files, or run the program as their owner",
                ],
            )],
        },
        Problem::AuthenticationFailed { .. } => LogCause {
            family: Family::Dependency,
            root_cause: format!("{subject}'s credentials are refused by its dependency: \"{line}\""),
            actions: vec![manual(
                "Fix the credentials",
                &["Compare the Secret the workload reads with the dependency's user and password", restart_useless],
            )],
        },
        Problem::HeapExhausted { .. } => LogCause {
            family: Family::HighMemory,
            root_cause: format!(
                "{subject}'s runtime runs out of its own heap (its heap setting, not the container's limit): \"{line}\""
            ),
            actions: vec![manual(
                "Give the runtime more heap",
                &[
                    "Raise -Xmx (Java) or --max-old-space-size (Node) within the container's memory limit",
                    "Look for a leak",
                ],
            )],
        },
    }
}

/// The volume claim mounted by `container` at the longest prefix of `path`: name and size.
pub(super) fn claim_at(context: &ClusterContext, container: &str, path: &str) -> Option<(String, String)> {
    let spec = context.pod_spec()?;
    let containers = spec.containers.iter().chain(spec.init_containers.iter().flatten());
    let mount = containers
        .filter(|c| c.name == container)
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .filter(|m| path.starts_with(m.mount_path.trim_end_matches('/')))
        .max_by_key(|m| m.mount_path.len())?;
    let volume = spec.volumes.iter().flatten().find(|v| v.name == mount.name);
    // A StatefulSet's template claim: `<template>-<pod>`.
    let claim_name = match volume.and_then(|v| v.persistent_volume_claim.as_ref()) {
        Some(claim) => claim.claim_name.clone(),
        None => format!("{}-{}", mount.name, context.failing_pod.as_ref().map(name)?),
    };
    let claim = context.claims.iter().find(|c| c.metadata.name.as_deref() == Some(&claim_name))?;
    let status = claim.status.as_ref();
    let size = status
        .and_then(|s| s.capacity.as_ref()?.get("storage"))
        .or_else(|| claim.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| "size unknown".into());
    Some((claim_name, size))
}

/// A NetworkPolicy that stands between the failing pod and `address`: one selecting the
/// pod for egress with no rule allowing the port, or one selecting the dependency's pods
/// for ingress with no rule admitting the pod. Its name.
pub(super) fn blocking_policy(context: &ClusterContext, address: &str) -> Option<String> {
    use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    type Labels = std::collections::BTreeMap<String, String>;
    let port: Option<i32> = address.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
    let labels = context.failing_pod.as_ref().and_then(|p| p.metadata.labels.clone()).unwrap_or_default();
    let selects = |selector: &LabelSelector, labels: &Labels| {
        selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v))
            && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
    };
    let types = |policy: &NetworkPolicy| {
        policy.spec.as_ref().and_then(|s| s.policy_types.clone()).unwrap_or_else(|| vec!["Ingress".to_string()])
    };
    let ports_allow = |ports: Option<&Vec<NetworkPolicyPort>>| {
        ports.is_none_or(|ports| {
            ports.is_empty()
                || ports.iter().any(|p| {
                    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
                    match (&p.port, port) {
                        (None, _) | (_, None) => true,
                        (Some(IntOrString::Int(n)), Some(port)) => *n == port,
                        (Some(IntOrString::String(_)), _) => true,
                    }
                })
        })
    };
    // Whether `peer` (in a policy of `policy_namespace`) covers pods labelled `labels` in `namespace`.
    let peer_covers = |peer: &NetworkPolicyPeer, policy_namespace: &str, namespace: &str, labels: &Labels| {
        if peer.ip_block.is_some() {
            return true;
        }
        let namespace_ok = match &peer.namespace_selector {
            None => policy_namespace == namespace,
            Some(selector) => {
                let names = Labels::from([("kubernetes.io/metadata.name".to_string(), namespace.to_string())]);
                selects(selector, &names)
            }
        };
        namespace_ok && peer.pod_selector.as_ref().is_none_or(|s| selects(s, labels))
    };
    let dependencies: Vec<(String, Labels)> = context
        .services_named
        .iter()
        .filter_map(|s| Some((s.namespace.clone(), s.service.as_ref()?.spec.as_ref()?.selector.clone()?)))
        .collect();
    let egress = context.network_policies.iter().find(|policy| {
        let Some(spec) = policy.spec.as_ref() else { return false };
        let namespace = policy.metadata.namespace.clone().unwrap_or_else(|| context.namespace.clone());
        let applies = namespace == context.namespace
            && spec.pod_selector.as_ref().is_none_or(|selector| selects(selector, &labels))
            && types(policy).iter().any(|t| t == "Egress");
        let allowed = spec.egress.iter().flatten().any(|rule| {
            ports_allow(rule.ports.as_ref())
                && rule.to.as_ref().is_none_or(|peers| {
                    peers.is_empty()
                        || peers.iter().any(|peer| {
                            dependencies.iter().any(|(ns, pods)| peer_covers(peer, &namespace, ns, pods))
                                || peer.ip_block.is_some()
                        })
                })
        });
        applies && !allowed
    });
    let ingress = context.network_policies.iter().find(|policy| {
        let Some(spec) = policy.spec.as_ref() else { return false };
        let namespace = policy.metadata.namespace.clone().unwrap_or_default();
        let guards = dependencies.iter().any(|(ns, pods)| {
            *ns == namespace && spec.pod_selector.as_ref().is_none_or(|selector| selects(selector, pods))
        }) && types(policy).iter().any(|t| t == "Ingress");
        let admitted = spec.ingress.iter().flatten().any(|rule| {
            ports_allow(rule.ports.as_ref())
                && rule.from.as_ref().is_none_or(|peers| {
                    peers.is_empty()
                        || peers.iter().any(|peer| peer_covers(peer, &namespace, &context.namespace, &labels))
                })
        });
        guards && !admitted
    });
    egress.or(ingress).and_then(|p| p.metadata.name.clone())
}
