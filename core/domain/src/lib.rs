//! Komander's domain: what the product spec calls users, projects, members, environments,
//! deployments and services, as validated types and the references a path makes of them, plus
//! the one authorization function and the REST wire types shared by the server, the CLI and the
//! web UI.
//!
//! This crate does no I/O and has no async: it must not depend on sqlx, axum, tokio or wasmtime.
//!
//! ```
//! use komander_domain::{authorize, Action, Actor, Facts, Role, UserId};
//! use komander_domain::names::ProjectName;
//!
//! let name: ProjectName = "shop".parse().unwrap();
//! assert_eq!(name.as_str(), "shop");
//! assert!("Shop!".parse::<ProjectName>().is_err());
//!
//! let actor = Actor { user: UserId::new(), instance_admin: false };
//! assert!(authorize(&actor, Action::DeleteProject, &Facts::member(Role::Dev)).is_err());
//! assert!(authorize(&actor, Action::DeleteProject, &Facts::member(Role::Admin)).is_ok());
//! ```
#![deny(missing_docs)]

pub mod api;
pub mod authz;
pub mod ids;
pub mod names;
pub mod notation;
pub mod refs;
#[cfg(feature = "server")]
pub mod schemas;
pub mod services;
pub mod timestamps;

pub use authz::{
    Action, Actor, Denied, DeploymentFacts, Executor, Facts, Role, Visibility, allowed, authorize,
};
pub use ids::*;
pub use refs::{DeploymentRef, EnvironmentRef, ProjectRef, RefError, Segment, ServiceRef};
