//! GitHub, per team: a token, or a GitHub App installation (`app`) — sealed like every
//! stored credential — with the account it belongs to, and a map from services to
//! repositories and branches, set on the integrations page; "what changed" — the service's deployments, merged pull requests
//! and commits just before the first alert, matched with the cluster's rollouts — for
//! the agent's evidence and timeline; and the issues DreamOps opens there (`issues`).

pub mod api;
pub mod app;
pub mod issues;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use self::api::{Failure, GitHub};
use crate::domain::github::{GitHubRepository, GitHubSettings};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::secrets::Place;
use crate::server::state::AppState;

/// GitHub's API, unless `GITHUB_API_BASE` says otherwise.
pub const API_BASE: &str = "https://api.github.com";
/// How far before the first alert changes are looked for.
pub const WINDOW: Duration = Duration::hours(24);
/// A change this close before the first alert is taken to be related to it.
pub const RELATED_WITHIN: Duration = Duration::minutes(60);
/// The most services a team maps.
const MAPPINGS_MAX: usize = 200;

/// How a team reaches GitHub.
enum Access {
    /// A personal access token (or any token GitHub takes as a bearer).
    Token(String),
    /// A GitHub App installation, which mints its tokens.
    App(app::Installation),
}

/// The team's saved access, opened; `None` when it did not connect GitHub.
async fn access(state: &AppState, team: Uuid) -> Result<Option<Access>, AppError> {
    /// The sealed secret, its kind, the app and the installation.
    type Stored = (Vec<u8>, String, Option<String>, Option<i64>);
    let row: Option<Stored> =
        sqlx::query_as("select token, kind, app_id, installation_id from github_connections where team_id = $1")
            .bind(team)
            .fetch_optional(&state.db)
            .await
            .or_internal("reading the GitHub connection failed")?;
    let Some((sealed, kind, app_id, installation_id)) = row else { return Ok(None) };
    let secret =
        state.cipher.open(&sealed, &Place::github_token(team)).or_internal("opening the GitHub token failed")?;
    let secret = String::from_utf8(secret).or_internal("opening the GitHub token failed")?;
    Ok(Some(match (kind.as_str(), app_id, installation_id) {
        ("app", Some(app_id), Some(installation_id)) => {
            Access::App(app::Installation { app_id, installation_id, private_key: secret })
        }
        _ => Access::Token(secret),
    }))
}

/// The team's GitHub access, when it connected GitHub: its token, or a token minted for
/// its app installation.
pub async fn client(state: &AppState, team: Uuid) -> Result<Option<GitHub>, AppError> {
    let base = state.settings.github_api_base.clone();
    match access(state, team).await? {
        None => Ok(None),
        Some(Access::Token(token)) => Ok(Some(GitHub { base, token })),
        Some(Access::App(installation)) => {
            let token = app::token(&base, team, &installation).await.map_err(|failure| {
                AppError::Conflict(format!("GitHub gave the app installation no token: {failure}"))
            })?;
            Ok(Some(GitHub { base, token }))
        }
    }
}

/// The team's GitHub settings, as the integrations page shows them (never the token).
pub async fn settings(db: &PgPool, team: Uuid) -> Result<GitHubSettings, AppError> {
    let login: Option<String> = sqlx::query_scalar("select login from github_connections where team_id = $1")
        .bind(team)
        .fetch_optional(db)
        .await
        .or_internal("reading the GitHub settings failed")?;
    let repositories: Vec<(String, String, String)> = sqlx::query_as(
        "select service, repository, branch from github_repositories where team_id = $1 order by service",
    )
    .bind(team)
    .fetch_all(db)
    .await
    .or_internal("reading the GitHub settings failed")?;
    let repositories = repositories
        .into_iter()
        .map(|(service, repository, branch)| GitHubRepository { service, repository, branch })
        .collect();
    let issues =
        issues::settings(db, team).await.or_internal("reading the GitHub settings failed")?.unwrap_or_default();
    Ok(GitHubSettings { login, repositories, issues })
}

/// Connects the team to GitHub with `token`, after asking GitHub whose it is (the
/// connection test); the account's login.
pub async fn connect(state: &AppState, acting: &Acting, token: &str) -> Result<String, AppError> {
    let token = token.trim();
    if token.is_empty() || token.len() > 255 || token.contains(char::is_whitespace) {
        return Err(AppError::field("token", "Paste a GitHub token: a fine-grained personal access token."));
    }
    let github = GitHub { base: state.settings.github_api_base.clone(), token: token.to_string() };
    let login = github.login().await.map_err(|failure| AppError::field("token", failure.to_string()))?;
    let sealed = state.cipher.seal(token.as_bytes(), &Place::github_token(acting.team_id));
    sqlx::query(
        "insert into github_connections (team_id, token, login) values ($1, $2, $3)
         on conflict (team_id) do update set token = $2, login = $3, kind = 'token', app_id = null,
                                             installation_id = null, updated_at = now()",
    )
    .bind(acting.team_id)
    .bind(sealed)
    .bind(&login)
    .execute(&state.db)
    .await
    .or_internal("saving the GitHub connection failed")?;
    app::forget(acting.team_id);
    acting.audit(&state.db, "github.connected", None, serde_json::json!({ "login": login })).await?;
    Ok(login)
}

/// Connects the team to GitHub as installation `installation_id` of the app
/// `app_id`, whose private key is `private_key` (PEM): the app must be GitHub's, and the
/// installation must give it a token. The app's login (`slug[bot]`).
pub async fn connect_app(
    state: &AppState,
    acting: &Acting,
    app_id: &str,
    installation_id: &str,
    private_key: &str,
) -> Result<String, AppError> {
    let app_id = app_id.trim();
    if app_id.is_empty()
        || app_id.len() > 64
        || !app_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(AppError::field("app_id", "The app's id (or client id), from its settings page on GitHub."));
    }
    let installation_id = installation_id.trim().parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        AppError::field("installation_id", "The installation's number, from the address of its settings page.")
    })?;
    if private_key.len() > 16_000 {
        return Err(AppError::field("private_key", "That is too long for a private key."));
    }
    let key = app::private_key(private_key).map_err(|why| AppError::field("private_key", why))?;
    let base = state.settings.github_api_base.clone();
    let as_app = GitHub { base: base.clone(), token: app::jwt(app_id, &key, chrono::Utc::now()) };
    let slug = as_app.app_slug().await.map_err(|failure| AppError::field("app_id", failure.to_string()))?;
    as_app
        .installation_token(installation_id)
        .await
        .map_err(|failure| AppError::field("installation_id", failure.to_string()))?;
    let login = format!("{slug}[bot]");
    let sealed = state.cipher.seal(private_key.trim().as_bytes(), &Place::github_token(acting.team_id));
    sqlx::query(
        "insert into github_connections (team_id, token, login, kind, app_id, installation_id)
         values ($1, $2, $3, 'app', $4, $5)
         on conflict (team_id) do update set token = $2, login = $3, kind = 'app', app_id = $4,
                                             installation_id = $5, updated_at = now()",
    )
    .bind(acting.team_id)
    .bind(sealed)
    .bind(&login)
    .bind(app_id)
    .bind(installation_id)
    .execute(&state.db)
    .await
    .or_internal("saving the GitHub connection failed")?;
    app::forget(acting.team_id);
    let details = serde_json::json!({ "login": login, "installation": installation_id });
    acting.audit(&state.db, "github.connected", None, details).await?;
    Ok(login)
}

/// Tests the saved access again: who it is (a token's account, an app's login, with a
/// new installation token minted), or why GitHub refused it.
pub async fn test(state: &AppState, acting: &Acting) -> Result<String, AppError> {
    let team = acting.team_id;
    let refused = |failure: Failure| AppError::Conflict(failure.to_string());
    match access(state, team).await?.ok_or_else(|| AppError::Conflict("GitHub is not connected.".into()))? {
        Access::Token(token) => {
            GitHub { base: state.settings.github_api_base.clone(), token }.login().await.map_err(refused)
        }
        Access::App(installation) => {
            app::forget(team);
            client(state, team).await?;
            let key = app::private_key(&installation.private_key).map_err(|why| AppError::Conflict(why.into()))?;
            let jwt = app::jwt(&installation.app_id, &key, chrono::Utc::now());
            let slug = GitHub { base: state.settings.github_api_base.clone(), token: jwt }
                .app_slug()
                .await
                .map_err(refused)?;
            Ok(format!("{slug}[bot]"))
        }
    }
}

/// Forgets the team's GitHub token and settings (the service map stays).
pub async fn disconnect(state: &AppState, acting: &Acting) -> Result<(), AppError> {
    sqlx::query("delete from github_connections where team_id = $1")
        .bind(acting.team_id)
        .execute(&state.db)
        .await
        .or_internal("disconnecting GitHub failed")?;
    app::forget(acting.team_id);
    acting.audit(&state.db, "github.disconnected", None, serde_json::json!({})).await
}

/// Replaces the team's map from services to repositories, written one per line as
/// `service = owner/repository` or `service = owner/repository@branch` (branch
/// `main` when not given).
pub async fn set_repositories(
    state: &AppState,
    acting: &Acting,
    text: &str,
) -> Result<Vec<GitHubRepository>, AppError> {
    let mut map: Vec<GitHubRepository> = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let bad = || AppError::field("repositories", format!("\"{line}\" is not service = owner/repository[@branch]."));
        let (service, target) = line.split_once('=').ok_or_else(bad)?;
        let (repository, branch) = target.trim().split_once('@').unwrap_or((target.trim(), "main"));
        let valid = issues::is_repository(repository)
            && !branch.trim().is_empty()
            && branch.len() <= 200
            && !branch.contains(char::is_whitespace)
            && !service.trim().is_empty()
            && service.trim().len() <= 200;
        if !valid {
            return Err(bad());
        }
        let service = service.trim().to_string();
        if map.iter().any(|known| known.service == service) {
            return Err(AppError::field("repositories", format!("\"{service}\" is mapped twice.")));
        }
        map.push(GitHubRepository { service, repository: repository.to_string(), branch: branch.trim().to_string() });
    }
    if map.len() > MAPPINGS_MAX {
        return Err(AppError::field("repositories", format!("At most {MAPPINGS_MAX} services.")));
    }
    let mut tx = state.db.begin().await.or_internal("saving the repositories failed")?;
    sqlx::query("delete from github_repositories where team_id = $1")
        .bind(acting.team_id)
        .execute(&mut *tx)
        .await
        .or_internal("saving the repositories failed")?;
    for entry in &map {
        sqlx::query("insert into github_repositories (team_id, service, repository, branch) values ($1, $2, $3, $4)")
            .bind(acting.team_id)
            .bind(&entry.service)
            .bind(&entry.repository)
            .bind(&entry.branch)
            .execute(&mut *tx)
            .await
            .or_internal("saving the repositories failed")?;
    }
    acting.audit(&mut *tx, "github.repositories_set", None, serde_json::json!({ "services": map.len() })).await?;
    tx.commit().await.or_internal("saving the repositories failed")?;
    Ok(map)
}

/// The repository and branch a team's `service` lives in.
pub async fn repository_of(db: &PgPool, team: Uuid, service: &str) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select repository, branch from github_repositories where team_id = $1 and lower(service) = lower($2)",
    )
    .bind(team)
    .bind(service)
    .fetch_optional(db)
    .await
}

/// A rollout of the workload in the cluster: its revision and when it began.
#[derive(Clone, Debug)]
pub struct Rollout {
    pub revision: i64,
    pub at: DateTime<Utc>,
}

/// The change that came last before an incident's first alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    /// "Changed 12 minutes before the first alert: PR #123 "Bump cache size" by alice
    /// (acme/shop), deployed as revision 7."
    pub line: String,
    pub minutes_before: i64,
    /// A rollout of the cluster followed it before the alert.
    pub rolled_out: Option<i64>,
}

/// What changed in `repository` (`branch`) in the [`WINDOW`] before `first_alert`: the
/// last merged pull request, else the last deployment, else the last commit; with the
/// cluster's first rollout after it, when there is one before the alert.
pub async fn what_changed(
    github: &GitHub,
    repository: &str,
    branch: &str,
    first_alert: DateTime<Utc>,
    rollouts: &[Rollout],
) -> Result<Option<Changed>, Failure> {
    let since = first_alert - WINDOW;
    let (pulls, deployments) = tokio::join!(
        github.merged_pulls(repository, branch, since, first_alert),
        github.deployments(repository, since)
    );
    let (pulls, deployments) = (pulls?, deployments?);
    let deployment = deployments.into_iter().filter(|d| d.created_at <= first_alert).max_by_key(|d| d.created_at);
    let (at, what) = if let Some(pull) = pulls.first() {
        let by = pull.user.as_ref().map(|user| format!(" by {}", user.login)).unwrap_or_default();
        (pull.merged_at.unwrap_or(first_alert), format!("PR #{} \"{}\"{by} ({repository})", pull.number, pull.title))
    } else if let Some(deployment) = &deployment {
        let sha: String = deployment.sha.chars().take(7).collect();
        let by = deployment.creator.as_ref().map(|user| format!(" by {}", user.login)).unwrap_or_default();
        let to = deployment.environment.as_deref().map(|env| format!(" to {env}")).unwrap_or_default();
        (deployment.created_at, format!("deployment of {} ({sha}){to}{by} ({repository})", deployment.git_ref))
    } else {
        let commits = github.commits(repository, branch, since, first_alert).await?;
        let Some(commit) = commits.first() else { return Ok(None) };
        let sha: String = commit.sha.chars().take(7).collect();
        let title = commit.commit.message.lines().next().unwrap_or_default();
        let by = commit.author.as_ref().map(|user| format!(" by {}", user.login)).unwrap_or_default();
        let at = commit.commit.committer.as_ref().map_or(first_alert, |c| c.date);
        (at, format!("commit {sha} \"{title}\"{by} ({repository})"))
    };
    let rolled_out = rollouts
        .iter()
        .filter(|rollout| rollout.at >= at && rollout.at <= first_alert)
        .min_by_key(|rollout| rollout.at)
        .map(|rollout| rollout.revision);
    let minutes_before = (first_alert - at).num_minutes().max(0);
    let mut line = format!("Changed {} before the first alert: {what}", minutes(minutes_before));
    if let Some(revision) = rolled_out {
        line.push_str(&format!(", deployed as revision {revision}"));
    }
    line.push('.');
    Ok(Some(Changed { line, minutes_before, rolled_out }))
}

/// What changed before `first_alert` in the repository the team maps `service` to; `None`
/// when GitHub is not connected or the service not mapped. What could not be read says
/// why, for the timeline.
pub async fn before_alert(
    state: &AppState,
    team: Uuid,
    service: &str,
    first_alert: DateTime<Utc>,
    rollouts: &[Rollout],
) -> Option<Result<Option<Changed>, String>> {
    let mapped = match repository_of(&state.db, team, service).await {
        Ok(mapped) => mapped?,
        Err(error) => return Some(Err(format!("the service's repository could not be read ({error})"))),
    };
    let github = match client(state, team).await {
        Ok(github) => github?,
        Err(error) => return Some(Err(error.to_string())),
    };
    let (repository, branch) = mapped;
    // Time-boxed: the analysis does not wait on GitHub for long.
    let asked = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        what_changed(&github, &repository, &branch, first_alert, rollouts),
    )
    .await;
    Some(match asked {
        Ok(Ok(changed)) => Ok(changed),
        Ok(Err(failure)) => Err(failure.to_string()),
        Err(_) => Err("GitHub did not answer within 20 seconds".into()),
    })
}

fn minutes(minutes: i64) -> String {
    match minutes {
        0 => "less than a minute".into(),
        1 => "1 minute".into(),
        2..120 => format!("{minutes} minutes"),
        _ => format!("{} hours", minutes / 60),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn minutes_read_as_people_say_them() {
        assert_eq!(super::minutes(0), "less than a minute");
        assert_eq!(super::minutes(12), "12 minutes");
        assert_eq!(super::minutes(300), "5 hours");
    }
}
