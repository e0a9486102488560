//! `GET /dev/mail`: in development without an SMTP server, the mails DreamOps would
//! have sent (newest first, with their links), so that a developer can follow a
//! password-reset or invitation link. Not found wherever mails are really sent, and in
//! production.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use app::server::mail::letters::escape;
use app::server::state::AppState;

/// The page.
pub async fn page(State(state): State<AppState>) -> Response {
    if state.settings.production || state.mailer.sends() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mails = match app::server::mail::logged(&state.db, 50).await {
        Ok(mails) => mails,
        Err(error) => {
            tracing::error!(%error, "reading the logged mails failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut html = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Mails · DreamOps (development)</title>\
         </head><body style=\"font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem\">\
         <h1>Mails</h1><p>SMTP_URL is not set, so these were written to the log instead of sent. Newest first.</p>",
    );
    if mails.is_empty() {
        html.push_str("<p><em>No mails yet.</em></p>");
    }
    for mail in mails {
        html.push_str(&format!(
            "<article style=\"border-top:1px solid #ccc;padding:0.5rem 0\"><h2 style=\"font-size:1.1rem\">{}</h2>\
             <p>To {} · {}</p><pre style=\"white-space:pre-wrap\">{}</pre></article>",
            escape(&mail.subject),
            escape(&mail.recipient),
            mail.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            escape(&mail.text_body),
        ));
    }
    html.push_str("</body></html>");
    Html(html).into_response()
}
