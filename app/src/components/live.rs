//! Live updates in the browser: a page listens to the team's event stream and fetches
//! what it shows again when something relevant happens — in place, keeping the
//! page's scroll position and filters.
//!
//! The browser's `EventSource` reconnects by itself after a dropped connection; each
//! reconnection (a new `ready`) and each `resync` means events may have been missed,
//! so the page fetches again then too. Bursts of events cause one fetch.

use leptos::prelude::*;

use crate::domain::live::LiveEvent;

/// Whether the page is hearing live events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Connecting, or reconnecting after a drop.
    Connecting,
    /// Live.
    Live,
}

/// What [`use_live_updates`] gives a page.
#[derive(Clone, Copy)]
pub struct LiveUpdates {
    /// Changes whenever the page should fetch again; read it in a resource's source.
    pub version: Signal<u64>,
    /// The stream's state, for the "live" indicator.
    pub connection: Signal<Connection>,
}

/// Listens to the team's events while the calling component is mounted; `relevant`
/// says which events concern the page.
pub fn use_live_updates(relevant: impl Fn(&LiveEvent) -> bool + Send + Sync + 'static) -> LiveUpdates {
    let version = RwSignal::new(0_u64);
    let connection = RwSignal::new(Connection::Connecting);
    // Opened once the page is hydrated (effects run after hydration): an event arriving
    // while the page is still being taken over would refetch its resources mid-way, and
    // the page would no longer match what the server rendered.
    #[cfg(feature = "hydrate")]
    {
        let mut relevant = Some(relevant);
        Effect::new(move |_| {
            if let Some(relevant) = relevant.take() {
                untrack(|| browser::listen(version, connection, relevant));
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = relevant;
    LiveUpdates { version: version.into(), connection: connection.into() }
}

/// The small "Live" / "Reconnecting…" indicator.
#[component]
pub fn LiveIndicator(updates: LiveUpdates) -> impl IntoView {
    let live = move || updates.connection.get() == Connection::Live;
    view! {
        <span class="live-indicator" class:live=live data-testid="live-indicator" role="status">
            <span class="dot" aria-hidden="true"></span>
            {move || if live() { "Live" } else { "Connecting…" }}
        </span>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{EventSource, MessageEvent};

    use super::Connection;
    use crate::domain::live::{EVENTS_PATH, LiveEvent, LiveKind};

    /// Bursts of events within this time cause one fetch.
    const SETTLE: Duration = Duration::from_millis(250);
    /// After the server refused the stream (e.g. while deploying), try again after this.
    const RETRY: Duration = Duration::from_secs(5);

    pub fn listen(
        version: RwSignal<u64>,
        connection: RwSignal<Connection>,
        relevant: impl Fn(&LiveEvent) -> bool + Send + Sync + 'static,
    ) {
        let relevant: Arc<dyn Fn(&LiveEvent) -> bool + Send + Sync> = Arc::new(relevant);
        let stopped = Arc::new(AtomicBool::new(false));
        let current = StoredValue::new_local(None::<EventSource>);
        let scheduled = Arc::new(AtomicBool::new(false));
        let refresh = {
            let scheduled = scheduled.clone();
            move || {
                if !scheduled.swap(true, Ordering::AcqRel) {
                    let scheduled = scheduled.clone();
                    set_timeout(
                        move || {
                            scheduled.store(false, Ordering::Release);
                            version.try_update(|v| *v += 1);
                        },
                        SETTLE,
                    );
                }
            }
        };
        open(current, stopped.clone(), connection, Arc::new(refresh), relevant, false);
        let stop = stopped.clone();
        on_cleanup(move || {
            stop.store(true, Ordering::Release);
            current.with_value(|source| {
                if let Some(source) = source {
                    source.close();
                }
            });
        });
    }

    type Refresh = Arc<dyn Fn() + Send + Sync>;

    fn open(
        current: StoredValue<Option<EventSource>, LocalStorage>,
        stopped: Arc<AtomicBool>,
        connection: RwSignal<Connection>,
        refresh: Refresh,
        relevant: Arc<dyn Fn(&LiveEvent) -> bool + Send + Sync>,
        reopened: bool,
    ) {
        if stopped.load(Ordering::Acquire) {
            return;
        }
        let Ok(source) = EventSource::new(EVENTS_PATH) else { return };
        let seen_ready = Arc::new(AtomicBool::new(reopened));

        let on_ready = {
            let refresh = refresh.clone();
            Closure::<dyn Fn(MessageEvent)>::new(move |_: MessageEvent| {
                connection.try_set(Connection::Live);
                // A first `ready` on a page that loaded a moment ago needs nothing; any
                // later one is a reconnection after which events may be missing.
                if seen_ready.swap(true, Ordering::AcqRel) {
                    refresh();
                }
            })
        };
        let _ = source.add_event_listener_with_callback("ready", on_ready.as_ref().unchecked_ref());
        on_ready.forget();

        let on_resync = {
            let refresh = refresh.clone();
            Closure::<dyn Fn(MessageEvent)>::new(move |_: MessageEvent| refresh())
        };
        let _ = source.add_event_listener_with_callback("resync", on_resync.as_ref().unchecked_ref());
        on_resync.forget();

        for kind in LiveKind::ALL {
            let refresh = refresh.clone();
            let relevant = relevant.clone();
            let on_event = Closure::<dyn Fn(MessageEvent)>::new(move |message: MessageEvent| {
                let incident_id = message
                    .data()
                    .as_string()
                    .and_then(|data| serde_json::from_str::<serde_json::Value>(&data).ok())
                    .and_then(|data| data["incident_id"].as_str().and_then(|id| id.parse().ok()));
                if relevant(&LiveEvent { kind, incident_id }) {
                    refresh();
                }
            });
            let _ = source.add_event_listener_with_callback(kind.as_str(), on_event.as_ref().unchecked_ref());
            on_event.forget();
        }

        let on_error = {
            let source = source.clone();
            Closure::<dyn Fn(web_sys::Event)>::new(move |_: web_sys::Event| {
                connection.try_set(Connection::Connecting);
                // The browser retries by itself unless the server refused the stream.
                if source.ready_state() == EventSource::CLOSED {
                    let (stopped, refresh, relevant) = (stopped.clone(), refresh.clone(), relevant.clone());
                    set_timeout(move || open(current, stopped, connection, refresh, relevant, true), RETRY);
                }
            })
        };
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        current.set_value(Some(source));
    }
}
