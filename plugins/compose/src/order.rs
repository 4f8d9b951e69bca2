//! The order services start in: each after the services it depends on. The host refuses an
//! unknown service in a dependency and a cycle before it calls a runtime; the runtime checks
//! again, so that a spec from elsewhere cannot make it loop.

use komander_plugin_sdk::runtime::{DeploymentSpec, Error, ServiceSpec};

/// The services of `spec`, each after every service it depends on (otherwise in the spec's
/// order).
///
/// # Errors
/// `invalid-input` naming a dependency on a service the deployment does not have, or a
/// service in a dependency cycle.
pub fn services(spec: &DeploymentSpec) -> Result<Vec<&ServiceSpec>, Error> {
    for service in &spec.services {
        if let Some(unknown) = service
            .depends_on
            .iter()
            .find(|d| !spec.services.iter().any(|s| s.name == d.service))
        {
            return Err(Error::InvalidInput(format!(
                "service {} depends on {:?}, which the deployment does not have",
                service.name, unknown.service
            )));
        }
    }
    let mut ordered: Vec<&ServiceSpec> = Vec::with_capacity(spec.services.len());
    while ordered.len() < spec.services.len() {
        let next = spec.services.iter().find(|s| {
            !ordered.iter().any(|o| o.name == s.name)
                && s.depends_on
                    .iter()
                    .all(|d| ordered.iter().any(|o| o.name == d.service))
        });
        match next {
            Some(service) => ordered.push(service),
            None => {
                let stuck: Vec<&str> = spec
                    .services
                    .iter()
                    .filter(|s| !ordered.iter().any(|o| o.name == s.name))
                    .map(|s| s.name.as_str())
                    .collect();
                return Err(Error::InvalidInput(format!(
                    "services {} cannot start: their dependencies form a cycle",
                    stuck.join(", ")
                )));
            }
        }
    }
    Ok(ordered)
}
