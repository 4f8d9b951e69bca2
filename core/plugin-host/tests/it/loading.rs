//! Loading the built components.

use komander_plugin_host::{LoadedPlugin, PluginEngine};

use crate::guests;

/// A fresh engine with a built component loaded.
pub async fn load(name: &str) -> (PluginEngine, LoadedPlugin) {
    let engine = PluginEngine::new(None).expect("an engine");
    let plugin = engine
        .load(guests::bytes(name))
        .await
        .expect("the guest loads");
    (engine, plugin)
}

#[test]
fn every_guest_is_tested() {
    guests::every_guest_is_tested();
}
