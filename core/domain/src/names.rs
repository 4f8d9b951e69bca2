//! Names users give, validated once at the edge.
//!
//! Slugs (project, environment, deployment, service, volume names and user handles) follow
//! `[a-z]([a-z0-9-]*[a-z0-9])?`, at most 30 characters (handles: 39), so that
//! `<project>-<environment>` fits a 63-character Kubernetes name; a few words are reserved
//! because they collide with routes. Variable names follow `[A-Za-z_][A-Za-z0-9_]*`.
//! Connection names, plugin ids, setting keys and image references each allow one set of
//! characters, bounded in length; a [`RuntimeId`] is a plugin id that also reads the short names
//! of the first-party runtimes. Paths on disk are built only from these types.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

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

/// Checks a name of one character set: 1 to `max` bytes, the first accepted by `first`, every
/// one by `each`. Any break is refused with `rule()`, which states the whole rule.
fn check_chars(
    kind: &'static str,
    value: &str,
    max: usize,
    first: fn(&u8) -> bool,
    each: fn(&u8) -> bool,
    rule: impl FnOnce() -> String,
) -> Result<(), NameError> {
    let bytes = value.as_bytes();
    if (1..=max).contains(&bytes.len()) && first(&bytes[0]) && bytes.iter().all(each) {
        Ok(())
    } else {
        refused(kind, value, rule())
    }
}

fn check_connection(kind: &'static str, value: &str, max: usize) -> Result<(), NameError> {
    check_chars(
        kind,
        value,
        max,
        u8::is_ascii_lowercase,
        |b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-',
        || format!("1 to {max} of a-z 0-9 - starting with a letter"),
    )
}

fn check_plugin_id(kind: &'static str, value: &str, max: usize) -> Result<(), NameError> {
    check_chars(
        kind,
        value,
        max,
        u8::is_ascii_lowercase,
        |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(b),
        || format!("1 to {max} of a-z 0-9 - . starting with a letter"),
    )
}

fn check_setting(kind: &'static str, value: &str, max: usize) -> Result<(), NameError> {
    let each = |b: &u8| b.is_ascii_alphanumeric() || b"_.-".contains(b);
    check_chars(kind, value, max, each, each, || {
        format!("use 1 to {max} of A-Z a-z 0-9 _ . -")
    })
}

fn check_image(kind: &'static str, value: &str, max: usize) -> Result<(), NameError> {
    check_chars(
        kind,
        value,
        max,
        u8::is_ascii_alphanumeric,
        |b| b.is_ascii_alphanumeric() || b"._-/:@".contains(b),
        || "expected name[:tag][@digest]".to_owned(),
    )
}

macro_rules! name_type {
    ($($(#[$doc:meta])* $name:ident: $kind:literal, $check:ident, $max:literal, $pattern:literal;)+) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
        #[serde(try_from = "String", into = "String")]
        #[cfg_attr(feature = "server", schema(value_type = String, pattern = $pattern))]
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

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    )+};
}

name_type! {
    /// A project's immutable slug, used in URLs.
    ProjectName: "project name", check_slug, 30, "^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$";
    /// An environment's immutable slug, unique within its project.
    EnvironmentName: "environment name", check_slug, 30, "^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$";
    /// A deployment's immutable slug, unique within its environment.
    DeploymentName: "deployment name", check_slug, 30, "^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$";
    /// A service's immutable slug, unique within its deployment.
    ServiceName: "service name", check_slug, 30, "^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$";
    /// A named volume a service mounts.
    VolumeName: "volume name", check_slug, 30, "^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$";
    /// A target's immutable slug, unique in the instance (`local` is the engine found at start).
    TargetName: "target name", check_slug, 30, "^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$";
    /// A user's unique handle.
    UserHandle: "user handle", check_slug, 39, "^[a-z]([a-z0-9-]{0,37}[a-z0-9])?$";
    /// An environment variable's name.
    VariableName: "variable name", check_variable, 128, "^[A-Za-z_][A-Za-z0-9_]{0,127}$";
    /// A plugin connection's name, unique within its install: 1 to 63 of `a-z 0-9 -`, starting
    /// with a letter.
    ConnectionName: "connection name", check_connection, 63, "^[a-z][a-z0-9-]{0,62}$";
    /// A plugin's id, from its manifest, such as `acme.nomad`: 1 to 64 of `a-z 0-9 - .`,
    /// starting with a letter.
    PluginId: "plugin id", check_plugin_id, 64, "^[a-z][a-z0-9.-]{0,63}$";
    /// The key of an environment's setting: 1 to 64 of `A-Z a-z 0-9 _ . -`.
    SettingKey: "setting name", check_setting, 64, "^[A-Za-z0-9_.-]{1,64}$";
    /// A container image reference, `name[:tag][@digest]`: 1 to 255 of
    /// `A-Z a-z 0-9 . _ - / : @`, starting with a letter or digit. Only the characters are
    /// checked, not the grammar: the registry has the last word.
    ImageRef: "image reference", check_image, 255, "^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$";
}

/// The runtime plugin that runs an environment's deployments, named by its plugin id: a
/// first-party one such as `komander.compose`, or one an organization wrote, such as
/// `acme.nomad`. The short names `compose` and `kubernetes` are read as the first-party ids
/// `komander.compose` and `komander.kubernetes`, so a plugin whose id is a bare short name
/// cannot be chosen by it; the id is always written in full. Only the spelling is checked
/// here: whether such a runtime is installed and enabled is the server's to say.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "server", schema(value_type = String, pattern = "^[a-z][a-z0-9.-]{0,63}$", example = "komander.compose"))]
pub struct RuntimeId(PluginId);

impl RuntimeId {
    /// The short names accepted for the first-party runtimes, with the plugin id each stands
    /// for. `kubernetes` names `komander.kubernetes`, which Komander does not ship yet: it is
    /// accepted wherever a plugin with that id is installed.
    pub const SHORT_NAMES: &[(&str, &str)] = &[
        ("compose", "komander.compose"),
        ("kubernetes", "komander.kubernetes"),
    ];

    /// The plugin id as text, always in full (`komander.compose`, never `compose`).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The runtime plugin's id.
    pub fn plugin(&self) -> &PluginId {
        &self.0
    }
}

impl FromStr for RuntimeId {
    type Err = NameError;

    /// Reads a plugin id, or a short name as the first-party id it stands for.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let id = Self::SHORT_NAMES
            .iter()
            .find(|(short, _)| *short == s)
            .map_or(s, |(_, id)| *id);
        check_plugin_id("runtime", id, 64)?;
        Ok(Self(PluginId(id.to_owned())))
    }
}

impl TryFrom<String> for RuntimeId {
    type Error = NameError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RuntimeId> for String {
    fn from(id: RuntimeId) -> String {
        id.0.into()
    }
}

impl fmt::Display for RuntimeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RuntimeId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Checks free text a person gives (display names, descriptions, token names): no control
/// characters but line feeds and at most `max` characters as given, not empty once trimmed;
/// answers it trimmed. (The rules hold for the text as sent, as the API's document states
/// them, white space around it included.)
///
/// # Errors
/// A [`NameError`] naming `kind` and the rule broken.
pub fn check_text(kind: &'static str, value: &str, max: usize) -> Result<String, NameError> {
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return refused(kind, value, "must not hold control characters");
    }
    if value.chars().count() > max {
        return refused(kind, value, "is too long");
    }
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return refused(kind, value, "must not be empty");
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

    /// Checks that `T` takes every name of `ok`, refuses every one of `bad` with `message`
    /// (where `{}` stands for the refused value, quoted), and survives a JSON round trip.
    fn check_rule<T>(ok: &[&str], bad: &[&str], message: &str)
    where
        T: FromStr<Err = NameError>
            + Serialize
            + serde::de::DeserializeOwned
            + fmt::Debug
            + PartialEq,
    {
        for ok in ok {
            let name: T = ok.parse().unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            let json = serde_json::to_string(&name).unwrap();
            assert_eq!(json, format!("{ok:?}"));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), name);
        }
        for bad in bad {
            let err = bad.parse::<T>().expect_err(bad);
            assert_eq!(err.to_string(), message.replace("{}", &format!("{bad:?}")));
            assert!(
                serde_json::from_str::<T>(&format!("{bad:?}")).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn connection_names_follow_their_rule() {
        check_rule::<ConnectionName>(
            &["a", "api", "github-2", &"a".repeat(63)],
            &[
                "",
                "2fa",
                "-a",
                "Api",
                "a_b",
                "a.b",
                "a b",
                "é",
                &"a".repeat(64),
            ],
            "invalid connection name {}: 1 to 63 of a-z 0-9 - starting with a letter",
        );
    }

    #[test]
    fn plugin_ids_follow_their_rule() {
        check_rule::<PluginId>(
            &[
                "a",
                "acme.nomad",
                "komander.test-guest",
                "a-",
                &"a".repeat(64),
            ],
            &[
                "",
                "1a",
                ".a",
                "-a",
                "Acme",
                "a_b",
                "a/b",
                "é",
                &"a".repeat(65),
            ],
            "invalid plugin id {}: 1 to 64 of a-z 0-9 - . starting with a letter",
        );
    }

    #[test]
    fn runtime_ids_read_short_names_as_first_party_ids() {
        for (short, id) in [
            ("compose", "komander.compose"),
            ("kubernetes", "komander.kubernetes"),
            ("komander.compose", "komander.compose"),
            ("example.webhook-runtime", "example.webhook-runtime"),
        ] {
            let runtime: RuntimeId = short.parse().unwrap();
            assert_eq!(runtime, id);
            assert_eq!(runtime.plugin(), &id.parse::<PluginId>().unwrap());
            assert_eq!(
                serde_json::to_value(&runtime).unwrap(),
                serde_json::json!(id),
                "written in full"
            );
            let read: RuntimeId = serde_json::from_value(serde_json::json!(short)).unwrap();
            assert_eq!(read, runtime);
        }
        for bad in ["", "Compose", "1a", "a/b", "compose ", &"a".repeat(65)] {
            let err = bad.parse::<RuntimeId>().unwrap_err();
            assert_eq!(err.kind, "runtime");
            assert_eq!(err.value, bad);
            assert!(serde_json::from_value::<RuntimeId>(serde_json::json!(bad)).is_err());
        }
    }

    #[test]
    fn setting_keys_follow_their_rule() {
        check_rule::<SettingKey>(
            &["a", "Region", "_x", "1", "-", "a.b-c_D", &"k".repeat(64)],
            &["", "a b", "a/b", "a:b", "é", "a\0", &"k".repeat(65)],
            "invalid setting name {}: use 1 to 64 of A-Z a-z 0-9 _ . -",
        );
    }

    #[test]
    fn image_references_follow_their_rule() {
        check_rule::<ImageRef>(
            &[
                "nginx",
                "nginx:1.27",
                "ghcr.io/acme/web:v2",
                "localhost:5000/web@sha256:0123abcdef",
                "1password/connect",
                &"a".repeat(255),
            ],
            &[
                "",
                ".nginx",
                "/web",
                ":tag",
                "@sha",
                "-x",
                "Nginx latest",
                "web$",
                "é",
                &"a".repeat(256),
            ],
            "invalid image reference {}: expected name[:tag][@digest]",
        );
    }

    #[test]
    fn names_compare_with_text() {
        let id: PluginId = "acme.nomad".parse().unwrap();
        assert_eq!(id, "acme.nomad");
        assert!(id == *"acme.nomad");
        assert_ne!(id, "acme");
    }

    #[test]
    fn free_text_is_trimmed_and_bounded() {
        assert_eq!(check_text("display name", "  Shop  ", 10).unwrap(), "Shop");
        assert!(check_text("display name", "   ", 10).is_err());
        assert!(check_text("display name", "a\u{7}b", 10).is_err());
        assert!(check_text("display name", &"x".repeat(11), 10).is_err());
        // As sent: white space around counts, and a control character there too.
        assert!(check_text("display name", &format!(" {} ", "x".repeat(9)), 10).is_err());
        assert!(check_text("display name", "Shop\r", 10).is_err());
        assert!(check_text("display name", "\tShop", 10).is_err());
        assert!(check_text("display name", "two\nlines", 10).is_ok());
    }
}
