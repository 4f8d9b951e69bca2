//! Project automation. `cargo xtask bench` measures Komander against baselines run in the same
//! session and prints ratios (DESIGN.md §5):
//!
//! - `GET /api/v1/projects` with 10,000 projects and 100,000 deployments in SQLite, through
//!   `komander serve` (token lookup, authorization, visibility filter, JSON) against a bare axum
//!   handler running the same SQL through a bare sqlx pool on the same file: throughput ratio
//!   (target ≥ 0.5) and p99 (target < 10 ms);
//! - idle RSS of `komander serve` (target ≤ 50 MB) and its start-to-ready time, warm
//!   (target ≤ 500 ms);
//! - the plugin host: a fresh instance plus a trivial call, one capability call, loading a
//!   precompiled plugin ([`plugins`]);
//! - the Docker capability: 10 container creations in one batch against bollard directly
//!   ([`docker`]);
//! - deploying: a 10-service deployment applied by Komander against `docker compose up` of its
//!   export on the same engine ([`deploy`]);
//! - the web UI: the server render of the project list and of the deployment page with 1,000
//!   projects, against the REST calls answering the same data (target p99 < 20 ms), and the
//!   hydrate bundle's size as served (target under 600 KB) ([`web`]).
//!
//! `cargo xtask bench plugins` measures the plugin host and the Docker capability only;
//! `cargo xtask bench deploy` the deploy figures only; `cargo xtask bench web` the web
//! figures only.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    routing::get,
};
use komander_e2e::{ADMIN_TOKEN, ServerProcess};
use serde_json::{Value, json};
use sqlx::{
    Connection, Row, SqliteConnection, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

const PROJECTS: usize = 10_000;
const DEPLOYMENTS_PER_PROJECT: usize = 10;
const CONCURRENCY: usize = 16;
const MEASURE: Duration = Duration::from_secs(5);
const MAX_REQUESTS: usize = 200_000;

/// The SQL `komander-store` runs for this request, verbatim.
const TOKEN_SQL: &str = "SELECT u.id, u.handle, u.display_name, u.kind, u.instance_admin, \
     u.created_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1";
const LIST_SQL: &str = "SELECT p.id, p.name, p.display_name, p.description, p.created_by, \
     p.created_at, p.updated_at, m.role FROM members m JOIN projects p ON p.id = m.project_id \
     WHERE m.user_id = $1 AND m.project_name > COALESCE($2, '') ORDER BY m.project_name LIMIT $3";

mod deploy;
mod docker;
mod plugins;
mod web;

/// Which figures a run measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every figure.
    All,
    /// The plugin host's and the Docker capability's.
    Plugins,
    /// The deploy figures, against Docker Compose.
    Deploy,
    /// The web UI's figures.
    Web,
}

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let only = std::env::args().nth(2);
    match (task.as_str(), only.as_deref()) {
        ("bench", None) => bench(Mode::All),
        ("bench", Some("plugins")) => bench(Mode::Plugins),
        ("bench", Some("deploy")) => bench(Mode::Deploy),
        ("bench", Some("web")) => bench(Mode::Web),
        _ => bail!("usage: cargo xtask bench [plugins | deploy | web]"),
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn bench(mode: Mode) -> anyhow::Result<()> {
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["build", "--release", "--quiet", "-p", "komander-server"])
        .status()
        .context("building komander in release mode")?;
    anyhow::ensure!(
        status.success(),
        "cargo build --release -p komander-server failed"
    );
    let binary = target_dir().join("release/komander");
    // SAFETY: set before any other thread exists; the harness reads it to start the server.
    unsafe { std::env::set_var("KOMANDER_BIN", &binary) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        if mode == Mode::All {
            run().await?;
        }
        if matches!(mode, Mode::All | Mode::Plugins) {
            plugins::run().await?;
        }
        let engine = match docker::Engine::start().await {
            Ok(engine) => Some(engine),
            // The web figures need an engine only for the deployment page's status.
            Err(e) if mode == Mode::Web => {
                eprintln!(
                    "\n!!!!!!!! NO DOCKER ENGINE ({e:#}): the deployment page is measured with \
                     its deployment NOT applied, so neither side reads a status !!!!!!!!\n"
                );
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(engine) = &engine {
            if matches!(mode, Mode::All | Mode::Plugins) {
                docker::run(engine).await?;
            }
            if matches!(mode, Mode::All | Mode::Deploy) {
                deploy::run(engine).await?;
            }
        }
        if matches!(mode, Mode::All | Mode::Web) {
            web::run(engine.as_ref()).await?;
        }
        Ok(())
    })
}

async fn run() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let data_dir = data.path().to_string_lossy().into_owned();
    let env = [("KOMANDER_DATA_DIR", data_dir.as_str())];
    // The first start installs (compiles) the first-party plugins; the measured one is a warm
    // restart that loads them from their precompiled artifacts, as every later start does.
    let mut first = ServerProcess::start(&env, "warn");
    wait_first_party(&deploy::Api::new(&first.base, ADMIN_TOKEN)?).await?;
    first.stop();
    let db = data.path().join("komander.db");
    let seeded = Instant::now();
    seed(&db).await?;
    println!(
        "seeded {PROJECTS} projects and {} deployments in {:.1} s",
        PROJECTS * DEPLOYMENTS_PER_PROJECT,
        seeded.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let server = ServerProcess::start(&env, "warn");
    let client = ServerProcess::client();
    wait_ready(&client, &server.base).await?;
    let ready = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = rss_kib(&server)?;

    let baseline = spawn_baseline(&db)?;
    let bare = load(&client, &format!("http://{baseline}/api/v1/projects")).await?;
    let komander = load(&client, &format!("{}/api/v1/projects", server.base)).await?;
    let busy_rss = rss_kib(&server)?;

    println!(
        "\nGET /api/v1/projects, SQLite, {CONCURRENCY} concurrent clients, {} s each",
        MEASURE.as_secs()
    );
    println!("  bare axum + sqlx  {bare}");
    println!("  komander          {komander}");
    println!(
        "  ratio komander / bare: {:.2} (target >= 0.50); komander p99 {:.2} ms (target < 10 ms)",
        komander.throughput() / bare.throughput(),
        komander.p99_ms()
    );
    println!(
        "\nkomander serve: idle RSS {:.1} MB (target <= 50 MB), {:.1} MB after the load; \
         start to ready {} ms warm (target <= 500 ms)",
        idle_rss as f64 / 1024.0,
        busy_rss as f64 / 1024.0,
        ready.as_millis()
    );
    Ok(())
}

/// Fills the database behind `komander serve`'s back: projects whose Admin is the bootstrap
/// user, one environment each, ten shared deployments in each.
async fn seed(db: &Path) -> anyhow::Result<()> {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display())).await?;
    let user: String = sqlx::query_scalar("SELECT id FROM users WHERE handle = 'bootstrap'")
        .fetch_one(&mut conn)
        .await?;
    let mut tx = conn.begin().await?;
    for p in 0..PROJECTS {
        let project = uuid::Uuid::now_v7().to_string();
        let environment = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO projects VALUES ($1, $2, $2, '', $3, 1, 1)")
            .bind(&project)
            .bind(format!("p{p:05}"))
            .bind(&user)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO members VALUES ($1, $2, $3, 'admin', 1)")
            .bind(&project)
            .bind(format!("p{p:05}"))
            .bind(&user)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO environments (id, project_id, name, display_name, runtime, executor, \
             settings, created_at, updated_at) \
             VALUES ($1, $2, 'dev', 'dev', 'komander.compose', 'server', '{}', 1, 1)",
        )
        .bind(&environment)
        .bind(&project)
        .execute(&mut *tx)
        .await?;
        for d in 0..DEPLOYMENTS_PER_PROJECT {
            sqlx::query("INSERT INTO deployments VALUES ($1, $2, $3, $4, $4, $5, 1, 1, 1)")
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(&project)
                .bind(&environment)
                .bind(format!("d{d}"))
                .bind(&user)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("{base} never became ready")
}

/// Waits (at most 60 s) until every first-party plugin is installed on the server `api` calls.
pub(crate) async fn wait_first_party(api: &deploy::Api) -> anyhow::Result<()> {
    for _ in 0..600 {
        let listed: Value = api
            .request(reqwest::Method::GET, "/api/v1/plugins", None)
            .await?
            .json()
            .await?;
        let installed = listed["items"].as_array().map_or(0, Vec::len);
        if installed >= komander_first_party::PLUGINS.len() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "{} did not install its first-party plugins within 60 s",
        api.base
    )
}

/// `e` with the last lines `server` logged.
pub(crate) fn with_log(e: anyhow::Error, server: &ServerProcess) -> anyhow::Error {
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    e.context(format!("komander serve's log ends:\n{}", tail.join("\n")))
}

fn rss_kib(server: &ServerProcess) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS in /proc/<pid>/status")
}

#[derive(Clone)]
struct Bare {
    pool: SqlitePool,
}

/// The baseline: a bare axum handler that runs the same two statements as Komander (token
/// lookup, then the member's projects) through a bare sqlx pool, on its own threads.
fn spawn_baseline(db: &Path) -> anyhow::Result<SocketAddr> {
    let options = SqliteConnectOptions::new()
        .filename(db)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(30));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .expect("the baseline pool");
            let app = Router::new()
                .route("/api/v1/projects", get(bare_projects))
                .with_state(Bare { pool });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a port");
            sender
                .send(listener.local_addr().expect("an address"))
                .expect("the bench waits");
            axum::serve(listener, app)
                .await
                .expect("the baseline serves");
        });
    });
    Ok(receiver.recv_timeout(Duration::from_secs(30))?)
}

async fn bare_projects(
    State(s): State<Bare>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let hash = komander_secrets::token_hash(token);
    let user = sqlx::query(TOKEN_SQL)
        .bind(hash.as_slice())
        .fetch_optional(&s.pool)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let user: String = user.get(0);
    let rows = sqlx::query(LIST_SQL)
        .bind(user)
        .bind(None::<String>)
        .bind(51_i64)
        .fetch_all(&s.pool)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let items: Vec<Value> = rows
        .iter()
        .take(50)
        .map(|r| {
            json!({
                "id": r.get::<String, _>(0), "name": r.get::<String, _>(1),
                "display_name": r.get::<String, _>(2), "description": r.get::<String, _>(3),
                "role": r.get::<String, _>(7), "created_at": r.get::<i64, _>(5),
                "updated_at": r.get::<i64, _>(6),
            })
        })
        .collect();
    let next = (rows.len() > 50).then(|| items[49]["name"].clone());
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

struct Stats {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }

    fn p99_ms(&self) -> f64 {
        self.percentile_ms(0.99)
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  ({} requests)",
            self.throughput(),
            self.percentile_ms(0.5),
            self.p99_ms(),
            self.requests
        )
    }
}

/// `CONCURRENCY` clients send requests for `MEASURE` (at most `MAX_REQUESTS` in all) after a
/// one-second warm-up; every answer must be 200 with 50 items.
async fn load(client: &reqwest::Client, url: &str) -> anyhow::Result<Stats> {
    let one = |client: reqwest::Client, url: String| async move {
        let response = client.get(&url).bearer_auth(ADMIN_TOKEN).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let body: Value = response.json().await?;
        anyhow::ensure!(
            body["items"].as_array().map(Vec::len) == Some(50),
            "{url}: {body}"
        );
        Ok::<(), anyhow::Error>(())
    };
    let warm_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < warm_until {
        one(client.clone(), url.to_owned()).await?;
    }
    let started = Instant::now();
    let deadline = started + MEASURE;
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, url) = (client.clone(), url.to_owned());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline && latencies.len() < MAX_REQUESTS / CONCURRENCY {
                let t = Instant::now();
                one(client.clone(), url.clone()).await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(Stats {
        requests: latencies.len(),
        elapsed,
        latencies,
    })
}
