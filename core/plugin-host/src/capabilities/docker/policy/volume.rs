//! The check of a volume create request.

use bollard::models::VolumeCreateRequest;

use super::{DockerPolicy, Refusal, check_labels, deny, mounts::check_local_driver};

/// Checks a volume create request: the local driver only, without options that bind a host
/// path, no cluster volume, and the Komander labels.
///
/// # Errors
///
/// The first [`Refusal`] found, naming its field.
pub fn check_volume(req: &VolumeCreateRequest, policy: &DockerPolicy) -> Result<(), Refusal> {
    let VolumeCreateRequest {
        labels,
        driver,
        driver_opts,
        cluster_volume_spec,
        // Allowed: the conversion checks the name.
        name: _,
    } = req;
    check_labels(labels.as_ref(), policy)?;
    check_local_driver(
        "Driver",
        driver.as_deref(),
        "DriverOpts",
        driver_opts.as_ref(),
    )?;
    deny(
        "ClusterVolumeSpec",
        cluster_volume_spec.is_some(),
        "cluster volumes are not allowed",
    )
}

#[cfg(all(test, unix))]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::capabilities::docker::policy::fixtures::{
        assert_refused, from_json, labels, policy,
    };

    #[test]
    fn volumes() {
        let ok: VolumeCreateRequest =
            from_json(json!({ "Name": "p1-e1-d1-data", "Labels": labels() }));
        check_volume(&ok, &policy()).expect("allowed");
        let local: VolumeCreateRequest =
            from_json(json!({ "Name": "v", "Driver": "local", "Labels": labels() }));
        check_volume(&local, &policy()).expect("allowed");

        let host_path: VolumeCreateRequest = from_json(json!({
            "Name": "v", "Driver": "local", "Labels": labels(),
            "DriverOpts": { "type": "none", "o": "bind", "device": "/var/run" }
        }));
        assert_refused(check_volume(&host_path, &policy()), "DriverOpts");
        let device: VolumeCreateRequest = from_json(json!({
            "Name": "v", "Labels": labels(), "DriverOpts": { "device": "/home" }
        }));
        assert_refused(check_volume(&device, &policy()), "DriverOpts");
        let plugin: VolumeCreateRequest =
            from_json(json!({ "Name": "v", "Driver": "rexray", "Labels": labels() }));
        assert_refused(check_volume(&plugin, &policy()), "Driver");
        let unlabelled: VolumeCreateRequest = from_json(json!({ "Name": "v" }));
        assert_refused(
            check_volume(&unlabelled, &policy()),
            "Labels[dev.komander.deployment]",
        );
    }
}
