//! What is refused before anything runs, with a message that names the problem: components of
//! the wrong kind or WIT version, with unknown imports, without a manifest or with a bad one,
//! whose digest does not match; and the cache of precompiled artifacts.

use std::path::{Path, PathBuf};

use komander_plugin_host::{PluginEngine, PluginError, digest, verify_digest};

use crate::guests;

const MANIFEST: &str = "id = \"acme.thing\"\nversion = \"1.0.0\"\nkind = \"runtime\"\n";

/// Appends the custom section `komander-plugin` holding `manifest`.
fn with_manifest(mut component: Vec<u8>, manifest: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                break;
            }
        }
    }
    let name = b"komander-plugin";
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(manifest.as_bytes());
    component.push(0);
    leb(payload.len(), &mut component);
    component.extend(payload);
    component
}

/// A component exporting `interface` (one function), importing `import` if given.
fn component(interface: &str, import: Option<&str>) -> Vec<u8> {
    let import = import
        .map(|name| format!("(import \"{name}\" (instance (export \"steal\" (func))))"))
        .unwrap_or_default();
    wat::parse_str(format!(
        r#"(component
            {import}
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $api (export "validate" (func $f)))
            (export "{interface}" (instance $api))
        )"#
    ))
    .expect("valid WAT")
}

async fn refusal(bytes: Vec<u8>) -> String {
    let engine = PluginEngine::new(None).unwrap();
    match engine.load(bytes).await {
        Err(PluginError::Refused(reason)) => reason,
        Err(incompatible @ PluginError::Incompatible { .. }) => incompatible.to_string(),
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(plugin) => panic!("{} was accepted", plugin.label()),
    }
}

#[tokio::test]
async fn unsupported_versions_kinds_and_imports_are_refused() {
    let v3 = with_manifest(component("komander:runtime/runtime@0.3.0", None), MANIFEST);
    assert_eq!(
        refusal(v3).await,
        "this runtime is built for komander:runtime@0.3.0; this Komander runs runtimes of \
         komander:runtime@0.2.0: rebuild it with the 0.2 SDK (see wit/CHANGELOG.md)"
    );
    let provider = with_manifest(
        component("komander:git-provider/provider@0.2.0", None),
        &MANIFEST.replace("runtime", "git-provider"),
    );
    assert!(
        refusal(provider)
            .await
            .contains("this Komander runs git-providers of komander:git-provider@0.1.0")
    );
    let unknown = with_manifest(component("acme:other/api@1.0.0", None), MANIFEST);
    assert!(refusal(unknown).await.contains("exports neither"));
    let mismatch = with_manifest(
        component("komander:runtime/runtime@0.2.0", None),
        &MANIFEST.replace("runtime", "git-provider"),
    );
    assert!(
        refusal(mismatch)
            .await
            .contains("says kind \"git-provider\" but it exports a runtime")
    );
    let evil = with_manifest(
        component(
            "komander:runtime/runtime@0.2.0",
            Some("acme:evil/thing@1.0.0"),
        ),
        MANIFEST,
    );
    let reason = refusal(evil).await;
    assert!(
        reason.contains("imports what this host does not provide"),
        "{reason}"
    );
    assert!(reason.contains("acme:evil/thing"), "{reason}");
}

#[tokio::test]
async fn a_runtime_built_for_0_1_is_refused_naming_both_versions() {
    let engine = PluginEngine::new(None).unwrap();
    let error = engine
        .load(guests::bytes("komander_test_guest_v0_1"))
        .await
        .err()
        .expect("a 0.1 runtime is refused");
    assert!(
        matches!(error, PluginError::Incompatible { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "this runtime is built for komander:runtime@0.1.0; this Komander runs runtimes of \
         komander:runtime@0.2.0: rebuild it with the 0.2 SDK (see wit/CHANGELOG.md)"
    );
}

#[tokio::test]
async fn components_without_a_good_manifest_are_refused() {
    let bare = component("komander:runtime/runtime@0.2.0", None);
    assert!(
        refusal(bare.clone())
            .await
            .contains("no komander-plugin section")
    );
    let bad_id = with_manifest(bare, &MANIFEST.replace("acme.thing", "Acme Thing"));
    assert!(refusal(bad_id).await.contains("its id"));
    let module = wat::parse_str("(module)").unwrap();
    assert!(
        refusal(module)
            .await
            .contains("not a WebAssembly component")
    );
}

#[test]
fn a_digest_that_does_not_match_is_refused() {
    let bytes = guests::bytes("komander_test_guest");
    let sha = digest(&bytes);
    assert!(verify_digest(&bytes, &sha).is_ok());
    assert!(verify_digest(&bytes, &sha.to_uppercase()).is_ok());
    let err = verify_digest(&bytes, &"0".repeat(64))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sha256"), "{err}");
}

/// Where `engine` caches the artifact of `bytes` in `cache`.
fn artifact_path(cache: &Path, engine: &PluginEngine, bytes: &[u8]) -> PathBuf {
    cache.join(format!(
        "{}-{}.cwasm",
        digest(bytes),
        engine.compatibility_hash()
    ))
}

#[tokio::test]
async fn precompiled_artifacts_are_cached_by_digest_and_engine() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = guests::bytes("komander_test_guest");
    let engine = PluginEngine::new(Some(cache.path().to_owned())).unwrap();
    let compiled = engine.load(bytes.clone()).await.unwrap();
    let path = artifact_path(cache.path(), &engine, &bytes);
    let recorded = compiled.artifact.expect("an artifact digest");
    assert_eq!(digest(&std::fs::read(&path).unwrap()), recorded);
    let again = PluginEngine::new(Some(cache.path().to_owned())).unwrap();
    let plugin = again.load_cached(bytes, Some(&recorded)).await.unwrap();
    assert_eq!(plugin.manifest.id, "komander.test-guest");
    assert_eq!(plugin.artifact.as_deref(), Some(recorded.as_str()));
}

/// Regression: a cached artifact was deserialized (its machine code run) whatever its
/// content, so one swapped on disk ran another plugin's code, or anyone's, under this
/// plugin's name and grants.
#[tokio::test]
async fn an_artifact_with_another_digest_is_refused_and_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(Some(cache.path().to_owned())).unwrap();
    let mine = guests::bytes("komander_test_guest");
    let other = guests::bytes("komander_test_docker_guest");
    let recorded = engine.load(mine.clone()).await.unwrap().artifact.unwrap();
    let expected_kind = engine.load(mine.clone()).await.unwrap().kind;
    let other_kind = engine.load(other.clone()).await.unwrap().kind;
    assert_ne!(
        expected_kind, other_kind,
        "two guests this test can tell apart"
    );
    // The other plugin's artifact, a valid one of this very engine, takes mine's place.
    let path = artifact_path(cache.path(), &engine, &mine);
    std::fs::copy(artifact_path(cache.path(), &engine, &other), &path).unwrap();
    let plugin = engine
        .load_cached(mine.clone(), Some(&recorded))
        .await
        .unwrap();
    assert_eq!(plugin.kind, expected_kind, "compiled from the component");
    let rebuilt = plugin.artifact.expect("the artifact is written again");
    assert_eq!(digest(&std::fs::read(&path).unwrap()), rebuilt);
    // Garbage in its place is refused the same way.
    std::fs::write(&path, b"not an artifact").unwrap();
    let plugin = engine.load_cached(mine, Some(&rebuilt)).await.unwrap();
    assert_eq!(plugin.kind, expected_kind);
}
