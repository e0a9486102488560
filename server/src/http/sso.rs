//! Single sign-on's two server pages. `/sso` asks for the work address and sends the
//! browser to the identity provider of the team that takes its domain (a form that works
//! without the app's code, which the first visit's bundle has no room for).
//! `/sso/callback` is where the provider sends people back: signed in, they go to the
//! dashboard; refused, they get a page saying why.

use axum::Form;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use app::error::AppError;
use app::server::auth::context::RequestContext;
use app::server::mail::letters::escape;
use app::server::sso::{self, Answer};
use app::server::state::AppState;

/// A small page in the site's words (these pages do without the app's styles).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    super::plain_page(status, title, 28, body)
}

fn sign_in_form(status: StatusCode, email: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|said| format!("<p id=\"email-error\" role=\"alert\" style=\"color:#b91c1c\">{}</p>", escape(said)))
        .unwrap_or_default();
    let invalid = if error.is_empty() { "" } else { " aria-invalid=\"true\" aria-describedby=\"email-error\"" };
    page(
        status,
        "Single sign-on",
        &format!(
            "<p>Your team signs in through its identity provider: enter your work email to go there.</p>\
             <form method=\"post\" action=\"/sso\" style=\"display:grid;gap:0.5rem\">\
             <label for=\"email\">Work email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\"{invalid} \
              style=\"font:inherit;padding:0.4rem\">{error}\
             <button type=\"submit\" style=\"font:inherit;padding:0.5rem 1rem\">Continue</button></form>\
             <p>Have a password? <a href=\"/login\">Log in</a></p>",
            escape(email)
        ),
    )
}

/// `GET /sso`: the form.
pub async fn ask() -> Response {
    sign_in_form(StatusCode::OK, "", None)
}

/// What the form sends.
#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    email: String,
}

/// `POST /sso`: off to the provider, or the form again saying what is wrong.
pub async fn start(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    form: Result<Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> Response {
    let email = form.map(|Form(form)| form.email).unwrap_or_default();
    let context = match RequestContext::from_parts(state, &parts) {
        Ok(context) => context,
        Err(error) => return error.into_response(),
    };
    match sso::start(&context, &email).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(AppError::Validation(errors)) => {
            let said = errors.iter().map(|error| error.message.as_str()).collect::<Vec<_>>().join(" ");
            sign_in_form(StatusCode::UNPROCESSABLE_ENTITY, &email, Some(&said))
        }
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            sign_in_form(status, &email, Some(&error.to_string()))
        }
    }
}

/// `GET /sso/callback`.
pub async fn callback(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let answer = Query::<Answer>::try_from_uri(&parts.uri).map(|Query(answer)| answer).unwrap_or_default();
    let context = match RequestContext::from_parts(state, &parts) {
        Ok(context) => context,
        Err(error) => return error.into_response(),
    };
    match sso::finish(&context, answer).await {
        Ok(_) => Redirect::to("/dashboard").into_response(),
        Err(sso::Refused(why)) => {
            tracing::info!(reason = %why, "a single sign-on was refused");
            page(
                StatusCode::FORBIDDEN,
                "Single sign-on did not work",
                &format!(
                    "<p role=\"alert\">{}</p><p><a href=\"/sso\">Try single sign-on again</a> · \
                     <a href=\"/login\">Log in with a password</a></p>",
                    escape(&why)
                ),
            )
        }
    }
}
