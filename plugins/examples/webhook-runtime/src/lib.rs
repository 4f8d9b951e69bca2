//! An example custom runtime backend: every deployment is handed to an external deployer API
//! through the `deployer` connection, one service per `apply-step`.
//!
//! - `validate` refuses services built from source (the deployer takes images only);
//! - `apply-step` sends `PUT /deployments/{deployment-id}/services/{name}` with the service as
//!   JSON, `{"image": "…", "env": [{"name": "…", "value": "…", "secret": false}]}`, one
//!   service per step, and reports progress; a secret variable's value is written into the
//!   body by the host (`secret-substitution`), so this code never sees it;
//! - `status` sends `GET /deployments/{deployment-id}`, whose answer is
//!   `{"services": {"<name>": {"state": "running", "message": "…", "image": "…", "env": […]}}}`
//!   (`state` one of `starting`, `running`, `unhealthy`, `stopped`, `failed`; `image` and the
//!   plain `env` entries being what the deployer runs, secret ones left out); a service it does
//!   not name, or a 404, is `missing`;
//! - `plan` reads the same answer: a service the deployer does not name is created, one whose
//!   image or plain variables differ is updated (naming what changed), one the deployer names
//!   that the deployment no longer has is deleted;
//! - `destroy-step` sends `DELETE /deployments/{deployment-id}`, with `?volumes=true` when the
//!   deployment's volumes go too.
//!
//! The connection's credential never reaches this code: the host adds it.

use komander_plugin_sdk::{
    host::{connections, log, progress},
    runtime::{
        Change, ChangeAction, DeploymentPlan, DeploymentSpec, DeploymentStatus, EnvValue, Error,
        Runtime, ServiceHealth, ServiceSource, ServiceSpec, ServiceState, ServiceStatus,
        StepResult,
    },
};
use serde_json::{Value, json};

struct WebhookRuntime;

const CONNECTION: &str = "deployer";

/// Sends a request to the deployer, the host writing each of `secrets` where its placeholder
/// stands in `body`, and answers its response, whatever its status.
fn request(
    method: connections::HttpMethod,
    path: &str,
    body: Option<Vec<u8>>,
    secrets: Vec<connections::SecretSubstitution>,
) -> Result<connections::HttpResponse, Error> {
    connections::request(
        CONNECTION,
        &connections::HttpRequest {
            method,
            path: path.to_owned(),
            headers: vec![("content-type".into(), "application/json".into())],
            body,
            secrets,
            timeout_ms: Some(10_000),
        },
    )
}

/// Sends a request whose answer must be a 2xx.
fn send(
    method: connections::HttpMethod,
    path: String,
    body: Option<Vec<u8>>,
    secrets: Vec<connections::SecretSubstitution>,
) -> Result<(), Error> {
    let response = request(method, &path, body, secrets)?;
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(Error::Unavailable(format!(
            "the deployer answered {} to {path}",
            response.status
        )))
    }
}

/// What the deployer runs of the deployment (`GET /deployments/{id}`): `Null` when it answers
/// 404.
fn deployed(spec: &DeploymentSpec) -> Result<Value, Error> {
    let path = format!("/deployments/{}", spec.deployment_id);
    let response = request(connections::HttpMethod::Get, &path, None, Vec::new())?;
    match response.status {
        404 => Ok(Value::Null),
        200..=299 => serde_json::from_slice(&response.body).map_err(|e| {
            Error::Unavailable(format!("the deployer answered {path} with bad JSON: {e}"))
        }),
        status => Err(Error::Unavailable(format!(
            "the deployer answered {status} to {path}"
        ))),
    }
}

/// The plain variables of `service` as the deployer holds them: `[{"name", "value"}]`.
fn plain_env(service: &ServiceSpec) -> Vec<Value> {
    service
        .env
        .iter()
        .filter_map(|v| match &v.value {
            EnvValue::Plain(value) => Some(json!({"name": v.name, "value": value})),
            EnvValue::Secret(_) => None,
        })
        .collect()
}

/// The names of the variables whose entries differ between `held` and `wanted`.
fn changed_variables(held: &Value, wanted: &[Value]) -> Vec<String> {
    let pairs = |entries: &[Value]| -> std::collections::BTreeMap<String, Value> {
        entries
            .iter()
            .filter_map(|e| Some((e["name"].as_str()?.to_owned(), e["value"].clone())))
            .collect()
    };
    let held = pairs(held.as_array().map(Vec::as_slice).unwrap_or_default());
    let wanted = pairs(wanted);
    let names: std::collections::BTreeSet<&String> = held.keys().chain(wanted.keys()).collect();
    names
        .into_iter()
        .filter(|name| held.get(*name) != wanted.get(*name))
        .cloned()
        .collect()
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
        let mut secrets = Vec::new();
        let env: Vec<_> = service
            .env
            .iter()
            .map(|v| match &v.value {
                EnvValue::Plain(value) => json!({"name": v.name, "value": value, "secret": false}),
                EnvValue::Secret(secret) => {
                    // The host writes the value where this token stands, escaped for a JSON
                    // string; no variable name or value can hold it (names are upper case).
                    let placeholder = format!("__komander_secret_{}__", secrets.len());
                    secrets.push(connections::SecretSubstitution {
                        placeholder: placeholder.clone(),
                        secret: secret.clone(),
                        encoding: connections::SecretEncoding::JsonString,
                    });
                    json!({"name": v.name, "value": placeholder, "secret": true})
                }
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
            secrets,
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

    fn plan(spec: DeploymentSpec) -> Result<DeploymentPlan, Error> {
        let answer = deployed(&spec)?;
        let change = |action, name: &str, reason: String| Change {
            action,
            kind: "service".into(),
            name: name.to_owned(),
            reason,
        };
        let mut changes = Vec::new();
        for service in &spec.services {
            let held = &answer["services"][service.name.as_str()];
            let ServiceSource::Image(image) = &service.source else {
                continue; // refused by `validate`
            };
            if held.is_null() {
                changes.push(change(
                    ChangeAction::Create,
                    &service.name,
                    "not deployed".into(),
                ));
                continue;
            }
            let mut reasons = Vec::new();
            match held["image"].as_str() {
                Some(old) if old == image => {}
                old => reasons.push(format!(
                    "image changed: {} -> {image}",
                    old.unwrap_or("(unknown)")
                )),
            }
            for name in changed_variables(&held["env"], &plain_env(service)) {
                reasons.push(format!("variable {name} changed"));
            }
            if !reasons.is_empty() {
                changes.push(change(
                    ChangeAction::Update,
                    &service.name,
                    reasons.join(", "),
                ));
            }
        }
        if let Some(held) = answer["services"].as_object() {
            for name in held.keys() {
                if !spec.services.iter().any(|s| &s.name == name) {
                    changes.push(change(
                        ChangeAction::Delete,
                        name,
                        "no longer in the deployment".into(),
                    ));
                }
            }
        }
        Ok(DeploymentPlan { changes })
    }

    fn status(spec: DeploymentSpec) -> Result<DeploymentStatus, Error> {
        let answer = deployed(&spec)?;
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
            Vec::new(),
        )?;
        Ok(StepResult {
            continuation: None,
            progress: vec!["destroyed".into()],
            done: true,
        })
    }
}

komander_plugin_sdk::export_runtime!(WebhookRuntime, manifest = "komander-plugin.toml");
