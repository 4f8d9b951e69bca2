//! The `kubernetes` capability through a kubernetes-runtime guest. No API server can run
//! here: what the host refuses before it talks to a cluster is tested always (against a
//! cluster address on 127.0.0.1 that answers nothing); the round trip through a real
//! cluster runs when `KOMANDER_TEST_KUBECONFIG` names one.

use std::{sync::Arc, time::Duration};

use komander_plugin_host::{
    LoadedPlugin, PluginEngine,
    capabilities::{
        CallContext, DeploymentIds,
        kubernetes::{self, KubernetesGrant, KubernetesScope},
    },
    manifest::{PluginKind, RuntimeWorld},
    runtime::{GuestError, RuntimeCallError},
};
use serde_json::json;

use crate::{loading, sandbox::spec};

const PLUGIN: &str = "komander_test_kubernetes_guest";

/// A kubeconfig for a cluster on 127.0.0.1 port 1, where nothing listens.
const NOWHERE: &str = "apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:1
    insecure-skip-tls-verify: true
users:
- name: tester
  user:
    token: not-a-real-token
contexts:
- name: nowhere
  context: {cluster: nowhere, user: tester}
current-context: nowhere
";

fn ids(deployment: &str) -> DeploymentIds {
    DeploymentIds {
        project: "p-1".into(),
        environment: "e-1".into(),
        deployment: deployment.into(),
    }
}

fn grant(namespace: &str) -> KubernetesGrant {
    KubernetesGrant {
        namespaces: [namespace.to_owned()].into(),
        kinds: ["Deployment", "ConfigMap", "Secret"]
            .map(String::from)
            .into(),
        ..KubernetesGrant::default()
    }
}

/// Calls the guest's `validate` with `settings` under `context`.
async fn run(
    engine: &PluginEngine,
    plugin: &LoadedPlugin,
    context: CallContext,
    settings: &[(&str, &str)],
) -> Result<Vec<String>, GuestError> {
    match engine.validate(plugin, context, spec(settings)).await {
        Ok(lines) => Ok(lines),
        Err(RuntimeCallError::Guest { error, .. }) => Err(error),
        Err(other) => panic!("the call itself failed: {other}"),
    }
}

fn context(granted: &[&str], scope: Option<Arc<KubernetesScope>>) -> CallContext {
    let call = loading::call(PLUGIN, granted);
    match scope {
        Some(scope) => call.kubernetes(scope),
        None => call,
    }
    .build()
}

fn deployment(name: &str, pod: serde_json::Value) -> String {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod}}})
    .to_string()
}

#[tokio::test]
async fn refusals_come_before_the_cluster_and_an_absent_cluster_is_unavailable() {
    let (engine, plugin) = loading::load(PLUGIN).await;
    assert_eq!(plugin.kind, PluginKind::Runtime(RuntimeWorld::Kubernetes));
    let client = kubernetes::connect(NOWHERE).await.unwrap();
    let scope = Arc::new(KubernetesScope::new(client, ids("d-1"), grant("shop-dev")));
    let granted = || context(&["kubernetes"], Some(scope.clone()));
    let web = deployment(
        "web",
        json!({"containers": [{"name": "web", "image": "nginx:1.27"}]}),
    );

    let ungranted = run(
        &engine,
        &plugin,
        context(&["log"], Some(scope.clone())),
        &[
            ("behavior", "apply"),
            ("namespace", "shop-dev"),
            ("manifest", &web),
        ],
    )
    .await;
    assert!(
        matches!(&ungranted, Err(GuestError::Denied(m)) if m.contains("kubernetes")),
        "{ungranted:?}"
    );
    let unscoped = run(
        &engine,
        &plugin,
        context(&["kubernetes"], None),
        &[
            ("behavior", "apply"),
            ("namespace", "shop-dev"),
            ("manifest", &web),
        ],
    )
    .await;
    assert!(
        matches!(unscoped, Err(GuestError::Unavailable(_))),
        "{unscoped:?}"
    );

    let privileged = deployment(
        "root",
        json!({"containers": [{"name": "x", "image": "x", "securityContext": {"privileged": true}}]}),
    );
    let host_path = deployment(
        "disk",
        json!({"containers": [], "volumes": [{"name": "n", "hostPath": {"path": "/var/run/docker.sock"}}]}),
    );
    let host_network = deployment("net", json!({"hostNetwork": true, "containers": []}));
    for (manifest, says) in [
        (&privileged, "privileged"),
        (&host_path, "hostPath"),
        (&host_network, "hostNetwork"),
    ] {
        let refused = run(
            &engine,
            &plugin,
            granted(),
            &[
                ("behavior", "apply"),
                ("namespace", "shop-dev"),
                ("manifest", manifest),
            ],
        )
        .await;
        assert!(
            matches!(&refused, Err(GuestError::Denied(m)) if m.contains(says)),
            "{refused:?}"
        );
    }
    let other_namespace = run(
        &engine,
        &plugin,
        granted(),
        &[
            ("behavior", "apply"),
            ("namespace", "kube-system"),
            ("manifest", &web),
        ],
    )
    .await;
    assert!(matches!(&other_namespace, Err(GuestError::Denied(m)) if m.contains("kube-system")));
    let other_kind = run(
        &engine,
        &plugin,
        granted(),
        &[
            ("behavior", "get"),
            ("namespace", "shop-dev"),
            ("api-version", "v1"),
            ("kind", "ServiceAccount"),
            ("name", "default"),
        ],
    )
    .await;
    assert!(matches!(&other_kind, Err(GuestError::Denied(m)) if m.contains("ServiceAccount")));
    let foreign_secret = run(
        &engine,
        &plugin,
        granted(),
        &[
            ("behavior", "secret"),
            ("namespace", "shop-dev"),
            ("name", "db"),
            ("key", "URL"),
            ("secret", "other/DATABASE_URL"),
        ],
    )
    .await;
    assert!(
        matches!(&foreign_secret, Err(GuestError::Denied(m)) if m.contains("other/DATABASE_URL"))
    );

    // What passes every check goes to the cluster, which is not there.
    let started = std::time::Instant::now();
    let absent = run(
        &engine,
        &plugin,
        granted(),
        &[
            ("behavior", "apply"),
            ("namespace", "shop-dev"),
            ("manifest", &web),
        ],
    )
    .await;
    assert!(
        matches!(absent, Err(GuestError::Unavailable(_))),
        "{absent:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// The round trip through a real cluster (`KOMANDER_TEST_KUBECONFIG`): apply, get, list,
/// rollout, Secrets filled by the host and read back empty, delete, and another deployment's
/// objects invisible.
#[tokio::test]
async fn a_real_cluster_round_trip() {
    let Ok(path) = std::env::var("KOMANDER_TEST_KUBECONFIG") else {
        eprintln!(
            "\n!!!!!!!! SKIPPING the live Kubernetes test: KOMANDER_TEST_KUBECONFIG is not set \
             (no API server can run here; point it at a cluster to run it). !!!!!!!!\n"
        );
        return;
    };
    let kubeconfig = std::fs::read_to_string(&path).expect("reading KOMANDER_TEST_KUBECONFIG");
    let client = kubernetes::connect(&kubeconfig).await.unwrap();
    let namespace = format!("komander-test-{}", std::process::id());
    let scope = Arc::new(
        KubernetesScope::new(client.clone(), ids("d-live"), grant(&namespace))
            .with_secret("web/TOKEN", "live-secret-value"),
    );
    let other = Arc::new(KubernetesScope::new(
        client.clone(),
        ids("d-other"),
        grant(&namespace),
    ));
    let (engine, plugin) = loading::load(PLUGIN).await;
    let ours = || context(&["kubernetes"], Some(scope.clone()));
    let theirs = || context(&["kubernetes"], Some(other.clone()));
    let ns = namespace.as_str();
    let web = deployment(
        "web",
        json!({"containers": [{"name": "web", "image": "registry.k8s.io/pause:3.9"}]}),
    );
    let applied = run(
        &engine,
        &plugin,
        ours(),
        &[("behavior", "apply"), ("namespace", ns), ("manifest", &web)],
    )
    .await
    .unwrap();
    assert!(
        applied[0].contains("\"komander.dev/deployment\":\"d-live\""),
        "{applied:?}"
    );
    let object = [("namespace", ns), ("kind", "Deployment"), ("name", "web")];
    let mut get = vec![("behavior", "get")];
    get.extend_from_slice(&object);
    assert_ne!(run(&engine, &plugin, ours(), &get).await.unwrap(), ["none"]);
    assert_eq!(
        run(&engine, &plugin, theirs(), &get).await.unwrap(),
        ["none"],
        "invisible"
    );
    let listed = run(
        &engine,
        &plugin,
        ours(),
        &[
            ("behavior", "list"),
            ("namespace", ns),
            ("kind", "Deployment"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(listed.len(), 1);
    let clash = run(
        &engine,
        &plugin,
        theirs(),
        &[("behavior", "apply"), ("namespace", ns), ("manifest", &web)],
    )
    .await;
    assert!(matches!(clash, Err(GuestError::Conflict(_))), "{clash:?}");
    let mut rollout = vec![("behavior", "rollout")];
    rollout.extend_from_slice(&object);
    let mut complete = false;
    for _ in 0..60 {
        let status = run(&engine, &plugin, ours(), &rollout).await.unwrap();
        if status[0].ends_with("complete=true") {
            complete = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(complete, "the rollout completed within 2 minutes");
    run(
        &engine,
        &plugin,
        ours(),
        &[
            ("behavior", "secret"),
            ("namespace", ns),
            ("name", "web-env"),
            ("key", "TOKEN"),
            ("secret", "web/TOKEN"),
        ],
    )
    .await
    .unwrap();
    let secret = run(
        &engine,
        &plugin,
        ours(),
        &[
            ("behavior", "get"),
            ("namespace", ns),
            ("api-version", "v1"),
            ("kind", "Secret"),
            ("name", "web-env"),
        ],
    )
    .await
    .unwrap();
    assert!(
        secret[0].contains("\"TOKEN\":\"\""),
        "read back empty: {secret:?}"
    );
    let mut delete = vec![("behavior", "delete")];
    delete.extend_from_slice(&object);
    assert_eq!(
        run(&engine, &plugin, theirs(), &delete).await.unwrap(),
        ["false"]
    );
    assert_eq!(
        run(&engine, &plugin, ours(), &delete).await.unwrap(),
        ["true"]
    );
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    let _ = namespaces.delete(&namespace, &Default::default()).await;
}
