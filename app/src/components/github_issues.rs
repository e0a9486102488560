//! The GitHub issues DreamOps opened for an incident, its post-mortem or its action
//! items, as links (or "opening…", or why GitHub refused), for the incident and
//! post-mortem pages.

use leptos::prelude::*;

use crate::domain::github::{GitHubIssue, IssueState, IssueSubject};

/// The issues of `issues` about `subjects`, one per line; nothing when there are none.
#[component]
pub fn IssueList(issues: Vec<GitHubIssue>, subjects: &'static [IssueSubject]) -> impl IntoView {
    let shown: Vec<GitHubIssue> = issues.into_iter().filter(|issue| subjects.contains(&issue.subject)).collect();
    (!shown.is_empty()).then(|| {
        view! {
            <ul class="plain-list github-issues" data-testid="github-issues">
                {shown.into_iter().map(|issue| view! { <li><IssueLink issue /></li> }).collect_view()}
            </ul>
        }
    })
}

/// One issue: what it is for, then its link or where it is.
#[component]
fn IssueLink(issue: GitHubIssue) -> impl IntoView {
    let what = match issue.subject {
        IssueSubject::Incident => "GitHub issue".to_string(),
        IssueSubject::Postmortem => "Post-mortem issue".to_string(),
        IssueSubject::ActionItem => format!("Action item \"{}\"", issue.item),
    };
    match issue.state {
        IssueState::Opening => view! {
            <span>{what}</span> <span class="muted" aria-busy="true">" — opening on GitHub…"</span>
        }
        .into_any(),
        IssueState::Failed(why) => view! {
            <span>{what}</span> <span class="form-error">{format!(" — GitHub refused it: {why}")}</span>
        }
        .into_any(),
        IssueState::Open { repository, number, url } => view! {
            <span>{what}</span> " "
            <a href=safe(&url) target="_blank" rel="noopener noreferrer">{format!("{repository}#{number} ↗")}</a>
        }
        .into_any(),
        IssueState::Closed { repository, number, url } => view! {
            <span>{what}</span> " "
            <a href=safe(&url) target="_blank" rel="noopener noreferrer">{format!("{repository}#{number} ↗")}</a>
            <span class="muted">" (closed)"</span>
        }
        .into_any(),
    }
}

/// `url` when it is a web address (what GitHub answers), else nowhere.
fn safe(url: &str) -> String {
    crate::domain::incident::web_link(url).unwrap_or("#").to_string()
}
