//! A `docker-runtime` plugin that does with the `docker` capability what the deployment's
//! `behavior` setting asks: run a deployment's lifecycle as batches, create or remove many
//! containers at once (the benchmark), read logs by cursor, or try one of the escapes the host
//! must refuse (`escape` setting). `validate` answers one line per result.

use komander_plugin_sdk::{
    docker::{
        engine,
        types::{
            BindMount, ContainerRemove, ContainerSpec, ImageBuild, ImagePull, Mount,
            NetworkAttachment, NetworkSpec, OpOutput, Operation, OperationEntry, Outcome,
            PortBinding, PullPolicy, Resources, RestartPolicy, VolumeMount, VolumeSpec,
        },
    },
    runtime::{
        BuildContextRef, DeploymentSpec, EnvValue, EnvVar, Error, LogSource, Protocol, Runtime,
        SecretRef,
    },
};

struct TestDockerGuest;

fn entry(id: &str, depends_on: &[&str], op: Operation) -> OperationEntry {
    OperationEntry {
        id: id.into(),
        depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        op,
    }
}

/// A container running `command` from `image`, with nothing else.
fn container(name: String, image: &str, command: &[&str]) -> ContainerSpec {
    ContainerSpec {
        name,
        image: image.into(),
        command: Some(command.iter().map(|c| c.to_string()).collect()),
        entrypoint: None,
        env: vec![],
        working_dir: None,
        user: None,
        hostname: None,
        ports: vec![],
        mounts: vec![],
        networks: vec![],
        restart: RestartPolicy::No,
        healthcheck: None,
        labels: vec![],
        resources: Resources {
            memory_bytes: None,
            nano_cpus: None,
        },
    }
}

/// Runs a batch and renders each result as `id: output`, or answers the first failure.
fn run(batch: Vec<OperationEntry>) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    for result in engine::run_batch(&batch)? {
        let line = match result.outcome {
            Outcome::Ok(OpOutput::Done) => "done".to_owned(),
            Outcome::Ok(OpOutput::Image(id) | OpOutput::Network(id) | OpOutput::Container(id)) => {
                id
            }
            Outcome::Ok(OpOutput::Volume(name)) => name,
            Outcome::Ok(OpOutput::Inspected(info)) => format!(
                "{:?} {:?} ports={}",
                info.summary.state,
                info.summary.health,
                info.summary
                    .ports
                    .iter()
                    .map(|p| format!(
                        "{}:{}",
                        p.host_ip.clone().unwrap_or_default(),
                        p.host_port.unwrap_or(0)
                    ))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Outcome::Failed(error) => return Err(error),
            Outcome::Skipped => "skipped".to_owned(),
        };
        lines.push(format!("{}: {line}", result.id));
    }
    Ok(lines)
}

/// The deployment's network, volume and web server: created, started and inspected in one
/// batch whose dependencies let the network and volume be made together.
fn lifecycle(spec: &DeploymentSpec) -> Result<Vec<String>, Error> {
    let prefix = spec.required_setting("prefix")?;
    let image = spec.required_setting("image")?;
    let port: u16 = spec
        .required_setting("host-port")?
        .parse()
        .map_err(|_| Error::InvalidInput("host-port is not a port".into()))?;
    let mut web = container(
        format!("{prefix}-web"),
        image,
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "echo $GREETING > /srv/index.html; echo started; echo \"greeting: $GREETING\"; exec /bin/busybox httpd -f -v -p 80 -h /srv",
        ],
    );
    web.env = vec![EnvVar {
        name: "GREETING".into(),
        value: EnvValue::Secret(SecretRef {
            name: "web/GREETING".into(),
        }),
    }];
    web.ports = vec![PortBinding {
        container_port: 80,
        protocol: Protocol::Tcp,
        host_port: Some(port),
        host_ip: None,
    }];
    web.mounts = vec![Mount::Volume(VolumeMount {
        name: format!("{prefix}-data"),
        target: "/srv".into(),
        read_only: false,
    })];
    web.networks = vec![NetworkAttachment {
        network: format!("{prefix}-net"),
        aliases: vec!["web".into()],
    }];
    web.labels = vec![("app".into(), "web".into())];
    run(vec![
        entry(
            "network",
            &[],
            Operation::CreateNetwork(NetworkSpec {
                name: format!("{prefix}-net"),
                internal: false,
                labels: vec![],
                options: vec![],
            }),
        ),
        entry(
            "volume",
            &[],
            Operation::CreateVolume(VolumeSpec {
                name: format!("{prefix}-data"),
                labels: vec![],
            }),
        ),
        entry(
            "create",
            &["network", "volume"],
            Operation::CreateContainer(web),
        ),
        entry(
            "start",
            &["create"],
            Operation::StartContainer(format!("{prefix}-web")),
        ),
        entry(
            "inspect",
            &["start"],
            Operation::InspectContainer(format!("{prefix}-web")),
        ),
    ])
}

/// Removes what `lifecycle` made, the container before its network and volume.
fn teardown(spec: &DeploymentSpec) -> Result<Vec<String>, Error> {
    let prefix = spec.required_setting("prefix")?;
    run(vec![
        entry(
            "container",
            &[],
            Operation::RemoveContainer(ContainerRemove {
                name: format!("{prefix}-web"),
                force: true,
            }),
        ),
        entry(
            "network",
            &["container"],
            Operation::RemoveNetwork(format!("{prefix}-net")),
        ),
        entry(
            "volume",
            &["container"],
            Operation::RemoveVolume(format!("{prefix}-data")),
        ),
    ])
}

fn count(spec: &DeploymentSpec) -> Result<usize, Error> {
    spec.required_setting("count")?
        .parse()
        .map_err(|_| Error::InvalidInput("count is not a number".into()))
}

/// One batch of `count` independent container creations, `<prefix>-0` and on.
fn create_many(spec: &DeploymentSpec) -> Result<Vec<String>, Error> {
    let (prefix, image) = (
        spec.required_setting("prefix")?,
        spec.required_setting("image")?,
    );
    run((0..count(spec)?)
        .map(|i| {
            let name = format!("{prefix}-{i}");
            entry(
                &name.clone(),
                &[],
                Operation::CreateContainer(container(
                    name,
                    image,
                    &["/bin/busybox", "sleep", "600"],
                )),
            )
        })
        .collect())
}

/// One batch removing `<prefix>-0` and on, forcibly.
fn remove_many(spec: &DeploymentSpec) -> Result<Vec<String>, Error> {
    let prefix = spec.required_setting("prefix")?;
    run((0..count(spec)?)
        .map(|i| {
            let name = format!("{prefix}-{i}");
            entry(
                &name.clone(),
                &[],
                Operation::RemoveContainer(ContainerRemove { name, force: true }),
            )
        })
        .collect())
}

/// One request that tries to leave the sandbox, named by the `escape` setting.
fn escape(spec: &DeploymentSpec) -> Result<Vec<String>, Error> {
    let image = spec.setting("image").unwrap_or("busybox");
    // Named under the test's prefix, so tests running side by side never share it.
    let name = format!("{}-escape", spec.required_setting("prefix")?);
    let mut evil = container(name.clone(), image, &["/bin/busybox", "true"]);
    let bind = |source: &str| {
        Mount::Bind(BindMount {
            source: source.into(),
            target: "/host".into(),
            read_only: false,
        })
    };
    let op = match spec.required_setting("escape")? {
        "bind-root" => {
            evil.mounts = vec![bind("/")];
            Operation::CreateContainer(evil)
        }
        "bind-docker-socket" => {
            evil.mounts = vec![bind("/var/run/docker.sock")];
            Operation::CreateContainer(evil)
        }
        "bind-outside-root" => {
            evil.mounts = vec![bind("../../../../etc")];
            Operation::CreateContainer(evil)
        }
        "bind-through-symlink" => {
            evil.mounts = vec![bind(spec.required_setting("source")?)];
            Operation::CreateContainer(evil)
        }
        "host-network" | "container-network" => {
            let network = if spec.required_setting("escape")? == "host-network" {
                "host".to_owned()
            } else {
                format!("container:{}", spec.required_setting("victim")?)
            };
            evil.networks = vec![NetworkAttachment {
                network,
                aliases: vec![],
            }];
            Operation::CreateContainer(evil)
        }
        "public-port" => {
            evil.ports = vec![PortBinding {
                container_port: 80,
                protocol: Protocol::Tcp,
                host_port: None,
                host_ip: Some("0.0.0.0".into()),
            }];
            Operation::CreateContainer(evil)
        }
        "memory" => {
            evil.resources.memory_bytes = Some(1 << 30);
            Operation::CreateContainer(evil)
        }
        "no-limits" => Operation::CreateContainer(evil),
        "reserved-label" => {
            evil.labels = vec![("dev.komander.deployment".into(), "someone-else".into())];
            Operation::CreateContainer(evil)
        }
        "foreign-volume" => {
            evil.mounts = vec![Mount::Volume(VolumeMount {
                name: spec.required_setting("victim")?.into(),
                target: "/stolen".into(),
                read_only: true,
            })];
            Operation::CreateContainer(evil)
        }
        "foreign-container" => Operation::InspectContainer(spec.required_setting("victim")?.into()),
        "stop-foreign-container" => {
            Operation::StartContainer(spec.required_setting("victim")?.into())
        }
        "network-option" => Operation::CreateNetwork(NetworkSpec {
            name,
            internal: false,
            labels: vec![],
            options: vec![("com.docker.network.bridge.name".into(), "docker0".into())],
        }),
        "remove-pulled-image" => Operation::RemoveImage(image.into()),
        "run-image" => {
            evil.image = spec.required_setting("ref")?.into();
            Operation::CreateContainer(evil)
        }
        "pull-image" => Operation::PullImage(ImagePull {
            image: spec.required_setting("ref")?.into(),
            policy: PullPolicy::IfMissing,
            platform: None,
        }),
        "secret-of-another" => {
            evil.env = vec![EnvVar {
                name: "STOLEN".into(),
                value: EnvValue::Secret(SecretRef {
                    name: "other/DATABASE_URL".into(),
                }),
            }];
            Operation::CreateContainer(evil)
        }
        other => return Err(Error::InvalidInput(format!("unknown escape {other:?}"))),
    };
    run(vec![entry("escape", &[], op)])
}

/// Builds the image tagged by the `tag` setting from the build context `context` (with the
/// Dockerfile `dockerfile`, when set), then removes it when `remove` is set; answers the image
/// id and what the removal did.
fn build(spec: &DeploymentSpec) -> Result<Vec<String>, Error> {
    let tag = spec.required_setting("tag")?;
    let mut batch = vec![entry(
        "build",
        &[],
        Operation::BuildImage(ImageBuild {
            context: BuildContextRef {
                id: spec.required_setting("context")?.into(),
                description: "the test context".into(),
            },
            dockerfile: spec.setting("dockerfile").map(Into::into),
            tag: tag.into(),
            build_args: vec![("GREETING".into(), "built".into())],
            target: None,
            labels: vec![("app".into(), "built".into())],
        }),
    )];
    if spec.setting("remove").is_some() {
        batch.push(entry(
            "remove",
            &["build"],
            Operation::RemoveImage(tag.into()),
        ));
    }
    run(batch)
}

/// A page of a container's log, then the cursor on its own line.
fn logs(spec: &DeploymentSpec) -> Result<Vec<String>, Error> {
    let max: u32 = spec
        .setting("max-lines")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100);
    let page = engine::logs(
        spec.required_setting("container")?,
        spec.setting("cursor"),
        max,
    )?;
    let mut lines: Vec<String> = page
        .entries
        .into_iter()
        .map(|e| {
            let source = match e.source {
                LogSource::Stdout => "stdout",
                LogSource::Stderr => "stderr",
            };
            format!("{source} {}", e.line)
        })
        .collect();
    lines.push(format!("more={}", page.more));
    lines.push(page.next);
    Ok(lines)
}

/// The deployment's containers carrying `app=web`, one `name state` line each.
fn list() -> Result<Vec<String>, Error> {
    Ok(engine::list_containers(&[("app".into(), "web".into())])?
        .into_iter()
        .map(|c| format!("{} {:?}", c.name, c.state))
        .collect())
}

impl Runtime for TestDockerGuest {
    fn validate(spec: DeploymentSpec) -> Result<Vec<String>, Error> {
        match spec.setting("behavior").unwrap_or("lifecycle") {
            "lifecycle" => lifecycle(&spec),
            "teardown" => teardown(&spec),
            "create-many" => create_many(&spec),
            "remove-many" => remove_many(&spec),
            "escape" => escape(&spec),
            "build" => build(&spec),
            "logs" => logs(&spec),
            "list" => list(),
            other => Err(Error::InvalidInput(format!("unknown behavior {other:?}"))),
        }
    }
}

komander_plugin_sdk::export_runtime!(TestDockerGuest, manifest = "komander-plugin.toml");
