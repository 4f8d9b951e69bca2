//! The plugin host's figures (DESIGN.md §5): a fresh instance plus a trivial call (target
//! ≤ 25 µs median), the host overhead of one capability call (target ≤ 5 µs), and the start-up
//! load of the first-party plugins from their precompiled artifacts, against compiling them.

use std::time::{Duration, Instant};

use komander_e2e::guests;
use komander_plugin_host::{
    PluginEngine,
    capabilities::{CallContext, Capability},
    runtime::DeploymentSpec,
};

const CALLS: usize = 2_000;
const CAPABILITY_CALLS: u32 = 1_000;

/// A deployment spec with `settings`, for the test guests.
pub fn spec(settings: &[(&str, &str)]) -> DeploymentSpec {
    DeploymentSpec {
        project_id: "p".into(),
        project: "shop".into(),
        environment_id: "e".into(),
        environment: "dev".into(),
        deployment_id: "d".into(),
        deployment: "mine".into(),
        services: vec![],
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    }
}

/// The median of `samples`.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs the plugin benchmarks and prints them.
pub async fn run() -> anyhow::Result<()> {
    // Start-up: the first-party plugins compiled (first start) and from their precompiled
    // artifacts, checked against the digests recorded then (every later start).
    let cache = tempfile::tempdir()?;
    let cold = PluginEngine::new(Some(cache.path().to_owned()))?;
    let started = Instant::now();
    let mut artifacts = Vec::new();
    for first_party in komander_first_party::PLUGINS {
        artifacts.push(cold.load(first_party.bytes.to_vec()).await?.artifact);
    }
    let compiled = started.elapsed();
    let warm = PluginEngine::new(Some(cache.path().to_owned()))?;
    let started = Instant::now();
    for (first_party, artifact) in komander_first_party::PLUGINS.iter().zip(&artifacts) {
        let bytes = first_party.bytes.to_vec();
        warm.load_cached(bytes, artifact.as_deref()).await?;
    }
    let precompiled = started.elapsed();

    let engine = PluginEngine::new(None)?;
    let plugin = engine.load(guests::bytes("komander_test_guest")).await?;

    let call = CallContext::builder(&plugin.manifest, [Capability::Config])?.label("bench");
    let context = || call.clone().build();
    let mut trivial = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        engine.validate(&plugin, context(), spec(&[])).await?;
        trivial.push(started.elapsed());
    }
    let times = CAPABILITY_CALLS.to_string();
    let mut without = Vec::new();
    let mut with = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        engine
            .validate(
                &plugin,
                context(),
                spec(&[("behavior", "config-loop"), ("times", "0")]),
            )
            .await?;
        without.push(started.elapsed());
        let started = Instant::now();
        engine
            .validate(
                &plugin,
                context(),
                spec(&[("behavior", "config-loop"), ("times", &times)]),
            )
            .await?;
        with.push(started.elapsed());
    }
    let per_capability = median(with).saturating_sub(median(without)) / CAPABILITY_CALLS;
    println!("\nplugin host (test guest, remote-runtime world)");
    println!(
        "  fresh instance + trivial call: median {:.1} µs over {CALLS} calls (target <= 25 µs)",
        median(trivial).as_secs_f64() * 1e6
    );
    println!(
        "  one capability call (config.get), host side: {:.2} µs (target <= 5 µs)",
        per_capability.as_secs_f64() * 1e6
    );
    println!(
        "  start-up load of the {} first-party plugins: compiling {:.0} ms, from their \
         precompiled artifacts {:.1} ms ({:.0}x faster)",
        komander_first_party::PLUGINS.len(),
        compiled.as_secs_f64() * 1e3,
        precompiled.as_secs_f64() * 1e3,
        compiled.as_secs_f64() / precompiled.as_secs_f64()
    );
    Ok(())
}
