//! A runtime plugin built for `komander:runtime@0.1.0`, from a frozen copy of that WIT
//! (`wit/runtime.wit` here): what a plugin author's runtime looked like before 0.2. It exists
//! so that the tests can show a 0.1 runtime refused at install and marked `incompatible` at
//! start. It cannot use the SDK, which builds 0.2 runtimes, so it embeds its manifest itself.

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package komander:test-v0-1;

            world old-runtime {
                export komander:runtime/runtime@0.1.0;
            }
        ",
        world: "komander:test-v0-1/old-runtime",
        path: ["../../wit/host", "../../wit/docker", "../../wit/kubernetes", "wit"],
        generate_all,
    });
}

use bindings::{
    exports::komander::runtime::runtime::Guest,
    komander::{
        host::types::{Error, LogCursor, LogPage},
        runtime::types::{Bundle, DeploymentPlan, DeploymentSpec, DeploymentStatus, StepResult},
    },
};

/// The manifest, embedded as the custom section the host reads first.
#[used]
#[unsafe(link_section = "komander-plugin")]
static MANIFEST: [u8; include_bytes!("../komander-plugin.toml").len()] =
    *include_bytes!("../komander-plugin.toml");

struct OldRuntime;

fn never<T>() -> Result<T, Error> {
    Err(Error::Internal(
        "a 0.1 runtime: Komander never calls it".into(),
    ))
}

impl Guest for OldRuntime {
    fn validate(_: DeploymentSpec) -> Result<Vec<String>, Error> {
        never()
    }
    fn plan(_: DeploymentSpec) -> Result<DeploymentPlan, Error> {
        never()
    }
    fn apply_step(_: DeploymentSpec, _: Option<Vec<u8>>) -> Result<StepResult, Error> {
        never()
    }
    fn status(_: DeploymentSpec) -> Result<DeploymentStatus, Error> {
        never()
    }
    fn logs(_: DeploymentSpec, _: String, _: Option<LogCursor>, _: u32) -> Result<LogPage, Error> {
        never()
    }
    fn destroy_step(_: DeploymentSpec, _: Option<Vec<u8>>) -> Result<StepResult, Error> {
        never()
    }
    fn export_bundle(_: DeploymentSpec) -> Result<Bundle, Error> {
        never()
    }
}

bindings::export!(OldRuntime with_types_in bindings);
