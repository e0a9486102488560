//! The demo cluster's objects in PostgreSQL: reading them for the API, loading them as a
//! [`World`] under the cluster's lock, and storing what changed with fresh
//! resourceVersions; and the log of requests clients made.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use kube_simulator::{Key, Store, World};

/// Events kept per demo cluster (the oldest go first).
const EVENTS_KEPT: i64 = 1000;
/// Requests kept in the log per demo cluster.
const REQUESTS_KEPT: i64 = 5000;

/// The demo cluster whose token has this digest.
pub async fn cluster_of_token(db: &PgPool, digest: &[u8]) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select cluster_id from demo_clusters where token_hash = $1")
        .bind(digest)
        .fetch_optional(db)
        .await
}

/// The cluster's current resourceVersion.
pub async fn resource_version(db: &PgPool, cluster: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select resource_version from demo_clusters where cluster_id = $1")
        .bind(cluster)
        .fetch_one(db)
        .await
}

/// The objects of `resource`, in `namespace` or in all, by namespace and name.
pub async fn list(
    db: &PgPool,
    cluster: Uuid,
    resource: &str,
    namespace: Option<&str>,
) -> Result<Vec<Value>, sqlx::Error> {
    sqlx::query_scalar(
        "select object from demo_objects where cluster_id = $1 and resource = $2 and ($3::text is null or namespace = $3)
         order by namespace, name",
    )
    .bind(cluster)
    .bind(resource)
    .bind(namespace)
    .fetch_all(db)
    .await
}

/// One object.
pub async fn get(
    db: &PgPool,
    cluster: Uuid,
    resource: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, sqlx::Error> {
    sqlx::query_scalar(
        "select object from demo_objects where cluster_id = $1 and resource = $2 and namespace = $3 and name = $4",
    )
    .bind(cluster)
    .bind(resource)
    .bind(namespace)
    .bind(name)
    .fetch_optional(db)
    .await
}

/// Locks the cluster for a change and loads its objects (events aside).
pub async fn load(tx: &mut PgConnection, cluster: Uuid) -> Result<World, sqlx::Error> {
    sqlx::query("select 1 from demo_clusters where cluster_id = $1 for update").bind(cluster).execute(&mut *tx).await?;
    let rows: Vec<(String, String, String, Value)> = sqlx::query_as(
        "select resource, namespace, name, object from demo_objects where cluster_id = $1 and resource <> 'events'",
    )
    .bind(cluster)
    .fetch_all(&mut *tx)
    .await?;
    let objects: BTreeMap<Key, Value> =
        rows.into_iter().map(|(resource, namespace, name, object)| ((resource, namespace, name), object)).collect();
    Ok(World::new(objects))
}

/// Stores what changed in `world`, each written object and event with the next
/// resourceVersion (set in `world` too, for the answer).
pub async fn save(tx: &mut PgConnection, cluster: Uuid, world: &mut World) -> Result<(), sqlx::Error> {
    let mut version: i64 = sqlx::query_scalar("select resource_version from demo_clusters where cluster_id = $1")
        .bind(cluster)
        .fetch_one(&mut *tx)
        .await?;
    let events = std::mem::take(&mut world.events);
    let (written, removed) = world.changes();
    let (mut resources, mut namespaces, mut names, mut objects) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((resource, namespace, name), object) in written {
        version += 1;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        resources.push(resource.clone());
        namespaces.push(namespace.clone());
        names.push(name.clone());
        objects.push(object.clone());
    }
    let has_events = !events.is_empty();
    for mut event in events {
        version += 1;
        event["metadata"]["resourceVersion"] = json!(version.to_string());
        resources.push("events".into());
        namespaces.push(event["metadata"]["namespace"].as_str().unwrap_or("").to_string());
        names.push(event["metadata"]["name"].as_str().unwrap_or("").to_string());
        objects.push(event);
    }
    sqlx::query(
        "insert into demo_objects (cluster_id, resource, namespace, name, object)
         select $1, * from unnest($2::text[], $3::text[], $4::text[], $5::jsonb[])
         on conflict (cluster_id, resource, namespace, name) do update set object = excluded.object",
    )
    .bind(cluster)
    .bind(&resources)
    .bind(&namespaces)
    .bind(&names)
    .bind(&objects)
    .execute(&mut *tx)
    .await?;
    for (resource, namespace, name) in removed {
        sqlx::query(
            "delete from demo_objects where cluster_id = $1 and resource = $2 and namespace = $3 and name = $4",
        )
        .bind(cluster)
        .bind(resource)
        .bind(namespace)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    }
    if has_events {
        sqlx::query(
            "delete from demo_objects where cluster_id = $1 and resource = 'events' and name in (
                 select name from demo_objects where cluster_id = $1 and resource = 'events'
                 order by (object #>> '{metadata,resourceVersion}')::bigint desc offset $2)",
        )
        .bind(cluster)
        .bind(EVENTS_KEPT)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("update demo_clusters set resource_version = $2 where cluster_id = $1")
        .bind(cluster)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Removes every object of the cluster (before it is seeded again).
pub async fn clear(tx: &mut PgConnection, cluster: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("delete from demo_objects where cluster_id = $1").bind(cluster).execute(&mut *tx).await?;
    Ok(())
}

/// Notes a request a client made, keeping the latest few thousand.
pub async fn log_request(
    db: &PgPool,
    cluster: Uuid,
    method: &str,
    path: &str,
    query: &str,
    status: u16,
) -> Result<(), sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "insert into demo_requests (cluster_id, method, path, query, status) values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(cluster)
    .bind(method)
    .bind(path)
    .bind(query)
    .bind(status as i16)
    .fetch_one(db)
    .await?;
    if id % 500 == 0 {
        sqlx::query(
            "delete from demo_requests where cluster_id = $1 and id <
                 (select min(id) from (select id from demo_requests where cluster_id = $1 order by id desc limit $2) kept)",
        )
        .bind(cluster)
        .bind(REQUESTS_KEPT)
        .execute(db)
        .await?;
    }
    Ok(())
}

/// One request from the log: method, path, query, status.
pub type LoggedRequest = (String, String, String, i16);

/// The requests made of the cluster, oldest first.
pub async fn requests(db: &PgPool, cluster: Uuid) -> Result<Vec<LoggedRequest>, sqlx::Error> {
    sqlx::query_as("select method, path, query, status from demo_requests where cluster_id = $1 order by id")
        .bind(cluster)
        .fetch_all(db)
        .await
}

/// Demo cluster `cluster`'s objects in PostgreSQL, as the simulated API reads and changes
/// them: reads straight from the rows, a change in one transaction under the cluster's
/// row lock, committed when saved and rolled back when dropped unsaved.
pub struct PgStore {
    db: PgPool,
    cluster: Uuid,
    change: Option<Transaction<'static, Postgres>>,
}

impl PgStore {
    pub fn new(db: PgPool, cluster: Uuid) -> Self {
        PgStore { db, cluster, change: None }
    }

    /// Ends a change that was not saved (a dry run, a refusal): rolled back now, so that
    /// the cluster's lock is free before anything else touches it.
    pub async fn finish(mut self) -> Result<(), sqlx::Error> {
        match self.change.take() {
            Some(tx) => tx.rollback().await,
            None => Ok(()),
        }
    }
}

impl Store for PgStore {
    type Error = sqlx::Error;

    async fn list(&mut self, resource: &str, namespace: Option<&str>) -> Result<Vec<Value>, sqlx::Error> {
        list(&self.db, self.cluster, resource, namespace).await
    }

    async fn get(&mut self, resource: &str, namespace: &str, name: &str) -> Result<Option<Value>, sqlx::Error> {
        get(&self.db, self.cluster, resource, namespace, name).await
    }

    async fn resource_version(&mut self) -> Result<i64, sqlx::Error> {
        resource_version(&self.db, self.cluster).await
    }

    async fn world(&mut self) -> Result<World, sqlx::Error> {
        // Outside a transaction: the lock `load` takes ends with its statement.
        let mut connection = self.db.acquire().await?;
        load(&mut connection, self.cluster).await
    }

    async fn lock(&mut self) -> Result<World, sqlx::Error> {
        let mut tx = self.db.begin().await?;
        let world = load(&mut tx, self.cluster).await?;
        self.change = Some(tx);
        Ok(world)
    }

    async fn save(&mut self, world: &mut World) -> Result<(), sqlx::Error> {
        let mut tx = match self.change.take() {
            Some(tx) => tx,
            None => self.db.begin().await?,
        };
        save(&mut tx, self.cluster, world).await?;
        tx.commit().await
    }
}
