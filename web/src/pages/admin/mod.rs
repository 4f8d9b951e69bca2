//! The instance admin pages: plugins, targets, users and their tokens. Every read and write
//! of them is refused by the application for anyone else, whose page shows that refusal.

pub mod plugins;
pub mod targets;
pub mod users;
