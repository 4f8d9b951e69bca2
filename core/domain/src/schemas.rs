//! Schemas of the OpenAPI document for wire values whose rules code checks rather than a type:
//! free text a person gives, file names and IP addresses. Each is one component of the document,
//! named here, so that every field holding such a value says the same rule.

use std::borrow::Cow;

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ObjectBuilder, OneOfBuilder, RefOr, Schema, Type, schema::KnownFormat},
};

/// Free text of one or more lines: at least one character that is not white space, and no
/// control character but the line feed (`check_text` checks the same).
const TEXT: &str = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F]*\
                    [^\\s\\u0000-\\u001F\\u007F-\\u009F]\
                    [^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F]*$";

/// Text without any control character, possibly empty.
const NO_CONTROLS: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// A TCP port, 0 to 65535, as a regular expression.
macro_rules! port {
    () => {
        "([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
    };
}

/// One label of a host name, as a regular expression.
macro_rules! label {
    () => {
        "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    };
}

/// An IPv4 address in dotted decimal, as a regular expression.
macro_rules! ipv4 {
    () => {
        concat!("(", octet!(), "\\.){3}", octet!())
    };
}

/// A number from 1 to 4294967295 (`u32::MAX`) without leading zeros, as a regular expression.
macro_rules! u32_from_1 {
    () => {
        concat!(
            "([1-9][0-9]{0,8}|[1-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}|429[0-3][0-9]{6}",
            "|4294[0-8][0-9]{5}|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}|4294967[01][0-9]{2}",
            "|42949672[0-8][0-9]|429496729[0-5])"
        )
    };
}

/// A number from 0 to 255 without leading zeros, as a regular expression.
macro_rules! octet {
    () => {
        "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    };
}

/// Defines a string component: its type, name, description, lengths and pattern.
macro_rules! text_schema {
    ($($(#[$doc:meta])* $name:ident: $description:literal, $min:expr, $max:expr, $pattern:expr;)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .min_length($min)
                    .max_length(Some($max))
                    .pattern(Some($pattern))
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    )+};
}

text_schema! {
    /// A display name: 1 to 100 characters after trimming, not only white space.
    DisplayNameText: "A display name: 1 to 100 characters, not only white space, no control \
                      characters", Some(1), 100, TEXT;
    /// A description: up to 1000 characters; white space only means none.
    DescriptionText: "A description: up to 1000 characters, no control characters but line \
                      feeds; white space only clears it", None, 1000, NO_CONTROLS_OR_LINES;
    /// An API token's name: 1 to 64 characters, not only white space.
    TokenNameText: "A token's name: 1 to 64 characters, not only white space, no control \
                    characters", Some(1), 64, TEXT;
    /// A runtime setting's value: up to 4096 characters, without NUL.
    SettingValueText: "A setting's value: up to 4096 characters, without NUL", None, 4096,
        "^[^\\u0000]*$";
    /// A connection's allowed path prefix: starts with `/`, at most 1024 characters.
    PathPrefixText: "A path prefix below the base URL, starting with /", Some(1), 1024, "^/";
    /// A unix socket's absolute path, at most 108 bytes, without `..`.
    SocketPathText: "An absolute path to a unix socket, without ..", Some(1), 108,
        "^/[^\\u0000]*$";
    /// A Docker Engine's TCP address, `tcp://host:port`.
    TcpAddressText: "tcp://host:port, the host a name or an IPv4 address", Some(1), 255,
        concat!("^tcp://[A-Za-z0-9.-]+:", port!(), "$");
    /// A connection's base URL: http or https, an ASCII host name whose last label starts with
    /// a letter or an IPv4 address in dotted decimal, an optional port and path, no query,
    /// fragment or credentials (the server also takes IPv6 addresses in brackets).
    HttpUrlText: "An absolute http(s) URL without query, fragment or credentials; the host a \
                  name whose last label starts with a letter, or an IPv4 address in dotted \
                  decimal", Some(1), 2048,
        concat!("^https?://(", ipv4!(), "|(", label!(), "\\.)*[A-Za-z]([A-Za-z0-9-]{0,61}",
            "[A-Za-z0-9])?)(:", port!(), ")?(/[^?#\\s]*)?$");
    /// A connection's credential, the `Authorization` value the host adds: printable ASCII and
    /// tabs, at most 4 KiB.
    CredentialText: "An HTTP header value: printable ASCII and tabs, at most 4096 characters",
        None, 4096, "^[\\t\\u0020-\\u007E]*$";
    /// A service's restart policy: `no`, `always`, `unless-stopped`, `on-failure` or
    /// `on-failure:N` with N from 1 to 4294967295, without leading zeros.
    RestartPolicyText: "no, always, unless-stopped, on-failure, or on-failure:N with N from 1 \
                        to 4294967295 (the most restarts)", Some(2), 21,
        concat!("^(no|always|unless-stopped|on-failure(:", u32_from_1!(), ")?)$");
    /// A service's working directory: an absolute path without NUL, at most 4 KiB.
    WorkingDirText: "An absolute path in the container, without NUL", Some(1), 4096,
        "^/[^\\u0000]*$";
    /// A service's user: a name, uid or uid:gid, without white space or control characters.
    UserText: "A user name, uid or uid:gid: no white space or control characters", Some(1),
        4096, "^[^\\s\\u0000-\\u001F\\u007F-\\u009F]+$";
    /// An image pinned by an apply: an image id or a reference by digest.
    PinnedImageText: "An image id (sha256:<64 hex>) or a reference by digest \
                      (repository@sha256:<64 hex>, the repository up to 255 characters without \
                      white space)", Some(71), 327,
        "^([^\\s]{1,255}@)?sha256:[0-9A-Fa-f]{64}$";
    /// A file's name as errors name it: 1 to 255 characters without control characters.
    FileNameText: "A file name: 1 to 255 characters without control characters",
        Some(1), 255, NO_CONTROLS;
}

/// Text without control characters but line feeds, possibly empty.
const NO_CONTROLS_OR_LINES: &str = "^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F]*$";

/// An IPv4 or IPv6 address, such as `127.0.0.1` or `::1`.
pub struct IpAddress;

impl PartialSchema for IpAddress {
    fn schema() -> RefOr<Schema> {
        let address = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(format)))
        };
        OneOfBuilder::new()
            .item(address(KnownFormat::Ipv4))
            .item(address(KnownFormat::Ipv6))
            .description(Some("An IPv4 or IPv6 address, such as 127.0.0.1 or ::1"))
            .into()
    }
}

impl ToSchema for IpAddress {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("IpAddress")
    }
}

/// An environment's runtime settings: at most 64, each named by a setting key (1 to 64 of
/// `A-Z a-z 0-9 _ . -`) with a value of up to 4096 characters.
pub struct RuntimeSettings;

impl PartialSchema for RuntimeSettings {
    fn schema() -> RefOr<Schema> {
        let settings = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Runtime settings (not secret): at most 64 keys, values up to 4096 characters",
            ))
            .additional_properties(Some(SettingValueText::schema()))
            .max_properties(Some(64));
        match <crate::names::SettingKey as PartialSchema>::schema() {
            RefOr::T(key) => settings.property_names(Some(key)),
            RefOr::Ref(_) => settings,
        }
        .into()
    }
}

impl ToSchema for RuntimeSettings {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RuntimeSettings")
    }
}

/// Defines the schema of one server-sent event of a stream: the `event` names it sends, an
/// `id`, and `data`, one JSON document as text.
macro_rules! event_schema {
    ($($(#[$doc:meta])* $name:ident: $description:literal, [$($event:literal),+];)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                server_sent_event($description, &[$($event),+])
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    )+};
}

event_schema! {
    /// One event of an operation's stream.
    OperationEvent: "An event of an operation's stream: progress (with its id), step, end or \
                     resume; its data is one JSON document", ["progress", "step", "end", "resume"];
    /// One event of a service's log stream.
    LogEvent: "An event of a service's log stream: tail, line or resume; its data is one JSON \
               document", ["tail", "line", "resume"];
}

/// The schema of a server-sent event whose `event` is one of `events`.
fn server_sent_event(description: &'static str, events: &[&'static str]) -> RefOr<Schema> {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .property("event", text().enum_values(Some(events.iter().copied())))
        .required("event")
        .property("id", text())
        .property("data", text().content_media_type("application/json"))
        .required("data")
        .into()
}
