//! Single sign-on against a real OpenID provider (npm's oidc-provider, as a process):
//! signing in and joining just in time, a session that reaches the provider's team only,
//! and refusals — a replayed or foreign state, a nonce the browser was not sent, an ID
//! token for another client or past its expiry — plus who may configure it.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use uuid::Uuid;

use app::api::accounts::{CreateTeam, GetSso, RemoveSso, SaveSso, StartSso, StartTwoFactor, SwitchTeam};
use app::domain::account::Role;
use app::error::AppError;
use app::server::sso::check_id_token;

use crate::oidc_provider::{Client, OidcProvider};
use crate::support::{TestApp, User};

const SECRET: &str = "dreamops-client-secret";

/// A server that may reach the provider on loopback over http (as a self-hosted
/// deployment that allows private networks would).
async fn app() -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.outbound.allow_http = true;
        settings.outbound.allow_private = true;
    })
    .await
}

fn client(redirect_uri: &str) -> Client<'_> {
    Client { id: "dreamops", secret: SECRET, redirect_uri }
}

fn save(issuer: &str, domains: &str) -> SaveSso {
    SaveSso {
        issuer: issuer.into(),
        client_id: "dreamops".into(),
        client_secret: SECRET.into(),
        allowed_domains: domains.into(),
        default_role: "operator".into(),
    }
}

/// An Enterprise team "Acme" signing in acme.example through `provider`; its owner and id.
async fn acme(app: &TestApp, provider: &OidcProvider) -> (User, Uuid) {
    let owner = app.user();
    owner.sign_up("owner@acme.example", "Acme").await;
    let team = owner.team().await;
    sqlx::query("update teams set plan = 'enterprise' where id = $1")
        .bind(team)
        .execute(&app.state().db)
        .await
        .unwrap();
    owner.run(save(&provider.issuer, "acme.example")).await.expect("single sign-on is saved");
    (owner, team)
}

/// From "Sign in with SSO" to the provider's answer: the callback address, not yet sent.
async fn to_provider_and_back(provider: &OidcProvider, browser: &User, email: &str) -> String {
    let url = browser.run(StartSso { email: email.into() }).await.expect("single sign-on starts");
    assert!(url.starts_with(&provider.issuer), "{url}");
    provider.sign_in(&browser.client, &url, email).await
}

async fn follow(browser: &User, callback: &str) -> (StatusCode, String, String) {
    let response = browser.client.get(callback).send().await.unwrap();
    let status = response.status();
    let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

#[tokio::test]
async fn a_person_signs_in_through_their_teams_provider_joins_just_in_time_and_reaches_that_team_only() {
    let app = app().await;
    let redirect = format!("{}/sso/callback", app.address);
    let provider = OidcProvider::start(&[client(&redirect)]).await;
    let (_, team) = acme(&app, &provider).await;

    let browser = app.user();
    let callback = to_provider_and_back(&provider, &browser, "new.person@acme.example").await;
    assert!(callback.starts_with(&redirect), "{callback}");
    let (status, location, _) = follow(&browser, &callback).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/dashboard"));
    let viewer = browser.viewer().await.expect("signed in");
    assert_eq!(viewer.email, "new.person@acme.example");
    assert!(viewer.email_verified, "the provider vouched for the address");
    let membership = viewer.team.expect("in the team");
    assert_eq!((membership.team_id, membership.role), (team, Role::Operator));

    // Again, in another browser: the same account, linked to the provider's identity.
    let again = app.user();
    let callback = to_provider_and_back(&provider, &again, "new.person@acme.example").await;
    follow(&again, &callback).await;
    assert_eq!(again.id().await, browser.id().await);
    let (identities, logins): (i64, i64) = sqlx::query_as(
        "select (select count(*) from sso_identities),
                (select count(*) from audit_log where action = 'auth.logged_in_with_sso' and team_id = $1)",
    )
    .bind(team)
    .fetch_one(&app.state().db)
    .await
    .unwrap();
    assert_eq!((identities, logins), (1, 2));

    // Someone with a password account and a team of their own: the provider's session
    // reaches Acme only, and cannot change how the account signs in.
    let someone = app.user();
    someone.sign_up("someone@acme.example", "Elsewhere").await;
    let elsewhere = someone.team().await;
    let through_sso = app.user();
    let callback = to_provider_and_back(&provider, &through_sso, "someone@acme.example").await;
    follow(&through_sso, &callback).await;
    let viewer = through_sso.viewer().await.expect("signed in");
    assert_eq!(viewer.teams.iter().map(|team| team.team_id).collect::<Vec<_>>(), [team]);
    assert_eq!(through_sso.run(SwitchTeam { team_id: elsewhere }).await, Err(AppError::NotFound));
    assert!(matches!(through_sso.run(StartTwoFactor {}).await, Err(AppError::Conflict(_))));
    assert!(matches!(through_sso.run(CreateTeam { team_name: "Mine".into() }).await, Err(AppError::Conflict(_))));
    assert_eq!(someone.viewer().await.unwrap().teams.len(), 2, "the password session reaches both teams");
    provider.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_or_foreign_answer_and_a_nonce_the_browser_was_not_sent_are_refused() {
    let app = app().await;
    let redirect = format!("{}/sso/callback", app.address);
    let provider = OidcProvider::start(&[client(&redirect)]).await;
    acme(&app, &provider).await;

    // The answer in another browser than the one that started: refused (no login CSRF).
    let browser = app.user();
    let callback = to_provider_and_back(&provider, &browser, "ana@acme.example").await;
    let stranger = app.user();
    let (status, _, said) = follow(&stranger, &callback).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(said.contains("already used or has expired"), "{said}");
    assert!(stranger.viewer().await.is_none());

    // A state changed on the way: refused, and the sign-in is used up.
    let (status, _, said) = follow(&browser, &callback.replace("state=", "state=x")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(said.contains("does not belong to the sign-in this browser started"), "{said}");
    assert_eq!(follow(&browser, &callback).await.0, StatusCode::FORBIDDEN, "one answer per sign-in");

    // The right answer works once; replayed, it is refused.
    let callback = to_provider_and_back(&provider, &browser, "ana@acme.example").await;
    assert_eq!(follow(&browser, &callback).await.0, StatusCode::SEE_OTHER);
    browser.run(app::api::accounts::LogOut {}).await.ok();
    let (status, _, said) = follow(&browser, &callback).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(said.contains("already used or has expired"), "{said}");
    assert!(browser.viewer().await.is_none());

    // The provider asked for another nonce than the one this browser's sign-in carries:
    // its ID token is refused.
    let url = browser.run(StartSso { email: "ana@acme.example".into() }).await.unwrap();
    let mut forged = reqwest::Url::parse(&url).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(name, value)| (name.to_string(), if name == "nonce" { "forged".to_string() } else { value.to_string() }))
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let callback = provider.sign_in(&browser.client, forged.as_str(), "ana@acme.example").await;
    let (status, _, said) = follow(&browser, &callback).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(said.to_lowercase().contains("nonce"), "{said}");
    assert!(browser.viewer().await.is_none());
    provider.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn an_id_token_for_another_client_or_past_its_expiry_is_refused() {
    let app = app().await;
    let redirect = format!("{}/sso/callback", app.address);
    let other = Client { id: "another-app", secret: "another-secret", redirect_uri: "http://127.0.0.1:9/callback" };
    let provider = OidcProvider::start(&[client(&redirect), other]).await;
    let state = app.state();
    let ours = (provider.issuer.as_str(), "dreamops", SECRET);

    // A real token for DreamOps passes the same checks the callback makes...
    let token = provider.id_token(&client(&redirect), "ana@acme.example", "nonce-1").await;
    let vouched = check_id_token(&state, ours, &token, "nonce-1", Utc::now()).await.expect("a right token");
    assert_eq!(vouched.email.as_deref(), Some("ana@acme.example"));
    // ...but not with another nonce, nor two hours later.
    let wrong_nonce = check_id_token(&state, ours, &token, "nonce-2", Utc::now()).await.unwrap_err();
    assert!(wrong_nonce.0.to_lowercase().contains("nonce"), "{wrong_nonce:?}");
    let expired = check_id_token(&state, ours, &token, "nonce-1", Utc::now() + Duration::hours(2)).await.unwrap_err();
    assert!(expired.0.to_lowercase().contains("expired"), "{expired:?}");

    // A real token the same provider issued to another client: not for DreamOps.
    let other = Client { id: "another-app", secret: "another-secret", redirect_uri: "http://127.0.0.1:9/callback" };
    let theirs = provider.id_token(&other, "ana@acme.example", "nonce-3").await;
    let wrong_audience = check_id_token(&state, ours, &theirs, "nonce-3", Utc::now()).await.unwrap_err();
    assert!(wrong_audience.0.to_lowercase().contains("audience"), "{wrong_audience:?}");
    provider.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn enterprise_owners_configure_it_the_secret_stays_sealed_and_other_domains_are_told_no() {
    let app = app().await;
    let redirect = format!("{}/sso/callback", app.address);
    let provider = OidcProvider::start(&[client(&redirect)]).await;
    let owner = app.user();
    owner.sign_up("owner@acme.example", "Acme").await;
    let team = owner.team().await;

    let page = owner.run(GetSso {}).await.expect("the page");
    assert!(!page.available && page.settings.is_none());
    assert_eq!(page.redirect_uri, redirect);
    let refused = owner.run(save(&provider.issuer, "acme.example")).await;
    assert!(matches!(&refused, Err(AppError::Conflict(why)) if why.contains("Enterprise")), "{refused:?}");

    sqlx::query("update teams set plan = 'enterprise' where id = $1")
        .bind(team)
        .execute(&app.state().db)
        .await
        .unwrap();
    let unreachable = owner.run(save("http://127.0.0.1:9", "acme.example")).await.unwrap_err();
    assert!(unreachable.message_for("issuer").is_some_and(|said| said.contains("configuration")), "{unreachable:?}");
    let bad_domain = owner.run(save(&provider.issuer, "not a domain!")).await.unwrap_err();
    assert!(bad_domain.message_for("allowed_domains").is_some(), "{bad_domain:?}");
    owner.run(save(&provider.issuer, "Acme.example, acme.test")).await.expect("saved");

    let page = owner.run(GetSso {}).await.unwrap();
    let settings = page.settings.expect("saved settings");
    assert_eq!(settings.allowed_domains, ["acme.example", "acme.test"]);
    assert_eq!(settings.default_role, Role::Operator);
    let stored: Vec<u8> =
        sqlx::query_scalar("select client_secret from team_sso").fetch_one(&app.state().db).await.unwrap();
    assert!(!stored.windows(SECRET.len()).any(|window| window == SECRET.as_bytes()), "the secret is sealed");

    // A blank secret keeps the saved one: signing in still works.
    owner.run(SaveSso { client_secret: String::new(), ..save(&provider.issuer, "acme.example") }).await.unwrap();
    let browser = app.user();
    let callback = to_provider_and_back(&provider, &browser, "bo@acme.example").await;
    assert_eq!(follow(&browser, &callback).await.0, StatusCode::SEE_OTHER);

    // The same through the page that works without the app's code: the form posts, the
    // browser goes to the provider, and comes back signed in; an unknown domain is told.
    let browser = app.user();
    let form = browser.client.post(format!("{}/sso", app.address)).form(&[("email", "cy@acme.example")]);
    let response = form.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to_provider = response.headers()["location"].to_str().unwrap().to_string();
    let callback = provider.sign_in(&browser.client, &to_provider, "cy@acme.example").await;
    assert_eq!(follow(&browser, &callback).await.0, StatusCode::SEE_OTHER);
    assert_eq!(browser.viewer().await.expect("signed in").email, "cy@acme.example");
    let form = app.client.post(format!("{}/sso", app.address)).form(&[("email", "someone@elsewhere.example")]);
    let response = form.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("No team signs in elsewhere.example addresses"));

    let nobody = app.user().run(StartSso { email: "someone@elsewhere.example".into() }).await.unwrap_err();
    assert!(nobody.message_for("email").is_some_and(|said| said.contains("elsewhere.example")), "{nobody:?}");
    owner.run(RemoveSso {}).await.expect("removed");
    assert!(app.user().run(StartSso { email: "bo@acme.example".into() }).await.is_err(), "off once removed");
    provider.stop().await;
    app.stop().await;
}
