//! A `kubernetes-runtime` plugin that calls one function of the `kubernetes` capability, named
//! by the deployment's `behavior` setting, with arguments from the other settings; `validate`
//! answers what the host returned, one line per item.

use komander_plugin_sdk::{
    kubernetes::cluster,
    runtime::{DeploymentSpec, Error, Runtime, SecretRef},
};

struct TestKubernetesGuest;

impl Runtime for TestKubernetesGuest {
    fn validate(spec: DeploymentSpec) -> Result<Vec<String>, Error> {
        let namespace = spec.required_setting("namespace")?;
        let object = || -> Result<(&str, &str, &str), Error> {
            Ok((
                spec.setting("api-version").unwrap_or("apps/v1"),
                spec.required_setting("kind")?,
                spec.required_setting("name")?,
            ))
        };
        match spec.required_setting("behavior")? {
            "apply" => Ok(vec![cluster::apply(
                namespace,
                spec.required_setting("manifest")?,
            )?]),
            "get" => {
                let (api_version, kind, name) = object()?;
                Ok(vec![
                    cluster::get_object(namespace, api_version, kind, name)?
                        .unwrap_or_else(|| "none".into()),
                ])
            }
            "list" => {
                let (api_version, kind) = (
                    spec.setting("api-version").unwrap_or("apps/v1"),
                    spec.required_setting("kind")?,
                );
                cluster::list_objects(namespace, api_version, kind, spec.setting("selector"))
            }
            "delete" => {
                let (api_version, kind, name) = object()?;
                Ok(vec![
                    cluster::delete_object(namespace, api_version, kind, name)?.to_string(),
                ])
            }
            "rollout" => {
                let (_, kind, name) = object()?;
                let r = cluster::rollout_status(namespace, kind, name)?;
                Ok(vec![format!(
                    "desired={} updated={} ready={} available={} complete={}",
                    r.desired, r.updated, r.ready, r.available, r.complete
                )])
            }
            "logs" => {
                let page = cluster::pod_logs(
                    namespace,
                    spec.required_setting("pod")?,
                    None,
                    spec.setting("cursor"),
                    100,
                )?;
                let mut lines: Vec<String> = page.entries.into_iter().map(|e| e.line).collect();
                lines.push(page.next);
                Ok(lines)
            }
            "secret" => {
                cluster::create_secret(
                    namespace,
                    spec.required_setting("name")?,
                    &[(
                        spec.required_setting("key")?.to_owned(),
                        SecretRef {
                            name: spec.required_setting("secret")?.to_owned(),
                        },
                    )],
                )?;
                Ok(vec!["done".into()])
            }
            other => Err(Error::InvalidInput(format!("unknown behavior {other:?}"))),
        }
    }
}

komander_plugin_sdk::export_runtime!(TestKubernetesGuest, manifest = "komander-plugin.toml");
