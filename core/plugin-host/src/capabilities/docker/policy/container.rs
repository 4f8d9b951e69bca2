//! The check of a container create body: Komander's labels, the network endpoints, then the
//! host config.

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, NetworkingConfig,
};

use super::{DockerPolicy, Refusal, check_labels, check_mode, deny, host_config, non_empty};

/// Checks a container create body before it reaches the daemon.
///
/// Refuses privileged mode, added capabilities, devices, device cgroup rules and requests,
/// security options, sysctls, runtimes other than `runc`, cgroup parents, `host` or
/// `container:` network / pid / ipc / uts / userns modes, the host cgroup namespace,
/// `VolumesFrom`, links, `PublishAllPorts`, disabling the OOM killer, replaced masked or
/// read-only paths, OCI annotations, volume and log drivers other than the local ones,
/// ports off loopback (unless the policy allows them), binds and mounts the policy does not
/// allow, endpoint driver options, and missing or wrong Komander labels.
///
/// # Errors
///
/// The first [`Refusal`] found, naming its field.
pub fn check_container(body: &ContainerCreateBody, policy: &DockerPolicy) -> Result<(), Refusal> {
    let ContainerCreateBody {
        labels,
        networking_config,
        host_config,
        // Allowed: the process, its user, environment, terminal and streams, all inside the
        // container.
        hostname: _,
        domainname: _,
        user: _,
        env: _,
        cmd: _,
        entrypoint: _,
        shell: _,
        args_escaped: _,
        working_dir: _,
        attach_stdin: _,
        attach_stdout: _,
        attach_stderr: _,
        tty: _,
        open_stdin: _,
        stdin_once: _,
        stop_signal: _,
        stop_timeout: _,
        healthcheck: _,
        // Allowed: the conversion checks the image reference against the deployment's scope.
        image: _,
        // Allowed: metadata only; what is published is `HostConfig.PortBindings`, checked.
        exposed_ports: _,
        // Allowed: anonymous volumes, created on the driver `HostConfig.VolumeDriver` allows.
        volumes: _,
        // Allowed: cutting the container off the network only takes access away.
        network_disabled: _,
        // Allowed: read only when the container is committed to an image.
        on_build: _,
    } = body;
    check_labels(labels.as_ref(), policy)?;
    let endpoints = networking_config.as_ref().and_then(|config| {
        let NetworkingConfig { endpoints_config } = config;
        endpoints_config.as_ref()
    });
    for (name, endpoint) in endpoints.into_iter().flatten() {
        check_endpoint(name, endpoint)?;
    }
    host_config
        .as_ref()
        .map_or(Ok(()), |host| host_config::check(host, policy))
}

/// Checks the endpoint on `network`: not the host's network nor another container's, no
/// driver options, no links.
fn check_endpoint(network: &str, endpoint: &EndpointSettings) -> Result<(), Refusal> {
    let EndpointSettings {
        driver_opts,
        links,
        ipam_config,
        // Allowed: names and addresses of the container on a network it may join.
        aliases: _,
        dns_names: _,
        mac_address: _,
        gw_priority: _,
        // Allowed: operational data the daemon fills in; set here they only concern this
        // endpoint.
        network_id: _,
        endpoint_id: _,
        gateway: _,
        ip_address: _,
        ip_prefix_len: _,
        ipv6_gateway: _,
        global_ipv6_address: _,
        global_ipv6_prefix_len: _,
    } = endpoint;
    let field = format!("NetworkingConfig.EndpointsConfig[{network}]");
    check_mode(&field, Some(network))?;
    deny(
        &format!("{field}.DriverOpts"),
        non_empty(driver_opts.as_ref()),
        "endpoint driver options (such as sysctls) are not allowed",
    )?;
    deny(
        &format!("{field}.Links"),
        non_empty(links.as_ref()),
        "links are not allowed",
    )?;
    if let Some(ipam) = ipam_config {
        // Allowed: static addresses of the container on this network.
        let EndpointIpamConfig {
            ipv4_address: _,
            ipv6_address: _,
            link_local_ips: _,
        } = ipam;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::capabilities::docker::policy::fixtures::{
        assert_refused, from_json, labels, policy,
    };

    #[test]
    fn the_body_the_host_produces_passes() {
        let mut labels = labels();
        labels.insert("dev.komander.plugin".into(), "docker-runtime".into());
        labels.insert("spec-hash".into(), "9f2c".into());
        let body: ContainerCreateBody = from_json(json!({
            "Image": "ghcr.io/acme/api:1.2",
            "Cmd": ["serve", "--port", "8080"],
            "Env": ["PORT=8080", "DATABASE_URL=postgres://db/app"],
            "WorkingDir": "/app",
            "User": "1000:1000",
            "Hostname": "api",
            "ExposedPorts": { "8080/tcp": {} },
            "Healthcheck": { "Test": ["CMD", "curl", "-f", "http://localhost:8080/health"], "Interval": 30_000_000_000_i64 },
            "Labels": labels,
            "HostConfig": {
                "Mounts": [
                    { "Type": "volume", "Source": "p1-e1-d1-data", "Target": "/data", "ReadOnly": false },
                    { "Type": "volume", "Source": "p1-e1-d1-cache", "Target": "/cache",
                      "VolumeOptions": { "DriverConfig": { "Name": "local" } } },
                    { "Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": { "SizeBytes": 67_108_864 } }
                ],
                "Binds": ["p1-e1-d1-logs:/logs:ro"],
                "Tmpfs": { "/run": "size=16m" },
                "PortBindings": {
                    "8080/tcp": [{ "HostIp": "127.0.0.1", "HostPort": "18080" }],
                    "8443/tcp": [{ "HostIp": "::1" }]
                },
                "NetworkMode": "p1-e1-d1-net",
                "RestartPolicy": { "Name": "unless-stopped" },
                "Memory": 268_435_456,
                "NanoCpus": 500_000_000,
                "PidsLimit": 512,
                "CgroupnsMode": "private",
                "IpcMode": "private",
                "Runtime": "runc",
                "CapDrop": ["ALL"],
                "ReadonlyRootfs": true,
                "LogConfig": { "Type": "json-file", "Config": { "max-size": "10m" } }
            },
            "NetworkingConfig": { "EndpointsConfig": { "p1-e1-d1-net": { "Aliases": ["api"] } } }
        }));
        check_container(&body, &policy()).expect("allowed");
    }

    #[test]
    fn missing_labels_are_refused() {
        let body: ContainerCreateBody = from_json(json!({ "Image": "nginx:1.27" }));
        let refusal = assert_refused(
            check_container(&body, &policy()),
            "Labels[dev.komander.deployment]",
        );
        assert!(refusal.to_string().ends_with("missing"));
    }

    #[test]
    fn wrong_labels_are_refused() {
        let mut labels = labels();
        labels.insert("dev.komander.project".into(), "someone-else".into());
        let body: ContainerCreateBody =
            from_json(json!({ "Image": "nginx:1.27", "Labels": labels }));
        assert_refused(
            check_container(&body, &policy()),
            "Labels[dev.komander.project]",
        );
    }

    #[test]
    fn endpoint_on_the_host_network_is_refused() {
        let body: ContainerCreateBody = from_json(json!({
            "Labels": labels(),
            "NetworkingConfig": { "EndpointsConfig": { "host": {} } }
        }));
        assert_refused(
            check_container(&body, &policy()),
            "NetworkingConfig.EndpointsConfig[host]",
        );
    }

    #[test]
    fn endpoint_sysctls_are_refused() {
        let body: ContainerCreateBody = from_json(json!({
            "Labels": labels(),
            "NetworkingConfig": { "EndpointsConfig": { "p1-e1-d1-net": { "DriverOpts": {
                "com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.forwarding=1"
            } } } }
        }));
        assert_refused(
            check_container(&body, &policy()),
            "NetworkingConfig.EndpointsConfig[p1-e1-d1-net].DriverOpts",
        );
    }
}
