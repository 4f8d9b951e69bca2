//! How a deployment's pods are reached, checked before a manifest reaches the API server: a
//! Service stays on the cluster's own network unless the grant opens its type, and takes no
//! external addresses; an Ingress routes only to the deployment's Services, serves only its
//! TLS Secrets and sets only harmless annotations.

use serde_json::Value;

use super::{
    KubernetesGrant, ServiceType,
    manifest::{Reference, ReferenceKind, Target, array_of, denied, invalid},
};
use crate::bindings::types::Error as WitError;

/// The Ingress annotations a deployment may set, each with the form its value must have.
///
/// Annotations configure the ingress controller, which serves every namespace with its own
/// privileges (it reads every Secret it is given access to), so an annotation acts beyond the
/// deployment. Many are known holes: the snippets of ingress-nginx
/// (`configuration-snippet`, `server-snippet`) write raw configuration, and `auth-url`,
/// `auth-tls-match-cn`, `mirror-target`, `mirror-host` and `permanent-redirect` have let
/// annotations inject configuration (CVE-2023-5044, CVE-2025-1097, CVE-2025-1098,
/// CVE-2025-24514); others send traffic or credentials to another host (`auth-url`,
/// `mirror-*`, `proxy-redirect-*`) or another deployment's backend (`default-backend`,
/// `custom-http-errors`). So none passes but a few knobs of ingress-nginx and Traefik whose
/// values are plain booleans, durations or sizes, checked here so that no text reaches the
/// controller's configuration.
const INGRESS_ANNOTATIONS: &[(&str, AnnotationValue)] = &[
    (
        "nginx.ingress.kubernetes.io/ssl-redirect",
        AnnotationValue::Boolean,
    ),
    (
        "nginx.ingress.kubernetes.io/force-ssl-redirect",
        AnnotationValue::Boolean,
    ),
    (
        "nginx.ingress.kubernetes.io/proxy-body-size",
        AnnotationValue::Size,
    ),
    (
        "nginx.ingress.kubernetes.io/proxy-connect-timeout",
        AnnotationValue::Seconds,
    ),
    (
        "nginx.ingress.kubernetes.io/proxy-read-timeout",
        AnnotationValue::Seconds,
    ),
    (
        "nginx.ingress.kubernetes.io/proxy-send-timeout",
        AnnotationValue::Seconds,
    ),
    (
        "traefik.ingress.kubernetes.io/router.tls",
        AnnotationValue::Boolean,
    ),
];

/// The form of an allowed annotation's value.
#[derive(Clone, Copy, Debug)]
enum AnnotationValue {
    /// `true` or `false`.
    Boolean,
    /// A whole number of seconds, at most 6 digits.
    Seconds,
    /// A number of bytes, at most 9 digits, with an optional `k`, `m` or `g` unit (either case).
    Size,
}

impl AnnotationValue {
    /// Whether `value` has this form.
    fn accepts(self, value: &str) -> bool {
        let digits = |text: &str, most: usize| {
            (1..=most).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
        };
        match self {
            AnnotationValue::Boolean => matches!(value, "true" | "false"),
            AnnotationValue::Seconds => digits(value, 6),
            AnnotationValue::Size => digits(
                value
                    .strip_suffix(['k', 'K', 'm', 'M', 'g', 'G'])
                    .unwrap_or(value),
                9,
            ),
        }
    }

    /// The form, for an error message.
    fn describe(self) -> &'static str {
        match self {
            AnnotationValue::Boolean => "true or false",
            AnnotationValue::Seconds => "a number of seconds",
            AnnotationValue::Size => "a size such as 8m",
        }
    }
}

/// Refuses a Service that reaches past the cluster's network: `spec.externalIPs` (whatever the
/// grant: with them the nodes route an address Komander does not own to the deployment), and a
/// `spec.type` other than `ClusterIP` that the grant does not name.
pub(super) fn check_service(grant: &KubernetesGrant, service: &Value) -> Result<(), WitError> {
    if service
        .pointer("/spec/externalIPs")
        .is_some_and(|ips| !ips.is_null() && ips.as_array().is_none_or(|ips| !ips.is_empty()))
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

/// Checks an Ingress (`networking.k8s.io/v1`) and returns what it refers to: the Service of
/// each backend (`spec.defaultBackend`, `spec.rules[].http.paths[].backend`) and each
/// `spec.tls[].secretName`, which must be the deployment's. A `resource` backend is refused,
/// and so is an annotation outside [`INGRESS_ANNOTATIONS`].
pub(super) fn check_ingress(target: &Target, ingress: &Value) -> Result<Vec<Reference>, WitError> {
    if target.api_version != "networking.k8s.io/v1" {
        return Err(invalid(format!(
            "Ingress is accepted in networking.k8s.io/v1 only, not {}",
            target.api_version
        )));
    }
    check_ingress_annotations(ingress.pointer("/metadata/annotations"))?;
    let mut references = Vec::new();
    if let Some(backend) = ingress
        .pointer("/spec/defaultBackend")
        .filter(|b| !b.is_null())
    {
        references.push(backend_service("spec.defaultBackend", backend)?);
    }
    for (i, rule) in array_of(ingress.pointer("/spec/rules")).iter().enumerate() {
        for (j, path) in array_of(rule.pointer("/http/paths")).iter().enumerate() {
            let at = format!("spec.rules[{i}].http.paths[{j}].backend");
            let backend = path
                .get("backend")
                .ok_or_else(|| invalid(format!("{at} is needed")))?;
            references.push(backend_service(&at, backend)?);
        }
    }
    for (i, tls) in array_of(ingress.pointer("/spec/tls")).iter().enumerate() {
        match tls.get("secretName") {
            None | Some(Value::Null) => {}
            Some(Value::String(name)) => references.push(Reference {
                kind: ReferenceKind::Secret,
                name: name.clone(),
            }),
            Some(other) => {
                return Err(invalid(format!(
                    "spec.tls[{i}].secretName is {other}, not a string"
                )));
            }
        }
    }
    Ok(references)
}

/// The Service an Ingress backend (at `at`) routes to; a `resource` backend is refused.
fn backend_service(at: &str, backend: &Value) -> Result<Reference, WitError> {
    if backend.get("resource").is_some_and(|r| !r.is_null()) {
        return Err(denied(format!(
            "{at}.resource: an Ingress routes to Services only"
        )));
    }
    let name = backend
        .pointer("/service/name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{at}.service.name is needed")))?;
    Ok(Reference {
        kind: ReferenceKind::Service,
        name: name.to_owned(),
    })
}

/// Refuses an Ingress annotation outside [`INGRESS_ANNOTATIONS`], or one whose value has not
/// its form.
fn check_ingress_annotations(annotations: Option<&Value>) -> Result<(), WitError> {
    let Some(annotations) = annotations.and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, value) in annotations {
        let at = format!("metadata.annotations[{key:?}]");
        let Some((_, form)) = INGRESS_ANNOTATIONS.iter().find(|(name, _)| name == key) else {
            return Err(denied(format!(
                "{at}: an Ingress may set only these annotations: {}",
                INGRESS_ANNOTATIONS
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if !value.as_str().is_some_and(|v| form.accepts(v)) {
            return Err(invalid(format!("{at} is {value}, not {}", form.describe())));
        }
    }
    Ok(())
}
