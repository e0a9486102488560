//! The test harness: a fresh, migrated database per test (dropped afterwards) and a
//! real server on a free port.
//!
//! Which PostgreSQL server holds the test databases: `DATABASE_URL` when set (it must
//! allow `create database`), else the one on 127.0.0.1:5432 when it answers, else an
//! embedded cluster in the target directory, started once per test process.

use std::sync::OnceLock;
use std::time::Duration;

use app::api::accounts::{CurrentViewer, LogIn, SignUp, VerifyEmail};
use app::api::api_keys::CreateApiKey;
use app::api::invitations::CreateInvitation;
use app::domain::account::{ApiScope, Role, Viewer};
use app::error::AppError;
use app::server::config::Settings;
use leptos::prelude::LeptosOptions;
use secrecy::ExposeSecret as _;
use server::embedded_postgres::EmbeddedPostgres;
use server::startup::Application;
use server_fn::{Protocol, ServerFn};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, PgConnection};

/// The address of the local PostgreSQL these machines usually run.
const LOCAL_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The URL of a PostgreSQL server where tests may create databases.
pub fn test_server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        // Resolved on a thread of its own: the embedded cluster must outlive every
        // test's runtime, so that thread keeps it (and its runtime) until the process ends.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                if let Ok(url) = std::env::var("DATABASE_URL")
                    && !url.trim().is_empty()
                {
                    tx.send(url).unwrap();
                    return;
                }
                if answers(LOCAL_SERVER).await {
                    tx.send(LOCAL_SERVER.to_string()).unwrap();
                    return;
                }
                let data_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-postgres");
                let embedded = EmbeddedPostgres::start(&data_dir).await.expect("start the embedded test PostgreSQL");
                tx.send(with_database(embedded.url().expose_secret(), "postgres")).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("a test PostgreSQL server")
    })
}

async fn answers(url: &str) -> bool {
    let Ok(options) = url.parse::<PgConnectOptions>() else { return false };
    matches!(tokio::time::timeout(Duration::from_secs(2), options.connect()).await, Ok(Ok(_)))
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A new empty database (not migrated).
    pub async fn empty() -> Self {
        let name = format!("dreamops_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(test_server_url()).await.expect("connect to the test PostgreSQL");
        sqlx::query(&format!("create database {name}")).execute(&mut admin).await.expect("create the test database");
        admin.close().await.ok();
        let url = with_database(test_server_url(), &name);
        TestDatabase { name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread with
        // a runtime of its own can.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(test_server_url()).await?;
                sqlx::query(&format!("drop database if exists {name} with (force)")).execute(&mut admin).await?;
                admin.close().await
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop a test database: {error}");
        }
    }
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("a valid PostgreSQL URL");
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

/// Leptos settings for a test server: a free port, no site files needed.
pub fn leptos_options() -> LeptosOptions {
    LeptosOptions::builder().output_name("dreamops").site_addr(([127, 0, 0, 1], 0)).site_root("target/site").build()
}

/// Settings for a test server using `database_url`.
pub fn settings(database_url: &str) -> Settings {
    let database_url = database_url.to_string();
    Settings::from_lookup(move |name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "SHUTDOWN_TIMEOUT_SECS" => Some("5".to_string()),
        "DREAMOPS_SECRET_KEY" => Some("0123456789abcdef".repeat(4)),
        // The agent works only where a test asks for it (its timeline entries would
        // otherwise arrive in the middle of other tests' checks).
        "AGENT_WORKERS" => Some("0".to_string()),
        // Mails too: a test sends them with `run_pending_jobs`, and reads them.
        "MAIL_WORKERS" => Some("0".to_string()),
        // The stand-ins for PagerDuty, Slack, LLM providers and clusters listen on
        // loopback, over plain HTTP: allowed as an operator allows a private network.
        // `egress.rs` tests the policy with these off, as production runs it.
        "OUTBOUND_ALLOW_PRIVATE" | "OUTBOUND_ALLOW_HTTP" => Some("true".to_string()),
        // Every user of a test signs up from loopback; `accounts.rs` tests the limits.
        "SIGN_UPS_PER_ADDRESS" | "SIGN_UPS_IN_ALL" => Some("100000".to_string()),
        // Tests send bursts of thousands of alerts; `ingest.rs` tests the rate limits.
        "INGEST_RATE_SCALE" => Some("0".to_string()),
        // Likewise the API's request limits; `public_api.rs` tests them.
        "API_RATE_SCALE" => Some("0".to_string()),
        _ => None,
    })
    .expect("valid test settings")
}

/// A DreamOps server running in this process on a free port, with its own database.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// Dropped only after the server stopped (fields drop after `stop` consumed self);
    /// `None` on another instance, which shares the first one's.
    _database: Option<TestDatabase>,
    database_url: String,
    state: app::server::state::AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stopped: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts a server on a fresh database (migrated by the server's own start-up).
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDatabase::empty().await).await
    }

    /// Starts a server on a fresh database with settings changed by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let database = TestDatabase::empty().await;
        let mut settings = settings(&database.url);
        adjust(&mut settings);
        Self::start(database, settings).await
    }

    /// Starts a server on `database`.
    pub async fn spawn_on(database: TestDatabase) -> Self {
        let settings = settings(&database.url);
        Self::start(database, settings).await
    }

    /// Starts another instance on this one's database, as when scaled out.
    pub async fn another_instance(&self) -> Self {
        self.another_instance_with(|_| {}).await
    }

    /// Starts another instance on this one's database with settings changed by `adjust`.
    pub async fn another_instance_with(&self, adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = settings(&self.database_url);
        adjust(&mut settings);
        Self::start(None, settings).await
    }

    async fn start(database: impl Into<Option<TestDatabase>>, settings: Settings) -> Self {
        let database = database.into();
        let database_url =
            settings.database.url.as_ref().map(|url| url.expose_secret().to_string()).unwrap_or_default();
        let application = Application::build(settings, leptos_options()).await.expect("the test server starts");
        let address = format!("http://{}", application.local_addr());
        let state = application.state().clone();
        let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
        let stopped = tokio::spawn(application.run_until_stopped(async move {
            let _ = stopping.await;
        }));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestApp { address, client, _database: database, database_url, state, stop: Some(stop), stopped: Some(stopped) }
    }

    /// The URL of this instance's database.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The steps the agent wrote on `incident`'s timeline, oldest first.
    pub async fn agent_steps(&self, incident: uuid::Uuid) -> Vec<String> {
        self.timeline(incident, "agent.step").await
    }

    /// The messages of `incident`'s timeline entries whose kind starts with `kind`,
    /// oldest first.
    pub async fn timeline(&self, incident: uuid::Uuid, kind: &str) -> Vec<String> {
        sqlx::query_scalar(
            "select message from timeline_entries where incident_id = $1 and starts_with(kind, $2) order by id",
        )
        .bind(incident)
        .bind(kind)
        .fetch_all(&self.state.db)
        .await
        .expect("reading the timeline")
    }

    /// The database pool, for seeding and checking rows.
    pub async fn db(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.database_url).await.expect("connect to the test database")
    }

    /// The server's shared state (for mounting extractors on test routes).
    pub fn state(&self) -> app::server::state::AppState {
        self.state.clone()
    }

    /// A new browser-like client with its own cookie jar (its own session).
    pub fn user(&self) -> User {
        let client =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        User { client, address: self.address.clone(), state: self.state.clone() }
    }

    /// A new member of `owner`'s active team with `role`, signed in.
    pub async fn member(&self, owner: &User, email: &str, role: Role) -> User {
        let link = owner.invite(email, role).await;
        let user = self.user();
        let joined = user
            .run(SignUp {
                email: email.into(),
                password: PASSWORD.into(),
                team_name: String::new(),
                invitation: Some(link.trim_start_matches("/invitations/").into()),
            })
            .await;
        joined.unwrap_or_else(|error| panic!("{email} could not join: {error}"));
        user
    }

    /// Runs every job queue to empty (analyses, actions, outbound calls), as the
    /// instances' workers would in the background: what they produce is there after.
    pub async fn run_pending_jobs(&self) {
        server::runtime::run_pending_jobs(&self.state, JOB_PATIENCE).await;
    }

    /// Sends `alert` to the REST API as an API key with `secret` would.
    pub async fn send_rest_alert(&self, secret: &str, alert: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/alerts", self.address))
            .bearer_auth(secret)
            .json(alert)
            .send()
            .await
            .expect("the REST API answers")
    }

    /// `GET path` on this server.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("the request reaches the server")
    }

    /// Stops the server gracefully and waits until it has; on the instance that owns
    /// the database, checks that no job was left failed (parked by the job runner).
    pub async fn stop(self) {
        let parked = self.stop_with_parked_jobs().await;
        assert!(parked.is_empty(), "jobs were left failed: {parked:?}");
    }

    /// Stops the server as [`TestApp::stop`] does, for a test that makes jobs fail on
    /// purpose: the jobs left failed ("queue #id: error"), for it to check.
    pub async fn stop_with_parked_jobs(mut self) -> Vec<String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            stopped.await.expect("the server task ends").expect("the server stops cleanly");
        }
        if self._database.is_none() {
            return Vec::new();
        }
        let db = self.db().await;
        let parked = server::runtime::parked_jobs(&db).await.expect("reading the parked jobs");
        db.close().await;
        parked
    }
}

/// How long [`TestApp::run_pending_jobs`] waits for jobs due later or in other hands.
const JOB_PATIENCE: Duration = Duration::from_secs(60);

/// One person's client, with its own session cookie.
pub struct User {
    pub client: reqwest::Client,
    pub address: String,
    /// The server's state, to run its pending jobs before reading what they produce.
    state: app::server::state::AppState,
}

impl User {
    /// Calls server function `F` with its generated arguments, at its own path and with
    /// its own method and encoding, as the hydrated app does; the raw answer.
    pub async fn send<F>(&self, arguments: F) -> reqwest::Response
    where
        F: ServerFn + serde::Serialize,
    {
        let encoded = serde_qs::to_string(&arguments).expect("server function arguments encode");
        let url = format!("{}{}", self.address, F::PATH);
        let request = if <F::Protocol as Protocol<
            F,
            F::Output,
            F::Client,
            F::Server,
            F::Error,
            F::InputStreamError,
            F::OutputStreamError,
        >>::METHOD
            == http::Method::GET
        {
            self.client.get(format!("{url}?{encoded}"))
        } else {
            self.client.post(url).header("content-type", "application/x-www-form-urlencoded").body(encoded)
        };
        request.send().await.expect("the request reaches the server")
    }

    /// Calls server function `F` as [`User::send`] does; its typed answer, or the
    /// [`AppError`] it refused with.
    pub async fn run<F, T>(&self, arguments: F) -> Result<T, AppError>
    where
        F: ServerFn<Output = T, Error = AppError> + serde::Serialize,
        T: serde::de::DeserializeOwned,
    {
        let response = self.send(arguments).await;
        let (status, body) = (response.status(), response.bytes().await.expect("the answer arrives"));
        if status.is_success() {
            Ok(serde_json::from_slice(&body)
                .unwrap_or_else(|error| panic!("{}: {error}: {}", F::PATH, String::from_utf8_lossy(&body))))
        } else {
            Err(serde_json::from_slice(&body)
                .unwrap_or_else(|error| panic!("{} ({status}): {error}: {}", F::PATH, String::from_utf8_lossy(&body))))
        }
    }

    /// Calls a POST server function by its endpoint name with raw form fields: for tests
    /// of the wire itself (malformed or missing fields, every endpoint by name).
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}/api/{endpoint}", self.address))
            .form(form)
            .send()
            .await
            .expect("the request reaches the server")
    }

    /// Calls a GET server function by its endpoint name, for tests of the wire itself.
    pub async fn query(&self, endpoint: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/{endpoint}", self.address))
            .send()
            .await
            .expect("the request reaches the server")
    }

    /// The same user (same session) talking to `instance`.
    pub fn at(&self, instance: &TestApp) -> User {
        User { client: self.client.clone(), address: instance.address.clone(), state: instance.state.clone() }
    }

    /// Runs the server's job queues to empty, as [`TestApp::run_pending_jobs`].
    pub async fn run_pending_jobs(&self) {
        server::runtime::run_pending_jobs(&self.state, JOB_PATIENCE).await;
    }

    /// Opens the live event stream of the user's active team; returns once the server
    /// said it is ready.
    pub async fn events(&self) -> EventStream {
        let response = self.client.get(format!("{}/events", self.address)).send().await.unwrap();
        assert_eq!(response.status(), 200, "the event stream opens");
        let mut stream = EventStream { response, buffer: String::new() };
        let (name, _) = stream.next(std::time::Duration::from_secs(5)).await.expect("the stream says it is ready");
        assert_eq!(name, "ready");
        stream
    }

    /// Signs up with a new team; panics unless it worked.
    pub async fn sign_up(&self, email: &str, team: &str) {
        let signed_up = self
            .run(SignUp { email: email.into(), password: PASSWORD.into(), team_name: team.into(), invitation: None })
            .await;
        signed_up.unwrap_or_else(|error| panic!("sign-up failed: {error}"));
        let token = self.mailed_token(email, "verify_email").await;
        self.run(VerifyEmail { token }).await.unwrap_or_else(|error| panic!("confirming {email} failed: {error}"));
    }

    /// The token of the latest link mailed to `email` for `purpose` (`verify_email`,
    /// `password_reset`, …), read from the queued mail.
    pub async fn mailed_token(&self, email: &str, purpose: &str) -> String {
        let text: String = sqlx::query_scalar(
            "select text_body from mails where recipient = $1::citext and purpose = $2 order by created_at desc limit 1",
        )
        .bind(email)
        .bind(purpose)
        .fetch_optional(&self.state.db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no {purpose} mail to {email}"));
        let at = text.find("token=").expect("the mail carries a link with a token") + "token=".len();
        text[at..].split_whitespace().next().unwrap().to_string()
    }

    /// Signs in; panics unless it worked.
    pub async fn log_in(&self, email: &str, password: &str) {
        let signed_in = self.run(LogIn { email: email.into(), password: password.into(), next: None }).await;
        signed_in.unwrap_or_else(|error| panic!("login failed: {error}"));
    }

    /// The signed-in user as the app sees them (none when signed out).
    pub async fn viewer(&self) -> Option<Viewer> {
        self.run(CurrentViewer {}).await.expect("the viewer is known")
    }

    /// The signed-in user's id; panics when signed out.
    pub async fn id(&self) -> uuid::Uuid {
        self.viewer().await.expect("signed in").user_id
    }

    /// Invites `email` to the active team as `role`; the invitation's link.
    pub async fn invite(&self, email: &str, role: Role) -> String {
        let created = self.run(CreateInvitation { email: email.into(), role }).await;
        created.unwrap_or_else(|error| panic!("inviting {email} failed: {error}")).link
    }

    /// A new API key of the active team named `name`, for sending alerts; its secret.
    pub async fn api_key(&self, name: &str) -> String {
        self.api_key_with(name, &[]).await
    }

    /// A new API key of the active team named `name` with `scopes`; its secret.
    pub async fn api_key_with(&self, name: &str, scopes: &[ApiScope]) -> String {
        let created = self.run(CreateApiKey { name: name.into(), scopes: scopes.to_vec() }).await;
        created.expect("the API key is created").secret
    }

    /// The signed-in user's active team; panics when signed out.
    pub async fn team(&self) -> uuid::Uuid {
        self.viewer().await.expect("signed in").team.as_ref().expect("in a team").team_id
    }
}

/// A password good enough for every test account.
pub const PASSWORD: &str = "correct horse battery staple";

/// Runs the futures concurrently (each on its own task) and collects their results in
/// order.
pub async fn join_all<F: std::future::Future + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

/// A server-sent event stream, read event by event.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// The next event's name and data, or `None` if none comes within `wait`.
    /// Keep-alive comments are skipped.
    pub async fn next(&mut self, wait: std::time::Duration) -> Option<(String, serde_json::Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = value.trim().to_string();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim());
                    }
                }
                if data.is_empty() && name == "message" {
                    continue;
                }
                return Some((name, serde_json::from_str(&data).unwrap_or(serde_json::Value::Null)));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Whether the server ends the stream within `wait` (what comes before the end is
    /// skipped).
    pub async fn ends_within(&mut self, wait: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None) | Err(_)) => return true,
            }
        }
    }

    /// Events until none comes for `quiet`.
    pub async fn drain(&mut self, quiet: std::time::Duration) -> Vec<(String, serde_json::Value)> {
        let mut events = Vec::new();
        while let Some(event) = self.next(quiet).await {
            events.push(event);
        }
        events
    }
}

/// Every log line written in this test binary from the first call on, kept in memory: a
/// global subscriber (our crates and the kube client at debug, the rest at info).
pub fn captured_logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,app=debug,server=debug,dreamops=debug,kube=debug,kube_client=debug",
            ))
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber is set in the tests");
        logs
    })
}

/// Log lines kept in memory (see [`captured_logs`]).
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The real `dreamops` binary as a process of its own, for what only a process shows:
/// its own database, a signal, being killed outright. Killed when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    pub address: String,
}

impl ServerProcess {
    /// Starts the binary on a free port; `configure` sets its environment.
    pub fn start(configure: impl FnOnce(&mut std::process::Command) -> &mut std::process::Command) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dreamops"));
        command
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_OUTPUT_NAME", "dreamops")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null());
        let child = configure(&mut command).spawn().expect("the server binary runs");
        ServerProcess { child, address: format!("http://127.0.0.1:{port}") }
    }

    /// Waits (up to 90 s) until the server answers `/ready`.
    pub async fn wait_until_ready(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(response) = reqwest::get(format!("{}/ready", self.address)).await
                && response.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server exited before it was ready: {status}");
            }
            assert!(std::time::Instant::now() < deadline, "the server was not ready within 90 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// Sends `signal` and waits for the process to exit.
    pub async fn stop_with(mut self, signal: nix::sys::signal::Signal) -> std::process::ExitStatus {
        nix::sys::signal::kill(self.pid(), signal).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "the server did not exit within 60 s of {signal}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // A test that failed half-way leaves no server behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
