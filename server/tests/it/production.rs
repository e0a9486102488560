//! Production configuration that cannot be half-right: what production refuses to start
//! without, one secret key shared by every instance on a database, and its rotation.

use secrecy::SecretString;

use app::api::clusters::TestClusterConnection;
use app::server::config::SecretKey;
use app::server::secrets::SEALED_COLUMNS;
use server::startup::Application;

use crate::demo_cluster::with_demo_cluster;
use crate::support::{self, TestApp, User};

/// The binary's error output when started with `env` (and nothing else of this process's).
fn refusal(env: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dreamops"))
        .env_clear()
        .envs(env.iter().copied())
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/never")
        .output()
        .expect("the server binary runs");
    assert!(!output.status.success(), "it refused to start");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn production_refuses_to_start_without_its_secret_key_public_address_and_mail_server() {
    let key = "ab".repeat(32);
    let none = refusal(&[("LEPTOS_ENV", "PROD")]);
    assert!(none.contains("LEPTOS_ENV=PROD needs DREAMOPS_SECRET_KEY, PUBLIC_URL, SMTP_URL:"), "{none}");
    let no_address = refusal(&[("LEPTOS_ENV", "PROD"), ("DREAMOPS_SECRET_KEY", &key), ("SMTP_URL", "smtp://mail:25")]);
    assert!(no_address.contains("LEPTOS_ENV=PROD needs PUBLIC_URL:"), "{no_address}");
    let no_mail =
        refusal(&[("LEPTOS_ENV", "PROD"), ("DREAMOPS_SECRET_KEY", &key), ("PUBLIC_URL", "https://x.example")]);
    assert!(no_mail.contains("LEPTOS_ENV=PROD needs SMTP_URL:"), "{no_mail}");
    let no_key = refusal(&[
        ("LEPTOS_ENV", "production"),
        ("PUBLIC_URL", "https://dreamops.example"),
        ("SMTP_URL", "smtp://mail:25"),
    ]);
    assert!(no_key.contains("LEPTOS_ENV=PROD needs DREAMOPS_SECRET_KEY:"), "{no_key}");
    assert!(!no_key.contains(&key));
}

fn key(id: u8, byte: &str) -> SecretKey {
    SecretKey { id, key: SecretString::from(byte.repeat(32)) }
}

/// The demo cluster's connection test, which opens its sealed kubeconfig.
async fn connection_works(user: &User, cluster: &str) {
    let report = user.run(TestClusterConnection { id: cluster.parse().unwrap() }).await.expect("tested");
    assert_eq!(report.error, None, "{report:?}");
}

#[tokio::test]
async fn instances_share_one_key_and_one_with_another_key_is_refused() {
    let first = TestApp::spawn().await;
    let (owner, cluster, _) = with_demo_cluster(&first, "ana@example.com").await;
    let cluster = cluster.to_string();

    let mut other = support::settings(first.database_url());
    other.production = true;
    other.public_url = Some("https://dreamops.example".into());
    other.secret_key = Some(key(1, "fe"));
    let error = Application::build(other, support::leptos_options()).await.err().expect("another key is refused");
    let error = format!("{error:#}");
    assert!(error.contains("the key with id 1 is not the key this database's credentials were sealed with"), "{error}");

    let second = first.another_instance().await;
    connection_works(&owner.at(&second), &cluster).await;
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn after_a_rotation_old_credentials_open_and_reseal_moves_them_to_the_new_key() {
    let first = TestApp::spawn().await;
    let (owner, cluster, _) = with_demo_cluster(&first, "ana@example.com").await;
    let cluster = cluster.to_string();
    let old = first.state().settings.secret_key.clone().expect("the tests' key");
    let rotated = |settings: &mut app::server::config::Settings| {
        settings.secret_key = Some(key(2, "9c"));
        settings.previous_secret_keys = vec![old.clone()];
    };

    let second = first.another_instance_with(rotated).await;
    connection_works(&owner.at(&second), &cluster).await;

    let mut settings = support::settings(first.database_url());
    rotated(&mut settings);
    assert!(server::startup::reseal(settings).await.unwrap() >= 1, "the cluster's credentials at least");
    let db = first.db().await;
    for (table, _, _, column) in SEALED_COLUMNS {
        let ids: Vec<(i32, i32)> = sqlx::query_as(&format!(
            "select get_byte({column}, 0), get_byte({column}, 1) from {table} where {column} is not null"
        ))
        .fetch_all(&db)
        .await
        .unwrap();
        assert!(ids.iter().all(|id| *id == (0, 2)), "{table}.{column} sealed to its place by the new key: {ids:?}");
    }
    let mut settings = support::settings(first.database_url());
    rotated(&mut settings);
    assert_eq!(server::startup::reseal(settings).await.unwrap(), 0, "nothing left to reseal");

    let third = first.another_instance_with(|settings| settings.secret_key = Some(key(2, "9c"))).await;
    connection_works(&owner.at(&third), &cluster).await;
    for app in [third, second, first] {
        app.stop().await;
    }
}

/// Credentials sealed before places were sealed in (`key id | nonce | sealed`, without
/// associated data) are sealed to their places, under the key that sealed them, by the
/// first start of this version; they open as before.
#[tokio::test]
async fn a_start_seals_credentials_of_the_earlier_format_to_their_places() {
    use aes_gcm::aead::{Aead, KeyInit, OsRng};
    use aes_gcm::{AeadCore, Aes256Gcm, Key};
    use secrecy::ExposeSecret as _;

    let first = TestApp::spawn().await;
    let (owner, cluster, team) = with_demo_cluster(&first, "ana@example.com").await;
    let state = first.state();
    let kubeconfig = app::server::clusters::kubeconfig(&state, team, cluster).await.unwrap();
    // As the earlier version sealed it.
    let secret = state.settings.secret_key.clone().expect("the tests' key");
    let key_bytes = hex::decode(secret.key.expose_secret()).unwrap();
    let earlier = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key_bytes));
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let mut unplaced = vec![secret.id];
    unplaced.extend_from_slice(&nonce);
    unplaced.extend(earlier.encrypt(&nonce, serde_json::to_vec(&kubeconfig).unwrap().as_slice()).unwrap());
    sqlx::query("update clusters set credentials_ciphertext = $2 where id = $1")
        .bind(cluster)
        .bind(&unplaced)
        .execute(&state.db)
        .await
        .unwrap();
    assert!(app::server::clusters::kubeconfig(&state, team, cluster).await.is_err(), "opens only once placed");

    let second = first.another_instance().await;
    let (first_byte, key_id): (i32, i32) = sqlx::query_as(
        "select get_byte(credentials_ciphertext, 0), get_byte(credentials_ciphertext, 1) from clusters where id = $1",
    )
    .bind(cluster)
    .fetch_one(&state.db)
    .await
    .unwrap();
    assert_eq!((first_byte, key_id), (0, i32::from(secret.id)), "placed, under the same key");
    connection_works(&owner.at(&second), &cluster.to_string()).await;
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn every_binary_column_is_known_as_sealed_or_not() {
    /// Binary columns that are not credentials: hashes, received bodies, the key check.
    const NOT_SEALED: &[(&str, &str)] = &[
        ("_sqlx_migrations", "checksum"),
        ("alerts", "raw_body"),
        ("api_idempotency", "request_hash"),
        ("api_keys", "secret_hash"),
        ("demo_clusters", "token_hash"),
        ("email_verifications", "token_hash"),
        ("integrations", "token_hash"),
        ("invitations", "token_hash"),
        ("password_resets", "token_hash"),
        ("recovery_codes", "code_hash"),
        ("remembered_devices", "token_hash"),
        ("secret_keys", "check_sealed"),
        ("stripe_events", "payload"),
    ];
    let app = TestApp::spawn().await;
    let columns: Vec<(String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text from information_schema.columns
         where table_schema = 'public' and data_type = 'bytea' order by 1, 2",
    )
    .fetch_all(&app.db().await)
    .await
    .unwrap();
    let unknown: Vec<&(String, String)> = columns
        .iter()
        .filter(|(table, column)| {
            !SEALED_COLUMNS.iter().any(|(t, _, _, c)| t == table && c == column)
                && !NOT_SEALED.iter().any(|(t, c)| t == table && c == column)
        })
        .collect();
    assert!(unknown.is_empty(), "say in SEALED_COLUMNS or here whether these hold credentials: {unknown:?}");
    let listed = SEALED_COLUMNS.iter().map(|(t, _, _, c)| (*t, *c)).chain(NOT_SEALED.iter().copied());
    for (table, column) in listed {
        assert!(columns.iter().any(|(t, c)| t == table && c == column), "{table}.{column} is a binary column");
    }
    app.stop().await;
}
