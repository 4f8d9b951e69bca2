//! A `kubernetes-runtime` plugin that calls one function of the `kubernetes` capability, named
//! by the deployment's `behavior` setting, with arguments from the other settings; `validate`
//! answers what the host returned, one line per item.

use komander_plugin_sdk::{
    kubernetes::cluster,
    runtime::{DeploymentSpec, Error, Runtime, SecretRef},
};

struct TestKubernetesGuest;

fn setting<'a>(spec: &'a DeploymentSpec, key: &str) -> Option<&'a str> {
    spec.settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn required<'a>(spec: &'a DeploymentSpec, key: &str) -> Result<&'a str, Error> {
    setting(spec, key).ok_or_else(|| Error::InvalidInput(format!("the {key} setting is missing")))
}

impl Runtime for TestKubernetesGuest {
    fn validate(spec: DeploymentSpec) -> Result<Vec<String>, Error> {
        let namespace = required(&spec, "namespace")?;
        let object = || -> Result<(&str, &str, &str), Error> {
            Ok((
                setting(&spec, "api-version").unwrap_or("apps/v1"),
                required(&spec, "kind")?,
                required(&spec, "name")?,
            ))
        };
        match required(&spec, "behavior")? {
            "apply" => Ok(vec![cluster::apply(
                namespace,
                required(&spec, "manifest")?,
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
                    setting(&spec, "api-version").unwrap_or("apps/v1"),
                    required(&spec, "kind")?,
                );
                cluster::list_objects(namespace, api_version, kind, setting(&spec, "selector"))
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
                    required(&spec, "pod")?,
                    None,
                    setting(&spec, "cursor"),
                    100,
                )?;
                let mut lines: Vec<String> = page.entries.into_iter().map(|e| e.line).collect();
                lines.push(page.next);
                Ok(lines)
            }
            "secret" => {
                cluster::create_secret(
                    namespace,
                    required(&spec, "name")?,
                    &[(
                        required(&spec, "key")?.to_owned(),
                        SecretRef {
                            name: required(&spec, "secret")?.to_owned(),
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
