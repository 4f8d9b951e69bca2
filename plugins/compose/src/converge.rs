//! Bringing the engine to the spec: `plan`, `apply-step` and `start-step`.
//!
//! Each step reads what runs, decides for every container of every service what to do
//! ([`Action`]) and runs one batch. Services are taken in dependency order ([`order`]): a
//! service is acted on only once each service it depends on meets its condition. A `started`
//! dependency acted on in the same step is waited for inside the batch; a `healthy` or
//! `completed-successfully` one can only be seen in a later step, so the step ends with a
//! continuation and the host calls again. The continuation holds when the wait began and the
//! image ids that this apply's `pull: always` pulls found; everything else is read again from
//! the engine, so a step is safe to repeat.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{SystemTime, UNIX_EPOCH},
};

use komander_plugin_sdk::{
    docker::types::{
        ContainerRemove, ContainerSpec, ContainerState, ContainerSummary, Health, Healthcheck,
        ImageBuild, ImagePull, Mount, NetworkAttachment, NetworkSpec, OpOutput, Operation,
        OperationEntry, Outcome, PortBinding, PullPolicy as DockerPull, Resources,
        RestartPolicy as DockerRestart, VolumeMount, VolumeSpec,
    },
    host::progress,
    runtime::{
        Change, ChangeAction, DependencyCondition, DeploymentPlan, DeploymentSpec, Error,
        HealthCheck, PullPolicy, RestartPolicy, ServiceSource, ServiceSpec, StepResult,
    },
};

use crate::{PROGRESS_LINES, Replicas, entry, finished, label, names, order, run, running};

/// What a step may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `apply-step`: create, replace, start and remove until the engine runs the spec.
    Apply,
    /// `start-step`: only start containers that exist.
    Start,
}

/// What a step does to one container of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    /// It is what the spec asks for, and runs (or ran to completion).
    Keep,
    /// It is what the spec asks for but does not run.
    Start,
    /// There is none yet.
    Create,
    /// It was made from another spec (the reason says how), or its image changed: a pull
    /// found another image, or its reference now names another image on the engine.
    Replace(String),
}

/// Whether a container that exited with status 0 is a job that completed, and stays as it is
/// (an apply or a start does not run it again): a service that another waits on to complete
/// successfully (a migration, say), whose restart policy does not restart it after a clean
/// exit. Any other stopped container is started again.
fn completed(spec: &DeploymentSpec, service: &ServiceSpec, c: &ContainerSummary) -> bool {
    c.state == ContainerState::Exited
        && c.status.starts_with("Exited (0)")
        && matches!(
            service.restart,
            RestartPolicy::No | RestartPolicy::OnFailure(_)
        )
        && spec.services.iter().any(|s| {
            s.depends_on.iter().any(|d| {
                d.service == service.name
                    && d.condition == DependencyCondition::CompletedSuccessfully
            })
        })
}

fn action(
    spec: &DeploymentSpec,
    service: &ServiceSpec,
    current: Option<&ContainerSummary>,
    pulled: Option<&str>,
) -> Action {
    let Some(c) = current else {
        return Action::Create;
    };
    if label(c, names::SPEC_HASH_LABEL) != Some(&names::spec_hash(spec, service)) {
        let fields = names::fields(spec, service);
        return Action::Replace(names::changes(label(c, names::SPEC_LABEL), &fields));
    }
    if let Some(id) = pulled
        && id != c.image_id
    {
        return Action::Replace(format!(
            "image changed: {} moved from {} to {id}",
            names::image(spec, service),
            c.image_id
        ));
    }
    // Docker lists a container's image by id instead of by its reference once the reference
    // names another image (a tag moved on the engine) or none at all.
    if let ServiceSource::Image(reference) = &service.source
        && !c.image_id.is_empty()
        && c.image == c.image_id
        && *reference != c.image_id
    {
        return Action::Replace(format!(
            "image changed: {reference} no longer names {}",
            c.image_id
        ));
    }
    match c.state {
        ContainerState::Running | ContainerState::Restarting => Action::Keep,
        _ if completed(spec, service, c) => Action::Keep,
        ContainerState::Created | ContainerState::Exited => Action::Start,
        // Paused, dead or being removed: Docker will not start it; a new one replaces it.
        _ => Action::Replace(format!("its container is {:?}", c.state).to_lowercase()),
    }
}

/// The actions on each replica of `service` (1 to its replicas).
fn actions(
    spec: &DeploymentSpec,
    service: &ServiceSpec,
    current: Option<&Replicas>,
    pulled: Option<&str>,
) -> Vec<(u32, Action)> {
    (1..=service.replicas.max(1))
        .map(|n| {
            let c = current.and_then(|r| r.get(&n));
            (n, action(spec, service, c, pulled))
        })
        .collect()
}

/// Containers of the deployment that no replica of its spec is: services gone from the spec,
/// and replicas above a service's count.
fn surplus<'a>(
    spec: &DeploymentSpec,
    current: &'a BTreeMap<String, Replicas>,
) -> Vec<(String, &'a ContainerSummary)> {
    current
        .iter()
        .flat_map(|(name, replicas)| {
            let wanted = spec
                .services
                .iter()
                .find(|s| &s.name == name)
                .map_or(0, |s| s.replicas.max(1));
            replicas
                .iter()
                .filter(move |(n, _)| **n > wanted)
                .map(move |(n, c)| (format!("remove:{name}:{n}"), c))
        })
        .collect()
}

/// The problems of a health check this runtime cannot pass on (Docker takes milliseconds as
/// 32 bits), each naming the service and the field.
pub fn health_check_problems(service: &str, check: &HealthCheck) -> Vec<String> {
    let mut problems = Vec::new();
    if check.command.is_empty() {
        problems.push(format!(
            "service {service}: the health check has no command"
        ));
    }
    for (field, ms) in [
        ("interval-ms", check.interval_ms),
        ("timeout-ms", check.timeout_ms),
        ("start-period-ms", check.start_period_ms),
    ] {
        if u32::try_from(ms).is_err() {
            problems.push(format!(
                "service {service}: health check {field} {ms} is above {}",
                u32::MAX
            ));
        }
    }
    problems
}

/// Milliseconds as Docker's 32-bit field; `validate` refuses larger ones.
fn ms(value: u64) -> Option<u32> {
    Some(u32::try_from(value).unwrap_or(u32::MAX))
}

/// The container of replica `replica` of a service.
fn container(spec: &DeploymentSpec, service: &ServiceSpec, replica: u32) -> ContainerSpec {
    let fields = names::fields(spec, service);
    ContainerSpec {
        name: names::container(spec, &service.name, replica),
        image: names::image(spec, service),
        command: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: service.env.clone(),
        working_dir: service.working_dir.clone(),
        user: service.user.clone(),
        hostname: Some(service.name.clone()),
        ports: service
            .ports
            .iter()
            .filter(|p| p.host_port.is_some())
            .map(|p| PortBinding {
                container_port: p.container_port,
                protocol: p.protocol,
                host_port: p.host_port,
                host_ip: p.host_address.clone(),
            })
            .collect(),
        mounts: service
            .volumes
            .iter()
            .map(|v| {
                Mount::Volume(VolumeMount {
                    name: names::volume(spec, &v.name),
                    target: v.target.clone(),
                    read_only: v.read_only,
                })
            })
            .collect(),
        networks: vec![NetworkAttachment {
            network: names::network(spec),
            aliases: vec![service.name.clone()],
        }],
        restart: match service.restart {
            RestartPolicy::No => DockerRestart::No,
            RestartPolicy::Always => DockerRestart::Always,
            // komander:docker@0.1 has no most-retries: Docker retries without limit.
            RestartPolicy::OnFailure(_) => DockerRestart::OnFailure,
            RestartPolicy::UnlessStopped => DockerRestart::UnlessStopped,
        },
        healthcheck: service.health_check.as_ref().map(|check| Healthcheck {
            test: check.command.clone(),
            interval_ms: ms(check.interval_ms),
            timeout_ms: ms(check.timeout_ms),
            retries: Some(check.retries),
            start_period_ms: ms(check.start_period_ms),
        }),
        labels: vec![
            (names::PROJECT_LABEL.into(), names::project(spec)),
            (names::SERVICE_LABEL.into(), service.name.clone()),
            (names::REPLICA_LABEL.into(), replica.to_string()),
            ("com.docker.compose.oneoff".into(), "False".into()),
            (
                names::SPEC_HASH_LABEL.into(),
                names::spec_hash(spec, service),
            ),
            (names::SPEC_LABEL.into(), names::spec_label(&fields)),
        ],
        resources: Resources {
            memory_bytes: service.memory_bytes,
            nano_cpus: service.nano_cpus,
        },
    }
}

/// `plan`: every container an apply would create, replace, start or remove, with why.
pub fn plan(spec: &DeploymentSpec) -> Result<DeploymentPlan, Error> {
    let current = running()?;
    let mut changes = Vec::new();
    for service in order::services(spec)? {
        for (n, action) in actions(spec, service, current.get(&service.name), None) {
            let (action, reason) = match action {
                Action::Keep => continue,
                Action::Start => (ChangeAction::Update, "not running: start it".to_owned()),
                Action::Create if n == 1 => (ChangeAction::Create, "new service".to_owned()),
                Action::Create => (ChangeAction::Create, format!("replica {n} added")),
                Action::Replace(why) => (ChangeAction::Update, format!("{why}: replace it")),
            };
            changes.push(Change {
                action,
                kind: "container".into(),
                name: names::container(spec, &service.name, n),
                reason,
            });
        }
    }
    for (_, c) in surplus(spec, &current) {
        let gone = label(c, names::SERVICE_LABEL)
            .is_none_or(|s| !spec.services.iter().any(|x| x.name == s));
        changes.push(Change {
            action: ChangeAction::Delete,
            kind: "container".into(),
            name: c.name.clone(),
            reason: if gone {
                "no longer in the deployment".into()
            } else {
                "replica no longer wanted".into()
            },
        });
    }
    Ok(DeploymentPlan { changes })
}

/// The first line of every continuation this runtime issues: the format's version.
const CONTINUATION_HEADER: &str = "komander.compose/converge/1";

/// How long a step waits, across steps, for a dependency to meet its condition before it
/// fails: a dependency still starting after this is taken as stuck.
const WAIT_LIMIT_MS: u64 = 10 * 60 * 1000;

/// What a step hands the next: when it began waiting, and the image ids this apply's
/// `pull: always` pulls found, by service.
#[derive(Debug, Default, PartialEq, Eq)]
struct Continuation {
    waiting_since_ms: Option<u64>,
    pulled: BTreeMap<String, String>,
}

impl Continuation {
    fn encode(&self) -> Vec<u8> {
        let mut text = format!("{CONTINUATION_HEADER}\n");
        if let Some(since) = self.waiting_since_ms {
            text.push_str(&format!("since {since}\n"));
        }
        for (service, id) in &self.pulled {
            text.push_str(&format!("pulled {service} {id}\n"));
        }
        text.into_bytes()
    }

    fn decode(bytes: &[u8]) -> Result<Continuation, Error> {
        let bad = || Error::InvalidInput("this continuation is not one this runtime issued".into());
        let text = std::str::from_utf8(bytes).map_err(|_| bad())?;
        let mut lines = text.lines();
        if lines.next() != Some(CONTINUATION_HEADER) {
            return Err(bad());
        }
        let mut continuation = Continuation::default();
        for line in lines {
            match line.split(' ').collect::<Vec<_>>().as_slice() {
                ["since", ms] => {
                    continuation.waiting_since_ms = Some(ms.parse().map_err(|_| bad())?)
                }
                ["pulled", service, id] => {
                    continuation
                        .pulled
                        .insert((*service).to_owned(), (*id).to_owned());
                }
                _ => return Err(bad()),
            }
        }
        Ok(continuation)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether a dependency meets its condition now, by its containers.
enum Readiness {
    /// It does.
    Ready,
    /// Not yet: why, for people.
    Wait(String),
    /// It never will in this apply: why.
    Never(String),
}

fn readiness(
    spec: &DeploymentSpec,
    dependency: &ServiceSpec,
    condition: DependencyCondition,
    containers: Option<&Replicas>,
    mode: Mode,
) -> Readiness {
    let name = &dependency.name;
    let all: Vec<&ContainerSummary> = containers.map(|r| r.values().collect()).unwrap_or_default();
    if all.is_empty() {
        // A start creates nothing: a dependency with nothing deployed is nothing to wait for.
        return if mode == Mode::Start {
            Readiness::Ready
        } else {
            Readiness::Wait(format!("{name} has no container yet"))
        };
    }
    let exited_with = |c: &ContainerSummary| {
        (c.state == ContainerState::Exited).then(|| {
            c.status
                .strip_prefix("Exited (")
                .and_then(|rest| rest.split(')').next())
                .unwrap_or("?")
                .to_owned()
        })
    };
    match condition {
        DependencyCondition::Started => {
            if all.iter().all(|c| {
                matches!(
                    c.state,
                    ContainerState::Running | ContainerState::Restarting
                ) || completed(spec, dependency, c)
            }) {
                Readiness::Ready
            } else {
                Readiness::Wait(format!("{name} to start"))
            }
        }
        DependencyCondition::Healthy => {
            if let Some(code) = all.iter().find_map(|c| exited_with(c)) {
                Readiness::Never(format!(
                    "{name} exited with code {code} before it was healthy"
                ))
            } else if all.iter().any(|c| c.health == Health::Unhealthy) {
                Readiness::Never(format!("{name} is unhealthy"))
            } else if all
                .iter()
                .all(|c| c.state == ContainerState::Running && c.health == Health::Healthy)
            {
                Readiness::Ready
            } else {
                Readiness::Wait(format!("{name} to be healthy"))
            }
        }
        DependencyCondition::CompletedSuccessfully => {
            let codes: Vec<Option<String>> = all.iter().map(|c| exited_with(c)).collect();
            if let Some(code) = codes.iter().flatten().find(|code| *code != "0") {
                Readiness::Never(format!("{name} exited with code {code}"))
            } else if codes.iter().all(Option::is_some) {
                Readiness::Ready
            } else {
                Readiness::Wait(format!("{name} to complete"))
            }
        }
    }
}

/// Pulls the images of the services with `pull: always`, answering the image id each found.
fn pull_always(spec: &DeploymentSpec) -> Result<BTreeMap<String, String>, Error> {
    let mut batch = Vec::new();
    for service in &spec.services {
        if let (ServiceSource::Image(image), PullPolicy::Always) = (&service.source, service.pull) {
            batch.push(entry(
                format!("pull:{}", service.name),
                vec![],
                Operation::PullImage(ImagePull {
                    image: image.clone(),
                    policy: DockerPull::Always,
                    platform: None,
                }),
            ));
        }
    }
    let mut pulled = BTreeMap::new();
    for result in run(batch)? {
        if let (Some(service), Outcome::Ok(OpOutput::Image(id))) =
            (result.id.strip_prefix("pull:"), result.outcome)
        {
            pulled.insert(service.to_owned(), id);
        }
    }
    Ok(pulled)
}

/// One step of an apply or a start.
pub fn step(
    spec: &DeploymentSpec,
    continuation: Option<Vec<u8>>,
    mode: Mode,
) -> Result<StepResult, Error> {
    let ordered = order::services(spec)?;
    let mut state = match &continuation {
        Some(bytes) => Continuation::decode(bytes)?,
        None if mode == Mode::Apply => Continuation {
            waiting_since_ms: None,
            pulled: pull_always(spec)?,
        },
        None => Continuation::default(),
    };
    let current = running()?;
    let mut batch: Vec<OperationEntry> = Vec::new();
    let mut lines = Vec::new();
    // The start operations of each service acted on in this step.
    let mut started: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut blocked: BTreeSet<&str> = BTreeSet::new();
    let mut waits = Vec::new();
    let mut needs_network = false;
    let mut volumes: BTreeSet<&str> = BTreeSet::new();
    for service in ordered {
        let mut after = Vec::new();
        let mut ready = true;
        for dependency in &service.depends_on {
            let name = dependency.service.as_str();
            if blocked.contains(name) {
                ready = false;
                continue;
            }
            if let Some(starts) = started.get(name) {
                if dependency.condition == DependencyCondition::Started {
                    after.extend(starts.iter().cloned());
                } else {
                    ready = false;
                    waits.push(format!(
                        "service {} waits for {}",
                        service.name,
                        describe(name, dependency.condition)
                    ));
                }
                continue;
            }
            let Some(other) = spec.services.iter().find(|s| s.name == name) else {
                continue; // order::services refused unknown names
            };
            match readiness(spec, other, dependency.condition, current.get(name), mode) {
                Readiness::Ready => {}
                Readiness::Wait(what) => {
                    ready = false;
                    waits.push(format!("service {} waits for {what}", service.name));
                }
                Readiness::Never(why) => {
                    return Err(Error::Conflict(format!(
                        "service {} depends on {name}, which will not be {}: {why}",
                        service.name,
                        condition_word(dependency.condition)
                    )));
                }
            }
        }
        let pulled = state.pulled.get(&service.name).map(String::as_str);
        let mut image_ready: Option<String> = None;
        if !ready {
            blocked.insert(&service.name);
            if mode == Mode::Apply {
                // Its new containers are created now and only started once what they wait
                // for is ready, as Compose does: the wait then costs only the starts.
                for (n, action) in actions(spec, service, current.get(&service.name), pulled) {
                    if !matches!(action, Action::Create) {
                        continue;
                    }
                    needs_network = true;
                    volumes.extend(service.volumes.iter().map(|v| v.name.as_str()));
                    let image = image_entry(&mut batch, &mut image_ready, spec, service);
                    let name = names::container(spec, &service.name, n);
                    lines.push(format!("created container {name}, to start once it may"));
                    batch.push(entry(
                        format!("create:{}:{n}", service.name),
                        create_needs(service, image, &[]),
                        Operation::CreateContainer(container(spec, service, n)),
                    ));
                }
            }
            continue;
        }
        let mut starts = Vec::new();
        for (n, action) in actions(spec, service, current.get(&service.name), pulled) {
            let name = names::container(spec, &service.name, n);
            let start = format!("start:{}:{n}", service.name);
            match (&action, mode) {
                (Action::Keep, _) => continue,
                (Action::Start, _) => {
                    batch.push(entry(
                        start.clone(),
                        after.clone(),
                        Operation::StartContainer(name.clone()),
                    ));
                    lines.push(format!("started container {name}"));
                    starts.push(start);
                    continue;
                }
                (Action::Create | Action::Replace(_), Mode::Start) => continue,
                (Action::Create | Action::Replace(_), Mode::Apply) => {}
            }
            needs_network = true;
            volumes.extend(service.volumes.iter().map(|v| v.name.as_str()));
            let image = image_entry(&mut batch, &mut image_ready, spec, service);
            let mut create_after = create_needs(service, image, &after);
            if let Action::Replace(why) = &action {
                // The old container goes only once everything the new one needs is there.
                let remove = format!("remove:{}:{n}", service.name);
                batch.push(entry(
                    remove.clone(),
                    create_after.clone(),
                    Operation::RemoveContainer(ContainerRemove {
                        name: name.clone(),
                        force: true,
                    }),
                ));
                create_after.push(remove);
                lines.push(format!("replaced container {name} ({why})"));
            } else {
                lines.push(format!("created container {name}"));
            }
            let create = format!("create:{}:{n}", service.name);
            batch.push(entry(
                create.clone(),
                create_after,
                Operation::CreateContainer(container(spec, service, n)),
            ));
            batch.push(entry(
                start.clone(),
                vec![create],
                Operation::StartContainer(name),
            ));
            starts.push(start);
        }
        if !starts.is_empty() {
            started.insert(&service.name, starts);
        }
    }
    if needs_network {
        batch.push(entry(
            "network".into(),
            vec![],
            Operation::CreateNetwork(NetworkSpec {
                name: names::network(spec),
                internal: false,
                labels: vec![(names::PROJECT_LABEL.into(), names::project(spec))],
                options: vec![],
            }),
        ));
        for volume in volumes {
            batch.push(entry(
                format!("volume:{volume}"),
                vec![],
                Operation::CreateVolume(VolumeSpec {
                    name: names::volume(spec, volume),
                    labels: vec![(names::PROJECT_LABEL.into(), names::project(spec))],
                }),
            ));
        }
    }
    if mode == Mode::Apply {
        for (id, c) in surplus(spec, &current) {
            batch.push(entry(
                id,
                vec![],
                Operation::RemoveContainer(ContainerRemove {
                    name: c.name.clone(),
                    force: true,
                }),
            ));
            lines.push(format!("removed container {}", c.name));
        }
    }
    let total = batch.len() as u32;
    run(batch)?;
    progress::report(
        match mode {
            Mode::Apply => "apply",
            Mode::Start => "start",
        },
        total,
        total,
    );
    if blocked.is_empty() {
        if lines.is_empty() {
            lines.push(match mode {
                Mode::Apply => "nothing to change".into(),
                Mode::Start => "nothing to start".into(),
            });
        }
        return Ok(finished(lines));
    }
    let now = now_ms();
    match state.waiting_since_ms {
        None => {
            // Said once, when the wait begins: later steps only look again.
            lines.extend(waits);
            state.waiting_since_ms = Some(now);
        }
        Some(since) if now.saturating_sub(since) > WAIT_LIMIT_MS => {
            return Err(Error::Conflict(format!(
                "waited {} s, in vain: {}",
                WAIT_LIMIT_MS / 1000,
                waits.join("; ")
            )));
        }
        Some(_) => {}
    }
    lines.truncate(PROGRESS_LINES);
    Ok(StepResult {
        continuation: Some(state.encode()),
        progress: lines,
        done: false,
    })
}

/// The id of the entry that makes `service`'s image ready, pushed onto `batch` the first time
/// (`image_ready` remembers it for the service's other replicas).
fn image_entry(
    batch: &mut Vec<OperationEntry>,
    image_ready: &mut Option<String>,
    spec: &DeploymentSpec,
    service: &ServiceSpec,
) -> String {
    if let Some(id) = image_ready {
        return id.clone();
    }
    let id = format!("image:{}", service.name);
    batch.push(entry(id.clone(), vec![], image_operation(spec, service)));
    *image_ready = Some(id.clone());
    id
}

/// What creating a container of `service` waits for in a batch: its image (`image`), the
/// network, its volumes, and `after`.
fn create_needs(service: &ServiceSpec, image: String, after: &[String]) -> Vec<String> {
    let mut needs = vec![image, "network".to_owned()];
    needs.extend(service.volumes.iter().map(|v| format!("volume:{}", v.name)));
    needs.extend(after.iter().cloned());
    needs
}

/// `healthy`, `started`, `completed successfully`.
fn condition_word(condition: DependencyCondition) -> &'static str {
    match condition {
        DependencyCondition::Started => "started",
        DependencyCondition::Healthy => "healthy",
        DependencyCondition::CompletedSuccessfully => "completed successfully",
    }
}

/// `db to be healthy`, for people.
fn describe(service: &str, condition: DependencyCondition) -> String {
    match condition {
        DependencyCondition::Started => format!("{service} to start"),
        DependencyCondition::Healthy => format!("{service} to be healthy"),
        DependencyCondition::CompletedSuccessfully => format!("{service} to complete"),
    }
}

/// The pull or build that gives a service its image.
fn image_operation(spec: &DeploymentSpec, service: &ServiceSpec) -> Operation {
    match &service.source {
        // An image `pull: always` pulled in this apply is there: this finds it.
        ServiceSource::Image(reference) => Operation::PullImage(ImagePull {
            image: reference.clone(),
            policy: DockerPull::IfMissing,
            platform: None,
        }),
        ServiceSource::Build(build) => Operation::BuildImage(ImageBuild {
            context: build.context.clone(),
            dockerfile: build.dockerfile.clone(),
            tag: names::built_image(spec, service),
            build_args: build.args.clone(),
            target: build.target.clone(),
            labels: vec![],
        }),
    }
}
