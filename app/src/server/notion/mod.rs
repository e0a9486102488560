//! Notion, per team: an integration token (sealed like every stored credential) with
//! its workspace, tested when saved; runbooks imported from a Notion database — its
//! pages' titles, their "Alerts", "Services" and "Labels" properties and their text —
//! kept in sync by a periodic job (and on demand), each change a new version; and
//! post-mortems exported as Notion pages under a page the team chooses.

pub mod api;
pub mod blocks;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use self::api::{Failure, Notion, Page};
use crate::domain::notion::NotionSettings;
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::runbooks::{self, Draft, Imported, NotionPage};
use crate::server::secrets::Place;
use crate::server::state::AppState;

/// How often a team's runbooks are synced from Notion.
pub const SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Who the versions a sync makes are by.
pub const SYNCED_BY: &str = "Notion sync";

/// The team's Notion access, when it connected Notion.
pub async fn client(state: &AppState, team: Uuid) -> Result<Option<Notion>, AppError> {
    let sealed: Option<Vec<u8>> = sqlx::query_scalar("select token from notion_connections where team_id = $1")
        .bind(team)
        .fetch_optional(&state.db)
        .await
        .or_internal("reading the Notion connection failed")?;
    let Some(sealed) = sealed else { return Ok(None) };
    let token =
        state.cipher.open(&sealed, &Place::notion_token(team)).or_internal("opening the Notion token failed")?;
    let token = String::from_utf8(token).or_internal("opening the Notion token failed")?;
    Ok(Some(Notion { base: state.settings.notion_api_base.clone(), token }))
}

async fn connected(state: &AppState, team: Uuid) -> Result<Notion, AppError> {
    client(state, team)
        .await?
        .ok_or_else(|| AppError::Conflict("Connect Notion on the integrations page first.".into()))
}

/// The team's Notion settings (never the token).
pub async fn settings(db: &PgPool, team: Uuid) -> Result<NotionSettings, AppError> {
    type Stored = (String, Option<String>, Option<String>, Option<chrono::DateTime<Utc>>, i32, Option<String>);
    let row: Option<Stored> = sqlx::query_as(
        "select workspace, runbooks_database, postmortems_page, synced_at, synced_runbooks, sync_error
         from notion_connections where team_id = $1",
    )
    .bind(team)
    .fetch_optional(db)
    .await
    .or_internal("reading the Notion settings failed")?;
    Ok(row
        .map(|(workspace, runbooks_database, postmortems_page, synced_at, synced_runbooks, sync_error)| {
            NotionSettings {
                workspace: Some(workspace),
                runbooks_database,
                postmortems_page,
                synced_at,
                synced_runbooks,
                sync_error,
            }
        })
        .unwrap_or_default())
}

/// Connects the team to Notion with `token`, after asking Notion whose it is (the
/// connection test); the integration and its workspace.
pub async fn connect(state: &AppState, acting: &Acting, token: &str) -> Result<String, AppError> {
    let token = token.trim();
    if token.is_empty() || token.len() > 255 || token.contains(char::is_whitespace) {
        return Err(AppError::field("token", "Paste the internal integration secret of a Notion integration."));
    }
    let notion = Notion { base: state.settings.notion_api_base.clone(), token: token.to_string() };
    let workspace = notion.me().await.map_err(|failure| AppError::field("token", failure.to_string()))?;
    let sealed = state.cipher.seal(token.as_bytes(), &Place::notion_token(acting.team_id));
    sqlx::query(
        "insert into notion_connections (team_id, token, workspace) values ($1, $2, $3)
         on conflict (team_id) do update set token = $2, workspace = $3, updated_at = now()",
    )
    .bind(acting.team_id)
    .bind(sealed)
    .bind(&workspace)
    .execute(&state.db)
    .await
    .or_internal("saving the Notion connection failed")?;
    acting.audit(&state.db, "notion.connected", None, serde_json::json!({ "workspace": workspace })).await?;
    Ok(workspace)
}

/// Tests the saved token again: the integration and workspace, or why Notion refused.
pub async fn test(state: &AppState, acting: &Acting) -> Result<String, AppError> {
    connected(state, acting.team_id).await?.me().await.map_err(|failure| AppError::Conflict(failure.to_string()))
}

/// Forgets the team's Notion token and settings. Runbooks imported from Notion stay,
/// and are edited in DreamOps from then on.
pub async fn disconnect(state: &AppState, acting: &Acting) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("disconnecting Notion failed")?;
    sqlx::query("delete from notion_connections where team_id = $1")
        .bind(acting.team_id)
        .execute(&mut *tx)
        .await
        .or_internal("disconnecting Notion failed")?;
    sqlx::query(
        "update runbooks set notion_page = null, notion_url = null, notion_edited_at = null
         where team_id = $1 and notion_page is not null",
    )
    .bind(acting.team_id)
    .execute(&mut *tx)
    .await
    .or_internal("disconnecting Notion failed")?;
    acting.audit(&mut *tx, "notion.disconnected", None, serde_json::json!({})).await?;
    tx.commit().await.or_internal("disconnecting Notion failed")
}

/// Sets the database runbooks are imported from and the page post-mortems go under,
/// each an id or its Notion address (empty for none).
pub async fn set_places(
    state: &AppState,
    acting: &Acting,
    runbooks_database: &str,
    postmortems_page: &str,
) -> Result<NotionSettings, AppError> {
    let place = |field: &'static str, text: &str| -> Result<Option<String>, AppError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        api::id_in(text).map(Some).ok_or_else(|| {
            AppError::field(field, "Paste the Notion address (Share → Copy link) or the 32-character id.")
        })
    };
    let (database, page) =
        (place("runbooks_database", runbooks_database)?, place("postmortems_page", postmortems_page)?);
    let saved = sqlx::query(
        "update notion_connections set runbooks_database = $2, postmortems_page = $3, updated_at = now(),
                synced_at = case when runbooks_database is distinct from $2 then null else synced_at end
         where team_id = $1",
    )
    .bind(acting.team_id)
    .bind(&database)
    .bind(&page)
    .execute(&state.db)
    .await
    .or_internal("saving the Notion settings failed")?;
    if saved.rows_affected() == 0 {
        return Err(AppError::Conflict("Connect Notion first.".into()));
    }
    let details = serde_json::json!({ "runbooks_database": database, "postmortems_page": page });
    acting.audit(&state.db, "notion.places_set", None, details).await?;
    settings(&state.db, acting.team_id).await
}

/// The text of a page property of any kind that holds text: title, rich text, select,
/// multi-select (joined with commas).
fn property_text(value: &serde_json::Value) -> String {
    let plain = |parts: &serde_json::Value| {
        parts
            .as_array()
            .map(|parts| parts.iter().filter_map(|part| part["plain_text"].as_str()).collect::<String>())
            .unwrap_or_default()
    };
    match value["type"].as_str() {
        Some("title") => plain(&value["title"]),
        Some("rich_text") => plain(&value["rich_text"]),
        Some("select") => value["select"]["name"].as_str().unwrap_or_default().to_string(),
        Some("multi_select") => value["multi_select"]
            .as_array()
            .map(|options| options.iter().filter_map(|o| o["name"].as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The page's property named any of `names` (case does not matter), as text.
fn property(page: &Page, names: &[&str]) -> String {
    page.properties
        .iter()
        .find(|(name, _)| names.iter().any(|wanted| wanted.eq_ignore_ascii_case(name.trim())))
        .map(|(_, value)| property_text(value))
        .unwrap_or_default()
}

/// The page's title (its one title property).
fn title(page: &Page) -> String {
    page.properties.values().find(|value| value["type"] == "title").map(property_text).unwrap_or_default()
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub new: usize,
    pub changed: usize,
    pub removed: u64,
    /// Runbooks imported from the database now.
    pub runbooks: usize,
    /// Pages that could not be imported, and why.
    pub skipped: Vec<String>,
}

/// Imports the team's runbooks from its Notion database: new and edited pages (only
/// those are read), and the runbooks of pages gone from it removed. All or nothing.
async fn import(state: &AppState, team: Uuid, notion: &Notion, database: &str) -> Result<Synced, String> {
    let pages = notion.database_pages(database).await.map_err(|failure| failure.to_string())?;
    let known: Vec<(String, Option<chrono::DateTime<Utc>>)> = sqlx::query_as(
        "select notion_page, notion_edited_at from runbooks where team_id = $1 and notion_page is not null",
    )
    .bind(team)
    .fetch_all(&state.db)
    .await
    .map_err(|error| format!("reading the imported runbooks failed ({error})"))?;
    let mut synced = Synced::default();
    let mut kept = Vec::new();
    let mut drafts = Vec::new();
    for page in pages.iter().filter(|page| !page.archived && !page.in_trash) {
        kept.push(page.id.clone());
        let unchanged = known.iter().any(|(id, edited)| *id == page.id && *edited == Some(page.last_edited_time));
        if unchanged {
            continue;
        }
        let title = title(page);
        let body = blocks::to_markdown(&notion.blocks(&page.id).await.map_err(|failure| failure.to_string())?);
        let draft = Draft::from_form(
            &title,
            &body,
            &property(page, &["Alerts", "Alert names", "Alert name", "alertname"]),
            &property(page, &["Services", "Service"]),
            &property(page, &["Labels"]),
        );
        match draft {
            Ok(draft) => drafts.push((page, draft)),
            Err(error) => {
                let name = if title.trim().is_empty() {
                    "a page without a title".to_string()
                } else {
                    format!("\"{}\"", title.trim())
                };
                synced.skipped.push(format!("{name}: {error}"));
            }
        }
    }
    let failed = |error: sqlx::Error| format!("storing the runbooks failed ({error})");
    let mut tx = state.db.begin().await.map_err(failed)?;
    for (page, draft) in &drafts {
        let url = page.url.clone().unwrap_or_default();
        let from = NotionPage { id: &page.id, url: &url, edited_at: page.last_edited_time };
        match runbooks::import(&mut tx, team, &from, draft, SYNCED_BY).await.map_err(failed)? {
            Imported::New => synced.new += 1,
            Imported::Changed => synced.changed += 1,
            Imported::Unchanged => {}
        }
    }
    synced.removed = runbooks::remove_imported_except(&mut tx, team, &kept).await.map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    synced.runbooks = kept.len() - synced.skipped.len();
    Ok(synced)
}

/// Syncs the team's runbooks from Notion now and records how it went: what it did, or
/// why it could not.
pub async fn sync(state: &AppState, team: Uuid) -> Result<Synced, String> {
    let (notion, database) = match (client(state, team).await, settings(&state.db, team).await) {
        (Ok(Some(notion)), Ok(NotionSettings { runbooks_database: Some(database), .. })) => (notion, database),
        (Ok(None), _) => return Err("Notion is not connected".into()),
        (Ok(Some(_)), Ok(_)) => return Err("choose the database runbooks are imported from first".into()),
        (Err(error), _) | (_, Err(error)) => return Err(error.to_string()),
    };
    let synced = import(state, team, &notion, &database).await;
    let (count, error) = match &synced {
        Ok(synced) if synced.skipped.is_empty() => (Some(synced.runbooks as i32), None),
        Ok(synced) => (
            Some(synced.runbooks as i32),
            Some(format!(
                "{} page{} not imported: {}",
                synced.skipped.len(),
                if synced.skipped.len() == 1 { "" } else { "s" },
                synced.skipped.join("; ")
            )),
        ),
        Err(error) => (None, Some(error.clone())),
    };
    let recorded = sqlx::query(
        "update notion_connections set synced_at = now(), sync_started_at = null, sync_error = $2,
                synced_runbooks = coalesce($3, synced_runbooks)
         where team_id = $1",
    )
    .bind(team)
    .bind(error.map(|e| e.chars().take(1000).collect::<String>()))
    .bind(count)
    .execute(&state.db)
    .await;
    if let Err(error) = recorded {
        tracing::warn!(%error, %team, "recording a Notion sync failed");
    }
    synced
}

/// A responder syncs the team's runbooks now; what it did.
pub async fn sync_now(state: &AppState, acting: &Acting) -> Result<NotionSettings, AppError> {
    connected(state, acting.team_id).await?;
    let synced =
        sync(state, acting.team_id).await.map_err(|why| AppError::Conflict(format!("The sync failed: {why}.")))?;
    let details = serde_json::json!({ "new": synced.new, "changed": synced.changed, "removed": synced.removed });
    acting.audit(&state.db, "notion.synced", None, details).await?;
    settings(&state.db, acting.team_id).await
}

/// Syncs every team whose last sync is older than [`SYNC_EVERY`], one at a time: each
/// team is claimed by one instance (a claim older than 10 minutes is taken to have
/// died with its instance). How many teams were synced.
pub async fn sync_due(state: &AppState) -> usize {
    let mut teams = 0;
    loop {
        let claimed: Result<Option<Uuid>, sqlx::Error> = sqlx::query_scalar(
            "update notion_connections set sync_started_at = now()
             where team_id = (select team_id from notion_connections
                              where runbooks_database is not null
                                and (synced_at is null or synced_at < now() - make_interval(secs => $1))
                                and (sync_started_at is null or sync_started_at < now() - interval '10 minutes')
                              order by synced_at nulls first limit 1
                              for update skip locked)
             returning team_id",
        )
        .bind(SYNC_EVERY.as_secs_f64())
        .fetch_optional(&state.db)
        .await;
        match claimed {
            Ok(Some(team)) => {
                if let Err(why) = sync(state, team).await {
                    tracing::info!(%team, %why, "a Notion sync failed; it is tried again later");
                }
                teams += 1;
            }
            Ok(None) => return teams,
            Err(error) => {
                tracing::warn!(%error, "claiming a Notion sync failed");
                return teams;
            }
        }
    }
}

/// Exports the team's post-mortem `id` as a new Notion page under the team's page for
/// post-mortems; its address.
pub async fn export_postmortem(state: &AppState, acting: &Acting, id: Uuid) -> Result<String, AppError> {
    let team = acting.team_id;
    let postmortem = crate::server::postmortems::get(&state.db, team, id).await?;
    let notion = connected(state, team).await?;
    let parent = settings(&state.db, team).await?.postmortems_page.ok_or_else(|| {
        AppError::Conflict("Choose the Notion page post-mortems go under, on the integrations page, first.".into())
    })?;
    let mut blocks = blocks::from_markdown(&postmortem.body);
    let link = format!("{}/postmortems/{id}", state.public_url());
    blocks.extend(blocks::from_markdown(&format!("---\nExported from DreamOps by {}: {link}", acting.name())));
    let created = notion
        .create_page(&parent, &postmortem.summary.title, &blocks)
        .await
        .map_err(|failure: Failure| AppError::Conflict(format!("{failure}.")))?;
    let url = crate::domain::incident::web_link(&created.url).unwrap_or_default().to_string();
    let mut tx = state.db.begin().await.or_internal("recording the export failed")?;
    sqlx::query("update postmortems set notion_url = $3 where id = $1 and team_id = $2")
        .bind(id)
        .bind(team)
        .bind(&url)
        .execute(&mut *tx)
        .await
        .or_internal("recording the export failed")?;
    acting
        .audit(
            &mut *tx,
            "postmortem.exported_to_notion",
            Some(&id.to_string()),
            serde_json::json!({ "page": created.id }),
        )
        .await?;
    tx.commit().await.or_internal("recording the export failed")?;
    Ok(url)
}
