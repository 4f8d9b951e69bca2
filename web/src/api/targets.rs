//! Targets, for instance admins: the Docker Engines `server` deployments run on, whether each
//! answers, registering one (its TLS keys write-only: a page shows only that they are set),
//! its policy, its grants to projects, deleting it.

use komander_domain::api::{Page, Target, TargetHealth};
use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

use crate::error::UiError;
#[cfg(feature = "ssr")]
use {
    super::{confirm_name, non_empty, parse_field, projects::PAGE_SIZE},
    komander_app::AppError,
    komander_domain::{
        api::{NewTarget, PageQuery, TargetEndpointWrite, TargetGrant, TargetPatch, TargetPolicy},
        notation,
    },
};

/// A page of the targets (instance admins).
#[server(prefix = "/ui/fn", endpoint = "targets", input = GetUrl)]
pub async fn load_targets(cursor: Option<String>) -> Result<Page<Target>, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let query = PageQuery {
        limit: Some(PAGE_SIZE),
        cursor,
    };
    Ok(app.list_targets(&caller, &query).await?)
}

/// Whether a target's engine answers, checked now.
#[server(prefix = "/ui/fn", endpoint = "check_target", input = GetUrl)]
pub async fn check_target(target: String) -> Result<TargetHealth, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    Ok(app.target_health(&caller, &target).await?)
}

/// What a target's page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetView {
    /// The target (never its TLS material).
    pub target: Target,
    /// The projects it is granted to, by name.
    pub grants: Vec<String>,
}

/// A target's page.
#[server(prefix = "/ui/fn", endpoint = "target", input = GetUrl)]
pub async fn load_target(target: String) -> Result<TargetView, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    Ok(TargetView {
        target: app.get_target(&caller, &target).await?,
        grants: app
            .target_grants(&caller, &target)
            .await?
            .into_iter()
            .map(|p| p.to_string())
            .collect(),
    })
}

/// The form field an error of the use case is about: its fields are `endpoint.socket`,
/// `policy.max_memory_bytes`…; the form's `socket`, `max_memory`….
#[cfg(feature = "ssr")]
fn form_error(e: AppError) -> UiError {
    let mut error = UiError::from(e);
    if let UiError::App(detail) = &mut error
        && let Some(field) = &detail.field
    {
        let form = match field.as_str() {
            "policy.max_memory_bytes" => "max_memory",
            "policy.max_nano_cpus" => "max_cpus",
            other => other
                .strip_prefix("policy.")
                .or_else(|| other.strip_prefix("endpoint."))
                .unwrap_or(other),
        };
        detail.field = Some(form.to_owned());
    }
    error
}

/// The policy of the form's fields: publish addresses one a line (or separated by commas),
/// a memory maximum such as `512m`, a CPU maximum such as `1.5`.
#[cfg(feature = "ssr")]
fn policy(
    bind_root: Option<String>,
    publish_addresses: &str,
    max_memory: Option<String>,
    max_cpus: Option<String>,
) -> Result<TargetPolicy, UiError> {
    let max_nano_cpus = non_empty(max_cpus)
        .map(|cpus| {
            parse_field::<f64>("max_cpus", &cpus).and_then(|cpus| {
                if cpus.is_finite() && cpus > 0.0 {
                    Ok((cpus * 1e9).round() as u64)
                } else {
                    Err(
                        AppError::invalid("max_cpus", "the CPU maximum is a positive number")
                            .into(),
                    )
                }
            })
        })
        .transpose()?;
    Ok(TargetPolicy {
        bind_root: non_empty(bind_root).map(|b| b.trim().to_owned()),
        publish_addresses: publish_addresses
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
        max_memory_bytes: non_empty(max_memory)
            .map(|m| {
                notation::parse_bytes(m.trim())
                    .map_err(|e| UiError::from(AppError::invalid("max_memory", e)))
            })
            .transpose()?,
        max_nano_cpus,
    })
}

/// Registers a Docker Engine: a unix socket (`kind` is `unix`), or TCP with mutual TLS
/// whose three PEMs are sealed and never shown again; then opens its page.
#[server(prefix = "/ui/fn", endpoint = "create_target")]
pub async fn create_target(
    name: String,
    kind: String,
    #[server(default)] socket: String,
    #[server(default)] address: String,
    #[server(default)] ca_pem: String,
    #[server(default)] cert_pem: String,
    #[server(default)] key_pem: String,
    bind_root: Option<String>,
    #[server(default)] publish_addresses: String,
    max_memory: Option<String>,
    max_cpus: Option<String>,
    #[server(default)] default: bool,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let endpoint = match kind.as_str() {
        "unix" => TargetEndpointWrite::Unix {
            socket: socket.trim().to_owned(),
        },
        "tcp" => TargetEndpointWrite::Tcp {
            address: address.trim().to_owned(),
            ca_pem,
            cert_pem,
            key_pem,
        },
        _ => {
            return Err(
                AppError::invalid("kind", "the endpoint is a unix socket or TCP with TLS").into(),
            );
        }
    };
    let new = NewTarget {
        name: parse_field("name", &name)?,
        endpoint,
        policy: policy(bind_root, &publish_addresses, max_memory, max_cpus)?,
        default,
    };
    let created = app.create_target(&caller, new).await.map_err(form_error)?;
    leptos_axum::redirect(&format!("/admin/targets/{}", created.name));
    Ok(())
}

/// Replaces a target's policy and default mark.
#[server(prefix = "/ui/fn", endpoint = "update_target_policy")]
pub async fn update_target_policy(
    target: String,
    bind_root: Option<String>,
    #[server(default)] publish_addresses: String,
    max_memory: Option<String>,
    max_cpus: Option<String>,
    #[server(default)] default: bool,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let patch = TargetPatch {
        endpoint: None,
        policy: Some(policy(bind_root, &publish_addresses, max_memory, max_cpus)?),
        default: Some(default),
    };
    app.update_target(&caller, &target, patch)
        .await
        .map_err(form_error)?;
    Ok(())
}

/// Grants a target to a project, by name.
#[server(prefix = "/ui/fn", endpoint = "grant_target")]
pub async fn grant_target(
    target: String,
    project: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let grant = TargetGrant {
        project: parse_field("project", &project)?,
    };
    app.grant_target(&caller, &target, grant).await?;
    Ok(())
}

/// Revokes a project's grant.
#[server(prefix = "/ui/fn", endpoint = "revoke_target")]
pub async fn revoke_target(
    target: String,
    project: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    app.revoke_target(&caller, &target, &project).await?;
    Ok(())
}

/// Deletes a target and its grants, once its name is typed to confirm.
#[server(prefix = "/ui/fn", endpoint = "delete_target")]
pub async fn delete_target(
    target: String,
    confirm: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    confirm_name("target", &target, &confirm)?;
    app.delete_target(&caller, &target).await?;
    leptos_axum::redirect("/admin/targets");
    Ok(())
}
