//! The `docker` capability against a real Docker Engine (the private dockerd of
//! `scripts/test.sh`): a deployment's lifecycle in batches, logs by cursor, scoping to the
//! deployment, and the escapes a guest may try, each refused with a typed error before it
//! reaches the daemon.

use std::{sync::Arc, time::Duration};

use bollard::{Docker, models::ContainerCreateBody, query_parameters::CreateContainerOptions};
use komander_plugin_host::{
    LoadedPlugin, PluginEngine,
    capabilities::{
        CallContext, DeploymentIds,
        docker::{DockerGate, DockerScope},
    },
    manifest::{PluginKind, RuntimeWorld},
    runtime::{GuestError, RuntimeCallError},
};

use crate::{loading, sandbox::spec};

#[path = "../../../../tests/src/docker.rs"]
pub mod test_docker;

const PLUGIN: &str = "komander_test_docker_guest";

/// The one gate of the test binary, shared by every scope, as a server shares one.
fn gate() -> DockerGate {
    static GATE: std::sync::OnceLock<DockerGate> = std::sync::OnceLock::new();
    GATE.get_or_init(|| DockerGate::new(DockerGate::DEFAULT_SIZE))
        .clone()
}

/// One test's deployment: unique ids and names, so tests run side by side on one engine.
pub struct Deployment {
    pub docker: Docker,
    pub ids: DeploymentIds,
    pub prefix: String,
    bind_root: tempfile::TempDir,
}

impl Deployment {
    pub async fn new(name: &str) -> Option<Deployment> {
        let docker = test_docker::engine().await?;
        let unique = format!("{name}-{}-{}", std::process::id(), nanos());
        Some(Deployment {
            docker,
            ids: DeploymentIds {
                project: format!("p-{unique}"),
                environment: format!("e-{unique}"),
                deployment: format!("d-{unique}"),
            },
            prefix: format!("kt-{unique}"),
            bind_root: tempfile::tempdir().expect("a bind root"),
        })
    }

    fn scope(&self) -> DockerScope {
        DockerScope::new(
            self.docker.clone(),
            gate(),
            self.ids.clone(),
            "komander.test-docker-guest",
        )
        .with_secret("web/GREETING", "hello-from-a-secret")
        .with_bind_root(self.bind_root.path().to_owned())
    }

    pub fn context(&self, granted: &[&str]) -> CallContext {
        self.context_with(granted, |scope| scope)
    }

    /// A context whose scope `adjust` changed (an environment's policy, a build context).
    pub fn context_with(
        &self,
        granted: &[&str],
        adjust: impl FnOnce(DockerScope) -> DockerScope,
    ) -> CallContext {
        self.guest_context(PLUGIN, granted, adjust)
    }

    /// A context for a call of the built component `guest` acting for this deployment.
    pub fn guest_context(
        &self,
        guest: &str,
        granted: &[&str],
        adjust: impl FnOnce(DockerScope) -> DockerScope,
    ) -> CallContext {
        loading::call(guest, granted)
            .label("komander.test-docker-guest@0.1.0")
            .docker(Arc::new(adjust(self.scope())))
            .build()
    }

    /// Runs the guest's `validate` with `settings`, the prefix and the test image added.
    async fn run(
        &self,
        engine: &PluginEngine,
        plugin: &LoadedPlugin,
        settings: &[(&str, &str)],
    ) -> Result<Vec<String>, GuestError> {
        self.run_in(engine, plugin, self.context(&["log", "docker"]), settings)
            .await
    }

    /// As [`Deployment::run`], under `context`.
    async fn run_in(
        &self,
        engine: &PluginEngine,
        plugin: &LoadedPlugin,
        context: CallContext,
        settings: &[(&str, &str)],
    ) -> Result<Vec<String>, GuestError> {
        let mut all = vec![
            ("prefix", self.prefix.as_str()),
            ("image", test_docker::IMAGE),
        ];
        all.extend_from_slice(settings);
        let mut spec = spec(&all);
        spec.deployment_id = self.ids.deployment.clone();
        match engine.validate(plugin, context, spec).await {
            Ok(lines) => Ok(lines),
            Err(RuntimeCallError::Guest { error, .. }) => Err(error),
            Err(other) => panic!("the call itself failed: {other}"),
        }
    }

    /// Tags the test image as another deployment's build, `komander/<other>/web`; answers
    /// the image's name and its id (`sha256:…`).
    async fn others_image(&self) -> (String, String) {
        let other = format!("{}-other", self.ids.deployment);
        let theirs = format!("komander/{other}/web");
        let tag = bollard::query_parameters::TagImageOptions {
            repo: Some(theirs.clone()),
            tag: Some("latest".into()),
        };
        self.docker
            .tag_image(test_docker::IMAGE, Some(tag))
            .await
            .unwrap();
        let image = self.docker.inspect_image(&theirs).await.unwrap();
        (theirs, image.id.unwrap())
    }

    pub async fn cleanup(&self) {
        test_docker::remove_deployment(&self.docker, &self.ids.deployment).await;
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GETs `http://127.0.0.1:<port>/`, retrying for up to 5 s while the server starts.
pub async fn get(port: u16) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..50 {
        if let Ok(response) = client.get(format!("http://127.0.0.1:{port}/")).send().await
            && let Ok(body) = response.text().await
        {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing answered on 127.0.0.1:{port}");
}

#[tokio::test]
async fn a_deployment_runs_as_batches_and_its_logs_page_by_cursor() {
    let Some(deployment) = Deployment::new("life").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    assert_eq!(plugin.kind, PluginKind::Runtime(RuntimeWorld::Docker));
    let port = free_port();
    let port_text = port.to_string();

    let lines = deployment
        .run(
            &engine,
            &plugin,
            &[("behavior", "lifecycle"), ("host-port", &port_text)],
        )
        .await
        .expect("the lifecycle batch succeeds");
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(
        lines[1].ends_with(&format!("{}-data", deployment.prefix)),
        "{lines:?}"
    );
    assert_eq!(
        lines[4],
        format!("inspect: ContainerState::Running Health::Unconfigured ports=127.0.0.1:{port}"),
        "published on loopback only"
    );
    // The secret reached the container's environment, and the port answers on loopback.
    assert_eq!(get(port).await.trim(), "hello-from-a-secret");

    // Everything carries the deployment's labels.
    let name = format!("{}-web", deployment.prefix);
    let inspected = deployment
        .docker
        .inspect_container(&name, None)
        .await
        .unwrap();
    let labels = inspected.config.unwrap().labels.unwrap();
    assert_eq!(labels["dev.komander.deployment"], deployment.ids.deployment);
    assert_eq!(labels["dev.komander.project"], deployment.ids.project);
    assert_eq!(labels["dev.komander.plugin"], "komander.test-docker-guest");
    assert_eq!(labels["app"], "web");

    // Repeating the network and volume creations is idempotent; the container is not.
    let again = deployment
        .run(
            &engine,
            &plugin,
            &[("behavior", "lifecycle"), ("host-port", &port_text)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&again, GuestError::Conflict(m) if m.contains(&name)),
        "{again:?}"
    );

    let listed = deployment
        .run(&engine, &plugin, &[("behavior", "list")])
        .await
        .unwrap();
    assert_eq!(listed, [format!("{name} ContainerState::Running")]);

    // Logs: the last lines, then only what came after the cursor.
    let first = deployment
        .run(
            &engine,
            &plugin,
            &[("behavior", "logs"), ("container", &name)],
        )
        .await
        .unwrap();
    assert!(first.iter().any(|l| l == "stdout started"), "{first:?}");
    // What the container printed of its secret reaches the guest redacted.
    assert!(
        first.iter().any(|l| l == "stdout greeting: [secret]"),
        "{first:?}"
    );
    assert!(!first.iter().any(|l| l.contains("hello-from-a-secret")));
    let cursor = first.last().unwrap().clone();
    let empty = deployment
        .run(
            &engine,
            &plugin,
            &[
                ("behavior", "logs"),
                ("container", &name),
                ("cursor", &cursor),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        empty,
        ["more=false".to_owned(), cursor.clone()],
        "nothing new yet"
    );
    get(port).await; // httpd -v logs each request to stderr
    get(port).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = |cursor: String, max: &'static str| {
        let (deployment, engine, plugin, name) = (&deployment, &engine, &plugin, &name);
        async move {
            let mut page = deployment
                .run(
                    engine,
                    plugin,
                    &[
                        ("behavior", "logs"),
                        ("container", name),
                        ("cursor", &cursor),
                        ("max-lines", max),
                    ],
                )
                .await
                .unwrap();
            let next = page.pop().unwrap();
            let more = page.pop().unwrap() == "more=true";
            (page, more, next)
        }
    };
    let (all_new, more, _) = logs(cursor.clone(), "1000").await;
    assert!(!more && all_new.len() >= 2, "{all_new:?}");
    assert!(
        all_new.iter().all(|l| l.starts_with("stderr ")),
        "{all_new:?}"
    );
    // Paging one line at a time yields the same lines, none twice, none lost.
    let (mut paged, mut at) = (Vec::new(), cursor.clone());
    for _ in 0..all_new.len() + 1 {
        let (mut lines, more, next) = logs(at, "1").await;
        assert!(lines.len() <= 1);
        paged.append(&mut lines);
        at = next;
        if !more {
            break;
        }
    }
    assert_eq!(paged, all_new);
    let foreign_cursor = deployment
        .run(
            &engine,
            &plugin,
            &[("behavior", "logs"), ("container", &name), ("cursor", "42")],
        )
        .await
        .unwrap_err();
    assert!(matches!(foreign_cursor, GuestError::InvalidInput(_)));

    let down = deployment
        .run(&engine, &plugin, &[("behavior", "teardown")])
        .await
        .unwrap();
    assert_eq!(down, ["container: done", "network: done", "volume: done"]);
    assert!(
        deployment
            .docker
            .inspect_container(&name, None)
            .await
            .is_err()
    );
    // Removing what is gone is done, not an error.
    let twice = deployment
        .run(&engine, &plugin, &[("behavior", "teardown")])
        .await
        .unwrap();
    assert_eq!(twice, ["container: done", "network: done", "volume: done"]);
    deployment.cleanup().await;
}

#[tokio::test]
async fn a_batch_of_ten_creations_runs_and_is_removed() {
    let Some(deployment) = Deployment::new("ten").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    let created = deployment
        .run(
            &engine,
            &plugin,
            &[("behavior", "create-many"), ("count", "10")],
        )
        .await
        .unwrap();
    assert_eq!(created.len(), 10);
    let removed = deployment
        .run(
            &engine,
            &plugin,
            &[("behavior", "remove-many"), ("count", "10")],
        )
        .await
        .unwrap();
    assert!(removed.iter().all(|l| l.ends_with(": done")), "{removed:?}");
    deployment.cleanup().await;
}

#[tokio::test]
async fn escapes_are_refused_with_typed_errors_and_nothing_is_created() {
    let Some(deployment) = Deployment::new("escape").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    // Another tenant's container and volume, without this deployment's labels.
    let other_deployment = format!("{}-other", deployment.ids.deployment);
    let other_tenant: std::collections::HashMap<String, String> = [(
        "dev.komander.deployment".to_owned(),
        other_deployment.clone(),
    )]
    .into();
    let victim = format!("{}-victim", deployment.prefix);
    deployment
        .docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(victim.clone()),
                ..Default::default()
            }),
            ContainerCreateBody {
                image: Some(test_docker::IMAGE.into()),
                labels: Some(other_tenant.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    deployment
        .docker
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(victim.clone()),
            labels: Some(other_tenant),
            ..Default::default()
        })
        .await
        .unwrap();
    // A symlink planted in the deployment's bind folder (no container can mount that folder
    // itself, so only someone with the host's access could): it still leads nowhere.
    let own_binds = deployment.bind_root.path().join(&deployment.ids.deployment);
    std::fs::create_dir_all(&own_binds).unwrap();
    std::os::unix::fs::symlink("/etc", own_binds.join("link")).unwrap();

    type Expect = fn(&GuestError) -> bool;
    /// An escape, the settings it needs, the error it must get and what that error says.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Expect, &'a str);
    let denied: Expect = |e| matches!(e, GuestError::Denied(_));
    let not_found: Expect = |e| matches!(e, GuestError::NotFound(_));
    let invalid: Expect = |e| matches!(e, GuestError::InvalidInput(_));
    let cases: &[Case] = &[
        ("bind-root", &[], denied, "bind source"),
        ("bind-docker-socket", &[], denied, "bind source"),
        ("bind-outside-root", &[], denied, "bind source"),
        (
            "bind-through-symlink",
            &[("source", "link")],
            denied,
            "HostConfig.Mounts[0]",
        ),
        ("host-network", &[], denied, "NetworkingConfig"),
        (
            "container-network",
            &[("victim", &victim)],
            denied,
            "NetworkingConfig",
        ),
        ("public-port", &[], denied, "PortBindings"),
        ("reserved-label", &[], invalid, "reserved"),
        (
            "network-option",
            &[],
            denied,
            "com.docker.network.bridge.name",
        ),
        ("remove-pulled-image", &[], denied, "komander/"),
        ("secret-of-another", &[], denied, "other/DATABASE_URL"),
        (
            "foreign-volume",
            &[("victim", &victim)],
            not_found,
            "not one of this deployment's",
        ),
        (
            "foreign-container",
            &[("victim", &victim)],
            not_found,
            "no container named",
        ),
        (
            "stop-foreign-container",
            &[("victim", &victim)],
            not_found,
            "no container named",
        ),
    ];
    for (escape, extra, expected, says) in cases {
        let mut settings = vec![("behavior", "escape"), ("escape", *escape)];
        settings.extend_from_slice(extra);
        let error = deployment
            .run(&engine, &plugin, &settings)
            .await
            .expect_err(escape);
        let message = format!("{error:?}");
        assert!(expected(&error), "{escape}: {message}");
        assert!(
            message.contains(says),
            "{escape}: {message} should say {says:?}"
        );
        assert!(
            !message.contains(deployment.bind_root.path().to_str().unwrap()),
            "{escape}: refusals never show host paths: {message}"
        );
    }
    assert!(
        deployment
            .docker
            .inspect_container(&format!("{}-escape", deployment.prefix), None)
            .await
            .is_err(),
        "no escape created a container"
    );
    // The victim is untouched: not started.
    let victim_state = deployment
        .docker
        .inspect_container(&victim, None)
        .await
        .unwrap();
    assert_eq!(victim_state.state.unwrap().running, Some(false));
    test_docker::remove_deployment(&deployment.docker, &other_deployment).await;
    deployment.cleanup().await;
}

/// The daemon reads hex digits as the prefix of an image id, and `docker.io/komander/…` as the
/// local `komander/…`: neither reaches another deployment's images.
#[tokio::test]
async fn images_of_other_deployments_are_out_of_reach() {
    let Some(deployment) = Deployment::new("images").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    // Another deployment's build, present on the engine.
    let (theirs, id) = deployment.others_image().await;
    let hex = id.trim_start_matches("sha256:");
    let short = &hex[..4];
    let refused = [
        ("run-image", short.to_owned(), "not by id"),
        ("run-image", hex.to_owned(), "not by id"),
        ("run-image", id.clone(), "not by id"),
        ("pull-image", short.to_owned(), "not by id"),
        ("run-image", theirs.clone(), "images are tagged"),
        (
            "run-image",
            format!("docker.io/{theirs}:latest"),
            "images are tagged",
        ),
        (
            "run-image",
            format!("index.docker.io/{theirs}"),
            "images are tagged",
        ),
        (
            "run-image",
            format!("docker.io/library/{theirs}"),
            "images are tagged",
        ),
        (
            "pull-image",
            format!("docker.io/{theirs}"),
            "images are tagged",
        ),
    ];
    for (escape, image, says) in &refused {
        let error = deployment
            .run(
                &engine,
                &plugin,
                &[("behavior", "escape"), ("escape", escape), ("ref", image)],
            )
            .await
            .expect_err(image);
        assert!(
            matches!(&error, GuestError::Denied(m) if m.contains(says)),
            "{escape} {image}: {error:?}"
        );
    }
    let escape = format!("{}-escape", deployment.prefix);
    assert!(
        deployment
            .docker
            .inspect_container(&escape, None)
            .await
            .is_err(),
        "no container was made of another deployment's image"
    );
    // Public images stay allowed: `busybox` reaches the engine, which does not have it here,
    // and the test image under Docker Hub's name is the local one.
    let missing = deployment
        .run(
            &engine,
            &plugin,
            &[
                ("behavior", "escape"),
                ("escape", "run-image"),
                ("ref", "busybox"),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, GuestError::NotFound(m) if m.contains("busybox")),
        "{missing:?}"
    );
    let public = format!("docker.io/{}", test_docker::IMAGE);
    let created = deployment
        .run(
            &engine,
            &plugin,
            &[
                ("behavior", "escape"),
                ("escape", "run-image"),
                ("ref", &public),
            ],
        )
        .await
        .unwrap();
    assert!(created[0].starts_with("escape: "), "{created:?}");
    deployment
        .docker
        .remove_image(
            &theirs,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
    deployment.cleanup().await;
}

#[tokio::test]
async fn the_environment_policy_and_build_contexts_apply() {
    use komander_plugin_host::capabilities::docker::ResourceMaximums;

    let Some(deployment) = Deployment::new("policy").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    let grants = ["log", "docker"];
    // Resource maximums: a limit above them, or none at all, is denied.
    let capped = || {
        deployment.context_with(&grants, |scope| {
            scope.with_maximums(ResourceMaximums {
                memory_bytes: Some(512 << 20),
                nano_cpus: None,
            })
        })
    };
    for (escape, says) in [
        ("memory", "above this environment's maximum"),
        ("no-limits", "requires a memory-bytes limit"),
    ] {
        let error = deployment
            .run_in(
                &engine,
                &plugin,
                capped(),
                &[("behavior", "escape"), ("escape", escape)],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&error, GuestError::Denied(m) if m.contains(says)),
            "{error:?}"
        );
    }
    // A target that allows every address lets a port on 0.0.0.0 through.
    let public = deployment.context_with(&grants, |scope| {
        scope.with_publish_addresses(["0.0.0.0".parse().unwrap()])
    });
    let created = deployment
        .run_in(
            &engine,
            &plugin,
            public,
            &[("behavior", "escape"), ("escape", "public-port")],
        )
        .await
        .expect("allowed here");
    assert!(created[0].starts_with("escape: "), "{created:?}");

    // A build from a context the host prepared, tagged under the deployment, then removed.
    let context_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        context_dir.path().join("Dockerfile"),
        format!("FROM {}\nARG GREETING\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo $GREETING > /greeting\"]\n", test_docker::IMAGE),
    )
    .unwrap();
    let tag = format!("komander/{}/app:1", deployment.ids.deployment);
    let with_context = || {
        deployment.context_with(&grants, |scope| {
            scope.with_build_context("ctx-1", context_dir.path().to_owned())
        })
    };
    let built = deployment
        .run_in(
            &engine,
            &plugin,
            with_context(),
            &[("behavior", "build"), ("context", "ctx-1"), ("tag", &tag)],
        )
        .await
        .unwrap();
    assert!(built[0].starts_with("build: sha256:"), "{built:?}");
    let image = deployment.docker.inspect_image(&tag).await.unwrap();
    let labels = image.config.unwrap().labels.unwrap();
    assert_eq!(labels["dev.komander.deployment"], deployment.ids.deployment);
    assert_eq!(labels["app"], "built");
    let removed = deployment
        .run_in(
            &engine,
            &plugin,
            with_context(),
            &[
                ("behavior", "build"),
                ("context", "ctx-1"),
                ("tag", &tag),
                ("remove", "yes"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(removed[1], "remove: done");
    assert!(deployment.docker.inspect_image(&tag).await.is_err());
    // A context the host did not prepare fails that operation; another deployment's tag is
    // refused before anything runs.
    let unknown = deployment
        .run_in(
            &engine,
            &plugin,
            with_context(),
            &[("behavior", "build"), ("context", "ctx-2"), ("tag", &tag)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, GuestError::NotFound(m) if m.contains("ctx-2")),
        "{unknown:?}"
    );
    let foreign = deployment
        .run_in(
            &engine,
            &plugin,
            with_context(),
            &[
                ("behavior", "build"),
                ("context", "ctx-1"),
                ("tag", "komander/other/app:1"),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(foreign, GuestError::InvalidInput(_)),
        "{foreign:?}"
    );
    deployment.cleanup().await;
}

/// A Dockerfile could build on another deployment's image (`FROM komander/<other>/web`): the
/// Dockerfile is read from the context and each image it names is checked before the build
/// starts.
#[tokio::test]
async fn a_dockerfile_of_another_deployments_image_is_refused_before_the_build() {
    let Some(deployment) = Deployment::new("dockerfile").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    let (theirs, id) = deployment.others_image().await;
    let short = &id.trim_start_matches("sha256:")[..4];
    let tag = format!("komander/{}/app:1", deployment.ids.deployment);
    let context_dir = tempfile::tempdir().unwrap();
    let build = |dockerfile: Option<&'static str>| {
        let context = deployment.context_with(&["log", "docker"], |scope| {
            scope.with_build_context("ctx-1", context_dir.path().to_owned())
        });
        let mut settings = vec![
            ("behavior", "build"),
            ("context", "ctx-1"),
            ("tag", tag.as_str()),
        ];
        settings.extend(dockerfile.map(|d| ("dockerfile", d)));
        let (deployment, engine, plugin) = (&deployment, &engine, &plugin);
        async move { deployment.run_in(engine, plugin, context, &settings).await }
    };
    let write = |name: &str, text: &str| {
        let path = context_dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let own = test_docker::IMAGE;
    for (dockerfile, says) in [
        (format!("FROM {theirs}\n"), "line 1 (FROM)"),
        (
            format!("FROM docker.io/{theirs}:latest AS base\n"),
            "line 1 (FROM)",
        ),
        (
            format!("ARG BASE={theirs}\nFROM ${{BASE}}\n"),
            "line 2 (FROM)",
        ),
        (format!("FROM {short}\n"), "not by id"),
        (
            format!("FROM {own} AS a\nCOPY --from={theirs} /bin/busybox /stolen\n"),
            "line 2 (COPY --from)",
        ),
        (
            format!("FROM {own}\nRUN --mount=type=bind,from={theirs},target=/x true\n"),
            "RUN --mount from",
        ),
        (
            "ARG BASE\nFROM $BASE\n".to_owned(),
            "\"BASE\", which is not set",
        ),
        ("# escape=`\nFROM busybox\n".to_owned(), "escape directive"),
    ] {
        write("Dockerfile", &dockerfile);
        let error = build(None).await.unwrap_err();
        assert!(
            matches!(&error, GuestError::Denied(m) if m.contains(says)),
            "{dockerfile}: {error:?}"
        );
        assert!(
            deployment.docker.inspect_image(&tag).await.is_err(),
            "{dockerfile}: nothing was built"
        );
    }
    // The `dockerfile` option is what is read; the file at the root is not.
    write("Dockerfile", &format!("FROM {own}\n"));
    write("sub/web.Dockerfile", &format!("FROM {theirs}\n"));
    let error = build(Some("sub/web.Dockerfile")).await.unwrap_err();
    assert!(
        matches!(&error, GuestError::Denied(m) if m.contains("sub/web.Dockerfile")),
        "{error:?}"
    );
    // A Dockerfile is read inside the context only: not through a symlink.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("Dockerfile"), format!("FROM {own}\n")).unwrap();
    std::os::unix::fs::symlink(outside.path(), context_dir.path().join("linked")).unwrap();
    let error = build(Some("linked/Dockerfile")).await.unwrap_err();
    assert!(
        matches!(&error, GuestError::Denied(m) if m.contains("symlink")),
        "{error:?}"
    );
    assert!(deployment.docker.inspect_image(&tag).await.is_err());
    // Its own images and public ones stay allowed: a multi-stage build from the test image.
    write(
        "Dockerfile",
        &format!(
            "ARG BASE={own}\nFROM ${{BASE}} AS first\nFROM first\nCOPY --from=first /bin/busybox /copied\n"
        ),
    );
    let built = build(None).await.unwrap();
    assert!(built[0].starts_with("build: sha256:"), "{built:?}");
    deployment
        .docker
        .remove_image(
            &theirs,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
    deployment
        .docker
        .remove_image(
            &tag,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
    deployment.cleanup().await;
}

/// Build contexts are streamed to the engine, not held in memory; one over the cap stops the stream and fails the build with a clear error (a sparse file makes it
/// big without using the disk).
#[tokio::test]
async fn a_build_context_over_the_cap_is_refused_with_a_clear_error() {
    use komander_plugin_host::capabilities::docker::BUILD_CONTEXT_BYTES;

    let Some(deployment) = Deployment::new("bigcontext").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    let context_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        context_dir.path().join("Dockerfile"),
        format!("FROM {}\nCOPY big /big\n", test_docker::IMAGE),
    )
    .unwrap();
    std::fs::File::create(context_dir.path().join("big"))
        .unwrap()
        .set_len(BUILD_CONTEXT_BYTES as u64 + (1 << 20))
        .unwrap();
    let tag = format!("komander/{}/big:1", deployment.ids.deployment);
    let context = deployment.context_with(&["log", "docker"], |scope| {
        scope.with_build_context("ctx-1", context_dir.path().to_owned())
    });
    let error = deployment
        .run_in(
            &engine,
            &plugin,
            context,
            &[("behavior", "build"), ("context", "ctx-1"), ("tag", &tag)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, GuestError::InvalidInput(m) if m.contains(&format!("larger than {BUILD_CONTEXT_BYTES} bytes"))),
        "{error:?}"
    );
    assert!(deployment.docker.inspect_image(&tag).await.is_err());
    deployment.cleanup().await;
}

#[tokio::test]
async fn docker_without_its_grant_or_a_scope_answers_typed_errors() {
    let Some(deployment) = Deployment::new("grant").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    let spec = spec(&[("behavior", "list")]);
    let ungranted = engine
        .validate(&plugin, deployment.context(&["log"]), spec.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&ungranted, RuntimeCallError::Guest { error: GuestError::Denied(m), .. } if m.contains("docker")),
        "{ungranted:?}"
    );
    let no_scope = loading::call(PLUGIN, &["docker"]).build();
    let unscoped = engine.validate(&plugin, no_scope, spec).await.unwrap_err();
    assert!(
        matches!(
            &unscoped,
            RuntimeCallError::Guest {
                error: GuestError::Unavailable(_),
                ..
            }
        ),
        "{unscoped:?}"
    );
}
