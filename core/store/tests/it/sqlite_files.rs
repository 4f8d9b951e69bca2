//! The SQLite files: readable by Komander's user alone, since they hold every hash, sealed
//! secret and audit entry.

use std::{fs, os::unix::fs::PermissionsExt, path::Path};

use komander_store::SqliteStore;

use crate::fixtures::create_user;

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Regression: the database and its WAL were created with the umask (0644 usually).
#[tokio::test]
async fn the_database_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("komander.db");
    let store = SqliteStore::open(&file).await.unwrap();
    create_user(&store, "ann").await;
    for name in ["komander.db", "komander.db-wal", "komander.db-shm"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
    store.close().await;

    // Files left readable by an older release are tightened at the next open.
    for name in ["komander.db", "komander.db-wal", "komander.db-shm"] {
        let path = dir.path().join(name);
        if path.exists() {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let store = SqliteStore::open(&file).await.unwrap();
    create_user(&store, "bob").await;
    for name in ["komander.db", "komander.db-wal", "komander.db-shm"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
    store.close().await;
}
