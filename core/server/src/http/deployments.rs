//! `.../environments/{environment}/deployments`: deployments, their services and variables.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use komander_app::{AppError, runtimes::ExportedDeployment};
use komander_domain::api::{
    ComposeImport, Deployment, DeploymentPatch, NewDeployment, NewService, Page, PageQuery,
    ResolveQuery, ResolvedDeployment, Service, ServicePatch, ShareOutcome, Variable, VariableWrite,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ErrorResponses},
    extract::{
        AppJson, AppQuery, Authenticated, DeploymentPath, EnvironmentPath, PathRef, ServicePath,
        VariablePath,
    },
};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deployments, create_deployment))
        .routes(routes!(
            get_deployment,
            update_deployment,
            delete_deployment
        ))
        .routes(routes!(share_deployment))
        .routes(routes!(resolve_deployment))
        .routes(routes!(export_deployment))
        .routes(routes!(import_compose))
        .routes(routes!(list_services, create_service))
        .routes(routes!(get_service, update_service, delete_service))
        .routes(routes!(list_variables))
        .routes(routes!(put_variable, delete_variable))
}

/// The environment's deployments the caller sees: shared ones and their own, by name.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments", tag = "deployments", params(EnvironmentPath, PageQuery),
    responses((status = 200, body = Page<Deployment>), ErrorResponses))]
async fn list_deployments(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
    PathRef(environment): PathRef<EnvironmentPath>,
) -> Result<Json<Page<Deployment>>, ApiError> {
    Ok(Json(
        s.app.list_deployments(&caller, &environment, &q).await?,
    ))
}

/// Creates a deployment, private to the caller until shared.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments", tag = "deployments", params(EnvironmentPath),
    request_body = NewDeployment,
    responses((status = 201, body = Deployment), ErrorResponses))]
async fn create_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(environment): PathRef<EnvironmentPath>,
    AppJson(body): AppJson<NewDeployment>,
) -> Result<(StatusCode, Json<Deployment>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.create_deployment(&caller, &environment, body).await?),
    ))
}

/// A deployment; someone else's private deployment answers 404.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}",
    tag = "deployments", params(DeploymentPath),
    responses((status = 200, body = Deployment), ErrorResponses))]
async fn get_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<Json<Deployment>, ApiError> {
    Ok(Json(s.app.get_deployment(&caller, &deployment).await?))
}

/// Changes a deployment's display name (its owner; Admins and DevOps when shared).
#[utoipa::path(patch, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}",
    tag = "deployments", params(DeploymentPath), request_body = DeploymentPatch,
    responses((status = 200, body = Deployment), ErrorResponses))]
async fn update_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
    AppJson(body): AppJson<DeploymentPatch>,
) -> Result<Json<Deployment>, ApiError> {
    Ok(Json(
        s.app.update_deployment(&caller, &deployment, body).await?,
    ))
}

/// Deletes a deployment with its services (its owner; Admins and DevOps when shared).
#[utoipa::path(delete, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}",
    tag = "deployments", params(DeploymentPath), responses((status = 204), ErrorResponses))]
async fn delete_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<StatusCode, ApiError> {
    s.app.delete_deployment(&caller, &deployment).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Shares a deployment with the project's members. Every secret variable value in it is
/// cleared; the owner re-enters them.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/share",
    tag = "deployments", params(DeploymentPath),
    responses((status = 200, body = ShareOutcome), ErrorResponses))]
async fn share_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<Json<ShareOutcome>, ApiError> {
    Ok(Json(s.app.share_deployment(&caller, &deployment).await?))
}

/// For the CLI of a `local` environment: the deployment with its secret values, to run it on
/// the caller's machine. Allowed to those who may apply it there; refused (403) in every
/// `server` environment, whoever asks. Every call is audited with the names of the secret
/// variables it released; `secrets=false` releases none.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/resolve",
    tag = "deployments", params(DeploymentPath, ResolveQuery),
    responses((status = 200, body = ResolvedDeployment), ErrorResponses))]
async fn resolve_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
    AppQuery(query): AppQuery<ResolveQuery>,
) -> Result<Json<ResolvedDeployment>, ApiError> {
    let with_secrets = query.secrets.unwrap_or(true);
    Ok(Json(
        s.app
            .resolve_deployment(&caller, &deployment, with_secrets)
            .await?,
    ))
}

/// Creates the services of a Compose file in the deployment, with their variables (secret
/// when their name says so), all or nothing. What Komander does not run is refused (400)
/// naming the file, line and key of each refusal; a taken service name answers 409.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/import",
    tag = "services", params(DeploymentPath), request_body = ComposeImport,
    responses((status = 201, body = Vec<Service>), ErrorResponses))]
async fn import_compose(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
    AppJson(body): AppJson<ComposeImport>,
) -> Result<(StatusCode, Json<Vec<Service>>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.import_compose(&caller, &deployment, body).await?),
    ))
}

/// The deployment as files to run without Komander (such as `compose.yaml` and
/// `.env.example`), written by the environment's runtime plugin and answered as a tar archive.
/// Anyone who sees the deployment may export it: no secret value is in it, only the secret
/// variables' names. Audited.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/export",
    tag = "deployments", params(DeploymentPath),
    responses((status = 200, description = "A tar archive of the bundle's files, as `<deployment>.tar`",
        content_type = "application/x-tar", body = Vec<u8>), ErrorResponses))]
async fn export_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<impl IntoResponse, ApiError> {
    export_archive(&s.app, &caller, &deployment).await
}

/// The export bundle of `deployment` as a tar download, for the API and for the web UI's
/// cookie-authenticated download route.
pub(super) async fn export_archive(
    app: &komander_app::App,
    caller: &komander_app::Caller,
    deployment: &komander_domain::DeploymentRef,
) -> Result<impl IntoResponse + use<>, ApiError> {
    let exported = app.export_deployment(caller, deployment).await?;
    let archive = tar_archive(&exported)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.tar\"", exported.deployment),
            ),
        ],
        archive,
    ))
}

/// The bundle's files as a tar archive (checked by `komander_app::runtimes::check_bundle`
/// already): regular files, mode 0644, no owner, dated at the epoch so that one bundle always
/// gives the same archive.
fn tar_archive(exported: &ExportedDeployment) -> Result<Vec<u8>, AppError> {
    let mut builder = tar::Builder::new(Vec::new());
    for file in &exported.bundle.files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(file.content.len() as u64);
        builder
            .append_data(&mut header, &file.path, file.content.as_bytes())
            .map_err(|e| AppError::internal(format!("archiving {:?}", file.path), e))?;
    }
    builder
        .into_inner()
        .map_err(|e| AppError::internal("archiving the bundle", e))
}

/// The deployment's services, by name.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/services",
    tag = "services", params(DeploymentPath, PageQuery),
    responses((status = 200, body = Page<Service>), ErrorResponses))]
async fn list_services(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<Json<Page<Service>>, ApiError> {
    Ok(Json(s.app.list_services(&caller, &deployment, &q).await?))
}

/// Adds a service from an image.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/services",
    tag = "services", params(DeploymentPath), request_body = NewService,
    responses((status = 201, body = Service), ErrorResponses))]
async fn create_service(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
    AppJson(body): AppJson<NewService>,
) -> Result<(StatusCode, Json<Service>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.create_service(&caller, &deployment, body).await?),
    ))
}

/// A service.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/services/{service}",
    tag = "services", params(ServicePath),
    responses((status = 200, body = Service), ErrorResponses))]
async fn get_service(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(service): PathRef<ServicePath>,
) -> Result<Json<Service>, ApiError> {
    Ok(Json(s.app.get_service(&caller, &service).await?))
}

/// Replaces a service's image, ports or volumes.
#[utoipa::path(patch, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/services/{service}",
    tag = "services", params(ServicePath), request_body = ServicePatch,
    responses((status = 200, body = Service), ErrorResponses))]
async fn update_service(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(service): PathRef<ServicePath>,
    AppJson(body): AppJson<ServicePatch>,
) -> Result<Json<Service>, ApiError> {
    Ok(Json(s.app.update_service(&caller, &service, body).await?))
}

/// Deletes a service with its variables.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/services/{service}",
    tag = "services", params(ServicePath), responses((status = 204), ErrorResponses))]
async fn delete_service(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(service): PathRef<ServicePath>,
) -> Result<StatusCode, ApiError> {
    s.app.delete_service(&caller, &service).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The service's variables, by name. Secret values never appear: `has_value` tells whether
/// one is set.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/services/{service}/variables",
    tag = "services", params(ServicePath, PageQuery),
    responses((status = 200, body = Page<Variable>), ErrorResponses))]
async fn list_variables(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
    PathRef(service): PathRef<ServicePath>,
) -> Result<Json<Page<Variable>>, ApiError> {
    Ok(Json(s.app.list_variables(&caller, &service, &q).await?))
}

/// Sets a variable. Secret values are write-only.
#[utoipa::path(put, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/services/{service}/variables/{name}",
    tag = "services", params(VariablePath), request_body = VariableWrite,
    responses((status = 200, body = Variable), ErrorResponses))]
async fn put_variable(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef((service, name)): PathRef<VariablePath>,
    AppJson(body): AppJson<VariableWrite>,
) -> Result<Json<Variable>, ApiError> {
    Ok(Json(
        s.app.put_variable(&caller, &service, &name, body).await?,
    ))
}

/// Deletes a variable.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/services/{service}/variables/{name}",
    tag = "services", params(VariablePath), responses((status = 204), ErrorResponses))]
async fn delete_variable(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef((service, name)): PathRef<VariablePath>,
) -> Result<StatusCode, ApiError> {
    s.app.delete_variable(&caller, &service, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
