//! The REST wire types of `/api/v1`, shared by the server, the CLI and the web UI.
//!
//! Conventions: errors are [`ErrorBody`]; lists are [`Page`] with keyset cursors; enums are lower
//! case; timestamps are RFC 3339. Request bodies refuse unknown fields. Secret variable values are
//! write-only: no response type carries one, except [`ResolvedDeployment`], which only the CLI
//! of a `local` environment receives, through the audited resolve endpoint. Every body that
//! holds a secret or a token prints `***` in its place in `Debug`.

use std::{
    collections::BTreeMap,
    fmt,
    net::{IpAddr, Ipv4Addr},
    str::FromStr,
};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    DeploymentId, EnvironmentId, Executor, InvitationId, OperationId, ProjectId, Role, ServiceId,
    TargetId, TokenId, UserId,
    names::{
        DeploymentName, EnvironmentName, ProjectName, RuntimeId, ServiceName, TargetName,
        UserHandle, VariableName, VolumeName,
    },
};

/// Stable error codes, in snake case on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request is malformed or a value breaks a rule (`field` names it).
    InvalidInput,
    /// 401: no valid credentials.
    Unauthenticated,
    /// 403: the object is visible but the action is not allowed.
    Forbidden,
    /// 404: no such object, or not visible to the caller.
    NotFound,
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 409: a name is taken, or the object's state forbids the change.
    Conflict,
    /// 409: another operation is running on the same object; retry later.
    Busy,
    /// 409: the deployment's environment has no target (Docker Engine) to run on; the
    /// message says how to add one.
    NoTarget,
    /// 408: the request took longer than the server's request timeout.
    Timeout,
    /// 413: the body is larger than the server accepts.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 429: the caller holds as many of a bounded resource (such as open event streams) as
    /// the server allows; close one, or retry later.
    TooManyRequests,
    /// 500: a fault on the server; details are in its logs, never in the response.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order above.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::InvalidInput,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::Busy,
        ErrorCode::NoTarget,
        ErrorCode::Timeout,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::TooManyRequests,
        ErrorCode::Internal,
    ];
}

/// An error response: `{"error": {"code", "message", "field"?}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// The stable code.
    pub code: ErrorCode,
    /// A message for people.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// One page of a list, in a stable order. Pass `next_cursor` back as `cursor` for the next page;
/// it is `null` on the last page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor of the next page, `null` when this is the last.
    pub next_cursor: Option<String>,
}

/// Query parameters of every list: `?limit=&cursor=`.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "server", into_params(parameter_in = Query))]
pub struct PageQuery {
    /// How many items at most (1 to 200; default 50).
    #[cfg_attr(feature = "server", param(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: a position in the list, which items after it
    /// the page holds (at most 200 characters).
    #[cfg_attr(feature = "server", param(max_length = 200))]
    pub cursor: Option<String>,
}

/// The largest integer a JSON number holds exactly (2^53 - 1): the bound of the API's large
/// counts (memory in bytes, CPUs in billionths, event ids), as its document says.
pub const JSON_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Reads an optional count that a JSON number holds exactly: at most [`JSON_SAFE_INTEGER`].
fn json_safe_count<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    match Option::<u64>::deserialize(deserializer)? {
        Some(count) if count > JSON_SAFE_INTEGER => Err(serde::de::Error::custom(format!(
            "{count} is larger than {JSON_SAFE_INTEGER}, the largest count"
        ))),
        count => Ok(count),
    }
}

/// The default and the largest page size.
pub const PAGE_DEFAULT: u32 = 50;
/// The largest page size a list accepts.
pub const PAGE_MAX: u32 = 200;

/// A human user (logs in) or a service user (automation, API tokens only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum UserKind {
    /// A person.
    Human,
    /// Automation: authenticates with API tokens only.
    Service,
}

/// A user, as `GET /api/v1/me` and `GET /api/v1/users` show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct User {
    /// Immutable id.
    pub id: UserId,
    /// Unique handle.
    pub handle: UserHandle,
    /// Display name.
    pub display_name: String,
    /// Human or service user.
    pub kind: UserKind,
    /// Administers the instance.
    pub instance_admin: bool,
    /// When the user was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `POST /api/v1/users` (instance admins): creates a service user. Responds 201 with [`User`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewServiceUser {
    /// Unique handle.
    pub handle: UserHandle,
    /// Display name; the handle when absent.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::DisplayNameText>))]
    pub display_name: Option<String>,
    /// Makes the service user an instance admin.
    #[serde(default)]
    pub instance_admin: bool,
}

/// `POST /api/v1/users/{user}/tokens`: creates an API token. Responds 201 with [`CreatedToken`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for (1 to 64 characters).
    #[cfg_attr(feature = "server", schema(value_type = crate::schemas::TokenNameText))]
    pub name: String,
}

/// A token just created: `token` is shown this once and never again.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    /// The token's id, for revoking it.
    pub id: TokenId,
    /// The token itself: send it as `Authorization: Bearer <token>`.
    pub token: String,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("token", &Redacted)
            .finish()
    }
}

/// A token as listed: never the token itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    /// The token's id.
    pub id: TokenId,
    /// What the token is for.
    pub name: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A project, with the caller's role in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Project {
    /// Immutable id.
    pub id: ProjectId,
    /// Immutable slug, the key in URLs.
    pub name: ProjectName,
    /// Editable display name.
    pub display_name: String,
    /// Editable description (may be empty).
    pub description: String,
    /// The caller's role.
    pub role: Role,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /api/v1/projects`: creates a project whose Admin is the caller. Responds 201.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// Immutable slug.
    pub name: ProjectName,
    /// Display name; the slug when absent.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::DisplayNameText>))]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::DescriptionText>))]
    pub description: Option<String>,
}

/// `PATCH /api/v1/projects/{project}` (Admins): changes what is given.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    /// New display name.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::DisplayNameText>))]
    pub display_name: Option<String>,
    /// New description (empty clears it).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::DescriptionText>))]
    pub description: Option<String>,
}

/// A member of a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Member {
    /// The member's handle.
    pub user: UserHandle,
    /// The member's id.
    pub user_id: UserId,
    /// The member's display name.
    pub display_name: String,
    /// The member's role.
    pub role: Role,
    /// When they joined.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `POST /api/v1/projects/{project}/members` (Admins): adds a user by handle. Responds 201.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// The user's handle.
    pub user: UserHandle,
    /// The role to grant.
    pub role: Role,
}

/// `PATCH /api/v1/projects/{project}/members/{user}` (Admins): changes a role. The last Admin
/// cannot be demoted.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// The new role.
    pub role: Role,
}

/// `?force=` of deletions that would destroy more than the object itself.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "server", into_params(parameter_in = Query))]
pub struct ForceQuery {
    /// Also delete what depends on the object (private deployments of a removed member; an
    /// environment's deployments, Admins only). Without it such a deletion answers 409 with the
    /// count.
    #[serde(default)]
    pub force: bool,
}

/// An invitation link, as listed: never its token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// Immutable id.
    pub id: InvitationId,
    /// The role whoever accepts gets.
    pub role: Role,
    /// Who created it.
    pub created_by: UserHandle,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Who accepted it; an accepted invitation cannot be used again.
    pub accepted_by: Option<UserHandle>,
}

/// `POST /api/v1/projects/{project}/invitations` (Admins). Responds 201 with
/// [`CreatedInvitation`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// The role whoever accepts gets.
    pub role: Role,
    /// Hours until it expires (1 to 720; default 168, a week).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 720))]
    pub expires_in_hours: Option<u32>,
}

/// An invitation just created: `token` is shown this once. Whoever is logged in and posts to
/// `/api/v1/invitations/{token}/accept` becomes a member.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CreatedInvitation {
    /// The invitation's id.
    pub id: InvitationId,
    /// The secret part of the link.
    pub token: String,
    /// The role it grants.
    pub role: Role,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for CreatedInvitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedInvitation")
            .field("id", &self.id)
            .field("token", &Redacted)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// An environment (DEV, STAGING, PROD…), shared by the project's members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Environment {
    /// Immutable id.
    pub id: EnvironmentId,
    /// Immutable slug, unique in the project.
    pub name: EnvironmentName,
    /// Editable display name.
    pub display_name: String,
    /// The runtime plugin that runs its deployments, by its full id (`komander.compose`).
    pub runtime: RuntimeId,
    /// Where its deployments are applied.
    pub executor: Executor,
    /// The target (Docker Engine) its `server` deployments run on; absent: the instance's
    /// default target.
    #[serde(default)]
    pub target: Option<TargetName>,
    /// Runtime settings (not secret).
    pub settings: BTreeMap<String, String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /api/v1/projects/{project}/environments` (Admins, DevOps). Responds 201.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewEnvironment {
    /// Immutable slug.
    pub name: EnvironmentName,
    /// Display name; the slug when absent.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::DisplayNameText>))]
    pub display_name: Option<String>,
    /// The runtime plugin that runs its deployments: the id of an installed, enabled runtime
    /// plugin (`komander.compose`, `acme.nomad`), or the short name `compose` or `kubernetes`
    /// of a first-party one (`komander.compose`, `komander.kubernetes`). Fixed once created.
    pub runtime: RuntimeId,
    /// Where its deployments are applied (default `server`).
    #[serde(default)]
    pub executor: Executor,
    /// A target granted to the project, for its `server` deployments; absent: the instance's
    /// default target.
    #[serde(default)]
    pub target: Option<TargetName>,
    /// Runtime settings (not secret; at most 64 keys).
    #[serde(default)]
    #[cfg_attr(
        feature = "server",
        schema(value_type = crate::schemas::RuntimeSettings)
    )]
    pub settings: BTreeMap<String, String>,
}

/// `PATCH .../environments/{environment}` (Admins, DevOps): changes what is given.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnvironmentPatch {
    /// New display name.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::DisplayNameText>))]
    pub display_name: Option<String>,
    /// New executor.
    #[serde(default)]
    pub executor: Option<Executor>,
    /// A target granted to the project; `null` goes back to the instance's default target;
    /// absent keeps the one it names.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "server", schema(value_type = Option<TargetName>))]
    pub target: Option<Option<TargetName>>,
    /// Replaces all settings.
    #[serde(default)]
    #[cfg_attr(
        feature = "server",
        schema(value_type = Option<crate::schemas::RuntimeSettings>)
    )]
    pub settings: Option<BTreeMap<String, String>>,
}

/// A deployment: private to its owner until shared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Deployment {
    /// Immutable id.
    pub id: DeploymentId,
    /// Immutable slug, unique in the environment.
    pub name: DeploymentName,
    /// Editable display name.
    pub display_name: String,
    /// The environment it belongs to.
    pub environment: EnvironmentName,
    /// Its owner's handle.
    pub owner: UserHandle,
    /// Visible to the project's members (else to its owner alone).
    pub shared: bool,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST .../environments/{environment}/deployments`: creates a private deployment owned by the
/// caller. Responds 201.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDeployment {
    /// Immutable slug.
    pub name: DeploymentName,
    /// Display name; the slug when absent.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::DisplayNameText>))]
    pub display_name: Option<String>,
}

/// `PATCH .../deployments/{deployment}`: changes what is given.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeploymentPatch {
    /// New display name.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::DisplayNameText>))]
    pub display_name: Option<String>,
}

/// What `PATCH .../environments/{environment}` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct EnvironmentUpdate {
    /// The environment as saved.
    pub environment: Environment,
    /// How many secret variable values were cleared: a switch from the `server` executor to
    /// `local` clears those of every deployment in it (their owners enter them again).
    pub cleared_secret_values: u64,
}

/// What `POST .../deployments/{deployment}/share` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ShareOutcome {
    /// The deployment, now shared.
    pub deployment: Deployment,
    /// How many secret variable values were cleared; the owner re-enters them.
    pub cleared_secret_values: u64,
}

/// A port a service listens on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// The port inside the container (1 to 65535).
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 65535))]
    pub container: u16,
    /// The port published on the host, if any.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 65535))]
    pub host: Option<u16>,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub protocol: Protocol,
    /// The host address `host` is published on: 127.0.0.1 by default. Any IP address is
    /// accepted here; the target's policy decides at apply time which ones it allows. Unused
    /// without `host`.
    #[serde(default = "PortSpec::loopback")]
    #[cfg_attr(
        feature = "server",
        schema(value_type = crate::schemas::IpAddress, example = "127.0.0.1")
    )]
    pub host_address: IpAddr,
}

impl PortSpec {
    /// The default host address, 127.0.0.1.
    pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn loopback() -> IpAddr {
        Self::LOOPBACK
    }
}

/// A transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A named volume mounted into a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// The volume's name (a slug), scoped to the deployment.
    pub source: VolumeName,
    /// The absolute path inside the container.
    pub target: String,
    /// Mounted read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// A service: one container, from an image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Service {
    /// Immutable id.
    pub id: ServiceId,
    /// Immutable slug, unique in the deployment.
    pub name: ServiceName,
    /// The container image reference.
    pub image: String,
    /// Ports it listens on.
    pub ports: Vec<PortSpec>,
    /// Volumes it mounts.
    pub volumes: Vec<VolumeSpec>,
    /// How it runs: command, health check, restart policy, dependencies, limits…
    #[serde(flatten)]
    pub settings: ServiceSettings,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST .../deployments/{deployment}/services`. Responds 201.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewService {
    /// Immutable slug.
    pub name: ServiceName,
    /// The container image reference (`name[:tag][@digest]`).
    #[cfg_attr(feature = "server", schema(value_type = crate::names::ImageRef))]
    pub image: String,
    /// Ports (at most 64).
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    /// Volumes (at most 64).
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// The arguments passed to the entrypoint; empty keeps the image's `CMD`.
    #[serde(default)]
    pub command: Vec<String>,
    /// The program run; empty keeps the image's `ENTRYPOINT`.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// The absolute working directory; the image's when absent.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::WorkingDirText>))]
    pub working_dir: Option<String>,
    /// The user (`name`, `uid` or `uid:gid`); the image's when absent.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::UserText>))]
    pub user: Option<String>,
    /// How the runtime tells it is healthy; none when absent.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// When the runtime restarts it (default `no`).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = crate::schemas::RestartPolicyText, example = "on-failure:3"))]
    pub restart: RestartPolicy,
    /// Services of the same deployment it waits for.
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
    /// Its memory limit in bytes; none when absent.
    #[serde(default)]
    #[cfg_attr(
        feature = "server",
        schema(minimum = 1, maximum = 9007199254740991_i64)
    )]
    pub memory_bytes: Option<u64>,
    /// Its CPU limit in CPUs (`0.5` is half a CPU); none when absent.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(exclusive_minimum = 0, maximum = 1024))]
    pub cpus: Option<f64>,
    /// How many containers run it (1 to 100; default 1).
    #[serde(default = "ServiceSettings::one")]
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 100))]
    pub replicas: u32,
    /// When its image is pulled (default `missing`).
    #[serde(default)]
    pub pull: PullPolicy,
}

impl NewService {
    /// Service `name` running `image` with `ports`, `volumes` and `settings`.
    pub fn with_settings(
        name: ServiceName,
        image: String,
        ports: Vec<PortSpec>,
        volumes: Vec<VolumeSpec>,
        settings: ServiceSettings,
    ) -> NewService {
        let ServiceSettings {
            command,
            entrypoint,
            working_dir,
            user,
            health_check,
            restart,
            depends_on,
            memory_bytes,
            cpus,
            replicas,
            pull,
        } = settings;
        NewService {
            name,
            image,
            ports,
            volumes,
            command,
            entrypoint,
            working_dir,
            user,
            health_check,
            restart,
            depends_on,
            memory_bytes,
            cpus,
            replicas,
            pull,
        }
    }

    /// The settings it asks for, before validation.
    pub fn settings(&self) -> ServiceSettings {
        ServiceSettings {
            command: self.command.clone(),
            entrypoint: self.entrypoint.clone(),
            working_dir: self.working_dir.clone(),
            user: self.user.clone(),
            health_check: self.health_check.clone(),
            restart: self.restart,
            depends_on: self.depends_on.clone(),
            memory_bytes: self.memory_bytes,
            cpus: self.cpus,
            replicas: self.replicas,
            pull: self.pull,
        }
    }
}

/// `POST .../deployments/{deployment}/import`: creates the services of a Compose file in the
/// deployment, with their ports, volumes, settings and variables (secret by their name), all or
/// nothing. Responds 201 with the created [`Service`]s in file order; 400 naming the file, line
/// and key of everything refused; 409 when a service name is taken.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ComposeImport {
    /// The file's name, as refusals name it (`compose.yaml`).
    #[cfg_attr(feature = "server", schema(value_type = crate::schemas::FileNameText))]
    pub file_name: String,
    /// The Compose file's text (at most 128 KiB).
    pub compose: String,
    /// The text of a `.env` file whose variables the file is interpolated with.
    #[serde(default)]
    pub env_file: Option<String>,
    /// Variables to interpolate with, winning over the `.env` file's.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// Names the file and sizes only: the texts may hold secret values.
impl fmt::Debug for ComposeImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComposeImport")
            .field("file_name", &self.file_name)
            .field("compose_bytes", &self.compose.len())
            .field("env_file", &self.env_file.as_ref().map(|_| Redacted))
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `PATCH .../services/{service}`: replaces what is given; `null` clears an optional field.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    /// New image.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::names::ImageRef>))]
    pub image: Option<String>,
    /// New ports.
    #[serde(default)]
    pub ports: Option<Vec<PortSpec>>,
    /// New volumes.
    #[serde(default)]
    pub volumes: Option<Vec<VolumeSpec>>,
    /// New command (empty: the image's).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// New entrypoint (empty: the image's).
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// New working directory; `null` for the image's.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::WorkingDirText>))]
    pub working_dir: Option<Option<String>>,
    /// New user; `null` for the image's.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::UserText>))]
    pub user: Option<Option<String>>,
    /// New health check; `null` removes it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "server", schema(value_type = Option<HealthCheck>))]
    pub health_check: Option<Option<HealthCheck>>,
    /// New restart policy.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::RestartPolicyText>, example = "always"))]
    pub restart: Option<RestartPolicy>,
    /// New dependencies (replace all).
    #[serde(default)]
    pub depends_on: Option<Vec<Dependency>>,
    /// New memory limit in bytes; `null` removes it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "server", schema(value_type = Option<u64>, minimum = 1, maximum = 9007199254740991_i64))]
    pub memory_bytes: Option<Option<u64>>,
    /// New CPU limit; `null` removes it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "server", schema(value_type = Option<f64>, exclusive_minimum = 0, maximum = 1024))]
    pub cpus: Option<Option<f64>>,
    /// New number of replicas.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 100))]
    pub replicas: Option<u32>,
    /// New pull policy.
    #[serde(default)]
    pub pull: Option<PullPolicy>,
}

impl ServicePatch {
    /// Writes the settings this patch gives into `settings`, answering the names of the fields
    /// it gave (for the audit log). Checks nothing: see [`crate::services`].
    pub fn apply_settings(&self, settings: &mut ServiceSettings) -> Vec<&'static str> {
        let mut given = Vec::new();
        fn set<T: Clone>(
            given: &mut Vec<&'static str>,
            name: &'static str,
            from: &Option<T>,
            to: &mut T,
        ) {
            if let Some(value) = from {
                *to = value.clone();
                given.push(name);
            }
        }
        set(&mut given, "command", &self.command, &mut settings.command);
        set(
            &mut given,
            "entrypoint",
            &self.entrypoint,
            &mut settings.entrypoint,
        );
        set(
            &mut given,
            "working_dir",
            &self.working_dir,
            &mut settings.working_dir,
        );
        set(&mut given, "user", &self.user, &mut settings.user);
        set(
            &mut given,
            "health_check",
            &self.health_check,
            &mut settings.health_check,
        );
        set(&mut given, "restart", &self.restart, &mut settings.restart);
        set(
            &mut given,
            "depends_on",
            &self.depends_on,
            &mut settings.depends_on,
        );
        set(
            &mut given,
            "memory_bytes",
            &self.memory_bytes,
            &mut settings.memory_bytes,
        );
        set(&mut given, "cpus", &self.cpus, &mut settings.cpus);
        set(
            &mut given,
            "replicas",
            &self.replicas,
            &mut settings.replicas,
        );
        set(&mut given, "pull", &self.pull, &mut settings.pull);
        given
    }
}

/// Deserializes a field that is present (even as `null`) into `Some`, so that a patch tells
/// "absent" (unchanged) from `null` (cleared).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// How a service runs, beyond its image, ports and volumes. Every field has a default, so a
/// service stored before these settings existed reads back as the image alone would run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ServiceSettings {
    /// The arguments passed to the entrypoint; empty keeps the image's `CMD`.
    #[serde(default)]
    pub command: Vec<String>,
    /// The program run; empty keeps the image's `ENTRYPOINT`.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// The absolute working directory; the image's when absent.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// The user (`name`, `uid` or `uid:gid`); the image's when absent.
    #[serde(default)]
    pub user: Option<String>,
    /// How the runtime tells it is healthy; none when absent.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// When the runtime restarts it.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = crate::schemas::RestartPolicyText, example = "on-failure:3"))]
    pub restart: RestartPolicy,
    /// Services of the same deployment it waits for, each with a condition.
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
    /// Its memory limit in bytes; none when absent.
    #[serde(default)]
    #[cfg_attr(
        feature = "server",
        schema(minimum = 1, maximum = 9007199254740991_i64)
    )]
    pub memory_bytes: Option<u64>,
    /// Its CPU limit in CPUs (`0.5` is half a CPU); none when absent.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(exclusive_minimum = 0, maximum = 1024))]
    pub cpus: Option<f64>,
    /// How many containers run it.
    #[serde(default = "ServiceSettings::one")]
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 100))]
    pub replicas: u32,
    /// When its image is pulled.
    #[serde(default)]
    pub pull: PullPolicy,
}

impl ServiceSettings {
    fn one() -> u32 {
        1
    }
}

impl Default for ServiceSettings {
    /// The image's own command, entrypoint, directory and user; no health check, restart
    /// `no`, no dependencies, no limits, one replica, pull when missing.
    fn default() -> Self {
        ServiceSettings {
            command: Vec::new(),
            entrypoint: Vec::new(),
            working_dir: None,
            user: None,
            health_check: None,
            restart: RestartPolicy::No,
            depends_on: Vec::new(),
            memory_bytes: None,
            cpus: None,
            replicas: 1,
            pull: PullPolicy::Missing,
        }
    }
}

/// A health check: a command the runtime runs inside the container; exit status 0 means
/// healthy. Durations are whole seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// The program and its arguments, run directly (not through a shell: use
    /// `["sh", "-c", "…"]` for one). Not empty.
    #[cfg_attr(feature = "server", schema(min_items = 1))]
    pub command: Vec<String>,
    /// Seconds between two checks (1 to 3600; default 30).
    #[serde(default = "HealthCheck::default_interval")]
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 3600))]
    pub interval_seconds: u32,
    /// Seconds a check may take before it counts as failed (1 to 3600; default 30).
    #[serde(default = "HealthCheck::default_timeout")]
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 3600))]
    pub timeout_seconds: u32,
    /// Failed checks in a row that make the service unhealthy (1 to 100; default 3).
    #[serde(default = "HealthCheck::default_retries")]
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 100))]
    pub retries: u32,
    /// Seconds after start during which failures do not count (0 to 3600; default 0).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(minimum = 0, maximum = 3600))]
    pub start_period_seconds: u32,
}

impl HealthCheck {
    /// The default interval and timeout, in seconds.
    pub const DEFAULT_SECONDS: u32 = 30;
    /// The default number of retries.
    pub const DEFAULT_RETRIES: u32 = 3;

    fn default_interval() -> u32 {
        Self::DEFAULT_SECONDS
    }

    fn default_timeout() -> u32 {
        Self::DEFAULT_SECONDS
    }

    fn default_retries() -> u32 {
        Self::DEFAULT_RETRIES
    }

    /// A check running `command` with the default timing.
    pub fn new(command: Vec<String>) -> HealthCheck {
        HealthCheck {
            command,
            interval_seconds: Self::DEFAULT_SECONDS,
            timeout_seconds: Self::DEFAULT_SECONDS,
            retries: Self::DEFAULT_RETRIES,
            start_period_seconds: 0,
        }
    }
}

/// When the runtime restarts a service's containers, spelt as Docker does: `no`, `always`,
/// `on-failure`, `on-failure:<max retries>` or `unless-stopped`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RestartPolicy {
    /// Never.
    #[default]
    No,
    /// Whenever it stops.
    Always,
    /// When it exits with a non-zero status, at most `max_retries` times when given (1 or
    /// more).
    OnFailure {
        /// The most restarts; unlimited when absent.
        max_retries: Option<u32>,
    },
    /// Whenever it stops, unless someone stopped it.
    UnlessStopped,
}

/// Why a restart policy did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid restart policy {0:?}: expected no, always, on-failure, on-failure:<max retries \
     from 1 to 4294967295> or unless-stopped"
)]
pub struct RestartPolicyError(pub String);

impl FromStr for RestartPolicy {
    type Err = RestartPolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "no" => Ok(RestartPolicy::No),
            "always" => Ok(RestartPolicy::Always),
            "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
            "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: None }),
            _ => text
                .strip_prefix("on-failure:")
                // Digits only, without leading zeros: `+3` and `03` are not how one writes 3.
                .filter(|max| max.bytes().all(|b| b.is_ascii_digit()) && !max.starts_with('0'))
                .and_then(|max| max.parse::<u32>().ok())
                .filter(|&max| max > 0)
                .map(|max| RestartPolicy::OnFailure {
                    max_retries: Some(max),
                })
                .ok_or_else(|| RestartPolicyError(text.to_owned())),
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
            RestartPolicy::OnFailure { max_retries: None } => f.write_str("on-failure"),
            RestartPolicy::OnFailure {
                max_retries: Some(max),
            } => write!(f, "on-failure:{max}"),
        }
    }
}

impl TryFrom<String> for RestartPolicy {
    type Error = RestartPolicyError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<RestartPolicy> for String {
    fn from(policy: RestartPolicy) -> String {
        policy.to_string()
    }
}

/// A service another one waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// A service of the same deployment.
    pub service: ServiceName,
    /// What it waits for (default `started`).
    #[serde(default)]
    pub condition: DependencyCondition,
}

/// What a service waits for from one it depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    /// Its containers have started.
    #[default]
    Started,
    /// Its health check passes (it must have one).
    Healthy,
    /// It ran to completion with exit status 0 (a migration, say).
    CompletedSuccessfully,
}

impl DependencyCondition {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyCondition::Started => "started",
            DependencyCondition::Healthy => "healthy",
            DependencyCondition::CompletedSuccessfully => "completed_successfully",
        }
    }
}

/// When a service's image is pulled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Only when the image is not there yet.
    #[default]
    Missing,
    /// On every apply, so a moved tag is followed.
    Always,
}

impl PullPolicy {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Missing => "missing",
            PullPolicy::Always => "always",
        }
    }
}

/// A service's environment variable. `value` appears only for plain variables: secret values
/// are write-only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Variable {
    /// The variable's name.
    pub name: VariableName,
    /// Whether the value is secret (encrypted, never shown).
    pub secret: bool,
    /// Whether a value is set.
    pub has_value: bool,
    /// The value, for plain variables only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `PUT .../variables/{name}`: sets a variable. A secret without `value` is declared but empty
/// (to be entered later); turning a secret into a plain variable needs a new value.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VariableWrite {
    /// The value (at most 64 KiB).
    #[serde(default)]
    pub value: Option<String>,
    /// Whether it is secret.
    #[serde(default)]
    pub secret: bool,
}

impl fmt::Debug for VariableWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VariableWrite")
            .field("value", &self.value.as_ref().map(|_| Redacted))
            .field("secret", &self.secret)
            .finish()
    }
}

/// `POST .../deployments/{deployment}/resolve`: the whole deployment with secret values, for
/// the CLI to apply it on the caller's machine. Answered only for environments whose executor
/// is `local`, to those who may apply the deployment there; every call is audited.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ResolvedDeployment {
    /// The project's id (for labels and state).
    pub project_id: ProjectId,
    /// The project's slug.
    pub project: ProjectName,
    /// The environment's id (for labels and state).
    pub environment_id: EnvironmentId,
    /// The environment's slug.
    pub environment: EnvironmentName,
    /// The deployment's id (for labels and state).
    pub deployment_id: DeploymentId,
    /// The deployment's slug.
    pub deployment: DeploymentName,
    /// The environment's runtime plugin, by its full id (`komander.compose`).
    pub runtime: RuntimeId,
    /// The SHA-256 (hex) of the runtime plugin's component as installed: the executor runs
    /// that very component (`GET /api/v1/plugins/{plugin}/component` answers it).
    pub runtime_sha256: String,
    /// The capabilities the instance granted the runtime plugin: the executor grants it
    /// those and no more.
    pub runtime_granted: Vec<String>,
    /// The runtime plugin's settings on this instance (JSON), as its calls receive them.
    pub runtime_settings: String,
    /// The environment's executor.
    pub executor: Executor,
    /// The environment's runtime settings.
    pub settings: BTreeMap<String, String>,
    /// The services, in name order.
    pub services: Vec<ResolvedService>,
}

/// A service resolved for execution.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ResolvedService {
    /// The service's id.
    pub id: ServiceId,
    /// The service's slug.
    pub name: ServiceName,
    /// The image.
    pub image: String,
    /// Ports.
    pub ports: Vec<PortSpec>,
    /// Volumes.
    pub volumes: Vec<VolumeSpec>,
    /// How it runs.
    #[serde(flatten)]
    pub settings: ServiceSettings,
    /// Every variable that has a value, secret values decrypted (unless `secrets=false`
    /// withheld them).
    pub environment: BTreeMap<String, String>,
    /// The secret variables that have a value: a runtime sees them as references, and the
    /// executor substitutes the values from `environment` where it creates the container.
    pub secret: Vec<VariableName>,
    /// Secret variables declared without a value: the executor must refuse to apply or ask.
    pub missing_secrets: Vec<VariableName>,
}

/// Prints the variables' names, never their values.
impl fmt::Debug for ResolvedService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let environment: BTreeMap<&str, Redacted> = self
            .environment
            .keys()
            .map(|name| (name.as_str(), Redacted))
            .collect();
        f.debug_struct("ResolvedService")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("image", &self.image)
            .field("ports", &self.ports)
            .field("volumes", &self.volumes)
            .field("settings", &self.settings)
            .field("environment", &environment)
            .field("missing_secrets", &self.missing_secrets)
            .finish()
    }
}

/// An audit log entry: who changed what, when; field names, never values. An entry about a
/// private deployment (its services and variables included) is listed to its owner alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (handle).
    pub actor: String,
    /// What was done, such as `deployment.share`.
    pub action: String,
    /// The object, as a path of slugs (`env/deployment/service`).
    pub target: String,
    /// Which fields changed (names only).
    pub fields: Vec<String>,
}

/// Where an installed plugin stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum PluginStatus {
    /// Installed without a grant: it runs once an instance admin grants its capabilities.
    PendingGrant,
    /// Granted and available.
    Enabled,
    /// Kept installed but not run.
    Disabled,
    /// Built for an interface version this Komander does not run (a runtime of
    /// `komander:runtime@0.1`), found so when the server started: it is not run and cannot be
    /// enabled until an instance admin upgrades it to a build this Komander runs, which
    /// enables it again.
    Incompatible,
}

impl PluginStatus {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginStatus::PendingGrant => "pending-grant",
            PluginStatus::Enabled => "enabled",
            PluginStatus::Disabled => "disabled",
            PluginStatus::Incompatible => "incompatible",
        }
    }

    /// Parses the storage spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<PluginStatus> {
        match s {
            "pending-grant" => Some(PluginStatus::PendingGrant),
            "enabled" => Some(PluginStatus::Enabled),
            "disabled" => Some(PluginStatus::Disabled),
            "incompatible" => Some(PluginStatus::Incompatible),
            _ => None,
        }
    }
}

/// An installed plugin (`GET /api/v1/plugins`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Plugin {
    /// The plugin's id from its manifest, such as `acme.nomad`: the key in URLs.
    pub id: String,
    /// Its version.
    pub version: String,
    /// `runtime` or `git-provider`, read from what it exports.
    pub kind: String,
    /// For runtimes, the world: `docker`, `kubernetes` or `remote`.
    pub world: Option<String>,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Where it stands.
    pub status: PluginStatus,
    /// The capabilities its manifest asks for.
    pub requested: Vec<String>,
    /// The capabilities an instance admin granted.
    pub granted: Vec<String>,
    /// When it was installed.
    #[serde(with = "time::serde::rfc3339")]
    pub installed_at: OffsetDateTime,
    /// When it last changed (upgrade, grant, status).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /api/v1/plugins` with a JSON body: installs from a URL, which needs its sha256.
/// (The component itself may instead be posted as `application/wasm`.) Responds 201.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PluginFromUrl {
    /// Where to download the `.wasm` from (http or https).
    pub url: String,
    /// Its expected SHA-256, hex.
    pub sha256: String,
    /// Grant every capability it asks for at once (for automation); otherwise it waits as
    /// `pending-grant`.
    #[serde(default)]
    pub grant_all: bool,
}

/// `?sha256=&grant_all=` of an `application/wasm` upload.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "server", into_params(parameter_in = Query))]
pub struct PluginUploadQuery {
    /// The expected SHA-256, hex; when absent the server computes it and shows it.
    pub sha256: Option<String>,
    /// Grant every capability it asks for at once.
    #[serde(default)]
    pub grant_all: bool,
}

/// `?sha256=&settings=` of `POST /api/v1/plugins/{plugin}/upgrade`, whose body is the new
/// build's component.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "server", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct PluginUpgradeQuery {
    /// The expected SHA-256, hex; when absent the server computes it and shows it.
    pub sha256: Option<String>,
    /// New settings, a JSON object as text (URL-encoded), checked against the new build's
    /// schema and written with it in one step; without them the current settings must
    /// satisfy the new schema.
    pub settings: Option<String>,
}

impl PluginUpgradeQuery {
    /// The settings given, read.
    ///
    /// # Errors
    /// What is wrong with them, when they are no JSON object.
    pub fn settings(&self) -> Result<Option<PluginConfig>, String> {
        self.settings
            .as_deref()
            .map(|text| {
                serde_json::from_str(text)
                    .map(|settings| PluginConfig { settings })
                    .map_err(|e| format!("the settings are not a JSON object: {e}"))
            })
            .transpose()
    }
}

/// `POST /api/v1/plugins/{plugin}/grant`: grants capabilities the plugin asked for and
/// enables it. Answers the plugin.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PluginGrant {
    /// The capabilities to grant (each must be one it asked for); replaces earlier grants.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Grant everything it asked for instead.
    #[serde(default)]
    pub all: bool,
}

/// An install's admin settings (`GET` and `PUT /api/v1/plugins/{plugin}/config`): what the
/// plugin's `config` capability returns, checked against the JSON schema in its manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The settings, a JSON object of at most 64 KiB. Never credentials: those belong in the
    /// plugin's connections.
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// A connection an instance admin configured for a plugin (`GET
/// /api/v1/plugins/{plugin}/connections`): never its credential.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct PluginConnection {
    /// The name the plugin uses.
    pub name: String,
    /// Requests go below this URL.
    pub base_url: String,
    /// Whether a credential is set (it is write-only).
    pub has_credential: bool,
    /// May reach private, loopback and link-local addresses.
    pub allow_private: bool,
    /// Allowed path prefixes; empty allows every path.
    pub path_prefixes: Vec<String>,
    /// Requests allowed per minute; `null` for no limit.
    pub requests_per_minute: Option<u32>,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `PUT /api/v1/plugins/{plugin}/connections/{name}` (instance admins): sets a connection.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PluginConnectionWrite {
    /// An absolute http or https URL, without query or credentials.
    #[cfg_attr(feature = "server", schema(value_type = crate::schemas::HttpUrlText))]
    pub base_url: String,
    /// The `Authorization` value the host adds, such as `Bearer …`; write-only. Absent keeps
    /// the one set before if `base_url` is unchanged, and clears it if `base_url` changes;
    /// empty clears it.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<crate::schemas::CredentialText>))]
    pub credential: Option<String>,
    /// May reach private, loopback and link-local addresses (an on-premises API).
    #[serde(default)]
    pub allow_private: bool,
    /// Allowed path prefixes, each starting with `/` (at most 20); empty allows every path.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Vec<crate::schemas::PathPrefixText>, max_items = 20))]
    pub path_prefixes: Vec<String>,
    /// Requests allowed per minute (1 to 100000); absent for no limit.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 100000))]
    pub requests_per_minute: Option<u32>,
}

impl fmt::Debug for PluginConnectionWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConnectionWrite")
            .field("base_url", &self.base_url)
            .field("credential", &self.credential.as_ref().map(|_| Redacted))
            .field("allow_private", &self.allow_private)
            .field("path_prefixes", &self.path_prefixes)
            .field("requests_per_minute", &self.requests_per_minute)
            .finish()
    }
}

/// How Komander reaches a target's Docker Engine, as shown: never its TLS material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetEndpoint {
    /// A unix socket on the server's host.
    Unix {
        /// The socket's absolute path, such as `/var/run/docker.sock`.
        socket: String,
    },
    /// TCP with mutual TLS: the engine's certificate is checked against the target's CA, and
    /// Komander shows its client certificate.
    Tcp {
        /// `tcp://host:port`.
        address: String,
    },
}

/// How to reach a target's Docker Engine, as written: the TLS material is write-only, sealed
/// at rest, never returned or logged.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum TargetEndpointWrite {
    /// A unix socket on the server's host.
    Unix {
        /// The socket's absolute path, such as `/var/run/docker.sock`.
        #[cfg_attr(feature = "server", schema(value_type = crate::schemas::SocketPathText))]
        socket: String,
    },
    /// TCP with mutual TLS.
    Tcp {
        /// `tcp://host:port`.
        #[cfg_attr(feature = "server", schema(value_type = crate::schemas::TcpAddressText))]
        address: String,
        /// The CA certificate(s) the engine's certificate must chain to, PEM.
        ca_pem: String,
        /// Komander's client certificate, PEM.
        cert_pem: String,
        /// Komander's client private key, PEM.
        key_pem: String,
    },
}

impl fmt::Debug for TargetEndpointWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetEndpointWrite::Unix { socket } => {
                f.debug_struct("Unix").field("socket", socket).finish()
            }
            TargetEndpointWrite::Tcp { address, .. } => f
                .debug_struct("Tcp")
                .field("address", address)
                .field("ca_pem", &Redacted)
                .field("cert_pem", &Redacted)
                .field("key_pem", &Redacted)
                .finish(),
        }
    }
}

/// What deployments on a target may do beyond the fixed allow-list: the fields a Docker
/// scope takes, one to one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TargetPolicy {
    /// The absolute directory bind mounts lie under (each deployment gets
    /// `<bind_root>/<deployment id>`); absent: no bind mounts.
    #[serde(default)]
    pub bind_root: Option<String>,
    /// The IP addresses ports may be published on (at most 16). Default: `["127.0.0.1"]`.
    #[serde(default = "loopback_only")]
    #[cfg_attr(feature = "server", schema(value_type = Vec<crate::schemas::IpAddress>, max_items = 16))]
    pub publish_addresses: Vec<String>,
    /// The largest memory limit a container may ask for, in bytes; when set, every container
    /// must ask for one. Absent: unlimited.
    #[serde(default)]
    #[cfg_attr(
        feature = "server",
        schema(minimum = 1, maximum = 9007199254740991_i64)
    )]
    pub max_memory_bytes: Option<u64>,
    /// The largest CPU limit, in billionths of a CPU (`1500000000` is 1.5 CPUs); when set,
    /// every container must ask for one. Absent: unlimited.
    #[serde(default)]
    #[cfg_attr(
        feature = "server",
        schema(minimum = 1, maximum = 9007199254740991_i64)
    )]
    pub max_nano_cpus: Option<u64>,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        TargetPolicy {
            bind_root: None,
            publish_addresses: loopback_only(),
            max_memory_bytes: None,
            max_nano_cpus: None,
        }
    }
}

/// The default publish addresses: `127.0.0.1` only.
fn loopback_only() -> Vec<String> {
    vec!["127.0.0.1".to_owned()]
}

/// A Docker Engine `server` deployments run on, registered by an instance admin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Target {
    /// Immutable id.
    pub id: TargetId,
    /// Immutable slug, unique in the instance.
    pub name: TargetName,
    /// How the engine is reached (never the TLS material).
    pub endpoint: TargetEndpoint,
    /// What deployments on it may do.
    pub policy: TargetPolicy,
    /// Whether environments that name no target use it (one target at most).
    pub default: bool,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /api/v1/targets` (instance admins): registers a Docker Engine. Responds 201 with
/// the [`Target`]; audited as `target.create`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    /// Immutable slug.
    pub name: TargetName,
    /// How to reach the engine.
    pub endpoint: TargetEndpointWrite,
    /// What deployments on it may do (default: no bind mounts, ports on 127.0.0.1 only, no
    /// maximums).
    #[serde(default)]
    pub policy: TargetPolicy,
    /// Make it the default target (the previous default stops being one).
    #[serde(default)]
    pub default: bool,
}

/// `PATCH /api/v1/targets/{target}` (instance admins): changes what is given. Responds with
/// the [`Target`]; audited as `target.update` naming the fields.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TargetPatch {
    /// Replaces the endpoint, TLS material included.
    #[serde(default)]
    pub endpoint: Option<TargetEndpointWrite>,
    /// Replaces the whole policy.
    #[serde(default)]
    pub policy: Option<TargetPolicy>,
    /// `true` makes it the default target (the previous default stops being one); `false`
    /// leaves the instance without one if it was.
    #[serde(default)]
    pub default: Option<bool>,
}

/// `POST /api/v1/targets/{target}/grants` (instance admins): lets a project's environments
/// name the target. Idempotent; responds 204; audited as `target.grant`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TargetGrant {
    /// The project.
    pub project: ProjectName,
}

/// Whether a target's Docker Engine answers, as the instance admin pages show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TargetHealth {
    /// The engine answered a ping.
    pub reachable: bool,
    /// What it answered (its API version), or why it did not.
    pub message: String,
}

/// What the hand-written `Debug` of a body prints in place of a secret: `***`.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The header that carries an operation's lease token, which only its holder knows.
pub const LEASE_HEADER: &str = "x-komander-lease";

/// What an operation does to a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OperationKind {
    /// Creates or updates what the deployment's spec says.
    Apply,
    /// Removes what the deployment runs.
    Destroy,
    /// Stops the deployment's services, keeping them.
    Stop,
    /// Starts stopped services again.
    Start,
    /// Applies an earlier spec again.
    Rollback,
}

/// Where an operation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OperationState {
    /// Its lease holder is working on it; no other operation of the deployment may start.
    Running,
    /// It ended as asked.
    Done,
    /// It ended with an error (`message` says which).
    Failed,
    /// It ended early because someone asked it to.
    Cancelled,
}

/// How an operation ended, as its lease holder reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OperationOutcome {
    /// It did what it was asked.
    Done,
    /// It failed; the message says why.
    Failed,
    /// It stopped after a cancel request.
    Cancelled,
}

impl OperationKind {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Apply => "apply",
            OperationKind::Destroy => "destroy",
            OperationKind::Stop => "stop",
            OperationKind::Start => "start",
            OperationKind::Rollback => "rollback",
        }
    }

    /// Parses the storage spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        [
            OperationKind::Apply,
            OperationKind::Destroy,
            OperationKind::Stop,
            OperationKind::Start,
            OperationKind::Rollback,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl OperationState {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationState::Running => "running",
            OperationState::Done => "done",
            OperationState::Failed => "failed",
            OperationState::Cancelled => "cancelled",
        }
    }

    /// Parses the storage spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        [
            OperationState::Running,
            OperationState::Done,
            OperationState::Failed,
            OperationState::Cancelled,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl From<OperationOutcome> for OperationState {
    fn from(outcome: OperationOutcome) -> Self {
        match outcome {
            OperationOutcome::Done => OperationState::Done,
            OperationOutcome::Failed => OperationState::Failed,
            OperationOutcome::Cancelled => OperationState::Cancelled,
        }
    }
}

/// An operation on a deployment: who started it, where it runs, how it stands. Never shows
/// its lease token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Operation {
    /// Immutable id (time-ordered).
    pub id: OperationId,
    /// What it does.
    pub kind: OperationKind,
    /// Who runs it: the server, or the CLI on someone's machine.
    pub executor: Executor,
    /// Who started it.
    pub started_by: UserHandle,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it ended; `null` while it runs.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Where it stands.
    pub state: OperationState,
    /// Why it failed, or the holder's closing words.
    pub message: Option<String>,
    /// When its lease expires unless renewed; `null` once it ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_expires_at: Option<OffsetDateTime>,
    /// How many times another holder took it over after its lease expired.
    pub resumes: u32,
    /// Someone asked it to stop; its holder sees this when it renews the lease.
    pub cancel_requested: bool,
    /// How long it ran, in milliseconds (`finished_at - started_at`); `null` while it runs.
    pub duration_ms: Option<u64>,
    /// The target (Docker Engine) it ran on, by name; `null` for operations run by a CLI or
    /// a runtime without targets, and once the target was deleted.
    pub target: Option<TargetName>,
    /// For a rollback: the apply (or rollback) whose spec it brought back.
    pub rollback_of: Option<OperationId>,
    /// What it ran, without secret values, each image pinned once an apply pulled it:
    /// present when one operation is read and it recorded a spec, absent from lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<AppliedSpec>,
    /// Its steps in the order they were recorded: present when one operation is read,
    /// absent from lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepTiming>>,
}

/// How long one step of an operation took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepTiming {
    /// The step's name (1 to 100 characters, not only white space), such as `pull web`.
    #[cfg_attr(
        feature = "server",
        schema(min_length = 1, max_length = 100, pattern = "\\S")
    )]
    pub name: String,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it finished (not before it started).
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
}

/// `POST .../deployments/{deployment}/operations`: starts an operation held by the caller.
/// Responds 201 with [`StartedOperation`]; 409 `busy` naming the running operation when the
/// deployment already has one.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOperation {
    /// What to do.
    pub kind: OperationKind,
    /// For a `destroy`: remove the named volumes and their data too.
    #[serde(default)]
    pub remove_volumes: bool,
    /// For a `rollback` (and only then): the earlier successful apply whose services and
    /// plain variables are written back to the deployment before the operation starts.
    #[serde(default)]
    pub rollback_of: Option<OperationId>,
}

/// An operation just started, with the token of its lease: shown once, sent back in the
/// `X-Komander-Lease` header to renew the lease, record steps and finish.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StartedOperation {
    /// The operation.
    pub operation: Operation,
    /// The lease token: a secret, stored only hashed, never shown again.
    pub lease_token: String,
}

impl fmt::Debug for StartedOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartedOperation")
            .field("operation", &self.operation)
            .field("lease_token", &Redacted)
            .finish()
    }
}

/// `POST .../operations/{operation}/lease`: the renewed lease.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Lease {
    /// When the lease now expires unless renewed again.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Someone asked the operation to stop: finish the running step, then finish the
    /// operation as `cancelled`.
    pub cancel_requested: bool,
}

/// `POST .../operations/{operation}/steps`: what one step did, recorded in one transaction by
/// the lease holder. Responds 200 with [`StepRecorded`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepWrite {
    /// The step's timing.
    pub step: StepTiming,
    /// Where to resume after this step (opaque to the server, up to 64 KiB); absent keeps the
    /// previous one.
    #[serde(default)]
    pub continuation: Option<String>,
    /// Progress lines the step printed, in order (up to 1000, each up to 4096 bytes).
    #[serde(default)]
    pub lines: Vec<String>,
}

/// A step recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StepRecorded {
    /// The sequence number of the operation's last progress line (0 before the first).
    pub last_sequence: u64,
    /// Someone asked the operation to stop.
    pub cancel_requested: bool,
}

/// `POST .../deployments/{deployment}/resolve?secrets=`: whether to answer the secret values.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "server", into_params(parameter_in = Query))]
pub struct ResolveQuery {
    /// `false` withholds the secret values (and releases nothing): enough to plan, read the
    /// status or the logs on the caller's machine. Default `true`.
    pub secrets: Option<bool>,
}

/// `POST .../operations/{operation}/finish`: how the operation ended. Responds with the
/// finished [`Operation`]; the deployment is free for the next one.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OperationFinish {
    /// How it ended.
    pub outcome: OperationOutcome,
    /// Why it failed, or closing words (up to 4096 bytes).
    #[serde(default)]
    pub message: Option<String>,
    /// After an apply: the image each service ran, by service name, pinned to an image id
    /// (`sha256:…`) or a reference by digest (`repository@sha256:…`); recorded with the
    /// operation's spec, so that a rollback brings back the very images.
    #[serde(default)]
    #[cfg_attr(
        feature = "server",
        schema(value_type = BTreeMap<String, crate::schemas::PinnedImageText>)
    )]
    pub pinned: BTreeMap<ServiceName, String>,
}

/// `GET .../operations/{operation}/progress?after=&limit=`: progress lines after a sequence
/// number, in order.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "server", into_params(parameter_in = Query))]
pub struct ProgressQuery {
    /// The sequence number of the last line already read (0, the default, reads from the
    /// first).
    #[serde(default, deserialize_with = "json_safe_count")]
    #[cfg_attr(feature = "server", param(maximum = 9007199254740991.0))]
    pub after: Option<u64>,
    /// How many lines at most (1 to 1000; default 200).
    #[cfg_attr(feature = "server", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
}

/// One progress line of an operation. Sequence numbers start at 1 and have no gap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ProgressLine {
    /// Its place among the operation's lines.
    pub sequence: u64,
    /// What the step printed.
    pub text: String,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// `GET .../operations/{operation}/events`: where a stream of an operation's events starts.
/// The `Last-Event-ID` header, when sent, takes the place of `after`.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "server", into_params(parameter_in = Query))]
pub struct OperationEventsQuery {
    /// The sequence number of the last progress line already read (0, the default, replays
    /// from the first). At most the operation's last line.
    #[serde(default, deserialize_with = "json_safe_count")]
    #[cfg_attr(feature = "server", param(maximum = 9007199254740991.0))]
    pub after: Option<u64>,
    /// The position of the last `step` event already read (0, the default, sends every step).
    #[cfg_attr(
        feature = "server",
        param(value_type = Option<u64>, maximum = 4294967295.0)
    )]
    pub steps: Option<u32>,
}

/// The name of the event carrying a [`ProgressLine`]; its SSE id is the line's sequence number.
pub const EVENT_PROGRESS: &str = "progress";
/// The name of the event carrying a [`StepEvent`]; it has no SSE id.
pub const EVENT_STEP: &str = "step";
/// The name of the last event of a stream, carrying an [`OperationEnded`].
pub const EVENT_END: &str = "end";
/// The name of the event closing a stream that reached its maximum lifetime, carrying a
/// [`StreamResume`].
pub const EVENT_RESUME: &str = "resume";

/// The `step` event: a step the operation's holder recorded, after its progress lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StepEvent {
    /// Its place among the operation's steps, from 1; pass the last one seen as `steps` when
    /// resuming to skip the steps already read.
    pub position: u32,
    /// The step's name.
    pub name: String,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it finished.
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
}

/// The `end` event: the operation ended; the server closes the stream after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct OperationEnded {
    /// How it ended: `done`, `failed` or `cancelled`.
    pub state: OperationState,
    /// Why it failed, or the holder's closing words.
    pub message: Option<String>,
}

/// The `resume` event: the stream reached its maximum lifetime and the server closes it; open
/// it again from here (`Last-Event-ID` or `after`, and `steps`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StreamResume {
    /// The sequence number of the last progress line sent.
    pub after: u64,
    /// The position of the last step sent.
    pub steps: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_is_in_all_once() {
        // A code added to the enum fails this match until it is listed here and in ALL.
        let position = |code: ErrorCode| match code {
            ErrorCode::InvalidInput => 0,
            ErrorCode::Unauthenticated => 1,
            ErrorCode::Forbidden => 2,
            ErrorCode::NotFound => 3,
            ErrorCode::MethodNotAllowed => 4,
            ErrorCode::Conflict => 5,
            ErrorCode::Busy => 6,
            ErrorCode::NoTarget => 7,
            ErrorCode::Timeout => 8,
            ErrorCode::PayloadTooLarge => 9,
            ErrorCode::UnsupportedMediaType => 10,
            ErrorCode::TooManyRequests => 11,
            ErrorCode::Internal => 12,
        };
        for (index, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(position(code), index, "{code:?}");
        }
    }

    #[test]
    fn settings_stored_before_they_existed_read_back_as_defaults() {
        let old: ServiceSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(old, ServiceSettings::default());
        let port: PortSpec = serde_json::from_str(r#"{"container": 80, "host": 8080}"#).unwrap();
        assert_eq!(port.host_address, PortSpec::LOOPBACK);
        let check: HealthCheck = serde_json::from_str(r#"{"command": ["true"]}"#).unwrap();
        assert_eq!(check, HealthCheck::new(vec!["true".into()]));
    }

    #[test]
    fn restart_policies_parse_and_print_alike() {
        for text in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:5",
            "on-failure:4294967295",
        ] {
            let policy: RestartPolicy = text.parse().unwrap();
            assert_eq!(policy.to_string(), text);
            assert_eq!(serde_json::to_value(policy).unwrap(), text);
        }
        for bad in [
            "",
            "On-Failure",
            "on-failure:",
            "on-failure:0",
            "on-failure:-1",
            "on-failure:+3",
            "on-failure:03",
            "on-failure:4294967296",
            "never",
        ] {
            let err = bad.parse::<RestartPolicy>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn a_patch_tells_absent_from_null() {
        let patch: ServicePatch =
            serde_json::from_str(r#"{"user": null, "memory_bytes": 5}"#).unwrap();
        assert_eq!(patch.user, Some(None), "null clears");
        assert_eq!(patch.working_dir, None, "absent keeps");
        let mut settings = ServiceSettings {
            user: Some("root".into()),
            working_dir: Some("/srv".into()),
            ..ServiceSettings::default()
        };
        assert_eq!(
            patch.apply_settings(&mut settings),
            ["user", "memory_bytes"]
        );
        assert_eq!(settings.user, None);
        assert_eq!(settings.working_dir.as_deref(), Some("/srv"));
        assert_eq!(settings.memory_bytes, Some(5));
        assert!(serde_json::from_str::<ServicePatch>(r#"{"comand": []}"#).is_err());
        assert!(
            serde_json::from_str::<NewService>(
                r#"{"name": "web", "image": "nginx", "replica": 2}"#
            )
            .is_err()
        );
    }

    /// Regression: the bodies that carry a secret printed it in `Debug`, so one
    /// `?body` in a log line leaked it.
    #[test]
    fn bodies_with_secrets_redact_them_in_debug() {
        const SECRET: &str = "hunter2-do-not-print";
        let service = ResolvedService {
            id: ServiceId::new(),
            name: "web".parse().unwrap(),
            image: "busybox:1".into(),
            ports: Vec::new(),
            volumes: Vec::new(),
            settings: ServiceSettings::default(),
            environment: BTreeMap::from([("TOKEN".to_owned(), SECRET.to_owned())]),
            secret: vec!["TOKEN".parse().unwrap()],
            missing_secrets: Vec::new(),
        };
        let resolved = ResolvedDeployment {
            project_id: ProjectId::new(),
            project: "shop".parse().unwrap(),
            environment_id: EnvironmentId::new(),
            environment: "dev".parse().unwrap(),
            deployment_id: DeploymentId::new(),
            deployment: "mine".parse().unwrap(),
            runtime: "compose".parse().unwrap(),
            runtime_sha256: "0".repeat(64),
            runtime_granted: Vec::new(),
            runtime_settings: "{}".to_owned(),
            executor: Executor::Local,
            settings: BTreeMap::new(),
            services: vec![service],
        };
        let printed = [
            format!(
                "{:?}",
                VariableWrite {
                    value: Some(SECRET.into()),
                    secret: true,
                }
            ),
            format!("{resolved:?}"),
            format!(
                "{:?}",
                CreatedToken {
                    id: TokenId::new(),
                    token: SECRET.into(),
                }
            ),
            format!(
                "{:?}",
                CreatedInvitation {
                    id: InvitationId::new(),
                    token: SECRET.into(),
                    role: Role::Dev,
                    expires_at: OffsetDateTime::UNIX_EPOCH,
                }
            ),
            format!(
                "{:?}",
                PluginConnectionWrite {
                    base_url: "https://api.example.com".into(),
                    credential: Some(SECRET.into()),
                    allow_private: false,
                    path_prefixes: Vec::new(),
                    requests_per_minute: None,
                }
            ),
            format!(
                "{:?}",
                NewTarget {
                    name: "edge".parse().unwrap(),
                    endpoint: TargetEndpointWrite::Tcp {
                        address: "tcp://10.0.0.2:2376".into(),
                        ca_pem: SECRET.into(),
                        cert_pem: SECRET.into(),
                        key_pem: SECRET.into(),
                    },
                    policy: TargetPolicy::default(),
                    default: false,
                }
            ),
        ];
        for text in printed {
            assert!(!text.contains(SECRET), "{text}");
            assert!(text.contains("***"), "{text}");
        }
        assert!(format!("{resolved:?}").contains("TOKEN"), "names stay");
    }

    #[test]
    fn an_environment_patch_tells_an_absent_target_from_null() {
        let absent: EnvironmentPatch = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.target, None);
        let cleared: EnvironmentPatch = serde_json::from_str(r#"{"target": null}"#).unwrap();
        assert_eq!(cleared.target, Some(None));
        let named: EnvironmentPatch = serde_json::from_str(r#"{"target": "edge"}"#).unwrap();
        assert_eq!(named.target, Some(Some("edge".parse().unwrap())));
    }
}

/// What an operation ran: the deployment's services as they stood when it started, never
/// holding a secret value. After an apply, each image is pinned to what ran. History shows it;
/// a rollback writes its services and plain variables back and applies them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppliedSpec {
    /// The services, in name order.
    pub services: Vec<AppliedService>,
}

/// One service of an [`AppliedSpec`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AppliedService {
    /// Its id.
    pub id: ServiceId,
    /// Its slug.
    pub name: ServiceName,
    /// The image reference as configured, such as `shop/api:1.4`.
    pub image: String,
    /// What the image was pinned to after the apply: `name@sha256:<repository digest>` when
    /// the image has one, otherwise its image id `sha256:<id>`; absent before the apply
    /// finished or when the runtime runs no local images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    /// Its ports.
    pub ports: Vec<PortSpec>,
    /// Its volumes.
    pub volumes: Vec<VolumeSpec>,
    /// How it runs.
    pub settings: ServiceSettings,
    /// Its variables, in name order: plain ones with their value, secret ones by name only.
    pub variables: Vec<AppliedVariable>,
}

/// One variable of an [`AppliedService`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppliedVariable {
    /// Its name.
    pub name: VariableName,
    /// Whether it is secret: its value is never recorded.
    pub secret: bool,
    /// A plain variable's value; always absent for a secret one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `POST .../deployments/{deployment}/destroy?volumes=`: what a destroy removes besides
/// containers and networks.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct DestroyRequest {
    /// Remove the named volumes and their data too (by default they are kept, as
    /// `docker compose down` keeps them).
    #[serde(default)]
    pub volumes: bool,
}

/// `POST .../deployments/{deployment}/rollback`: the apply whose spec to bring back.
/// Responds 202 with the rollback [`Operation`] (kind `rollback`, `rollback_of` set) after
/// writing that spec's services and plain variables back in one audited transaction
/// (`deployment.rollback`); 400 naming the operation when it is not a successful apply or
/// rollback of this deployment with a recorded spec, or naming each secret variable of the
/// spec that has no value now, with nothing changed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// An earlier apply (or rollback) of this deployment that succeeded.
    pub operation: OperationId,
}

/// What a change of a plan does to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    /// It will be created.
    Create,
    /// It will be changed or replaced.
    Update,
    /// It will be deleted.
    Delete,
}

impl ChangeAction {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Delete => "delete",
        }
    }
}

/// One change an apply would make, with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct PlannedChange {
    /// What happens.
    pub action: ChangeAction,
    /// The object's kind in the runtime's words, such as `container` or `network`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// Why, such as `image changed: api:1.2 -> api:1.3` or `variable MODE changed`.
    pub reason: String,
}

/// `update container shop_dev_app_web: image changed: …`, as the CLI prints a change.
impl fmt::Display for PlannedChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            self.action.as_str(),
            self.kind,
            self.name,
            self.reason
        )
    }
}

/// `GET .../deployments/{deployment}/plan`: what applying the deployment now would change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct DeploymentPlan {
    /// The runtime's warnings about the spec (such as a port published on loopback only).
    pub warnings: Vec<String>,
    /// The changes in the order an apply would make them; empty when the deployment runs as
    /// its spec says.
    pub changes: Vec<PlannedChange>,
}

/// How a service is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ServiceRunState {
    /// Nothing runs for it.
    Missing,
    /// Starting, or rolling out.
    Starting,
    /// Running (and healthy, if it has a health check).
    Running,
    /// Running, but failing its health check.
    Unhealthy,
    /// Stopped on purpose, or exited with status 0.
    Stopped,
    /// Crashed, exited with an error, restarting in a loop, or failed to start.
    Failed,
}

impl ServiceRunState {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceRunState::Missing => "missing",
            ServiceRunState::Starting => "starting",
            ServiceRunState::Running => "running",
            ServiceRunState::Unhealthy => "unhealthy",
            ServiceRunState::Stopped => "stopped",
            ServiceRunState::Failed => "failed",
        }
    }
}

/// How one service of a deployment runs now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ServiceRunStatus {
    /// The service's slug.
    pub service: ServiceName,
    /// Its state.
    pub state: ServiceRunState,
    /// Details for people, such as `exited with code 137 (out of memory)`; may be empty.
    pub message: String,
    /// What its health check says.
    pub health: ServiceHealth,
    /// How many times its containers were restarted.
    pub restarts: u32,
    /// When it entered its current state; absent when the runtime does not know.
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// How many of its containers (or pods) run.
    pub replicas_running: u32,
}

/// What a service's health check says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ServiceHealth {
    /// No health check, or nothing runs.
    None,
    /// No verdict yet.
    Starting,
    /// Its last check passed.
    Healthy,
    /// Its check keeps failing.
    Unhealthy,
}

impl ServiceHealth {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceHealth::None => "none",
            ServiceHealth::Starting => "starting",
            ServiceHealth::Healthy => "healthy",
            ServiceHealth::Unhealthy => "unhealthy",
        }
    }
}

/// `GET .../deployments/{deployment}/status`: each service as it runs now, and how what
/// runs differs from the spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct DeploymentRunStatus {
    /// One entry per service of the spec, in name order.
    pub services: Vec<ServiceRunStatus>,
    /// Drift: what an apply would change to make what runs match the spec; empty when it
    /// matches.
    pub drift: Vec<PlannedChange>,
}

/// One line of a service's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ServiceLogLine {
    /// When it was written.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line, without its newline; secret values are replaced by `[secret]`.
    pub line: String,
}

/// `GET .../services/{service}/logs`: a page of a service's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ServiceLogPage {
    /// The lines, oldest first.
    pub lines: Vec<ServiceLogLine>,
    /// Pass as `cursor` to read the lines written after these.
    pub next_cursor: String,
}

/// `?cursor=&limit=` of a service's log: without a cursor, its last `limit` lines; with one,
/// the lines after it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// A `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// How many lines (1 to 1000; default 100).
    #[cfg_attr(feature = "server", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
}

/// The name of a log stream's first event: the last lines, as a JSON array of
/// [`ServiceLogLine`]s, with an SSE id to resume from.
pub const EVENT_LOG_TAIL: &str = "tail";
/// The name of a log stream's event carrying one new [`ServiceLogLine`], with an SSE id to
/// resume from.
pub const EVENT_LOG_LINE: &str = "line";

/// `?tail=` of a service's log stream.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct LogEventsQuery {
    /// How many of the last lines the first event holds (1 to 1000; default 100); ignored
    /// when resuming with `Last-Event-ID`.
    #[cfg_attr(feature = "server", param(minimum = 1, maximum = 1000))]
    pub tail: Option<u32>,
}
