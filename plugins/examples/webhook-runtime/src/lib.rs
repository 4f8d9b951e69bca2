//! An example custom runtime backend: every deployment is handed to an external deployer API
//! through the `deployer` connection, one service per `apply-step`.
//!
//! - `validate` refuses services built from source (the deployer takes images only);
//! - `apply-step` sends `PUT /deployments/{deployment-id}/services/{name}` with the service as
//!   JSON, one service per step, and reports progress;
//! - `status` sends `GET /deployments/{deployment-id}`, whose answer is
//!   `{"services": {"<name>": {"state": "running", "message": "…"}}}` (`state` one of
//!   `starting`, `running`, `unhealthy`, `stopped`, `failed`); a service it does not name, or a
//!   404, is `missing`;
//! - `destroy-step` sends `DELETE /deployments/{deployment-id}`, with `?volumes=true` when the
//!   deployment's volumes go too.
//!
//! The connection's credential never reaches this code: the host adds it.

use komander_plugin_sdk::{
    host::{connections, log, progress},
    runtime::{
        DeploymentSpec, DeploymentStatus, EnvValue, Error, Runtime, ServiceHealth, ServiceSource,
        ServiceState, ServiceStatus, StepResult,
    },
};
use serde_json::json;

struct WebhookRuntime;

const CONNECTION: &str = "deployer";

/// Sends a request to the deployer and answers its response, whatever its status.
fn request(
    method: connections::HttpMethod,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<connections::HttpResponse, Error> {
    connections::request(
        CONNECTION,
        &connections::HttpRequest {
            method,
            path: path.to_owned(),
            headers: vec![("content-type".into(), "application/json".into())],
            body,
            secrets: vec![],
            timeout_ms: Some(10_000),
        },
    )
}

fn send(method: connections::HttpMethod, path: String, body: Option<Vec<u8>>) -> Result<(), Error> {
    let response = request(method, &path, body)?;
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(Error::Unavailable(format!(
            "the deployer answered {} to {path}",
            response.status
        )))
    }
}

/// A service's state as the deployer spells it.
fn state(text: &str) -> Option<ServiceState> {
    Some(match text {
        "starting" => ServiceState::Starting,
        "running" => ServiceState::Running,
        "unhealthy" => ServiceState::Unhealthy,
        "stopped" => ServiceState::Stopped,
        "failed" => ServiceState::Failed,
        _ => return None,
    })
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

    fn status(spec: DeploymentSpec) -> Result<DeploymentStatus, Error> {
        let path = format!("/deployments/{}", spec.deployment_id);
        let response = request(connections::HttpMethod::Get, &path, None)?;
        let answer = match response.status {
            404 => serde_json::Value::Null,
            200..=299 => serde_json::from_slice(&response.body).map_err(|e| {
                Error::Unavailable(format!("the deployer answered {path} with bad JSON: {e}"))
            })?,
            status => {
                return Err(Error::Unavailable(format!(
                    "the deployer answered {status} to {path}"
                )));
            }
        };
        let services = spec
            .services
            .iter()
            .map(|service| {
                let reported = &answer["services"][service.name.as_str()];
                let text = reported["state"].as_str().unwrap_or("missing");
                let state = state(text).unwrap_or(ServiceState::Missing);
                let message = match (state, reported["message"].as_str()) {
                    (ServiceState::Missing, _) if text != "missing" => {
                        format!("the deployer answered an unknown state {text:?}")
                    }
                    (_, Some(message)) => message.to_owned(),
                    (_, None) => String::new(),
                };
                ServiceStatus {
                    service: service.name.clone(),
                    state,
                    message,
                    health: ServiceHealth::None,
                    restarts: 0,
                    since_ms: None,
                    replicas_running: u32::from(state == ServiceState::Running),
                }
            })
            .collect();
        Ok(DeploymentStatus { services })
    }

    fn destroy_step(
        spec: DeploymentSpec,
        _continuation: Option<Vec<u8>>,
        remove_volumes: bool,
    ) -> Result<StepResult, Error> {
        let query = if remove_volumes { "?volumes=true" } else { "" };
        send(
            connections::HttpMethod::Delete,
            format!("/deployments/{}{query}", spec.deployment_id),
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
