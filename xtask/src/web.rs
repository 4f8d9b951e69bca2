//! The web UI's figures (DESIGN.md §5, `cargo xtask bench web`), on a `komander serve` in local
//! mode whose local admin holds [`PROJECTS`] projects, seeded through the REST API, and in the
//! first of them the deployment [`DEPLOYMENT`] of the deploy figures' ten services
//! ([`deploy::services`]), applied on the benchmark's engine:
//!
//! - the server render of the project list (`GET /`) and of the deployment page, each page one
//!   whole HTML answer fetched with the session cookie (the local admin signed in through the
//!   printed one-time link, as a browser does), against the REST calls answering the same data
//!   with the local admin's token ([`project_list_calls`], [`deployment_calls`]), sent one after
//!   the other as the page reads them and timed together. Page and REST alternate, one request
//!   at a time on one keep-alive client, [`REQUESTS`] times each after [`WARM_UP`] (fewer when
//!   [`BUDGET`] runs out): p50 and p99 of each, their ratio, and the page's p99 against 20 ms;
//!   then the deployment page [`MISSED`] times right after an edit, when the server's kept
//!   runtime reading no longer fits and the page asks the runtime again;
//! - the hydrate bundle as served: the assets the project list references under `/ui/assets/`
//!   (stylesheet, script, WebAssembly module) fetched with `Accept-Encoding: br`, then `gzip`,
//!   their bytes on the wire summed, against 600 KB.
//!
//! Without an engine the caller says so loudly, and the deployment is measured unapplied: then
//! neither side reads a status. What the benchmark created on the engine is removed at the end;
//! `komander serve` is stopped by its process id. It connects to 127.0.0.1 and unix sockets
//! only.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use komander_domain::api::PAGE_MAX;
use komander_e2e::{ServerProcess, docker as test_docker, local_admin_token, session_cookie};
use serde_json::json;

use crate::{
    Stats,
    deploy::{self, Api},
    docker::Engine,
};

/// The projects the benchmark user is a member of.
const PROJECTS: usize = 1_000;
/// Seeding gives up after this long.
const SEEDING: Duration = Duration::from_secs(300);
/// The measured requests of each side of a comparison, at most.
const REQUESTS: usize = 200;
/// The requests of each side sent before measuring.
const WARM_UP: usize = 20;
/// The renders of the deployment page measured right after an edit, each asking the runtime.
const MISSED: usize = 20;
/// No comparison measures longer than this (at least one request each).
const BUDGET: Duration = Duration::from_secs(60);
/// The target of a page's p99.
const TARGET_P99: Duration = Duration::from_millis(20);
/// The target of the assets' size as served, brotli.
const TARGET_BUNDLE: usize = 600 * 1024;
/// How many projects the project list shows: `PAGE_SIZE` in `web/src/api/projects.rs`.
const PAGE_SIZE: usize = 25;
/// How many operations the deployment page lists: `HISTORY` in `web/src/api/runs.rs`.
const RECENT_OPERATIONS: u32 = 10;
/// The deployment the deployment page shows, as the page's path.
const DEPLOYMENT: &str = "/projects/p0000/environments/dev/deployments/app";

/// The name of the `i`-th project; names sort as numbers do.
fn project(i: usize) -> String {
    format!("p{i:04}")
}

/// The REST calls answering what the project list shows: the first page of projects, as
/// `projects` in `web/src/api/projects.rs` reads it.
fn project_list_calls() -> Vec<String> {
    vec![format!("/api/v1/projects?limit={PAGE_SIZE}")]
}

/// The REST calls answering what the deployment page shows, as `load_deployment`
/// (`web/src/api/deployments.rs`) reads it: keep this list in step with it. The page reads the
/// status and the last log lines of each service only once the deployment has operations
/// (`applied`). What the viewer may do, how many secret values sharing would clear and each
/// recorded spec of the history have no REST call of their own: the page reads them beside.
fn deployment_calls(applied: bool) -> Vec<String> {
    let environment = DEPLOYMENT
        .rsplit_once("/deployments/")
        .map_or(DEPLOYMENT, |(environment, _)| environment);
    let mut calls = vec![
        format!("/api/v1{DEPLOYMENT}"),
        format!("/api/v1{environment}"),
        format!("/api/v1{DEPLOYMENT}/services?limit={PAGE_MAX}"),
        format!("/api/v1{DEPLOYMENT}/operations?limit={RECENT_OPERATIONS}"),
        format!("/api/v1{DEPLOYMENT}/plan"),
    ];
    if applied {
        calls.push(format!("/api/v1{DEPLOYMENT}/status"));
        for service in deploy::services([0; 4]) {
            if let Some(name) = service["name"].as_str() {
                calls.push(format!(
                    "/api/v1{DEPLOYMENT}/services/{name}/logs?limit={LOG_TAIL_LINES}"
                ));
            }
        }
    }
    calls
}

/// How many log lines of each service the deployment page shows: `READING_LOG_LINES` in
/// `core/app/src/runner/reading.rs`.
const LOG_TAIL_LINES: u32 = 50;

/// How a request says who sends it.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// The browser's session cookie, `komander_session=…`.
    Session(&'a str),
    /// An API token.
    Token(&'a str),
}

/// One keep-alive client of the server, signed in both ways.
struct Client {
    http: reqwest::Client,
    base: String,
    cookie: String,
    token: String,
}

impl Client {
    /// `GET path` as `auth`, accepting `encoding`; fails unless it answers 200.
    async fn get(
        &self,
        path: &str,
        auth: Auth<'_>,
        encoding: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::ACCEPT_ENCODING, encoding);
        let request = match auth {
            Auth::Session(cookie) => request.header(reqwest::header::COOKIE, cookie),
            Auth::Token(token) => request.bearer_auth(token),
        };
        let response = request.send().await?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            bail!("GET {path}: {status} {}", response.text().await?);
        }
        Ok(response)
    }

    /// The body of `GET path` as text.
    async fn text(&self, path: &str, auth: Auth<'_>) -> anyhow::Result<String> {
        Ok(self.get(path, auth, "identity").await?.text().await?)
    }

    /// `GET`s each of `paths` in turn as `auth`, each answer read whole; answers the time they
    /// took together.
    async fn timed(&self, paths: &[String], auth: Auth<'_>) -> anyhow::Result<Duration> {
        let started = Instant::now();
        for path in paths {
            self.get(path, auth, "identity").await?.bytes().await?;
        }
        Ok(started.elapsed())
    }

    /// The page at `page` with the session cookie against `rest` with the token, alternating.
    async fn compare(&self, page: &str, rest: &[String]) -> anyhow::Result<(Stats, Stats)> {
        let page = [page.to_owned()];
        let (cookie, token) = (Auth::Session(&self.cookie), Auth::Token(&self.token));
        for _ in 0..WARM_UP {
            self.timed(&page, cookie).await?;
            self.timed(rest, token).await?;
        }
        let started = Instant::now();
        let (mut pages, mut calls) = (Vec::new(), Vec::new());
        while pages.len() < REQUESTS && (pages.is_empty() || started.elapsed() < BUDGET) {
            pages.push(self.timed(&page, cookie).await?);
            calls.push(self.timed(rest, token).await?);
        }
        Ok((sequential(pages), sequential(calls)))
    }
}

/// The figures of requests sent one at a time.
fn sequential(mut latencies: Vec<Duration>) -> Stats {
    latencies.sort();
    Stats {
        requests: latencies.len(),
        elapsed: latencies.iter().sum(),
        latencies,
    }
}

/// Runs the web benchmark, on `engine` when there is one, and prints it.
pub async fn run(engine: Option<&Engine>) -> anyhow::Result<()> {
    // Without an engine, one that cannot answer: the server registers no target.
    let nowhere = tempfile::tempdir()?;
    let host = match engine {
        Some(engine) => engine.host.clone(),
        None => format!("unix://{}", nowhere.path().join("no.sock").display()),
    };
    let server = ServerProcess::start_local(&[("KOMANDER_DOCKER_HOST", &host)], "warn");
    let docker = match engine {
        Some(engine) => Some(test_docker::connect(&engine.host).await),
        None => None,
    };
    let mut deployment_id = None;
    let outcome = bench(&server, docker.is_some(), &mut deployment_id).await;
    if let (Some(docker), Some(id)) = (&docker, &deployment_id) {
        test_docker::remove_deployment(docker, id).await;
    }
    outcome.map_err(|e| crate::with_log(e, &server))
}

/// Signs in, seeds, applies the deployment when `apply` (its id in `deployment_id` from then
/// on), and measures.
async fn bench(
    server: &ServerProcess,
    apply: bool,
    deployment_id: &mut Option<String>,
) -> anyhow::Result<()> {
    let token = local_admin_token(server);
    let api = Api::new(&server.base, &token)?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    // Signed in at once: the link lasts 10 minutes.
    let client = Client {
        cookie: session_cookie(server, &http).await,
        http,
        base: server.base.clone(),
        token,
    };
    crate::wait_first_party(&api).await?;
    let seeded = Instant::now();
    seed(&api, seeded).await?;
    let seeding = seeded.elapsed();
    let deployment = format!("/api/v1{DEPLOYMENT}");
    *deployment_id = Some(api.deployment_id_of(&deployment).await?);
    let applied = if apply {
        let applied = api.operation(&deployment, "apply").await?;
        format!(
            "the deployment applied on the engine in {:.1} s",
            applied.wall.as_secs_f64()
        )
    } else {
        "the deployment NOT applied (no Docker Engine)".to_owned()
    };
    println!(
        "\nweb: komander serve (local mode) with {PROJECTS} projects and a 10-service deployment, \
         seeded through the REST API in {:.1} s; {applied}",
        seeding.as_secs_f64()
    );
    println!(
        "  pages with the session cookie against the REST calls answering the same data with the \
         token, one request at a time, alternating, {REQUESTS} each after {WARM_UP}"
    );
    measure(&client, &api, apply).await
}

/// Creates [`PROJECTS`] projects, then in the first one the environment `dev` (Compose
/// runtime, executor `server`) and the deployment `app` with the ten services; fails once
/// [`SEEDING`] has passed since `started`.
async fn seed(api: &Api, started: Instant) -> anyhow::Result<()> {
    for i in 0..PROJECTS {
        ensure!(
            started.elapsed() < SEEDING,
            "only {i} of {PROJECTS} projects created in {SEEDING:?}"
        );
        api.create("/api/v1/projects", json!({"name": project(i)}))
            .await?;
    }
    let environments = format!("/api/v1/projects/{}/environments", project(0));
    let environment = json!({"name": "dev", "runtime": "compose", "executor": "server"});
    api.create(&environments, environment).await?;
    api.create(
        &format!("{environments}/dev/deployments"),
        json!({"name": "app"}),
    )
    .await?;
    api.add_services(&format!("/api/v1{DEPLOYMENT}")).await
}

/// Checks that each page shows the data its REST calls answer, measures both, and the assets.
async fn measure(client: &Client, api: &Api, applied: bool) -> anyhow::Result<()> {
    let cookie = Auth::Session(&client.cookie);
    let list = client.text("/", cookie).await?;
    let link = |i: usize| format!("href=\"/projects/{}\"", project(i));
    ensure!(
        list.contains(&link(0)) && list.contains(&link(PAGE_SIZE - 1)),
        "the project list does not show the first {PAGE_SIZE} projects: {list}"
    );
    ensure!(
        !list.contains(&link(PAGE_SIZE)),
        "the project list shows more than {PAGE_SIZE} projects: update PAGE_SIZE"
    );
    let page = client.text(DEPLOYMENT, cookie).await?;
    for service in deploy::services([0; 4]) {
        let name = service["name"].as_str().context("a service has a name")?;
        ensure!(
            page.contains(&format!("{DEPLOYMENT}/services/{name}\"")),
            "the deployment page does not show the service {name}: {page}"
        );
    }

    let rest = project_list_calls();
    let (pages, calls) = client.compare("/", &rest).await?;
    report(
        &format!("project list, GET / ({PAGE_SIZE} projects)"),
        &rest,
        &pages,
        &calls,
    );
    let rest = deployment_calls(applied);
    let (pages, calls) = client.compare(DEPLOYMENT, &rest).await?;
    report(
        &format!("deployment page, GET {DEPLOYMENT} (10 services)"),
        &rest,
        &pages,
        &calls,
    );
    let missed = missed_readings(client, api).await?;
    println!("    page right after an edit of the deployment (the runtime asked again)  {missed}");
    bundle(client, &list).await
}

/// The deployment page rendered [`MISSED`] times, each right after an edit of the deployment
/// (its display name, not timed): the runtime reading the server keeps for the page no longer
/// fits, so each render asks the runtime for the plan, the status and the logs again.
async fn missed_readings(client: &Client, api: &Api) -> anyhow::Result<Stats> {
    let page = [DEPLOYMENT.to_owned()];
    let mut renders = Vec::with_capacity(MISSED);
    for i in 0..MISSED {
        let edit = json!({"display_name": format!("App {i}")});
        api.request(
            reqwest::Method::PATCH,
            &format!("/api/v1{DEPLOYMENT}"),
            Some(edit),
        )
        .await?;
        renders.push(client.timed(&page, Auth::Session(&client.cookie)).await?);
    }
    Ok(sequential(renders))
}

/// Prints one comparison.
fn report(what: &str, rest: &[String], page: &Stats, calls: &Stats) {
    let paths: Vec<&str> = rest
        .iter()
        .map(|path| path.strip_prefix("/api/v1").unwrap_or(path))
        .collect();
    println!("  {what}");
    println!("    page          {page}");
    println!("    REST, {} call(s)  {calls}", rest.len());
    println!("      ({})", paths.join(", "));
    let p99 = page.p99_ms();
    println!(
        "    ratio page / REST: p50 {:.2}, p99 {:.2}; page p99 {p99:.2} ms (target < {} ms): {}",
        page.percentile_ms(0.5) / calls.percentile_ms(0.5),
        p99 / calls.p99_ms(),
        TARGET_P99.as_millis(),
        met(p99 < TARGET_P99.as_secs_f64() * 1e3)
    );
}

/// Fetches the assets `page` references in each encoding and prints their sizes as served.
async fn bundle(client: &Client, page: &str) -> anyhow::Result<()> {
    let mut assets: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| part.starts_with("/ui/assets/"))
        .collect();
    assets.sort_unstable();
    assets.dedup();
    for kind in [".js", ".wasm"] {
        ensure!(
            assets.iter().any(|a| a.ends_with(kind)),
            "the page references no {kind} under /ui/assets/ ({assets:?}): was komander built \
             without its hydrate bundle (KOMANDER_SKIP_GUEST_BUILD)?"
        );
    }
    let encodings = ["br", "gzip", "identity"];
    let mut totals = [0; 3];
    let mut lines = Vec::new();
    for asset in &assets {
        let mut line = format!("{asset}:");
        for (encoding, total) in encodings.iter().zip(&mut totals) {
            let response = client
                .get(asset, Auth::Session(&client.cookie), encoding)
                .await?;
            let served = response
                .headers()
                .get(reqwest::header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("identity")
                .to_owned();
            let bytes = response.bytes().await?.len();
            *total += bytes;
            line.push_str(&format!("  {encoding} {}", kb(bytes)));
            if served != *encoding {
                line.push_str(&format!(" (served {served})"));
            }
        }
        lines.push(line);
    }
    println!(
        "  hydrate bundle as served ({} assets the page references): brotli {} (target < {}): \
         {}; gzip {}; uncompressed {}",
        assets.len(),
        kb(totals[0]),
        kb(TARGET_BUNDLE),
        met(totals[0] < TARGET_BUNDLE),
        kb(totals[1]),
        kb(totals[2])
    );
    for line in lines {
        println!("    {line}");
    }
    Ok(())
}

/// Whether a target is met, for printing.
fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// Bytes in KB (1,024 bytes), for printing.
fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}
