//! Kubernetes clusters: kubeconfigs read, saved with their credentials sealed (never
//! shown again), renamed and removed; plugins and local files refused.

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

async fn add(user: &User, name: &str, context: &str) -> reqwest::Response {
    user.call("add_cluster", &[("name", name), ("kubeconfig", KUBECONFIG), ("context", context)]).await
}

#[tokio::test]
async fn a_cluster_is_saved_from_a_kubeconfig_and_its_credentials_never_come_back() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@clusters.example", "Clusters").await;

    let read = owner.call("read_kubeconfig", &[("kubeconfig", KUBECONFIG)]).await;
    assert_eq!(read.status(), StatusCode::OK);
    let read: serde_json::Value = read.json().await.unwrap();
    assert_eq!(read["current"], "prod");
    assert_eq!(read["contexts"][0]["server"], "https://prod.example:6443");
    assert!(!read.to_string().contains("cluster-secret-token-123"));

    let refused = add(&owner, "plugin", "plugin").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("will not run"));
    let bad = owner.call("read_kubeconfig", &[("kubeconfig", "not: [a, kubeconfig")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let added = add(&owner, "production", "prod").await;
    assert_eq!(added.status(), StatusCode::OK, "{}", added.text().await.unwrap());
    let added: serde_json::Value = added.json().await.unwrap();
    assert_eq!(added["namespace"], "shop", "the context's namespace by default");
    assert_eq!(added["user"], "deployer");
    assert_eq!(added["policy"]["mode"], "read_only");
    assert_eq!(added["policy"]["excluded_namespaces"], serde_json::json!(["kube-system"]));
    assert_eq!(added["policy"]["destructive_allowed"], false);
    assert_eq!(add(&owner, "production", "prod").await.status(), StatusCode::UNPROCESSABLE_ENTITY, "names are unique");

    let listed = owner.query("list_clusters").await.text().await.unwrap();
    assert!(listed.contains("production") && !listed.contains("cluster-secret-token-123"), "{listed}");
    let state = app.state();
    let (team, sealed): (Uuid, Vec<u8>) =
        sqlx::query_as("select team_id, credentials_ciphertext from clusters").fetch_one(&state.db).await.unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("cluster-secret-token-123"), "sealed at rest");
    let id: Uuid = added["id"].as_str().unwrap().parse().unwrap();
    let opened = app::server::clusters::kubeconfig(&state, team, id).await.unwrap();
    assert_eq!(opened.current_context.as_deref(), Some("prod"));
    assert_eq!(opened.contexts.len(), 1, "only the chosen context is kept");

    let id = id.to_string();
    assert_eq!(owner.call("rename_cluster", &[("id", &id), ("name", "prod-eu")]).await.status(), StatusCode::OK);
    assert!(owner.query("list_clusters").await.text().await.unwrap().contains("prod-eu"));
    assert_eq!(owner.call("remove_cluster", &[("id", &id)]).await.status(), StatusCode::OK);
    assert_eq!(owner.call("remove_cluster", &[("id", &id)]).await.status(), StatusCode::NOT_FOUND);
    let audited: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action like 'cluster.%' order by id")
            .fetch_all(&state.db)
            .await
            .unwrap();
    assert_eq!(audited, ["cluster.added", "cluster.renamed", "cluster.removed"]);
    app.stop().await;
}
