//! What the runtime capabilities (`docker`, `kubernetes`) share about the deployment a call
//! acts for: its ids, which label everything the host creates, and the values its secret
//! references stand for.

use std::collections::HashMap;

use base64::Engine as _;

use crate::bindings::types::Error as WitError;

/// What a secret value becomes in the logs a guest reads.
pub const REDACTED: &str = "[secret]";

/// Values shorter than this are not redacted from logs: replacing every `a` or `42` would
/// garble them, and a secret that short is guessable anyway.
pub const REDACTED_MIN_BYTES: usize = 4;

/// The ids of the deployment a call acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentIds {
    /// The project's id.
    pub project: String,
    /// The environment's id.
    pub environment: String,
    /// The deployment's id.
    pub deployment: String,
}

/// The values a call's `secret-ref`s stand for, by reference name. Never printed.
#[derive(Default)]
pub struct SecretValues(HashMap<String, String>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl SecretValues {
    /// Lets the reference `name` stand for `value`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// Whether no value is in it.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `line` with every value (and its base64 form, as in a Kubernetes Secret's data)
    /// replaced by [`REDACTED`]: what a container prints of its environment does not reach
    /// the guest that reads its log. A value transformed otherwise is not caught.
    pub(crate) fn redact(&self, line: &str) -> String {
        let mut line = line.to_owned();
        for value in self.0.values().filter(|v| v.len() >= REDACTED_MIN_BYTES) {
            let encoded = base64::engine::general_purpose::STANDARD.encode(value);
            for form in [value.as_str(), encoded.as_str()] {
                if line.contains(form) {
                    line = line.replace(form, REDACTED);
                }
            }
        }
        line
    }

    /// The value `name` stands for in this call.
    ///
    /// # Errors
    /// `denied` for a reference outside the call's deployment.
    pub(crate) fn get(&self, name: &str) -> Result<&str, WitError> {
        self.0.get(name).map(String::as_str).ok_or_else(|| {
            WitError::Denied(format!(
                "secret {name:?} is not one of this deployment's secrets"
            ))
        })
    }
}
