//! Immutable object ids. Every object gets a UUIDv7 at creation; ids are what foreign keys,
//! container labels, Kubernetes namespaces and folders of state use, never names.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        #[cfg_attr(feature = "server", schema(value_type = String, format = Uuid))]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (UUIDv7) id. Only servers make ids (the `server` feature).
            #[cfg(feature = "server")]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The id as a UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        #[cfg(feature = "server")]
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )+};
}

id_type! {
    /// Identifies a user (human or service user).
    UserId,
    /// Identifies an API token.
    TokenId,
    /// Identifies a project.
    ProjectId,
    /// Identifies an invitation link.
    InvitationId,
    /// Identifies an environment.
    EnvironmentId,
    /// Identifies a deployment.
    DeploymentId,
    /// Identifies a target (a Docker Engine deployments run on).
    TargetId,
    /// Identifies a service of a deployment.
    ServiceId,
    /// Identifies a variable of a service (the row that holds its value or ciphertext).
    VariableId,
    /// Identifies an audit log entry.
    AuditId,
    /// Identifies an operation on a deployment (an apply, a destroy, ...).
    OperationId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_round_trip() {
        let a = ProjectId::new();
        let b = ProjectId::new();
        assert!(a < b, "UUIDv7 ids sort by creation time");
        assert_eq!(a.to_string().parse::<ProjectId>().unwrap(), a);
        assert!("not-a-uuid".parse::<ProjectId>().is_err());
    }
}
