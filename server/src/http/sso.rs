//! `GET /sso/callback`: where a team's identity provider sends people back. Signed in,
//! they go to the dashboard; refused, they get a page saying why, with the ways on.

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use app::server::auth::context::RequestContext;
use app::server::mail::letters::escape;
use app::server::sso::{self, Answer};
use app::server::state::AppState;

/// The handler.
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
            let html = format!(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                 <title>Single sign-on did not work · DreamOps</title></head>\
                 <body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5\">\
                 <h1 style=\"font-size:1.4rem\">Single sign-on did not work</h1><p role=\"alert\">{}</p>\
                 <p><a href=\"/sso\">Try single sign-on again</a> · <a href=\"/login\">Log in with a password</a></p>\
                 </body></html>",
                escape(&why)
            );
            (StatusCode::FORBIDDEN, Html(html)).into_response()
        }
    }
}
