//! The diagnosis corpus (`app/tests/diagnosis-cases/*.json`): real-shaped Kubernetes
//! failures, each an Alertmanager alert shaped like the kube-prometheus rules, the
//! cluster's objects as `kubectl get -o json` prints them, the containers' logs, and
//! what the root cause must name. Each case goes through ingestion's parser, the
//! classifier, the cluster reads (against a loopback Kubernetes API serving the case's
//! objects) and the rules; the test prints accuracy per family and the rules' time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_test::mock;

use super::classify::{self, IncidentFacts};
use super::context::{self, Steps};
use super::rules;
use kube_simulator::selectors::{FieldSelector, LabelSelector};

/// One case, as written in its file.
#[derive(Deserialize)]
struct Case {
    /// What it shows, for people.
    about: String,
    /// The family the diagnosis must give (as stored: `pod_crash`, `dependency`…).
    family: String,
    /// Words the root cause must contain: the thing to fix.
    names: Vec<String>,
    /// One alert as Alertmanager sends it (labels, annotations).
    alert: Value,
    /// The cluster's objects.
    #[serde(default)]
    objects: Vec<Value>,
    /// Logs by `pod/container` (current) and `pod/container/previous`.
    #[serde(default)]
    logs: BTreeMap<String, String>,
}

/// The REST resource name of a kind.
fn plural(kind: &str) -> String {
    let kind = kind.to_lowercase();
    match kind.as_str() {
        "endpoints" => kind,
        _ if kind.ends_with('s') => format!("{kind}es"),
        _ if kind.ends_with('y') => format!("{}ies", &kind[..kind.len() - 1]),
        _ => format!("{kind}s"),
    }
}

/// The answer of the case's cluster to one request.
fn answer(case: &Case, path: &str, query: &str) -> (u16, Vec<u8>) {
    let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // `/api/v1/…` or `/apis/<group>/<version>/…`.
    let rest = match parts.as_slice() {
        ["api", _, rest @ ..] => rest,
        ["apis", _, _, rest @ ..] => rest,
        _ => return not_found(path),
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
        rest => (None, rest),
    };
    let in_scope = |object: &&Value, resource: &str| {
        plural(object["kind"].as_str().unwrap_or_default()) == resource
            && namespace.is_none_or(|ns| object.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
    };
    match rest {
        [resource] => {
            let labels = LabelSelector::parse(params.get("labelSelector").map_or("", String::as_str)).unwrap();
            let fields = FieldSelector::parse(params.get("fieldSelector").map_or("", String::as_str)).unwrap();
            let items: Vec<&Value> = case
                .objects
                .iter()
                .filter(|o| in_scope(o, resource) && labels.matches(o) && fields.matches(o))
                .collect();
            let list =
                json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items});
            (200, list.to_string().into_bytes())
        }
        [resource, name] => {
            match case
                .objects
                .iter()
                .find(|o| in_scope(o, resource) && o.pointer("/metadata/name") == Some(&json!(name)))
            {
                Some(object) => (200, object.to_string().into_bytes()),
                None => not_found(&format!("{resource} \"{name}\"")),
            }
        }
        ["pods", name, "log"] => {
            let container = params.get("container").cloned().unwrap_or_default();
            let previous = params.get("previous").is_some_and(|p| p == "true");
            let key = format!("{name}/{container}{}", if previous { "/previous" } else { "" });
            match case.logs.get(&key) {
                Some(log) => (200, log.clone().into_bytes()),
                None if previous => status(
                    400,
                    "BadRequest",
                    &format!("previous terminated container \"{container}\" in pod \"{name}\" not found"),
                ),
                None => (200, Vec::new()),
            }
        }
        _ => not_found(path),
    }
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Vec<u8>) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code});
    (code, body.to_string().into_bytes())
}

fn not_found(what: &str) -> (u16, Vec<u8>) {
    status(404, "NotFound", &format!("{what} not found"))
}

/// A kube client whose every request the case's cluster answers.
fn cluster(case: Arc<Case>) -> Client {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        let mut handle = std::pin::pin!(handle);
        while let Some((request, respond)) = handle.next_request().await {
            let uri = request.uri();
            let (code, body) = answer(&case, uri.path(), uri.query().unwrap_or(""));
            respond.send_response(Response::builder().status(code).body(Body::from(body)).unwrap());
        }
    });
    Client::new(service, "default")
}

/// The steps of the reads, kept to show with a missed case.
#[derive(Default)]
struct Kept(std::sync::Mutex<Vec<String>>);

impl Steps for Kept {
    async fn step(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

/// The outcome of one case.
struct Outcome {
    file: String,
    family: String,
    right: bool,
    said: String,
    rules_time: Duration,
}

async fn run(file: String, case: Case) -> Outcome {
    let webhook = json!({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "fingerprint": "corpus", "labels": case.alert["labels"], "annotations": case.alert["annotations"]}
    ]});
    let alert = crate::server::ingest::alertmanager::parse("alertmanager", webhook.to_string().as_bytes())
        .unwrap_or_else(|error| panic!("{file}: the alert does not parse: {error}"))
        .remove(0);
    let facts = IncidentFacts {
        title: alert.title,
        description: alert.description.unwrap_or_default(),
        service: alert.service,
        details: alert.details,
    };
    let family = case.family.clone();
    let names = case.names.clone();
    let case = Arc::new(case);
    let found = classify::classify(&facts);
    let steps = Kept::default();
    let context = context::gather(&cluster(case.clone()), "default", &found, &steps).await;
    let started = Instant::now();
    let found = classify::classify(&facts);
    let diagnosis = rules::diagnose(&facts, &found, Some(&context));
    let rules_time = started.elapsed();
    let cause = diagnosis.root_cause.to_lowercase();
    let right = diagnosis.family.as_str() == family && names.iter().all(|name| cause.contains(&name.to_lowercase()));
    Outcome {
        file,
        family,
        right,
        said: format!(
            "{} — {}\n    read: {}",
            diagnosis.family.as_str(),
            diagnosis.root_cause,
            steps.0.lock().unwrap().join(" | ")
        ),
        rules_time,
    }
}

#[tokio::test]
async fn the_corpus_is_diagnosed_right() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnosis-cases");
    let mut files: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut outcomes = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let case: Case = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|error| panic!("{file} is not a case: {error}"));
        assert!(!case.about.is_empty() && !case.names.is_empty(), "{file}: say what it is about and what to name");
        outcomes.push(run(file, case).await);
    }
    let mut by_family: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for outcome in &outcomes {
        let entry = by_family.entry(outcome.family.as_str()).or_default();
        entry.1 += 1;
        if outcome.right {
            entry.0 += 1;
        } else {
            println!("MISSED {}: {}", outcome.file, outcome.said);
        }
    }
    println!("\n{:<28} {:>5} {:>5}", "family", "right", "cases");
    for (family, (right, cases)) in &by_family {
        println!("{family:<28} {right:>5} {cases:>5}");
    }
    let right = outcomes.iter().filter(|o| o.right).count();
    let total = outcomes.len();
    let mut times: Vec<Duration> = outcomes.iter().map(|o| o.rules_time).collect();
    times.sort();
    let mean = times.iter().sum::<Duration>() / total.max(1) as u32;
    println!(
        "{:<28} {right:>5} {total:>5}  ({:.1} %); rules per case: mean {mean:?}, slowest {:?}",
        "all",
        right as f64 * 100.0 / total.max(1) as f64,
        times.last().copied().unwrap_or_default()
    );
    assert!(total >= 60, "the corpus has {total} cases, fewer than 60");
    assert!(right * 100 >= total * 95, "{right} of {total} cases diagnosed right, under 95 %");
}
