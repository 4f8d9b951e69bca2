//! The pages, one module per kind of object.

pub mod admin;
pub mod audit;
pub mod deployment;
pub mod environment;
pub mod invitation;
pub mod members;
pub mod not_found;
pub mod project;
pub mod projects;
pub mod service;
pub mod sign_in;
