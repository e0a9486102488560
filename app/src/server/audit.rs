//! The audit trail: recording who did what, and reading it back as pages or CSV.

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::account::{ApiScope, Permission, Role};
use crate::domain::audit::{AUDIT_PAGE_SIZE, AuditEntry, AuditFilter, AuditPage};
use crate::error::{AppError, OrInternal};
use crate::server::db;

/// Who did something.
#[derive(Clone, Debug)]
pub enum Actor {
    /// A signed-in person.
    User {
        /// Their id.
        id: Uuid,
        /// Their email, kept readable in the log.
        email: String,
    },
    /// A request authenticated by an API key.
    ApiKey {
        /// The key's id.
        id: Uuid,
        /// The key's name.
        name: String,
    },
    /// DreamOps' own agent.
    Agent,
    /// A payment provider's signed callback.
    PaymentProvider(&'static str),
}

impl Actor {
    fn kind(&self) -> &'static str {
        match self {
            Actor::User { .. } => "user",
            Actor::ApiKey { .. } => "api_key",
            Actor::Agent => "agent",
            Actor::PaymentProvider(_) => "payment_provider",
        }
    }

    fn id(&self) -> Option<Uuid> {
        match self {
            Actor::User { id, .. } | Actor::ApiKey { id, .. } => Some(*id),
            Actor::Agent | Actor::PaymentProvider(_) => None,
        }
    }

    fn label(&self) -> &str {
        match self {
            Actor::User { email, .. } => email,
            Actor::ApiKey { name, .. } => name,
            Actor::Agent => crate::domain::incident::AGENT_NAME,
            Actor::PaymentProvider(name) => name,
        }
    }
}

/// Someone acting in a team: what a backend function needs of a request to scope its
/// work to that one team, check what the caller may do, and record what they did — not
/// the request or its session. The caller is a member signed in, or an API key.
#[derive(Clone, Debug)]
pub struct Acting {
    /// The team whose data this may touch, and no other's.
    pub team_id: Uuid,
    /// Who.
    pub by: Principal,
    /// Where the request came from.
    pub client_addr: String,
}

/// Who acts in a team.
#[derive(Clone, Debug)]
pub enum Principal {
    /// A member, signed in.
    Member(Member),
    /// A team API key.
    ApiKey {
        /// The key.
        id: Uuid,
        /// Its name.
        name: String,
        /// What it may do.
        scopes: Vec<ApiScope>,
    },
}

/// A member of the team acting in it.
#[derive(Clone, Debug)]
pub struct Member {
    /// Who.
    pub user_id: Uuid,
    /// Their email.
    pub email: String,
    /// Their role in the team.
    pub role: Role,
}

impl Acting {
    /// Whether the caller may do what `permission` allows: a member by their role, a key
    /// by its scopes.
    pub fn can(&self, permission: Permission) -> bool {
        match &self.by {
            Principal::Member(member) => member.role.can(permission),
            Principal::ApiKey { scopes, .. } => ApiScope::grants(scopes, permission),
        }
    }

    /// The member acting; 403 for an API key (what only people do: managing members,
    /// keys, billing, their own settings).
    pub fn member(&self) -> Result<&Member, AppError> {
        match &self.by {
            Principal::Member(member) => Ok(member),
            Principal::ApiKey { .. } => Err(AppError::Forbidden),
        }
    }

    /// The acting user, if a person acts.
    pub fn user_id(&self) -> Option<Uuid> {
        self.member().ok().map(|member| member.user_id)
    }

    /// The caller as the timeline names them: an email, or "API key <name>".
    pub fn name(&self) -> String {
        match &self.by {
            Principal::Member(member) => member.email.clone(),
            Principal::ApiKey { name, .. } => format!("API key {name}"),
        }
    }

    /// The actor for the audit trail.
    pub fn actor(&self) -> Actor {
        match &self.by {
            Principal::Member(member) => Actor::User { id: member.user_id, email: member.email.clone() },
            Principal::ApiKey { id, name, .. } => Actor::ApiKey { id: *id, name: name.clone() },
        }
    }

    /// Records `action` by this caller in their team's audit trail; pass the transaction
    /// of the action itself.
    pub async fn audit(
        &self,
        db: impl PgExecutor<'_>,
        action: &str,
        target: Option<&str>,
        details: serde_json::Value,
    ) -> Result<(), AppError> {
        let event = Event {
            team_id: self.team_id,
            actor: &self.actor(),
            action,
            target,
            client_addr: Some(&self.client_addr),
            details,
        };
        record(db, event).await.or_internal("writing the audit trail failed")
    }
}

/// One action to record.
pub struct Event<'a> {
    /// The team it happened in.
    pub team_id: Uuid,
    /// Who did it.
    pub actor: &'a Actor,
    /// What, as `area.verb`.
    pub action: &'a str,
    /// What it was done to.
    pub target: Option<&'a str>,
    /// From where, for actions that came over HTTP.
    pub client_addr: Option<&'a str>,
    /// Anything else worth keeping.
    pub details: serde_json::Value,
}

/// Records `event`; pass the transaction of the action itself, so that both happen or
/// neither does.
pub async fn record(db: impl PgExecutor<'_>, event: Event<'_>) -> Result<(), sqlx::Error> {
    db::audit::insert(
        db,
        &db::audit::NewAuditEntry {
            team_id: event.team_id,
            actor_kind: event.actor.kind(),
            actor_id: event.actor.id(),
            actor_label: event.actor.label(),
            action: event.action,
            target: event.target,
            client_addr: event.client_addr,
            details: event.details,
        },
    )
    .await
}

/// A page of the team's audit log.
pub async fn page(
    pool: &sqlx::PgPool,
    team: Uuid,
    filter: &AuditFilter,
    before: Option<i64>,
) -> Result<AuditPage, AppError> {
    let limit = AUDIT_PAGE_SIZE as i64;
    let mut entries =
        db::audit::list(pool, team, filter, before, limit + 1).await.or_internal("listing the audit log failed")?;
    let next_before = if entries.len() > AUDIT_PAGE_SIZE {
        entries.truncate(AUDIT_PAGE_SIZE);
        entries.last().map(|entry| entry.id)
    } else {
        None
    };
    Ok(AuditPage { entries, next_before })
}

/// The most entries one CSV export holds.
const CSV_EXPORT_LIMIT: i64 = 100_000;

/// Every entry matching `filter` (up to 100,000, newest first) as CSV.
pub async fn csv(pool: &sqlx::PgPool, team: Uuid, filter: &AuditFilter) -> Result<String, AppError> {
    let entries = db::audit::list(pool, team, filter, None, CSV_EXPORT_LIMIT)
        .await
        .or_internal("exporting the audit log failed")?;
    Ok(to_csv(&entries))
}

fn to_csv(entries: &[AuditEntry]) -> String {
    let mut out = String::from("time,actor_kind,actor,action,target,client_address,details\r\n");
    for entry in entries {
        let fields = [
            entry.at.to_rfc3339(),
            entry.actor_kind.clone(),
            entry.actor.clone(),
            entry.action.clone(),
            entry.target.clone().unwrap_or_default(),
            entry.client_addr.clone().unwrap_or_default(),
            entry.details.clone(),
        ];
        let row: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV field (RFC 4180 quoting). A value a spreadsheet would run as a formula is
/// prefixed with `'` (OWASP's advice against CSV injection).
fn csv_field(value: &str) -> String {
    let value =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    if value.contains([',', '"', '\n', '\r']) || value.starts_with('\'') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "\"'-1\"");
    }
}
