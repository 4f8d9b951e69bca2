//! Single-user mode: with nothing configured, the first start creates one instance admin whose
//! API token lands in a private file in the data directory, and only the first start does.

use std::{os::unix::fs::PermissionsExt, sync::Arc};

use komander_app::App;
use komander_e2e::{Backend, TestStore};
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
