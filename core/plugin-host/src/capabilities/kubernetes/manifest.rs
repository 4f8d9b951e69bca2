//! The objects a guest hands to `komander:kubernetes`, checked before they reach the API
//! server: one namespaced object of a granted kind into a granted namespace, no pod template
//! that asks for host access, selectors that pick the deployment's pods only, and Komander's
//! labels on the object and its pod templates; Services and Ingresses are checked by
//! [`super::network`], claims by [`super::claims`]. Also what the host does to objects on the
//! way back: Secrets' values emptied, rollouts summarized.

use serde_json::{Map, Value};

use super::{DEPLOYMENT_LABEL, KubernetesGrant, LABEL_PREFIX, Owner, claims, network};
use crate::bindings::{kubernetes_cluster::Rollout, types::Error as WitError};

/// The largest manifest accepted, in bytes of JSON.
pub const MANIFEST_BYTES: usize = 1 << 20;

/// What an object is: its API version, kind and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Target {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

/// A namespaced object a manifest refers to by name (a pod's Secret, ConfigMap or
/// PersistentVolumeClaim, an Ingress's Service or TLS Secret): the host checks before applying
/// that each exists and belongs to the deployment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Reference {
    pub kind: ReferenceKind,
    pub name: String,
}

/// The kinds a manifest may refer to by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum ReferenceKind {
    ConfigMap,
    PersistentVolumeClaim,
    Secret,
    Service,
}

impl ReferenceKind {
    /// The kind as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceKind::ConfigMap => "ConfigMap",
            ReferenceKind::PersistentVolumeClaim => "PersistentVolumeClaim",
            ReferenceKind::Secret => "Secret",
            ReferenceKind::Service => "Service",
        }
    }
}

/// Kinds whose objects act on the whole namespace or on credentials, refused whatever the
/// grant: with them one deployment could reach the others sharing a namespace.
const NAMESPACE_WIDE_KINDS: &[&str] = &[
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "ServiceAccount",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodDisruptionBudget",
];

/// The volume types a pod may use: none reaches the node.
const VOLUME_TYPES: &[&str] = &[
    "configMap",
    "secret",
    "emptyDir",
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
    "ephemeral",
];

/// The prefix of the legacy annotations that set a container's AppArmor profile.
const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";

/// The SELinux types a container may ask for (Pod Security's baseline).
const SELINUX_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// A malformed manifest.
pub(super) fn invalid(message: impl Into<String>) -> WitError {
    WitError::InvalidInput(message.into())
}

/// A manifest the policy refuses.
pub(super) fn denied(message: impl Into<String>) -> WitError {
    WitError::Denied(message.into())
}

/// Checks a namespace against the grant.
pub(super) fn check_namespace(grant: &KubernetesGrant, namespace: &str) -> Result<(), WitError> {
    if grant.namespaces.contains(namespace) {
        Ok(())
    } else {
        Err(denied(format!(
            "namespace {namespace:?} is not granted to this install (granted: {})",
            grant
                .namespaces
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Checks a kind against the grant.
pub(super) fn check_kind(grant: &KubernetesGrant, kind: &str) -> Result<(), WitError> {
    if grant.kinds.contains(kind) {
        Ok(())
    } else {
        Err(denied(format!(
            "kind {kind:?} is not granted to this install (granted: {})",
            grant.kinds.iter().cloned().collect::<Vec<_>>().join(", ")
        )))
    }
}

/// Parses, checks and labels a manifest for `namespace`.
pub(super) fn prepare(
    grant: &KubernetesGrant,
    owner: &Owner,
    namespace: &str,
    text: &str,
) -> Result<(Target, Value, Vec<Reference>), WitError> {
    check_namespace(grant, namespace)?;
    if text.len() > MANIFEST_BYTES {
        return Err(invalid(format!(
            "a manifest is at most {MANIFEST_BYTES} bytes of JSON"
        )));
    }
    let mut object: Value = serde_json::from_str(text)
        .map_err(|e| invalid(format!("the manifest is not JSON: {e}")))?;
    let field = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| invalid(format!("the manifest needs a {name}")))
    };
    let target = Target {
        api_version: field("apiVersion")?,
        kind: field("kind")?,
        name: object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| invalid("the manifest needs a metadata.name"))?,
    };
    if target.kind.ends_with("List") {
        return Err(invalid("apply one object at a time, not a List"));
    }
    check_kind(grant, &target.kind)?;
    if NAMESPACE_WIDE_KINDS.contains(&target.kind.as_str()) {
        return Err(denied(format!(
            "{} acts on the whole namespace: it is not allowed for a deployment",
            target.kind
        )));
    }
    if target.kind == "Secret"
        && object.get("type").and_then(Value::as_str) == Some("kubernetes.io/service-account-token")
    {
        return Err(denied(
            "a service-account-token Secret would hand out a service account's credentials",
        ));
    }
    let mut references = Vec::new();
    match target.kind.as_str() {
        "Service" => network::check_service(grant, &object)?,
        "Ingress" => references = network::check_ingress(&target, &object)?,
        "PersistentVolumeClaim" => claims::check_claim(owner, &object)?,
        "StatefulSet" => claims::check_claim_templates(owner, &mut object)?,
        _ => {}
    }
    match object.pointer("/metadata/namespace") {
        None | Some(Value::Null) => {}
        Some(Value::String(ns)) if ns == namespace => {}
        Some(other) => {
            return Err(invalid(format!(
                "metadata.namespace is {other}, not the namespace applied to ({namespace:?})"
            )));
        }
    }
    let template = pod_template(&target.kind);
    if let Some(path) = template {
        let spec_path = format!("{path}/spec");
        let at = |field: &str| match path.trim_start_matches('/').replace('/', ".") {
            holder if holder.is_empty() => field.to_owned(),
            holder => format!("{holder}.{field}"),
        };
        check_pod_annotations(
            &at("metadata"),
            object.pointer(&format!("{path}/metadata/annotations")),
        )?;
        let at = at("spec");
        if let Some(pod) = object.pointer_mut(&spec_path) {
            check_pod(&at, pod)?;
            claims::check_ephemeral_volumes(owner, &at, pod, &target.kind, &target.name)?;
            references.extend(pod_references(pod));
            // The pod runs without an API token: its service account's is not the deployment's.
            pod["automountServiceAccountToken"] = Value::Bool(false);
        }
    }
    add_labels(&mut object, "", &owner.labels)?;
    if let Some(path) = template.filter(|path| !path.is_empty())
        && object.pointer(path).is_some()
    {
        add_labels(&mut object, path, &owner.labels)?;
    }
    scope_selector(&mut object, &target.kind, owner)?;
    object["metadata"]["namespace"] = Value::String(namespace.to_owned());
    references.sort();
    references.dedup();
    Ok((target, object, references))
}

/// Where a kind keeps the selector of the pods it acts on, and in which form.
enum Selector {
    /// A map of labels: a Service's or a ReplicationController's `spec.selector`.
    Labels(&'static str),
    /// A label selector, with `matchLabels` and `matchExpressions`.
    LabelSelector(&'static str),
}

/// The pod selector of a kind, as the JSON pointer of where it sits.
fn selector(kind: &str) -> Option<Selector> {
    match kind {
        "Service" | "ReplicationController" => Some(Selector::Labels("/spec/selector")),
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" => {
            Some(Selector::LabelSelector("/spec/selector"))
        }
        "CronJob" => Some(Selector::LabelSelector("/spec/jobTemplate/spec/selector")),
        _ => None,
    }
}

/// Makes an object's pod selector pick this deployment's pods only: the deployment's label
/// joins the selector's labels (a label selector's `matchLabels`, added when it has only
/// `matchExpressions`). A selector key under `komander.dev/` is refused, in `matchLabels` and
/// `matchExpressions` alike. A selector left out stays out: Kubernetes then derives it from the
/// pod template (which carries the label), and a Service without one selects no pod.
fn scope_selector(object: &mut Value, kind: &str, owner: &Owner) -> Result<(), WitError> {
    let Some(selector) = selector(kind) else {
        return Ok(());
    };
    let (path, expressions) = match selector {
        Selector::Labels(path) => (path, false),
        Selector::LabelSelector(path) => (path, true),
    };
    let at = path.trim_start_matches('/').replace('/', ".");
    let reserved = |key: &str, field: &str| {
        invalid(format!(
            "{field} key {key:?}: keys starting with {LABEL_PREFIX:?} are reserved for Komander"
        ))
    };
    let Some(found) = object.pointer_mut(path).filter(|s| !s.is_null()) else {
        return Ok(());
    };
    let Some(found) = found.as_object_mut() else {
        return Err(invalid(format!("{at} is not an object")));
    };
    let (field, matched) = if expressions {
        for (i, expression) in array_of(found.get("matchExpressions")).iter().enumerate() {
            if let Some(key) = expression.get("key").and_then(Value::as_str)
                && key.starts_with(LABEL_PREFIX)
            {
                return Err(reserved(key, &format!("{at}.matchExpressions[{i}]")));
            }
        }
        let field = format!("{at}.matchLabels");
        let slot = found.entry("matchLabels").or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        let Some(matched) = slot.as_object_mut() else {
            return Err(invalid(format!("{field} is not an object")));
        };
        (field, matched)
    } else {
        (at, found)
    };
    if let Some(key) = matched.keys().find(|k| k.starts_with(LABEL_PREFIX)) {
        return Err(reserved(key, &field));
    }
    matched.insert(
        DEPLOYMENT_LABEL.to_owned(),
        Value::String(owner.deployment.clone()),
    );
    Ok(())
}

/// The Secrets, ConfigMaps and PersistentVolumeClaims a pod spec refers to.
fn pod_references(pod: &Value) -> Vec<Reference> {
    use ReferenceKind::{ConfigMap, PersistentVolumeClaim, Secret};
    let mut found = Vec::new();
    let mut add = |kind: ReferenceKind, name: Option<&Value>| {
        if let Some(name) = name.and_then(Value::as_str) {
            found.push(Reference {
                kind,
                name: name.to_owned(),
            });
        }
    };
    for volume in array(pod, "volumes") {
        add(Secret, volume.pointer("/secret/secretName"));
        add(ConfigMap, volume.pointer("/configMap/name"));
        add(
            PersistentVolumeClaim,
            volume.pointer("/persistentVolumeClaim/claimName"),
        );
        for source in volume
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add(Secret, source.pointer("/secret/name"));
            add(ConfigMap, source.pointer("/configMap/name"));
        }
    }
    for pull in array(pod, "imagePullSecrets") {
        add(Secret, pull.get("name"));
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for container in array(pod, list) {
            for var in array(container, "env") {
                add(Secret, var.pointer("/valueFrom/secretKeyRef/name"));
                add(ConfigMap, var.pointer("/valueFrom/configMapKeyRef/name"));
            }
            for from in array(container, "envFrom") {
                add(Secret, from.pointer("/secretRef/name"));
                add(ConfigMap, from.pointer("/configMapRef/name"));
            }
        }
    }
    found
}

/// Where a kind keeps its pod template: the JSON pointer of the object holding the pod's
/// `metadata` and `spec` (empty for a Pod itself).
fn pod_template(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some(""),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Some("/spec/template"),
        "PodTemplate" => Some("/template"),
        "CronJob" => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    }
}

/// Refuses a pod spec that asks for host access.
fn check_pod(at: &str, pod: &Value) -> Result<(), WitError> {
    for flag in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod.get(flag) == Some(&Value::Bool(true)) {
            return Err(denied(format!(
                "{at}.{flag}: sharing the node's namespaces is not allowed"
            )));
        }
    }
    if pod.get("runtimeClassName").is_some_and(|n| !n.is_null()) {
        return Err(denied(format!(
            "{at}.runtimeClassName: choosing the container runtime (and so the isolation) is not \
             allowed"
        )));
    }
    if pod.get("priorityClassName").is_some_and(|n| !n.is_null()) {
        return Err(denied(format!(
            "{at}.priorityClassName: a priority class would let the pod preempt other \
             deployments' pods"
        )));
    }
    if pod
        .pointer("/securityContext/sysctls")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty())
    {
        return Err(denied(format!(
            "{at}.securityContext.sysctls: sysctls are not allowed"
        )));
    }
    for (i, volume) in array(pod, "volumes").iter().enumerate() {
        if volume.get("hostPath").is_some() {
            return Err(denied(format!(
                "{at}.volumes[{i}].hostPath: mounting a node's directory is not allowed"
            )));
        }
        for (j, source) in array_of(volume.pointer("/projected/sources"))
            .iter()
            .enumerate()
        {
            if source
                .get("serviceAccountToken")
                .is_some_and(|t| !t.is_null())
            {
                return Err(denied(format!(
                    "{at}.volumes[{i}].projected.sources[{j}].serviceAccountToken: pods get no \
                     service account token"
                )));
            }
        }
        if let Some(kind) = volume.as_object().and_then(|v| {
            v.keys()
                .find(|k| *k != "name" && !VOLUME_TYPES.contains(&k.as_str()))
        }) {
            return Err(denied(format!(
                "{at}.volumes[{i}].{kind}: only {} volumes are allowed",
                VOLUME_TYPES.join(", ")
            )));
        }
    }
    for account in ["serviceAccountName", "serviceAccount"] {
        if let Some(name) = pod.get(account).and_then(Value::as_str)
            && name != "default"
        {
            return Err(denied(format!(
                "{at}.{account}: pods run as the namespace's default service account"
            )));
        }
    }
    if pod.get("nodeName").is_some_and(|n| !n.is_null()) {
        return Err(denied(format!(
            "{at}.nodeName: choosing a node past the scheduler is not allowed"
        )));
    }
    for (i, toleration) in array(pod, "tolerations").iter().enumerate() {
        let key = toleration
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if key.is_empty() || key.starts_with("node-role.kubernetes.io/") {
            return Err(denied(format!(
                "{at}.tolerations[{i}]: tolerating every taint or the control plane's is not \
                 allowed"
            )));
        }
    }
    check_security_context(&format!("{at}.securityContext"), pod.get("securityContext"))?;
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, container) in array(pod, list).iter().enumerate() {
            let here = format!("{at}.{list}[{i}]");
            let security = container.get("securityContext");
            let flag = |name: &str| security.and_then(|s| s.get(name)) == Some(&Value::Bool(true));
            if flag("privileged") {
                return Err(denied(format!(
                    "{here}.securityContext.privileged: privileged containers are not allowed"
                )));
            }
            if security
                .and_then(|s| s.pointer("/capabilities/add"))
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                return Err(denied(format!(
                    "{here}.securityContext.capabilities.add: adding capabilities is not allowed"
                )));
            }
            check_security_context(&format!("{here}.securityContext"), security)?;
            if security
                .and_then(|s| s.get("procMount"))
                .and_then(Value::as_str)
                == Some("Unmasked")
            {
                return Err(denied(format!(
                    "{here}.securityContext.procMount: an unmasked /proc is not allowed"
                )));
            }
            for (j, port) in array(container, "ports").iter().enumerate() {
                if port.get("hostIP").is_some_and(|p| !p.is_null()) {
                    return Err(denied(format!(
                        "{here}.ports[{j}].hostIP: binding a node's address is not allowed"
                    )));
                }
                if port.get("hostPort").is_some_and(|p| !p.is_null()) {
                    return Err(denied(format!(
                        "{here}.ports[{j}].hostPort: binding a node's port is not allowed"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Refuses the legacy AppArmor annotation `container.apparmor.security.beta.kubernetes.io/<c>:
/// unconfined` in a pod's metadata (at `at`): the kubelet still reads it, and it runs the
/// container without AppArmor like an `Unconfined` `appArmorProfile`.
fn check_pod_annotations(at: &str, annotations: Option<&Value>) -> Result<(), WitError> {
    let Some(annotations) = annotations.and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, value) in annotations {
        if key.starts_with(APPARMOR_ANNOTATION)
            && value
                .as_str()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("unconfined"))
        {
            return Err(denied(format!(
                "{at}.annotations[{key:?}]: unconfined AppArmor is not allowed"
            )));
        }
    }
    Ok(())
}

/// Refuses what a pod's or container's security context may do to leave its confinement:
/// an SELinux type outside the container ones, unconfined seccomp or AppArmor, a Windows host
/// process.
fn check_security_context(at: &str, context: Option<&Value>) -> Result<(), WitError> {
    let Some(context) = context else {
        return Ok(());
    };
    if let Some(options) = context.get("seLinuxOptions") {
        let kind = options.get("type").and_then(Value::as_str);
        if kind.is_some_and(|t| !SELINUX_TYPES.contains(&t))
            || options.get("user").is_some()
            || options.get("role").is_some()
        {
            return Err(denied(format!(
                "{at}.seLinuxOptions: only the container SELinux types are allowed"
            )));
        }
    }
    for profile in ["seccompProfile", "appArmorProfile"] {
        if context
            .pointer(&format!("/{profile}/type"))
            .and_then(Value::as_str)
            == Some("Unconfined")
        {
            return Err(denied(format!("{at}.{profile}: unconfined is not allowed")));
        }
    }
    if context.pointer("/windowsOptions/hostProcess") == Some(&Value::Bool(true)) {
        return Err(denied(format!(
            "{at}.windowsOptions.hostProcess: host processes are not allowed"
        )));
    }
    Ok(())
}

/// The array at `key` of `value`; empty when there is none.
fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    array_of(value.get(key))
}

/// The elements of `value` if it is an array; empty otherwise.
pub(super) fn array_of(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Sets Komander's labels in the `metadata` of the object at the JSON pointer `path`,
/// refusing a guest's label under `komander.dev/` that disagrees.
pub(super) fn add_labels(
    object: &mut Value,
    path: &str,
    labels: &Map<String, Value>,
) -> Result<(), WitError> {
    let Some(holder) = object.pointer_mut(path).and_then(Value::as_object_mut) else {
        return Err(invalid(format!("{path} is not an object")));
    };
    let metadata = holder
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return Err(invalid(format!("{path} is not an object")));
    };
    let existing = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(existing) = existing.as_object_mut() else {
        return Err(invalid(format!("{path}.labels is not an object")));
    };
    if let Some((key, _)) = existing
        .iter()
        .find(|(key, value)| key.starts_with(LABEL_PREFIX) && labels.get(*key) != Some(value))
    {
        return Err(invalid(format!(
            "label {key:?}: keys starting with {LABEL_PREFIX:?} are reserved for Komander"
        )));
    }
    existing.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(())
}

/// Whether an object carries the deployment's label with `deployment`.
pub(super) fn owned_by(object: &Value, deployment: &str) -> bool {
    object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(DEPLOYMENT_LABEL))
        .and_then(Value::as_str)
        == Some(deployment)
}

/// The annotation in which `kubectl apply` keeps a copy of the whole object it applied: for
/// a Secret, its values.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Empties a Secret's values, so they never reach the guest: those of `data` and
/// `stringData`, and the copy `kubectl apply` keeps in [`LAST_APPLIED`]. `kind` is the kind
/// asked for: the API server leaves it out of list items.
pub(super) fn redact(kind: &str, object: &mut Value) {
    if kind != "Secret" && object.get("kind").and_then(Value::as_str) != Some("Secret") {
        return;
    }
    for field in ["data", "stringData"] {
        if let Some(values) = object.get_mut(field).and_then(Value::as_object_mut) {
            for value in values.values_mut() {
                *value = Value::String(String::new());
            }
        }
    }
    if let Some(copy) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        .and_then(|annotations| annotations.get_mut(LAST_APPLIED))
    {
        *copy = Value::String(String::new());
    }
}

/// The workload kinds whose rollout can be followed.
pub(super) const ROLLOUT_KINDS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];

/// Summarizes a workload's rollout from its spec and status.
pub(super) fn rollout(kind: &str, object: &Value) -> Rollout {
    let number = |path: &str| {
        object
            .pointer(path)
            .and_then(Value::as_u64)
            .map_or(0, |n| n.min(u64::from(u32::MAX)) as u32)
    };
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = object
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    let caught_up = match (generation, observed) {
        (Some(g), Some(o)) => o >= g,
        _ => false,
    };
    let (desired, updated, ready, available, revisions_match) = match kind {
        "DaemonSet" => (
            number("/status/desiredNumberScheduled"),
            number("/status/updatedNumberScheduled"),
            number("/status/numberReady"),
            number("/status/numberAvailable"),
            true,
        ),
        _ => {
            let desired = object
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .map_or(1, |n| n.min(u64::from(u32::MAX)) as u32);
            let revisions_match = kind != "StatefulSet"
                || object.pointer("/status/currentRevision")
                    == object.pointer("/status/updateRevision");
            (
                desired,
                number("/status/updatedReplicas"),
                number("/status/readyReplicas"),
                number("/status/availableReplicas"),
                revisions_match,
            )
        }
    };
    let total = number("/status/replicas");
    let complete = caught_up
        && updated >= desired
        && available >= desired
        && revisions_match
        && (kind == "DaemonSet" || total <= updated);
    let message = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.last())
        .and_then(|c| c.get("message"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Rollout {
        desired,
        updated,
        ready,
        available,
        complete,
        message,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;
    use crate::capabilities::{DeploymentIds, kubernetes::ServiceType};

    fn grant() -> KubernetesGrant {
        KubernetesGrant {
            namespaces: ["shop-dev".to_owned()].into(),
            kinds: [
                "Deployment",
                "Service",
                "CronJob",
                "StatefulSet",
                "Pod",
                "Secret",
                "ConfigMap",
                "Job",
                "DaemonSet",
                "ReplicaSet",
                "ReplicationController",
                "PersistentVolumeClaim",
                "Ingress",
            ]
            .map(String::from)
            .into(),
            ..KubernetesGrant::default()
        }
    }

    fn owner() -> Owner {
        Owner::new(DeploymentIds {
            project: "p-1".into(),
            environment: "e-1".into(),
            deployment: "d-1".into(),
        })
    }

    fn deployment(pod: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "labels": {"app": "api"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}}, "spec": pod}
            }
        })
    }

    fn web_pod() -> Value {
        json!({"containers": [{"name": "web", "image": "nginx:1.27",
            "ports": [{"containerPort": 80}]}]})
    }

    fn prepared(object: &Value) -> Result<(Target, Value), WitError> {
        prepare(&grant(), &owner(), "shop-dev", &object.to_string()).map(|(t, o, _)| (t, o))
    }

    fn refusal(object: &Value) -> String {
        match prepared(object) {
            Err(WitError::Denied(message)) => message,
            other => panic!("expected denied, got {other:?}"),
        }
    }

    #[test]
    fn pod_templates_asking_for_host_access_are_denied_in_every_workload() {
        let cases = [
            (
                json!({"hostNetwork": true, "containers": []}),
                "spec.template.spec.hostNetwork",
            ),
            (json!({"hostPID": true, "containers": []}), "hostPID"),
            (json!({"hostIPC": true, "containers": []}), "hostIPC"),
            (
                json!({"containers": [], "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
                "volumes[0].hostPath",
            ),
            (
                json!({"containers": [{"name": "x", "image": "x",
                    "securityContext": {"privileged": true}}]}),
                "containers[0].securityContext.privileged",
            ),
            (
                json!({"initContainers": [{"name": "x", "image": "x",
                    "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}], "containers": []}),
                "initContainers[0].securityContext.capabilities.add",
            ),
            (
                json!({"containers": [{"name": "x", "image": "x",
                    "ports": [{"containerPort": 80, "hostPort": 80}]}]}),
                "ports[0].hostPort",
            ),
            (
                json!({"containers": [], "securityContext": {"sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}]}}),
                "sysctls",
            ),
        ];
        for (pod, says) in cases {
            denied_in_every_workload(&pod, says);
        }
    }

    /// Asserts that `pod` is denied, saying `says`, in a Deployment, in a CronJob's template
    /// and as a bare Pod.
    fn denied_in_every_workload(pod: &Value, says: &str) {
        let message = refusal(&deployment(pod.clone()));
        assert!(message.contains(says), "{message} should say {says}");
        let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}}});
        let message = refusal(&cron);
        assert!(
            message.contains("jobTemplate") && message.contains(says),
            "{message}"
        );
        let bare =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod});
        refusal(&bare);
    }

    #[test]
    fn pods_get_no_token_runtime_class_priority_or_unconfined_apparmor() {
        let token = json!({"containers": [], "volumes": [{"name": "t", "projected": {"sources": [
            {"configMap": {"name": "settings"}},
            {"serviceAccountToken": {"path": "token", "audience": "vault"}}]}}]});
        denied_in_every_workload(
            &token,
            "volumes[0].projected.sources[1].serviceAccountToken",
        );
        for field in ["runtimeClassName", "priorityClassName"] {
            let mut pod = web_pod();
            pod[field] = json!("privileged-or-critical");
            denied_in_every_workload(&pod, field);
        }
        let annotation = "container.apparmor.security.beta.kubernetes.io/web";
        let mut unconfined = deployment(web_pod());
        unconfined["spec"]["template"]["metadata"]["annotations"] =
            json!({annotation: "unconfined"});
        let message = refusal(&unconfined);
        assert!(
            message.contains("spec.template.metadata.annotations") && message.contains(annotation),
            "{message}"
        );
        let bare = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p",
            "annotations": {annotation: "unconfined"}}, "spec": web_pod()});
        assert!(refusal(&bare).contains(annotation));
        let mut confined = deployment(web_pod());
        confined["spec"]["template"]["metadata"]["annotations"] =
            json!({annotation: "runtime/default"});
        assert!(prepared(&confined).is_ok());
    }

    #[test]
    fn namespaces_kinds_and_shapes_outside_the_grant_are_refused() {
        let ok = deployment(web_pod());
        assert!(matches!(
            prepare(&grant(), &owner(), "kube-system", &ok.to_string()),
            Err(WitError::Denied(m)) if m.contains("kube-system")
        ));
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "admin"}});
        assert!(refusal(&role).contains("ClusterRole"));
        let elsewhere = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "other"}});
        assert!(
            matches!(prepared(&elsewhere), Err(WitError::InvalidInput(m)) if m.contains("metadata.namespace"))
        );
        let list = json!({"apiVersion": "v1", "kind": "ConfigMapList", "items": [],
            "metadata": {"name": "l"}});
        assert!(matches!(prepared(&list), Err(WitError::InvalidInput(_))));
        let nameless = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
        assert!(
            matches!(prepared(&nameless), Err(WitError::InvalidInput(m)) if m.contains("metadata.name"))
        );
        let stolen = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"komander.dev/deployment": "someone-else"}}});
        assert!(
            matches!(prepared(&stolen), Err(WitError::InvalidInput(m)) if m.contains("reserved"))
        );
        let huge = "x".repeat(MANIFEST_BYTES + 1);
        assert!(matches!(
            prepare(&grant(), &owner(), "shop-dev", &huge),
            Err(WitError::InvalidInput(_))
        ));
        assert!(matches!(
            prepare(&grant(), &owner(), "shop-dev", "not json"),
            Err(WitError::InvalidInput(_))
        ));
    }

    #[test]
    fn labels_go_on_the_object_and_its_pod_template() {
        let (target, object) = prepared(&deployment(web_pod())).unwrap();
        assert_eq!(
            target,
            Target {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "api".into()
            }
        );
        for at in ["/metadata/labels", "/spec/template/metadata/labels"] {
            let labels = object.pointer(at).unwrap();
            assert_eq!(labels["komander.dev/deployment"], "d-1", "{at}");
            assert_eq!(labels["app"], "api", "{at}: the guest's labels stay");
        }
        assert_eq!(object["metadata"]["namespace"], "shop-dev");
        assert!(owned_by(&object, "d-1") && !owned_by(&object, "d-2"));
    }

    /// The official JSON schema of a kind, from `shared/peers/kubernetes` (kubernetes-validate's
    /// conversion of the Kubernetes OpenAPI), with its definitions inlined.
    fn official_schema(file: &str) -> Value {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/peers/kubernetes/json-schema/v1.33.0-local-strict");
        let read = |name: &str| {
            let text = std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
            text.replace("/api/_definitions.json#", "#")
        };
        let mut schema: Value = serde_json::from_str(&read(file)).unwrap();
        let definitions: Value = serde_json::from_str(&read("_definitions.json")).unwrap();
        schema["$defs"] = definitions["$defs"].clone();
        schema
    }

    #[test]
    fn what_the_host_applies_is_valid_against_the_official_schemas() {
        let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "job", "image": "busybox:1"}]}}}}}});
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]}});
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "type": "Opaque", "data": {"KEY": "dmFsdWU="}});
        let mut by_expressions = deployment(web_pod());
        by_expressions["spec"]["selector"] =
            json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]});
        let mut ephemeral = deployment(
            json!({"containers": [{"name": "web", "image": "nginx:1.27"}],
            "volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": claim_spec()}}}]}),
        );
        ephemeral["metadata"]["name"] = json!("d-1-api");
        let claimed = stateful_set(
            "db",
            json!({"metadata": {"name": "d-1-data"}, "spec": claim_spec()}),
        );
        for (object, schema) in [
            (full_ingress(), "ingress-networking-v1.json"),
            (deployment(web_pod()), "deployment-apps-v1.json"),
            (by_expressions, "deployment-apps-v1.json"),
            (ephemeral, "deployment-apps-v1.json"),
            (claimed, "statefulset-apps-v1.json"),
            (
                claim("d-1-data", claim_spec()),
                "persistentvolumeclaim-v1.json",
            ),
            (cron, "cronjob-batch-v1.json"),
            (service, "service-v1.json"),
            (secret, "secret-v1.json"),
        ] {
            let validator = jsonschema::validator_for(&official_schema(schema)).unwrap();
            let (_, applied) = prepared(&object).unwrap();
            let problems: Vec<String> = validator
                .iter_errors(&applied)
                .map(|e| e.to_string())
                .collect();
            assert!(problems.is_empty(), "{schema}: {problems:?}");
        }
        // The schemas catch what the API server would refuse: the check itself can fail.
        let validator =
            jsonschema::validator_for(&official_schema("deployment-apps-v1.json")).unwrap();
        let (_, mut broken) = prepared(&deployment(web_pod())).unwrap();
        broken["spec"]["replicas"] = json!("two");
        assert!(!validator.is_valid(&broken));
    }

    #[test]
    fn secrets_come_back_empty() {
        let mut secret =
            json!({"kind": "Secret", "data": {"A": "c2VjcmV0"}, "stringData": {"B": "plain"}});
        redact("Secret", &mut secret);
        assert_eq!(secret["data"]["A"], "");
        assert_eq!(secret["stringData"]["B"], "");
        let mut config = json!({"kind": "ConfigMap", "data": {"A": "kept"}});
        redact("ConfigMap", &mut config);
        assert_eq!(config["data"]["A"], "kept");
        // A list item has no kind: the kind asked for decides.
        let mut listed = json!({"metadata": {"name": "s"}, "data": {"A": "c2VjcmV0"}});
        redact("Secret", &mut listed);
        assert_eq!(listed["data"]["A"], "");
    }

    #[test]
    fn a_secrets_last_applied_configuration_comes_back_empty() {
        let applied_by_kubectl = |kind: Option<&str>| {
            let mut object = json!({"metadata": {"name": "s", "annotations": {
                    LAST_APPLIED: r#"{"apiVersion":"v1","kind":"Secret","stringData":{"PASSWORD":"hunter2"}}"#,
                    "team": "shop"}},
                "data": {"PASSWORD": "aHVudGVyMg=="}});
            if let Some(kind) = kind {
                object["kind"] = json!(kind);
            }
            object
        };
        // As get answers it (with its kind) and as list does (without).
        for (asked, mut secret) in [
            ("Secret", applied_by_kubectl(Some("Secret"))),
            ("Secret", applied_by_kubectl(None)),
        ] {
            redact(asked, &mut secret);
            assert_eq!(secret["metadata"]["annotations"][LAST_APPLIED], "");
            assert_eq!(secret["metadata"]["annotations"]["team"], "shop");
            assert!(!secret.to_string().contains("hunter2"));
        }
        let mut config = applied_by_kubectl(Some("ConfigMap"));
        redact("ConfigMap", &mut config);
        assert_ne!(config["metadata"]["annotations"][LAST_APPLIED], "");
    }

    #[test]
    fn rollouts_are_complete_only_when_every_replica_is_updated_and_available() {
        let done = json!({"metadata": {"generation": 3}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2,
                "readyReplicas": 2, "availableReplicas": 2,
                "conditions": [{"message": "ReplicaSet \"api-7d\" has successfully progressed."}]}});
        let r = rollout("Deployment", &done);
        assert!(r.complete && r.desired == 2 && r.available == 2);
        assert!(r.message.contains("successfully"));
        let mut stale = done.clone();
        stale["status"]["observedGeneration"] = json!(2);
        assert!(
            !rollout("Deployment", &stale).complete,
            "the controller has not seen it"
        );
        let mut surging = done.clone();
        surging["status"]["replicas"] = json!(3);
        assert!(
            !rollout("Deployment", &surging).complete,
            "an old pod still runs"
        );
        let mut sts = done.clone();
        sts["status"]["currentRevision"] = json!("web-1");
        sts["status"]["updateRevision"] = json!("web-2");
        assert!(!rollout("StatefulSet", &sts).complete);
        let daemons = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1,
            "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberReady": 3,
            "numberAvailable": 2}});
        let r = rollout("DaemonSet", &daemons);
        assert!(!r.complete && r.desired == 3 && r.ready == 3);
    }

    #[test]
    fn pods_stay_confined_and_refer_only_to_what_the_deployment_owns() {
        let pod = |spec: Value| deployment(spec);
        let container = |extra: Value| {
            let mut c = json!({"name": "x", "image": "x"});
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"containers": [c]})
        };
        let denied_cases = [
            (
                pod(
                    json!({"containers": [], "volumes": [{"name": "n", "nfs": {"server": "s", "path": "/"}}]}),
                ),
                "volumes[0].nfs",
            ),
            (
                pod(json!({"containers": [], "volumes": [{"name": "c", "csi": {"driver": "d"}}]})),
                "volumes[0].csi",
            ),
            (
                pod(json!({"containers": [], "serviceAccountName": "admin"})),
                "serviceAccountName",
            ),
            (
                pod(json!({"containers": [], "nodeName": "control-plane-1"})),
                "nodeName",
            ),
            (
                pod(json!({"containers": [], "tolerations": [{"operator": "Exists"}]})),
                "tolerations[0]",
            ),
            (
                pod(
                    json!({"containers": [], "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}),
                ),
                "tolerations[0]",
            ),
            (
                pod(container(
                    json!({"securityContext": {"seLinuxOptions": {"type": "spc_t"}}}),
                )),
                "seLinuxOptions",
            ),
            (
                pod(container(
                    json!({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
                )),
                "seccompProfile",
            ),
            (
                pod(
                    json!({"containers": [], "securityContext": {"appArmorProfile": {"type": "Unconfined"}}}),
                ),
                "appArmorProfile",
            ),
            (
                pod(container(
                    json!({"securityContext": {"windowsOptions": {"hostProcess": true}}}),
                )),
                "hostProcess",
            ),
            (
                pod(container(
                    json!({"ports": [{"containerPort": 80, "hostIP": "10.0.0.1"}]}),
                )),
                "hostIP",
            ),
        ];
        for (object, says) in denied_cases {
            let message = refusal(&object);
            assert!(message.contains(says), "{message} should say {says}");
        }
        let mut wide = grant();
        wide.kinds
            .extend(["RoleBinding", "NetworkPolicy", "PodTemplate"].map(String::from));
        for kind in ["RoleBinding", "NetworkPolicy"] {
            let object = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}});
            assert!(
                matches!(prepare(&wide, &owner(), "shop-dev", &object.to_string()), Err(WitError::Denied(m)) if m.contains("whole namespace")),
                "{kind} is refused even when granted"
            );
        }
        let template = json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
            "template": {"spec": {"hostNetwork": true, "containers": []}}});
        assert!(matches!(
            prepare(&wide, &owner(), "shop-dev", &template.to_string()),
            Err(WitError::Denied(_))
        ));
        let token = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"},
            "type": "kubernetes.io/service-account-token"});
        assert!(refusal(&token).contains("service-account-token"));

        let uses = pod(json!({
            "imagePullSecrets": [{"name": "registry"}],
            "volumes": [{"name": "a", "secret": {"secretName": "tls"}},
                        {"name": "b", "persistentVolumeClaim": {"claimName": "data"}},
                        {"name": "c", "projected": {"sources": [{"configMap": {"name": "settings"}}]}}],
            "containers": [{"name": "x", "image": "x",
                "env": [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}],
                "envFrom": [{"configMapRef": {"name": "env"}}]}]}));
        let (_, applied, references) =
            prepare(&grant(), &owner(), "shop-dev", &uses.to_string()).unwrap();
        let named: Vec<(&str, &str)> = references
            .iter()
            .map(|r| (r.kind.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("ConfigMap", "env"),
                ("ConfigMap", "settings"),
                ("PersistentVolumeClaim", "data"),
                ("Secret", "db"),
                ("Secret", "registry"),
                ("Secret", "tls"),
            ]
        );
        assert_eq!(
            applied["spec"]["template"]["spec"]["automountServiceAccountToken"],
            false
        );
        assert_eq!(
            applied["spec"]["selector"]["matchLabels"][DEPLOYMENT_LABEL],
            "d-1"
        );
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}});
        let (_, service) = prepared(&service).unwrap();
        assert_eq!(
            service["spec"]["selector"][DEPLOYMENT_LABEL], "d-1",
            "it selects our pods only"
        );
        let poaching = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
            "spec": {"selector": {DEPLOYMENT_LABEL: "d-2"}}});
        assert!(
            matches!(prepared(&poaching), Err(WitError::InvalidInput(m)) if m.contains("reserved"))
        );
    }

    fn service(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"}, "spec": spec})
    }

    #[test]
    fn services_stay_on_the_cluster_network_unless_the_grant_opens_their_type() {
        let ports = json!([{"port": 80, "targetPort": 8080}]);
        let external = service(json!({"ports": ports, "externalIPs": ["203.0.113.7"]}));
        assert!(refusal(&external).contains("spec.externalIPs"));
        let mut open = grant();
        open.service_types.extend(ServiceType::ALL);
        assert!(
            matches!(prepare(&open, &owner(), "shop-dev", &external.to_string()), Err(WitError::Denied(m)) if m.contains("spec.externalIPs")),
            "whatever the grant"
        );
        for kind in ServiceType::ALL {
            let typed = service(json!({"type": kind.as_str(), "ports": ports}));
            let message = refusal(&typed);
            assert!(
                message.contains("spec.type") && message.contains(kind.as_str()),
                "{message}"
            );
            let mut allowed = grant();
            allowed.service_types.insert(kind);
            assert!(
                prepare(&allowed, &owner(), "shop-dev", &typed.to_string()).is_ok(),
                "{kind:?} once granted"
            );
        }
        assert!(prepared(&service(json!({"type": "ClusterIP", "ports": ports}))).is_ok());
        assert!(prepared(&service(json!({"ports": ports, "externalIPs": []}))).is_ok());
        assert!(prepared(&service(json!({"clusterIP": "None", "ports": ports}))).is_ok());
        assert!(
            matches!(prepared(&service(json!({"type": "Tunnel"}))), Err(WitError::InvalidInput(m)) if m.contains("spec.type"))
        );
    }

    #[test]
    fn selectors_of_only_match_expressions_pick_this_deployments_pods_only() {
        let expressions = json!({"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["api"]}]});
        let template = json!({"metadata": {"labels": {"app": "api"}}, "spec": web_pod()});
        for (kind, api_version) in [
            ("Deployment", "apps/v1"),
            ("StatefulSet", "apps/v1"),
            ("DaemonSet", "apps/v1"),
            ("ReplicaSet", "apps/v1"),
            ("Job", "batch/v1"),
        ] {
            let object = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "api"},
                "spec": {"selector": expressions, "template": template}});
            let (_, applied) = prepared(&object).unwrap();
            assert_eq!(
                applied["spec"]["selector"]["matchLabels"][DEPLOYMENT_LABEL], "d-1",
                "{kind}"
            );
            assert_eq!(
                applied["spec"]["selector"]["matchExpressions"],
                expressions["matchExpressions"]
            );
        }
        let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"manualSelector": true,
                "selector": expressions, "template": template}}}});
        let (_, applied) = prepared(&cron).unwrap();
        assert_eq!(
            applied["spec"]["jobTemplate"]["spec"]["selector"]["matchLabels"][DEPLOYMENT_LABEL],
            "d-1"
        );
        let controller = json!({"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "api"}, "spec": {"selector": {"app": "api"}, "template": template}});
        let (_, applied) = prepared(&controller).unwrap();
        assert_eq!(applied["spec"]["selector"][DEPLOYMENT_LABEL], "d-1");
        // A Job without a selector keeps none: Kubernetes makes one for it.
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
            "spec": {"template": template}});
        assert!(prepared(&job).unwrap().1["spec"].get("selector").is_none());

        let poaching = deployment(web_pod());
        let mut poaching = poaching;
        poaching["spec"]["selector"] = json!({"matchExpressions": [
            {"key": DEPLOYMENT_LABEL, "operator": "In", "values": ["d-1", "d-2"]}]});
        assert!(
            matches!(prepared(&poaching), Err(WitError::InvalidInput(m)) if m.contains("spec.selector.matchExpressions[0]") && m.contains("reserved"))
        );
    }

    fn claim(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": spec})
    }

    fn claim_spec() -> Value {
        json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})
    }

    /// A StatefulSet `name` whose pods mount the claim template `template`.
    fn stateful_set(name: &str, template: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"serviceName": name, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                    {"name": "db", "image": "postgres:17", "volumeMounts": [
                        {"name": template["metadata"]["name"], "mountPath": "/data"}]}]}},
                "volumeClaimTemplates": [template]}})
    }

    #[test]
    fn claims_pick_no_volume() {
        for field in ["dataSource", "dataSourceRef", "volumeName"] {
            let mut spec = claim_spec();
            spec[field] = match field {
                "volumeName" => json!("pv-of-another"),
                _ => json!({"kind": "PersistentVolumeClaim", "name": "d-2-data"}),
            };
            let message = refusal(&claim("d-1-data", spec.clone()));
            assert!(message.contains(&format!("spec.{field}")), "{message}");
            let template = json!({"metadata": {"name": "d-1-data"}, "spec": spec});
            let message = refusal(&stateful_set("db", template.clone()));
            assert!(
                message.contains(&format!("spec.volumeClaimTemplates[0].spec.{field}")),
                "{message}"
            );
            let mut ephemeral = deployment(json!({"containers": [],
                "volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": template}}]}));
            ephemeral["metadata"]["name"] = json!("d-1-api");
            let message = refusal(&ephemeral);
            assert!(
                message.contains(&format!(
                    "spec.template.spec.volumes[0].ephemeral.volumeClaimTemplate.spec.{field}"
                )),
                "{message}"
            );
        }
        assert!(prepared(&claim("d-1-data", claim_spec())).is_ok());
    }

    #[test]
    fn claims_are_named_inside_the_deployment_so_none_takes_anothers_name() {
        // Another deployment's claims start with its id: d-2's StatefulSet "web" with the
        // template "d-2-data" owns d-2-data-web-0. d-1 can neither take that name for a claim
        // nor make a StatefulSet whose claims would be named so.
        let message = refusal(&claim("d-2-data-web-0", claim_spec()));
        assert!(
            message.contains("metadata.name") && message.contains("\"d-1-\""),
            "{message}"
        );
        assert!(refusal(&claim("data", claim_spec())).contains("metadata.name"));
        assert!(refusal(&claim("d-1-", claim_spec())).contains("metadata.name"));
        let template = |name: &str| json!({"metadata": {"name": name}, "spec": claim_spec()});
        for name in ["d-2-data", "data", "data-d-1"] {
            let message = refusal(&stateful_set("web", template(name)));
            assert!(
                message.contains("spec.volumeClaimTemplates[0].metadata.name"),
                "{message}"
            );
        }
        let (_, applied) = prepared(&stateful_set("web", template("d-1-data"))).unwrap();
        assert_eq!(
            applied["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"][DEPLOYMENT_LABEL],
            "d-1",
            "the claims it makes are labelled as this deployment's"
        );
        let mut forged = template("d-1-data");
        forged["metadata"]["labels"] = json!({DEPLOYMENT_LABEL: "d-2"});
        assert!(
            matches!(prepared(&stateful_set("web", forged)), Err(WitError::InvalidInput(m)) if m.contains("reserved"))
        );

        // Ephemeral volumes make <pod>-<volume>, and pods are named after their workload.
        let ephemeral = json!({"containers": [], "volumes": [{"name": "scratch",
            "ephemeral": {"volumeClaimTemplate": {"spec": claim_spec()}}}]});
        let message = refusal(&deployment(ephemeral.clone()));
        assert!(
            message.contains("spec.template.spec.volumes[0].ephemeral")
                && message.contains("\"api\""),
            "{message}"
        );
        let bare = |name: &str| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": ephemeral})
        };
        assert!(refusal(&bare("d-2-web-0")).contains("spec.volumes[0].ephemeral"));
        let (_, applied) = prepared(&bare("d-1-web")).unwrap();
        assert_eq!(
            applied["spec"]["volumes"][0]["ephemeral"]["volumeClaimTemplate"]["metadata"]["labels"]
                [DEPLOYMENT_LABEL],
            "d-1"
        );
        let mut named = deployment(ephemeral);
        named["metadata"]["name"] = json!("d-1-api");
        assert!(prepared(&named).is_ok());
    }

    fn ingress(spec: Value) -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "shop"}, "spec": spec})
    }

    fn backend(service: &str) -> Value {
        json!({"service": {"name": service, "port": {"number": 80}}})
    }

    /// An Ingress with a default backend, two paths, TLS and allowed annotations.
    fn full_ingress() -> Value {
        let mut full = ingress(json!({"ingressClassName": "nginx",
            "defaultBackend": backend("fallback"),
            "tls": [{"hosts": ["shop.example"], "secretName": "shop-tls"}],
            "rules": [{"host": "shop.example", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": backend("web")},
                {"path": "/api", "pathType": "Prefix", "backend": backend("api")}]}}]}));
        full["metadata"]["annotations"] = json!({
            "nginx.ingress.kubernetes.io/proxy-body-size": "8m",
            "nginx.ingress.kubernetes.io/ssl-redirect": "true",
            "nginx.ingress.kubernetes.io/proxy-read-timeout": "120"});
        full
    }

    #[test]
    fn ingresses_route_only_to_the_deployments_services_and_secrets() {
        let (_, _, references) =
            prepare(&grant(), &owner(), "shop-dev", &full_ingress().to_string()).unwrap();
        let named: Vec<(&str, &str)> = references
            .iter()
            .map(|r| (r.kind.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("Secret", "shop-tls"),
                ("Service", "api"),
                ("Service", "fallback"),
                ("Service", "web"),
            ],
            "each must be this deployment's before the apply"
        );
        let resource = json!({"resource": {"apiGroup": "k8s.example.io", "kind": "StorageBucket",
            "name": "assets"}});
        assert!(
            refusal(&ingress(json!({"defaultBackend": resource})))
                .contains("spec.defaultBackend.resource")
        );
        let in_a_rule = ingress(json!({"rules": [{"http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": backend("web")},
            {"path": "/files", "pathType": "Prefix", "backend": resource}]}}]}));
        assert!(refusal(&in_a_rule).contains("spec.rules[0].http.paths[1].backend.resource"));
        assert!(matches!(
            prepared(&ingress(json!({"defaultBackend": {}}))),
            Err(WitError::InvalidInput(m)) if m.contains("spec.defaultBackend.service.name")
        ));
        let mut legacy = ingress(json!({"backend": {"serviceName": "web", "servicePort": 80}}));
        legacy["apiVersion"] = json!("extensions/v1beta1");
        assert!(
            matches!(prepared(&legacy), Err(WitError::InvalidInput(m)) if m.contains("networking.k8s.io/v1"))
        );
    }

    #[test]
    fn ingress_annotations_pass_only_from_the_allow_list() {
        for key in [
            "nginx.ingress.kubernetes.io/configuration-snippet",
            "nginx.ingress.kubernetes.io/server-snippet",
            "nginx.ingress.kubernetes.io/auth-url",
            "nginx.ingress.kubernetes.io/mirror-target",
            "kubernetes.io/ingress.class",
        ] {
            let mut annotated = full_ingress();
            annotated["metadata"]["annotations"][key] = json!("http://10.0.0.1/");
            let message = refusal(&annotated);
            assert!(
                message.contains(&format!("metadata.annotations[{key:?}]")),
                "{message}"
            );
        }
        for (key, value) in [
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "60;}"),
            (
                "nginx.ingress.kubernetes.io/proxy-body-size",
                "8m\nlocation",
            ),
            ("nginx.ingress.kubernetes.io/ssl-redirect", "yes"),
        ] {
            let mut annotated = full_ingress();
            annotated["metadata"]["annotations"][key] = json!(value);
            assert!(
                matches!(prepared(&annotated), Err(WitError::InvalidInput(m)) if m.contains(key)),
                "{key}: {value}"
            );
        }
    }
}
