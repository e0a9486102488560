//! The demo cluster's programs: what each demo image does when a pod runs it (the memory
//! it needs, what it must be given, what it logs), the verdict for one container spec,
//! and the demo apps the cluster starts with.
//!
//! A pod's fate follows from its spec alone, so every fix made through the API, by the
//! agent or by kubectl, takes effect exactly as far as it addresses the cause.

use k8s_openapi::api::core::v1::Container;
use serde_json::{Value, json};

use crate::quantity::{cpu_millis, memory_bytes};

/// Where the demo images live (a registry that exists only inside the simulation).
pub const REGISTRY: &str = "registry.dreamops.demo";

/// The namespace the demo apps run in.
pub const NAMESPACE: &str = "demo";

/// What a program needs to start.
enum Needs {
    Nothing,
    /// An environment variable, and what the program logs without it.
    Env(&'static str, &'static [&'static str]),
    /// A volume mounted at a path, and what the program logs without it.
    Mount(&'static str, &'static [&'static str]),
}

/// One demo image.
struct Program {
    name: &'static str,
    /// Tags that exist in the registry.
    tags: &'static [&'static str],
    /// Working set once started, in MiB.
    memory_mib: u64,
    /// What it writes to the container's local disk once started, in MiB.
    disk_mib: u64,
    needs: Needs,
    /// The variable holding the address it connects to at start (a URL or `host:port`),
    /// if it connects to anything: whether it can is the cluster's to decide.
    connects: Option<&'static str>,
    /// Where it keeps its data and how much it writes there at start (MiB), if it keeps
    /// any: on a volume claim smaller than that, it runs out of space.
    data: Option<(&'static str, u64)>,
    /// The core resource it lists through the Kubernetes API at start, as its pod's
    /// service account, if it calls the API: whether it may is the cluster's RBAC to decide.
    lists: Option<&'static str>,
    /// What it logs while it runs.
    logs: &'static [&'static str],
}

const PROGRAMS: &[Program] = &[
    Program {
        name: "payment-service",
        tags: &["3.2.0", "3.2.1"],
        memory_mib: 120,
        disk_mib: 20,
        needs: Needs::Mount(
            "/etc/payment",
            &[
                "INFO  payment-service 3.2.1 starting",
                "INFO  loading configuration from /etc/payment/config.yaml",
                "ERROR open /etc/payment/config.yaml: no such file or directory",
                "FATAL configuration file /etc/payment/config.yaml is missing; refusing to start",
            ],
        ),
        connects: None,
        data: None,
        lists: None,
        logs: &["INFO  payment-service listening on :8080", "INFO  processed 42 payments in the last minute"],
    },
    Program {
        name: "analytics-service",
        tags: &["2.2.0", "2.3.0"],
        memory_mib: 200,
        disk_mib: 600,
        needs: Needs::Nothing,
        connects: None,
        data: None,
        lists: None,
        logs: &["INFO  analytics-service listening on :8080", "INFO  ingested 1832 events"],
    },
    Program {
        name: "memory-hog",
        tags: &["1.0.0"],
        memory_mib: 300,
        disk_mib: 10,
        needs: Needs::Nothing,
        connects: None,
        data: None,
        lists: None,
        logs: &[
            "INFO  memory-hog starting: warming the cache",
            "INFO  cache chunk 10 loaded (100 MiB resident)",
            "INFO  cache chunk 20 loaded (200 MiB resident)",
            "INFO  cache chunk 30 loaded (300 MiB resident)",
        ],
    },
    Program {
        name: "cpu-intensive",
        tags: &["1.1.0"],
        memory_mib: 90,
        disk_mib: 10,
        needs: Needs::Nothing,
        connects: None,
        data: None,
        lists: None,
        logs: &[
            "INFO  cpu-intensive: 8 workers started",
            "WARN  worker pool saturated: CPU at 98% of the container's limit",
            "WARN  request latency p99 2.4s (target 300ms)",
        ],
    },
    Program {
        name: "broken-database",
        tags: &["15.4"],
        memory_mib: 150,
        disk_mib: 200,
        needs: Needs::Env(
            "POSTGRES_PASSWORD",
            &[
                "Error: Database is uninitialized and superuser password is not specified.",
                "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.",
            ],
        ),
        connects: None,
        data: None,
        lists: None,
        logs: &["LOG:  database system is ready to accept connections"],
    },
    Program {
        name: "frontend-app",
        tags: &["4.0.2"],
        memory_mib: 64,
        disk_mib: 10,
        needs: Needs::Nothing,
        connects: None,
        data: None,
        lists: None,
        logs: &["INFO  frontend-app serving on :8080"],
    },
    Program {
        name: "healthy-app",
        tags: &["1.8.0", "1.9.0"],
        memory_mib: 96,
        disk_mib: 30,
        needs: Needs::Env(
            "DATABASE_URL",
            &["INFO  healthy-app 1.9.0 starting", "panic: DATABASE_URL is not set", "goroutine 1 [running]:"],
        ),
        connects: None,
        data: None,
        lists: None,
        logs: &["INFO  healthy-app listening on :8080", "INFO  GET /health 200 0.4ms"],
    },
    Program {
        name: "orders-api",
        tags: &["1.0.0"],
        memory_mib: 80,
        disk_mib: 10,
        needs: Needs::Env("DATABASE_URL", &["INFO  orders-api 1.0.0 starting", "FATAL DATABASE_URL is not set"]),
        connects: Some("DATABASE_URL"),
        data: Some(("/var/lib/orders", 600)),
        lists: None,
        logs: &["INFO  orders-api 1.0.0 starting", "INFO  connected to the database", "INFO  listening on :8080"],
    },
    Program {
        name: "config-reloader",
        tags: &["0.9.0"],
        memory_mib: 40,
        disk_mib: 5,
        needs: Needs::Nothing,
        connects: None,
        data: None,
        lists: Some("configmaps"),
        logs: &["INFO  config-reloader 0.9.0 starting", "INFO  watching ConfigMaps for changes"],
    },
];

/// Where every demo program serves HTTP, and the paths it answers there (200); any other
/// path answers 404, any other port refuses the connection.
pub const HTTP_PORT: i32 = 8080;
const SERVED_PATHS: &[&str] = &["/", "/health", "/healthz", "/livez", "/readyz", "/metrics"];

/// The largest memory (MiB) and CPU (millicores) a pod may request on a demo node.
pub const NODE_MEMORY_MIB: u64 = 16 * 1024;
pub const NODE_CPU_MILLIS: u64 = 4000;

/// What happens to a container when a pod runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It starts and stays ready; it logs these lines.
    Runs(Vec<String>),
    /// It runs, but a probe fails: a readiness probe keeps it out of service, a liveness
    /// probe has it restarted again and again. `message` is the kubelet's.
    FailsProbe { liveness: bool, message: String, log: Vec<String> },
    /// It exits soon after starting, again and again.
    Crashes { exit_code: i32, reason: &'static str, log: Vec<String> },
    /// It writes more to local disk than its ephemeral-storage limit: the kubelet evicts
    /// the pod, saying so.
    Evicted { message: String, log: Vec<String> },
    /// Its image cannot be pulled.
    CannotPull,
    /// No node has room for what it requests (or, decided by the cluster, for a claim it
    /// mounts).
    Unschedulable(String),
    /// Decided by the cluster: the kubelet cannot set the pod up, so it stays in
    /// ContainerCreating — a volume that does not mount (`FailedMount`), a sandbox the
    /// runtime does not create (`FailedCreatePodSandBox`): the event's reason and message.
    StuckCreating { reason: &'static str, message: String },
    /// Decided by the cluster: a variable's ConfigMap or Secret (or key) does not exist.
    ConfigError(String),
    /// Its command is not in the image: the runtime cannot start it (the runtime's message).
    CannotStart(String),
    /// It starts, but its postStart hook fails and the kubelet kills it, again and again.
    /// `hook` says which hook (`Exec lifecycle hook ([…])`), `error` how it failed.
    HookFails { hook: String, error: String, log: Vec<String> },
}

impl Verdict {
    /// What the container logs (nothing when it never starts).
    pub fn log(&self) -> &[String] {
        match self {
            Verdict::Runs(log)
            | Verdict::FailsProbe { log, .. }
            | Verdict::Crashes { log, .. }
            | Verdict::Evicted { log, .. }
            | Verdict::HookFails { log, .. } => log,
            Verdict::CannotPull
            | Verdict::Unschedulable(_)
            | Verdict::StuckCreating { .. }
            | Verdict::ConfigError(_)
            | Verdict::CannotStart(_) => &[],
        }
    }
}

/// What every demo image holds besides its own program: a shell and the usual utilities.
const UTILITIES: &[&str] = &["sh", "echo", "cat", "sleep", "true", "test", "env", "wget"];

/// Whether `command` (a path or a name) is in the image of `program`.
fn in_image(program: &Program, command: &str) -> bool {
    let base = command.rsplit('/').next().unwrap_or(command);
    base == program.name || UTILITIES.contains(&base)
}

/// How running `command` in the image of `program` fails, if it does: a missing executable
/// as the runtime says it, or a shell script whose first command the image lacks as `sh`
/// says it (with exit code 127).
enum Missing {
    Executable(String),
    /// The shell as invoked, and the script's missing command.
    InScript(String, String),
}

fn missing_command(program: &Program, command: &[String]) -> Option<Missing> {
    let first = command.first()?;
    if !in_image(program, first) {
        return Some(Missing::Executable(first.clone()));
    }
    let script = (first.rsplit('/').next() == Some("sh") && command.get(1).map(String::as_str) == Some("-c"))
        .then(|| command.get(2))
        .flatten()?;
    let word = script.split_whitespace().next()?;
    (!in_image(program, word)).then(|| Missing::InScript(first.clone(), word.to_string()))
}

/// The runtime's message for an executable that is not in the image.
fn not_in_path(executable: &str) -> String {
    format!(
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"{executable}\": executable file not found in $PATH: unknown"
    )
}

fn quantity<'a>(container: &'a Container, kind: &str, resource: &str) -> Option<&'a str> {
    let resources = container.resources.as_ref()?;
    let map = if kind == "limits" { resources.limits.as_ref()? } else { resources.requests.as_ref()? };
    map.get(resource).map(|quantity| quantity.0.as_str())
}

/// The repository and tag of an image reference (`registry/name:tag`).
fn image_parts(image: &str) -> Option<(&str, &str)> {
    let rest = image.strip_prefix(REGISTRY)?.strip_prefix('/')?;
    rest.split_once(':')
}

/// The program `container`'s image runs, if the registry has that image.
fn program_of(container: &Container) -> Option<&'static Program> {
    let (name, tag) = image_parts(container.image.as_deref().unwrap_or(""))?;
    PROGRAMS.iter().find(|program| program.name == name && program.tags.contains(&tag))
}

/// What `container` connects to at start: the value of its program's variable (a URL or
/// `host:port`), and the host and port in it.
pub fn dependency(container: &Container) -> Option<(String, String, i32)> {
    let variable = program_of(container)?.connects?;
    let value = container.env.iter().flatten().find(|env| env.name == variable)?.value.clone()?;
    let authority = value.split_once("://").map_or(value.as_str(), |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap_or(authority);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = authority.rsplit_once(':')?;
    Some((value.clone(), host.to_string(), port.parse().ok()?))
}

/// Whether what `container` does depends on the cluster around it (what it connects to,
/// the claim holding its data, the API calls it may make): `World::verdict` decides then,
/// not its spec alone.
pub fn meets_cluster(container: &Container) -> bool {
    program_of(container)
        .is_some_and(|program| program.connects.is_some() || program.data.is_some() || program.lists.is_some())
}

/// The core resource `container`'s program lists through the Kubernetes API at start.
pub fn lists(container: &Container) -> Option<&'static str> {
    program_of(container)?.lists
}

/// What `container` logs when the API server refuses its list of `resource` (client-go's
/// reflector's warning, then the program giving up): `refusal` is the API server's message.
pub fn refused_by_api(container: &Container, resource: &str, refusal: &str) -> Vec<String> {
    let name = program_of(container).map_or("app", |program| program.name);
    vec![
        format!("INFO  {name} starting"),
        format!("W1206 09:41:07.118204       1 reflector.go:561] failed to list {resource}: {refusal}"),
        format!("FATAL cannot list {resource}; exiting"),
    ]
}

/// Where `container`'s program keeps its data, and how many bytes it writes there.
pub fn data(container: &Container) -> Option<(&'static str, u64)> {
    program_of(container)?.data.map(|(path, mib)| (path, mib * 1024 * 1024))
}

/// What `container` logs when the volume at its data path is full.
pub fn out_of_space(container: &Container, path: &str) -> Vec<String> {
    let name = program_of(container).map_or("app", |program| program.name);
    vec![
        format!("INFO  {name} starting"),
        format!("FATAL write {path}/journal/000000010000000000000042: no space left on device"),
    ]
}

/// What `container` logs when it cannot connect to `target` (the variable's value): the
/// client library's `error`, after the start line.
pub fn cannot_connect(container: &Container, target: &str, error: &str) -> Vec<String> {
    let name = program_of(container).map_or("app", |program| program.name);
    vec![format!("INFO  {name} starting"), format!("FATAL cannot connect to {target}: {error}")]
}

/// What happens to `container` when a pod of the demo cluster runs it, as far as its spec
/// decides (what it connects to is the cluster's to decide: `World::verdict`).
pub fn verdict(container: &Container) -> Verdict {
    let requested_memory = quantity(container, "requests", "memory").and_then(memory_bytes).unwrap_or(0);
    let requested_cpu = quantity(container, "requests", "cpu").and_then(cpu_millis).unwrap_or(0);
    let mut short = Vec::new();
    if requested_memory > NODE_MEMORY_MIB * 1024 * 1024 {
        short.push("Insufficient memory");
    }
    if requested_cpu > NODE_CPU_MILLIS {
        short.push("Insufficient cpu");
    }
    if !short.is_empty() {
        return Verdict::Unschedulable(format!(
            "0/3 nodes are available: {}. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
            short.iter().map(|reason| format!("3 {reason}")).collect::<Vec<_>>().join(", ")
        ));
    }
    let Some(program) = program_of(container) else {
        return Verdict::CannotPull;
    };
    let lines = |lines: &[&str]| lines.iter().map(|line| line.to_string()).collect::<Vec<_>>();
    let command: Vec<String> =
        container.command.iter().flatten().chain(container.args.iter().flatten()).cloned().collect();
    match missing_command(program, &command) {
        Some(Missing::Executable(executable)) => return Verdict::CannotStart(not_in_path(&executable)),
        Some(Missing::InScript(shell, word)) => {
            return Verdict::Crashes {
                exit_code: 127,
                reason: "Error",
                log: vec![format!("{shell}: 1: {word}: not found")],
            };
        }
        None => {}
    }
    match program.needs {
        Needs::Env(name, log) => {
            let given = container.env.iter().flatten().any(|env| {
                env.name == name && (env.value.as_deref().is_some_and(|v| !v.is_empty()) || env.value_from.is_some())
            });
            if !given {
                return Verdict::Crashes { exit_code: 1, reason: "Error", log: lines(log) };
            }
        }
        Needs::Mount(path, log) => {
            let mounted = container.volume_mounts.iter().flatten().any(|mount| mount.mount_path == path);
            if !mounted {
                return Verdict::Crashes { exit_code: 1, reason: "Error", log: lines(log) };
            }
        }
        Needs::Nothing => {}
    }
    let limit = quantity(container, "limits", "memory").and_then(memory_bytes);
    if limit.is_some_and(|limit| limit < program.memory_mib * 1024 * 1024) {
        let mut log = lines(program.logs);
        log.truncate(program.logs.len().saturating_sub(1).max(1));
        return Verdict::Crashes { exit_code: 137, reason: "OOMKilled", log };
    }
    let log = lines(program.logs);
    let disk_limit = quantity(container, "limits", "ephemeral-storage").and_then(memory_bytes);
    if disk_limit.is_some_and(|limit| limit < program.disk_mib * 1024 * 1024) {
        let limit = quantity(container, "limits", "ephemeral-storage").unwrap_or_default();
        return Verdict::Evicted {
            message: format!("Pod ephemeral local storage usage exceeds the total limit of containers {limit}."),
            log,
        };
    }
    if let Some((hook, error)) = post_start_failure(program, container) {
        return Verdict::HookFails { hook, error, log };
    }
    for (liveness, probe) in [(true, &container.liveness_probe), (false, &container.readiness_probe)] {
        if let Some(failure) = probe.as_ref().and_then(|probe| probe_failure(container, probe)) {
            let kind = if liveness { "Liveness" } else { "Readiness" };
            return Verdict::FailsProbe { liveness, message: format!("{kind} probe failed: {failure}"), log };
        }
    }
    Verdict::Runs(log)
}

/// Which postStart hook of `container` fails and how, if one does: a command the image
/// lacks, or an HTTP call to a port the program does not serve.
fn post_start_failure(program: &Program, container: &Container) -> Option<(String, String)> {
    let hook = container.lifecycle.as_ref()?.post_start.as_ref()?;
    if let Some(exec) = &hook.exec {
        let command = exec.command.clone().unwrap_or_default();
        let described = format!("Exec lifecycle hook ([{}])", command.join(" "));
        let error = match missing_command(program, &command)? {
            Missing::Executable(executable) => format!(
                "rpc error: code = Unknown desc = failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: exec: \"{executable}\": executable file not found in $PATH: unknown, message: \"\""
            ),
            Missing::InScript(shell, word) => format!(
                "command '{}' exited with 127: {shell}: 1: {word}: not found\n, message: \"{shell}: 1: {word}: not found\\n\"",
                command.join(" ")
            ),
        };
        return Some((described, error));
    }
    let http = hook.http_get.as_ref()?;
    let port = http_port(container, &http.port);
    let path = http.path.as_deref().unwrap_or("/");
    (port != Some(HTTP_PORT)).then(|| {
        let port = port.unwrap_or(0);
        (
            format!("Http lifecycle hook ({path})"),
            format!("Get \"http://10.244.0.1:{port}{path}\": dial tcp 10.244.0.1:{port}: connect: connection refused"),
        )
    })
}

/// The number of `port` in `container` (a named port is the container's port of that name).
fn http_port(container: &Container, port: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> Option<i32> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match port {
        IntOrString::Int(number) => Some(*number),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

/// Why `probe` of `container` fails against a demo program, if it does.
fn probe_failure(container: &Container, probe: &k8s_openapi::api::core::v1::Probe) -> Option<String> {
    let port = |port| http_port(container, port);
    let refused = |number: Option<i32>| {
        format!("dial tcp 10.244.0.1:{}: connect: connection refused", number.map_or("0".into(), |n| n.to_string()))
    };
    if let Some(http) = &probe.http_get {
        let number = port(&http.port);
        if number != Some(HTTP_PORT) {
            return Some(format!(
                "Get \"http://10.244.0.1:{}{}\": {}",
                number.unwrap_or(0),
                http.path.as_deref().unwrap_or("/"),
                refused(number)
            ));
        }
        let path = http.path.as_deref().unwrap_or("/");
        if !SERVED_PATHS.contains(&path) {
            return Some("HTTP probe failed with statuscode: 404".to_string());
        }
    }
    if let Some(tcp) = &probe.tcp_socket {
        let number = port(&tcp.port);
        if number != Some(HTTP_PORT) {
            return Some(refused(number));
        }
    }
    None
}

fn image(name: &str, tag: &str) -> String {
    format!("{REGISTRY}/{name}:{tag}")
}

/// A deployment of one container named after the app, labelled `app: <name>`.
fn deployment(name: &str, replicas: i32, container: Value, strategy: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": strategy},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "restartPolicy": "Always", "terminationGracePeriodSeconds": 30}
            }
        }
    })
}

fn container(name: &str, tag: &str, memory_limit: &str, env: Value) -> Value {
    json!({
        "name": name,
        "image": image(name, tag),
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "env": env,
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": memory_limit}},
        "imagePullPolicy": "IfNotPresent"
    })
}

fn service(name: &str, selects: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": selects},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
        }
    })
}

/// The demo apps, in the order they are created: each deployment with the template
/// revisions it goes through (the last is current), then the services.
pub fn demo_apps() -> (Vec<(Value, Vec<Value>)>, Vec<Value>) {
    let healthy_env = json!([{"name": "DATABASE_URL", "value": "postgres://app@db.demo:5432/app"}]);
    let apps = vec![
        (
            deployment(
                "payment-service",
                2,
                container("payment-service", "3.2.1", "256Mi", json!([])),
                "RollingUpdate",
            ),
            vec![],
        ),
        (
            deployment("analytics-service", 2, container("analytics-service", "2.3.0", "512Mi", json!([])), "Recreate"),
            vec![container("analytics-service", "2.4.0-rc1", "512Mi", json!([]))],
        ),
        (deployment("memory-hog", 1, container("memory-hog", "1.0.0", "256Mi", json!([])), "RollingUpdate"), vec![]),
        (
            deployment("cpu-intensive", 2, container("cpu-intensive", "1.1.0", "128Mi", json!([])), "RollingUpdate"),
            vec![],
        ),
        (
            deployment(
                "broken-database",
                1,
                container("broken-database", "15.4", "512Mi", json!([{"name": "POSTGRES_USER", "value": "app"}])),
                "Recreate",
            ),
            vec![],
        ),
        (
            deployment("frontend-app", 0, container("frontend-app", "4.0.2", "128Mi", json!([])), "RollingUpdate"),
            vec![],
        ),
        (
            deployment("healthy-app", 2, container("healthy-app", "1.8.0", "256Mi", healthy_env), "RollingUpdate"),
            vec![],
        ),
    ];
    let mut services: Vec<Value> = apps
        .iter()
        .map(|(deployment, _)| {
            let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
            service(name, name)
        })
        .collect();
    services.push(service("orphan-service", "orphan-backend"));
    (apps, services)
}

/// The demo image `name` at `tag` (for the failures the panel simulates).
pub fn demo_image(name: &str, tag: &str) -> String {
    image(name, tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(value: Value) -> Container {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn each_demo_app_fails_for_its_own_reason_and_recovers_when_the_cause_is_fixed() {
        let (apps, _) = demo_apps();
        let current = |name: &str| {
            let (deployment, revisions) = apps.iter().find(|(d, _)| d["metadata"]["name"] == name).unwrap();
            let spec =
                revisions.last().cloned().unwrap_or(deployment["spec"]["template"]["spec"]["containers"][0].clone());
            container(spec)
        };
        assert!(
            matches!(verdict(&current("payment-service")), Verdict::Crashes { exit_code: 1, ref log, .. } if log.iter().any(|l| l.contains("config.yaml")))
        );
        assert_eq!(verdict(&current("analytics-service")), Verdict::CannotPull);
        assert!(matches!(
            verdict(&current("memory-hog")),
            Verdict::Crashes { reason: "OOMKilled", exit_code: 137, .. }
        ));
        assert!(
            matches!(verdict(&current("broken-database")), Verdict::Crashes { ref log, .. } if log[0].contains("password"))
        );
        assert!(matches!(verdict(&current("healthy-app")), Verdict::Runs(_)));
        assert!(matches!(verdict(&current("cpu-intensive")), Verdict::Runs(_)));

        let mut hog = current("memory-hog");
        hog.resources
            .as_mut()
            .unwrap()
            .limits
            .as_mut()
            .unwrap()
            .insert("memory".into(), k8s_openapi::apimachinery::pkg::api::resource::Quantity("384Mi".into()));
        assert!(matches!(verdict(&hog), Verdict::Runs(_)), "a limit above its working set lets it run");
        let mut payment = current("payment-service");
        payment.volume_mounts =
            Some(vec![serde_json::from_value(json!({"name": "config", "mountPath": "/etc/payment"})).unwrap()]);
        assert!(matches!(verdict(&payment), Verdict::Runs(_)), "mounting its configuration fixes it");
        let mut greedy = current("healthy-app");
        greedy
            .resources
            .as_mut()
            .unwrap()
            .requests
            .as_mut()
            .unwrap()
            .insert("memory".into(), k8s_openapi::apimachinery::pkg::api::resource::Quantity("64Gi".into()));
        assert!(matches!(verdict(&greedy), Verdict::Unschedulable(ref m) if m.contains("Insufficient memory")));
    }

    #[test]
    fn a_command_or_hook_the_image_lacks_fails_as_the_runtime_and_the_shell_say() {
        let app = |extra: Value| {
            let mut spec = json!({"name": "app", "image": image("healthy-app", "1.9.0"),
                                  "env": [{"name": "DATABASE_URL", "value": "postgres://db/app"}]});
            for (field, value) in extra.as_object().unwrap() {
                spec[field] = value.clone();
            }
            container(spec)
        };
        assert!(matches!(verdict(&app(json!({"command": ["/usr/local/bin/healthy-app"]}))), Verdict::Runs(_)));
        assert!(matches!(verdict(&app(json!({"command": ["/bin/sh", "-c", "echo hi"]}))), Verdict::Runs(_)));
        assert!(
            matches!(verdict(&app(json!({"command": ["gunicorn"]}))), Verdict::CannotStart(ref m) if m.contains("exec: \"gunicorn\": executable file not found in $PATH"))
        );
        assert!(
            matches!(verdict(&app(json!({"command": ["sh", "-c", "migrate up && healthy-app"]}))), Verdict::Crashes { exit_code: 127, ref log, .. } if log == &["sh: 1: migrate: not found"])
        );
        let hook = |post_start: Value| app(json!({"lifecycle": {"postStart": post_start}}));
        assert!(matches!(verdict(&hook(json!({"exec": {"command": ["sleep", "1"]}}))), Verdict::Runs(_)));
        assert!(
            matches!(verdict(&hook(json!({"exec": {"command": ["/app/warm"]}}))), Verdict::HookFails { ref hook, ref error, .. } if hook == "Exec lifecycle hook ([/app/warm])" && error.contains("\"/app/warm\": executable file not found"))
        );
        assert!(
            matches!(verdict(&hook(json!({"httpGet": {"path": "/warm", "port": 9000}}))), Verdict::HookFails { ref error, .. } if error.ends_with("9000: connect: connection refused"))
        );
        assert!(matches!(verdict(&hook(json!({"httpGet": {"path": "/warm", "port": 8080}}))), Verdict::Runs(_)));
    }
}
