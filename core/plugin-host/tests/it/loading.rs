//! Loading the built components.

use komander_plugin_host::{
    LoadedPlugin, PluginEngine,
    capabilities::{CallBuilder, CallContext},
    manifest::Manifest,
};

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

/// Starts the context of a call of the built component `name`, as the server builds one: from
/// its manifest, with the install granted `granted` (capability names).
pub fn call(name: &str, granted: &[&str]) -> CallBuilder {
    let manifest = Manifest::find(&guests::bytes(name)).expect("the guest's manifest");
    let granted = granted.iter().map(|g| g.parse().expect("a capability"));
    CallContext::builder(&manifest, granted).expect("grants the guest asks for")
}

#[test]
fn every_guest_is_tested() {
    guests::every_guest_is_tested();
}
