//! Notion's API as DreamOps calls it, with the headers Notion documents (the token as a
//! bearer, `Notion-Version`, JSON): whose token it is, a database's pages (following
//! `next_cursor` while `has_more`, bounded), a page's blocks, and a new page with its
//! blocks (100 per request, the rest appended). Its refusals are told apart: a revoked
//! token, something not shared with the integration, a rate limit (with until when),
//! Notion down, a request it refused.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

/// The API version every request names.
pub const API_VERSION: &str = "2022-06-28";
/// Pages of a list read at most.
const MAX_PAGES: usize = 20;
/// Blocks one request may carry.
const BLOCKS_PER_REQUEST: usize = 100;

/// One team's access to Notion.
#[derive(Clone, Debug)]
pub struct Notion {
    /// The API's address without a trailing slash (`https://api.notion.com`).
    pub base: String,
    pub token: String,
}

/// Why Notion gave no answer to act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("Notion refused the token (HTTP 401): it was revoked or mistyped")]
    Revoked,
    #[error("Notion does not let the integration do that (HTTP 403): give it the capability")]
    Forbidden,
    #[error("Notion finds no such page or database, or it is not shared with the integration (HTTP 404)")]
    NotFound,
    #[error("Notion's rate limit is reached until {} UTC", .0.format("%H:%M:%S"))]
    RateLimited(DateTime<Utc>),
    #[error("Notion refused the request ({0})")]
    Refused(String),
    #[error("Notion could not be reached or failed ({0})")]
    Unavailable(String),
    #[error("Notion answered in a way DreamOps does not understand ({0})")]
    Unexpected(String),
}

/// A page of a database, as a query lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct Page {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
    pub last_edited_time: DateTime<Utc>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub in_trash: bool,
    #[serde(default)]
    pub properties: serde_json::Map<String, Value>,
}

/// One page of a paginated list.
#[derive(Deserialize)]
struct List<T> {
    results: Vec<T>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// A page Notion created.
#[derive(Clone, Debug, Deserialize)]
pub struct Created {
    pub id: String,
    pub url: String,
}

impl Notion {
    fn client() -> &'static reqwest::Client {
        static CLIENT: std::sync::LazyLock<reqwest::Client> =
            std::sync::LazyLock::new(|| crate::server::egress::provider_client(Duration::from_secs(15)));
        &CLIENT
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        Self::client()
            .request(method, format!("{}{path}", self.base))
            .header("notion-version", API_VERSION)
            .bearer_auth(&self.token)
    }

    /// Sends `request`; the answer's JSON if it succeeded, else why not.
    async fn send<T: for<'de> Deserialize<'de>>(request: reqwest::RequestBuilder) -> Result<T, Failure> {
        let response = request.send().await.map_err(|error| {
            Failure::Unavailable(if error.is_timeout() { "no answer in time".into() } else { "no connection".into() })
        })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return response.json::<T>().await.map_err(|_| Failure::Unexpected("not the JSON Notion documents".into()));
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<i64>().ok());
        let error: Value = response.json().await.unwrap_or_default();
        let message: String = error["message"].as_str().unwrap_or("no reason given").chars().take(200).collect();
        Err(match (status, error["code"].as_str()) {
            (429, _) | (_, Some("rate_limited")) => {
                Failure::RateLimited(Utc::now() + chrono::Duration::seconds(retry_after.unwrap_or(1).clamp(1, 3600)))
            }
            (401, _) => Failure::Revoked,
            (403, _) => Failure::Forbidden,
            (404, _) => Failure::NotFound,
            (400 | 409 | 413 | 422, _) => Failure::Refused(format!("HTTP {status}: {message}")),
            (500.., _) => Failure::Unavailable(format!("HTTP {status}")),
            _ => Failure::Unexpected(format!("HTTP {status}")),
        })
    }

    /// The name of the integration the token belongs to, with its workspace
    /// (`GET /v1/users/me`): the connection test.
    pub async fn me(&self) -> Result<String, Failure> {
        let bot: Value = Self::send(self.request(reqwest::Method::GET, "/v1/users/me")).await?;
        let name = bot["name"].as_str().unwrap_or("the integration");
        Ok(match bot["bot"]["workspace_name"].as_str() {
            Some(workspace) => format!("{name} in {workspace}"),
            None => name.to_string(),
        })
    }

    /// Every page of database `id` (`POST /v1/databases/{id}/query`), at most
    /// [`MAX_PAGES`] lists of 100.
    pub async fn database_pages(&self, id: &str) -> Result<Vec<Page>, Failure> {
        let path = format!("/v1/databases/{}/query", encode(id));
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut body = json!({ "page_size": 100 });
            if let Some(cursor) = &cursor {
                body["start_cursor"] = json!(cursor);
            }
            let list: List<Page> = Self::send(self.request(reqwest::Method::POST, &path).json(&body)).await?;
            found.extend(list.results);
            match list.next_cursor.filter(|_| list.has_more) {
                Some(next) => cursor = Some(next),
                None => return Ok(found),
            }
        }
        Err(Failure::Refused(format!("the database has more than {} pages", MAX_PAGES * 100)))
    }

    /// The blocks of page or block `id` (`GET /v1/blocks/{id}/children`), in order.
    pub async fn blocks(&self, id: &str) -> Result<Vec<Value>, Failure> {
        let path = format!("/v1/blocks/{}/children", encode(id));
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("page_size", "100".to_string())];
            if let Some(cursor) = &cursor {
                query.push(("start_cursor", cursor.clone()));
            }
            let list: List<Value> = Self::send(self.request(reqwest::Method::GET, &path).query(&query)).await?;
            found.extend(list.results);
            match list.next_cursor.filter(|_| list.has_more) {
                Some(next) => cursor = Some(next),
                None => return Ok(found),
            }
        }
        Ok(found)
    }

    /// A new page titled `title` under page `parent`, holding `blocks` (`POST
    /// /v1/pages` with the first 100, `PATCH /v1/blocks/{id}/children` with the rest).
    pub async fn create_page(&self, parent: &str, title: &str, blocks: &[Value]) -> Result<Created, Failure> {
        let mut chunks = blocks.chunks(BLOCKS_PER_REQUEST);
        let body = json!({
            "parent": { "page_id": parent },
            "properties": { "title": { "title": [{ "type": "text", "text": { "content": title } }] } },
            "children": chunks.next().unwrap_or_default(),
        });
        let created: Created = Self::send(self.request(reqwest::Method::POST, "/v1/pages").json(&body)).await?;
        let append = format!("/v1/blocks/{}/children", encode(&created.id));
        for chunk in chunks {
            let _: Value =
                Self::send(self.request(reqwest::Method::PATCH, &append).json(&json!({ "children": chunk }))).await?;
        }
        Ok(created)
    }
}

/// A Notion id as a path segment: ids are hex with dashes; anything else is dropped.
fn encode(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_hexdigit() || *c == '-').collect()
}

/// The Notion id in `text`: an id, or a page or database address ending in one.
pub fn id_in(text: &str) -> Option<String> {
    let text = text.trim();
    let last = text.split(['?', '#']).next()?.rsplit(['/', '-']).next()?;
    let hex: String = if text.len() == 36 && text.chars().filter(|c| *c == '-').count() == 4 {
        text.replace('-', "")
    } else {
        last.to_string()
    };
    (hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| {
        let hex = hex.to_ascii_lowercase();
        format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_read_from_ids_and_addresses() {
        let id = Some("1429989f-e8ac-4eff-bc8f-57f56486db54".to_string());
        assert_eq!(super::id_in("1429989fe8ac4effbc8f57f56486db54"), id);
        assert_eq!(super::id_in("1429989f-e8ac-4eff-bc8f-57f56486db54"), id);
        assert_eq!(super::id_in("https://www.notion.so/acme/Runbooks-1429989fe8ac4effbc8f57f56486db54?v=abc"), id);
        assert_eq!(super::id_in("https://www.notion.so/1429989fe8ac4effbc8f57f56486db54"), id);
        assert_eq!(super::id_in("runbooks"), None);
        assert_eq!(super::id_in("../../v1/users"), None);
    }
}
