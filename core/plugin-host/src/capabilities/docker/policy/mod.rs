//! The allow-list of `komander:docker`: one validator that checks every request the host is
//! about to send to the Docker daemon.
//!
//! The typed WIT records cannot express privileged mode, capabilities, devices, host
//! namespaces and the like. The host converts them to bollard's create bodies, and this module
//! checks those normalized bodies anyway, as defence in depth: a bug in the conversion must
//! still not reach the daemon.
//!
//! It is an allow-list by construction. Each check destructures bollard's structs naming
//! every field, with no `..`, and each field is either checked or allowed, grouped under a
//! comment saying why it is harmless. A field that a bollard upgrade adds fails to compile
//! here ("pattern does not mention field") until someone decides on it.
//!
//! - [`check_container`]: a container create body (labels, endpoints), with its host config
//!   (flags, modes, ports) in `host_config` and its binds and mounts in `mounts`.
//! - [`check_volume`], [`check_network`]: volume and network create requests.
//! - [`check_build`]: the query parameters of an image build.
//!
//! Bind sources are resolved on the host's filesystem, component by component: a symlink is
//! followed only to find where the path really leads, and the result must lie under the
//! admin-chosen bind root. The daemon resolves the path again when it mounts it, so a
//! symlink swapped in between is not caught here; the bind root must be a directory guests
//! cannot write symlinks into from outside a container.
//!
//! Refusals name the field in Docker's JSON spelling (`HostConfig.Privileged`) and never the
//! host paths a source resolved to.

mod build;
mod container;
#[cfg(all(test, unix))]
mod fixtures;
mod host_config;
mod mounts;
mod network;
mod volume;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
};

pub use build::check_build;
pub use container::check_container;
pub use network::check_network;
pub use volume::check_volume;

/// What an environment allows beyond the fixed allow-list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerPolicy {
    /// The admin-chosen directory bind mounts must lie under; `None` allows no bind mounts.
    pub bind_root: Option<PathBuf>,
    /// The addresses ports may be published on besides loopback (`127.0.0.1`, `::1`), which is
    /// always allowed. An unspecified address (`0.0.0.0`, `::`) stands for every address of
    /// its family; a binding without an address (every address) needs `0.0.0.0`.
    pub publish_addresses: BTreeSet<IpAddr>,
    /// Komander's labels (project, environment, deployment ids): every container, volume and
    /// network must carry each of them with exactly this value.
    pub labels: BTreeMap<String, String>,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A field holds something the allow-list does not allow.
    #[error("{field}: {reason}")]
    Forbidden {
        /// The field, in Docker's JSON spelling, such as `HostConfig.Privileged`.
        field: String,
        /// Why it is refused.
        reason: String,
    },
}

impl Refusal {
    /// A refusal of `field` for `reason`.
    pub fn forbidden(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Forbidden {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The refused field, in Docker's JSON spelling.
    pub fn field(&self) -> &str {
        let Self::Forbidden { field, .. } = self;
        field
    }
}

/// Refuses `field` for `reason` when `refused`.
fn deny(field: &str, refused: bool, reason: &str) -> Result<(), Refusal> {
    if refused {
        Err(Refusal::forbidden(field, reason))
    } else {
        Ok(())
    }
}

/// Whether an optional list or map holds anything.
fn non_empty<C: Collection>(collection: Option<&C>) -> bool {
    collection.is_some_and(|c| !c.is_empty())
}

/// The collections a create body holds, for [`non_empty`].
trait Collection {
    fn is_empty(&self) -> bool;
}

impl<T> Collection for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

impl<K, V> Collection for HashMap<K, V> {
    fn is_empty(&self) -> bool {
        HashMap::is_empty(self)
    }
}

/// Whether an optional string is unset, empty or one of `also`.
fn allowed(value: Option<&str>, also: &[&str]) -> bool {
    value.is_none_or(|v| v.is_empty() || also.contains(&v))
}

/// Whether `ip` is a loopback address.
impl DockerPolicy {
    /// Whether a port may be published on `host_ip` (Docker's spelling: empty for every
    /// address): loopback always, any other address only when the policy lists it.
    fn may_publish_on(&self, host_ip: &str) -> bool {
        let ip = if host_ip.is_empty() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            match host_ip.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => return false,
            }
        };
        ip.is_loopback() || self.publish_addresses.contains(&ip)
    }
}

/// Refuses a namespace mode (or network name) that shares the host's namespace or another
/// container's.
fn check_mode(field: &str, mode: Option<&str>) -> Result<(), Refusal> {
    let Some(mode) = mode.map(str::trim) else {
        return Ok(());
    };
    deny(
        field,
        mode.eq_ignore_ascii_case("host"),
        "sharing the host's namespace is not allowed",
    )?;
    deny(
        field,
        mode.get(.."container:".len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("container:")),
        "joining another container's namespace is not allowed",
    )
}

/// Requires every policy label with exactly its value.
fn check_labels(
    labels: Option<&HashMap<String, String>>,
    policy: &DockerPolicy,
) -> Result<(), Refusal> {
    for (key, want) in &policy.labels {
        match labels.and_then(|l| l.get(key)) {
            Some(got) if got == want => {}
            Some(_) => {
                return Err(Refusal::forbidden(
                    format!("Labels[{key}]"),
                    format!("must be {want:?}"),
                ));
            }
            None => return Err(Refusal::forbidden(format!("Labels[{key}]"), "missing")),
        }
    }
    Ok(())
}
