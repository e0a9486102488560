//! Building and running one server instance: the database (given or embedded), the
//! router, the listener, and the orderly stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use leptos::prelude::{LeptosOptions, provide_context};
use leptos_axum::{LeptosRoutes as _, generate_route_list};
use tokio::net::TcpListener;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use app::server::auth::context::SignedInOnce;
use app::server::config::{BillingMode, Settings};
use app::server::db;
use app::server::ingest::{Recorder, SenderDirectory};
use app::server::live::LiveHub;
use app::server::mail::send::Mailer;
use app::server::secrets::{self, Cipher, Reseal};
use app::server::state::AppState;
use app::{App, shell};

use crate::embedded_postgres::EmbeddedPostgres;
use crate::http;
use crate::runtime::Runtime;

/// The name of the site's files (`/pkg/dreamops.js`, `.wasm`, `.css`), as in Cargo.toml.
const OUTPUT_NAME: &str = "dreamops";

/// A server instance that is bound to its address and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    embedded: Option<EmbeddedPostgres>,
}

impl Application {
    /// Connects to the database (starting the embedded one when `DATABASE_URL` is not
    /// set), applies pending migrations and binds the listener. Binding port 0 picks a
    /// free port, which tests use to run several instances.
    pub async fn build(settings: Settings, leptos_options: LeptosOptions) -> anyhow::Result<Self> {
        match settings.stripe.mode {
            BillingMode::Off => tracing::warn!(
                "payments are not configured: upgrades are disabled (set STRIPE_SECRET_KEY and the STRIPE_PRICE_* ids, or BILLING_MODE=test for simulated payments)"
            ),
            BillingMode::Test => tracing::info!("payments are simulated (BILLING_MODE=test): no money moves"),
            BillingMode::Live => {}
        }
        if settings.mail.smtp_url.is_none() {
            tracing::warn!("mails are not sent (set SMTP_URL): they are written to the log and listed at /dev/mail");
        }
        let (url, embedded) = database(&settings).await?;
        match Self::connect(settings, leptos_options, &url).await {
            Ok((state, listener)) => Ok(Application { router: router(state.clone()), listener, state, embedded }),
            Err(error) => {
                if let Some(embedded) = embedded {
                    embedded.stop().await;
                }
                Err(error)
            }
        }
    }

    async fn connect(
        settings: Settings,
        leptos_options: LeptosOptions,
        url: &secrecy::SecretString,
    ) -> anyhow::Result<(AppState, TcpListener)> {
        let mailer = Mailer::new(&settings.mail).map_err(anyhow::Error::msg)?;
        let (pool, cipher) = migrated_with_keys(&settings, url).await?;
        let listener = listen_without_delay(leptos_options.site_addr)
            .with_context(|| format!("listening on {}", leptos_options.site_addr))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        let self_url = format!("http://127.0.0.1:{}", bound.port());
        let live = LiveHub::start(pool.clone());
        let recorder = Recorder::start(
            pool.clone(),
            live.clone(),
            app::server::ingest::rate::IngestRates::new(settings.ingest_rate_scale),
            settings.public_url.as_deref().unwrap_or(&self_url),
        );
        let senders = SenderDirectory::start(pool.clone(), cipher.clone());
        let api_rates = app::server::api_keys::rate::ApiRates::new(settings.api_rate_scale);
        let outbound = settings.outbound.policy().client(app::server::outbound::deliver::TIMEOUT);
        let state = AppState {
            leptos_options,
            db: pool,
            settings: Arc::new(settings),
            cipher,
            recorder,
            live,
            senders,
            self_url,
            outbound,
            mailer,
            api_rates,
        };
        Ok((state, listener))
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The state handlers share (its database pool, for tests that seed data).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets the background work finish (or give
    /// back) the jobs in hand while still serving, stops taking connections, lets requests in
    /// flight finish (each up to `SHUTDOWN_TIMEOUT_SECS`), closes the database pool and
    /// stops the embedded database if this instance started one.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application { listener, router, state, embedded } = self;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = stopping_rx.await;
            });
        let mut serving = tokio::spawn(async move { serve.await });
        let mut background = Some(Runtime::start(&state));

        let result = tokio::select! {
            finished = &mut serving => finished.context("the server task failed")?.context("serving HTTP"),
            () = shutdown => {
                tracing::info!(grace = ?state.settings.shutdown_timeout, "shutting down: finishing the work in flight");
                // The jobs first, while this server still answers: an analysis or action
                // in hand may be reading the demo cluster, which the server serves itself.
                if let Some(background) = background.take() {
                    background.shutdown(state.settings.shutdown_timeout).await;
                }
                let _ = stopping_tx.send(());
                // Open event streams would otherwise hold the shutdown for its whole grace.
                state.live.close_streams();
                match tokio::time::timeout(state.settings.shutdown_timeout, &mut serving).await {
                    Ok(finished) => finished.context("the server task failed")?.context("serving HTTP"),
                    Err(_) => {
                        tracing::warn!("requests still in flight after the grace period were cut off");
                        serving.abort();
                        Ok(())
                    }
                }
            }
        };

        // The jobs in hand finish (or are given back) before the pool closes.
        if let Some(background) = background.take() {
            background.shutdown(state.settings.shutdown_timeout).await;
        }
        state.db.close().await;
        if let Some(embedded) = embedded {
            embedded.stop().await;
        }
        tracing::info!("DreamOps stopped");
        result
    }
}

/// The database's URL: `DATABASE_URL`, else the embedded PostgreSQL, started here.
async fn database(settings: &Settings) -> anyhow::Result<(secrecy::SecretString, Option<EmbeddedPostgres>)> {
    match &settings.database.url {
        Some(url) => Ok((url.clone(), None)),
        None => {
            tracing::info!(data_dir = %settings.data_dir.display(), "DATABASE_URL is not set: using the embedded PostgreSQL");
            let embedded =
                EmbeddedPostgres::start(&settings.data_dir).await.context("starting the embedded PostgreSQL")?;
            Ok((embedded.url(), Some(embedded)))
        }
    }
}

/// A pool on the migrated database, and the keys for stored credentials, checked
/// against the ones the database knows; a credential sealed to no place (by an earlier
/// version) is sealed again to its place.
async fn migrated_with_keys(
    settings: &Settings,
    url: &secrecy::SecretString,
) -> anyhow::Result<(sqlx::PgPool, Cipher)> {
    let pool = db::connect_lazy(&settings.database, url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
    db::migrate(&pool).await.context("applying database migrations")?;
    let cipher = Cipher::load(settings.secret_key.as_ref(), &settings.previous_secret_keys, &settings.data_dir)
        .context("loading the secret key")?;
    secrets::check_keys(&pool, &cipher).await.context("checking the secret keys")?;
    let placed =
        secrets::reseal(&pool, &cipher, Reseal::ToTheirPlaces).await.context("sealing credentials to their places")?;
    if placed > 0 {
        tracing::info!(placed, "stored credentials sealed again, each to its place (row and team)");
    }
    let completed = app::server::ingest::integrations::complete_every_team(&pool, &cipher)
        .await
        .map_err(|error| anyhow::anyhow!("creating the integrations of earlier teams: {error}"))?;
    if completed > 0 {
        tracing::info!(completed, "integrations created for teams made before every team got them at sign-up");
    }
    Ok((pool, cipher))
}

/// `dreamops reseal`: seals every stored credential that a previous key sealed with the
/// current `DREAMOPS_SECRET_KEY`, the last step of a key rotation. Returns how many.
pub async fn reseal(settings: Settings) -> anyhow::Result<u64> {
    let (url, embedded) = database(&settings).await?;
    let resealed = async {
        let (pool, cipher) = migrated_with_keys(&settings, &url).await?;
        let resealed =
            secrets::reseal(&pool, &cipher, Reseal::ToTheCurrentKey).await.context("resealing stored credentials");
        pool.close().await;
        resealed
    }
    .await;
    if let Some(embedded) = embedded {
        embedded.stop().await;
    }
    resealed
}

/// Listens on `address` with Nagle's algorithm off for every connection accepted (they
/// inherit it from the listening socket). A streamed page is written in several small
/// pieces; with Nagle on, each piece after the first waits for the client's delayed
/// acknowledgement (~40 ms on Linux) before it leaves.
pub fn listen_without_delay(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restarted server may bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}

/// The whole HTTP surface: probes and metrics, the server functions and pages, and the
/// site's static files (falling back to the 404 page).
pub fn router(state: AppState) -> Router {
    let https_only = state.settings.sessions.secure_cookies;
    let routes = generate_route_list(App);
    let pages = Router::new()
        .route("/health", get(http::probes::health))
        .route("/ready", get(http::probes::ready))
        .route("/metrics", get(http::metrics::render))
        .route("/settings/audit-log.csv", get(http::audit_export::export))
        .route("/postmortems/{id}/export.md", get(http::postmortem_export::export))
        .route("/settings/team-export.json", get(http::team_export::export))
        .route("/sso", get(http::sso::ask).post(http::sso::start))
        .route("/sso/callback", get(http::sso::callback))
        .route("/unsubscribe", get(http::unsubscribe::ask).post(http::unsubscribe::confirm))
        .route("/dev/mail", get(http::dev_mail::page))
        .route(app::domain::live::EVENTS_PATH, get(http::live::stream))
        .merge(http::ingest::routes())
        .merge(http::billing::routes())
        .merge(http::demo_cluster::routes())
        .leptos_routes_with_context(&state, routes, || provide_context(SignedInOnce::default()), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(session_layer(&state))
        // The browser bundle needs no session: served outside the session layer, so that
        // loading a page's assets neither reads nor renews a session in the database.
        .merge(http::bundle::routes(&state.leptos_options))
        // The public API authenticates with keys, never a session cookie.
        .merge(http::api::routes(&state))
        .with_state(state);
    http::with_middleware(pages, https_only)
}

/// Sign-in sessions, kept in PostgreSQL (so any instance serves any user), with a
/// cookie that is HttpOnly, SameSite=Lax and, over HTTPS, Secure and `__Host-` named.
/// A session is saved only when it changed: signing in, switching teams, and the
/// renewal of its idle timeout, at most once a minute ([`session::keep_alive`]).
///
/// [`session::keep_alive`]: app::server::auth::session::keep_alive
fn session_layer(state: &AppState) -> SessionManagerLayer<PostgresStore> {
    let sessions = &state.settings.sessions;
    let idle = time::Duration::seconds(i64::try_from(sessions.idle_timeout.as_secs()).unwrap_or(i64::MAX));
    SessionManagerLayer::new(PostgresStore::new(state.db.clone()))
        .with_name(sessions.cookie_name())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(sessions.secure_cookies)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle))
}

/// The Leptos settings from the environment (`LEPTOS_SITE_ADDR`, `LEPTOS_SITE_ROOT`,
/// ...), with the site's file names fixed to DreamOps'.
pub fn leptos_options_from_env() -> anyhow::Result<LeptosOptions> {
    let mut options = leptos::config::get_configuration(None).context("reading the LEPTOS_* settings")?.leptos_options;
    if options.output_name.is_empty() {
        options.output_name = Arc::from(OUTPUT_NAME);
    }
    Ok(options)
}

/// Completes on the first SIGTERM (what orchestrators send) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_are_accepted_with_nagles_algorithm_off() {
        let listener = listen_without_delay(([127, 0, 0, 1], 0).into()).unwrap();
        let address = listener.local_addr().unwrap();
        let client = tokio::spawn(tokio::net::TcpStream::connect(address));
        let (connection, _) = listener.accept().await.unwrap();
        assert!(connection.nodelay().unwrap(), "small writes of a streamed page leave at once");
        client.await.unwrap().unwrap();
    }
}
