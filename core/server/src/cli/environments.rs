//! `komander environment`: a project's environments, each with the runtime and the executor
//! its deployments use.

use std::collections::BTreeMap;

use anyhow::Context as _;
use clap::Subcommand;
use komander_domain::{
    Executor,
    api::{Environment, EnvironmentPatch, EnvironmentUpdate, NewEnvironment},
    names::{EnvironmentName, RuntimeId, TargetName},
};

use super::{
    ApiClient, OutputFormat,
    output::{Row, joined, print_item, print_json, print_list, timestamp},
    scope::{ProjectScope, Scope as _},
};

const EXECUTORS: &[Executor] = &[Executor::Server, Executor::Local];

/// `komander environment`.
#[derive(Subcommand, Debug)]
pub enum EnvironmentCommand {
    /// Lists a project's environments.
    List {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
    },
    /// Creates an environment (Admins, DevOps).
    Create {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
        /// The environment's slug, unique in the project; immutable.
        name: EnvironmentName,
        /// A display name [default: the slug].
        #[arg(long)]
        display_name: Option<String>,
        /// The runtime plugin that runs its deployments: the id of an installed, enabled runtime
        /// plugin (see `komander plugin list`), such as komander.compose, or the short name
        /// compose or kubernetes of a first-party one.
        #[arg(long)]
        runtime: RuntimeId,
        /// Where its deployments are applied [default: server].
        #[arg(long, value_parser = super::one_of(EXECUTORS, Executor::as_str))]
        executor: Option<Executor>,
        /// A target granted to the project for its server deployments [default: the
        /// instance's default target].
        #[arg(long)]
        target: Option<TargetName>,
        /// A runtime setting (not secret); repeat for several.
        #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = parse_setting)]
        settings: Vec<(String, String)>,
    },
    /// Shows an environment.
    Show {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
        /// The environment's slug.
        name: EnvironmentName,
    },
    /// Changes an environment (Admins, DevOps). Switching the executor from `server` to
    /// `local` is for Admins, and clears the secret values of its deployments.
    Edit {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
        /// The environment's slug.
        name: EnvironmentName,
        /// The new display name.
        #[arg(long)]
        display_name: Option<String>,
        /// The new executor.
        #[arg(long, value_parser = super::one_of(EXECUTORS, Executor::as_str))]
        executor: Option<Executor>,
        /// A target granted to the project for its server deployments.
        #[arg(long, conflicts_with = "default_target")]
        target: Option<TargetName>,
        /// Go back to the instance's default target.
        #[arg(long)]
        default_target: bool,
        /// A runtime setting; when any is given, they replace all settings.
        #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = parse_setting)]
        settings: Vec<(String, String)>,
        /// Removes all runtime settings.
        #[arg(long, conflicts_with = "settings")]
        clear_settings: bool,
    },
    /// Deletes an environment.
    Delete {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
        /// The environment's slug.
        name: EnvironmentName,
        /// Also delete its deployments (Admins); without it, having any is a conflict.
        #[arg(long)]
        force: bool,
    },
}

impl EnvironmentCommand {
    /// Runs the command and prints the server's answer.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (an `ApiError` in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        match self {
            Self::List { scope } => {
                print_list::<Environment>(api, out, &scope.collection("environments"), || {
                    format!("listing the environments of {scope}")
                })
                .await
            }
            Self::Create {
                scope,
                name,
                display_name,
                runtime,
                executor,
                target,
                settings,
            } => {
                let body = NewEnvironment {
                    name: name.clone(),
                    display_name,
                    runtime,
                    executor: executor.unwrap_or_default(),
                    target,
                    settings: settings.into_iter().collect(),
                };
                let environment: Environment = api
                    .post(&scope.collection("environments"), &body)
                    .await
                    .with_context(|| format!("creating environment {name} in {scope}"))?;
                print_item(out, &environment)
            }
            Self::Show { scope, name } => {
                let environment: Environment = api
                    .get(&scope.item("environments", &name))
                    .await
                    .with_context(|| format!("showing environment {scope}/{name}"))?;
                print_item(out, &environment)
            }
            Self::Edit {
                scope,
                name,
                display_name,
                executor,
                target,
                default_target,
                settings,
                clear_settings,
            } => {
                let settings: Option<BTreeMap<String, String>> =
                    if settings.is_empty() && !clear_settings {
                        None
                    } else {
                        Some(settings.into_iter().collect())
                    };
                let target = match (target, default_target) {
                    (Some(target), _) => Some(Some(target)),
                    (None, true) => Some(None),
                    (None, false) => None,
                };
                let patch = EnvironmentPatch {
                    display_name,
                    executor,
                    target,
                    settings,
                };
                let update: EnvironmentUpdate = api
                    .patch(&scope.item("environments", &name), &patch)
                    .await
                    .with_context(|| format!("editing environment {scope}/{name}"))?;
                if update.cleared_secret_values > 0 {
                    eprintln!(
                        "cleared {} secret values: their owners enter them again",
                        update.cleared_secret_values
                    );
                }
                match out {
                    OutputFormat::Table => print_item(out, &update.environment),
                    OutputFormat::Json => print_json(&update),
                }
            }
            Self::Delete { scope, name, force } => {
                api.delete(&scope.item("environments", &name), force)
                    .await
                    .with_context(|| format!("deleting environment {scope}/{name}"))?;
                eprintln!("deleted environment {scope}/{name}");
                Ok(())
            }
        }
    }
}

/// Parses `KEY=VALUE`.
fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

impl Row for Environment {
    const COLUMNS: &'static [&'static str] = &[
        "NAME",
        "DISPLAY NAME",
        "RUNTIME",
        "EXECUTOR",
        "TARGET",
        "UPDATED",
        "SETTINGS",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.to_string(),
            self.display_name.clone(),
            self.runtime.as_str().to_owned(),
            self.executor.as_str().to_owned(),
            self.target
                .as_ref()
                .map_or_else(|| "(default)".to_owned(), ToString::to_string),
            timestamp(self.updated_at),
            joined(
                self.settings
                    .iter()
                    .map(|(key, value)| format!("{key}={value}")),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_key_equals_value() {
        assert_eq!(
            parse_setting("namespace=a=b"),
            Ok(("namespace".to_owned(), "a=b".to_owned()))
        );
        assert!(parse_setting("=x").is_err());
        assert!(parse_setting("x").is_err());
    }
}
