//! Single-user mode: with nothing configured, the first start creates one instance admin whose
//! API token lands in a private file in the data directory, and only the first start does.

use std::{os::unix::fs::PermissionsExt, sync::Arc};

use komander_app::App;
use komander_e2e::{Backend, ServerProcess, TestStore};
use komander_secrets::Keyring;

#[tokio::test]
async fn the_first_start_writes_the_local_admin_token_once() {
    let store = TestStore::new(Backend::Sqlite).await.unwrap();
    let keyring = Keyring::parse(&[Keyring::generate_key_spec("k")]).unwrap();
    let app = App::new(store.store.clone(), Arc::new(keyring));
    let path = app
        .ensure_local_admin(store.dir.path())
        .await
        .unwrap()
        .expect("the token file");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&path).unwrap();
    let caller = app.authenticate(token.trim()).await.unwrap();
    assert!(caller.user.instance_admin);
    assert_eq!(caller.user.handle.as_str(), "local-admin");
    app.ensure_local_admin(store.dir.path()).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        token,
        "a restart keeps the token"
    );
    assert_eq!(store.store.count_users().await.unwrap(), 1);
}

/// Regression: the data directory and the database were created with the umask, so
/// other local users could read the keyring, the admin token and the database.
#[test]
fn a_first_start_makes_the_data_directory_private() {
    let server = ServerProcess::start(&[], "warn");
    let data = server.data_dir.path().join("data");
    let mode = |name: &str| {
        let path = data.join(name);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        meta.permissions().mode() & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data directory");
    for file in [
        "komander.db",
        "komander.db-wal",
        "komander.db-shm",
        "secret-keys",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}
