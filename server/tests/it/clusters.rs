//! Kubernetes clusters: kubeconfigs read, saved with their credentials sealed (never
//! shown again), renamed and removed; plugins and local files refused.

use app::api::clusters::{
    AddCluster, GetClusterOverview, ListClusters, ReadKubeconfig, RemoveCluster, RenameCluster, TestClusterConnection,
};
use app::domain::cluster::{ClusterView, ConnectionReport, RemediationMode};
use app::error::AppError;
use axum::http::StatusCode;
use uuid::Uuid;

use crate::support::{TestApp, User};

const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster: {server: "https://prod.example:6443", certificate-authority-data: Y2VydA==}
contexts:
- name: prod
  context: {cluster: prod-cluster, user: deployer, namespace: shop}
- name: plugin
  context: {cluster: prod-cluster, user: plugin-user}
users:
- name: deployer
  user: {token: cluster-secret-token-123}
- name: plugin-user
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "id"]}
"#;

/// Adds the cluster of `kubeconfig`'s `context` as `name`.
async fn add_from(user: &User, name: &str, kubeconfig: &str, context: &str) -> Result<ClusterView, AppError> {
    user.run(AddCluster { name: name.into(), kubeconfig: kubeconfig.into(), context: context.into(), namespace: None })
        .await
}

async fn add(user: &User, name: &str, context: &str) -> Result<ClusterView, AppError> {
    add_from(user, name, KUBECONFIG, context).await
}

/// Whether `result` is refused as invalid input that says `why`.
fn invalid<T: std::fmt::Debug>(result: &Result<T, AppError>, why: &str) -> bool {
    matches!(result, Err(error @ AppError::Validation(_)) if error.to_string().contains(why))
}

#[tokio::test]
async fn a_cluster_is_saved_from_a_kubeconfig_and_its_credentials_never_come_back() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@clusters.example", "Clusters").await;

    let read = owner.send(ReadKubeconfig { kubeconfig: KUBECONFIG.into() }).await.text().await.unwrap();
    assert!(!read.contains("cluster-secret-token-123"), "{read}");
    let read = owner.run(ReadKubeconfig { kubeconfig: KUBECONFIG.into() }).await.expect("the kubeconfig is read");
    assert_eq!(read.current.as_deref(), Some("prod"));
    assert_eq!(read.contexts[0].server, "https://prod.example:6443");

    let refused = add(&owner, "plugin", "plugin").await;
    assert!(invalid(&refused, "will not run"), "{refused:?}");
    let bad = owner.run(ReadKubeconfig { kubeconfig: "not: [a, kubeconfig".into() }).await;
    assert!(matches!(bad, Err(AppError::Validation(_))), "{bad:?}");

    let added = add(&owner, "production", "prod").await.expect("the cluster is added");
    assert_eq!(added.namespace, "shop", "the context's namespace by default");
    assert_eq!(added.user.as_deref(), Some("deployer"));
    assert_eq!(added.policy.mode, RemediationMode::ReadOnly);
    assert_eq!(added.policy.excluded_namespaces, ["kube-system"]);
    assert!(!added.policy.destructive_allowed);
    let again = add(&owner, "production", "prod").await;
    assert!(matches!(again, Err(AppError::Validation(_))), "names are unique: {again:?}");

    let listed = owner.send(ListClusters {}).await.text().await.unwrap();
    assert!(listed.contains("production") && !listed.contains("cluster-secret-token-123"), "{listed}");
    let state = app.state();
    let (team, sealed): (Uuid, Vec<u8>) =
        sqlx::query_as("select team_id, credentials_ciphertext from clusters").fetch_one(&state.db).await.unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("cluster-secret-token-123"), "sealed at rest");
    let id = added.id;
    let opened = app::server::clusters::kubeconfig(&state, team, id).await.unwrap();
    assert_eq!(opened.current_context.as_deref(), Some("prod"));
    assert_eq!(opened.contexts.len(), 1, "only the chosen context is kept");

    owner.run(RenameCluster { id, name: "prod-eu".into() }).await.expect("renamed");
    let names: Vec<String> = owner.run(ListClusters {}).await.unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["prod-eu"]);
    owner.run(RemoveCluster { id }).await.expect("removed");
    assert_eq!(owner.run(RemoveCluster { id }).await, Err(AppError::NotFound));
    let audited: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action like 'cluster.%' order by id")
            .fetch_all(&state.db)
            .await
            .unwrap();
    assert_eq!(audited, ["cluster.added", "cluster.renamed", "cluster.removed"]);
    app.stop().await;
}

/// A kubeconfig for `server` with three contexts: `c`, whose user signs in with a token;
/// `basic`, with a password; `certificate`, with a client certificate and key.
fn kubeconfig_for(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster: {{server: '{server}'}}\n\
         contexts:\n- name: c\n  context: {{cluster: k, user: u, namespace: shop}}\n\
         - name: basic\n  context: {{cluster: k, user: b}}\n\
         - name: certificate\n  context: {{cluster: k, user: x}}\n\
         users:\n- name: u\n  user: {{token: tok-3f9a1c77e2}}\n\
         - name: b\n  user: {{username: ops, password: pw-8d0b5e61aa}}\n\
         - name: x\n  user: {{client-certificate-data: Y2VydC03NzFhOWQ=, client-key-data: a2V5LWZhNDQyYjE5}}\n"
    )
}

async fn add_for(user: &User, name: &str, server: &str) -> Uuid {
    add_context(user, name, server, "c").await
}

async fn add_context(user: &User, name: &str, server: &str, context: &str) -> Uuid {
    add_from(user, name, &kubeconfig_for(server), context).await.expect("the cluster is added").id
}

async fn test_connection(user: &User, id: Uuid) -> ConnectionReport {
    user.run(TestClusterConnection { id }).await.expect("the connection is tested")
}

/// A loopback Kubernetes API that grants everything but patching and deleting, to the
/// token of [`kubeconfig_for`] only, and says who that token is.
async fn limited_api_server() -> String {
    use axum::Json;
    use axum::http::HeaderMap;
    use axum::routing::{get, post};
    let authorised = |headers: &HeaderMap| {
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer tok-3f9a1c77e2")
    };
    let router = axum::Router::new()
        .route(
            "/version",
            get(move |headers: HeaderMap| async move {
                if !authorised(&headers) {
                    return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({"kind": "Status", "code": 401}))).into_response();
                }
                Json(serde_json::json!({"major": "1", "minor": "30", "gitVersion": "v1.30.2", "gitCommit": "", "gitTreeState": "",
                                        "buildDate": "", "goVersion": "", "compiler": "", "platform": ""}))
                .into_response()
            }),
        )
        .route(
            "/api/v1/namespaces",
            get(|| async { Json(serde_json::json!({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": [{"metadata": {"name": "shop"}}]})) }),
        )
        .route(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            post(|| async { Json(serde_json::json!({"status": {"userInfo": {"username": "system:serviceaccount:ops:dreamops-agent"}}})) }),
        )
        .route(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            post(|Json(mut review): Json<serde_json::Value>| async move {
                let verb = review["spec"]["resourceAttributes"]["verb"].as_str().unwrap_or("").to_string();
                review["status"] = serde_json::json!({"allowed": verb != "patch" && verb != "delete"});
                (StatusCode::CREATED, Json(review))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

use axum::response::IntoResponse;

#[tokio::test]
async fn a_cluster_short_of_permissions_is_shown_what_to_grant() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("matrix@clusters.example", "Matrix").await;
    let id = add_for(&owner, "limited", &limited_api_server().await).await;
    let report = test_connection(&owner, id).await;
    assert_eq!(report.error, None, "{report:?}");
    assert_eq!(report.version.as_deref(), Some("v1.30.2"), "the saved token was presented");
    assert_eq!(report.namespaces, ["shop"]);
    let permissions = &report.permissions;
    let missing: Vec<&str> = permissions.iter().filter(|p| p.allowed == Some(false)).map(|p| p.rule.as_str()).collect();
    assert_eq!(missing, ["patch deployments.apps", "patch deployments.apps/scale", "delete pods"]);
    let delete = permissions.iter().find(|p| p.rule == "delete pods").unwrap();
    assert_eq!(
        delete.grant,
        "kubectl create clusterrole dreamops-delete-pods --verb=delete --resource=pods\n\
         kubectl create clusterrolebinding dreamops-delete-pods --clusterrole=dreamops-delete-pods --serviceaccount=ops:dreamops-agent"
    );
    assert!(permissions.iter().filter(|p| p.allowed == Some(true)).all(|p| p.grant.is_empty()));
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_or_silent_cluster_fails_the_test_with_the_reason_instead_of_hanging() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("down@clusters.example", "Down").await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let id = add_for(&owner, "down", &format!("http://{closed}")).await;
    let report = test_connection(&owner, id).await;
    // Classified: the transport's own words ("connection refused") would make the test
    // a port scanner.
    assert_eq!(report.error.as_deref(), Some("Reading the version (/version): could not connect to the API server"));
    assert_eq!(report.version, None);

    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let id = add_for(&owner, "silent", &format!("http://{address}")).await;
    let report = test_connection(&owner, id).await;
    let error = report.error.unwrap();
    assert!(error.contains("did not answer within 5 seconds"), "{error}");
    let overview = owner.run(GetClusterOverview { id }).await;
    assert!(matches!(&overview, Err(AppError::Conflict(why)) if why.contains("did not answer")), "{overview:?}");
    app.stop().await;
}

#[tokio::test]
async fn no_credential_of_a_saved_kubeconfig_is_stored_or_logged_in_plain_text() {
    let logs = crate::support::captured_logs();
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("secrets@clusters.example", "Secrets").await;
    let server = limited_api_server().await;
    owner.run(ReadKubeconfig { kubeconfig: kubeconfig_for(&server) }).await.expect("read");
    let id = add_for(&owner, "secretive", &server).await;
    test_connection(&owner, id).await;
    let _ = owner.run(GetClusterOverview { id }).await;
    for context in ["basic", "certificate"] {
        let id = add_context(&owner, context, &server, context).await;
        // The fake certificate fails to load: whatever the answer, nothing may leak.
        let _ = owner.run(TestClusterConnection { id }).await;
    }
    owner.run(ListClusters {}).await.expect("listed");
    // A kubeconfig refused for a plugin is not stored or logged either.
    assert!(add(&owner, "plugin", "plugin").await.is_err());

    let db = app.db().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "select quote_ident(table_name) from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let mut dump = String::new();
    for table in &tables {
        let rows: Option<String> = sqlx::query_scalar(&format!("select string_agg(t::text, E'\\n') from {table} t"))
            .fetch_one(&db)
            .await
            .unwrap();
        dump.push_str(&rows.unwrap_or_default());
    }
    assert!(dump.contains("secretive") && tables.len() > 10, "the dump holds the cluster");
    let logged = logs.text();
    assert!(logged.contains("/api/add_cluster"), "the requests' logs were captured");
    for secret in [
        "tok-3f9a1c77e2",
        "pw-8d0b5e61aa",
        "a2V5LWZhNDQyYjE5",
        "key-fa442b19",
        "Y2VydC03NzFhOWQ=",
        "cluster-secret-token-123",
    ] {
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!dump.contains(secret) && !dump.contains(&hex), "{secret} is in the database");
        assert!(!logged.contains(secret), "{secret} is in the logs");
    }
    app.stop().await;
}

/// A sealed credential opens only in the row and team it was sealed for: one copied
/// over another row (a restore gone wrong, a write through some other hole) fails to
/// open instead of handing one team's cluster to another.
#[tokio::test]
async fn a_kubeconfig_copied_to_another_teams_row_does_not_open_there() {
    let app = TestApp::spawn().await;
    let (_, alpha_cluster, alpha) = crate::demo_cluster::with_demo_cluster(&app, "ana@alpha.example").await;
    let (_, bravo_cluster, bravo) = crate::demo_cluster::with_demo_cluster(&app, "bo@bravo.example").await;
    let state = app.state();
    assert!(app::server::clusters::kubeconfig(&state, alpha, alpha_cluster).await.is_ok());
    sqlx::query(
        "update clusters set credentials_ciphertext = (select credentials_ciphertext from clusters where id = $2)
         where id = $1",
    )
    .bind(alpha_cluster)
    .bind(bravo_cluster)
    .execute(&state.db)
    .await
    .unwrap();
    let opened = app::server::clusters::kubeconfig(&state, alpha, alpha_cluster).await;
    assert!(opened.is_err(), "Bravo's kubeconfig opened as Alpha's: {:?}", opened.map(|k| k.clusters));
    assert!(app::server::clusters::kubeconfig(&state, bravo, bravo_cluster).await.is_ok(), "Bravo's own still opens");
    app.stop().await;
}
