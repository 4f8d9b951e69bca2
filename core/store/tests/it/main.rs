//! The store against both backends: one test per behaviour, each run on SQLite and on
//! PostgreSQL (see [`backends::on_both`]). One binary, a module per noun.

mod backends;
mod fixtures;
#[path = "../../../../tests/src/postgres.rs"]
mod postgres;

mod audit;
mod deployments;
mod environments;
mod kv;
mod members;
mod operations;
mod plugins;
mod projects;
mod restore;
mod services;
mod sessions;
mod sqlite_files;
mod targets;
mod users;
