//! What a deployment's page shows of its runtime (the plan, the status, the last lines of each
//! service's log), read through one runtime session with the calls at once, and kept for a
//! moment so that a page opened by a team all day does not ask the engine on every render.
//!
//! A reading is kept per deployment under a fingerprint of everything it depends on that
//! Komander stores: the project, environment and deployment records, the services and their
//! variables, and the latest operation with its state. Any change to those (an edit of the
//! spec, an operation starting or ending) misses the kept reading at once. What only the
//! engine knows (a container that crashed, new log lines) is at most [`FRESH`] old, or up to
//! [`USABLE`] old while a newer one is read in the background; the page's live streams go on
//! from the reading's log cursors, so no line is lost.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use komander_domain::{
    Action, DeploymentId, DeploymentRef, Executor, ServiceRef,
    api::{DeploymentPlan, DeploymentRunStatus, ErrorDetail, LogQuery, ServiceLogPage},
    names::ServiceName,
};
use komander_store::{DeploymentWithServices, OperationRecord, PageRequest};

use super::session::Secrets;
use crate::{App, AppError, Caller, Result, scope::DeploymentScope};

/// How many log lines of each service a reading holds.
pub const READING_LOG_LINES: u32 = 50;

/// How long a reading is answered as it is.
pub const FRESH: Duration = Duration::from_secs(2);

/// How long a reading is answered while a newer one is read in the background; an older one
/// is read again before answering.
pub const USABLE: Duration = Duration::from_secs(10);

/// How many deployments' readings are kept at most; the oldest go first.
const KEPT: usize = 512;

/// A part of a reading, or why the runtime could not answer it.
pub type Part<T> = std::result::Result<T, ErrorDetail>;

/// What a deployment's runtime said of it, at most [`USABLE`] ago.
#[derive(Clone, Debug)]
pub struct DeploymentReading {
    /// What applying it would change; `None` in a `local` environment, whose runtime runs
    /// on its members' machines.
    pub plan: Option<Part<DeploymentPlan>>,
    /// Each service as it runs; `None` before its first operation, or in a `local`
    /// environment.
    pub status: Option<Part<DeploymentRunStatus>>,
    /// The last [`READING_LOG_LINES`] lines of each service's log, in the services' order;
    /// empty when `status` is `None`.
    pub logs: Vec<(ServiceName, Part<ServiceLogPage>)>,
}

/// The readings this server keeps, by deployment.
#[derive(Default)]
pub(crate) struct Readings {
    kept: Mutex<HashMap<DeploymentId, Kept>>,
}

/// One deployment's kept reading.
struct Kept {
    fingerprint: u64,
    at: Instant,
    reading: Arc<DeploymentReading>,
    /// A newer reading is being read in the background.
    refreshing: bool,
}

/// What [`Readings::find`] found for a fingerprint.
enum Found {
    /// A reading to answer as it is.
    Fresh(Arc<DeploymentReading>),
    /// A reading to answer while a newer one is read (the caller reads it).
    Refresh(Arc<DeploymentReading>),
    /// A reading to answer; a newer one is being read already.
    Stale(Arc<DeploymentReading>),
    /// Nothing usable.
    Missing,
}

impl Readings {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeploymentId, Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reading kept for `deployment` under `fingerprint`, and whether the caller is to
    /// read a newer one in the background.
    fn find(&self, deployment: DeploymentId, fingerprint: u64) -> Found {
        let mut kept = self.lock();
        let Some(entry) = kept.get_mut(&deployment) else {
            return Found::Missing;
        };
        let age = entry.at.elapsed();
        if entry.fingerprint != fingerprint || age >= USABLE {
            return Found::Missing;
        }
        if age < FRESH {
            Found::Fresh(entry.reading.clone())
        } else if entry.refreshing {
            Found::Stale(entry.reading.clone())
        } else {
            entry.refreshing = true;
            Found::Refresh(entry.reading.clone())
        }
    }

    /// Keeps `reading`, made at `at` under `fingerprint`, unless a newer one is kept already.
    fn keep(
        &self,
        deployment: DeploymentId,
        fingerprint: u64,
        at: Instant,
        reading: Arc<DeploymentReading>,
    ) {
        let mut kept = self.lock();
        if kept.get(&deployment).is_some_and(|k| k.at > at) {
            return;
        }
        kept.insert(
            deployment,
            Kept {
                fingerprint,
                at,
                reading,
                refreshing: false,
            },
        );
        kept.retain(|_, k| k.at.elapsed() < USABLE);
        while kept.len() > KEPT {
            let oldest = kept.iter().min_by_key(|(_, k)| k.at).map(|(id, _)| *id);
            let Some(oldest) = oldest else { break };
            kept.remove(&oldest);
        }
    }

    /// Clears the refresh mark of `deployment` after a background read that kept nothing.
    fn refreshed(&self, deployment: DeploymentId) {
        if let Some(entry) = self.lock().get_mut(&deployment) {
            entry.refreshing = false;
        }
    }
}

/// The fingerprint of what a reading of `scope` depends on in the store.
fn fingerprint(
    scope: &DeploymentScope,
    contents: &DeploymentWithServices,
    latest: Option<&OperationRecord>,
) -> u64 {
    let mut hasher = DefaultHasher::new();
    format!(
        "{:?}{:?}{:?}{:?}",
        scope.project,
        scope.environment,
        contents,
        latest.map(|op| (op.id, op.state))
    )
    .hash(&mut hasher);
    hasher.finish()
}

impl App {
    /// What the runtime says of a deployment now, for its page: its plan, its status and the
    /// last lines of each service's log, answered from a reading at most [`FRESH`] old (or
    /// [`USABLE`] old while a newer one is read) when nothing Komander stores about it
    /// changed since.
    ///
    /// # Errors
    /// Not found when the caller may not see the deployment; what the store answers. What the
    /// runtime refuses is in the reading, part by part.
    pub async fn read_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<Arc<DeploymentReading>> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ViewDeployment)
            .await?;
        let contents = self.deployment_contents(&scope).await?;
        let latest = self.newest_operation(&scope).await?;
        let fingerprint = fingerprint(&scope, &contents, latest.as_ref());
        let id = scope.deployment.id;
        let ran = latest.is_some();
        match self.runner.readings.find(id, fingerprint) {
            Found::Fresh(reading) | Found::Stale(reading) => Ok(reading),
            Found::Refresh(reading) => {
                let app = self.clone();
                let reference = deployment.clone();
                tokio::spawn(async move {
                    let at = Instant::now();
                    let fresh = app.read_runtime(&reference, &scope, contents, ran).await;
                    app.runner.readings.refreshed(id);
                    app.runner
                        .readings
                        .keep(id, fingerprint, at, Arc::new(fresh));
                });
                Ok(reading)
            }
            Found::Missing => {
                let at = Instant::now();
                let reading = Arc::new(self.read_runtime(deployment, &scope, contents, ran).await);
                self.runner
                    .readings
                    .keep(id, fingerprint, at, reading.clone());
                Ok(reading)
            }
        }
    }

    /// The newest operation of the deployment `scope`, if it has one.
    pub(super) async fn newest_operation(
        &self,
        scope: &DeploymentScope,
    ) -> Result<Option<OperationRecord>> {
        let page = PageRequest {
            limit: 1,
            after: None,
        };
        let newest = self
            .store
            .list_operations(scope.deployment.id, &page)
            .await
            .map_err(|e| AppError::from_store(e, "operation"))?;
        Ok(newest.into_iter().next())
    }

    /// Asks the runtime of `scope` (with `contents`) for its plan, and when something `ran`,
    /// for its status and logs, all at once through one session.
    async fn read_runtime(
        &self,
        deployment: &DeploymentRef,
        scope: &DeploymentScope,
        contents: DeploymentWithServices,
        ran: bool,
    ) -> DeploymentReading {
        if scope.environment.executor == Executor::Local {
            return DeploymentReading {
                plan: None,
                status: None,
                logs: Vec::new(),
            };
        }
        let services: Vec<ServiceName> = contents
            .services
            .iter()
            .map(|s| s.service.name.clone())
            .collect();
        let session = match self.runtime_session(scope, contents, Secrets::Closed).await {
            Ok(session) => session,
            Err(e) => {
                let detail = e.detail();
                let logs = if ran {
                    services
                        .into_iter()
                        .map(|s| (s, Err(detail.clone())))
                        .collect()
                } else {
                    Vec::new()
                };
                return DeploymentReading {
                    plan: Some(Err(detail.clone())),
                    status: ran.then_some(Err(detail)),
                    logs,
                };
            }
        };
        let session = &session;
        let warnings = self.validate_spec(session);
        let changes = async { self.runtime_plan(session).await.map_err(|e| e.detail()) };
        let status = async {
            if ran {
                Some(self.runtime_services(session).await)
            } else {
                None
            }
        };
        let query = LogQuery {
            cursor: None,
            limit: Some(READING_LOG_LINES),
        };
        let query = &query;
        let logs = futures_util::future::join_all(services.into_iter().filter(|_| ran).map(
            |name| async move {
                let service = ServiceRef {
                    deployment: deployment.clone(),
                    name: name.clone(),
                };
                let page = self.read_log(session, &service, query).await;
                (name, page.map_err(|e| e.detail()))
            },
        ));
        let (warnings, changes, status, logs) =
            futures_util::join!(warnings, changes, status, logs);
        let status = status.map(|services| {
            Ok(DeploymentRunStatus {
                services: services.map_err(|e| e.detail())?,
                drift: changes.clone()?,
            })
        });
        let plan = match warnings {
            Ok(warnings) => changes.map(|changes| DeploymentPlan { warnings, changes }),
            Err(e) => Err(e.detail()),
        };
        DeploymentReading {
            plan: Some(plan),
            status,
            logs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> Arc<DeploymentReading> {
        Arc::new(DeploymentReading {
            plan: None,
            status: None,
            logs: Vec::new(),
        })
    }

    fn ago(age: Duration) -> Instant {
        Instant::now()
            .checked_sub(age)
            .expect("the clock runs longer")
    }

    #[test]
    fn a_reading_is_answered_while_fresh_and_missed_once_what_it_depends_on_changes() {
        let readings = Readings::default();
        let id = DeploymentId::new();
        assert!(matches!(readings.find(id, 1), Found::Missing));
        readings.keep(id, 1, Instant::now(), reading());
        assert!(matches!(readings.find(id, 1), Found::Fresh(_)));
        assert!(matches!(readings.find(id, 2), Found::Missing));
        assert!(matches!(
            readings.find(DeploymentId::new(), 1),
            Found::Missing
        ));
    }

    #[test]
    fn an_older_reading_is_refreshed_by_one_caller_and_too_old_a_one_is_not_answered() {
        let readings = Readings::default();
        let id = DeploymentId::new();
        readings.keep(id, 1, ago(FRESH + Duration::from_millis(100)), reading());
        assert!(matches!(readings.find(id, 1), Found::Refresh(_)));
        assert!(matches!(readings.find(id, 1), Found::Stale(_)));
        readings.refreshed(id);
        assert!(matches!(readings.find(id, 1), Found::Refresh(_)));
        readings.keep(id, 1, Instant::now(), reading());
        assert!(matches!(readings.find(id, 1), Found::Fresh(_)));

        let old = DeploymentId::new();
        readings.keep(old, 1, ago(USABLE), reading());
        assert!(matches!(readings.find(old, 1), Found::Missing));
    }

    #[test]
    fn a_slower_read_does_not_replace_a_newer_reading_and_the_oldest_go_past_the_bound() {
        let readings = Readings::default();
        let id = DeploymentId::new();
        let newer = Instant::now();
        readings.keep(id, 2, newer, reading());
        readings.keep(id, 1, ago(Duration::from_secs(1)), reading());
        assert!(matches!(readings.find(id, 2), Found::Fresh(_)));

        let first = DeploymentId::new();
        readings.keep(first, 1, ago(Duration::from_secs(1)), reading());
        for _ in 0..KEPT {
            readings.keep(DeploymentId::new(), 1, Instant::now(), reading());
        }
        assert_eq!(readings.lock().len(), KEPT);
        assert!(matches!(readings.find(first, 1), Found::Missing));
    }
}
