//! The server-wide bound on concurrent Docker operations: one [`DockerGate`] per server, given
//! to every [`super::DockerScope`], so that all calls of all plugins share it, and held by
//! each operation until its end, also when the operation outlives the call that started it.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A bound on the Docker operations running at once, shared by every scope made with a clone
/// of it: create one per server (its size from the server's settings, [`DockerGate::DEFAULT_SIZE`]
/// when unset) and clone it into each [`super::DockerScope`]. Cloning is cheap (an `Arc`).
///
/// An operation waits for a free slot within its own timeout; a batch's operations, a listing
/// and a log page each take one slot while they talk to the daemon.
#[derive(Clone, Debug)]
pub struct DockerGate {
    permits: Arc<Semaphore>,
    size: usize,
}

impl DockerGate {
    /// The size a server uses when its settings name none: enough for a few batches at
    /// their own concurrency, few enough that one daemon is not swamped.
    pub const DEFAULT_SIZE: usize = 32;

    /// A gate letting `size` operations run at once; a size of 0 counts as 1.
    pub fn new(size: usize) -> DockerGate {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        DockerGate {
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// How many operations may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Waits for a free slot; the slot is free again when the permit is dropped.
    pub(super) async fn enter(&self) -> OwnedSemaphorePermit {
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("the gate's semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use std::{
        path::PathBuf,
        sync::atomic::{AtomicUsize, Ordering},
        time::{Duration, Instant},
    };

    use axum::{Router, http::StatusCode, response::IntoResponse};
    use bollard::Docker;

    use super::*;
    use crate::{
        bindings::docker_types::{Operation, OperationEntry},
        capabilities::{
            DeploymentIds,
            docker::{DockerScope, batch, logs, ops},
        },
    };

    /// A stand-in for the Docker daemon on a Unix socket: every request takes `delay`, and it
    /// counts the requests in flight, their peak and their total.
    struct FakeDaemon {
        socket: PathBuf,
        counts: Arc<Counts>,
        _dir: tempfile::TempDir,
    }

    #[derive(Default)]
    struct Counts {
        live: AtomicUsize,
        peak: AtomicUsize,
        total: AtomicUsize,
    }

    impl FakeDaemon {
        async fn start(delay: Duration) -> FakeDaemon {
            let dir = tempfile::tempdir().unwrap();
            let socket = dir.path().join("docker.sock");
            let counts = Arc::new(Counts::default());
            let app = {
                let counts = counts.clone();
                Router::new().fallback(move |uri: axum::http::Uri| async move {
                    let live = counts.live.fetch_add(1, Ordering::SeqCst) + 1;
                    counts.peak.fetch_max(live, Ordering::SeqCst);
                    counts.total.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    counts.live.fetch_sub(1, Ordering::SeqCst);
                    let json = [("content-type", "application/json")];
                    if uri.path().ends_with("/containers/json") {
                        (StatusCode::OK, json, "[]").into_response()
                    } else {
                        (
                            StatusCode::NOT_FOUND,
                            json,
                            r#"{"message":"no such object"}"#,
                        )
                            .into_response()
                    }
                })
            };
            let listener = tokio::net::UnixListener::bind(&socket).unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            FakeDaemon {
                socket,
                counts,
                _dir: dir,
            }
        }

        /// A scope for `deployment` on this daemon, behind `gate`.
        fn scope(&self, gate: &DockerGate, deployment: &str) -> Arc<DockerScope> {
            let client = Docker::connect_with_unix(
                self.socket.to_str().unwrap(),
                10,
                bollard::API_DEFAULT_VERSION,
            )
            .unwrap();
            let ids = DeploymentIds {
                project: "p".into(),
                environment: "e".into(),
                deployment: deployment.into(),
            };
            Arc::new(DockerScope::new(client, gate.clone(), ids, "test"))
        }

        fn peak(&self) -> usize {
            self.counts.peak.load(Ordering::SeqCst)
        }

        fn total(&self) -> usize {
            self.counts.total.load(Ordering::SeqCst)
        }
    }

    /// A batch of `count` independent inspections (one request each).
    fn inspections(count: usize) -> Vec<OperationEntry> {
        (0..count)
            .map(|i| OperationEntry {
                id: format!("op-{i}"),
                depends_on: vec![],
                op: Operation::InspectContainer(format!("c-{i}")),
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_of_two_scopes_sharing_a_gate_never_exceed_it() {
        let daemon = FakeDaemon::start(Duration::from_millis(100)).await;
        let gate = DockerGate::new(2);
        let (a, b) = (daemon.scope(&gate, "d-a"), daemon.scope(&gate, "d-b"));
        let (batch_a, batch_b, listed, page) = tokio::join!(
            batch::run(&a, inspections(6)),
            batch::run(&b, inspections(6)),
            ops::list_containers(&a, &[]),
            logs::page(&b, "web", None, 10),
        );
        assert_eq!(batch_a.unwrap().len(), 6);
        assert_eq!(batch_b.unwrap().len(), 6);
        assert!(listed.unwrap().is_empty());
        assert!(page.is_err(), "no container `web`: {page:?}");
        assert_eq!(daemon.total(), 14, "every call reached the daemon");
        assert_eq!(daemon.peak(), 2, "never more than the gate's 2 at once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_operation_that_outlives_its_call_keeps_its_slot() {
        let daemon = FakeDaemon::start(Duration::from_millis(300)).await;
        let gate = DockerGate::new(1);
        let (a, b) = (daemon.scope(&gate, "d-a"), daemon.scope(&gate, "d-b"));
        // The call ends (its wall clock) while its operation goes on in its own task.
        let call = tokio::time::timeout(Duration::from_millis(50), batch::run(&a, inspections(1)));
        assert!(call.await.is_err(), "the call ended first");
        assert_eq!(daemon.total(), 1, "the operation runs on");
        let started = Instant::now();
        ops::list_containers(&b, &[]).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "the listing waited for the slot: {:?}",
            started.elapsed()
        );
        assert_eq!(daemon.total(), 2);
        assert_eq!(daemon.peak(), 1);
    }
}
