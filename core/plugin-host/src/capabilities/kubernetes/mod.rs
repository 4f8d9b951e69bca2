//! `komander:kubernetes`: the host side of the Kubernetes capability, on kube.
//!
//! A [`KubernetesScope`] is what one runtime call may touch: the cluster of its environment,
//! the namespaces and kinds the admin granted the install ([`KubernetesGrant`]), the
//! deployment it acts for (everything written is labelled with its ids, and reads see only
//! objects carrying them) and the values of its secret references.
//!
//! - [`manifest`]: checking and labelling objects before they reach the API server, and what
//!   comes back (Secrets emptied, rollouts summarized).
//! - [`claims`]: what PersistentVolumeClaims a deployment makes are named, so none is
//!   another's, and that none picks its volume.
//! - [`kubeconfig`]: which kubeconfigs `connect` trusts.
//! - [`network`]: how a deployment's pods are reached: Services and Ingresses.
//! - [`ops`]: each function of `cluster` against the API server.

mod claims;
mod kubeconfig;
mod manifest;
mod network;
mod ops;

use std::{collections::BTreeSet, sync::Arc};

use serde_json::{Map, Value};

use crate::{
    PluginError,
    bindings::{
        kubernetes_cluster::{self, Rollout},
        types::{Error as WitError, LogPage, SecretRef},
    },
    capabilities::{
        DeploymentIds, SecretValues,
        call::{CallContext, Capability, HostCapability},
    },
    error::HostError,
    host::HostState,
};

pub use manifest::MANIFEST_BYTES;

/// The `kubernetes` capability: a call holds the scope of the deployment it acts for, on a
/// Kubernetes environment.
pub(crate) struct KubernetesCapability;

impl HostCapability for KubernetesCapability {
    type Grant = Option<Arc<KubernetesScope>>;
    type State = Self::Grant;

    fn prepare(scope: Self::Grant) -> Self::Grant {
        scope
    }
}

/// The prefix of Komander's own labels; guests may not set labels under it.
pub const LABEL_PREFIX: &str = "komander.dev/";
/// The label holding the project's id.
pub const PROJECT_LABEL: &str = "komander.dev/project";
/// The label holding the environment's id.
pub const ENVIRONMENT_LABEL: &str = "komander.dev/environment";
/// The label holding the deployment's id: what makes an object visible to a call.
pub const DEPLOYMENT_LABEL: &str = "komander.dev/deployment";

/// What the admin granted an install on an environment's cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubernetesGrant {
    /// The namespaces it may read and write.
    pub namespaces: BTreeSet<String>,
    /// The kinds it may read and write, such as `Deployment`, `Service`, `Secret`.
    pub kinds: BTreeSet<String>,
    /// The Service types besides `ClusterIP` its Services may have; none by default, so its
    /// Services are reachable from inside the cluster only.
    pub service_types: BTreeSet<ServiceType>,
}

/// A Service type that reaches past the cluster's own network: a Service of one of these is
/// refused unless the grant names its type. `ClusterIP`, the default, is always allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceType {
    /// `NodePort`: a port opened on every node of the cluster.
    NodePort,
    /// `LoadBalancer`: a load balancer outside the cluster (and a port on every node).
    LoadBalancer,
    /// `ExternalName`: a DNS name in the namespace that aliases any host.
    ExternalName,
}

impl ServiceType {
    /// Every type, in the order Kubernetes documents them.
    pub const ALL: [ServiceType; 3] = [
        ServiceType::NodePort,
        ServiceType::LoadBalancer,
        ServiceType::ExternalName,
    ];

    /// The type as `spec.type` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ExternalName => "ExternalName",
        }
    }

    /// The type `spec.type` names, if it is one of these (not for `ClusterIP`).
    pub fn from_name(name: &str) -> Option<ServiceType> {
        ServiceType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// What one runtime call may do with Kubernetes.
pub struct KubernetesScope {
    client: kube::Client,
    owner: Owner,
    grant: KubernetesGrant,
    secrets: SecretValues,
}

/// The deployment a call acts for, as the checks see it: its id and the labels the host puts
/// on everything it writes.
struct Owner {
    /// The deployment's id: the value of [`DEPLOYMENT_LABEL`].
    pub deployment: String,
    /// The project's, environment's and deployment's ids under their labels.
    pub labels: Map<String, Value>,
}

impl Owner {
    /// The owner of what a call for the deployment `ids` writes.
    pub fn new(ids: DeploymentIds) -> Owner {
        let labels = [
            (PROJECT_LABEL, ids.project),
            (ENVIRONMENT_LABEL, ids.environment),
            (DEPLOYMENT_LABEL, ids.deployment.clone()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), Value::String(value)))
        .collect();
        Owner {
            deployment: ids.deployment,
            labels,
        }
    }
    /// The prefix of the name of every PersistentVolumeClaim this deployment makes: its id and
    /// a dash. Deployment ids are UUIDs, all of one length, so no prefix starts another.
    pub fn claim_prefix(&self) -> String {
        format!("{}-", self.deployment)
    }
}

impl KubernetesScope {
    /// A scope acting for the deployment `ids` on the cluster `client`, within `grant`.
    pub fn new(
        client: kube::Client,
        ids: DeploymentIds,
        grant: KubernetesGrant,
    ) -> KubernetesScope {
        KubernetesScope {
            client,
            owner: Owner::new(ids),
            grant,
            secrets: SecretValues::default(),
        }
    }

    /// Lets the call's `secret-ref` named `name` stand for `value` in Secrets it creates.
    pub fn with_secret(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> KubernetesScope {
        self.secrets.insert(name, value);
        self
    }
}

/// A client of the cluster a kubeconfig (YAML text) describes, with its current context.
/// Every cluster and user in it must hold its credentials inline: one that runs a command
/// (`exec`, `auth-provider`), reads a file (`certificate-authority`, `client-certificate`,
/// `client-key`, `tokenFile`, any `*-file` key) or names a `proxy-url` is refused.
///
/// # Errors
/// [`PluginError::Host`] when the kubeconfig is invalid, has such a field (the message names
/// it and its entry) or names no usable context.
pub async fn connect(kubeconfig: &str) -> Result<kube::Client, PluginError> {
    let host = |e: &dyn std::fmt::Display| PluginError::Host(format!("the kubeconfig: {e}"));
    let parsed = kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|e| host(&e))?;
    kubeconfig::check(&parsed).map_err(|e| host(&e))?;
    let config =
        kube::Config::from_custom_kubeconfig(parsed, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| host(&e))?;
    kube::Client::try_from(config).map_err(|e| host(&e))
}

impl HostState {
    /// The call's Kubernetes scope, if the capability is granted and the call has one.
    fn kubernetes(&self) -> Result<Arc<KubernetesScope>, WitError> {
        CallContext::granted(&self.call.kubernetes, Capability::Kubernetes)?
            .clone()
            .ok_or_else(|| {
                WitError::Unavailable(
                    "this call acts for no deployment on a Kubernetes environment".into(),
                )
            })
    }
}

/// Runs `op` with the call's scope, or answers why there is none.
macro_rules! with_scope {
    ($state:expr, |$scope:ident| $op:expr) => {{
        let $scope = $state.kubernetes()?;
        Ok($op.await?)
    }};
}

impl kubernetes_cluster::Host for HostState {
    async fn apply(&mut self, namespace: String, manifest: String) -> Result<String, HostError> {
        with_scope!(self, |scope| ops::apply(&scope, &namespace, &manifest))
    }

    async fn get_object(
        &mut self,
        namespace: String,
        api_version: String,
        kind: String,
        name: String,
    ) -> Result<Option<String>, HostError> {
        with_scope!(self, |scope| ops::get(
            &scope,
            &namespace,
            &api_version,
            &kind,
            &name
        ))
    }

    async fn list_objects(
        &mut self,
        namespace: String,
        api_version: String,
        kind: String,
        label_selector: Option<String>,
    ) -> Result<Vec<String>, HostError> {
        with_scope!(self, |scope| ops::list(
            &scope,
            &namespace,
            &api_version,
            &kind,
            label_selector.as_deref()
        ))
    }

    async fn delete_object(
        &mut self,
        namespace: String,
        api_version: String,
        kind: String,
        name: String,
    ) -> Result<bool, HostError> {
        with_scope!(self, |scope| ops::delete(
            &scope,
            &namespace,
            &api_version,
            &kind,
            &name
        ))
    }

    async fn rollout_status(
        &mut self,
        namespace: String,
        kind: String,
        name: String,
    ) -> Result<Rollout, HostError> {
        with_scope!(self, |scope| ops::rollout_status(
            &scope, &namespace, &kind, &name
        ))
    }

    async fn pod_logs(
        &mut self,
        namespace: String,
        pod: String,
        container: Option<String>,
        cursor: Option<String>,
        max_lines: u32,
    ) -> Result<LogPage, HostError> {
        with_scope!(self, |scope| ops::pod_logs(
            &scope,
            &namespace,
            &pod,
            container.as_deref(),
            cursor.as_deref(),
            max_lines
        ))
    }

    async fn create_secret(
        &mut self,
        namespace: String,
        name: String,
        entries: Vec<(String, SecretRef)>,
    ) -> Result<(), HostError> {
        with_scope!(self, |scope| ops::create_secret(
            &scope, &namespace, &name, &entries
        ))
    }
}
