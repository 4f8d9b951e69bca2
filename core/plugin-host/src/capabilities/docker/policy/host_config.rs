//! The checks of a container's `HostConfig`: privileges, devices, namespaces, cgroups, the
//! OOM killer, masked paths, drivers and published ports; binds and mounts go to
//! [`super::mounts`].

use bollard::models::{
    HostConfig, HostConfigCgroupnsModeEnum, HostConfigLogConfig, PortBinding, PortMap,
};

use super::{DockerPolicy, Refusal, allowed, check_mode, deny, mounts, non_empty};

/// The checks of `HostConfig`: flags, lists and modes first, then ports, binds and mounts.
pub(super) fn check(host: &HostConfig, policy: &DockerPolicy) -> Result<(), Refusal> {
    let HostConfig {
        privileged,
        cap_add,
        devices,
        device_cgroup_rules,
        device_requests,
        security_opt,
        sysctls,
        volumes_from,
        links,
        annotations,
        runtime,
        cgroup_parent,
        cgroup,
        cgroupns_mode,
        network_mode,
        pid_mode,
        ipc_mode,
        uts_mode,
        userns_mode,
        publish_all_ports,
        oom_kill_disable,
        oom_score_adj,
        masked_paths,
        readonly_paths,
        volume_driver,
        log_config,
        port_bindings,
        binds,
        mounts,
        // Allowed: the container's resources (cgroup limits and weights, rlimits, disk quota),
        // not its access to the host; the conversion checks memory and CPU against the
        // environment's maximums and always sets a pids limit. A device throttle names a host
        // device only to throttle the container's I/O on it.
        memory: _,
        memory_reservation: _,
        memory_swap: _,
        memory_swappiness: _,
        nano_cpus: _,
        cpu_shares: _,
        cpu_period: _,
        cpu_quota: _,
        cpu_realtime_period: _,
        cpu_realtime_runtime: _,
        cpuset_cpus: _,
        cpuset_mems: _,
        pids_limit: _,
        ulimits: _,
        shm_size: _,
        storage_opt: _,
        blkio_weight: _,
        blkio_weight_device: _,
        blkio_device_read_bps: _,
        blkio_device_write_bps: _,
        blkio_device_read_iops: _,
        blkio_device_write_iops: _,
        // Allowed: Windows containers only; a Linux daemon ignores or refuses them.
        cpu_count: _,
        cpu_percent: _,
        io_maximum_iops: _,
        io_maximum_bandwidth: _,
        isolation: _,
        // Allowed: the container's own lifecycle and terminal; `ContainerIDFile` is read by
        // the Docker CLI only.
        init: _,
        restart_policy: _,
        auto_remove: _,
        console_size: _,
        container_id_file: _,
        // Allowed: name resolution inside the container.
        dns: _,
        dns_options: _,
        dns_search: _,
        extra_hosts: _,
        // Allowed: they take privileges away, or stay inside the container (supplementary
        // groups, in-memory filesystems charged to its memory).
        cap_drop: _,
        readonly_rootfs: _,
        group_add: _,
        tmpfs: _,
    } = host;
    deny(
        "HostConfig.Privileged",
        *privileged == Some(true),
        "privileged containers are not allowed",
    )?;
    let lists = [
        (
            "HostConfig.CapAdd",
            non_empty(cap_add.as_ref()),
            "adding capabilities is not allowed",
        ),
        (
            "HostConfig.Devices",
            non_empty(devices.as_ref()),
            "host devices are not allowed",
        ),
        (
            "HostConfig.DeviceCgroupRules",
            non_empty(device_cgroup_rules.as_ref()),
            "device cgroup rules are not allowed",
        ),
        (
            "HostConfig.DeviceRequests",
            non_empty(device_requests.as_ref()),
            "device requests (such as GPUs) are not allowed",
        ),
        (
            "HostConfig.SecurityOpt",
            non_empty(security_opt.as_ref()),
            "security options are not allowed",
        ),
        (
            "HostConfig.Sysctls",
            non_empty(sysctls.as_ref()),
            "sysctls are not allowed",
        ),
        (
            "HostConfig.VolumesFrom",
            non_empty(volumes_from.as_ref()),
            "mounting another container's volumes is not allowed",
        ),
        (
            "HostConfig.Links",
            non_empty(links.as_ref()),
            "links are not allowed",
        ),
        (
            "HostConfig.Annotations",
            non_empty(annotations.as_ref()),
            "OCI annotations are not allowed",
        ),
    ];
    for (field, refused, reason) in lists {
        deny(field, refused, reason)?;
    }
    deny(
        "HostConfig.Runtime",
        !allowed(runtime.as_deref(), &["runc"]),
        "only the default runtime (runc) is allowed",
    )?;
    deny(
        "HostConfig.CgroupParent",
        !allowed(cgroup_parent.as_deref(), &[]),
        "choosing a cgroup parent is not allowed",
    )?;
    deny(
        "HostConfig.Cgroup",
        !allowed(cgroup.as_deref(), &[]),
        "choosing a cgroup is not allowed",
    )?;
    deny(
        "HostConfig.CgroupnsMode",
        *cgroupns_mode == Some(HostConfigCgroupnsModeEnum::HOST),
        "sharing the host's cgroup namespace is not allowed",
    )?;
    for (field, mode) in [
        ("HostConfig.NetworkMode", network_mode),
        ("HostConfig.PidMode", pid_mode),
        ("HostConfig.IpcMode", ipc_mode),
        ("HostConfig.UTSMode", uts_mode),
        ("HostConfig.UsernsMode", userns_mode),
    ] {
        check_mode(field, mode.as_deref())?;
    }
    deny(
        "HostConfig.PublishAllPorts",
        *publish_all_ports == Some(true),
        "publishing all ports on every address is not allowed",
    )?;
    deny(
        "HostConfig.OomKillDisable",
        *oom_kill_disable == Some(true),
        "disabling the OOM killer is not allowed",
    )?;
    deny(
        "HostConfig.OomScoreAdj",
        oom_score_adj.is_some_and(|adj| adj < 0),
        "shielding a container from the OOM killer is not allowed",
    )?;
    // Docker replaces its defaults (which hide parts of /proc and /sys) with any list given,
    // so any list, empty or not, may unmask them.
    deny(
        "HostConfig.MaskedPaths",
        masked_paths.is_some(),
        "replacing Docker's masked paths is not allowed",
    )?;
    deny(
        "HostConfig.ReadonlyPaths",
        readonly_paths.is_some(),
        "replacing Docker's read-only paths is not allowed",
    )?;
    deny(
        "HostConfig.VolumeDriver",
        !allowed(volume_driver.as_deref(), &["local"]),
        "only the local volume driver is allowed",
    )?;
    deny(
        "HostConfig.LogConfig.Type",
        !allowed(
            log_config.as_ref().and_then(|log| {
                // Allowed: the options of the log driver (sizes, rotation, tags).
                let HostConfigLogConfig { typ, config: _ } = log;
                typ.as_deref()
            }),
            &["json-file", "local"],
        ),
        "only the json-file and local log drivers are allowed",
    )?;
    check_ports(port_bindings.as_ref(), policy)?;
    for (i, bind) in binds.iter().flatten().enumerate() {
        mounts::check_bind(&format!("HostConfig.Binds[{i}]"), bind, policy)?;
    }
    for (i, mount) in mounts.iter().flatten().enumerate() {
        mounts::check_mount(&format!("HostConfig.Mounts[{i}]"), mount, policy)?;
    }
    Ok(())
}

/// Refuses published ports on an address other than loopback and those the policy lists. An
/// empty or missing `HostIp` means every address.
fn check_ports(ports: Option<&PortMap>, policy: &DockerPolicy) -> Result<(), Refusal> {
    for (port, bindings) in ports.into_iter().flatten() {
        for binding in bindings.iter().flatten() {
            // Allowed: which host port; only the address decides who may reach it.
            let PortBinding {
                host_ip,
                host_port: _,
            } = binding;
            let host_ip = host_ip.as_deref().unwrap_or_default();
            if !policy.may_publish_on(host_ip) {
                return Err(Refusal::forbidden(
                    format!("HostConfig.PortBindings[{port}].HostIp"),
                    format!(
                        "ports are published only on loopback and the addresses the target \
                         allows, not on {:?}",
                        if host_ip.is_empty() {
                            "every address"
                        } else {
                            host_ip
                        }
                    ),
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
    fn ports_are_published_on_the_addresses_the_policy_lists_only() {
        let binding = |ip: &str| {
            body(json!({
                "PortBindings": { "80/tcp": [{ "HostIp": ip, "HostPort": "80" }] }
            }))
        };
        let listed = DockerPolicy {
            publish_addresses: ["192.0.2.10".parse().unwrap()].into(),
            ..policy()
        };
        for allowed in ["127.0.0.1", "::1", "192.0.2.10"] {
            check_container(&binding(allowed), &listed).expect(allowed);
        }
        for refused in ["192.0.2.11", "0.0.0.0", "", "::", "not-an-ip"] {
            let refusal = check_container(&binding(refused), &listed).unwrap_err();
            assert_eq!(refusal.field(), "HostConfig.PortBindings[80/tcp].HostIp");
        }
        let everywhere = DockerPolicy {
            publish_addresses: ["0.0.0.0".parse().unwrap()].into(),
            ..policy()
        };
        check_container(&binding(""), &everywhere).expect("every address");
        check_container(&binding("0.0.0.0"), &everywhere).expect("0.0.0.0");
    }
}
