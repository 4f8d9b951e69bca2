//! A private `dockerd` a test starts itself (as root, with Debian's docker.io): its data, state,
//! pid file, configuration and unix socket in a temporary directory, so that it shares nothing
//! with the engine `scripts/test.sh` starts, and stopped by its process id when dropped.

use std::{
    ffi::OsString,
    os::unix::fs::MetadataExt as _,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bollard::Docker;

use crate::docker::ci;

/// How long the daemon gets to answer on its unix socket after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the daemon gets to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running private `dockerd`; stopped (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]) by its
/// pid on drop, its directory removed.
pub struct PrivateDockerd {
    child: Child,
    dir: tempfile::TempDir,
    /// The arguments it was started with, for [`PrivateDockerd::start_again`].
    args: Vec<OsString>,
}

impl PrivateDockerd {
    /// Starts `dockerd` with `args` added to its own directories and socket, and waits until it
    /// answers on that socket. `None`, after a loud message, when this process is not root or
    /// `dockerd` is not installed, outside CI.
    ///
    /// # Panics
    /// Under `CI=true` when it cannot be started; always when it exits or does not answer
    /// within [`START_TIMEOUT`] (with the end of its log).
    pub async fn start(args: &[OsString]) -> Option<PrivateDockerd> {
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
        if uid != Some(0) {
            return skip("this test starts a dockerd, which needs root");
        }
        let dir = tempfile::Builder::new()
            .prefix("komander-dockerd")
            .tempdir()
            .expect("a temporary directory for dockerd");
        // An empty configuration file: /etc/docker/daemon.json must not add hosts or flags.
        std::fs::write(dir.path().join("daemon.json"), "{}")
            .expect("writing dockerd's configuration");
        let child = match spawn(dir.path(), args) {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return skip("dockerd is not installed (Debian: apt-get install docker.io)");
            }
            Err(e) => panic!("starting dockerd: {e}"),
        };
        let mut dockerd = PrivateDockerd {
            child,
            dir,
            args: args.to_vec(),
        };
        dockerd.wait_until_it_answers().await;
        Some(dockerd)
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]) and waits until it
    /// exited, keeping its directory: its containers, images and volumes stay for
    /// [`PrivateDockerd::start_again`].
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return; // stopped already: its pid may be another process's by now
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the stopped daemon again on the same directory and arguments, and waits until it
    /// answers.
    ///
    /// # Panics
    /// When it cannot be started, exits, or does not answer within [`START_TIMEOUT`].
    pub async fn start_again(&mut self) {
        self.child = spawn(self.dir.path(), &self.args)
            .unwrap_or_else(|e| panic!("starting dockerd again: {e}"));
        self.wait_until_it_answers().await;
    }

    /// Its temporary directory (`root/`, `exec/`, `docker.sock`, `dockerd.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its unix socket, as a Docker host: `unix:///…/docker.sock`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir().join("docker.sock").display())
    }

    /// The end of its log, to explain a failure.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    async fn wait_until_it_answers(&mut self) {
        let host = self.host();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("dockerd exited at start ({status}):\n{}", self.log_tail());
            }
            let answered = match Docker::connect_with_unix(&host, 5, bollard::API_DEFAULT_VERSION) {
                Ok(docker) => docker.ping().await.is_ok(),
                Err(_) => false,
            };
            if answered {
                return;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "dockerd did not answer on {host} within {} s:\n{}",
                START_TIMEOUT.as_secs(),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawns `dockerd` on `dir` (its configuration file `daemon.json`, data, state, pid file,
/// socket and log there) with `args` added, its output appended to `dockerd.log`.
fn spawn(dir: &Path, args: &[OsString]) -> std::io::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("dockerd.log"))
        .expect("dockerd's log");
    Command::new("dockerd")
        .arg("--config-file")
        .arg(dir.join("daemon.json"))
        .arg("--data-root")
        .arg(dir.join("root"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("dockerd.pid"))
        .arg("--host")
        .arg(format!("unix://{}", dir.join("docker.sock").display()))
        .args(["--shutdown-timeout", "5", "--log-level", "warn"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dockerd's log"))
        .stderr(log)
        .spawn()
}

/// Says loudly that a test skips for `why`; under `CI=true`, fails instead.
fn skip<T>(why: &str) -> Option<T> {
    assert!(
        !ci(),
        "{why}: under CI=true the private-dockerd tests must run"
    );
    eprintln!("\n!!!!!!!! SKIPPING a private-dockerd test: {why}. !!!!!!!!\n");
    None
}
