//! What the runner asks a target's Docker Engine itself, outside any plugin: whether a host
//! port is already published by a container outside the deployment (refused before an apply
//! starts), and which repository digest or image id each applied image has (pinned in the
//! operation's spec for history and rollback), and which image a tag names now (a rollback
//! warns when it moved). Also the check of services against the target's resource maximums.

use std::collections::{BTreeMap, HashMap};

use bollard::{Docker, query_parameters::ListContainersOptions};
use komander_domain::api::{AppliedSpec, Protocol};
use komander_plugin_host::capabilities::docker::DEPLOYMENT_LABEL;
use komander_store::TargetRecord;

use crate::{AppError, Result};

/// Refuses a service whose memory or CPU limit is above the target's maximum, or that sets
/// none where the target has one (it would run unbounded), naming the service.
///
/// # Errors
/// Invalid input naming every such service.
pub(crate) fn check_maximums(target: &TargetRecord, applied: &AppliedSpec) -> Result<()> {
    let mut problems = Vec::new();
    for s in &applied.services {
        if let Some(max) = target.max_memory_bytes {
            match s.settings.memory_bytes {
                Some(m) if i64::try_from(m).unwrap_or(i64::MAX) > max => problems.push(format!(
                    "service {:?} asks for {m} bytes of memory, above target {:?}'s maximum of {max}",
                    s.name.as_str(),
                    target.name.as_str()
                )),
                None => problems.push(format!(
                    "service {:?} sets no memory limit, and target {:?} allows at most {max} bytes",
                    s.name.as_str(),
                    target.name.as_str()
                )),
                Some(_) => {}
            }
        }
        if let Some(max) = target.max_nano_cpus {
            match s.settings.cpus {
                Some(c) if (c * 1e9) as i64 > max => problems.push(format!(
                    "service {:?} asks for {c} CPUs, above target {:?}'s maximum of {}",
                    s.name.as_str(),
                    target.name.as_str(),
                    max as f64 / 1e9
                )),
                None => problems.push(format!(
                    "service {:?} sets no CPU limit, and target {:?} allows at most {} CPUs",
                    s.name.as_str(),
                    target.name.as_str(),
                    max as f64 / 1e9
                )),
                Some(_) => {}
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid("services", problems.join("; ")))
    }
}

/// Refuses host ports that a container on the target outside this deployment publishes
/// (another deployment's, or one Komander did not create), naming the port and the
/// container.
///
/// # Errors
/// Invalid input naming every clash; conflict when the engine does not answer.
pub(crate) async fn check_host_ports(
    client: &Docker,
    target: &TargetRecord,
    deployment_id: &str,
    applied: &AppliedSpec,
) -> Result<()> {
    let wanted: Vec<(u16, Protocol, &str)> = applied
        .services
        .iter()
        .flat_map(|s| {
            s.ports
                .iter()
                .filter_map(move |p| p.host.map(|h| (h, p.protocol, s.name.as_str())))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let containers = client
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .map_err(|e| AppError::Conflict {
            field: Some("target".into()),
            message: format!(
                "the Docker Engine of target {:?} does not answer: {e}",
                target.name.as_str()
            ),
        })?;
    let mut clashes = Vec::new();
    for c in &containers {
        let ours = c
            .labels
            .as_ref()
            .and_then(|l| l.get(DEPLOYMENT_LABEL))
            .is_some_and(|d| d == deployment_id);
        if ours {
            continue;
        }
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map_or("?", |n| n.trim_start_matches('/'));
        for port in c.ports.iter().flatten() {
            let Some(public) = port.public_port else {
                continue;
            };
            let protocol = match port.typ.map(|t| t.to_string()).as_deref() {
                Some("udp") => Protocol::Udp,
                _ => Protocol::Tcp,
            };
            for (host, wanted_protocol, service) in &wanted {
                if *host == public && *wanted_protocol == protocol {
                    clashes.push(format!(
                        "service {service:?} publishes host port {host}/{}, which container \
                         {name:?} outside this deployment already publishes on target {:?}",
                        protocol.as_str(),
                        target.name.as_str()
                    ));
                }
            }
        }
    }
    clashes.sort();
    clashes.dedup();
    if clashes.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid("ports", clashes.join("; ")))
    }
}

/// The image each of `images` (service name, image reference) runs on the engine, pinned:
/// `repository@sha256:<digest>` when the local image has a repository digest for the
/// image's repository, otherwise its image id. Answers them by service name, and a line per
/// service for the operation's progress.
///
/// # Errors
/// When the engine does not answer for an image.
pub(crate) async fn image_pins(
    client: &Docker,
    images: &[(String, String)],
) -> std::result::Result<(BTreeMap<String, String>, Vec<String>), String> {
    let mut pins = BTreeMap::new();
    let mut lines = Vec::new();
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (service, image) in images {
        let pinned = match seen.get(image.as_str()) {
            Some(p) => p.clone(),
            None => {
                let found = client
                    .inspect_image(image)
                    .await
                    .map_err(|e| format!("inspecting image {image}: {e}"))?;
                let repository = repository_of(image);
                let digest = found
                    .repo_digests
                    .unwrap_or_default()
                    .into_iter()
                    .find(|d| d.split_once('@').is_some_and(|(r, _)| r == repository));
                let pinned = match (digest, found.id) {
                    (Some(d), _) => d,
                    (None, Some(id)) => id,
                    (None, None) => return Err(format!("image {image} has no id")),
                };
                seen.insert(image, pinned.clone());
                pinned
            }
        };
        lines.push(format!("{service}: {image} is {pinned}"));
        pins.insert(service.clone(), pinned);
    }
    Ok((pins, lines))
}

/// `spec` (an [`AppliedSpec`] as JSON) with the services of `pins` pinned to theirs.
///
/// # Errors
/// When the spec does not parse, or a pin names a service the spec does not have or is not
/// an image id or a reference by digest.
pub(crate) fn pinned_spec(
    spec: &str,
    pins: &BTreeMap<String, String>,
) -> std::result::Result<String, String> {
    let mut applied: AppliedSpec =
        serde_json::from_str(spec).map_err(|e| format!("the operation's spec: {e}"))?;
    for (service, pinned) in pins {
        check_pin(service, pinned)?;
        let found = applied
            .services
            .iter_mut()
            .find(|s| s.name.as_str() == service)
            .ok_or_else(|| format!("the operation has no service {service:?} to pin"))?;
        found.pinned = Some(pinned.clone());
    }
    serde_json::to_string(&applied).map_err(|e| e.to_string())
}

/// Checks that `pinned` is what [`image_pins`] answers: `sha256:<64 hex>` (an image id) or
/// `repository@sha256:<64 hex>`.
fn check_pin(service: &str, pinned: &str) -> std::result::Result<(), String> {
    let digest = pinned.rsplit_once('@').map_or(pinned, |(_, d)| d);
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    let repository_ok = pinned.rsplit_once('@').is_none_or(|(r, _)| {
        !r.is_empty() && r.chars().count() <= 255 && !r.contains(char::is_whitespace)
    });
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && repository_ok {
        Ok(())
    } else {
        Err(format!(
            "the pinned image of service {service:?} is {pinned:?}, neither an image id \
             (sha256:…) nor a reference by digest (repository@sha256:…)"
        ))
    }
}

/// The id of the image `image` names on the engine now; `None` when the engine has no such
/// image.
///
/// # Errors
/// Conflict naming the target when the engine does not answer.
pub(crate) async fn image_id(
    client: &Docker,
    target: &TargetRecord,
    image: &str,
) -> Result<Option<String>> {
    match client.inspect_image(image).await {
        Ok(found) => Ok(found.id),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(AppError::Conflict {
            field: Some("target".into()),
            message: format!(
                "the Docker Engine of target {:?} could not say which image {image} is: {e}",
                target.name.as_str()
            ),
        }),
    }
}

/// The repository of an image reference, as Docker lists it in `RepoDigests`: without tag
/// or digest (`shop/api:1` is `shop/api`; `127.0.0.1:5000/api:1` is `127.0.0.1:5000/api`).
pub(crate) fn repository_of(image: &str) -> &str {
    let without_digest = image.split_once('@').map_or(image, |(r, _)| r);
    match without_digest.rfind(':') {
        // A colon after the last slash is a tag; before it, a registry's port.
        Some(colon) if !without_digest[colon..].contains('/') => &without_digest[..colon],
        _ => without_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_drops_tag_and_digest_but_keeps_a_registry_port() {
        assert_eq!(repository_of("shop/api:1"), "shop/api");
        assert_eq!(repository_of("busybox"), "busybox");
        assert_eq!(repository_of("127.0.0.1:5000/api:1"), "127.0.0.1:5000/api");
        assert_eq!(repository_of("127.0.0.1:5000/api"), "127.0.0.1:5000/api");
        assert_eq!(
            repository_of("127.0.0.1:5000/api:1@sha256:abc"),
            "127.0.0.1:5000/api"
        );
    }

    #[test]
    fn a_pin_must_be_an_image_id_or_a_reference_by_digest() {
        let hex = "0".repeat(64);
        assert!(check_pin("web", &format!("sha256:{hex}")).is_ok());
        assert!(check_pin("web", &format!("127.0.0.1:5000/web@sha256:{hex}")).is_ok());
        for bad in ["latest", "sha256:abc", "web:1", "@sha256:", "x y@sha256:0"] {
            let err = check_pin("web", bad).unwrap_err();
            assert!(err.contains("\"web\""), "{err}");
        }
        let spec = r#"{"services":[]}"#;
        let pins = BTreeMap::from([("ghost".to_owned(), format!("sha256:{hex}"))]);
        assert!(pinned_spec(spec, &pins).unwrap_err().contains("ghost"));
    }
}
