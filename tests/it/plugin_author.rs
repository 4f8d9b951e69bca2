//! A plugin author's path with the CLI alone, as the guide tells it: `komander plugin new` for
//! each kind, a build outside Komander's repository (the SDK and WIT written beside the crate),
//! the crate's own tests, `plugin check`, a manifest mistake caught when it compiles, an install
//! into a running server, and an upgrade whose new schema needs new settings.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use komander_e2e::{ServerProcess, docker, guests};

use crate::remote_runtime::{Deployer, Received};
use komander_guest_build::{REMOVED_VARIABLES, shared_target_dir};

/// Runs `cargo args` in the crate `dir` with the scaffolds' target directory, offline (the
/// SDK's dependencies are those the plugins' workspace has fetched already); answers whether
/// it succeeded and what it printed on standard error.
fn cargo(dir: &Path, target: &Path, args: &[&str]) -> (bool, String) {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target);
    for variable in REMOVED_VARIABLES {
        command.env_remove(variable);
    }
    let out = command.output().expect("running cargo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Builds the crate `dir`, failing the test with cargo's message when it does not build.
fn build(dir: &Path, target: &Path) {
    let (built, log) = cargo(
        dir,
        target,
        &["build", "--release", "--target", "wasm32-wasip2"],
    );
    assert!(built, "{} does not build:\n{log}", dir.display());
}

/// The component a build of the crate `name` wrote.
fn component(target: &Path, name: &str) -> PathBuf {
    target
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")))
}

/// Replaces `from` (which must be there) by `to` in `file`.
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} in {}", file.display());
    std::fs::write(file, text.replace(from, to)).unwrap();
}

/// Makes the next version of the crate whose manifest is `manifest`: 0.2.0, whose schema
/// requires the setting `region`.
fn require_region(manifest: &Path) {
    edit(manifest, "version = \"0.1.0\"", "version = \"0.2.0\"");
    edit(
        manifest,
        r#"config_schema = '{"type": "object"}'"#,
        r#"config_schema = '{"type": "object", "properties": {"region": {"type": "string"}}, "required": ["region"]}'"#,
    );
}

/// Upgrades the install to the build `wasm` with the settings `{"region": region}` in one step
/// (`plugin upgrade --config`), the settings file written in `work`.
fn upgrade_with_region(server: &ServerProcess, work: &Path, wasm: &Path, region: &str) {
    let settings = work.join("settings.json");
    std::fs::write(&settings, format!(r#"{{"region": "{region}"}}"#)).unwrap();
    let upgraded = server.cli_ok(&[
        "plugin",
        "upgrade",
        wasm.to_str().unwrap(),
        "--config",
        settings.to_str().unwrap(),
    ]);
    assert!(upgraded.contains("0.2.0"), "{upgraded}");
}

#[test]
fn a_new_plugin_of_each_kind_builds_checks_installs_and_upgrades_with_new_settings() {
    let server = ServerProcess::start(&[], "info");
    let work = tempfile::tempdir().unwrap();
    let target = shared_target_dir("plugin-scaffolds", &work.path().join("target"));
    let folder = work.path().to_str().unwrap();

    for (kind, asks) in [
        ("docker", "docker"),
        ("kubernetes", "kubernetes"),
        ("remote", "connections"),
    ] {
        let started = Instant::now();
        let name = format!("{kind}-demo");
        let created = server.cli_ok(&[
            "plugin",
            "new",
            "--kind",
            &format!("{kind}-runtime"),
            &name,
            "--dir",
            folder,
        ]);
        assert!(created.contains("cargo build --release"), "{created}");
        let dir = work.path().join(&name);
        build(&dir, &target);
        let wasm = component(&target, &name);
        let checked: serde_json::Value = serde_json::from_str(&server.cli_ok(&[
            "plugin",
            "check",
            wasm.to_str().unwrap(),
            "--output",
            "json",
        ]))
        .unwrap();
        assert_eq!(checked["world"], kind, "{checked}");
        assert_eq!(checked["id"], format!("local.{name}"), "{checked}");
        assert!(
            checked["asks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["capability"] == asks),
            "{checked}"
        );
        assert_eq!(checked["warnings"], serde_json::json!([]), "{checked}");
        eprintln!(
            "plugin new, build and check of a {kind} runtime: {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    // Writing over a folder is refused, and nothing changes.
    let again = server.cli(&[
        "plugin",
        "new",
        "--kind",
        "remote-runtime",
        "remote-demo",
        "--dir",
        folder,
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    // `plugin run` goes through a deployment's calls on this machine: the stub's steps say
    // they did nothing, and the health wait then fails naming the service; the destroy runs.
    let compose = work.path().join("shop.yaml");
    std::fs::write(&compose, COMPOSE).unwrap();
    let remote_wasm = component(&target, "remote-demo");
    let run = |connection: &str| {
        server.cli(&[
            "plugin",
            "run",
            remote_wasm.to_str().unwrap(),
            "--spec",
            compose.to_str().unwrap(),
            "--connection",
            connection,
            "--health-timeout",
            "1",
        ])
    };
    let ran = run("api=http://127.0.0.1:9/");
    let printed = String::from_utf8_lossy(&ran.stdout);
    let why = String::from_utf8_lossy(&ran.stderr);
    assert!(!ran.status.success(), "{printed}");
    for expected in [
        "running local.remote-demo@0.1.0 (1 service(s) of ",
        "validate and plan: 0 change(s)",
        "apply: nothing done yet (remote-demo is a new plugin)",
        "destroy: done",
    ] {
        assert!(printed.contains(expected), "{expected:?} in {printed}");
    }
    assert!(why.contains("web"), "the failure names the service: {why}");
    let refused = run("other=http://127.0.0.1:9/");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("asks for the connections api"),
        "{refused:?}"
    );

    // The crate's own tests run on this machine.
    let remote = work.path().join("remote-demo");
    let (tested, log) = cargo(&remote, &target, &["test"]);
    assert!(tested, "{log}");

    // A manifest mistake fails the build, naming it.
    let docker_manifest = work.path().join("docker-demo/komander-plugin.toml");
    edit(&docker_manifest, "docker = true", "dockr = true");
    let (built, log) = cargo(
        &work.path().join("docker-demo"),
        &target,
        &["build", "--release", "--target", "wasm32-wasip2"],
    );
    assert!(!built && log.contains("unknown capability"), "{log}");

    // Installed into a running server, granted what it asks.
    let wasm = component(&target, "remote-demo");
    let installed = server.cli_ok(&["plugin", "install", wasm.to_str().unwrap(), "--grant-all"]);
    assert!(
        installed.contains("local.remote-demo") && installed.contains("enabled"),
        "{installed}"
    );

    // A new version whose schema needs a setting the install does not have: refused alone,
    // taken with the settings in one step.
    require_region(&remote.join("komander-plugin.toml"));
    build(&remote, &target);
    let refused = server.cli(&["plugin", "upgrade", wasm.to_str().unwrap()]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("region") && message.contains("--config"),
        "{message}"
    );
    upgrade_with_region(&server, work.path(), &wasm, "eu");
    let shown = server.cli_ok(&["plugin", "config", "show", "local.remote-demo"]);
    assert!(shown.contains("region") && shown.contains("eu"), "{shown}");
}

/// The deployment `plugin run` is given: one service printing a line, then waiting.
const COMPOSE: &str = r#"services:
  web:
    image: komander-test/busybox:1
    command: ["/bin/busybox", "sh", "-c", "echo hello from web; exec /bin/busybox sleep 600"]
    environment:
      MODE: demo
"#;

#[tokio::test(flavor = "multi_thread")]
async fn plugin_run_applies_reads_and_destroys_a_docker_runtime_on_the_local_engine() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").expect("the test engine's host");
    let server = ServerProcess::start(&[], "info");
    let work = tempfile::tempdir().unwrap();
    let compose = work.path().join("shop.yaml");
    std::fs::write(&compose, COMPOSE).unwrap();
    let wasm = work.path().join("compose.wasm");
    std::fs::write(&wasm, guests::bytes("komander_compose")).unwrap();
    let mut command = server.cli_command(&[
        "plugin",
        "run",
        wasm.to_str().unwrap(),
        "--spec",
        compose.to_str().unwrap(),
    ]);
    let ran = command.env("DOCKER_HOST", &host).output().unwrap();
    let printed = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    for expected in [
        "create container dev_local_shop_web: new service",
        "created container dev_local_shop_web",
        "apply: done",
        "web: running",
        "logs of web: 1 line(s)",
        "  hello from web",
        "removed container dev_local_shop_web",
        "destroy: done",
    ] {
        assert!(printed.contains(expected), "{expected:?} in {printed}");
    }
    // The destroy left nothing of it on the engine.
    let left = engine
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .unwrap();
    assert!(
        !left
            .iter()
            .flat_map(|c| c.names.iter().flatten())
            .any(|n| n.contains("dev_local_shop")),
        "{left:?}"
    );
}

/// Runs a fake deployer (the webhook runtime's contract) on a thread of its own; answers it and
/// its base URL.
fn serve_deployer() -> (Deployer, String) {
    let deployer = Deployer::default();
    let serving = deployer.clone();
    let (sender, url) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            sender.send(serving.start().await).unwrap();
            std::future::pending::<()>().await
        });
    });
    (deployer, url.recv().unwrap())
}

/// The whole path of a new author, timed from a cold plugin build: `plugin new` of a remote
/// runtime, the runtime written (the guide's webhook example), build, `plugin check`, `plugin
/// run` against a Compose file and a fake deployer, an install into a running server, an
/// environment using it, an apply through the server; then a second version whose schema
/// needs a setting and whose code sends it: the upgrade with `--config`, the new capability
/// granted, and an apply that carries the setting.
#[test]
fn a_new_remote_runtime_goes_from_plugin_new_to_deployments_on_a_server() {
    let started = Instant::now();
    let (deployer, deployer_url) = serve_deployer();
    let server = ServerProcess::start(&[], "info");
    let work = tempfile::tempdir().unwrap();
    let target = shared_target_dir("plugin-scaffolds", &work.path().join("target"));
    let folder = work.path().to_str().unwrap();
    server.cli_ok(&[
        "plugin",
        "new",
        "--kind",
        "remote-runtime",
        "acme-deployer",
        "--dir",
        folder,
    ]);
    let dir = work.path().join("acme-deployer");

    // The author writes the runtime: the guide's example, under the new crate's name.
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/examples/webhook-runtime/src/lib.rs");
    std::fs::copy(example, dir.join("src/lib.rs")).unwrap();
    let manifest = dir.join("komander-plugin.toml");
    edit(
        &manifest,
        r#"connections = ["api"]"#,
        r#"connections = ["deployer"]"#,
    );
    edit(
        &dir.join("Cargo.toml"),
        "[dependencies]\n",
        "[dependencies]\nserde_json = \"1\"\n",
    );
    build(&dir, &target);
    let wasm = component(&target, "acme-deployer");
    let checked = server.cli_ok(&["plugin", "check", wasm.to_str().unwrap()]);
    assert!(
        checked.contains("remote") && checked.contains("connections (deployer)"),
        "{checked}"
    );

    // `plugin run`: the whole life against the fake deployer, health wait included.
    let compose = work.path().join("shop.yaml");
    std::fs::write(
        &compose,
        "services:\n  web:\n    image: registry.example/web:1\n",
    )
    .unwrap();
    let ran = server.cli_ok(&[
        "plugin",
        "run",
        wasm.to_str().unwrap(),
        "--spec",
        compose.to_str().unwrap(),
        "--connection",
        &format!("deployer={deployer_url}"),
    ]);
    for expected in [
        "deployed web",
        "apply: done",
        "web: running",
        "destroy: done",
    ] {
        assert!(ran.contains(expected), "{expected:?} in {ran}");
    }

    // Installed, connected, and running a deployment through the server.
    let id = "local.acme-deployer";
    server.cli_ok(&["plugin", "install", wasm.to_str().unwrap(), "--grant-all"]);
    let mut connect = server.cli_command(&[
        "plugin",
        "connection",
        "set",
        id,
        "deployer",
        "--base-url",
        &deployer_url,
        "--allow-private",
        "--credential-stdin",
    ]);
    let connected = connect
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"Bearer acme-token\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(connected.status.success(), "{connected:?}");
    server.cli_ok(&["project", "create", "shop"]);
    let scope = ["--project", "shop", "--environment", "hooks"];
    server.cli_ok(&[
        "environment",
        "create",
        "--project",
        "shop",
        "hooks",
        "--runtime",
        id,
    ]);
    server.cli_ok(&[&["deployment", "create"][..], &scope, &["app"]].concat());
    let app = [&scope[..], &["--deployment", "app"]].concat();
    server.cli_ok(
        &[
            &["service", "create"][..],
            &app,
            &["web", "--image", "registry.example/web:1"],
        ]
        .concat(),
    );
    let up = server.cli_ok(&["up", "shop/hooks/app"]);
    assert!(
        up.contains("deployed web") && up.contains("web: running"),
        "{up}"
    );
    let put = |received: &[Received]| {
        received
            .iter()
            .rev()
            .find(|r| r.method == axum::http::Method::PUT)
            .cloned()
            .expect("a PUT of web")
    };
    let first = put(&deployer.received());
    assert_eq!(first.authorization.as_deref(), Some("Bearer acme-token"));
    assert_eq!(first.body["image"], "registry.example/web:1");
    assert_eq!(first.body.get("region"), None);

    // Version 0.2.0 needs a region and sends it: the upgrade takes the settings in one step,
    // the new capability is granted, and the next apply carries the setting.
    require_region(&manifest);
    edit(&manifest, "log = true\n", "log = true\nconfig = true\n");
    let lib = dir.join("src/lib.rs");
    edit(
        &lib,
        "host::{connections, log, progress},",
        "host::{config, connections, log, progress},",
    );
    edit(
        &lib,
        "const CONNECTION: &str = \"deployer\";\n",
        "const CONNECTION: &str = \"deployer\";\n\n\
         /// The region the install's settings name.\n\
         fn region() -> Result<String, Error> {\n    \
             let settings: Value = serde_json::from_str(&config::get()?)\n        \
                 .map_err(|e| Error::Internal(e.to_string()))?;\n    \
             Ok(settings[\"region\"].as_str().unwrap_or_default().to_owned())\n\
         }\n",
    );
    edit(
        &lib,
        r#"json!({"image": image, "env": env})"#,
        r#"json!({"image": image, "env": env, "region": region()?})"#,
    );
    build(&dir, &target);
    upgrade_with_region(&server, work.path(), &wasm, "eu-west");
    server.cli_ok(&["plugin", "grant", id, "--all"]);
    // A change to apply: the variable MODE.
    let variable = [
        &["variable", "set"][..],
        &app,
        &["--service", "web", "MODE"],
    ]
    .concat();
    server.cli_ok(&[&variable[..], &["--value", "two"]].concat());
    let up = server.cli_ok(&["up", "shop/hooks/app"]);
    assert!(up.contains("variable MODE changed"), "{up}");
    let second = put(&deployer.received());
    assert_eq!(second.body["region"], "eu-west", "{:?}", second.body);
    eprintln!(
        "the author's whole path (plugin new, a cold build, check, run, install, an apply \
         through the server, a second version, upgrade, apply): {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
