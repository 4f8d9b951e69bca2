//! Names users give, validated once at the edge.
//!
//! Slugs (project, environment, deployment, service, volume names and user handles) follow
//! `[a-z]([a-z0-9-]*[a-z0-9])?`, at most 30 characters (handles: 39), so that
//! `<project>-<environment>` fits a 63-character Kubernetes name; a few words are reserved
//! because they collide with routes. Variable names follow `[A-Za-z_][A-Za-z0-9_]*`.
//! Paths on disk are built only from these types.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct NameError {
    /// What kind of name it was ("project name", "variable name"…).
    pub kind: &'static str,
    /// The refused input.
    pub value: String,
    /// What rule it broke.
    pub reason: String,
}

/// Slugs that would collide with routes of the API or the web UI.
pub const RESERVED_SLUGS: &[&str] = &[
    "new", "edit", "api", "admin", "settings", "login", "logout", "me", "static", "pkg", "assets",
    "healthz", "readyz", "metrics",
];

fn refused<T>(kind: &'static str, value: &str, reason: impl Into<String>) -> Result<T, NameError> {
    Err(NameError {
        kind,
        value: value.to_owned(),
        reason: reason.into(),
    })
}

fn check_slug(kind: &'static str, value: &str, max: usize) -> Result<(), NameError> {
    if value.is_empty() {
        return refused(kind, value, "must not be empty");
    }
    if value.len() > max {
        return refused(kind, value, format!("must be at most {max} characters"));
    }
    let bytes = value.as_bytes();
    if !bytes[0].is_ascii_lowercase() {
        return refused(kind, value, "must start with a lower-case letter a-z");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return refused(
            kind,
            value,
            "may hold only lower-case letters a-z, digits and '-'",
        );
    }
    if bytes[bytes.len() - 1] == b'-' {
        return refused(kind, value, "must not end with '-'");
    }
    if RESERVED_SLUGS.contains(&value) {
        return refused(kind, value, "is a reserved word");
    }
    Ok(())
}

fn check_variable(kind: &'static str, value: &str, max: usize) -> Result<(), NameError> {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return refused(kind, value, "must not be empty");
    }
    if bytes.len() > max {
        return refused(kind, value, format!("must be at most {max} characters"));
    }
    if !(bytes[0].is_ascii_alphabetic() || bytes[0] == b'_') {
        return refused(kind, value, "must start with a letter or '_'");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return refused(kind, value, "may hold only letters, digits and '_'");
    }
    Ok(())
}

macro_rules! name_type {
    ($($(#[$doc:meta])* $name:ident: $kind:literal, $check:ident, $max:literal, $pattern:literal;)+) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String, pattern = $pattern)]
        pub struct $name(String);

        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $check($kind, s, $max)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                $check($kind, &s, $max)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )+};
}

name_type! {
    /// A project's immutable slug, used in URLs.
    ProjectName: "project name", check_slug, 30, "^[a-z]([a-z0-9-]*[a-z0-9])?$";
    /// An environment's immutable slug, unique within its project.
    EnvironmentName: "environment name", check_slug, 30, "^[a-z]([a-z0-9-]*[a-z0-9])?$";
    /// A deployment's immutable slug, unique within its environment.
    DeploymentName: "deployment name", check_slug, 30, "^[a-z]([a-z0-9-]*[a-z0-9])?$";
    /// A service's immutable slug, unique within its deployment.
    ServiceName: "service name", check_slug, 30, "^[a-z]([a-z0-9-]*[a-z0-9])?$";
    /// A named volume a service mounts.
    VolumeName: "volume name", check_slug, 30, "^[a-z]([a-z0-9-]*[a-z0-9])?$";
    /// A user's unique handle.
    UserHandle: "user handle", check_slug, 39, "^[a-z]([a-z0-9-]*[a-z0-9])?$";
    /// An environment variable's name.
    VariableName: "variable name", check_variable, 128, "^[A-Za-z_][A-Za-z0-9_]*$";
}

/// Checks free text a person gives (display names, descriptions, token names): trimmed, not
/// empty, at most `max` characters, no control characters.
///
/// # Errors
/// A [`NameError`] naming `kind` and the rule broken.
pub fn check_text(kind: &'static str, value: &str, max: usize) -> Result<String, NameError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return refused(kind, value, "must not be empty");
    }
    if trimmed.chars().count() > max {
        return refused(kind, value, "is too long");
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return refused(kind, value, "must not hold control characters");
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_rule() {
        for ok in [
            "a",
            "shop",
            "shop-2",
            "a1",
            "abcdefghijklmnopqrstuvwxyz0123",
        ] {
            assert!(ok.parse::<ProjectName>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Shop",
            "1shop",
            "-shop",
            "shop-",
            "sh_op",
            "shop!",
            "é",
            "abcdefghijklmnopqrstuvwxyz01234",
            "new",
            "api",
        ] {
            assert!(bad.parse::<ProjectName>().is_err(), "{bad:?}");
        }
        let err = "Shop".parse::<EnvironmentName>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid environment name \"Shop\": must start with a lower-case letter a-z"
        );
    }

    #[test]
    fn handles_may_be_longer() {
        assert!("a".repeat(39).parse::<UserHandle>().is_ok());
        assert!("a".repeat(40).parse::<UserHandle>().is_err());
    }

    #[test]
    fn variable_names_follow_their_rule() {
        for ok in ["A", "_x", "DATABASE_URL", "a1"] {
            assert!(ok.parse::<VariableName>().is_ok(), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "a.b"] {
            assert!(bad.parse::<VariableName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_deserialize_through_validation() {
        assert!(serde_json::from_str::<ServiceName>("\"web\"").is_ok());
        assert!(serde_json::from_str::<ServiceName>("\"Web\"").is_err());
    }

    #[test]
    fn free_text_is_trimmed_and_bounded() {
        assert_eq!(check_text("display name", "  Shop  ", 10).unwrap(), "Shop");
        assert!(check_text("display name", "   ", 10).is_err());
        assert!(check_text("display name", "a\u{7}b", 10).is_err());
        assert!(check_text("display name", &"x".repeat(11), 10).is_err());
    }
}
