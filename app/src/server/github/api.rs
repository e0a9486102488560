//! GitHub's REST API as DreamOps calls it, with the headers GitHub documents (`Accept:
//! application/vnd.github+json`, `X-GitHub-Api-Version`, a `User-Agent`, the token as
//! a bearer): who a token belongs to, and a repository's deployments, merged pull
//! requests and commits in a time window (following `Link: rel="next"` pages, bounded).
//! And issues: opening one, commenting on it, closing it; and, as a GitHub App, its
//! slug and an installation's access token.
//! Its refusals are told apart: a revoked token, a rate limit (with until when), a
//! repository not found, GitHub down.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The API version every request names.
pub const API_VERSION: &str = "2022-11-28";
/// Pages read at most per list.
const MAX_PAGES: usize = 5;

/// One team's access to GitHub.
#[derive(Clone, Debug)]
pub struct GitHub {
    /// The API's address without a trailing slash (`https://api.github.com`).
    pub base: String,
    pub token: String,
}

/// Why GitHub gave no answer to act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("GitHub refused the token (HTTP 401): it was revoked, expired or mistyped")]
    Revoked,
    #[error("GitHub's rate limit is reached until {} UTC", .0.format("%H:%M"))]
    RateLimited(DateTime<Utc>),
    #[error("GitHub does not let this token do that (HTTP 403): give it access to the repository")]
    Forbidden,
    #[error("GitHub knows no such repository, or the token cannot see it (HTTP 404)")]
    NotFound,
    #[error("GitHub says issues are turned off in this repository (HTTP 410)")]
    IssuesDisabled,
    #[error("GitHub refused what DreamOps sent (HTTP 422): {0}")]
    Refused(String),
    #[error("GitHub could not be reached or failed ({0}); DreamOps tries again")]
    Unavailable(String),
    #[error("GitHub answered in a way DreamOps does not understand ({0})")]
    Unexpected(String),
}

/// A deployment, as GitHub lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct Deployment {
    pub id: i64,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: String,
    #[serde(default)]
    pub environment: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub creator: Option<Account>,
}

/// A pull request, as GitHub lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct PullRequest {
    pub number: i64,
    pub title: String,
    #[serde(default)]
    pub user: Option<Account>,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    pub html_url: String,
}

/// A commit, as GitHub lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct Commit {
    pub sha: String,
    pub commit: CommitDetail,
    #[serde(default)]
    pub author: Option<Account>,
    pub html_url: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CommitDetail {
    pub message: String,
    pub committer: Option<Signature>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Signature {
    pub date: DateTime<Utc>,
}

/// An issue GitHub opened.
#[derive(Clone, Debug, Deserialize)]
pub struct Issue {
    pub number: i64,
    pub html_url: String,
}

/// A GitHub account.
#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    pub login: String,
}

impl GitHub {
    fn client() -> &'static reqwest::Client {
        static CLIENT: std::sync::LazyLock<reqwest::Client> =
            std::sync::LazyLock::new(|| crate::server::egress::provider_client(Duration::from_secs(10)));
        &CLIENT
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        Self::client()
            .request(method, url)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .bearer_auth(&self.token)
    }

    /// Sends `request`; the answer if it succeeded, else why not.
    async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
        let response = request.send().await.map_err(|error| {
            Failure::Unavailable(if error.is_timeout() { "no answer in time".into() } else { "no connection".into() })
        })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        // GitHub says a rate limit by 429, or by 403 with no requests remaining or a
        // Retry-After (its secondary limits).
        let retry_after = header("retry-after").and_then(|s| s.trim().parse::<i64>().ok());
        let reset = header("x-ratelimit-reset").and_then(|s| s.trim().parse::<i64>().ok());
        let exhausted = header("x-ratelimit-remaining").as_deref() == Some("0");
        if status == 429 || (status == 403 && (exhausted || retry_after.is_some())) {
            let at = match (retry_after, reset) {
                (Some(seconds), _) => Utc::now() + chrono::Duration::seconds(seconds.clamp(1, 3600)),
                (None, Some(reset)) => DateTime::from_timestamp(reset, 0).unwrap_or_else(Utc::now),
                (None, None) => Utc::now() + chrono::Duration::seconds(60),
            };
            return Err(Failure::RateLimited(at));
        }
        Err(match status {
            401 => Failure::Revoked,
            403 => Failure::Forbidden,
            404 => Failure::NotFound,
            410 => Failure::IssuesDisabled,
            422 => {
                let answer: serde_json::Value = response.json().await.unwrap_or_default();
                Failure::Refused(answer["message"].as_str().unwrap_or("validation failed").chars().take(200).collect())
            }
            500.. => Failure::Unavailable(format!("HTTP {status}")),
            _ => Failure::Unexpected(format!("HTTP {status}")),
        })
    }

    async fn json<T: for<'de> Deserialize<'de>>(response: reqwest::Response) -> Result<T, Failure> {
        response.json::<T>().await.map_err(|_| Failure::Unexpected("not the JSON GitHub documents".into()))
    }

    /// The login the token belongs to (`GET /user`): the connection test.
    pub async fn login(&self) -> Result<String, Failure> {
        let response = Self::send(self.request(reqwest::Method::GET, &format!("{}/user", self.base))).await?;
        Ok(Self::json::<Account>(response).await?.login)
    }

    /// Every page of the list at `path` with `query`, following `Link: rel="next"` (only
    /// to this API's own address), at most [`MAX_PAGES`] pages; `keep_going` sees each
    /// page and says whether the next could still hold something wanted.
    async fn pages<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, String)],
        keep_going: impl Fn(&[T]) -> bool,
    ) -> Result<Vec<T>, Failure> {
        let mut found = Vec::new();
        let mut request = self.request(reqwest::Method::GET, &format!("{}{path}", self.base)).query(query);
        for _ in 0..MAX_PAGES {
            let response = Self::send(request).await?;
            let next = response
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_page)
                .filter(|next| next.starts_with(&format!("{}/", self.base)));
            let page: Vec<T> = Self::json(response).await?;
            let more = !page.is_empty() && keep_going(&page);
            found.extend(page);
            match next {
                Some(next) if more => request = self.request(reqwest::Method::GET, &next),
                _ => break,
            }
        }
        Ok(found)
    }

    /// The repository's deployments created since `since`, newest first.
    pub async fn deployments(&self, repository: &str, since: DateTime<Utc>) -> Result<Vec<Deployment>, Failure> {
        let path = format!("/repos/{repository}/deployments");
        let all: Vec<Deployment> = self
            .pages(&path, &[("per_page", "100".into())], |page: &[Deployment]| {
                page.last().is_some_and(|d| d.created_at >= since)
            })
            .await?;
        Ok(all.into_iter().filter(|d| d.created_at >= since).collect())
    }

    /// Pull requests into `branch` merged between `since` and `until`, newest first.
    pub async fn merged_pulls(
        &self,
        repository: &str,
        branch: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<PullRequest>, Failure> {
        let path = format!("/repos/{repository}/pulls");
        let query = [
            ("state", "closed".to_string()),
            ("base", branch.to_string()),
            ("sort", "updated".to_string()),
            ("direction", "desc".to_string()),
            ("per_page", "100".to_string()),
        ];
        // Sorted by update: a page whose last pull request was updated before the
        // window holds the last merges that can matter.
        let all: Vec<serde_json::Value> = self
            .pages(&path, &query, |page: &[serde_json::Value]| {
                page.last()
                    .and_then(|pull| pull["updated_at"].as_str())
                    .and_then(|at| at.parse::<DateTime<Utc>>().ok())
                    .is_some_and(|at| at >= since)
            })
            .await?;
        let mut merged: Vec<PullRequest> = all
            .into_iter()
            .filter_map(|pull| serde_json::from_value::<PullRequest>(pull).ok())
            .filter(|pull| pull.merged_at.is_some_and(|at| at >= since && at <= until))
            .collect();
        merged.sort_by_key(|pull| std::cmp::Reverse(pull.merged_at));
        Ok(merged)
    }

    /// Commits on `branch` between `since` and `until`, newest first.
    pub async fn commits(
        &self,
        repository: &str,
        branch: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Commit>, Failure> {
        let path = format!("/repos/{repository}/commits");
        let query = [
            ("sha", branch.to_string()),
            ("since", since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            ("until", until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            ("per_page", "100".to_string()),
        ];
        self.pages(&path, &query, |_: &[Commit]| true).await
    }
}

impl GitHub {
    /// The app's slug (`GET /app`), authenticated as the app (its JWT as the token).
    pub async fn app_slug(&self) -> Result<String, Failure> {
        let response = Self::send(self.request(reqwest::Method::GET, &format!("{}/app", self.base))).await?;
        let app: serde_json::Value = Self::json(response).await?;
        app["slug"].as_str().map(str::to_string).ok_or_else(|| Failure::Unexpected("an app without a slug".into()))
    }

    /// A new access token for installation `id` (`POST
    /// /app/installations/{id}/access_tokens`), authenticated as the app; with when it
    /// expires.
    pub async fn installation_token(&self, id: i64) -> Result<(String, DateTime<Utc>), Failure> {
        #[derive(Deserialize)]
        struct Minted {
            token: String,
            expires_at: DateTime<Utc>,
        }
        let url = format!("{}/app/installations/{id}/access_tokens", self.base);
        let minted: Minted = Self::json(Self::send(self.request(reqwest::Method::POST, &url)).await?).await?;
        Ok((minted.token, minted.expires_at))
    }

    /// Opens an issue in `repository` (`POST /repos/{owner}/{repo}/issues`).
    pub async fn create_issue(
        &self,
        repository: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<Issue, Failure> {
        let url = format!("{}/repos/{repository}/issues", self.base);
        let request = self
            .request(reqwest::Method::POST, &url)
            .json(&serde_json::json!({ "title": title, "body": body, "labels": labels }));
        Self::json(Self::send(request).await?).await
    }

    /// Comments on issue `number` (`POST /repos/{owner}/{repo}/issues/{number}/comments`).
    pub async fn comment(&self, repository: &str, number: i64, body: &str) -> Result<(), Failure> {
        let url = format!("{}/repos/{repository}/issues/{number}/comments", self.base);
        Self::send(self.request(reqwest::Method::POST, &url).json(&serde_json::json!({ "body": body }))).await?;
        Ok(())
    }

    /// Closes issue `number` as completed (`PATCH /repos/{owner}/{repo}/issues/{number}`).
    pub async fn close_issue(&self, repository: &str, number: i64) -> Result<(), Failure> {
        let url = format!("{}/repos/{repository}/issues/{number}", self.base);
        let body = serde_json::json!({ "state": "closed", "state_reason": "completed" });
        Self::send(self.request(reqwest::Method::PATCH, &url).json(&body)).await?;
        Ok(())
    }
}

/// The `rel="next"` address of a `Link` header.
fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|param| param.trim() == "rel=\"next\"")
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        let link = "<https://api.github.com/repositories/1/pulls?page=2>; rel=\"next\", <https://api.github.com/repositories/1/pulls?page=5>; rel=\"last\"";
        assert_eq!(super::next_page(link).as_deref(), Some("https://api.github.com/repositories/1/pulls?page=2"));
        assert_eq!(super::next_page("<https://api.github.com/x?page=1>; rel=\"prev\""), None);
        assert_eq!(super::next_page(""), None);
    }
}
