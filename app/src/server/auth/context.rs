//! The check every server function starts with: who is asking (from the session), in
//! which team, and whether their role there allows what they ask.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use tower_sessions::Session;
use uuid::Uuid;

use crate::domain::account::{Permission, Role, TeamMembership, Viewer};
use crate::error::{AppError, OrInternal};
use crate::server::audit::{Acting, Actor, Member, Principal};
use crate::server::auth::session::{self, SignIn};
use crate::server::db;
use crate::server::state::AppState;

/// The request as server functions need it: shared state, the session, and the
/// client's address.
#[derive(Clone)]
pub struct RequestContext {
    /// Shared state.
    pub state: AppState,
    /// The request's session.
    pub session: Session,
    /// The client's address (from the trusted proxy header when configured).
    pub client_addr: String,
    /// The `Host` the request was sent to, if it said.
    pub host: Option<String>,
    /// The cookie of a browser remembered for two-factor sign-in, if it sent one.
    pub device: Option<String>,
}

impl RequestContext {
    /// Builds the context from a request's parts.
    pub fn from_parts(state: AppState, parts: &Parts) -> Result<Self, AppError> {
        let session = parts.extensions.get::<Session>().cloned().ok_or_else(|| {
            tracing::error!("no session layer in front of this route");
            AppError::Internal
        })?;
        let client_addr = client_addr(&state, parts);
        let host =
            parts.headers.get(axum::http::header::HOST).and_then(|value| value.to_str().ok()).map(str::to_string);
        let device = parts
            .headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|cookie| cookie.trim().split_once('='))
            .find(|(name, _)| *name == super::two_factor::DEVICE_COOKIE)
            .map(|(_, value)| value.to_string());
        Ok(RequestContext { state, session, client_addr, host, device })
    }

    /// The context of the server function or page being handled.
    pub fn current() -> Result<Self, AppError> {
        let state = leptos::prelude::use_context::<AppState>().ok_or_else(|| {
            tracing::error!("AppState is not provided to server functions");
            AppError::Internal
        })?;
        let parts = leptos::prelude::use_context::<Parts>().ok_or_else(|| {
            tracing::error!("request parts are not provided to server functions");
            AppError::Internal
        })?;
        Self::from_parts(state, &parts)
    }
}

/// The client's address: from the trusted proxy's header when one is configured, else
/// the connection's peer.
pub fn client_addr(state: &AppState, parts: &Parts) -> String {
    let from_header = state.settings.sessions.client_ip_header.as_deref().and_then(|name| {
        parts.headers.get(name).and_then(|value| value.to_str().ok()).map(|value| value.trim().to_string())
    });
    from_header
        .or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// A signed-in user, in a team or not (after leaving their last one, or when it was
/// deleted): enough for their own account — creating a team, accepting an invitation,
/// deleting the account. [`Account::in_team`] gives what everything else needs.
#[derive(Clone)]
pub struct Account {
    /// The request.
    pub request: RequestContext,
    /// The user.
    pub user_id: Uuid,
    /// Their email address.
    pub email: String,
    /// The sign-in stored in the session.
    pub sign_in: SignIn,
    /// Whether the user's address is verified.
    pub email_verified: bool,
    /// Whether the user signs in with a second factor.
    pub two_factor: bool,
    /// The active team and whether it requires a second factor, if they are in one.
    pub team: Option<(TeamMembership, bool)>,
}

/// What a team-less user is told when they ask for a team's data.
pub const NO_TEAM: &str = "You are not in a team yet: create one, or accept an invitation to one.";

impl Account {
    /// As a member of their active team; 409 (saying what to do) when they have none.
    pub fn in_team(self) -> Result<Authenticated, AppError> {
        let Some((team, team_requires_two_factor)) = self.team else {
            return Err(AppError::Conflict(NO_TEAM.to_string()));
        };
        let acting = Acting {
            team_id: team.team_id,
            by: Principal::Member(Member { user_id: self.user_id, email: self.email.clone(), role: team.role }),
            client_addr: self.request.client_addr.clone(),
        };
        let by_sso = self.sign_in.sso_team.is_some();
        Ok(Authenticated {
            request: self.request,
            acting,
            team,
            sign_in: self.sign_in,
            email_verified: self.email_verified,
            two_factor: self.two_factor,
            // A single sign-on's second factor is its provider's to ask for.
            two_factor_required: team_requires_two_factor && !self.two_factor && !by_sso,
        })
    }

    /// Who acts (in audit entries of any team).
    pub fn actor(&self) -> Actor {
        Actor::User { id: self.user_id, email: self.email.clone() }
    }

    /// Refuses (409) what an account whose address is not verified may not do yet —
    /// `what`, e.g. "accept an invitation" — saying how to verify it.
    pub fn require_verified(&self, what: &str) -> Result<(), AppError> {
        require_verified(self.email_verified, &self.email, what)
    }

    /// Refuses (409) `what` — changes to how the account itself signs in — in a session
    /// a team's single sign-on started: that provider vouched for the person in its
    /// team, not for their account.
    pub fn require_own_sign_in(&self, what: &str) -> Result<(), AppError> {
        if self.sign_in.sso_team.is_none() {
            return Ok(());
        }
        Err(AppError::Conflict(format!(
            "You signed in through your team's single sign-on; sign in with your password to {what}."
        )))
    }

    /// Records `action` on their own account in their active team's audit trail, if
    /// they are in one; pass the transaction of the action itself.
    pub async fn audit(
        &self,
        db: impl sqlx::PgExecutor<'_>,
        action: &str,
        target: Option<&str>,
        details: serde_json::Value,
    ) -> Result<(), AppError> {
        let Some((team, _)) = &self.team else { return Ok(()) };
        let event = crate::server::audit::Event {
            team_id: team.team_id,
            actor: &self.actor(),
            action,
            target,
            client_addr: Some(&self.request.client_addr),
            details,
        };
        crate::server::audit::record(db, event).await.or_internal("writing the audit trail failed")
    }

    /// What the browser is told about the signed-in user.
    pub async fn viewer(&self) -> Result<Viewer, AppError> {
        let mut teams = db::teams::memberships_of(&self.request.state.db, self.user_id)
            .await
            .or_internal("listing a user's teams failed")?;
        if let Some(sso_team) = self.sign_in.sso_team {
            teams.retain(|team| team.team_id == sso_team);
        }
        let (team, two_factor_required) = match &self.team {
            Some((team, required)) => {
                (Some(team.clone()), *required && !self.two_factor && self.sign_in.sso_team.is_none())
            }
            None => (None, false),
        };
        Ok(Viewer {
            user_id: self.user_id,
            email: self.email.clone(),
            email_verified: self.email_verified,
            two_factor: self.two_factor,
            two_factor_required,
            team,
            teams,
        })
    }
}

fn require_verified(verified: bool, email: &str, what: &str) -> Result<(), AppError> {
    if verified {
        return Ok(());
    }
    Err(AppError::Conflict(format!(
        "Confirm your email address before you {what}: use the link we mailed to {email}, or send a new one from your account page."
    )))
}

/// A signed-in user acting in their active team: the request, who acts where, and the
/// sign-in stored in the session. Backend functions take [`Acting`] (and the state),
/// not this; only those that change the session take it whole.
#[derive(Clone)]
pub struct Authenticated {
    /// The request.
    pub request: RequestContext,
    /// Who acts in which team, with which role, from where.
    pub acting: Acting,
    /// The active team as the browser is told of it.
    pub team: TeamMembership,
    /// The sign-in stored in the session.
    pub sign_in: SignIn,
    /// Whether the user's address is verified.
    pub email_verified: bool,
    /// Whether the user signs in with a second factor.
    pub two_factor: bool,
    /// The active team requires a second factor and the user has none yet: only their
    /// own account may be used until they set it up.
    pub two_factor_required: bool,
}

impl Authenticated {
    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.request.state
    }

    /// The active team's id: the only team whose data this request may touch.
    pub fn team_id(&self) -> Uuid {
        self.acting.team_id
    }

    /// Their role in the active team.
    pub fn role(&self) -> Role {
        self.team.role
    }

    /// Refuses with 403 unless their role allows `permission`, and with 409 while the
    /// team requires a second factor they have not set up.
    pub fn require(self, permission: Permission) -> Result<Self, AppError> {
        if !self.role().can(permission) {
            return Err(AppError::Forbidden);
        }
        if self.two_factor_required {
            return Err(AppError::Conflict(format!(
                "{} requires two-factor sign-in: set it up on your account page to continue.",
                self.team.team_name
            )));
        }
        Ok(self)
    }

    /// Refuses (409) what an account whose address is not verified may not do yet —
    /// `what`, e.g. "start an upgrade" — saying how to verify it.
    pub fn require_verified(&self, what: &str) -> Result<(), AppError> {
        require_verified(self.email_verified, &self.acting.member()?.email, what)
    }
}

/// The signed-in user of `request`, or [`AppError::Unauthorized`]; their session is
/// kept alive. A session past its absolute lifetime, or from before a password
/// change, or of a deleted account, is ended here. If the user was removed from their
/// active team, they continue in another of their teams, or in none.
pub async fn authenticate_account(request: RequestContext) -> Result<Account, AppError> {
    let Some(mut sign_in) = session::read(&request.session).await? else {
        return Err(AppError::Unauthorized);
    };
    let max_age = i64::try_from(request.state.settings.sessions.max_age.as_secs()).unwrap_or(i64::MAX);
    let expired = chrono::Utc::now().timestamp().saturating_sub(sign_in.signed_in_at) > max_age;
    let pool = &request.state.db;
    let found = db::teams::user_in_team(pool, sign_in.user_id, sign_in.team_id)
        .await
        .or_internal("loading the signed-in user failed")?;
    let in_its_team = sign_in.sso_team.is_none_or(|sso_team| sign_in.team_id == Some(sso_team));
    let Some((user, membership, team_requires_two_factor)) =
        found.filter(|(user, _, _)| !expired && in_its_team && user.session_version == sign_in.session_version)
    else {
        session::end(&request.session).await?;
        return Err(AppError::Unauthorized);
    };
    let team = match membership {
        Some(team) => Some((team, team_requires_two_factor)),
        // Signed in through a team's single sign-on, and no longer in that team.
        None if sign_in.sso_team.is_some() => {
            session::end(&request.session).await?;
            return Err(AppError::Unauthorized);
        }
        None => {
            let other = db::teams::memberships_of(pool, user.id)
                .await
                .or_internal("loading the signed-in user failed")?
                .into_iter()
                .next();
            let other_team_id = other.as_ref().map(|other| other.team_id);
            if other_team_id != sign_in.team_id {
                sign_in.team_id = other_team_id;
                session::update(&request.session, &sign_in).await?;
            }
            match other {
                Some(other) => {
                    let requires = db::teams::requires_two_factor(pool, other.team_id)
                        .await
                        .or_internal("loading the signed-in user failed")?;
                    Some((other, requires))
                }
                None => None,
            }
        }
    };
    session::keep_alive(&request.session, request.state.settings.sessions.renewal()).await?;
    Ok(Account {
        request,
        user_id: user.id,
        email: user.email,
        sign_in,
        email_verified: user.email_verified,
        two_factor: user.two_factor,
        team,
    })
}

/// The signed-in user of `request` in their active team: [`authenticate_account`], then
/// [`Account::in_team`].
pub async fn authenticate(request: RequestContext) -> Result<Authenticated, AppError> {
    authenticate_account(request).await?.in_team()
}

/// Remembers who is signed in for the rest of one request: a server-rendered page
/// asks several server functions (the header's viewer, the page's data), and each would
/// otherwise read the session, the user and the membership again. Provided afresh for
/// every request by the router.
#[derive(Clone, Default)]
pub struct SignedInOnce(std::sync::Arc<tokio::sync::OnceCell<Result<Account, AppError>>>);

/// The signed-in user of the current server function or page, in a team or not
/// (authenticated once per request when [`SignedInOnce`] is provided).
pub async fn current_account() -> Result<Account, AppError> {
    match leptos::prelude::use_context::<SignedInOnce>() {
        Some(once) => {
            once.0.get_or_init(|| async { authenticate_account(RequestContext::current()?).await }).await.clone()
        }
        None => authenticate_account(RequestContext::current()?).await,
    }
}

/// The signed-in user of the current server function or page, in their active team.
pub async fn current() -> Result<Authenticated, AppError> {
    current_account().await?.in_team()
}

/// The signed-in user of the current server function, allowed `permission` in their
/// active team; 401 or 403 otherwise.
pub async fn require(permission: Permission) -> Result<Authenticated, AppError> {
    current().await?.require(permission)
}
