//! The embedded database: a private PostgreSQL cluster in the data directory, used when
//! `DATABASE_URL` is not set.
//!
//! DreamOps runs the PostgreSQL server binaries already installed on the machine
//! (`initdb` and `postgres` on `PATH`, or in the distribution's versioned directory such
//! as `/usr/lib/postgresql/15/bin`). The first start creates the cluster with a generated
//! password; later starts reuse it. The server listens on a free loopback port only (no
//! Unix socket), and is stopped with a fast shutdown when DreamOps exits.
//!
//! Files in the data directory:
//! - `postgres/`: the cluster itself;
//! - `postgres.password`: the generated password of its `postgres` role (mode 0600);
//! - `postgres.log`: the server's own log;
//! - `postgres.owner`: the process id of the DreamOps server that started it, so that a
//!   cluster left running by a crashed server is recognised and stopped on the next start.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User};
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::process::{Child, Command};

/// The database DreamOps keeps its data in, inside the embedded cluster.
pub const DATABASE_NAME: &str = "dreamops";

/// How long PostgreSQL may take to accept connections after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before the server is told to quit immediately.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the embedded database could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPostgresError {
    /// No `initdb`/`postgres` pair was found.
    #[error(
        "no PostgreSQL server binaries found (looked for initdb and postgres on PATH and in \
         /usr/lib/postgresql/*/bin); install PostgreSQL (Debian: apt-get install postgresql) \
         or set DATABASE_URL"
    )]
    BinariesNotFound,
    /// The cluster is in use by another DreamOps server that is still running.
    #[error(
        "the embedded database in {data_dir} is in use by another DreamOps server (pid {owner}); \
         stop it, or give this one its own DREAMOPS_DATA_DIR or a DATABASE_URL"
    )]
    InUse {
        /// The cluster's directory.
        data_dir: String,
        /// The process id of the server using it.
        owner: i32,
    },
    /// A PostgreSQL program failed; `output` holds what it said.
    #[error("{program} failed: {output}")]
    Program {
        /// The program that failed.
        program: &'static str,
        /// The end of its output.
        output: String,
    },
    /// The server did not accept connections in time.
    #[error("PostgreSQL did not accept connections within {0:?}; see {1}")]
    StartTimeout(Duration, String),
    /// A file in the data directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The cluster could not be prepared after it started.
    #[error("could not prepare the embedded database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A running PostgreSQL server owned by this process.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    server: Child,
    data_dir: PathBuf,
    port: u16,
    password: SecretString,
}

impl EmbeddedPostgres {
    /// Starts the cluster in `data_dir` (creating it on first use) and makes sure the
    /// DreamOps database exists in it.
    pub async fn start(data_dir: &Path) -> Result<Self, EmbeddedPostgresError> {
        let binaries = find_binaries().ok_or(EmbeddedPostgresError::BinariesNotFound)?;
        // Others may pass through (PostgreSQL may run as another account, see [`RunAs`])
        // but not list it; every file inside has its own restrictive mode.
        create_dir(data_dir, 0o711)?;
        let data_dir = data_dir.canonicalize().map_err(io_error("could not open", data_dir))?;
        let files = ClusterFiles::new(&data_dir);
        let run_as = RunAs::for_current_user();

        stop_orphan(&files).await?;
        if !files.cluster.join("PG_VERSION").exists() {
            initialise(&binaries, &files, &run_as).await?;
        }
        let password = read_password(&files)?;

        let port = free_port()?;
        let server = spawn_server(&binaries, &files, &run_as, port)?;
        write_file(&files.owner, owner_record().as_bytes(), 0o644)?;
        let mut embedded = EmbeddedPostgres { server, data_dir, port, password };
        if let Err(error) = embedded.prepare().await {
            embedded.stop().await;
            return Err(error);
        }
        tracing::info!(port, data_dir = %embedded.data_dir.display(), "embedded PostgreSQL is running");
        Ok(embedded)
    }

    /// The URL of the DreamOps database in this cluster (it contains the password).
    pub fn url(&self) -> SecretString {
        self.url_of(DATABASE_NAME)
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server with a fast shutdown (open sessions are ended, everything
    /// committed is kept) and waits for it to exit.
    pub async fn stop(mut self) {
        let files = ClusterFiles::new(&self.data_dir);
        if let Some(pid) = self.server.id() {
            let pid = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
            let _ = kill(pid, Signal::SIGINT);
            if tokio::time::timeout(STOP_TIMEOUT, self.server.wait()).await.is_err() {
                tracing::warn!("embedded PostgreSQL did not stop in time; telling it to quit now");
                let _ = kill(pid, Signal::SIGQUIT);
                if tokio::time::timeout(STOP_TIMEOUT, self.server.wait()).await.is_err() {
                    let _ = self.server.kill().await;
                }
            }
        }
        let _ = fs::remove_file(&files.owner);
        tracing::info!("embedded PostgreSQL stopped");
    }

    fn url_of(&self, database: &str) -> SecretString {
        SecretString::from(format!(
            "postgres://postgres:{}@127.0.0.1:{}/{database}",
            self.password.expose_secret(),
            self.port
        ))
    }

    /// Waits until the server accepts connections, then creates the DreamOps database
    /// if this is the cluster's first start.
    async fn prepare(&mut self) -> Result<(), EmbeddedPostgresError> {
        let options: PgConnectOptions = self.url_of("postgres").expose_secret().parse()?;
        let deadline = Instant::now() + START_TIMEOUT;
        let mut connection = loop {
            match PgConnection::connect_with(&options).await {
                Ok(connection) => break connection,
                Err(error) => {
                    if let Ok(Some(status)) = self.server.try_wait() {
                        return Err(EmbeddedPostgresError::Program {
                            program: "postgres",
                            output: format!("exited with {status}: {}", log_tail(&self.data_dir)),
                        });
                    }
                    if Instant::now() >= deadline {
                        tracing::warn!(error = %error, "embedded PostgreSQL is not accepting connections");
                        let log = ClusterFiles::new(&self.data_dir).log.display().to_string();
                        return Err(EmbeddedPostgresError::StartTimeout(START_TIMEOUT, log));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(DATABASE_NAME)
            .fetch_one(&mut connection)
            .await?;
        if !exists {
            sqlx::query(&format!("create database {DATABASE_NAME}")).execute(&mut connection).await?;
        }
        connection.close().await?;
        Ok(())
    }
}

/// Where each file of the embedded cluster lives.
struct ClusterFiles {
    cluster: PathBuf,
    password: PathBuf,
    log: PathBuf,
    owner: PathBuf,
}

impl ClusterFiles {
    fn new(data_dir: &Path) -> Self {
        ClusterFiles {
            cluster: data_dir.join("postgres"),
            password: data_dir.join("postgres.password"),
            log: data_dir.join("postgres.log"),
            owner: data_dir.join("postgres.owner"),
        }
    }
}

/// The directory holding `initdb` and `postgres`.
struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Looks for a directory with both `initdb` and `postgres`: first where `initdb` on
/// `PATH` really lives (it is often a link into the versioned directory), then the
/// distribution's versioned directories, newest first.
fn find_binaries() -> Option<Binaries> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|dir| dir.join("initdb").canonicalize().ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf));
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    on_path
        .chain(versioned.into_iter().map(|(_, dir)| dir))
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .map(|dir| Binaries { dir })
}

/// The account PostgreSQL runs as. PostgreSQL refuses to run as root, so a server
/// started by root runs it as the `postgres` system account (or `nobody`).
struct RunAs {
    user: Option<User>,
}

impl RunAs {
    fn for_current_user() -> Self {
        if !nix::unistd::geteuid().is_root() {
            return RunAs { user: None };
        }
        let user = ["postgres", "nobody"].into_iter().find_map(|name| User::from_name(name).ok().flatten());
        RunAs { user }
    }

    fn apply(&self, command: &mut Command) {
        if let Some(user) = &self.user {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
    }

    fn give(&self, path: &Path) -> Result<(), EmbeddedPostgresError> {
        if let Some(user) = &self.user {
            std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .map_err(io_error("could not hand over", path))?;
        }
        Ok(())
    }
}

/// Creates the cluster with a generated password for the `postgres` role.
async fn initialise(binaries: &Binaries, files: &ClusterFiles, run_as: &RunAs) -> Result<(), EmbeddedPostgresError> {
    tracing::info!(dir = %files.cluster.display(), "creating the embedded PostgreSQL cluster (first start)");
    // A cluster directory without PG_VERSION is what a failed earlier attempt left.
    if files.cluster.exists() {
        fs::remove_dir_all(&files.cluster).map_err(io_error("could not clear", &files.cluster))?;
    }
    create_dir(&files.cluster, 0o700)?;
    run_as.give(&files.cluster)?;

    let password = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    write_file(&files.password, password.as_bytes(), 0o600)?;
    // initdb reads the password from a file it can open as the account it runs as.
    let password_file = files.cluster.with_file_name("postgres.initdb-password");
    write_file(&password_file, password.as_bytes(), 0o600)?;
    run_as.give(&password_file)?;

    let mut command = Command::new(binaries.program("initdb"));
    command
        .arg("--pgdata")
        .arg(&files.cluster)
        .args(["--username=postgres", "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-instructions"])
        .arg(format!("--pwfile={}", password_file.display()))
        .current_dir(&files.cluster)
        .stdin(Stdio::null());
    run_as.apply(&mut command);
    let output = command.output().await;
    let _ = fs::remove_file(&password_file);
    let output = output.map_err(io_error("could not run", &binaries.program("initdb")))?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(&files.cluster);
        let said = String::from_utf8_lossy(&output.stderr);
        return Err(EmbeddedPostgresError::Program { program: "initdb", output: last_lines(&said, 10) });
    }
    Ok(())
}

fn read_password(files: &ClusterFiles) -> Result<SecretString, EmbeddedPostgresError> {
    let password = fs::read_to_string(&files.password).map_err(io_error("could not read", &files.password))?;
    Ok(SecretString::from(password.trim().to_string()))
}

/// Starts `postgres` on `port`, loopback only, writing its log to `postgres.log`.
fn spawn_server(
    binaries: &Binaries,
    files: &ClusterFiles,
    run_as: &RunAs,
    port: u16,
) -> Result<Child, EmbeddedPostgresError> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&files.log)
        .map_err(io_error("could not open", &files.log))?;
    let mut command = Command::new(binaries.program("postgres"));
    command
        .arg("-D")
        .arg(&files.cluster)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="])
        .current_dir(&files.cluster)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    run_as.apply(&mut command);
    command.spawn().map_err(io_error("could not run", &binaries.program("postgres")))
}

/// A cluster still running from a DreamOps server that is gone (it crashed or was
/// killed) is stopped, so that this start can use it; one whose server is alive is
/// left alone and reported. A `postmaster.pid` naming a process that is not this
/// cluster's postmaster (the pid was reused after a reboot) is stale and removed.
async fn stop_orphan(files: &ClusterFiles) -> Result<(), EmbeddedPostgresError> {
    let pid_file = files.cluster.join("postmaster.pid");
    let Some(postmaster) = read_pid(&pid_file) else { return Ok(()) };
    if !is_alive(postmaster) {
        return Ok(());
    }
    if !runs_cluster(postmaster, &files.cluster) {
        tracing::warn!(pid = postmaster.as_raw(), "removing a stale postmaster.pid (that process is not this cluster)");
        return fs::remove_file(&pid_file).map_err(io_error("could not remove", &pid_file));
    }
    if let Some((owner, started)) = read_owner(&files.owner)
        && owner.as_raw() != i32::try_from(std::process::id()).unwrap_or_default()
        && process_start_time(owner) == Some(started)
    {
        return Err(EmbeddedPostgresError::InUse {
            data_dir: files.cluster.display().to_string(),
            owner: owner.as_raw(),
        });
    }
    tracing::warn!(pid = postmaster.as_raw(), "stopping an embedded PostgreSQL left running by an earlier server");
    let _ = kill(postmaster, Signal::SIGINT);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while is_alive(postmaster) {
        if Instant::now() >= deadline {
            let _ = kill(postmaster, Signal::SIGQUIT);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The process id on the first line of a pid file, if there is one.
fn read_pid(path: &Path) -> Option<Pid> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().next()?.trim().parse::<i32>().ok().filter(|pid| *pid > 0).map(Pid::from_raw)
}

/// The content of `postgres.owner` for this process: its pid and start time, which
/// together name it even after its pid is reused.
fn owner_record() -> String {
    let pid = Pid::this();
    format!("{pid} {}", process_start_time(pid).unwrap_or_default())
}

fn read_owner(path: &Path) -> Option<(Pid, u64)> {
    let text = fs::read_to_string(path).ok()?;
    let mut fields = text.split_whitespace();
    let pid = fields.next()?.parse::<i32>().ok().filter(|pid| *pid > 0)?;
    Some((Pid::from_raw(pid), fields.next()?.parse().ok()?))
}

/// When the process started, in clock ticks since boot (`/proc/<pid>/stat`, field 22).
fn process_start_time(pid: Pid) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is a postgres process serving `cluster`.
fn runs_cluster(pid: Pid, cluster: &Path) -> bool {
    fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let cluster = cluster.as_os_str().as_encoded_bytes();
        cmdline.split(|byte| *byte == 0).any(|argument| argument == cluster)
    })
}

fn is_alive(pid: Pid) -> bool {
    // Signal 0 checks that the process exists without touching it. A zombie still
    // "exists", so also look at its state.
    kill(pid, None).is_ok()
        && !fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
}

/// A port on the loopback interface that nothing listens on right now.
fn free_port() -> Result<u16, EmbeddedPostgresError> {
    let loopback = Path::new("127.0.0.1");
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(io_error("could not find a free port on", loopback))?;
    Ok(listener.local_addr().map_err(io_error("could not find a free port on", loopback))?.port())
}

fn create_dir(path: &Path, mode: u32) -> Result<(), EmbeddedPostgresError> {
    fs::create_dir_all(path).map_err(io_error("could not create", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error("could not secure", path))
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), EmbeddedPostgresError> {
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_error("could not write", path))?;
    file.write_all(contents).map_err(io_error("could not write", path))
}

fn log_tail(data_dir: &Path) -> String {
    let log = ClusterFiles::new(data_dir).log;
    fs::read_to_string(&log).map(|text| last_lines(&text, 10)).unwrap_or_default()
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedPostgresError {
    let path = path.display().to_string();
    move |source| EmbeddedPostgresError::Io { action, path, source }
}
