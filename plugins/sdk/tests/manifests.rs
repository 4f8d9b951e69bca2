//! Every manifest of this repository passes the compile-time check (the guests' builds check
//! them too; this names the file that fails), and so does the guide's full example
//! (`full-manifest.toml`, which docs/plugins.md quotes).

#[test]
fn every_manifest_of_this_repository_passes() {
    for manifest in [
        include_str!("../../compose/komander-plugin.toml"),
        include_str!("../../test-guest/komander-plugin.toml"),
        include_str!("../../test-docker-guest/komander-plugin.toml"),
        include_str!("../../test-kubernetes-guest/komander-plugin.toml"),
        include_str!("../../examples/webhook-runtime/komander-plugin.toml"),
        include_str!("../../examples/docker-runtime/komander-plugin.toml"),
        include_str!("../../examples/kubernetes-runtime/komander-plugin.toml"),
        include_str!("full-manifest.toml"),
    ] {
        komander_plugin_sdk::manifest::check(manifest.as_bytes());
    }
}
