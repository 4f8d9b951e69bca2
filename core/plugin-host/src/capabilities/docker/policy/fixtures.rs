//! What the policy's tests share: Komander's labels, the default policy, raw request bodies
//! and the assertion that a request is refused on one field.

use std::collections::{BTreeMap, BTreeSet};

use bollard::models::ContainerCreateBody;
use serde_json::{Value, json};

use super::{DockerPolicy, Refusal};

/// The labels of project `p1`, environment `e1`, deployment `d1`.
pub(super) fn labels() -> BTreeMap<String, String> {
    [
        ("dev.komander.project", "p1"),
        ("dev.komander.environment", "e1"),
        ("dev.komander.deployment", "d1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// No bind root, ports on loopback only, the [`labels`].
pub(super) fn policy() -> DockerPolicy {
    DockerPolicy {
        bind_root: None,
        publish_addresses: BTreeSet::new(),
        labels: labels(),
    }
}

/// A request as the daemon would read this JSON.
pub(super) fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid Docker request")
}

/// A create body with the Komander labels and this `HostConfig`.
pub(super) fn body(host_config: Value) -> ContainerCreateBody {
    from_json(json!({ "Image": "nginx:1.27", "Labels": labels(), "HostConfig": host_config }))
}

/// Asserts that `result` refuses `field`, and returns the refusal.
#[track_caller]
pub(super) fn assert_refused(result: Result<(), Refusal>, field: &str) -> Refusal {
    let refusal = result.expect_err("refused");
    assert_eq!(refusal.field(), field, "{refusal}");
    assert!(refusal.to_string().starts_with(&format!("{field}: ")));
    refusal
}

/// One test per `HostConfig` bypass: `name: { HostConfig } => "refused field"`.
macro_rules! refuses {
    ($($name:ident: $host_config:tt => $field:literal;)*) => {$(
        #[test]
        fn $name() {
            use $crate::capabilities::docker::policy::{check_container, fixtures};
            fixtures::assert_refused(
                check_container(&fixtures::body(serde_json::json!($host_config)), &fixtures::policy()),
                $field,
            );
        }
    )*};
}

pub(super) use refuses;
