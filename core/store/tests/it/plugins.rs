//! Installed plugins.

use komander_store::PluginRecord;

use crate::{
    backends::{TestDb, on_both},
    fixtures::{audit, create_plugin, create_user},
};

on_both!(settings_round_trip_through_an_update);

async fn settings_round_trip_through_an_update(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let plugin = create_plugin(store, "acme.thing", &ann).await;
    let configured = PluginRecord {
        config: r#"{"region":"eu"}"#.into(),
        ..plugin
    };
    store
        .update_plugin(&configured, &audit(&ann, None, "plugin.config"))
        .await
        .unwrap();
    assert_eq!(
        store.plugin("acme.thing").await.unwrap().unwrap().config,
        configured.config
    );
}

on_both!(the_artifact_digest_is_kept_for_its_build_only);

/// Regression: the digest of a plugin's precompiled artifact is recorded, for the build
/// it was compiled from only.
async fn the_artifact_digest_is_kept_for_its_build_only(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let plugin = create_plugin(store, "acme.thing", &ann).await;
    let artifact = "a".repeat(64);
    let recorded = store
        .set_plugin_artifact("acme.thing", &plugin.digest, Some(&artifact))
        .await
        .unwrap();
    assert!(recorded);
    let stored = store.plugin("acme.thing").await.unwrap().unwrap();
    assert_eq!(stored.artifact.as_deref(), Some(artifact.as_str()));
    // Another build (an upgrade in between) keeps what it recorded.
    let stale = store
        .set_plugin_artifact("acme.thing", &"e".repeat(64), Some(&"b".repeat(64)))
        .await
        .unwrap();
    assert!(!stale);
    let stored = store.plugin("acme.thing").await.unwrap().unwrap();
    assert_eq!(stored.artifact, Some(artifact));
}

on_both!(components_are_kept_once_and_pruned_when_unused);

async fn components_are_kept_once_and_pruned_when_unused(db: &TestDb) {
    let store = db.store.as_ref();
    let ann = create_user(store, "ann").await;
    let plugin = create_plugin(store, "acme.thing", &ann).await;
    store
        .put_plugin_component(&plugin.digest, b"\0asm-used")
        .await
        .unwrap();
    store
        .put_plugin_component(&plugin.digest, b"another copy is ignored")
        .await
        .unwrap();
    store
        .put_plugin_component("00ff", b"\0asm-unused")
        .await
        .unwrap();
    assert_eq!(
        store.plugin_component(&plugin.digest).await.unwrap(),
        Some(b"\0asm-used".to_vec())
    );
    assert_eq!(store.prune_plugin_components().await.unwrap(), 1);
    assert_eq!(store.plugin_component("00ff").await.unwrap(), None);
    assert!(
        store
            .plugin_component(&plugin.digest)
            .await
            .unwrap()
            .is_some()
    );
}
