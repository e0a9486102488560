//! The backend's layering (docs/architecture.md, "Layers"): each module of `app/src/server`
//! may use only the modules its row below allows. The test reads every source file and
//! fails on an import the table does not allow, naming the file — so a dependency that
//! points the wrong way is caught when it is written, not when the cycle has grown.

use std::collections::BTreeSet;
use std::path::Path;

/// Module → the modules of `crate::server` it may use. Lowest first; a module may use
/// only rows above its own, but for `state`, the composition root, which holds
/// ingestion's recorder and sender directory, the mailer and the API's request limits
/// while they read the state.
const MAY_USE: &[(&str, &[&str])] = &[
    // Foundations: settings, random tokens, signatures, labels — they use nothing.
    ("config", &[]),
    ("token", &[]),
    ("webhook_signature", &[]),
    ("alert_subject", &[]),
    ("quota", &[]),
    ("live", &[]),
    ("rate_limit", &[]),
    // Storage and the rules every request goes through.
    ("db", &["config"]),
    ("secrets", &["config", "token"]),
    ("egress", &["config"]),
    ("audit", &["db"]),
    ("state", &["api_keys", "config", "secrets", "live", "ingest", "mail"]),
    ("auth", &["config", "db", "audit", "secrets", "state", "token"]),
    ("status", &["config", "db"]),
    // The job runner's mechanics, for every queue.
    ("jobs", &["config", "state"]),
    // Mail, queued and sent through the runner.
    ("mail", &["config", "jobs", "state"]),
    // Saved clusters and talking to them.
    ("clusters", &["audit", "secrets", "state"]),
    ("cluster_client", &["clusters", "egress", "state"]),
    // Features.
    // Outgoing webhooks, queued with the events they report.
    ("webhooks", &["audit", "config", "jobs", "secrets", "state", "token", "webhook_signature"]),
    (
        "ingest",
        &[
            "alert_subject",
            "audit",
            "jobs",
            "live",
            "rate_limit",
            "secrets",
            "state",
            "token",
            "webhook_signature",
            "webhooks",
        ],
    ),
    // GitHub: "what changed", and the records and queue of the issues DreamOps opens.
    ("github", &["audit", "egress", "jobs", "secrets", "state"]),
    ("notifications", &["audit", "mail", "state"]),
    ("incidents", &["audit", "db", "github", "ingest", "notifications", "state", "webhooks"]),
    (
        "outbound",
        &["audit", "config", "db", "egress", "github", "jobs", "notifications", "secrets", "state", "webhooks"],
    ),
    ("remediation", &["audit", "cluster_client", "clusters", "config", "db", "jobs", "outbound", "state", "webhooks"]),
    ("runbooks", &["alert_subject", "audit", "db", "state"]),
    (
        "agent",
        &[
            "alert_subject",
            "audit",
            "cluster_client",
            "config",
            "db",
            "egress",
            "github",
            "jobs",
            "outbound",
            "remediation",
            "runbooks",
            "secrets",
            "state",
        ],
    ),
    ("dashboard", &["agent"]),
    ("postmortems", &["agent", "audit", "incidents", "remediation", "state"]),
    ("notion", &["audit", "egress", "postmortems", "runbooks", "secrets", "state"]),
    ("issue_writer", &["agent", "audit", "config", "db", "github", "incidents", "jobs", "postmortems", "state"]),
    ("demo_cluster", &["alert_subject", "audit", "clusters", "ingest", "state", "token"]),
    ("billing", &["audit", "config", "egress", "mail", "quota", "secrets", "state", "webhook_signature"]),
    ("invitations", &["audit", "auth", "db", "mail", "state", "token"]),
    ("api_keys", &["audit", "rate_limit", "secrets", "state", "token"]),
    ("members", &["api_keys", "audit", "db", "invitations", "state"]),
    ("accounts", &["audit", "auth", "db", "ingest", "invitations", "mail", "state", "token"]),
    ("deletion", &["audit", "auth", "billing", "db", "mail", "state"]),
    ("sso", &["audit", "auth", "db", "egress", "secrets", "state", "token"]),
    ("export", &[]),
];

/// Files compiled only for tests, which may reach across layers to build their cases.
const TEST_ONLY: &[&str] = &["agent/corpus.rs", "fuzzing.rs"];

/// The modules of `crate::server` that `source` names: `crate::server::x…` and each
/// name of `crate::server::{x, y::z}`.
fn used(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in source.match_indices("crate::server::") {
        let rest = &source[at + "crate::server::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inside = &group[..group.find('}').unwrap_or(group.len())];
            for name in inside.split(',') {
                let name = name.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    found.insert(name.to_string());
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            found.insert(name);
        }
    }
    found
}

fn rust_files(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the server sources are readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn every_backend_module_uses_only_what_its_layer_allows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut wrong = Vec::new();
    let mut modules = BTreeSet::new();
    let mut uses: BTreeSet<(String, String)> = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(&root).expect("under the root").to_string_lossy().replace('\\', "/");
        let module = relative.split('/').next().expect("a name").trim_end_matches(".rs").to_string();
        if module == "mod" {
            continue;
        }
        modules.insert(module.clone());
        if TEST_ONLY.contains(&relative.as_str()) {
            continue;
        }
        let Some((_, allowed)) = MAY_USE.iter().find(|(name, _)| *name == module) else {
            wrong.push(format!("{relative}: module {module} has no row in MAY_USE"));
            continue;
        };
        let source = std::fs::read_to_string(&file).expect("a readable source file");
        for target in used(&source) {
            if target != module && !allowed.contains(&target.as_str()) {
                wrong.push(format!("{relative} uses crate::server::{target}, which {module} may not use"));
            }
            uses.insert((module.clone(), target));
        }
    }
    // The table says what is, not what once was: an allowance nothing uses goes.
    for (module, allowed) in MAY_USE {
        for target in *allowed {
            if !uses.contains(&(module.to_string(), target.to_string())) {
                wrong.push(format!("{module} may use {target} but does not: remove it from MAY_USE"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layering:\n{}", wrong.join("\n"));
    // Every row names a module that exists, and only rows above its own (but the
    // composition root's exceptions): the table itself has no cycle.
    for (index, (module, allowed)) in MAY_USE.iter().enumerate() {
        assert!(
            modules.contains(*module) || TEST_ONLY.iter().any(|f| f.starts_with(module)),
            "{module} does not exist"
        );
        for target in *allowed {
            let below = MAY_USE[..index].iter().any(|(name, _)| name == target);
            assert!(
                below || matches!((*module, *target), ("state", "api_keys" | "ingest" | "mail")),
                "{module} may use {target}, which is not below it"
            );
        }
    }
}

#[test]
fn grouped_and_nested_imports_are_read() {
    let source = "use crate::server::{db, auth::context::RequestContext};\nlet x = crate::server::agent::llm::ask();";
    let found: Vec<String> = used(source).into_iter().collect();
    assert_eq!(found, ["agent", "auth", "db"]);
}
