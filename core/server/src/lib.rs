//! The `komander` binary's library: the REST API server ([`http`], [`serve`]), its
//! configuration ([`config`]) and the command-line client ([`cli`]). Integration tests build
//! the server with [`http::router`] and drive it without a socket.
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod http;
pub mod serve;
