//! What every request handler and server function can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;

use crate::server::api_keys::rate::ApiRates;
use crate::server::config::Settings;
use crate::server::ingest::{Recorder, SenderDirectory};
use crate::server::live::LiveHub;
use crate::server::mail::send::Mailer;
use crate::server::secrets::Cipher;

/// Shared by all handlers; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Where the site's files are and how the page shell is built.
    pub leptos_options: LeptosOptions,
    /// The pool of connections to the database.
    pub db: PgPool,
    /// The settings this instance started with.
    pub settings: Arc<Settings>,
    /// Seals and opens stored credentials.
    pub cipher: Cipher,
    /// Stores and applies alert deliveries, many per transaction.
    pub recorder: Recorder,
    /// Announces what happens to every instance, and hears what they announce.
    pub live: LiveHub,
    /// Finds the integration an alert sender presents a token of.
    pub senders: SenderDirectory,
    /// How this instance reaches itself (`http://127.0.0.1:<port>`), e.g. to send a
    /// test alert through its own public endpoint.
    pub self_url: String,
    /// The client for calls to the destinations teams configured (Slack, PagerDuty),
    /// under the outbound-address policy; its connections are kept between calls.
    pub outbound: reqwest::Client,
    /// Hands mails to the SMTP server (or, in development, to the log).
    pub mailer: Mailer,
    /// The public API's request limits, per key and per team.
    pub api_rates: ApiRates,
}

impl AppState {
    /// Where people reach DreamOps (`PUBLIC_URL`), else this instance's own address: for
    /// links in messages and in the demo cluster's kubeconfig.
    pub fn public_url(&self) -> &str {
        self.settings.public_url.as_deref().unwrap_or(&self.self_url)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
