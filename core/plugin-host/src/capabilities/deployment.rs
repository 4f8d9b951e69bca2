//! What the runtime capabilities (`docker`, `kubernetes`) share about the deployment a call
//! acts for: its ids, which label everything the host creates, and the values its secret
//! references stand for.

use std::collections::HashMap;

use crate::bindings::types::Error as WitError;

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
