//! Precompiled plugin artifacts: loaded at start only when they are the bytes the server
//! wrote, by the digest it recorded in the database.

use std::path::{Path, PathBuf};

use komander_e2e::{ADMIN_TOKEN, Backend, TestApi, guests};
use komander_plugin_host::digest;

/// The cached artifact of the component `bytes` in the instance's data directory.
fn artifact(api: &TestApi, bytes: &[u8]) -> PathBuf {
    let cache = api.store.dir.path().join("plugins/cache");
    let prefix = format!("{}-", digest(bytes));
    std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| name(p).starts_with(&prefix) && name(p).ends_with(".cwasm"))
        .unwrap_or_else(|| panic!("no artifact of {prefix} in {}", cache.display()))
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Regression: at start, a cached artifact was deserialized (its machine code run)
/// whatever it held; one swapped on disk ran under the plugin's name and grants.
#[tokio::test]
async fn a_swapped_artifact_is_compiled_again_at_start() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let admin = api.app.authenticate(ADMIN_TOKEN).await.unwrap();
    let mine = guests::bytes("komander_test_guest");
    let other = guests::bytes("komander_test_docker_guest");
    for bytes in [&mine, &other] {
        api.app
            .install_plugin(&admin, bytes.clone(), None, true)
            .await
            .unwrap();
    }
    let id = "komander.test-guest";
    let recorded = api.store.store.plugin(id).await.unwrap().unwrap().artifact;
    let path = artifact(&api, &mine);
    let written = std::fs::read(&path).unwrap();
    assert_eq!(recorded, Some(digest(&written)), "recorded at install");

    // Another plugin's artifact, valid for this engine, takes its place.
    let swapped = std::fs::read(artifact(&api, &other)).unwrap();
    std::fs::write(&path, &swapped).unwrap();
    assert_eq!(api.app.load_installed_plugins().await.unwrap(), 2);
    let now = std::fs::read(&path).unwrap();
    assert_ne!(
        now, swapped,
        "refused and compiled again from the component"
    );
    let recorded = api.store.store.plugin(id).await.unwrap().unwrap().artifact;
    assert_eq!(recorded, Some(digest(&now)), "the new artifact is recorded");

    // The next start loads it as it is.
    assert_eq!(api.app.load_installed_plugins().await.unwrap(), 2);
    assert_eq!(std::fs::read(&path).unwrap(), now);
}
