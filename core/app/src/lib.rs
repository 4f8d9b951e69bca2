//! Komander's use cases: the one place that joins the domain, the store and the secrets module.
//! Every entry point (REST handler, web server function, CLI through the API) is a thin adapter
//! over a method of [`App`]; authorization happens here, once, through
//! [`komander_domain::authorize`], never in handlers.
//!
//! Each module is one of the spec's nouns: [`users`], [`projects`], [`members`],
//! [`environments`], [`deployments`], [`operations`] (followed live through
//! [`operation_events`]), [`services`], [`targets`], the web UI's [`sessions`]; [`runner`]
//! runs the operations of `server` environments.
//!
//! It must not depend on axum, the web UI or any transport.
#![deny(missing_docs)]

pub mod actions;
pub mod connections;
pub mod deployments;
pub mod environments;
pub mod local;
pub mod members;
pub mod operation_events;
pub mod operations;
pub mod plugins;
pub mod projects;
pub mod runner;
pub mod runtimes;
pub mod services;
pub mod sessions;
pub mod targets;
pub mod upload;
pub mod users;

mod error;
mod scope;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use komander_domain::{
    Actor, AuditId, ProjectId,
    api::{PAGE_DEFAULT, PAGE_MAX, Page, PageQuery},
    timestamps,
};
use komander_plugin_host::capabilities::docker::DockerGate;
use komander_secrets::Keyring;
use komander_store::{AuditRecord, DeploymentRecord, PageRequest, Store, UserRecord};
use time::OffsetDateTime;

pub use error::{AppError, ErrorReport};

/// The result of a use case.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// The application: the store and the keyring, shared by every request.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    plugins: Option<Arc<plugins::Plugins>>,
    /// The server's one bound on concurrent Docker operations, handed to every Docker scope.
    docker_gate: DockerGate,
    /// Where TLS targets' key files are written (`<data dir>/targets`); `None` connects to
    /// unix-socket targets only.
    target_files: Option<PathBuf>,
    /// The runner of `server` operations: this server's lease holder id and what it drives.
    runner: Arc<runner::Runner>,
    /// What live feeds of operations share: their wake-up signals and stream slots.
    events: operation_events::EventHub,
    /// How long browser sessions last.
    sessions: sessions::SessionSettings,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user behind the credentials.
    pub user: UserRecord,
}

impl Caller {
    /// The caller as the authorization function sees it.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self.user.id,
            instance_admin: self.user.instance_admin,
        }
    }
}

impl App {
    /// Builds the application over a store and a keyring.
    pub fn new(store: Arc<dyn Store>, keyring: Arc<Keyring>) -> Self {
        Self {
            store,
            keyring,
            plugins: None,
            docker_gate: DockerGate::new(DockerGate::DEFAULT_SIZE),
            target_files: None,
            runner: Arc::new(runner::Runner::new(
                &uuid::Uuid::now_v7().to_string(),
                runner::RunnerSettings::default(),
            )),
            events: operation_events::EventHub::new(operation_events::StreamLimits::default()),
            sessions: sessions::SessionSettings::default(),
        }
    }

    /// The application running `server` operations with leases held as `holder` (an id
    /// that survives the server's restarts, so that it reclaims its own operations at once),
    /// under `settings`.
    pub fn with_runner(mut self, holder: &str, settings: runner::RunnerSettings) -> Self {
        self.runner = Arc::new(runner::Runner::new(holder, settings));
        self
    }

    /// The application with these bounds on operations' event streams.
    pub fn with_stream_limits(mut self, limits: operation_events::StreamLimits) -> Self {
        self.events = operation_events::EventHub::new(limits);
        self
    }

    /// The application with Docker: `gate` bounds the Docker operations of every scope it
    /// builds, server-wide; TLS targets' key files go under `data_dir/targets`.
    pub fn with_docker(mut self, gate: DockerGate, data_dir: &Path) -> Self {
        self.docker_gate = gate;
        self.target_files = Some(data_dir.join(targets::TARGET_FILES_DIR));
        self
    }

    /// The application with plugins: install, grant and call them.
    pub fn with_plugins(mut self, plugins: Arc<plugins::Plugins>) -> Self {
        self.plugins = Some(plugins);
        self
    }

    /// The store, for readiness checks.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// An audit entry by `caller`, now.
    fn audit(
        &self,
        caller: &Caller,
        project: Option<ProjectId>,
        action: &str,
        target: impl Into<String>,
        fields: &[&str],
    ) -> AuditRecord {
        AuditRecord {
            id: AuditId::new(),
            project_id: project,
            actor_id: caller.user.id,
            actor_handle: caller.user.handle.to_string(),
            action: action.to_owned(),
            target: target.into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            at: timestamps::to_millis(OffsetDateTime::now_utc()),
            private_to: None,
        }
    }
}

/// `audit`, which names `deployment` (or one of its services or variables), shown only to the
/// deployment's owner while the deployment is private: nobody else may learn it exists.
fn about_deployment(audit: AuditRecord, deployment: &DeploymentRecord) -> AuditRecord {
    AuditRecord {
        private_to: (!deployment.shared).then_some(deployment.owner_id),
        ..audit
    }
}

/// A validated page request: asks the store for one item more than the page holds, to know
/// whether another page follows.
struct Paging {
    limit: u32,
}

impl Paging {
    fn new(query: &PageQuery) -> Result<(Paging, PageRequest)> {
        let limit = query.limit.unwrap_or(PAGE_DEFAULT);
        if !(1..=PAGE_MAX).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("limit must be between 1 and {PAGE_MAX}"),
            ));
        }
        if query
            .cursor
            .as_ref()
            .is_some_and(|c| c.chars().count() > 200)
        {
            return Err(AppError::invalid(
                "cursor",
                "the cursor is not one this server gave",
            ));
        }
        Ok((
            Paging { limit },
            PageRequest {
                limit: limit + 1,
                after: query.cursor.clone(),
            },
        ))
    }

    /// Turns what the store returned into a page, keyed by `key` for the next cursor.
    fn page<R, T>(
        &self,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> String,
        view: impl Fn(R) -> Result<T>,
    ) -> Result<Page<T>> {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if more { rows.last().map(&key) } else { None };
        Ok(Page {
            items: rows.into_iter().map(view).collect::<Result<_>>()?,
            next_cursor,
        })
    }
}
