//! `GET /events`: the live events of the signed-in user's active team, as server-sent
//! events, for the pages that update in place. A stream lasts as long as the sign-in it
//! was opened with: checked again when the team's members change or a session ends
//! ([`Signal::Recheck`]) and every [`RECHECK_EVERY`] in any case.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, StreamExt as _};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;
use tower_sessions::Session;
use tower_sessions::session::Id;
use tower_sessions_sqlx_store::PostgresStore;
use uuid::Uuid;

use app::domain::account::{Permission, Role};
use app::error::AppError;
use app::server::auth::context::{RequestContext, authenticate};
use app::server::live::{MAX_STREAMS_PER_SESSION, Signal};
use app::server::state::AppState;

/// How often an open stream checks its sign-in again when nothing asked it to (a session
/// that expired, a notification missed).
const RECHECK_EVERY: Duration = Duration::from_secs(30);

/// How often an idle stream sends a comment: proxies keep the connection open, and a
/// stream whose page has gone is noticed (and its place freed) when the write fails.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Who a stream was opened for.
struct Viewer {
    user: Uuid,
    team: Uuid,
    role: Role,
    session: Id,
    client_addr: String,
}

impl Viewer {
    /// Whether the sign-in still stands as it was: the session not ended or expired, the
    /// user still in the team with the same role. Read afresh from the session store.
    async fn still_signed_in(&self, state: &AppState) -> bool {
        let session = Session::new(Some(self.session), Arc::new(PostgresStore::new(state.db.clone())), None);
        let context = RequestContext {
            state: state.clone(),
            session,
            client_addr: self.client_addr.clone(),
            host: None,
            device: None,
        };
        authenticate(context).await.is_ok_and(|now| {
            now.acting.user_id() == Some(self.user) && now.team_id() == self.team && now.role() == self.role
        })
    }
}

/// The handler. The stream opens with `ready`; `resync` asks the page to fetch what it
/// shows again (events were missed); every other event is named by its kind and
/// carries `{"incident_id": ...}`. It ends when its sign-in no longer stands.
pub async fn stream(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let viewer = match signed_in(state.clone(), &parts).await {
        Ok(viewer) => viewer,
        Err(error) => return error.into_response(),
    };
    let Some(permit) = state.live.open_stream(&viewer.session.to_string()) else {
        let message = format!("this session already has {MAX_STREAMS_PER_SESSION} live streams open; close a tab");
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "30")], message).into_response();
    };
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
    recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let signals = state.live.subscribe(viewer.team);
    let open = (signals, recheck, viewer, state, permit);
    let events = stream::unfold(open, |(mut signals, mut recheck, viewer, state, permit)| async move {
        loop {
            let signal = tokio::select! {
                signal = signals.recv() => signal,
                _ = recheck.tick() => Ok(Signal::Recheck),
            };
            let event = match signal {
                Ok(Signal::Event(event)) => Event::default()
                    .event(event.kind.as_str())
                    .data(serde_json::json!({ "incident_id": event.incident_id }).to_string()),
                Ok(Signal::Resync) | Err(RecvError::Lagged(_)) => resync(),
                Ok(Signal::Recheck) if viewer.still_signed_in(&state).await => continue,
                Ok(Signal::Recheck) | Err(RecvError::Closed) => return None,
            };
            return Some((event, (signals, recheck, viewer, state, permit)));
        }
    });
    let ready = Event::default().event("ready").data("{}");
    Sse::new(stream::once(async { ready }).chain(events).map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

fn resync() -> Event {
    Event::default().event("resync").data("{}")
}

async fn signed_in(state: AppState, parts: &axum::http::request::Parts) -> Result<Viewer, AppError> {
    let context = RequestContext::from_parts(state, parts)?;
    let signed_in = authenticate(context).await?.require(Permission::ReadTeam)?;
    let session = signed_in.request.session.id().ok_or(AppError::Unauthorized)?;
    Ok(Viewer {
        user: signed_in.acting.member()?.user_id,
        team: signed_in.team_id(),
        role: signed_in.role(),
        session,
        client_addr: signed_in.request.client_addr.clone(),
    })
}
