//! End-to-end tests of Komander against real components. One binary, a module per area.

mod artifacts;
mod audit;
mod authz;
mod bad_input;
mod cli;
mod concurrency;
mod connections;
mod export;
mod faults;
mod history;
mod limits;
mod local_admin;
mod members;
mod migrations;
mod operation_events;
mod operations;
mod plugins;
mod remote_runtime;
mod runs;
mod runs_cli;
mod runtimes;
mod secrets;
mod services;
mod stack;
mod targets;
mod users;
