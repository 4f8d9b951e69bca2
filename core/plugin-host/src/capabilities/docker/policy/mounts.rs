//! The checks of a container's storage: `Binds` entries and `Mounts` (volumes on the local
//! driver, binds under the bind root, tmpfs), and the resolution of a bind source on the
//! host's filesystem.

use std::{
    collections::HashMap,
    path::{Component, Path, PathBuf},
};

use bollard::models::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType,
    MountVolumeOptions, MountVolumeOptionsDriverConfig,
};

use super::{DockerPolicy, Refusal, allowed, deny};

/// Paths of the Docker and containerd daemons: a bind of one of them, or of a directory
/// holding one, is refused even under the bind root.
const DAEMON_PATHS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/docker",
    "/run/docker",
    "/var/run/containerd",
    "/run/containerd",
    "/var/lib/docker",
    "/var/lib/containerd",
];

/// Mount propagation modes, refused in `Binds` options.
const PROPAGATION: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// The other `Binds` options allowed: access mode, SELinux relabelling, copy, consistency.
const BIND_OPTIONS: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "nocopy",
    "consistent",
    "cached",
    "delegated",
];

/// Linux's limit of symlinks followed while resolving one path.
const MAX_SYMLINKS: usize = 40;

/// Checks one `Binds` entry, `source:target[:options]` (a lone `target` is an anonymous
/// volume). A source without `/` names a volume; any other is a host path.
pub(super) fn check_bind(field: &str, spec: &str, policy: &DockerPolicy) -> Result<(), Refusal> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, options) = match parts.as_slice() {
        [_target] => return Ok(()),
        [source, _target] => (*source, ""),
        [source, _target, options] => (*source, *options),
        _ => {
            return Err(Refusal::forbidden(
                field,
                "not a `source:target[:options]` bind",
            ));
        }
    };
    for option in options.split(',').filter(|o| !o.is_empty()) {
        deny(
            field,
            PROPAGATION.contains(&option),
            "bind propagation is not allowed",
        )?;
        deny(
            field,
            !BIND_OPTIONS.contains(&option),
            "unknown bind option",
        )?;
    }
    if source.contains('/') {
        check_bind_source(field, source, policy)
    } else {
        Ok(())
    }
}

/// Checks one `Mounts` entry: volume (local driver, no host path), bind (no propagation, no
/// created source, under the bind root) or tmpfs.
pub(super) fn check_mount(
    field: &str,
    mount: &Mount,
    policy: &DockerPolicy,
) -> Result<(), Refusal> {
    let Mount {
        typ,
        source,
        bind_options,
        volume_options,
        tmpfs_options,
        // Allowed: where and how the mount appears inside the container (`Consistency` is
        // for Docker Desktop on macOS only).
        target: _,
        read_only: _,
        consistency: _,
        // Allowed: read by image mounts only, which are refused.
        image_options: _,
    } = mount;
    match typ {
        Some(MountType::BIND) => {
            if let Some(options) = bind_options {
                check_bind_options(field, options)?;
            }
            check_bind_source(
                &format!("{field}.Source"),
                source.as_deref().unwrap_or_default(),
                policy,
            )
        }
        Some(MountType::VOLUME) => {
            deny(
                &format!("{field}.Source"),
                source.as_deref().is_some_and(|s| s.contains('/')),
                "a volume mount's source is a volume name",
            )?;
            volume_options
                .as_ref()
                .map_or(Ok(()), |options| check_volume_options(field, options))
        }
        Some(MountType::TMPFS) => {
            if let Some(options) = tmpfs_options {
                // Allowed: the size, mode and flags of an in-memory filesystem, charged to the
                // container's memory.
                let MountTmpfsOptions {
                    size_bytes: _,
                    mode: _,
                    options: _,
                } = options;
            }
            Ok(())
        }
        _ => Err(Refusal::forbidden(
            format!("{field}.Type"),
            "only volume, bind and tmpfs mounts are allowed",
        )),
    }
}

/// Checks the options of the bind mount `field`: no propagation, no created source.
fn check_bind_options(field: &str, options: &MountBindOptions) -> Result<(), Refusal> {
    let MountBindOptions {
        propagation,
        create_mountpoint,
        // Allowed: whether submounts of the (checked) source come along and are read-only too.
        non_recursive: _,
        read_only_non_recursive: _,
        read_only_force_recursive: _,
    } = options;
    deny(
        &format!("{field}.BindOptions.Propagation"),
        propagation.is_some_and(|p| p != MountBindOptionsPropagationEnum::EMPTY),
        "bind propagation is not allowed",
    )?;
    deny(
        &format!("{field}.BindOptions.CreateMountpoint"),
        *create_mountpoint == Some(true),
        "creating a missing bind source is not allowed",
    )
}

/// Checks the options of the volume mount `field`: the local driver, without options that
/// bind a host path.
fn check_volume_options(field: &str, options: &MountVolumeOptions) -> Result<(), Refusal> {
    let MountVolumeOptions {
        driver_config,
        // Allowed: copying the image's files into a new volume, the labels of a volume
        // created for this mount, and a path inside the volume (Docker refuses `..` there).
        no_copy: _,
        labels: _,
        subpath: _,
    } = options;
    let Some(MountVolumeOptionsDriverConfig { name, options }) = driver_config else {
        return Ok(());
    };
    check_local_driver(
        &format!("{field}.VolumeOptions.DriverConfig.Name"),
        name.as_deref(),
        &format!("{field}.VolumeOptions.DriverConfig.Options"),
        options.as_ref(),
    )
}

/// Refuses a volume driver other than `local`, and local-driver options that bind a host path
/// (`o` with `bind`, `type=none`, or an absolute `device`).
pub(super) fn check_local_driver(
    driver_field: &str,
    driver: Option<&str>,
    options_field: &str,
    options: Option<&HashMap<String, String>>,
) -> Result<(), Refusal> {
    deny(
        driver_field,
        !allowed(driver, &["local"]),
        "only the local volume driver is allowed",
    )?;
    let option = |key: &str| options.and_then(|o| o.get(key)).map(String::as_str);
    deny(
        options_field,
        option("o").is_some_and(|o| o.contains("bind"))
            || option("type") == Some("none")
            || option("device").is_some_and(|d| d.starts_with('/')),
        "local-driver options that mount a host path are not allowed",
    )
}

/// Checks a bind source: an absolute host path, not `/`, not a daemon path, under the bind
/// root once resolved, and not resolving to a daemon path.
fn check_bind_source(field: &str, source: &str, policy: &DockerPolicy) -> Result<(), Refusal> {
    let path = Path::new(source);
    deny(
        field,
        !path.is_absolute(),
        "a bind source must be an absolute host path",
    )?;
    deny(
        field,
        path == Path::new("/"),
        "binding the host's root filesystem is not allowed",
    )?;
    deny(
        field,
        touches_daemon(path),
        "binding the Docker or containerd daemon's files is not allowed",
    )?;
    let Some(root) = &policy.bind_root else {
        return Err(Refusal::forbidden(
            field,
            "bind mounts are not allowed in this environment",
        ));
    };
    let resolved = resolve_under(field, root, path)?;
    deny(
        field,
        touches_daemon(&resolved),
        "binding the Docker or containerd daemon's files is not allowed",
    )
}

/// Whether `path` is a daemon path, lies under one, or holds one.
fn touches_daemon(path: &Path) -> bool {
    DAEMON_PATHS
        .iter()
        .map(Path::new)
        .any(|daemon| path.starts_with(daemon) || daemon.starts_with(path))
}

/// Resolves `source` on the host's filesystem and requires the result under `root`.
///
/// `source` must be absolute, without `..` components, and exist (Docker would create a
/// missing one). The walk starts at `/` and checks each component with `symlink_metadata`; a
/// symlink is replaced by its target (a relative one relative to its directory) and the walk
/// goes on from there, at most [`MAX_SYMLINKS`] times. The final path must start with the
/// canonicalized root, which must not be `/`. So symlinks may be followed only when they end
/// up inside the root.
fn resolve_under(field: &str, root: &Path, source: &Path) -> Result<PathBuf, Refusal> {
    let refuse = |reason: &str| Refusal::forbidden(field, reason);
    if !source.is_absolute() {
        return Err(refuse("a bind source must be an absolute host path"));
    }
    if source.components().any(|c| c == Component::ParentDir) {
        return Err(refuse("a bind source must not contain `..`"));
    }
    if source == Path::new("/") {
        return Err(refuse("binding the host's root filesystem is not allowed"));
    }
    let root = std::fs::canonicalize(root)
        .map_err(|_| refuse("the environment's bind root cannot be resolved"))?;
    if root == Path::new("/") {
        return Err(refuse("a bind root of `/` is not allowed"));
    }

    let mut resolved = PathBuf::from("/");
    let mut remaining = source.to_path_buf();
    let mut links = 0;
    loop {
        let mut components = remaining.components();
        let Some(component) = components.next() else {
            break;
        };
        let rest = components.as_path().to_path_buf();
        match component {
            Component::RootDir => resolved = PathBuf::from("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => {
                let next = resolved.join(name);
                let metadata = std::fs::symlink_metadata(&next).map_err(|_| {
                    refuse("the bind source does not exist (Docker would create it)")
                })?;
                if metadata.is_symlink() {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(refuse("the bind source has too many symlinks"));
                    }
                    let target = std::fs::read_link(&next)
                        .map_err(|_| refuse("a symlink in the bind source cannot be read"))?;
                    // An absolute target starts again at `/`; a relative one goes on from
                    // the link's directory, which is `resolved`.
                    remaining = target.join(rest);
                    continue;
                }
                resolved = next;
            }
            Component::Prefix(_) => return Err(refuse("not a Unix path")),
        }
        remaining = rest;
    }
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(refuse("the bind source resolves outside the bind root"))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use bollard::models::ContainerCreateBody;
    use serde_json::json;

    use super::*;
    use crate::capabilities::docker::policy::{
        check_container,
        fixtures::{assert_refused, body, policy, refuses},
    };

    fn policy_with_root(root: &Path) -> DockerPolicy {
        DockerPolicy {
            bind_root: Some(root.to_path_buf()),
            ..policy()
        }
    }

    /// A bind root with `data/`, `current -> data`, `abs -> <root>/data`, `evil -> /etc`,
    /// `hop -> evil`, `loop -> loop`.
    fn bind_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("a temporary directory");
        let path = root.path();
        std::fs::create_dir(path.join("data")).expect("mkdir data");
        symlink("data", path.join("current")).expect("symlink");
        symlink(path.join("data"), path.join("abs")).expect("symlink");
        symlink("/etc", path.join("evil")).expect("symlink");
        symlink("evil", path.join("hop")).expect("symlink");
        symlink("loop", path.join("loop")).expect("symlink");
        root
    }

    fn bind(root: &Path, source: &str, options: &str) -> ContainerCreateBody {
        let source = root.join(source);
        body(json!({ "Binds": [format!("{}:/data{options}", source.display())] }))
    }

    refuses! {
        bind_of_host_root: { "Binds": ["/:/host"] } => "HostConfig.Binds[0]";
        bind_without_root: { "Binds": ["/srv/data:/data"] } => "HostConfig.Binds[0]";
        relative_bind: { "Binds": ["./data:/data"] } => "HostConfig.Binds[0]";
        malformed_bind: { "Binds": ["/a:/b:ro:extra"] } => "HostConfig.Binds[0]";
        unknown_bind_option: { "Binds": ["data:/data:exec"] } => "HostConfig.Binds[0]";
        mount_image: {
            "Mounts": [{ "Type": "image", "Source": "alpine", "Target": "/image" }]
        } => "HostConfig.Mounts[0].Type";
        mount_npipe: {
            "Mounts": [{ "Type": "npipe", "Source": "//./pipe/docker_engine", "Target": "/pipe" }]
        } => "HostConfig.Mounts[0].Type";
        mount_cluster: {
            "Mounts": [{ "Type": "cluster", "Source": "csi", "Target": "/csi" }]
        } => "HostConfig.Mounts[0].Type";
        mount_without_type: { "Mounts": [{ "Source": "data", "Target": "/data" }] } => "HostConfig.Mounts[0].Type";
        bind_mount_without_root: {
            "Mounts": [{ "Type": "bind", "Source": "/srv/data", "Target": "/data" }]
        } => "HostConfig.Mounts[0].Source";
        volume_mount_with_path_source: {
            "Mounts": [{ "Type": "volume", "Source": "/etc", "Target": "/data" }]
        } => "HostConfig.Mounts[0].Source";
        local_volume_mount_device: {
            "Mounts": [{
                "Type": "volume", "Source": "data", "Target": "/data",
                "VolumeOptions": { "DriverConfig": {
                    "Name": "local", "Options": { "type": "none", "o": "bind", "device": "/etc" }
                } }
            }]
        } => "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options";
        local_volume_mount_rbind: {
            "Mounts": [{
                "Type": "volume", "Source": "data", "Target": "/data",
                "VolumeOptions": { "DriverConfig": { "Options": { "o": "rbind,ro" } } }
            }]
        } => "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options";
        local_volume_mount_block_device: {
            "Mounts": [{
                "Type": "volume", "Source": "data", "Target": "/data",
                "VolumeOptions": { "DriverConfig": { "Options": { "type": "ext4", "device": "/dev/sda1" } } }
            }]
        } => "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options";
        plugin_volume_mount: {
            "Mounts": [{
                "Type": "volume", "Source": "data", "Target": "/data",
                "VolumeOptions": { "DriverConfig": { "Name": "sshfs" } }
            }]
        } => "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Name";
    }

    #[test]
    fn the_docker_socket_is_refused_even_under_the_bind_root() {
        let policy = policy_with_root(Path::new("/run"));
        for source in [
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/var/run/docker",
            "/run/containerd/containerd.sock",
            "/run",
            "/var/lib/docker/volumes",
        ] {
            let refusal = assert_refused(
                check_container(
                    &body(json!({ "Binds": [format!("{source}:/sock")] })),
                    &policy,
                ),
                "HostConfig.Binds[0]",
            );
            assert!(
                refusal.to_string().contains("daemon"),
                "{source}: {refusal}"
            );
            let mount = body(
                json!({ "Mounts": [{ "Type": "bind", "Source": source, "Target": "/sock" }] }),
            );
            let refusal = assert_refused(
                check_container(&mount, &policy),
                "HostConfig.Mounts[0].Source",
            );
            assert!(
                refusal.to_string().contains("daemon"),
                "{source}: {refusal}"
            );
        }
    }

    #[test]
    fn a_bind_root_of_slash_is_refused() {
        let policy = policy_with_root(Path::new("/"));
        assert_refused(
            check_container(&body(json!({ "Binds": ["/etc:/host-etc:ro"] })), &policy),
            "HostConfig.Binds[0]",
        );
    }

    #[test]
    fn a_directory_inside_the_root_passes() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        check_container(&bind(root.path(), "data", ":ro"), &policy).expect("allowed");
        check_container(&bind(root.path(), "data", ""), &policy).expect("allowed");
        let mount = body(json!({ "Mounts": [{
            "Type": "bind", "Source": root.path().join("data"), "Target": "/data", "ReadOnly": true,
            "BindOptions": { "Propagation": "" }
        }] }));
        check_container(&mount, &policy).expect("allowed");
    }

    #[test]
    fn a_symlink_staying_inside_the_root_passes() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        check_container(&bind(root.path(), "current", ":ro"), &policy).expect("relative link");
        check_container(&bind(root.path(), "abs", ":ro"), &policy).expect("absolute link");
    }

    #[test]
    fn a_path_outside_the_root_is_refused() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        let refusal = assert_refused(
            check_container(&body(json!({ "Binds": ["/etc:/host-etc:ro"] })), &policy),
            "HostConfig.Binds[0]",
        );
        assert!(
            refusal.to_string().contains("outside the bind root"),
            "{refusal}"
        );
    }

    #[test]
    fn a_symlink_out_of_the_root_is_refused() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        for source in ["evil", "hop", "current/../evil"] {
            assert_refused(
                check_container(&bind(root.path(), source, ":ro"), &policy),
                "HostConfig.Binds[0]",
            );
        }
        let mount = body(json!({ "Mounts": [{
            "Type": "bind", "Source": root.path().join("evil"), "Target": "/data"
        }] }));
        assert_refused(
            check_container(&mount, &policy),
            "HostConfig.Mounts[0].Source",
        );
    }

    #[test]
    fn a_missing_source_or_a_symlink_loop_is_refused() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        let refusal = assert_refused(
            check_container(&bind(root.path(), "missing", ""), &policy),
            "HostConfig.Binds[0]",
        );
        assert!(refusal.to_string().contains("does not exist"), "{refusal}");
        let refusal = assert_refused(
            check_container(&bind(root.path(), "loop", ""), &policy),
            "HostConfig.Binds[0]",
        );
        assert!(
            refusal.to_string().contains("too many symlinks"),
            "{refusal}"
        );
    }

    #[test]
    fn bind_propagation_is_refused() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        for options in [":rshared", ":ro,shared", ":rslave", ":private"] {
            let refusal = assert_refused(
                check_container(&bind(root.path(), "data", options), &policy),
                "HostConfig.Binds[0]",
            );
            assert!(refusal.to_string().contains("propagation"), "{refusal}");
        }
        let mount = body(json!({ "Mounts": [{
            "Type": "bind", "Source": root.path().join("data"), "Target": "/data",
            "BindOptions": { "Propagation": "rshared" }
        }] }));
        assert_refused(
            check_container(&mount, &policy),
            "HostConfig.Mounts[0].BindOptions.Propagation",
        );
        let mount = body(json!({ "Mounts": [{
            "Type": "bind", "Source": root.path().join("data/new"), "Target": "/data",
            "BindOptions": { "CreateMountpoint": true }
        }] }));
        assert_refused(
            check_container(&mount, &policy),
            "HostConfig.Mounts[0].BindOptions.CreateMountpoint",
        );
    }
}
