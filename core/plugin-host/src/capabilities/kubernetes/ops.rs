//! Each function of `komander:kubernetes/cluster` against the API server, scoped to the
//! call's deployment and grant, each bounded in time.

use std::{collections::BTreeMap, time::Duration};

use base64::Engine as _;
use k8s_openapi::{
    NamespaceResourceScope,
    api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service},
};
use kube::{
    Api,
    api::{
        ApiResource, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams,
        PostParams, Preconditions,
    },
    core::{GroupVersionKind, ObjectMeta},
    discovery::Scope,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    DEPLOYMENT_LABEL, KubernetesScope,
    manifest::{self, ROLLOUT_KINDS, Reference, ReferenceKind, Target},
};
use crate::{
    bindings::{
        kubernetes_cluster::Rollout,
        types::{Error as WitError, LogPage, LogSource, SecretRef},
    },
    capabilities::log_pages::Pager,
};

/// How long one request to the API server may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(25);

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "komander";

/// Objects a list may return.
pub const MAX_LISTED: usize = 500;

/// Bytes of a pod's log read for one page: a cursor far in the past reads no more.
pub const LOG_BYTES: i64 = 16 << 20;

/// An API server error as the WIT error.
fn cluster_error(error: kube::Error) -> WitError {
    match error {
        kube::Error::Api(status) => {
            let message = status.message.clone();
            match status.code {
                400 | 422 => WitError::InvalidInput(message),
                401 | 403 => WitError::Denied(message),
                404 => WitError::NotFound(message),
                409 => WitError::Conflict(message),
                429 | 500..=599 => WitError::Unavailable(message),
                code => WitError::Internal(format!("the API server answered {code}: {message}")),
            }
        }
        other => WitError::Unavailable(format!("the cluster cannot be reached: {other}")),
    }
}

/// Runs one request within [`REQUEST_TIMEOUT`].
async fn bounded<T>(request: impl Future<Output = Result<T, kube::Error>>) -> Result<T, WitError> {
    tokio::time::timeout(REQUEST_TIMEOUT, request)
        .await
        .map_err(|_| {
            WitError::Timeout(format!(
                "the API server did not answer within {REQUEST_TIMEOUT:?}"
            ))
        })?
        .map_err(cluster_error)
}

/// The namespaced API of a granted kind in a granted namespace.
async fn api(
    scope: &KubernetesScope,
    namespace: &str,
    api_version: &str,
    kind: &str,
) -> Result<Api<DynamicObject>, WitError> {
    manifest::check_namespace(&scope.grant, namespace)?;
    manifest::check_kind(&scope.grant, kind)?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities): (ApiResource, _) =
        match bounded(kube::discovery::pinned_kind(&scope.client, &gvk)).await {
            Err(WitError::NotFound(_)) => {
                return Err(WitError::InvalidInput(format!(
                    "the cluster has no kind {kind} in {api_version}"
                )));
            }
            other => other?,
        };
    if capabilities.scope != Scope::Namespaced {
        return Err(WitError::Denied(format!(
            "{kind} is cluster-scoped: only namespaced kinds are reachable"
        )));
    }
    Ok(Api::namespaced_with(
        scope.client.clone(),
        namespace,
        &resource,
    ))
}

/// An object as JSON for the guest; `kind` is the kind asked for (list items lack theirs).
fn to_json(kind: &str, mut object: Value) -> Result<String, WitError> {
    manifest::redact(kind, &mut object);
    serde_json::to_string(&object).map_err(|e| WitError::Internal(format!("serializing: {e}")))
}

fn as_value(object: DynamicObject) -> Result<Value, WitError> {
    serde_json::to_value(object).map_err(|e| WitError::Internal(format!("reading an object: {e}")))
}

/// This deployment's object, if there is one.
async fn owned(
    scope: &KubernetesScope,
    api: &Api<DynamicObject>,
    name: &str,
) -> Result<Option<Value>, WitError> {
    Ok(match bounded(api.get_opt(name)).await? {
        Some(found) => {
            Some(as_value(found)?).filter(|o| manifest::owned_by(o, &scope.owner.deployment))
        }
        None => None,
    })
}

/// Refuses to overwrite an object of another deployment.
async fn check_not_foreign(
    scope: &KubernetesScope,
    api: &Api<DynamicObject>,
    target: &Target,
) -> Result<(), WitError> {
    if let Some(found) = bounded(api.get_opt(&target.name)).await?
        && !manifest::owned_by(&as_value(found)?, &scope.owner.deployment)
    {
        return Err(WitError::Conflict(format!(
            "{} {:?} exists and belongs to another deployment",
            target.kind, target.name
        )));
    }
    Ok(())
}

/// Creates a granted namespace that does not exist yet, labelled as the deployment's. Called
/// only after a write answered not-found, so a kubeconfig limited to its namespaces never
/// needs to read namespaces.
async fn create_namespace(scope: &KubernetesScope, namespace: &str) -> Result<(), WitError> {
    let namespaces: Api<Namespace> = Api::all(scope.client.clone());
    let labels = scope
        .owner
        .labels
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    let created = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_owned()),
            labels: Some(labels),
            ..Default::default()
        },
        ..Default::default()
    };
    match bounded(namespaces.create(&PostParams::default(), &created)).await {
        Ok(_) | Err(WitError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The labels of the namespaced object `name` of kind `K`, if it exists.
async fn labels_of<K>(
    scope: &KubernetesScope,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, WitError>
where
    K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api = Api::<K>::namespaced(scope.client.clone(), namespace);
    Ok(bounded(api.get_metadata_opt(name))
        .await?
        .and_then(|found| found.metadata.labels))
}

/// Checks that every object a manifest refers to exists and belongs to the deployment.
async fn check_references(
    scope: &KubernetesScope,
    namespace: &str,
    references: &[Reference],
) -> Result<(), WitError> {
    for reference in references {
        let name = reference.name.as_str();
        let labels = match reference.kind {
            ReferenceKind::ConfigMap => labels_of::<ConfigMap>(scope, namespace, name).await?,
            ReferenceKind::PersistentVolumeClaim => {
                labels_of::<PersistentVolumeClaim>(scope, namespace, name).await?
            }
            ReferenceKind::Secret => labels_of::<Secret>(scope, namespace, name).await?,
            ReferenceKind::Service => labels_of::<Service>(scope, namespace, name).await?,
        };
        if labels.is_none_or(|l| l.get(DEPLOYMENT_LABEL) != Some(&scope.owner.deployment)) {
            return Err(WitError::Denied(format!(
                "the manifest refers to {} {name:?}, which is not this deployment's (create it \
                 first)",
                reference.kind.as_str()
            )));
        }
    }
    Ok(())
}

/// Server-side applies `object` (already checked and labelled) as `target`, creating its
/// namespace when the write finds none.
async fn server_side_apply(
    scope: &KubernetesScope,
    namespace: &str,
    target: &Target,
    object: &Value,
) -> Result<String, WitError> {
    let api = api(scope, namespace, &target.api_version, &target.kind).await?;
    check_not_foreign(scope, &api, target).await?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let applied = match bounded(api.patch(&target.name, &params, &Patch::Apply(object))).await {
        Err(WitError::NotFound(_)) => {
            create_namespace(scope, namespace).await?;
            bounded(api.patch(&target.name, &params, &Patch::Apply(object))).await?
        }
        other => other?,
    };
    to_json(&target.kind, as_value(applied)?)
}

pub(super) async fn apply(
    scope: &KubernetesScope,
    namespace: &str,
    text: &str,
) -> Result<String, WitError> {
    let (target, object, references) =
        manifest::prepare(&scope.grant, &scope.owner, namespace, text)?;
    check_references(scope, namespace, &references).await?;
    server_side_apply(scope, namespace, &target, &object).await
}

pub(super) async fn get(
    scope: &KubernetesScope,
    namespace: &str,
    api_version: &str,
    kind: &str,
    name: &str,
) -> Result<Option<String>, WitError> {
    let api = api(scope, namespace, api_version, kind).await?;
    owned(scope, &api, name)
        .await?
        .map(|o| to_json(kind, o))
        .transpose()
}

pub(super) async fn list(
    scope: &KubernetesScope,
    namespace: &str,
    api_version: &str,
    kind: &str,
    selector: Option<&str>,
) -> Result<Vec<String>, WitError> {
    let api = api(scope, namespace, api_version, kind).await?;
    let mut labels = format!("{DEPLOYMENT_LABEL}={}", scope.owner.deployment);
    if let Some(selector) = selector.map(str::trim).filter(|s| !s.is_empty()) {
        labels.push(',');
        labels.push_str(selector);
    }
    let params = ListParams::default()
        .labels(&labels)
        .limit(MAX_LISTED as u32 + 1);
    let found = bounded(api.list(&params)).await?;
    if found.items.len() > MAX_LISTED || found.metadata.continue_.is_some_and(|c| !c.is_empty()) {
        return Err(WitError::InvalidInput(format!(
            "more than {MAX_LISTED} {kind} objects match: narrow the label selector"
        )));
    }
    found
        .items
        .into_iter()
        .map(|o| as_value(o).and_then(|o| to_json(kind, o)))
        .collect()
}

pub(super) async fn delete(
    scope: &KubernetesScope,
    namespace: &str,
    api_version: &str,
    kind: &str,
    name: &str,
) -> Result<bool, WitError> {
    let api = api(scope, namespace, api_version, kind).await?;
    let Some(found) = owned(scope, &api, name).await? else {
        return Ok(false);
    };
    // Only the object checked: one recreated under the name since then is left alone.
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: found
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .map(str::to_owned),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match bounded(api.delete(name, &params)).await {
        Ok(_) => Ok(true),
        Err(WitError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) async fn rollout_status(
    scope: &KubernetesScope,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<Rollout, WitError> {
    if !ROLLOUT_KINDS.contains(&kind) {
        return Err(WitError::InvalidInput(format!(
            "rollouts are followed for {} only, not {kind}",
            ROLLOUT_KINDS.join(", ")
        )));
    }
    let api = api(scope, namespace, "apps/v1", kind).await?;
    let found = owned(scope, &api, name)
        .await?
        .ok_or_else(|| WitError::NotFound(format!("this deployment has no {kind} {name:?}")))?;
    Ok(manifest::rollout(kind, &found))
}

pub(super) async fn pod_logs(
    scope: &KubernetesScope,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    cursor: Option<&str>,
    max_lines: u32,
) -> Result<LogPage, WitError> {
    let mut pager = Pager::new(cursor, max_lines, &scope.secrets)?;
    manifest::check_namespace(&scope.grant, namespace)?;
    let pods: Api<Pod> = Api::namespaced(scope.client.clone(), namespace);
    let found = bounded(pods.get_opt(pod)).await?;
    let owned = found.is_some_and(|p| {
        p.metadata
            .labels
            .is_some_and(|l| l.get(DEPLOYMENT_LABEL) == Some(&scope.owner.deployment))
    });
    if !owned {
        return Err(WitError::NotFound(format!(
            "this deployment has no pod {pod:?}"
        )));
    }
    let since_time = pager
        .since_nanos()
        .map(jiff::Timestamp::from_nanosecond)
        .transpose()
        .map_err(|e| WitError::InvalidInput(format!("the cursor's time: {e}")))?;
    let params = LogParams {
        container: container.map(str::to_owned),
        timestamps: true,
        tail_lines: since_time.is_none().then_some(pager.tail() as i64),
        since_time,
        limit_bytes: Some(LOG_BYTES),
        ..Default::default()
    };
    let text = match bounded(pods.logs(pod, &params)).await {
        // The API server answers 400 for a container the pod does not have.
        Err(WitError::InvalidInput(message)) if container.is_some() => {
            return Err(WitError::NotFound(message));
        }
        other => other?,
    };
    for line in text.lines() {
        if !pager.offer(line, LogSource::Stdout) {
            break;
        }
    }
    Ok(pager.finish())
}

/// Whether a Secret key follows Kubernetes' rule `[-._a-zA-Z0-9]+`.
fn valid_secret_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

pub(super) async fn create_secret(
    scope: &KubernetesScope,
    namespace: &str,
    name: &str,
    entries: &[(String, SecretRef)],
) -> Result<(), WitError> {
    let mut data = serde_json::Map::new();
    for (key, reference) in entries {
        if !valid_secret_key(key) {
            return Err(WitError::InvalidInput(format!(
                "Secret key {key:?} must match [-._a-zA-Z0-9]+"
            )));
        }
        let value = scope.secrets.get(&reference.name)?;
        data.insert(
            key.clone(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(value)),
        );
    }
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": data,
    });
    let (target, object, _) =
        manifest::prepare(&scope.grant, &scope.owner, namespace, &secret.to_string())?;
    server_side_apply(scope, namespace, &target, &object).await?;
    Ok(())
}
