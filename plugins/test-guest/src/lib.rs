//! A runtime plugin that does what the deployment's `behavior` setting asks, including the
//! hostile things a sandbox must stop: loop forever, exhaust memory, panic, spam logs, call
//! capabilities it was not granted, reach addresses it may not, export a bundle whose paths
//! escape their folder.

use komander_plugin_sdk::{
    host::{config, connections, kv, log, progress},
    runtime::{Bundle, BundleFile, DeploymentSpec, Error, Runtime, StepResult},
};

struct TestGuest;

impl Runtime for TestGuest {
    fn validate(spec: DeploymentSpec) -> Result<Vec<String>, Error> {
        match spec.setting("behavior").unwrap_or("ok") {
            "ok" => Ok(vec![format!("{} services", spec.services.len())]),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("the test guest panics on purpose"),
            "remember" => {
                // A static counted up on every call: a call that found an earlier call's
                // memory would answer more than 1.
                static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let seen = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                Ok(vec![seen.to_string()])
            }
            "log-spam" => {
                for i in 0..100_000 {
                    log::log(log::Level::Info, &format!("spam line {i}"));
                }
                Ok(vec!["spammed".into()])
            }
            "print-spam" => {
                for i in 0..1_000_000 {
                    println!("printed line {i}");
                }
                Ok(vec!["printed".into()])
            }
            "config" => Ok(vec![config::get()?]),
            "config-loop" => {
                let times: u32 = spec
                    .setting("times")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                for _ in 0..times {
                    std::hint::black_box(config::get()?);
                }
                Ok(vec![])
            }
            "kv" => {
                kv::set("visits", b"1")?;
                let value = kv::get("visits")?.unwrap_or_default();
                Ok(vec![String::from_utf8_lossy(&value).into_owned()])
            }
            "progress" => {
                progress::report("validate", 1, 2);
                progress::message("half way");
                Ok(vec![])
            }
            "http" => {
                let path = spec.setting("path").unwrap_or("/");
                let response = connections::request(
                    spec.setting("connection").unwrap_or("api"),
                    &connections::HttpRequest {
                        method: connections::HttpMethod::Get,
                        path: path.to_owned(),
                        headers: vec![],
                        body: None,
                        secrets: vec![],
                        timeout_ms: Some(5_000),
                    },
                )?;
                Ok(vec![
                    response.status.to_string(),
                    String::from_utf8_lossy(&response.body).into_owned(),
                ])
            }
            other => Err(Error::InvalidInput(format!("unknown behavior {other:?}"))),
        }
    }

    fn export_bundle(spec: DeploymentSpec) -> Result<Bundle, Error> {
        match spec.setting("behavior").unwrap_or("ok") {
            "escaping-bundle" => Ok(Self::escaping_bundle()),
            other => Err(Error::InvalidInput(format!(
                "no bundle for behavior {other:?}"
            ))),
        }
    }

    fn apply_step(
        spec: DeploymentSpec,
        continuation: Option<Vec<u8>>,
    ) -> Result<StepResult, Error> {
        let step = continuation.and_then(|c| c.first().copied()).unwrap_or(0);
        let total = spec.services.len() as u8;
        if step >= total {
            return Ok(StepResult {
                continuation: None,
                progress: vec!["done".into()],
                done: true,
            });
        }
        Ok(StepResult {
            continuation: Some(vec![step + 1]),
            progress: vec![format!("service {} of {total}", step + 1)],
            done: false,
        })
    }
}

impl TestGuest {
    /// A bundle with one file path that escapes the folder it is unpacked in.
    fn escaping_bundle() -> Bundle {
        let file = |path: &str| BundleFile {
            path: path.into(),
            content: "escaped".into(),
        };
        Bundle {
            files: vec![file("compose.yaml"), file("../outside.yaml")],
        }
    }
}

komander_plugin_sdk::export_runtime!(TestGuest, manifest = "komander-plugin.toml");
