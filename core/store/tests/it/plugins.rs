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
