//! `GET /events`: the live events of the signed-in user's active team, as server-sent
//! events, for the pages that update in place.

use std::convert::Infallible;

use axum::extract::{Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, StreamExt as _};
use tokio::sync::broadcast::error::RecvError;

use app::domain::account::Permission;
use app::error::AppError;
use app::server::auth::context::{RequestContext, authenticate};
use app::server::live::Signal;
use app::server::state::AppState;

/// The handler. The stream opens with `ready`; `resync` asks the page to fetch what it
/// shows again (events were missed); every other event is named by its kind and
/// carries `{"incident_id": ...}`.
pub async fn stream(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let team = match signed_in_team(state.clone(), &parts).await {
        Ok(team) => team,
        Err(error) => return error.into_response(),
    };
    let signals = state.live.subscribe(team);
    let events = stream::unfold(signals, |mut signals| async move {
        let event = match signals.recv().await {
            Ok(Signal::Event(event)) => Event::default()
                .event(event.kind.as_str())
                .data(serde_json::json!({ "incident_id": event.incident_id }).to_string()),
            Ok(Signal::Resync) | Err(RecvError::Lagged(_)) => resync(),
            Err(RecvError::Closed) => return None,
        };
        Some((event, signals))
    });
    let ready = Event::default().event("ready").data("{}");
    Sse::new(stream::once(async { ready }).chain(events).map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn resync() -> Event {
    Event::default().event("resync").data("{}")
}

async fn signed_in_team(state: AppState, parts: &axum::http::request::Parts) -> Result<uuid::Uuid, AppError> {
    let context = RequestContext::from_parts(state, parts)?;
    Ok(authenticate(context).await?.require(Permission::ReadTeam)?.team_id())
}
