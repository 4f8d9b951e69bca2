//! The checks of a container's `HostConfig`: privileges, devices, namespaces, cgroups, the
//! OOM killer, masked paths, drivers and published ports; binds and mounts go to
//! [`super::mounts`].

use bollard::models::{HostConfig, HostConfigCgroupnsModeEnum, PortMap};

use super::{DockerPolicy, Refusal, allowed, check_mode, deny, is_loopback, mounts, non_empty};

/// The checks of `HostConfig`: flags, lists and modes first, then ports, binds and mounts.
pub(super) fn check(h: &HostConfig, policy: &DockerPolicy) -> Result<(), Refusal> {
    deny(
        "HostConfig.Privileged",
        h.privileged == Some(true),
        "privileged containers are not allowed",
    )?;
    let lists = [
        (
            "HostConfig.CapAdd",
            non_empty(h.cap_add.as_ref()),
            "adding capabilities is not allowed",
        ),
        (
            "HostConfig.Devices",
            non_empty(h.devices.as_ref()),
            "host devices are not allowed",
        ),
        (
            "HostConfig.DeviceCgroupRules",
            non_empty(h.device_cgroup_rules.as_ref()),
            "device cgroup rules are not allowed",
        ),
        (
            "HostConfig.DeviceRequests",
            non_empty(h.device_requests.as_ref()),
            "device requests (such as GPUs) are not allowed",
        ),
        (
            "HostConfig.SecurityOpt",
            non_empty(h.security_opt.as_ref()),
            "security options are not allowed",
        ),
        (
            "HostConfig.Sysctls",
            non_empty(h.sysctls.as_ref()),
            "sysctls are not allowed",
        ),
        (
            "HostConfig.VolumesFrom",
            non_empty(h.volumes_from.as_ref()),
            "mounting another container's volumes is not allowed",
        ),
        (
            "HostConfig.Links",
            non_empty(h.links.as_ref()),
            "links are not allowed",
        ),
        (
            "HostConfig.Annotations",
            non_empty(h.annotations.as_ref()),
            "OCI annotations are not allowed",
        ),
    ];
    for (field, refused, reason) in lists {
        deny(field, refused, reason)?;
    }
    deny(
        "HostConfig.Runtime",
        !allowed(h.runtime.as_deref(), &["runc"]),
        "only the default runtime (runc) is allowed",
    )?;
    deny(
        "HostConfig.CgroupParent",
        !allowed(h.cgroup_parent.as_deref(), &[]),
        "choosing a cgroup parent is not allowed",
    )?;
    deny(
        "HostConfig.Cgroup",
        !allowed(h.cgroup.as_deref(), &[]),
        "choosing a cgroup is not allowed",
    )?;
    deny(
        "HostConfig.CgroupnsMode",
        h.cgroupns_mode == Some(HostConfigCgroupnsModeEnum::HOST),
        "sharing the host's cgroup namespace is not allowed",
    )?;
    for (field, mode) in [
        ("HostConfig.NetworkMode", &h.network_mode),
        ("HostConfig.PidMode", &h.pid_mode),
        ("HostConfig.IpcMode", &h.ipc_mode),
        ("HostConfig.UTSMode", &h.uts_mode),
        ("HostConfig.UsernsMode", &h.userns_mode),
    ] {
        check_mode(field, mode.as_deref())?;
    }
    deny(
        "HostConfig.PublishAllPorts",
        h.publish_all_ports == Some(true),
        "publishing all ports on every address is not allowed",
    )?;
    deny(
        "HostConfig.OomKillDisable",
        h.oom_kill_disable == Some(true),
        "disabling the OOM killer is not allowed",
    )?;
    deny(
        "HostConfig.OomScoreAdj",
        h.oom_score_adj.is_some_and(|adj| adj < 0),
        "shielding a container from the OOM killer is not allowed",
    )?;
    // Docker replaces its defaults (which hide parts of /proc and /sys) with any list given,
    // so any list, empty or not, may unmask them.
    deny(
        "HostConfig.MaskedPaths",
        h.masked_paths.is_some(),
        "replacing Docker's masked paths is not allowed",
    )?;
    deny(
        "HostConfig.ReadonlyPaths",
        h.readonly_paths.is_some(),
        "replacing Docker's read-only paths is not allowed",
    )?;
    deny(
        "HostConfig.VolumeDriver",
        !allowed(h.volume_driver.as_deref(), &["local"]),
        "only the local volume driver is allowed",
    )?;
    deny(
        "HostConfig.LogConfig.Type",
        !allowed(
            h.log_config.as_ref().and_then(|l| l.typ.as_deref()),
            &["json-file", "local"],
        ),
        "only the json-file and local log drivers are allowed",
    )?;
    check_ports(h.port_bindings.as_ref(), policy)?;
    for (i, bind) in h.binds.iter().flatten().enumerate() {
        mounts::check_bind(&format!("HostConfig.Binds[{i}]"), bind, policy)?;
    }
    for (i, mount) in h.mounts.iter().flatten().enumerate() {
        mounts::check_mount(&format!("HostConfig.Mounts[{i}]"), mount, policy)?;
    }
    Ok(())
}

/// Refuses published ports off loopback, unless the policy allows public ports. An empty or
/// missing `HostIp` means every address.
fn check_ports(ports: Option<&PortMap>, policy: &DockerPolicy) -> Result<(), Refusal> {
    if policy.allow_public_ports {
        return Ok(());
    }
    for (port, bindings) in ports.into_iter().flatten() {
        for binding in bindings.iter().flatten() {
            if !is_loopback(binding.host_ip.as_deref().unwrap_or_default()) {
                return Err(Refusal::forbidden(
                    format!("HostConfig.PortBindings[{port}].HostIp"),
                    "ports are published on loopback only in this environment",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use serde_json::json;

    use crate::capabilities::docker::policy::{
        DockerPolicy, check_container,
        fixtures::{body, policy, refuses},
    };

    refuses! {
        privileged: { "Privileged": true } => "HostConfig.Privileged";
        cap_add: { "CapAdd": ["SYS_ADMIN"] } => "HostConfig.CapAdd";
        devices: {
            "Devices": [{ "PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm" }]
        } => "HostConfig.Devices";
        device_cgroup_rules: { "DeviceCgroupRules": ["b 8:* rmw"] } => "HostConfig.DeviceCgroupRules";
        device_requests: { "DeviceRequests": [{ "Driver": "nvidia", "Count": -1 }] } => "HostConfig.DeviceRequests";
        security_opt: { "SecurityOpt": ["seccomp=unconfined"] } => "HostConfig.SecurityOpt";
        apparmor_unconfined: { "SecurityOpt": ["apparmor=unconfined"] } => "HostConfig.SecurityOpt";
        sysctls: { "Sysctls": { "net.ipv4.ip_forward": "1" } } => "HostConfig.Sysctls";
        runtime: { "Runtime": "nvidia" } => "HostConfig.Runtime";
        cgroup_parent: { "CgroupParent": "/system.slice" } => "HostConfig.CgroupParent";
        cgroup: { "Cgroup": "host" } => "HostConfig.Cgroup";
        host_network: { "NetworkMode": "host" } => "HostConfig.NetworkMode";
        host_network_upper_case: { "NetworkMode": "HOST" } => "HostConfig.NetworkMode";
        container_network: { "NetworkMode": "container:3f2a" } => "HostConfig.NetworkMode";
        host_pid: { "PidMode": "host" } => "HostConfig.PidMode";
        container_pid: { "PidMode": "container:3f2a" } => "HostConfig.PidMode";
        host_ipc: { "IpcMode": "host" } => "HostConfig.IpcMode";
        container_ipc: { "IpcMode": "container:3f2a" } => "HostConfig.IpcMode";
        host_uts: { "UTSMode": "host" } => "HostConfig.UTSMode";
        host_userns: { "UsernsMode": "host" } => "HostConfig.UsernsMode";
        host_cgroupns: { "CgroupnsMode": "host" } => "HostConfig.CgroupnsMode";
        volumes_from: { "VolumesFrom": ["other:ro"] } => "HostConfig.VolumesFrom";
        links: { "Links": ["db:db"] } => "HostConfig.Links";
        publish_all_ports: { "PublishAllPorts": true } => "HostConfig.PublishAllPorts";
        port_on_every_address: {
            "PortBindings": { "80/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "8080" }] }
        } => "HostConfig.PortBindings[80/tcp].HostIp";
        port_on_every_ipv6_address: {
            "PortBindings": { "80/tcp": [{ "HostIp": "::", "HostPort": "8080" }] }
        } => "HostConfig.PortBindings[80/tcp].HostIp";
        port_on_empty_host_ip: {
            "PortBindings": { "80/tcp": [{ "HostIp": "", "HostPort": "8080" }] }
        } => "HostConfig.PortBindings[80/tcp].HostIp";
        port_without_host_ip: {
            "PortBindings": { "53/udp": [{ "HostPort": "53" }] }
        } => "HostConfig.PortBindings[53/udp].HostIp";
        oom_kill_disable: { "OomKillDisable": true } => "HostConfig.OomKillDisable";
        oom_score_adj: { "OomScoreAdj": -1000 } => "HostConfig.OomScoreAdj";
        unmasked_paths: { "MaskedPaths": [] } => "HostConfig.MaskedPaths";
        replaced_masked_paths: { "MaskedPaths": ["/nothing"] } => "HostConfig.MaskedPaths";
        writable_proc: { "ReadonlyPaths": [] } => "HostConfig.ReadonlyPaths";
        annotations: { "Annotations": { "run.oci.keep_original_groups": "1" } } => "HostConfig.Annotations";
        volume_driver: { "VolumeDriver": "rexray" } => "HostConfig.VolumeDriver";
        log_driver: {
            "LogConfig": { "Type": "syslog", "Config": { "syslog-address": "tcp://10.0.0.1:514" } }
        } => "HostConfig.LogConfig.Type";
    }

    #[test]
    fn public_ports_pass_when_the_environment_allows_them() {
        let body = body(json!({
            "PortBindings": { "80/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "80" }] }
        }));
        let policy = DockerPolicy {
            allow_public_ports: true,
            ..policy()
        };
        check_container(&body, &policy).expect("allowed");
    }
}
