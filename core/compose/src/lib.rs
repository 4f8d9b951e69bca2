//! Reads a Compose file into the services Komander creates: images, commands, entrypoints,
//! environment, ports, named volumes, health checks, dependencies, restart policies, limits,
//! working directories and users, after the Compose specification's variable interpolation.
//! What Komander cannot or will not run (`build:`, host bind mounts, `privileged`,
//! `network_mode: host`, unknown keys…) is refused, each refusal naming the file, the line and
//! the key, all of them at once.
//!
//! Pure: no I/O, no process environment. The caller passes the file's text, its `.env` text
//! and the variables to interpolate with; nothing here reads a file or the environment, which is
//! why `env_file:` is refused.
//!
//! ```
//! use std::collections::BTreeMap;
//! use komander_compose::{Source, parse};
//!
//! let text = "services:\n  db:\n    image: postgres:17\n    environment:\n      \
//!             POSTGRES_PASSWORD: ${PW:-changeme}\n";
//! let services = parse(&Source {
//!     file_name: "compose.yaml",
//!     text,
//!     env_file: None,
//!     variables: &BTreeMap::new(),
//! })
//! .unwrap();
//! assert_eq!(services[0].service.image, "postgres:17");
//! assert_eq!(services[0].variables[0].value, "changeme");
//! assert!(services[0].variables[0].secret);
//!
//! let refused = parse(&Source {
//!     text: "services:\n  web:\n    image: nginx\n    privileged: true\n",
//!     ..Source::new("compose.yaml", "")
//! })
//! .unwrap_err();
//! assert_eq!(
//!     refused.to_string(),
//!     "compose.yaml:4: services.web.privileged: Komander does not run privileged containers"
//! );
//! ```
#![deny(missing_docs)]

mod env_file;
mod interpolate;
mod service;
mod yaml;

use std::{collections::BTreeMap, fmt};

use komander_domain::{api::NewService, names::VariableName};

pub use yaml::{MAX_DEPTH, MAX_NODES};

use crate::{
    interpolate::{InterpolationError, Variables, interpolate},
    yaml::{Node, Value},
};

/// The largest Compose file read, in bytes: real ones are a few KiB.
pub const MAX_FILE_BYTES: usize = 128 * 1024;
/// The largest `.env` file read, in bytes.
pub const MAX_ENV_FILE_BYTES: usize = 64 * 1024;
/// The most services one file creates.
pub const MAX_SERVICES: usize = 100;

/// What to read.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The file's name, as refusals name it (`compose.yaml`).
    pub file_name: &'a str,
    /// The file's text.
    pub text: &'a str,
    /// The text of its `.env` file, if any.
    pub env_file: Option<&'a str>,
    /// Variables to interpolate with, winning over the `.env` file's (as a shell's variables
    /// do for Compose).
    pub variables: &'a BTreeMap<String, String>,
}

static NO_VARIABLES: BTreeMap<String, String> = BTreeMap::new();

impl<'a> Source<'a> {
    /// `text` named `file_name`, with no `.env` file and no variables.
    pub fn new(file_name: &'a str, text: &'a str) -> Source<'a> {
        Source {
            file_name,
            text,
            env_file: None,
            variables: &NO_VARIABLES,
        }
    }
}

/// A service to create, with its environment variables.
#[derive(Clone, Debug)]
pub struct ImportedService {
    /// The service.
    pub service: NewService,
    /// Its variables, in file order.
    pub variables: Vec<ImportedVariable>,
}

/// An environment variable of an imported service.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportedVariable {
    /// Its name.
    pub name: VariableName,
    /// Its value, interpolated.
    pub value: String,
    /// Whether it is secret by its name (see [`is_secret_name`]).
    pub secret: bool,
}

impl fmt::Debug for ImportedVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportedVariable")
            .field("name", &self.name)
            .field("value", &if self.secret { "***" } else { &self.value })
            .field("secret", &self.secret)
            .finish()
    }
}

/// Whether a variable named `name` holds a secret: when one of its `_`-separated parts is
/// PASSWORD, PASSWD, SECRET, TOKEN, KEY, APIKEY or PRIVATE, in any case (`DB_PASSWORD` and
/// `api_key` are, `KEYCLOAK_URL` and `PASSWORDLESS` are not).
pub fn is_secret_name(name: &str) -> bool {
    const SECRET_PARTS: &[&str] = &[
        "PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "APIKEY", "PRIVATE",
    ];
    name.split('_')
        .any(|part| SECRET_PARTS.iter().any(|s| part.eq_ignore_ascii_case(s)))
}

/// One thing the file asks that Komander refuses, where it asks it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct Refusal {
    /// The file's name.
    pub file: String,
    /// The line (1-based).
    pub line: usize,
    /// The key, as a dotted path (`services.web.privileged`).
    pub key: String,
    /// Why.
    pub message: String,
}

/// Everything refused in a file, in file order (never empty).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Refused(pub Vec<Refusal>);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, refusal) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{refusal}")?;
        }
        Ok(())
    }
}

/// Collects refusals about one file.
pub(crate) struct Refusals<'a> {
    file: &'a str,
    pub(crate) found: Vec<Refusal>,
}

impl Refusals<'_> {
    /// Records a refusal of `key` at `line`.
    pub(crate) fn refuse(&mut self, line: usize, key: &str, message: impl Into<String>) {
        self.found.push(Refusal {
            file: self.file.to_owned(),
            line,
            key: key.to_owned(),
            message: message.into(),
        });
    }

    fn finish<T>(mut self, value: T) -> Result<T, Refused> {
        if self.found.is_empty() {
            return Ok(value);
        }
        self.found.sort_by_key(|r| r.line);
        Err(Refused(self.found))
    }
}

/// Reads `source` into the services to create, in file order.
///
/// # Errors
/// [`Refused`], naming every key refused with its line: a file or `.env` file over its size
/// limit, YAML that does not parse or is too deep or too large (see [`MAX_DEPTH`],
/// [`MAX_NODES`]), an interpolation that fails, more than [`MAX_SERVICES`] services, invalid
/// names, and every feature Komander does not run.
pub fn parse(source: &Source<'_>) -> Result<Vec<ImportedService>, Refused> {
    let mut refusals = Refusals {
        file: source.file_name,
        found: Vec::new(),
    };
    if source.text.len() > MAX_FILE_BYTES {
        refusals.refuse(
            1,
            source.file_name,
            format!(
                "the file is {} bytes: Komander reads Compose files of at most {MAX_FILE_BYTES} \
                 bytes",
                source.text.len()
            ),
        );
        return refusals.finish(Vec::new());
    }
    let variables = match variables(source) {
        Ok(variables) => variables,
        Err(refusal) => {
            refusals.found.push(refusal);
            return refusals.finish(Vec::new());
        }
    };
    let mut root = match yaml::load(source.text) {
        Ok(root) => root,
        Err(e) => {
            refusals.refuse(e.line, "(yaml)", e.message);
            return refusals.finish(Vec::new());
        }
    };
    interpolate_values(&mut root, "", &variables, &mut refusals);
    if !refusals.found.is_empty() {
        return refusals.finish(Vec::new());
    }
    let services = service::read_file(&root, &variables, &mut refusals);
    refusals.finish(services)
}

/// The `.env` file's variables under the caller's.
fn variables(source: &Source<'_>) -> Result<Variables, Refusal> {
    let mut variables = match source.env_file {
        Some(text) if text.len() > MAX_ENV_FILE_BYTES => {
            return Err(Refusal {
                file: ".env".to_owned(),
                line: 1,
                key: ".env".to_owned(),
                message: format!(
                    "the file is {} bytes: Komander reads .env files of at most \
                     {MAX_ENV_FILE_BYTES} bytes",
                    text.len()
                ),
            });
        }
        Some(text) => env_file::read(text, source.variables).map_err(|e| Refusal {
            file: ".env".to_owned(),
            line: e.line,
            key: e.name.unwrap_or_else(|| ".env".to_owned()),
            message: e.message,
        })?,
        None => Variables::new(),
    };
    variables.extend(source.variables.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(variables)
}

/// A key's dotted path below `parent`.
pub(crate) fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Interpolates every scalar value (never a key) in place, refusing the ones that fail.
fn interpolate_values(node: &mut Node, path: &str, vars: &Variables, refusals: &mut Refusals<'_>) {
    match &mut node.value {
        Value::Null => {}
        Value::Scalar { text, .. } => match interpolate(text, vars) {
            Ok(done) => *text = done,
            Err(InterpolationError::Invalid(expression)) => refusals.refuse(
                node.line,
                path,
                format!("invalid interpolation {expression:?}"),
            ),
            Err(InterpolationError::Required { name, message }) => refusals.refuse(
                node.line,
                path,
                format!("required variable {name} is missing a value: {message}"),
            ),
        },
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_values(item, &format!("{path}[{i}]"), vars, refusals);
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries {
                interpolate_values(value, &child(path, key), vars, refusals);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_told_by_their_underscore_separated_parts() {
        for secret in [
            "DB_PASSWORD",
            "PASSWORD",
            "MYSQL_ROOT_PASSWD",
            "JWT_SECRET",
            "GITHUB_TOKEN",
            "API_KEY",
            "STRIPE_APIKEY",
            "SSH_PRIVATE_KEY",
            "db_password",
        ] {
            assert!(is_secret_name(secret), "{secret}");
        }
        for plain in [
            "KEYCLOAK_URL",
            "PASSWORDLESS",
            "TOKENIZER_MODE",
            "MONKEY",
            "DB_USER",
            "SECRETARY",
        ] {
            assert!(!is_secret_name(plain), "{plain}");
        }
    }

    #[test]
    fn a_file_over_the_size_limit_is_refused_before_it_is_parsed() {
        let text = format!("services: {{}}\n#{}\n", "x".repeat(MAX_FILE_BYTES));
        let err = parse(&Source::new("big.yaml", &text)).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert!(
            err.to_string()
                .starts_with("big.yaml:1: big.yaml: the file is"),
            "{err}"
        );
    }

    #[test]
    fn a_debug_print_hides_secret_values() {
        let variable = ImportedVariable {
            name: "DB_PASSWORD".parse().unwrap(),
            value: "hunter2".into(),
            secret: true,
        };
        assert!(!format!("{variable:?}").contains("hunter2"));
    }
}
