//! The check of an image build's query parameters.
//!
//! bollard gives `BuildImageOptions` two more fields (`outputs`, `session`) with its
//! `buildkit` feature; enabling it fails to compile here until someone decides on them.

use bollard::query_parameters::{BuildImageOptions, BuilderVersion};

use super::{Refusal, allowed, check_mode, deny};

/// Checks the query parameters of an image build: its network mode (`networkmode`) may not
/// be `host` or `container:…`, its context is the one sent, not a `remote` one the
/// daemon would fetch from the host's network (host-local services, metadata addresses)
/// and echo back in the build's output, and it runs on the classic builder (`version` 1),
/// whose reading of the Dockerfile the host checked.
///
/// # Errors
///
/// The first [`Refusal`] found, naming its query parameter.
pub fn check_build(options: &BuildImageOptions) -> Result<(), Refusal> {
    let BuildImageOptions {
        networkmode,
        remote,
        // Allowed: the conversion keeps the Dockerfile inside the build context and the tag
        // under the deployment's prefix.
        dockerfile: _,
        t: _,
        // Allowed: what the build steps see and produce: arguments, labels, stage, platform
        // and `/etc/hosts` entries.
        buildargs: _,
        labels: _,
        target: _,
        platform: _,
        extrahosts: _,
        // Allowed: caching, pulling, output and cleanup; cached layers are reused only where
        // the build steps match.
        q: _,
        nocache: _,
        cachefrom: _,
        pull: _,
        rm: _,
        forcerm: _,
        squash: _,
        // Allowed: limits of the build's own containers.
        memory: _,
        memswap: _,
        cpushares: _,
        cpusetcpus: _,
        cpuperiod: _,
        cpuquota: _,
        shmsize: _,
        version,
    } = options;
    check_mode("networkmode", networkmode.as_deref())?;
    // The host's Dockerfile check reads a Dockerfile as the classic builder does; BuildKit
    // reads some of it differently (heredocs, expansions in more places).
    deny(
        "version",
        *version != BuilderVersion::BuilderV1,
        "only the classic builder (version 1) is allowed",
    )?;
    deny(
        "remote",
        !allowed(remote.as_deref(), &[]),
        "a build context the daemon fetches itself is not allowed",
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::capabilities::docker::policy::fixtures::assert_refused;

    /// The options of a build in network mode `mode`.
    fn build(mode: Option<&str>) -> BuildImageOptions {
        BuildImageOptions {
            networkmode: mode.map(str::to_owned),
            ..BuildImageOptions::default()
        }
    }

    #[test]
    fn builds() {
        for mode in [
            None,
            Some(""),
            Some("default"),
            Some("none"),
            Some("bridge"),
        ] {
            check_build(&build(mode)).expect("allowed");
        }
        assert_refused(check_build(&build(Some("host"))), "networkmode");
        assert_refused(check_build(&build(Some("container:3f2a"))), "networkmode");
    }

    #[test]
    fn buildkit_is_refused() {
        let options = BuildImageOptions {
            version: BuilderVersion::BuilderBuildKit,
            ..build(None)
        };
        assert_refused(check_build(&options), "version");
    }

    #[test]
    fn a_remote_context_is_refused() {
        for remote in [
            "http://127.0.0.1:2375/version",
            "http://169.254.169.254/latest/meta-data/",
            "https://github.com/acme/api.git",
        ] {
            let options = BuildImageOptions {
                remote: Some(remote.to_owned()),
                ..build(None)
            };
            assert_refused(check_build(&options), "remote");
        }
    }
}
