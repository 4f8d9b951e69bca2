//! The records tests write, and shortcuts that write them (each one a step a test is not
//! about, so it panics on failure).

use komander_domain::{
    AuditId, DeploymentId, EnvironmentId, Executor, ProjectId, Role, ServiceId, UserId, VariableId,
    api::{PluginStatus, UserKind},
};
use komander_store::{
    AuditRecord, DeploymentRecord, EnvironmentRecord, PageRequest, PluginRecord, ProjectRecord,
    ServiceRecord, Store, StoredValue, UserRecord, VariableRecord,
};

/// A human user `handle`, not an instance admin.
pub fn user(handle: &str) -> UserRecord {
    UserRecord {
        id: UserId::new(),
        handle: handle.parse().expect("a valid handle"),
        display_name: handle.into(),
        kind: UserKind::Human,
        instance_admin: false,
        created_at: 1,
    }
}

/// An audit entry by `actor` for `action`.
pub fn audit(actor: &UserRecord, project: Option<ProjectId>, action: &str) -> AuditRecord {
    AuditRecord {
        id: AuditId::new(),
        project_id: project,
        actor_id: actor.id,
        actor_handle: actor.handle.to_string(),
        action: action.into(),
        target: "t".into(),
        fields: vec!["name".into()],
        at: 2,
        private_to: None,
    }
}

/// A page of `limit` items after `after`.
pub fn page(limit: u32, after: Option<&str>) -> PageRequest {
    PageRequest {
        limit,
        after: after.map(str::to_owned),
    }
}

/// A Compose environment `name` of `project`, run locally.
pub fn environment(project: ProjectId, name: &str) -> EnvironmentRecord {
    EnvironmentRecord {
        id: EnvironmentId::new(),
        project_id: project,
        name: name.parse().expect("a valid environment name"),
        display_name: name.into(),
        runtime: "komander.compose".parse().unwrap(),
        executor: Executor::Local,
        target_id: None,
        target_name: None,
        settings: serde_json::Map::new(),
        created_at: 1,
        updated_at: 1,
    }
}

/// A private deployment `name` of `owner` in `environment`.
pub fn deployment(
    environment: &EnvironmentRecord,
    owner: &UserRecord,
    name: &str,
) -> DeploymentRecord {
    DeploymentRecord {
        id: DeploymentId::new(),
        project_id: environment.project_id,
        environment_id: environment.id,
        name: name.parse().expect("a valid deployment name"),
        display_name: name.into(),
        owner_id: owner.id,
        owner_handle: None,
        shared: false,
        created_at: 1,
        updated_at: 1,
    }
}

/// A service `name` of `deployment`, running nginx.
pub fn service(deployment: &DeploymentRecord, name: &str) -> ServiceRecord {
    ServiceRecord {
        id: ServiceId::new(),
        deployment_id: deployment.id,
        name: name.parse().expect("a valid service name"),
        image: "nginx".into(),
        ports: serde_json::json!([]),
        volumes: serde_json::json!([]),
        settings: serde_json::json!({}),
        created_at: 1,
        updated_at: 1,
    }
}

/// A variable `name` of `service`.
pub fn variable(
    service: &ServiceRecord,
    name: &str,
    secret: bool,
    value: StoredValue,
) -> VariableRecord {
    VariableRecord {
        id: VariableId::new(),
        service_id: service.id,
        name: name.parse().expect("a valid variable name"),
        secret,
        value,
        updated_at: 1,
    }
}

/// An enabled remote runtime `id`, granted kv.
pub fn plugin(id: &str, installer: &UserRecord) -> PluginRecord {
    PluginRecord {
        id: id.into(),
        version: "1.0.0".into(),
        kind: "runtime".into(),
        world: Some("remote".into()),
        digest: "d".repeat(64),
        manifest: String::new(),
        requested: vec!["kv".into()],
        granted: vec!["kv".into()],
        status: PluginStatus::Enabled,
        installed_by: installer.id,
        installed_at: 1,
        updated_at: 1,
        config: "{}".into(),
        artifact: None,
    }
}

/// Creates the user `handle`.
pub async fn create_user(store: &dyn Store, handle: &str) -> UserRecord {
    let user = user(handle);
    store
        .create_user(&user, None, None)
        .await
        .expect("creating a user");
    user
}

/// Creates the project `name`, with `creator` as its Admin.
pub async fn create_project(store: &dyn Store, name: &str, creator: &UserRecord) -> ProjectId {
    let project = ProjectRecord {
        id: ProjectId::new(),
        name: name.parse().expect("a valid project name"),
        display_name: name.into(),
        description: String::new(),
        created_by: creator.id,
        created_at: 1,
        updated_at: 1,
    };
    store
        .create_project(
            &project,
            &audit(creator, Some(project.id), "project.create"),
        )
        .await
        .expect("creating a project");
    project.id
}

/// Makes `member` a Dev of `project`, as its Admin `admin`.
pub async fn add_dev(
    store: &dyn Store,
    project: ProjectId,
    member: &UserRecord,
    admin: &UserRecord,
) {
    store
        .add_member(
            project,
            member.id,
            Role::Dev,
            &audit(admin, Some(project), "member.add"),
        )
        .await
        .expect("adding a member");
}

/// Creates the environment `name` in `project`, as `actor`.
pub async fn create_environment(
    store: &dyn Store,
    project: ProjectId,
    name: &str,
    actor: &UserRecord,
) -> EnvironmentRecord {
    let environment = environment(project, name);
    store
        .create_environment(
            &environment,
            &audit(actor, Some(project), "environment.create"),
        )
        .await
        .expect("creating an environment");
    environment
}

/// Creates `owner`'s private deployment `name` in `environment`.
pub async fn create_deployment(
    store: &dyn Store,
    environment: &EnvironmentRecord,
    owner: &UserRecord,
    name: &str,
) -> DeploymentRecord {
    let deployment = deployment(environment, owner, name);
    store
        .create_deployment(
            &deployment,
            &audit(owner, Some(environment.project_id), "deployment.create"),
        )
        .await
        .expect("creating a deployment");
    deployment
}

/// Creates the service `name` in `deployment`, as `actor`.
pub async fn create_service(
    store: &dyn Store,
    deployment: &DeploymentRecord,
    name: &str,
    actor: &UserRecord,
) -> ServiceRecord {
    let service = service(deployment, name);
    store
        .create_service(
            &service,
            &accept_all,
            &audit(actor, Some(deployment.project_id), "service.create"),
        )
        .await
        .expect("creating a service");
    service
}

/// A services check that accepts everything.
pub fn accept_all(_: &[ServiceRecord]) -> komander_store::Result<()> {
    Ok(())
}

/// Puts the variable `name` of `service`, as `actor`.
pub async fn put_variable(
    store: &dyn Store,
    service: &ServiceRecord,
    name: &str,
    secret: bool,
    value: StoredValue,
    actor: &UserRecord,
) -> VariableRecord {
    let variable = variable(service, name, secret, value);
    store
        .put_variable(&variable, &audit(actor, None, "variable.put"))
        .await
        .expect("putting a variable");
    variable
}

/// Installs the plugin `id`, as `installer`.
pub async fn create_plugin(store: &dyn Store, id: &str, installer: &UserRecord) -> PluginRecord {
    let plugin = plugin(id, installer);
    store
        .create_plugin(&plugin, &audit(installer, None, "plugin.install"))
        .await
        .expect("installing a plugin");
    plugin
}
