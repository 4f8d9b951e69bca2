//! Both backends have the same migrations, by version and name (STYLE.md §16), and they carry
//! rows written before them forward.

use std::path::Path;

fn names(backend: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn sqlite_and_postgres_migrations_match() {
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
    for name in &sqlite {
        let (version, rest) = name.split_once('_').unwrap();
        assert_eq!(
            version.len(),
            14,
            "{name}: <YYYYMMDDHHMMSS>_<verb>_<noun>.sql"
        );
        assert!(
            version.bytes().all(|b| b.is_ascii_digit()) && rest.ends_with(".sql"),
            "{name}"
        );
    }
}

/// The first migration of environments naming their runtime plugin by its full id.
const QUALIFIED_RUNTIMES: i64 = 20261201160000;

const PROJECT: &str = "01900000-0000-7000-8000-000000000002";

/// Rows as the migrations before [`QUALIFIED_RUNTIMES`] left them: environments naming their
/// runtime by the short names of the closed list that came first.
const OLD_ROWS: &[&str] = &[
    "INSERT INTO users (id, handle, display_name, kind, created_at) \
     VALUES ('01900000-0000-7000-8000-000000000001', 'old', 'Old', 'human', 1)",
    "INSERT INTO projects (id, name, display_name, description, created_by, created_at, \
     updated_at) VALUES ('01900000-0000-7000-8000-000000000002', 'shop', 'shop', '', \
     '01900000-0000-7000-8000-000000000001', 1, 1)",
    "INSERT INTO environments (id, project_id, name, display_name, runtime, executor, settings, \
     created_at, updated_at) VALUES \
     ('01900000-0000-7000-8000-000000000003', '01900000-0000-7000-8000-000000000002', 'dev', \
      'dev', 'compose', 'server', '{}', 1, 1), \
     ('01900000-0000-7000-8000-000000000004', '01900000-0000-7000-8000-000000000002', 'prod', \
      'prod', 'kubernetes', 'local', '{}', 1, 1)",
];

/// The migrations of `backend` before `version`.
async fn migrations_before(backend: &str, version: i64) -> sqlx::migrate::Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend);
    let mut migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator
}

/// Writes [`OLD_ROWS`] into a database migrated up to [`QUALIFIED_RUNTIMES`], opens it as the
/// store (which runs the rest), and finds the environments' runtimes stored as full ids.
async fn old_runtimes_become_plugin_ids(backend: komander_e2e::Backend) {
    use komander_e2e::Backend;
    use sqlx::{Executor as _, PgPool, SqlitePool, sqlite::SqliteConnectOptions};

    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::new()
                .filename(dir.path().join("komander.db"))
                .create_if_missing(true);
            let pool = SqlitePool::connect_with(options).await.unwrap();
            migrations_before("sqlite", QUALIFIED_RUNTIMES)
                .await
                .run(&pool)
                .await
                .unwrap();
            for row in OLD_ROWS {
                pool.execute(*row).await.unwrap();
            }
            pool.close().await;
            None
        }
        Backend::Postgres => {
            let Some(url) = komander_e2e::postgres_database().await else {
                return;
            };
            let pool = PgPool::connect(&url).await.unwrap();
            migrations_before("postgres", QUALIFIED_RUNTIMES)
                .await
                .run(&pool)
                .await
                .unwrap();
            for row in OLD_ROWS {
                pool.execute(*row).await.unwrap();
            }
            pool.close().await;
            Some(url)
        }
    };
    let store = komander_store::connect(url.as_deref(), dir.path())
        .await
        .unwrap();
    let project = PROJECT.parse().unwrap();
    for (environment, runtime) in [("dev", "komander.compose"), ("prod", "komander.kubernetes")] {
        let record = store
            .environment(project, &environment.parse().unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{environment} survives the migration"));
        assert_eq!(record.runtime, runtime, "{environment}");
    }
    // Stored in full, not only read so: the short names would parse as the same ids.
    let stored = "SELECT runtime FROM environments ORDER BY name";
    let stored: Vec<String> = match &url {
        None => {
            let file = SqliteConnectOptions::new().filename(dir.path().join("komander.db"));
            let pool = SqlitePool::connect_with(file).await.unwrap();
            sqlx::query_scalar(stored).fetch_all(&pool).await.unwrap()
        }
        Some(url) => {
            let pool = PgPool::connect(url).await.unwrap();
            sqlx::query_scalar(stored).fetch_all(&pool).await.unwrap()
        }
    };
    assert_eq!(stored, ["komander.compose", "komander.kubernetes"]);
}

#[tokio::test]
async fn sqlite_stored_short_runtimes_become_plugin_ids() {
    old_runtimes_become_plugin_ids(komander_e2e::Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_stored_short_runtimes_become_plugin_ids() {
    old_runtimes_become_plugin_ids(komander_e2e::Backend::Postgres).await;
}

/// The first migration that lets a plugin be `incompatible`.
const INCOMPATIBLE_PLUGINS: i64 = 20261201190000;

/// An installed plugin with kv data and a connection, as the migrations before
/// [`INCOMPATIBLE_PLUGINS`] left them.
const OLD_PLUGIN_ROWS: &[&str] = &[
    "INSERT INTO plugins (id, version, kind, world, digest, manifest, requested, granted, status, \
     installed_by, installed_at, updated_at, config, artifact_sha256) VALUES ('acme.old', \
     '1.0.0', 'runtime', 'remote', 'd1', 'id = \"acme.old\"', '[]', '[]', 'enabled', \
     '01900000-0000-7000-8000-000000000001', 1, 1, '{}', NULL)",
    "INSERT INTO plugin_kv (plugin_id, project_id, key, value, size) \
     VALUES ('acme.old', '', 'k', 'v', 2)",
    "INSERT INTO plugin_connections (id, plugin_id, name, base_url, credential, allow_private, \
     path_prefixes, requests_per_minute, updated_at) VALUES ('c1', 'acme.old', 'api', \
     'https://example.com', NULL, FALSE, '[]', NULL, 1)",
];

/// Writes [`OLD_PLUGIN_ROWS`] into a database migrated up to [`INCOMPATIBLE_PLUGINS`], opens it
/// as the store (which runs the rest), and finds the plugin's kv data and connection kept and
/// the plugin markable `incompatible`.
async fn plugins_keep_their_data_and_may_become_incompatible(backend: komander_e2e::Backend) {
    use komander_e2e::Backend;
    use sqlx::{Executor as _, PgPool, SqlitePool, sqlite::SqliteConnectOptions};

    let dir = tempfile::tempdir().unwrap();
    let count =
        "SELECT (SELECT COUNT(*) FROM plugin_kv) + (SELECT COUNT(*) FROM plugin_connections)";
    let url = match backend {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::new()
                .filename(dir.path().join("komander.db"))
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = SqlitePool::connect_with(options).await.unwrap();
            migrations_before("sqlite", INCOMPATIBLE_PLUGINS)
                .await
                .run(&pool)
                .await
                .unwrap();
            for row in OLD_PLUGIN_ROWS {
                pool.execute(*row).await.unwrap();
            }
            pool.close().await;
            None
        }
        Backend::Postgres => {
            let Some(url) = komander_e2e::postgres_database().await else {
                return;
            };
            let pool = PgPool::connect(&url).await.unwrap();
            migrations_before("postgres", INCOMPATIBLE_PLUGINS)
                .await
                .run(&pool)
                .await
                .unwrap();
            for row in OLD_PLUGIN_ROWS {
                pool.execute(*row).await.unwrap();
            }
            pool.close().await;
            Some(url)
        }
    };
    let store = komander_store::connect(url.as_deref(), dir.path())
        .await
        .unwrap();
    assert!(
        store
            .mark_plugin_incompatible("acme.old", "d1", 5)
            .await
            .unwrap()
    );
    let plugin = store.plugin("acme.old").await.unwrap().unwrap();
    assert_eq!(
        plugin.status,
        komander_domain::api::PluginStatus::Incompatible
    );
    // Marked once: a second start changes nothing.
    assert!(
        !store
            .mark_plugin_incompatible("acme.old", "d1", 6)
            .await
            .unwrap()
    );
    let kept: i64 = match &url {
        None => {
            let file = SqliteConnectOptions::new().filename(dir.path().join("komander.db"));
            let pool = SqlitePool::connect_with(file).await.unwrap();
            sqlx::query_scalar(count).fetch_one(&pool).await.unwrap()
        }
        Some(url) => {
            let pool = PgPool::connect(url).await.unwrap();
            sqlx::query_scalar(count).fetch_one(&pool).await.unwrap()
        }
    };
    assert_eq!(
        kept, 2,
        "the plugin's kv data and connection survive the migration"
    );
}

#[tokio::test]
async fn sqlite_plugins_keep_their_data_and_may_become_incompatible() {
    plugins_keep_their_data_and_may_become_incompatible(komander_e2e::Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_plugins_keep_their_data_and_may_become_incompatible() {
    plugins_keep_their_data_and_may_become_incompatible(komander_e2e::Backend::Postgres).await;
}
