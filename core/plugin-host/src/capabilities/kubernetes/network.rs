//! How a deployment's pods are reached, checked before a manifest reaches the API server: a
//! Service stays on the cluster's own network unless the grant opens its type, and takes no
//! external addresses.

use serde_json::Value;

use super::{
    KubernetesGrant, ServiceType,
    manifest::{denied, invalid},
};
use crate::bindings::types::Error as WitError;

/// Refuses a Service that reaches past the cluster's network: `spec.externalIPs` (whatever the
/// grant: with them the nodes route an address Komander does not own to the deployment), and a
/// `spec.type` other than `ClusterIP` that the grant does not name.
pub(super) fn check_service(grant: &KubernetesGrant, service: &Value) -> Result<(), WitError> {
    if service
        .pointer("/spec/externalIPs")
        .is_some_and(|ips| !ips.is_null())
    {
        return Err(denied(
            "spec.externalIPs: a Service may not claim external addresses",
        ));
    }
    let name = match service.pointer("/spec/type") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(name)) if name == "ClusterIP" => return Ok(()),
        Some(Value::String(name)) => name,
        Some(other) => return Err(invalid(format!("spec.type is {other}, not a string"))),
    };
    let Some(kind) = ServiceType::from_name(name) else {
        return Err(invalid(format!(
            "spec.type {name:?} is not a Service type (ClusterIP, {})",
            ServiceType::ALL.map(ServiceType::as_str).join(", ")
        )));
    };
    if grant.service_types.contains(&kind) {
        Ok(())
    } else {
        Err(denied(format!(
            "spec.type {name:?} is not granted to this install: its Services are ClusterIP{}",
            grant
                .service_types
                .iter()
                .map(|t| format!(" or {}", t.as_str()))
                .collect::<String>()
        )))
    }
}
