//! The test Docker Engine: the private `dockerd` that `scripts/test.sh` starts
//! (`KOMANDER_TEST_DOCKER_HOST`), and the test image built on it `FROM scratch` with Debian's
//! busybox-static, since no registry can be reached.
//!
//! Shared by the end-to-end tests and, through `#[path]`, the plugin host's own tests and the
//! benchmark; it uses std, bollard, futures-util, tar and tokio only.

use std::collections::HashMap;

use bollard::{
    Docker,
    query_parameters::{
        BuildImageOptions, ListContainersOptions, ListNetworksOptions, ListVolumesOptions,
        RemoveContainerOptions,
    },
};
use futures_util::StreamExt;

/// The image every Docker test runs: `/bin/busybox` and nothing else.
pub const IMAGE: &str = "komander-test/busybox:1";

/// The static busybox binary baked into [`IMAGE`]; Debian's busybox-static installs it here.
const BUSYBOX: &str = "/bin/busybox";

/// Whether this is a CI run (`CI=true` or `1`), where a missing test engine fails.
pub fn ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

/// A client of the test engine ([`connect`]); `None` (after a loud message) when no test engine is configured outside CI.
///
/// # Panics
/// Under `CI=true` without `KOMANDER_TEST_DOCKER_HOST`, or when the engine does not answer.
pub async fn engine() -> Option<Docker> {
    let Ok(host) = std::env::var("KOMANDER_TEST_DOCKER_HOST") else {
        assert!(
            !ci(),
            "KOMANDER_TEST_DOCKER_HOST is not set: under CI=true the Docker tests must run"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPING a Docker test: KOMANDER_TEST_DOCKER_HOST is not set. \
             Run `bash scripts/test.sh`, which starts a private dockerd. !!!!!!!!\n"
        );
        return None;
    };
    Some(connect(&host).await)
}

/// A client of the engine at `host` (`unix:///…/docker.sock`), its API version negotiated,
/// with [`IMAGE`] built on it.
///
/// # Panics
/// When the engine does not answer or the image cannot be built.
pub async fn connect(host: &str) -> Docker {
    let docker = Docker::connect_with_unix(host, 120, bollard::API_DEFAULT_VERSION)
        .unwrap_or_else(|e| panic!("connecting to the test Docker at {host}: {e}"))
        .negotiate_version()
        .await
        .unwrap_or_else(|e| panic!("the test Docker at {host} does not answer: {e}"));
    build_image(&docker).await;
    docker
}

/// Builds [`IMAGE`] unless the engine has it.
async fn build_image(docker: &Docker) {
    if docker.inspect_image(IMAGE).await.is_ok() {
        return;
    }
    let busybox = std::fs::read(BUSYBOX)
        .unwrap_or_else(|e| panic!("{BUSYBOX}: {e} (Debian: apt-get install busybox-static)"));
    let mut tar = tar::Builder::new(Vec::new());
    let dockerfile =
        b"FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"sleep\", \"600\"]\n";
    for (name, bytes, mode) in [
        ("Dockerfile", &dockerfile[..], 0o644),
        ("busybox", &busybox[..], 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
            .expect("archiving the test image's context");
    }
    let context = tar
        .into_inner()
        .expect("archiving the test image's context");
    let options = BuildImageOptions {
        t: Some(IMAGE.into()),
        rm: true,
        ..Default::default()
    };
    let mut build = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = build.next().await {
        let info = item.unwrap_or_else(|e| panic!("building {IMAGE}: {e}"));
        if let Some(detail) = info.error_detail {
            panic!("building {IMAGE}: {detail:?}");
        }
    }
}

/// Removes every container, network and volume labelled with `deployment`'s id: what a test
/// made, whatever it left behind.
pub async fn remove_deployment(docker: &Docker, deployment: &str) {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("dev.komander.deployment={deployment}")],
    )]);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .expect("listing a test's containers");
    for container in containers {
        let id = container.id.unwrap_or_default();
        let force = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        let _ = docker.remove_container(&id, Some(force)).await;
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .expect("listing a test's networks");
    for network in networks {
        let _ = docker.remove_network(&network.id.unwrap_or_default()).await;
    }
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .expect("listing a test's volumes");
    for volume in volumes.volumes.into_iter().flatten() {
        let _ = docker
            .remove_volume(
                &volume.name,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await;
    }
}
