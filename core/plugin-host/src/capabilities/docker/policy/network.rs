//! The check of a network create request.

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};

use super::{DockerPolicy, Refusal, allowed, check_labels, deny, non_empty};

/// Checks a network create request: the bridge driver only, in local scope, with the default
/// IPAM driver and no IPAM options, not ingress, not configured from another network, driver
/// options from a short allow-list (MTU, inter-container traffic, a loopback host binding
/// address unless the policy allows public ports), and the Komander labels.
///
/// # Errors
///
/// The first [`Refusal`] found, naming its field.
pub fn check_network(req: &NetworkCreateRequest, policy: &DockerPolicy) -> Result<(), Refusal> {
    let NetworkCreateRequest {
        labels,
        driver,
        scope,
        ingress,
        config_from,
        ipam,
        options,
        // Allowed: the conversion checks the name.
        name: _,
        // Allowed: they cut the network off the outside, let swarm services attach (in local
        // scope, none do), or choose its address families.
        internal: _,
        attachable: _,
        enable_ipv4: _,
        enable_ipv6: _,
        // Allowed: a config-only network is a template, used only through `ConfigFrom`, which
        // is refused.
        config_only: _,
    } = req;
    check_labels(labels.as_ref(), policy)?;
    deny(
        "Driver",
        !allowed(driver.as_deref(), &["bridge"]),
        "only the bridge network driver is allowed",
    )?;
    deny(
        "Scope",
        !allowed(scope.as_deref(), &["local"]),
        "only local networks are allowed",
    )?;
    deny(
        "Ingress",
        *ingress == Some(true),
        "ingress networks are not allowed",
    )?;
    deny(
        "ConfigFrom",
        config_from.is_some(),
        "networks configured from another network are not allowed",
    )?;
    if let Some(ipam) = ipam {
        check_ipam(ipam)?;
    }
    for (key, value) in options.iter().flatten() {
        let field = format!("Options[{key}]");
        match key.as_str() {
            "com.docker.network.driver.mtu" | "com.docker.network.bridge.enable_icc" => {}
            "com.docker.network.bridge.host_binding_ipv4" => deny(
                &field,
                !policy.may_publish_on(value),
                "ports are published only on loopback and the addresses the target allows",
            )?,
            "com.docker.network.bridge.name" => {
                return Err(Refusal::forbidden(
                    field,
                    "choosing the host's bridge interface is not allowed",
                ));
            }
            _ => {
                return Err(Refusal::forbidden(
                    field,
                    "only the MTU, inter-container traffic and host binding address options are allowed",
                ));
            }
        }
    }
    Ok(())
}

/// Checks a network's IPAM: the default driver, without options.
fn check_ipam(ipam: &Ipam) -> Result<(), Refusal> {
    let Ipam {
        driver,
        options,
        config,
    } = ipam;
    deny(
        "IPAM.Driver",
        !allowed(driver.as_deref(), &["default"]),
        "only the default IPAM driver is allowed",
    )?;
    deny(
        "IPAM.Options",
        non_empty(options.as_ref()),
        "IPAM options are not allowed",
    )?;
    for config in config.iter().flatten() {
        // Allowed: the subnets, ranges and gateways of the network's own bridge.
        let IpamConfig {
            subnet: _,
            ip_range: _,
            gateway: _,
            auxiliary_addresses: _,
        } = config;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::capabilities::docker::policy::fixtures::{
        assert_refused, from_json, labels, policy,
    };

    #[test]
    fn networks() {
        let ok: NetworkCreateRequest = from_json(json!({
            "Name": "p1-e1-d1-net", "Driver": "bridge", "Internal": true, "Attachable": true,
            "Options": { "com.docker.network.driver.mtu": "1400" }, "Labels": labels()
        }));
        check_network(&ok, &policy()).expect("allowed");
        let default_driver: NetworkCreateRequest =
            from_json(json!({ "Name": "n", "Labels": labels() }));
        check_network(&default_driver, &policy()).expect("allowed");

        let refused = |mut request: Value, field: &str| {
            request["Name"] = json!("n");
            request["Labels"] = json!(labels());
            assert_refused(check_network(&from_json(request), &policy()), field);
        };
        for driver in ["host", "macvlan", "ipvlan", "overlay", "none"] {
            refused(json!({ "Driver": driver }), "Driver");
        }
        refused(json!({ "Ingress": true }), "Ingress");
        refused(
            json!({ "ConfigFrom": { "Network": "other" } }),
            "ConfigFrom",
        );
        refused(json!({ "Scope": "swarm" }), "Scope");
        refused(json!({ "IPAM": { "Driver": "custom" } }), "IPAM.Driver");
        refused(
            json!({ "Options": { "com.docker.network.bridge.name": "docker0" } }),
            "Options[com.docker.network.bridge.name]",
        );
        refused(
            json!({ "Options": { "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0" } }),
            "Options[com.docker.network.bridge.host_binding_ipv4]",
        );
        refused(
            json!({ "Options": { "com.docker.network.bridge.gateway_mode_ipv4": "routed" } }),
            "Options[com.docker.network.bridge.gateway_mode_ipv4]",
        );
        let unlabelled: NetworkCreateRequest = from_json(json!({ "Name": "n" }));
        assert_refused(
            check_network(&unlabelled, &policy()),
            "Labels[dev.komander.deployment]",
        );
    }
}
