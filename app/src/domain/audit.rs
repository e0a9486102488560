//! The audit trail as the audit log page shows it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// How many entries a page of the audit log holds.
pub const AUDIT_PAGE_SIZE: usize = 50;

/// One recorded action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Increasing with time; pages are cut by it.
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// `user`, `api_key`, `agent`, `payment_provider` or `system`.
    pub actor_kind: String,
    /// Who, readably (an email, a key's name, "DreamOps agent", "Stripe").
    pub actor: String,
    /// What, as `area.verb` (e.g. `member.role_changed`).
    pub action: String,
    /// What it was done to, if anything.
    pub target: Option<String>,
    /// The client's address, for actions that came over HTTP.
    pub client_addr: Option<String>,
    /// Further details, as JSON text.
    pub details: String,
}

/// Which entries to show. Empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditFilter {
    /// Part of the actor's name.
    pub actor: Option<String>,
    /// The start of the action (`member.` matches every member action).
    pub action: Option<String>,
    /// From this day (UTC), inclusive.
    pub from: Option<NaiveDate>,
    /// To this day (UTC), inclusive.
    pub to: Option<NaiveDate>,
}

/// One page of entries, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}
