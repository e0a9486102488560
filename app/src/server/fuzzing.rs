//! The fuzzers' entry points: one function per parser of bytes from outside, taking any
//! bytes and panicking only on a bug. `app/fuzz` runs them under libFuzzer
//! (`cargo +nightly fuzz`); the unit tests below replay the seeds and every input a
//! fuzzer found, so a fixed crash stays fixed on the stable toolchain.
//!
//! Besides "does not panic", each target checks what must hold of what it parsed: an
//! alert stays storable, a signature we make verifies, a selector that parsed can be
//! matched.

use serde_json::{Value, json};

use crate::server::billing::signature as stripe;
use crate::server::ingest::{self, NormalizedAlert, alertmanager, events_api, pagerduty, rest};
use crate::server::webhook_signature::{self, SignatureHeader};
use kube_simulator::{patch, selectors};

/// A target: any bytes in, a panic only on a bug.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its file under `app/fuzz/fuzz_targets`).
pub const TARGETS: &[(&str, Target)] = &[
    ("pagerduty_webhook", pagerduty_webhook),
    ("events_api", events_api),
    ("alertmanager", alertmanager),
    ("grafana", grafana),
    ("rest_alert", rest_alert),
    ("stripe_signature", stripe_signature),
    ("pagerduty_signature", pagerduty_signature),
    ("grafana_signature", grafana_signature),
    ("kubeconfig", kubeconfig),
    ("demo_patch", demo_patch),
    ("demo_selectors", demo_selectors),
    ("demo_request", demo_request),
];

/// What is done with every alert a delivery yields before it is stored and shown.
fn store(mut alert: NormalizedAlert) {
    alert.make_storable();
    let texts = [&alert.description, &alert.service, &alert.external_url, &alert.actor, &alert.dedup_key];
    for text in texts.into_iter().flatten().chain([&alert.title]) {
        assert!(!text.contains('\0'), "PostgreSQL's text cannot hold NUL: {text:?}");
    }
    assert!(!holds_nul(&alert.details), "jsonb cannot hold NUL: {}", alert.details);
    assert!(alert.dedup_key.is_none_or(|key| key.len() <= ingest::MAX_DEDUP_KEY), "a dedup key fits its index");
}

/// Whether any string or key of `value` holds NUL. (Its JSON text is no test: a
/// backslash before `u0000`, which jsonb takes, is written `\\u0000` there.)
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(key, item)| key.contains('\0') || holds_nul(item)),
        _ => false,
    }
}

/// Splits `data` at its first newline: a header, then a body.
fn header_and_body(data: &[u8]) -> Option<(&str, &[u8])> {
    let split = data.iter().position(|&byte| byte == b'\n')?;
    Some((std::str::from_utf8(&data[..split]).ok()?, &data[split + 1..]))
}

/// `POST /webhooks/pagerduty/{token}`: the V3 webhook body.
pub fn pagerduty_webhook(data: &[u8]) {
    let _ = pagerduty::delivery_id(data);
    if let Ok(alert) = pagerduty::parse(data) {
        store(alert);
    }
    let _ = ingest::mask_credentials(&String::from_utf8_lossy(data));
}

/// `POST /v2/enqueue`: PagerDuty's Events API v2.
pub fn events_api(data: &[u8]) {
    let _ = events_api::routing_key(data);
    if let Ok(alert) = events_api::parse(data) {
        store(alert);
    }
    let _ = ingest::mask_credentials(&String::from_utf8_lossy(data));
}

/// `POST /webhooks/alertmanager/{token}`.
pub fn alertmanager(data: &[u8]) {
    if let Ok(alerts) = alertmanager::parse("alertmanager", data) {
        alerts.into_iter().for_each(store);
    }
}

/// `POST /webhooks/grafana/{token}`.
pub fn grafana(data: &[u8]) {
    if let Ok(alerts) = alertmanager::parse("grafana", data) {
        alerts.into_iter().for_each(store);
    }
}

/// `POST /api/v1/alerts`.
pub fn rest_alert(data: &[u8]) {
    if let Ok(alert) = rest::parse(data) {
        store(alert);
    }
}

const NOW: i64 = 1_800_000_000;

/// `Stripe-Signature` on the first line, the event after it.
pub fn stripe_signature(data: &[u8]) {
    let Some((header, body)) = header_and_body(data) else { return };
    let _ = stripe::verify(Some(header), body, &["whsec_fuzz"], NOW);
    assert_eq!(stripe::verify(Some(&stripe::sign("whsec_fuzz", NOW, body)), body, &["whsec_fuzz"], NOW), Ok(()));
}

/// `X-PagerDuty-Signature` on the first line, the webhook body after it.
pub fn pagerduty_signature(data: &[u8]) {
    let Some((header, body)) = header_and_body(data) else { return };
    let secrets = ["fuzz".to_string()];
    if let Ok(read) = SignatureHeader::read(header) {
        let _ = pagerduty::verify_signature(&read, body, &secrets);
    }
    let ours = format!("v1={}", webhook_signature::sign(b"fuzz", &[body]));
    assert!(pagerduty::verify_signature(&SignatureHeader::read(&ours).expect("ours is in bounds"), body, &secrets));
}

/// `X-Grafana-Alerting-Signature` and its timestamp on the first line (`signature timestamp`).
pub fn grafana_signature(data: &[u8]) {
    let Some((header, body)) = header_and_body(data) else { return };
    let (signature, timestamp) = match header.split_once(' ') {
        Some((signature, timestamp)) => (signature, Some(timestamp)),
        None => (header, None),
    };
    let _ = webhook_signature::verify_grafana(signature, timestamp, body, b"fuzz", NOW);
}

/// A kubeconfig as pasted on the clusters page: its contexts, each reduced as it is saved.
pub fn kubeconfig(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(found) = crate::server::clusters::contexts(text) {
        for context in found.contexts {
            let _ = crate::server::clusters::reduced(text, &context.name);
        }
    }
}

/// A deployment as the demo cluster stores one, the target of the patch targets.
fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "web", "namespace": "demo", "labels": { "app": "web" } },
        "spec": { "replicas": 2, "template": { "spec": { "containers": [
            { "name": "web", "image": "web:1", "env": [{ "name": "A", "value": "1" }],
              "ports": [{ "containerPort": 80 }], "volumeMounts": [{ "mountPath": "/data", "name": "d" }] }
        ] } } },
        "status": { "conditions": [{ "type": "Available", "status": "True" }] }
    })
}

/// A PATCH to the demo cluster: the first byte chooses the content type, the rest is the body.
pub fn demo_patch(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else { return };
    let content_type = match kind % 4 {
        0 => "application/merge-patch+json",
        1 => "application/json-patch+json",
        2 => "application/strategic-merge-patch+json",
        _ => "application/apply-patch+yaml",
    };
    let _ = patch::apply(&deployment(), content_type, body);
}

/// A list's `labelSelector` (first line) and `fieldSelector` (the rest), matched against a deployment.
pub fn demo_selectors(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (labels, fields) = text.split_once('\n').unwrap_or((text, ""));
    let object = deployment();
    if let Ok(selector) = selectors::LabelSelector::parse(labels) {
        let _ = selector.matches(&object);
    }
    if let Ok(selector) = selectors::FieldSelector::parse(fields) {
        let _ = selector.matches(&object);
    }
}

/// A request's path (first line) and query (the rest), as the demo cluster routes them.
pub fn demo_request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (path, query) = text.split_once('\n').unwrap_or((text, ""));
    let _ = kube_simulator::routes(path, query);
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use super::TARGETS;

    /// `app/fuzz`, where the seeds (`seeds/<target>`) and the inputs that once crashed a
    /// target or ran away with it (`regressions/<target>`) are kept.
    fn fuzz_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
    }

    fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut inputs: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_file())
            .map(|path| {
                let bytes = std::fs::read(&path).expect("a fuzz input is readable");
                (path, bytes)
            })
            .collect();
        inputs.sort();
        inputs
    }

    #[test]
    fn every_target_has_a_fuzzer_and_seeds() {
        let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("app/fuzz/Cargo.toml");
        for (name, _) in TARGETS {
            assert!(manifest.contains(&format!("name = \"{name}\"")), "app/fuzz/Cargo.toml lacks the target {name}");
            assert!(fuzz_dir().join("fuzz_targets").join(format!("{name}.rs")).is_file(), "no fuzz_targets/{name}.rs");
            assert!(!inputs(&fuzz_dir().join("seeds").join(name)).is_empty(), "no seeds for {name}");
        }
    }

    /// Replays the seeds, the regressions, and (with `FUZZ_CORPUS=<dir>`, as docs/testing.md's
    /// fuzzing section runs it after a long run) a fuzzer's whole corpus, printing the
    /// slowest input of each target.
    #[test]
    fn every_kept_input_passes_every_check() {
        let corpus = std::env::var_os("FUZZ_CORPUS").map(PathBuf::from);
        for (name, target) in TARGETS {
            let mut dirs = vec![fuzz_dir().join("seeds").join(name), fuzz_dir().join("regressions").join(name)];
            dirs.extend(corpus.iter().map(|corpus| corpus.join(name)));
            let (mut count, mut slowest) = (0, (Duration::ZERO, PathBuf::new()));
            for (path, bytes) in dirs.iter().flat_map(|dir| inputs(dir)) {
                let started = Instant::now();
                let outcome = std::panic::catch_unwind(|| target(&bytes));
                let took = started.elapsed();
                assert!(outcome.is_ok(), "{name} panicked on {}", path.display());
                count += 1;
                if took > slowest.0 {
                    slowest = (took, path);
                }
            }
            println!("{name}: {count} inputs, slowest {:.2?} ({})", slowest.0, slowest.1.display());
        }
    }
}
