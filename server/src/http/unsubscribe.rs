//! `/unsubscribe`: the signed link at the foot of every notification mail. Opening it
//! asks to confirm (so that a mail scanner following links changes nothing); the
//! confirmation — or a mail client's one-click POST (RFC 8058) — turns that one kind of
//! mail off for that member in that team. No sign-in: the link's signature is the
//! authority, and it can do nothing else.

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use app::error::AppError;
use app::server::mail::letters::escape;
use app::server::notifications::{self, Notice};
use app::server::state::AppState;

/// What the link carries.
#[derive(Deserialize)]
pub struct Link {
    user: Uuid,
    team: Uuid,
    notice: String,
    signature: String,
}

/// The confirmation form's fields: the link again.
#[derive(Deserialize)]
pub struct Confirmed {
    user: Option<Uuid>,
    team: Option<Uuid>,
    notice: Option<String>,
    signature: Option<String>,
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let body = format!("{body}<p><a href=\"/settings/account\">Your account's settings</a></p>");
    super::plain_page(status, title, 36, &body)
}

fn invalid() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "This link does not work",
        "<p>The unsubscribe link is incomplete or was changed, or you are no longer in that team. \
         Sign in to choose your email notifications on your account page.</p>",
    )
}

/// `GET`: asks to confirm.
pub async fn ask(State(state): State<AppState>, link: Result<Query<Link>, QueryRejection>) -> Response {
    let Ok(Query(link)) = link else { return invalid() };
    let Some(notice) = Notice::parse(&link.notice) else { return invalid() };
    match notifications::check_link(&state, link.user, link.team, notice, &link.signature).await {
        Ok(team) => page(
            StatusCode::OK,
            "Unsubscribe",
            &format!(
                "<p>Stop {} from <strong>{}</strong>? Your other notifications stay as they are.</p>\
                 <form method=\"post\"><input type=\"hidden\" name=\"user\" value=\"{}\">\
                 <input type=\"hidden\" name=\"team\" value=\"{}\"><input type=\"hidden\" name=\"notice\" value=\"{}\">\
                 <input type=\"hidden\" name=\"signature\" value=\"{}\">\
                 <button type=\"submit\" style=\"font:inherit;padding:0.5rem 1rem\">Unsubscribe</button></form>",
                notice.label(),
                escape(&team),
                link.user,
                link.team,
                notice.as_str(),
                escape(&link.signature),
            ),
        ),
        Err(AppError::NotFound) => invalid(),
        Err(error) => error.into_response(),
    }
}

/// `POST`: turns the mail off. The link's fields come in the form (the confirmation) or
/// in the address (a mail client's one-click unsubscribe).
pub async fn confirm(
    State(state): State<AppState>,
    query: Result<Query<Link>, QueryRejection>,
    form: Result<Form<Confirmed>, FormRejection>,
) -> Response {
    let link = match (query, form) {
        (Ok(Query(link)), _) => link,
        (
            Err(_),
            Ok(Form(Confirmed {
                user: Some(user),
                team: Some(team),
                notice: Some(notice),
                signature: Some(signature),
            })),
        ) => Link { user, team, notice, signature },
        _ => return invalid(),
    };
    let Some(notice) = Notice::parse(&link.notice) else { return invalid() };
    match notifications::unsubscribe(&state, link.user, link.team, notice, &link.signature).await {
        Ok(team) => page(
            StatusCode::OK,
            "Unsubscribed",
            &format!("<p>You will no longer get {} from <strong>{}</strong>.</p>", notice.label(), escape(&team)),
        ),
        Err(AppError::NotFound) => invalid(),
        Err(error) => error.into_response(),
    }
}
