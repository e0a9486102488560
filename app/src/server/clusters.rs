//! A team's Kubernetes clusters: reading a pasted kubeconfig (its contexts), saving the
//! chosen context with its credentials sealed, and listing, renaming and removing them.
//!
//! A kubeconfig may tell a client to run a program (`exec`, `auth-provider`) or to read
//! files (`tokenFile`, `client-certificate`, `client-key`, `certificate-authority`): the
//! server would then run commands or read its own files on behalf of whoever uploaded
//! it. Such kubeconfigs are refused with a message saying what to use instead (inline
//! `*-data` fields and tokens).

use kube::config::{Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};
use uuid::Uuid;

use crate::domain::analysis::Risk;
use crate::domain::cluster::{
    ClusterView, KubeconfigContext, KubeconfigContexts, MAX_KUBECONFIG, RemediationMode, RemediationPolicy,
};
use crate::error::{AppError, OnConstraint, OrInternal};
use crate::server::audit::Acting;
use crate::server::secrets::Place;
use crate::server::state::AppState;

fn invalid(message: impl Into<String>) -> AppError {
    AppError::field("kubeconfig", message)
}

/// Parses `text` as a kubeconfig (YAML or JSON).
fn parse(text: &str) -> Result<Kubeconfig, AppError> {
    if text.trim().is_empty() {
        return Err(invalid("Paste or upload a kubeconfig."));
    }
    if text.len() > MAX_KUBECONFIG {
        return Err(invalid("A kubeconfig is 256 KB at most."));
    }
    let kubeconfig =
        Kubeconfig::from_yaml(text).map_err(|error| invalid(format!("This is not a kubeconfig: {error}")))?;
    if kubeconfig.contexts.is_empty() {
        return Err(invalid("The kubeconfig has no contexts."));
    }
    Ok(kubeconfig)
}

/// The contexts `text` offers, each with its server and user.
pub fn contexts(text: &str) -> Result<KubeconfigContexts, AppError> {
    let kubeconfig = parse(text)?;
    let contexts = kubeconfig
        .contexts
        .iter()
        .map(|named| {
            let context = named.context.as_ref();
            let server = context
                .and_then(|c| cluster_of(&kubeconfig, &c.cluster))
                .and_then(|cluster| cluster.cluster.as_ref()?.server.clone())
                .unwrap_or_default();
            KubeconfigContext {
                name: named.name.clone(),
                server,
                user: context.and_then(|c| c.user.clone()),
                namespace: context.and_then(|c| c.namespace.clone()),
            }
        })
        .collect();
    Ok(KubeconfigContexts { contexts, current: kubeconfig.current_context.clone() })
}

fn cluster_of<'a>(kubeconfig: &'a Kubeconfig, name: &str) -> Option<&'a NamedCluster> {
    kubeconfig.clusters.iter().find(|cluster| cluster.name == name)
}

fn user_of<'a>(kubeconfig: &'a Kubeconfig, name: &str) -> Option<&'a NamedAuthInfo> {
    kubeconfig.auth_infos.iter().find(|user| user.name == name)
}

/// The kubeconfig reduced to `context`: that context, its cluster and its user, the
/// context current. Refuses what the server must not do on an uploader's behalf.
fn reduce(kubeconfig: &Kubeconfig, context: &str) -> Result<(Kubeconfig, String, Option<String>), AppError> {
    let named: &NamedContext = kubeconfig
        .contexts
        .iter()
        .find(|named| named.name == context)
        .ok_or_else(|| AppError::field("context", format!("The kubeconfig has no context named {context:?}.")))?;
    let details = named.context.as_ref().ok_or_else(|| AppError::field("context", "The context is empty."))?;
    let cluster = cluster_of(kubeconfig, &details.cluster).ok_or_else(|| {
        invalid(format!("The context names a cluster, {:?}, that the kubeconfig lacks.", details.cluster))
    })?;
    let settings = cluster.cluster.as_ref().ok_or_else(|| invalid("The context's cluster is empty."))?;
    let server = settings
        .server
        .clone()
        .filter(|server| !server.trim().is_empty())
        .ok_or_else(|| invalid("The context's cluster has no server URL."))?;
    if !(server.starts_with("https://") || server.starts_with("http://")) {
        return Err(invalid("The cluster's server must be an http:// or https:// URL."));
    }
    if settings.certificate_authority.is_some() {
        return Err(invalid(
            "The cluster's certificate-authority names a file on your machine; use certificate-authority-data (the certificate itself, base64) instead.",
        ));
    }
    let user = match &details.user {
        Some(name) => {
            let user = user_of(kubeconfig, name)
                .ok_or_else(|| invalid(format!("The context names a user, {name:?}, that the kubeconfig lacks.")))?;
            if let Some(auth) = &user.auth_info {
                if auth.exec.is_some() || auth.auth_provider.is_some() {
                    return Err(invalid(
                        "The user signs in through a plugin (exec or auth-provider), which DreamOps will not run: use a service account token or a client certificate instead.",
                    ));
                }
                if auth.token_file.is_some() || auth.client_certificate.is_some() || auth.client_key.is_some() {
                    return Err(invalid(
                        "The user's credentials name files on your machine; paste them inline (token, client-certificate-data, client-key-data) instead.",
                    ));
                }
            }
            Some(user.clone())
        }
        None => None,
    };
    let reduced = Kubeconfig {
        clusters: vec![cluster.clone()],
        auth_infos: user.clone().into_iter().collect(),
        contexts: vec![named.clone()],
        current_context: Some(named.name.clone()),
        ..Kubeconfig::default()
    };
    Ok((reduced, server, user.map(|user| user.name)))
}

/// `text` read as a kubeconfig and reduced to `context` (see [`reduce`]): the kubeconfig
/// to store, its server, its user.
pub(crate) fn reduced(text: &str, context: &str) -> Result<(Kubeconfig, String, Option<String>), AppError> {
    reduce(&parse(text)?, context)
}

/// The columns of a [`ClusterRow`].
const COLUMNS: &str = "id, name, server_url, context, user_name, namespace, created_at, remediation_mode, \
                       max_autonomous_risk, excluded_namespaces, destructive_allowed, demo";

#[derive(sqlx::FromRow)]
struct ClusterRow {
    id: Uuid,
    name: String,
    server_url: String,
    context: String,
    user_name: Option<String>,
    namespace: String,
    created_at: chrono::DateTime<chrono::Utc>,
    remediation_mode: String,
    max_autonomous_risk: String,
    excluded_namespaces: Vec<String>,
    destructive_allowed: bool,
    demo: bool,
}

/// A remediation policy as stored: a mode or risk the database holds that this version
/// does not know reads as the most cautious one.
fn policy_of(mode: &str, risk: &str, excluded_namespaces: Vec<String>, destructive_allowed: bool) -> RemediationPolicy {
    RemediationPolicy {
        mode: mode.parse().unwrap_or(RemediationMode::ReadOnly),
        max_autonomous_risk: Risk::parse(risk).unwrap_or(Risk::Low),
        excluded_namespaces,
        destructive_allowed,
    }
}

/// Cluster `cluster`'s remediation policy, as remediation's checks need it (in the
/// caller's transaction).
pub async fn remediation_policy(
    db: &mut sqlx::PgConnection,
    team: Uuid,
    cluster: Uuid,
) -> Result<Option<RemediationPolicy>, sqlx::Error> {
    let row: Option<(String, String, Vec<String>, bool)> = sqlx::query_as(
        "select remediation_mode, max_autonomous_risk, excluded_namespaces, destructive_allowed
         from clusters where id = $1 and team_id = $2",
    )
    .bind(cluster)
    .bind(team)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(mode, risk, excluded_namespaces, destructive_allowed)| {
        policy_of(&mode, &risk, excluded_namespaces, destructive_allowed)
    }))
}

impl From<ClusterRow> for ClusterView {
    fn from(row: ClusterRow) -> Self {
        ClusterView {
            id: row.id,
            name: row.name,
            server: row.server_url,
            context: row.context,
            user: row.user_name,
            namespace: row.namespace,
            created_at: row.created_at,
            policy: policy_of(
                &row.remediation_mode,
                &row.max_autonomous_risk,
                row.excluded_namespaces,
                row.destructive_allowed,
            ),
            demo: row.demo,
        }
    }
}

/// A cluster's name, trimmed; refused when blank or too long.
fn cluster_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::field("name", "Name the cluster (e.g. production)."));
    }
    if name.chars().count() > 100 {
        return Err(AppError::field("name", "A cluster's name is 100 characters at most."));
    }
    Ok(name.to_string())
}

/// A cluster name the team uses already: the one refusal of saving a cluster.
fn duplicate_name() -> AppError {
    AppError::field("name", "The team has a cluster with this name already.")
}

/// Saves `context` of the kubeconfig `text` as the team's cluster `name`, working in
/// `namespace` (the context's own, or `default`, when blank).
pub async fn add(
    state: &AppState,
    acting: &Acting,
    name: &str,
    text: &str,
    context: &str,
    namespace: Option<&str>,
) -> Result<ClusterView, AppError> {
    let name = cluster_name(name)?;
    let (reduced, server, user) = reduced(text, context)?;
    // Checked again, names resolved, at every connection (`cluster_client::connect`).
    state
        .settings
        .outbound
        .policy()
        .check_url(&server)
        .map_err(|refused| invalid(format!("The cluster's server cannot be used: {refused}.")))?;
    let namespace = namespace
        .map(str::trim)
        .filter(|namespace| !namespace.is_empty())
        .map(str::to_string)
        .or_else(|| reduced.contexts[0].context.as_ref().and_then(|c| c.namespace.clone()))
        .unwrap_or_else(|| "default".to_string());
    let saved = SavedCluster {
        name: &name,
        server: &server,
        context,
        user: user.as_deref(),
        namespace: &namespace,
        kubeconfig: &reduced,
    };
    let mut tx = state.db.begin().await.or_internal("saving a cluster failed")?;
    let view = insert(&mut tx, state, acting, Uuid::new_v4(), &saved, false).await?;
    tx.commit().await.or_internal("saving a cluster failed")?;
    Ok(view)
}

/// A cluster about to be saved: what people may see, and the kubeconfig (stored sealed).
pub struct SavedCluster<'a> {
    pub name: &'a str,
    pub server: &'a str,
    pub context: &'a str,
    pub user: Option<&'a str>,
    pub namespace: &'a str,
    pub kubeconfig: &'a Kubeconfig,
}

/// Saves `cluster` as the team's cluster `id` (the demo cluster when `demo`), its
/// kubeconfig sealed to that row, audited.
pub async fn insert(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    acting: &Acting,
    id: Uuid,
    cluster: &SavedCluster<'_>,
    demo: bool,
) -> Result<ClusterView, AppError> {
    let json = serde_json::to_vec(cluster.kubeconfig).or_internal("sealing a kubeconfig failed")?;
    let sealed = state.cipher.seal(&json, &Place::cluster(acting.team_id, id));
    let row: ClusterRow = sqlx::query_as(&format!(
        "insert into clusters (id, team_id, name, server_url, context, user_name, namespace, credentials_ciphertext, created_by, demo)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         returning {COLUMNS}"
    ))
    .bind(id)
    .bind(acting.team_id)
    .bind(cluster.name)
    .bind(cluster.server)
    .bind(cluster.context)
    .bind(cluster.user)
    .bind(cluster.namespace)
    .bind(sealed)
    .bind(acting.member()?.user_id)
    .bind(demo)
    .fetch_one(&mut *tx)
    .await
    .on_constraint("clusters_team_id_name_key", duplicate_name, "saving a cluster failed")?;
    acting.audit(
        &mut *tx,
        "cluster.added",
        Some(&row.id.to_string()),
        serde_json::json!({ "name": cluster.name, "server": cluster.server, "context": cluster.context, "demo": demo }),
    )
    .await?;
    Ok(row.into())
}

/// The team's clusters, oldest first.
pub async fn list(db: &sqlx::PgPool, team: Uuid) -> Result<Vec<ClusterView>, AppError> {
    let rows: Vec<ClusterRow> =
        sqlx::query_as(&format!("select {COLUMNS} from clusters where team_id = $1 order by created_at, id"))
            .bind(team)
            .fetch_all(db)
            .await
            .or_internal("listing clusters failed")?;
    Ok(rows.into_iter().map(ClusterView::from).collect())
}

/// Renames the team's cluster `id`.
pub async fn rename(state: &AppState, acting: &Acting, id: Uuid, name: &str) -> Result<(), AppError> {
    let name = cluster_name(name)?;
    let mut tx = state.db.begin().await.or_internal("renaming a cluster failed")?;
    let renamed = sqlx::query("update clusters set name = $3 where id = $1 and team_id = $2")
        .bind(id)
        .bind(acting.team_id)
        .bind(&name)
        .execute(&mut *tx)
        .await
        .on_constraint("clusters_team_id_name_key", duplicate_name, "saving a cluster failed")?;
    if renamed.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    acting.audit(&mut *tx, "cluster.renamed", Some(&id.to_string()), serde_json::json!({ "name": name })).await?;
    tx.commit().await.or_internal("renaming a cluster failed")
}

/// Removes the team's cluster `id` and its credentials.
pub async fn remove(state: &AppState, acting: &Acting, id: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("removing a cluster failed")?;
    let removed: Option<String> =
        sqlx::query_scalar("delete from clusters where id = $1 and team_id = $2 returning name")
            .bind(id)
            .bind(acting.team_id)
            .fetch_optional(&mut *tx)
            .await
            .or_internal("removing a cluster failed")?;
    let name = removed.ok_or(AppError::NotFound)?;
    acting.audit(&mut *tx, "cluster.removed", Some(&id.to_string()), serde_json::json!({ "name": name })).await?;
    tx.commit().await.or_internal("removing a cluster failed")
}

/// The team's cluster `id`.
pub async fn get(db: &sqlx::PgPool, team: Uuid, id: Uuid) -> Result<ClusterView, AppError> {
    let row: Option<ClusterRow> =
        sqlx::query_as(&format!("select {COLUMNS} from clusters where id = $1 and team_id = $2"))
            .bind(id)
            .bind(team)
            .fetch_optional(db)
            .await
            .or_internal("reading a cluster failed")?;
    row.map(ClusterView::from).ok_or(AppError::NotFound)
}

/// Whether `name` is a valid namespace name (an RFC 1123 label).
fn is_namespace_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The namespaces of a comma- or line-separated list, checked.
pub fn namespace_list(text: &str) -> Result<Vec<String>, AppError> {
    let mut namespaces: Vec<String> = Vec::new();
    for name in text.split([',', '\n', ' ']).map(str::trim).filter(|name| !name.is_empty()) {
        if !is_namespace_name(name) {
            return Err(AppError::field(
                "excluded_namespaces",
                format!("{name:?} is not a namespace name: lower-case letters, digits and '-', 63 at most."),
            ));
        }
        if !namespaces.iter().any(|known| known == name) {
            namespaces.push(name.to_string());
        }
    }
    Ok(namespaces)
}

/// Sets the remediation policy of the team's cluster `id`.
pub async fn set_policy(
    state: &AppState,
    acting: &Acting,
    id: Uuid,
    policy: &RemediationPolicy,
) -> Result<ClusterView, AppError> {
    let mut tx = state.db.begin().await.or_internal("saving a policy failed")?;
    let before: Option<ClusterRow> =
        sqlx::query_as(&format!("select {COLUMNS} from clusters where id = $1 and team_id = $2 for update"))
            .bind(id)
            .bind(acting.team_id)
            .fetch_optional(&mut *tx)
            .await
            .or_internal("saving a policy failed")?;
    let before = ClusterView::from(before.ok_or(AppError::NotFound)?).policy;
    let row: ClusterRow = sqlx::query_as(&format!(
        "update clusters set remediation_mode = $3, max_autonomous_risk = $4, excluded_namespaces = $5, destructive_allowed = $6
         where id = $1 and team_id = $2 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(acting.team_id)
    .bind(policy.mode.as_str())
    .bind(policy.max_autonomous_risk.as_str())
    .bind(&policy.excluded_namespaces)
    .bind(policy.destructive_allowed)
    .fetch_one(&mut *tx)
    .await
    .or_internal("saving a policy failed")?;
    acting
        .audit(
            &mut *tx,
            "cluster.policy_changed",
            Some(&id.to_string()),
            serde_json::json!({ "before": before, "after": policy }),
        )
        .await?;
    tx.commit().await.or_internal("saving a policy failed")?;
    Ok(row.into())
}

/// The saved kubeconfig of the team's cluster `id` (for the client that talks to it).
pub async fn kubeconfig(state: &crate::server::state::AppState, team: Uuid, id: Uuid) -> Result<Kubeconfig, AppError> {
    let sealed: Vec<u8> =
        sqlx::query_scalar("select credentials_ciphertext from clusters where id = $1 and team_id = $2")
            .bind(id)
            .bind(team)
            .fetch_optional(&state.db)
            .await
            .or_internal("reading a cluster failed")?
            .ok_or(AppError::NotFound)?;
    let plain =
        state.cipher.open(&sealed, &Place::cluster(team, id)).or_internal("opening a cluster's credentials failed")?;
    serde_json::from_slice(&plain).or_internal("reading a cluster's credentials failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://prod.example:6443
    certificate-authority-data: Y2VydA==
- name: staging-cluster
  cluster:
    server: https://staging.example:6443
contexts:
- name: prod
  context: {cluster: prod-cluster, user: deployer, namespace: shop}
- name: staging
  context: {cluster: staging-cluster, user: plugin-user}
- name: files
  context: {cluster: staging-cluster, user: file-user}
users:
- name: deployer
  user: {token: secret-token-123}
- name: plugin-user
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "id"]}
- name: file-user
  user: {tokenFile: /var/run/secrets/token}
"#;

    #[test]
    fn contexts_are_listed_with_their_server_and_user() {
        let found = contexts(KUBECONFIG).unwrap();
        assert_eq!(found.current.as_deref(), Some("prod"));
        let names: Vec<_> = found.contexts.iter().map(|c| (c.name.as_str(), c.server.as_str())).collect();
        assert_eq!(
            names,
            [
                ("prod", "https://prod.example:6443"),
                ("staging", "https://staging.example:6443"),
                ("files", "https://staging.example:6443")
            ]
        );
        assert_eq!(found.contexts[0].namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn plugins_and_files_are_refused_and_only_the_chosen_context_is_kept() {
        let kubeconfig = parse(KUBECONFIG).unwrap();
        let refused = |context| {
            reduce(&kubeconfig, context).map(|_| ()).unwrap_err().message_for("kubeconfig").unwrap().to_string()
        };
        assert!(refused("staging").contains("plugin"), "{}", refused("staging"));
        assert!(refused("files").contains("files on your machine"), "{}", refused("files"));
        assert!(reduce(&kubeconfig, "nowhere").is_err());
        let (reduced, server, user) = reduce(&kubeconfig, "prod").unwrap();
        assert_eq!((server.as_str(), user.as_deref()), ("https://prod.example:6443", Some("deployer")));
        let json = serde_json::to_string(&reduced).unwrap();
        assert!(json.contains("secret-token-123"), "the credentials travel with the context");
        assert!(!json.contains("staging") && !json.contains("/bin/sh"), "nothing of the other contexts: {json}");
        assert_eq!(serde_json::from_str::<Kubeconfig>(&json).unwrap().current_context.as_deref(), Some("prod"));
    }

    #[test]
    fn what_is_not_a_kubeconfig_is_said_so() {
        assert!(contexts("").unwrap_err().message_for("kubeconfig").unwrap().contains("Paste"));
        assert!(contexts("{{{").unwrap_err().message_for("kubeconfig").unwrap().contains("not a kubeconfig"));
        assert!(
            contexts("apiVersion: v1\nkind: Config\n")
                .unwrap_err()
                .message_for("kubeconfig")
                .unwrap()
                .contains("no contexts")
        );
    }
}
