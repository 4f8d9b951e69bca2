//! The `komander` binary's library: the REST API server ([`http`], [`serve`]), its
//! configuration ([`config`]), its data directory ([`data_dir`]) and the command-line client
//! ([`cli`]). Integration tests build the server with [`http::router`] and drive it without a
//! socket.
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod data_dir;
pub mod http;
pub mod serve;
