//! Running a deployment from its page: what the page shows of its operations (the latest one
//! with its steps and progress lines so far, the history with each apply's spec and what
//! rolling back to it would change), the last lines of each service's log and its published
//! URLs; and the forms that stop, start, destroy and roll it back.

use komander_domain::api::{Operation, ProgressLine, ServiceLogLine, StepTiming};
use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

use crate::error::UiError;
#[cfg(feature = "ssr")]
use {
    super::deployments::deployment_ref,
    komander_app::{
        App, AppError, Caller,
        runner::{log_feed::ResumePoint, reading::DeploymentReading},
    },
    komander_domain::{
        DeploymentRef, OperationId,
        api::{
            AppliedSpec, DestroyRequest, OperationKind, OperationState, PageQuery, PortSpec,
            ProgressQuery, Protocol, RollbackRequest, Service, TargetEndpoint,
        },
    },
};

/// An operation as far as it went: what the page shows before its live events attach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperationLog {
    /// The operation.
    pub operation: Operation,
    /// Its steps so far, in order.
    pub steps: Vec<StepTiming>,
    /// Its progress lines so far, in order.
    pub lines: Vec<ProgressLine>,
}

/// One operation of the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The operation, with the spec it applied when it recorded one.
    pub operation: Operation,
    /// What rolling back to it would change, one sentence each; `None` when it cannot be
    /// rolled back to (not a successful apply or rollback with a spec, or the viewer may not
    /// apply).
    pub rollback: Option<Vec<String>>,
}

/// The last lines of one service's log, and where its live stream goes on from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogTail {
    /// The service's slug.
    pub service: String,
    /// Its last lines, oldest first.
    pub lines: Vec<ServiceLogLine>,
    /// The id of the point after these lines, for the stream's `last`; `None` when the log
    /// could not be read.
    pub resume: Option<String>,
    /// Why the log could not be read.
    pub error: Option<String>,
}

/// The URLs a service publishes, as links.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceUrls {
    /// The service's slug.
    pub service: String,
    /// `http://host:port/` for each published TCP port.
    pub urls: Vec<String>,
}

/// How many log lines the page keeps per service; older ones are dropped as new ones come.
pub const LOG_KEPT_LINES: usize = 5000;

/// How many operations the history lists.
#[cfg(feature = "ssr")]
const HISTORY: u32 = 10;

/// The latest operation of a deployment, with its steps and lines so far.
///
/// # Errors
/// What the application answers.
#[cfg(feature = "ssr")]
pub(crate) async fn operation_log(
    app: &App,
    caller: &Caller,
    deployment: &DeploymentRef,
    id: OperationId,
) -> Result<OperationLog, UiError> {
    let operation = app.get_operation(caller, deployment, id).await?;
    let query = ProgressQuery {
        after: None,
        limit: Some(komander_app::operations::PROGRESS_MAX),
    };
    let lines = app
        .operation_progress(caller, deployment, id, &query)
        .await?;
    let steps = operation.steps.clone().unwrap_or_default();
    Ok(OperationLog {
        operation,
        steps,
        lines,
    })
}

/// The deployment's latest operations, newest first, each with what rolling back to it would
/// change when it can be (`may_rollback`: the viewer may apply).
///
/// # Errors
/// What the application answers.
#[cfg(feature = "ssr")]
pub(crate) async fn history(
    app: &App,
    caller: &Caller,
    deployment: &DeploymentRef,
    services: &[Service],
    may_rollback: bool,
) -> Result<Vec<HistoryEntry>, UiError> {
    let recent = PageQuery {
        limit: Some(HISTORY),
        cursor: None,
    };
    let operations = app
        .list_operations(caller, deployment, &recent)
        .await?
        .items;
    let mut entries = Vec::with_capacity(operations.len());
    for listed in operations {
        let restorable = listed.state == OperationState::Done
            && matches!(listed.kind, OperationKind::Apply | OperationKind::Rollback);
        if !restorable {
            entries.push(HistoryEntry {
                operation: listed,
                rollback: None,
            });
            continue;
        }
        let operation = app.get_operation(caller, deployment, listed.id).await?;
        let rollback = operation
            .spec
            .as_ref()
            .filter(|_| may_rollback)
            .map(|spec| rollback_changes(services, spec));
        entries.push(HistoryEntry {
            operation,
            rollback,
        });
    }
    Ok(entries)
}

/// What writing `spec` back over the deployment's `services` changes, one sentence each.
#[cfg(feature = "ssr")]
fn rollback_changes(services: &[Service], spec: &AppliedSpec) -> Vec<String> {
    let mut changes = Vec::new();
    for earlier in &spec.services {
        match services.iter().find(|s| s.name == earlier.name) {
            None => changes.push(format!(
                "service {} comes back, with image {}",
                earlier.name, earlier.image
            )),
            Some(now) => {
                let image = earlier.pinned.as_deref().unwrap_or(&earlier.image);
                if now.image != earlier.image || earlier.pinned.is_some() {
                    changes.push(format!(
                        "service {}: image {} becomes {image}",
                        now.name, now.image
                    ));
                }
                if now.ports != earlier.ports {
                    changes.push(format!("service {}: its ports change back", now.name));
                }
                if now.volumes != earlier.volumes {
                    changes.push(format!("service {}: its volumes change back", now.name));
                }
                if now.settings != earlier.settings {
                    changes.push(format!("service {}: its settings change back", now.name));
                }
            }
        }
    }
    for now in services {
        if !spec.services.iter().any(|s| s.name == now.name) {
            changes.push(format!("service {} is removed", now.name));
        }
    }
    changes.push("plain variables are set back to their values then".to_owned());
    changes
}

/// The last lines of each service's log, as a reading of the runtime holds them.
#[cfg(feature = "ssr")]
pub(crate) fn log_tails(reading: &DeploymentReading) -> Vec<LogTail> {
    reading
        .logs
        .iter()
        .map(|(service, page)| match page {
            Ok(page) => LogTail {
                service: service.to_string(),
                lines: page.lines.clone(),
                resume: Some(
                    ResumePoint {
                        cursor: page.next_cursor.clone(),
                        skip: 0,
                    }
                    .id(),
                ),
                error: None,
            },
            Err(detail) => LogTail {
                service: service.to_string(),
                lines: Vec::new(),
                resume: None,
                error: Some(UiError::App(detail.clone()).to_string()),
            },
        })
        .collect()
}

/// The URLs each service publishes: on the address a port is bound to, else on the host of
/// the target's engine (`target`, a TCP endpoint), else on the host the browser reached
/// Komander at (an engine on Komander's own host).
#[cfg(feature = "ssr")]
pub(crate) fn service_urls(
    services: &[Service],
    target: Option<&TargetEndpoint>,
    page_host: Option<&str>,
) -> Vec<ServiceUrls> {
    let engine_host = match target {
        Some(TargetEndpoint::Tcp { address }) => address
            .trim_start_matches("tcp://")
            .rsplit_once(':')
            .map(|(host, _)| host.to_owned()),
        _ => None,
    };
    let fallback = engine_host.or_else(|| page_host.map(host_of));
    services
        .iter()
        .map(|service| ServiceUrls {
            service: service.name.to_string(),
            urls: service
                .ports
                .iter()
                .filter_map(|port| url_of(port, fallback.as_deref()))
                .collect(),
        })
        .collect()
}

/// The host of a `Host` header's value, without its port.
#[cfg(feature = "ssr")]
fn host_of(authority: &str) -> String {
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority.to_owned(), |(host, _)| format!("{host}]"));
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .to_owned()
}

/// The URL of a published TCP port.
#[cfg(feature = "ssr")]
fn url_of(port: &PortSpec, fallback: Option<&str>) -> Option<String> {
    let published = port.host?;
    if port.protocol != Protocol::Tcp {
        return None;
    }
    let host = if port.host_address.is_unspecified() {
        fallback?.to_owned()
    } else if port.host_address.is_ipv6() {
        format!("[{}]", port.host_address)
    } else {
        port.host_address.to_string()
    };
    Some(format!("http://{host}:{published}/"))
}

/// The deployment's latest operation, which a page polls while none runs, to attach to one a
/// teammate (or their `komander up`) starts.
#[server(prefix = "/ui/fn", endpoint = "latest_operation", input = GetUrl)]
pub async fn latest_operation(
    project: String,
    environment: String,
    deployment: String,
) -> Result<Option<Operation>, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    let latest = PageQuery {
        limit: Some(1),
        cursor: None,
    };
    let page = app.list_operations(&caller, &reference, &latest).await?;
    Ok(page.items.into_iter().next())
}

/// Starts stopping the deployment's services, keeping them for a start.
#[server(prefix = "/ui/fn", endpoint = "stop_deployment")]
pub async fn stop_deployment(
    project: String,
    environment: String,
    deployment: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<Operation, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    Ok(app.stop_deployment(&caller, &reference).await?)
}

/// Starts again what a stop stopped.
#[server(prefix = "/ui/fn", endpoint = "start_deployment")]
pub async fn start_deployment(
    project: String,
    environment: String,
    deployment: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<Operation, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    Ok(app.start_deployment(&caller, &reference).await?)
}

/// Starts removing what the deployment runs, its named volumes too when `volumes` is checked,
/// once its name is typed to confirm.
#[server(prefix = "/ui/fn", endpoint = "destroy_deployment")]
pub async fn destroy_deployment(
    project: String,
    environment: String,
    deployment: String,
    volumes: Option<String>,
    confirm: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<Operation, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    if confirm.trim() != deployment {
        return Err(AppError::invalid(
            "confirm",
            format!("type the deployment's name, {deployment}, to destroy what it runs"),
        )
        .into());
    }
    let request = DestroyRequest {
        volumes: volumes.is_some(),
    };
    Ok(app.destroy_deployment(&caller, &reference, request).await?)
}

/// Rolls the deployment back to the spec of the earlier operation `operation`.
#[server(prefix = "/ui/fn", endpoint = "rollback_deployment")]
pub async fn rollback_deployment(
    project: String,
    environment: String,
    deployment: String,
    operation: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<Operation, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    let request = RollbackRequest {
        operation: super::parse_field("operation", &operation)?,
    };
    Ok(app
        .rollback_deployment(&caller, &reference, request)
        .await?)
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use komander_domain::{ServiceId, api::AppliedService};

    use super::*;

    fn port(host: Option<u16>, address: IpAddr, protocol: Protocol) -> PortSpec {
        PortSpec {
            container: 80,
            host,
            protocol,
            host_address: address,
        }
    }

    fn service(name: &str, image: &str, ports: Vec<PortSpec>) -> Service {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        Service {
            id: ServiceId::new(),
            name: name.parse().unwrap(),
            image: image.to_owned(),
            ports,
            volumes: Vec::new(),
            settings: Default::default(),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_published_tcp_port_is_a_link_on_its_address_else_the_engines_host_else_the_pages() {
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let web = service(
            "web",
            "web:1",
            vec![
                port(Some(8080), PortSpec::LOOPBACK, Protocol::Tcp),
                port(Some(9090), any, Protocol::Tcp),
                port(Some(5353), any, Protocol::Udp),
                port(None, any, Protocol::Tcp),
            ],
        );
        let services = [web];
        let on_page = service_urls(&services, None, Some("komander.example:8443"));
        assert_eq!(
            on_page[0].urls,
            ["http://127.0.0.1:8080/", "http://komander.example:9090/"]
        );
        let engine = TargetEndpoint::Tcp {
            address: "tcp://10.0.0.5:2376".into(),
        };
        let remote = service_urls(&services, Some(&engine), Some("komander.example"));
        assert_eq!(remote[0].urls[1], "http://10.0.0.5:9090/");
        let v6 = service_urls(&services, None, Some("[::1]:8080"));
        assert_eq!(v6[0].urls[1], "http://[::1]:9090/");
        assert_eq!(service_urls(&services, None, None)[0].urls.len(), 1);
    }

    #[test]
    fn a_rollback_says_which_services_come_back_go_and_change() {
        let now = [
            service("web", "web:2", Vec::new()),
            service("extra", "x:1", Vec::new()),
        ];
        let applied = |name: &str, image: &str| AppliedService {
            id: ServiceId::new(),
            name: name.parse().unwrap(),
            image: image.to_owned(),
            pinned: None,
            ports: Vec::new(),
            volumes: Vec::new(),
            settings: Default::default(),
            variables: Vec::new(),
        };
        let spec = AppliedSpec {
            services: vec![applied("web", "web:1"), applied("gone", "g:1")],
        };
        let changes = rollback_changes(&now, &spec);
        assert!(
            changes.contains(&"service web: image web:2 becomes web:1".to_owned()),
            "{changes:?}"
        );
        assert!(
            changes.contains(&"service gone comes back, with image g:1".to_owned()),
            "{changes:?}"
        );
        assert!(
            changes.contains(&"service extra is removed".to_owned()),
            "{changes:?}"
        );
    }
}
