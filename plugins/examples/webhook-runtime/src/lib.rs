//! An example custom runtime backend: every deployment is handed to an external deployer API
//! through the `deployer` connection, one service per `apply-step`.
//!
//! - `validate` refuses services built from source (the deployer takes images only);
//! - `apply-step` sends `PUT /deployments/{deployment-id}/services/{name}` with the service as
//!   JSON, one service per step, and reports progress;
//! - `destroy-step` sends `DELETE /deployments/{deployment-id}`.
//!
//! The connection's credential never reaches this code: the host adds it.

use komander_plugin_sdk::{
    host::{connections, log, progress},
    runtime::{DeploymentSpec, EnvValue, Error, Runtime, ServiceSource, StepResult},
};
use serde_json::json;

struct WebhookRuntime;

const CONNECTION: &str = "deployer";

fn send(method: connections::HttpMethod, path: String, body: Option<Vec<u8>>) -> Result<(), Error> {
    let response = connections::request(
        CONNECTION,
        &connections::HttpRequest {
            method,
            path: path.clone(),
            headers: vec![("content-type".into(), "application/json".into())],
            body,
            secrets: vec![],
            timeout_ms: Some(10_000),
        },
    )?;
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(Error::Unavailable(format!(
            "the deployer answered {} to {path}",
            response.status
        )))
    }
}

impl Runtime for WebhookRuntime {
    fn validate(spec: DeploymentSpec) -> Result<Vec<String>, Error> {
        for service in &spec.services {
            if let ServiceSource::Build(_) = service.source {
                return Err(Error::InvalidInput(format!(
                    "service {} is built from source; this runtime deploys images only",
                    service.name
                )));
            }
        }
        Ok(Vec::new())
    }

    fn apply_step(
        spec: DeploymentSpec,
        continuation: Option<Vec<u8>>,
    ) -> Result<StepResult, Error> {
        let index = continuation
            .as_deref()
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(0);
        let Some(service) = spec.services.get(index) else {
            return Ok(StepResult {
                continuation: None,
                progress: vec!["deployed".into()],
                done: true,
            });
        };
        let ServiceSource::Image(image) = &service.source else {
            return Err(Error::InvalidInput(format!(
                "service {} has no image",
                service.name
            )));
        };
        let env: Vec<_> = service
            .env
            .iter()
            .filter_map(|v| match &v.value {
                EnvValue::Plain(value) => Some(json!({"name": v.name, "value": value})),
                EnvValue::Secret(_) => None,
            })
            .collect();
        let body = json!({"image": image, "env": env}).to_string().into_bytes();
        send(
            connections::HttpMethod::Put,
            format!(
                "/deployments/{}/services/{}",
                spec.deployment_id, service.name
            ),
            Some(body),
        )?;
        let total = spec.services.len() as u32;
        progress::report("deploy", index as u32 + 1, total);
        log::log(log::Level::Info, &format!("deployed {}", service.name));
        Ok(StepResult {
            continuation: Some((index + 1).to_string().into_bytes()),
            progress: vec![format!("deployed {}", service.name)],
            done: false,
        })
    }

    fn destroy_step(
        spec: DeploymentSpec,
        _continuation: Option<Vec<u8>>,
    ) -> Result<StepResult, Error> {
        send(
            connections::HttpMethod::Delete,
            format!("/deployments/{}", spec.deployment_id),
            None,
        )?;
        Ok(StepResult {
            continuation: None,
            progress: vec!["destroyed".into()],
            done: true,
        })
    }
}

komander_plugin_sdk::export_runtime!(WebhookRuntime, manifest = "komander-plugin.toml");
