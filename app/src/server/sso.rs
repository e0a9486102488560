//! Single sign-on for Enterprise teams: OpenID Connect's authorization code flow with
//! PKCE against each team's own provider. Owners save the provider (its issuer, the
//! client id and sealed secret, the email domains it signs in, the role it gives);
//! a person typing an address in one of those domains is sent there, and comes back
//! signed in — into an account found by the provider's identity or the address, or
//! made just in time — in a session that reaches that team only. Every request to the
//! provider goes through the egress policy, like any address a user typed.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse, IssuerUrl,
    LoginHint, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};
use secrecy::SecretString;
use uuid::Uuid;

use crate::domain::account::{Email, Role, SsoPage, SsoSettings};
use crate::error::{AppError, Checks, OrInternal};
use crate::server::audit::{self, Acting, Actor, Event};
use crate::server::auth::context::RequestContext;
use crate::server::auth::password;
use crate::server::auth::session::{self, PendingSso, SignIn};
use crate::server::db;
use crate::server::egress::Policy;
use crate::server::secrets::Place;
use crate::server::state::AppState;

/// How long the provider may take to send the person back.
const SIGN_IN_WINDOW: chrono::Duration = chrono::Duration::minutes(10);
/// How long each request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The plan single sign-on comes with.
const PLAN: &str = "enterprise";

/// Requests to the provider, under the egress policy.
struct Http {
    policy: Policy,
    client: reqwest::Client,
}

/// Why a request to the provider got no answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let request = self.client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body);
            let response = self
                .policy
                .send(request, "the identity provider")
                .await
                .map_err(|failure| HttpError(failure.to_string()))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body =
                response.bytes().await.map_err(|_| HttpError("the identity provider's answer broke off".into()))?;
            let mut answer = HttpResponse::new(body.to_vec());
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok(answer)
        })
    }
}

fn http(state: &AppState) -> Http {
    let policy = state.settings.outbound.policy();
    Http { policy, client: policy.client(PROVIDER_TIMEOUT) }
}

/// The provider's configuration and keys, read afresh (discovery).
async fn discover(state: &AppState, issuer: &str) -> Result<CoreProviderMetadata, String> {
    let issuer_url = IssuerUrl::new(issuer.to_string()).map_err(|_| "the issuer is not a valid URL".to_string())?;
    state.settings.outbound.policy().check_url(issuer).map_err(|refused| format!("the issuer: {refused}"))?;
    CoreProviderMetadata::discover_async(issuer_url, &http(state))
        .await
        .map_err(|error| format!("could not read the provider's configuration: {}", chain(&error)))
}

/// An error and its causes, in one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut said = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        said.push_str(": ");
        said.push_str(&next.to_string());
        cause = next.source();
    }
    said
}

/// Where the provider sends people back.
pub fn redirect_uri(state: &AppState) -> String {
    format!("{}/sso/callback", state.public_url())
}

/// A team's saved provider, its secret open.
struct Saved {
    issuer: String,
    client_id: String,
    client_secret: String,
    allowed_domains: Vec<String>,
    default_role: Role,
}

#[derive(sqlx::FromRow)]
struct SavedRow {
    issuer: String,
    client_id: String,
    client_secret: Vec<u8>,
    allowed_domains: Vec<String>,
    default_role: String,
}

async fn saved(state: &AppState, team: Uuid) -> Result<Option<Saved>, AppError> {
    let row: Option<SavedRow> = sqlx::query_as(
        "select issuer, client_id, client_secret, allowed_domains, default_role from team_sso where team_id = $1",
    )
    .bind(team)
    .fetch_optional(&state.db)
    .await
    .or_internal("reading single sign-on failed")?;
    let Some(SavedRow { issuer, client_id, client_secret: sealed, allowed_domains, default_role: role }) = row else {
        return Ok(None);
    };
    let secret = state
        .cipher
        .open(&sealed, &Place::sso_client_secret(team))
        .map_err(|error| AppError::internal("opening the single sign-on secret failed", &error))?;
    Ok(Some(Saved {
        issuer,
        client_id,
        client_secret: String::from_utf8(secret).or_internal("the single sign-on secret is not text")?,
        allowed_domains,
        default_role: role.parse().unwrap_or(Role::Viewer),
    }))
}

async fn on_enterprise(state: &AppState, team: Uuid) -> Result<bool, AppError> {
    let plan: String = sqlx::query_scalar("select plan from teams where id = $1")
        .bind(team)
        .fetch_one(&state.db)
        .await
        .or_internal("reading the plan failed")?;
    Ok(plan == PLAN)
}

/// The owners' page: whether the plan allows it, and what is saved.
pub async fn page(state: &AppState, acting: &Acting) -> Result<SsoPage, AppError> {
    let settings = saved(state, acting.team_id).await?.map(|saved| SsoSettings {
        issuer: saved.issuer,
        client_id: saved.client_id,
        allowed_domains: saved.allowed_domains,
        default_role: saved.default_role,
        redirect_uri: redirect_uri(state),
    });
    Ok(SsoPage { available: on_enterprise(state, acting.team_id).await?, redirect_uri: redirect_uri(state), settings })
}

/// What the owners' form sends.
pub struct SsoForm {
    pub issuer: String,
    pub client_id: String,
    /// Blank keeps the saved one.
    pub client_secret: String,
    /// Separated by commas or spaces.
    pub allowed_domains: String,
    pub default_role: String,
}

/// Reads "example.com, Example.org" as lower-case domain names.
fn domains(text: &str) -> Result<Vec<String>, String> {
    let mut found: Vec<String> = Vec::new();
    for domain in text.split([',', ' ', '\n']).map(str::trim).filter(|domain| !domain.is_empty()) {
        let domain = domain.trim_start_matches('@').to_ascii_lowercase();
        let valid = domain.contains('.')
            && domain.len() <= 253
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !valid {
            return Err(format!("{domain} is not a domain name, like example.com."));
        }
        if !found.contains(&domain) {
            found.push(domain);
        }
    }
    if found.is_empty() {
        return Err("Name at least one email domain, like example.com.".into());
    }
    Ok(found)
}

/// Saves the team's provider once its configuration can be read (Enterprise only).
pub async fn save(state: &AppState, acting: &Acting, form: SsoForm) -> Result<(), AppError> {
    if !on_enterprise(state, acting.team_id).await? {
        return Err(AppError::Conflict("Single sign-on comes with the Enterprise plan.".into()));
    }
    let existing = saved(state, acting.team_id).await?;
    let mut checks = Checks::default();
    let issuer = form.issuer.trim().trim_end_matches('/').to_string();
    if issuer.is_empty() {
        checks.fail("issuer", "Enter the provider's issuer URL.");
    }
    let client_id = form.client_id.trim().to_string();
    if client_id.is_empty() || client_id.len() > 255 {
        checks.fail("client_id", "Enter the client id the provider gave DreamOps.");
    }
    let secret = match (form.client_secret.trim(), &existing) {
        ("", Some(existing)) => existing.client_secret.clone(),
        ("", None) => {
            checks.fail("client_secret", "Enter the client secret the provider gave DreamOps.");
            String::new()
        }
        (secret, _) => secret.to_string(),
    };
    let allowed_domains = checks.field("allowed_domains", domains(&form.allowed_domains));
    let role = match form.default_role.parse::<Role>() {
        Ok(Role::Owner) | Err(_) => {
            checks.fail("default_role", "Choose admin, operator or viewer.");
            None
        }
        Ok(role) => Some(role),
    };
    checks.finish()?;
    if let Err(why) = discover(state, &issuer).await {
        return Err(AppError::field("issuer", format!("Could not use {issuer}: {why}.")));
    }
    let sealed = state.cipher.seal(secret.as_bytes(), &Place::sso_client_secret(acting.team_id));
    let mut tx = state.db.begin().await.or_internal("saving single sign-on failed")?;
    sqlx::query(
        "insert into team_sso (team_id, issuer, client_id, client_secret, allowed_domains, default_role)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (team_id) do update set issuer = excluded.issuer, client_id = excluded.client_id,
             client_secret = excluded.client_secret, allowed_domains = excluded.allowed_domains,
             default_role = excluded.default_role, updated_at = now()",
    )
    .bind(acting.team_id)
    .bind(&issuer)
    .bind(&client_id)
    .bind(sealed)
    .bind(allowed_domains.as_deref().unwrap_or_default())
    .bind(role.unwrap_or(Role::Viewer).as_str())
    .execute(&mut *tx)
    .await
    .or_internal("saving single sign-on failed")?;
    let details =
        serde_json::json!({ "client_id": client_id, "allowed_domains": allowed_domains, "default_role": role });
    acting.audit(&mut *tx, "sso.configured", Some(&issuer), details).await?;
    tx.commit().await.or_internal("saving single sign-on failed")
}

/// Turns the team's single sign-on off (its members keep their accounts).
pub async fn remove(state: &AppState, acting: &Acting) -> Result<(), AppError> {
    let mut tx = state.db.begin().await.or_internal("removing single sign-on failed")?;
    let removed = sqlx::query("delete from team_sso where team_id = $1")
        .bind(acting.team_id)
        .execute(&mut *tx)
        .await
        .or_internal("removing single sign-on failed")?;
    if removed.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    acting.audit(&mut *tx, "sso.removed", None, serde_json::json!({})).await?;
    tx.commit().await.or_internal("removing single sign-on failed")
}

/// Starts signing `email` in through the provider of the team that takes its domain;
/// where to send the browser. The browser's session remembers the state, nonce and PKCE
/// verifier, for one answer within ten minutes.
pub async fn start(request: &RequestContext, email: &str) -> Result<String, AppError> {
    let email = Email::parse(email).map_err(|message| AppError::field("email", message))?;
    let domain = email.as_str().rsplit_once('@').map(|(_, domain)| domain.to_ascii_lowercase()).unwrap_or_default();
    let state = &request.state;
    let teams: Vec<Uuid> = sqlx::query_scalar(
        "select s.team_id from team_sso s join teams t on t.id = s.team_id
         where $1 = any(s.allowed_domains) and t.plan = $2",
    )
    .bind(&domain)
    .bind(PLAN)
    .fetch_all(&state.db)
    .await
    .or_internal("finding single sign-on failed")?;
    let team = match teams.as_slice() {
        [team] => *team,
        [] => {
            return Err(AppError::field(
                "email",
                format!("No team signs in {domain} addresses with single sign-on. Log in with your password."),
            ));
        }
        _ => {
            return Err(AppError::field(
                "email",
                format!("Several teams sign in {domain} addresses; ask your admin which to use."),
            ));
        }
    };
    let saved = saved(state, team).await?.ok_or(AppError::NotFound)?;
    let metadata = discover(state, &saved.issuer)
        .await
        .map_err(|why| AppError::Conflict(format!("Your team's identity provider cannot be reached: {why}.")))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(saved.client_id),
        Some(ClientSecret::new(saved.client_secret)),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri(state)).or_internal("the redirect URI is not a URL")?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .set_login_hint(LoginHint::new(email.to_string()))
        .set_pkce_challenge(challenge)
        .url();
    let pending = PendingSso {
        team_id: team,
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        until: (Utc::now() + SIGN_IN_WINDOW).timestamp(),
    };
    session::await_sso(&request.session, &pending).await?;
    Ok(url.to_string())
}

/// What the provider sends back.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Answer {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why a single sign-on did not sign anyone in, in words for the person.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub String);

impl From<AppError> for Refused {
    fn from(error: AppError) -> Self {
        Refused(error.to_string())
    }
}

/// The person the provider vouched for, from a verified ID token.
#[derive(Debug, PartialEq, Eq)]
pub struct Vouched {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
}

/// Checks an ID token as OpenID Connect requires — signed by one of the provider's keys,
/// issued by it, for `client_id` (and only on its behalf), not expired at `now`, carrying
/// `nonce` — and what it vouches for.
pub async fn check_id_token(
    state: &AppState,
    (issuer, client_id, client_secret): (&str, &str, &str),
    id_token: &str,
    nonce: &str,
    now: DateTime<Utc>,
) -> Result<Vouched, Refused> {
    let metadata = discover(state, issuer).await.map_err(Refused)?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_string()),
        Some(ClientSecret::new(client_secret.to_string())),
    );
    let token: CoreIdToken = id_token.parse().map_err(|_| Refused("the ID token is not a JWT".into()))?;
    vouched(&client.id_token_verifier().set_time_fn(move || now), &token, nonce)
}

fn vouched(
    verifier: &openidconnect::core::CoreIdTokenVerifier<'_>,
    token: &CoreIdToken,
    nonce: &str,
) -> Result<Vouched, Refused> {
    let claims = token
        .claims(verifier, &Nonce::new(nonce.to_string()))
        .map_err(|error| Refused(format!("the identity provider's ID token was refused: {}", chain(&error))))?;
    Ok(Vouched {
        subject: claims.subject().to_string(),
        email: claims.email().map(|email| email.to_string()),
        email_verified: claims.email_verified(),
    })
}

/// Finishes a single sign-on with the provider's answer: the state must be the one this
/// browser sent (once), the code is exchanged with the PKCE verifier, the ID token is
/// checked, and the person signed in to the team. The team's id.
pub async fn finish(request: &RequestContext, answer: Answer) -> Result<Uuid, Refused> {
    use subtle::ConstantTimeEq as _;
    let state = &request.state;
    let Some(pending) = session::take_pending_sso(&request.session).await? else {
        return Err(Refused("This sign-in was already used or has expired. Start again.".into()));
    };
    let sent = answer.state.as_deref().unwrap_or_default();
    if !bool::from(sent.as_bytes().ct_eq(pending.state.as_bytes())) {
        return Err(Refused("The answer does not belong to the sign-in this browser started. Start again.".into()));
    }
    if let Some(error) = answer.error {
        let description = answer.error_description.map(|said| format!(" ({said})")).unwrap_or_default();
        return Err(Refused(format!("The identity provider said no: {error}{description}.")));
    }
    let code = answer.code.ok_or_else(|| Refused("The identity provider sent no code.".into()))?;
    let saved = saved(state, pending.team_id)
        .await?
        .ok_or_else(|| Refused("Single sign-on is no longer set up for this team.".into()))?;
    if !on_enterprise(state, pending.team_id).await? {
        return Err(Refused("Single sign-on comes with the Enterprise plan, which this team is no longer on.".into()));
    }
    let metadata = discover(state, &saved.issuer).await.map_err(Refused)?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(saved.client_id.clone()),
        Some(ClientSecret::new(saved.client_secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri(state)).map_err(|_| Refused("bad redirect".into()))?);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|_| Refused("The identity provider has no token endpoint.".into()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
        .request_async(&http(state))
        .await
        .map_err(|error| Refused(format!("The identity provider did not give a token: {}", chain(&error))))?;
    let token = tokens.id_token().ok_or_else(|| Refused("The identity provider sent no ID token.".into()))?;
    let person = vouched(&client.id_token_verifier(), token, &pending.nonce)?;
    sign_in(request, pending.team_id, &saved, person).await
}

/// Signs in the person the team's provider vouched for: the account linked to that
/// identity, else the one with that (confirmed, allowed) address, else a new one; a
/// member of the team (with the default role when new to it); in a session for that
/// team only.
async fn sign_in(request: &RequestContext, team: Uuid, saved: &Saved, person: Vouched) -> Result<Uuid, Refused> {
    let state = &request.state;
    let email = person.email.ok_or_else(|| Refused("The identity provider did not share an email address.".into()))?;
    if person.email_verified == Some(false) {
        return Err(Refused(format!("The identity provider has not verified {email}.")));
    }
    let email = Email::parse(&email).map_err(|_| Refused(format!("{email} is not an email address.")))?;
    let domain = email.as_str().rsplit_once('@').map(|(_, domain)| domain.to_ascii_lowercase()).unwrap_or_default();
    if !saved.allowed_domains.contains(&domain) {
        return Err(Refused(format!("This team's single sign-on does not take {domain} addresses.")));
    }
    let failed = |_| Refused(AppError::Internal.to_string());
    let mut tx = state.db.begin().await.map_err(failed)?;
    let linked: Option<Uuid> =
        sqlx::query_scalar("select user_id from sso_identities where issuer = $1 and subject = $2")
            .bind(&saved.issuer)
            .bind(&person.subject)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed)?;
    let user_id = match linked {
        Some(user) => user,
        None => {
            let user = match db::users::find_by_email(&mut *tx, email.as_str()).await.map_err(failed)? {
                Some(user) => user.id,
                None => {
                    // A password nobody knows: this account signs in through its provider
                    // (or sets a password through "Forgot password?").
                    let unusable = password::hash(SecretString::from(crate::server::token::random_hex(32))).await?;
                    let id = Uuid::new_v4();
                    db::users::insert(&mut *tx, id, email.as_str(), &unusable).await.map_err(failed)?;
                    id
                }
            };
            sqlx::query("insert into sso_identities (issuer, subject, user_id) values ($1, $2, $3)")
                .bind(&saved.issuer)
                .bind(&person.subject)
                .bind(user)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            user
        }
    };
    // The provider vouched for the address.
    sqlx::query("update users set email_verified_at = coalesce(email_verified_at, now()) where id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
    let joined = db::teams::add_member(&mut *tx, team, user_id, saved.default_role).await.map_err(failed)?;
    let user = db::users::find(&mut *tx, user_id).await.map_err(failed)?.ok_or_else(|| Refused("gone".into()))?;
    let actor = Actor::User { id: user_id, email: user.email.clone() };
    let details = serde_json::json!({ "issuer": saved.issuer, "joined": joined, "role": saved.default_role });
    let event = Event {
        team_id: team,
        actor: &actor,
        action: "auth.logged_in_with_sso",
        target: None,
        client_addr: Some(&request.client_addr),
        details,
    };
    audit::record(&mut *tx, event).await.map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    let sign_in = SignIn {
        user_id,
        team_id: Some(team),
        session_version: user.session_version,
        signed_in_at: Utc::now().timestamp(),
        sso_team: Some(team),
    };
    session::start(&request.session, &sign_in).await?;
    Ok(team)
}

#[cfg(test)]
mod tests {
    use super::domains;

    #[test]
    fn domains_are_read_lower_case_once_each_and_checked() {
        assert_eq!(domains("Example.com, @corp.example  example.com").unwrap(), ["example.com", "corp.example"]);
        for bad in ["", "localhost", "exa mple", "-bad.example", "a..b", "x@y.example"] {
            assert!(domains(bad).is_err(), "{bad:?}");
        }
    }
}
