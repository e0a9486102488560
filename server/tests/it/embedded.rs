//! The embedded default: the real `dreamops` binary started without `DATABASE_URL`
//! runs its own PostgreSQL in the data directory, stops it on exit and reuses it.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use secrecy::ExposeSecret as _;
use server::embedded_postgres::{EmbeddedPostgres, EmbeddedPostgresError};
use sqlx::{Connection as _, PgConnection};

use crate::support::ServerProcess;

/// The server binary on `data_dir`, without `DATABASE_URL`.
fn start_on(data_dir: &Path) -> ServerProcess {
    ServerProcess::start(|command| command.env_remove("DATABASE_URL").env("DREAMOPS_DATA_DIR", data_dir))
}

/// The postmaster's pid and port, from the cluster's `postmaster.pid`.
fn postmaster(data_dir: &Path) -> Option<(Pid, u16)> {
    let text = std::fs::read_to_string(data_dir.join("postgres/postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    Some((Pid::from_raw(lines.first()?.trim().parse().ok()?), lines.get(3)?.trim().parse().ok()?))
}

fn is_running(pid: Pid) -> bool {
    kill(pid, None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
}

async fn connect(data_dir: &Path) -> PgConnection {
    let (_, port) = postmaster(data_dir).expect("PostgreSQL is running");
    let password = std::fs::read_to_string(data_dir.join("postgres.password")).unwrap();
    PgConnection::connect(&format!("postgres://postgres:{}@127.0.0.1:{port}/dreamops", password.trim()))
        .await
        .expect("the embedded database accepts the generated password")
}

fn fresh_data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("embedded-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_server_runs_its_own_database_and_reuses_it() {
    let data_dir = fresh_data_dir();

    // First start: the cluster is created, migrated, and answers /ready.
    let mut first = start_on(&data_dir);
    first.wait_until_ready().await;
    assert!(data_dir.join("postgres/PG_VERSION").is_file(), "the cluster lives in the data directory");
    let (postgres, _) = postmaster(&data_dir).unwrap();

    // A second server on the same data directory is refused, and the first unharmed.
    let refused = EmbeddedPostgres::start(&data_dir).await.expect_err("the cluster is in use");
    assert!(matches!(refused, EmbeddedPostgresError::InUse { .. }), "{refused}");
    assert!(is_running(postgres));

    let mut db = connect(&data_dir).await;
    sqlx::query("create table kept (note text)").execute(&mut db).await.unwrap();
    sqlx::query("insert into kept values ('written by the first run')").execute(&mut db).await.unwrap();
    db.close().await.unwrap();

    // SIGTERM: the server stops cleanly and takes PostgreSQL with it.
    let status = first.stop_with(Signal::SIGTERM).await;
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    assert!(!is_running(postgres), "no postgres process is left behind");
    assert!(postmaster(&data_dir).is_none(), "PostgreSQL shut down cleanly (no postmaster.pid)");

    // Second start: the same cluster and data.
    let mut second = start_on(&data_dir);
    second.wait_until_ready().await;
    let mut db = connect(&data_dir).await;
    let note: String = sqlx::query_scalar("select note from kept").fetch_one(&mut db).await.unwrap();
    assert_eq!(note, "written by the first run");
    db.close().await.unwrap();

    // A server killed outright leaves PostgreSQL running; the next start takes it over.
    let (orphan, _) = postmaster(&data_dir).unwrap();
    second.stop_with(Signal::SIGKILL).await;
    assert!(is_running(orphan), "SIGKILL gives the server no chance to stop PostgreSQL");
    let mut third = start_on(&data_dir);
    third.wait_until_ready().await;
    assert!(!is_running(orphan), "the orphaned PostgreSQL was stopped");
    let mut db = connect(&data_dir).await;
    let count: i64 = sqlx::query_scalar("select count(*) from kept").fetch_one(&mut db).await.unwrap();
    assert_eq!(count, 1);
    db.close().await.unwrap();
    let (postgres, _) = postmaster(&data_dir).unwrap();
    assert!(third.stop_with(Signal::SIGINT).await.success(), "Ctrl-C stops the server cleanly too");
    assert!(!is_running(postgres));

    std::fs::remove_dir_all(&data_dir).ok();
}

#[tokio::test]
async fn a_stale_postmaster_pid_is_ignored_and_its_process_left_alone() {
    let data_dir = fresh_data_dir();
    EmbeddedPostgres::start(&data_dir).await.unwrap().stop().await;

    // After a reboot, postmaster.pid may name a process that has nothing to do with us.
    let mut bystander = Command::new("sleep").arg("120").spawn().unwrap();
    std::fs::write(data_dir.join("postgres/postmaster.pid"), format!("{}\n", bystander.id())).unwrap();

    let embedded = EmbeddedPostgres::start(&data_dir).await.expect("starts despite the stale pid file");
    assert!(bystander.try_wait().unwrap().is_none(), "the unrelated process was not signalled");
    let mut db = PgConnection::connect(embedded.url().expose_secret()).await.unwrap();
    let one: i32 = sqlx::query_scalar("select 1").fetch_one(&mut db).await.unwrap();
    assert_eq!(one, 1);
    db.close().await.unwrap();

    embedded.stop().await;
    bystander.kill().unwrap();
    bystander.wait().unwrap();
    std::fs::remove_dir_all(&data_dir).ok();
}
