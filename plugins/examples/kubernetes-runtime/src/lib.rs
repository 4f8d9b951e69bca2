//! The plugin guide's Kubernetes runtime (docs/plugins.md, "Kubernetes"), compiled and tested so
//! that the guide cannot go stale: one step that applies a Deployment per service.

use komander_plugin_sdk::{
    kubernetes::cluster,
    runtime::{DeploymentSpec, Error, Runtime, ServiceSource, StepResult},
};
use serde_json::json;

struct KubernetesRuntime;

impl Runtime for KubernetesRuntime {
    fn apply_step(spec: DeploymentSpec, _: Option<Vec<u8>>) -> Result<StepResult, Error> {
        let namespace = spec
            .settings
            .iter()
            .find(|(key, _)| key == "namespace")
            .map(|(_, value)| value.clone())
            .ok_or_else(|| Error::InvalidInput("the namespace setting is missing".into()))?;
        for s in &spec.services {
            let ServiceSource::Image(image) = &s.source else {
                return Err(Error::InvalidInput(format!(
                    "{} is built from source",
                    s.name
                )));
            };
            let name = format!("{}-{}", spec.deployment, s.name);
            let workload = json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": s.name, "image": image}]}
                    }
                }
            });
            // the host adds its labels, to the selector too
            cluster::apply(&namespace, &workload.to_string())?;
        }
        Ok(StepResult {
            continuation: None,
            progress: vec!["applied".into()],
            done: true,
        })
    }
}

komander_plugin_sdk::export_runtime!(KubernetesRuntime, manifest = "komander-plugin.toml");
