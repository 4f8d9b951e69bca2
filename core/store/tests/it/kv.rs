//! Plugins' kv scopes: scoped by plugin and project, under a quota, gone with the plugin.

use komander_store::{KvQuota, Store, StoreError};

use crate::{
    backends::{TestDb, on_both},
    fixtures::{audit, create_plugin, create_user},
};

on_both!(
    a_set_replaces_the_value_of_its_key,
    a_new_key_over_the_key_quota_conflicts,
    a_value_over_the_byte_quota_conflicts,
    a_scope_needs_an_installed_plugin,
    projects_have_scopes_apart,
    keys_are_listed_by_prefix_in_order,
    deleting_answers_whether_the_key_existed,
    uninstalling_the_plugin_clears_its_kv,
);

const PLUGIN: &str = "acme.thing";

/// Two keys, 100 bytes of keys and values.
const QUOTA: KvQuota = KvQuota {
    keys: 2,
    bytes: 100,
};

/// The plugin installed, and its scope of project `p1` holding `a` = `22` and `ab` = `3`
/// (two keys, 6 bytes).
async fn filled(store: &dyn Store) {
    let ann = create_user(store, "ann").await;
    create_plugin(store, PLUGIN, &ann).await;
    store.kv_set(PLUGIN, "p1", "a", b"1", QUOTA).await.unwrap();
    store.kv_set(PLUGIN, "p1", "a", b"22", QUOTA).await.unwrap();
    store.kv_set(PLUGIN, "p1", "ab", b"3", QUOTA).await.unwrap();
}

async fn a_set_replaces_the_value_of_its_key(db: &TestDb) {
    let store = db.store.as_ref();
    filled(store).await;
    assert_eq!(
        store.kv_get(PLUGIN, "p1", "a").await.unwrap(),
        Some(b"22".to_vec())
    );
}

async fn a_new_key_over_the_key_quota_conflicts(db: &TestDb) {
    let store = db.store.as_ref();
    filled(store).await;
    assert!(
        matches!(
            store.kv_set(PLUGIN, "p1", "c", b"4", QUOTA).await,
            Err(StoreError::Conflict { .. })
        ),
        "a third key is over the quota"
    );
}

async fn a_value_over_the_byte_quota_conflicts(db: &TestDb) {
    let store = db.store.as_ref();
    filled(store).await;
    assert!(
        matches!(
            store.kv_set(PLUGIN, "p1", "a", &[0; 99], QUOTA).await,
            Err(StoreError::Conflict { .. })
        ),
        "too many bytes"
    );
}

async fn a_scope_needs_an_installed_plugin(db: &TestDb) {
    let store = db.store.as_ref();
    assert!(matches!(
        store.kv_set("nobody", "p1", "a", b"1", QUOTA).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn projects_have_scopes_apart(db: &TestDb) {
    let store = db.store.as_ref();
    filled(store).await;
    assert_eq!(
        store.kv_get(PLUGIN, "p2", "a").await.unwrap(),
        None,
        "projects are apart"
    );
}

async fn keys_are_listed_by_prefix_in_order(db: &TestDb) {
    let store = db.store.as_ref();
    filled(store).await;
    assert_eq!(
        store.kv_keys(PLUGIN, "p1", "a", 10).await.unwrap(),
        ["a", "ab"]
    );
    assert_eq!(store.kv_keys(PLUGIN, "p1", "ab", 10).await.unwrap(), ["ab"]);
}

async fn deleting_answers_whether_the_key_existed(db: &TestDb) {
    let store = db.store.as_ref();
    filled(store).await;
    assert!(store.kv_delete(PLUGIN, "p1", "ab").await.unwrap());
    assert!(!store.kv_delete(PLUGIN, "p1", "ab").await.unwrap());
}

async fn uninstalling_the_plugin_clears_its_kv(db: &TestDb) {
    let store = db.store.as_ref();
    filled(store).await;
    let ann = store
        .user_by_handle(&"ann".parse().unwrap())
        .await
        .unwrap()
        .expect("ann exists");
    store
        .delete_plugin(PLUGIN, &audit(&ann, None, "plugin.uninstall"))
        .await
        .unwrap();
    assert_eq!(
        store.kv_get(PLUGIN, "p1", "a").await.unwrap(),
        None,
        "uninstall clears kv"
    );
}
