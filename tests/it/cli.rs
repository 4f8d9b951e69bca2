//! The `komander` CLI against a real server process: tables for people, JSON for scripts,
//! exit codes scripts can trust.

use std::process::{Command, Output, Stdio};

use komander_e2e::{ADMIN_TOKEN, ServerProcess, komander_binary};

#[test]
fn cli_drives_projects_to_services_with_trustworthy_exit_codes() {
    let server = ServerProcess::start(&[], "info");
    server.wait_for_first_party_plugins();
    server.cli_shop_deployment(&[], "mine");
    server.cli_ok(&[
        "service",
        "create",
        "--project",
        "shop",
        "--environment",
        "dev",
        "--deployment",
        "mine",
        "web",
        "--image",
        "nginx:1",
        "--port",
        "80:8081",
    ]);
    let table = server.cli_ok(&["project", "list"]);
    assert!(table.lines().next().unwrap().contains("NAME"), "{table}");
    assert!(table.contains("shop"), "{table}");
    for args in [
        &["project", "list"][..],
        &["--output", "json", "project", "list"],
    ] {
        let piped = into_a_closed_pipe(&server, args);
        assert!(
            piped.status.success() && piped.stderr.is_empty(),
            "komander {args:?} | (a reader gone) did not end quietly: {piped:?}"
        );
    }
    let json = server.cli_ok(&[
        "--output",
        "json",
        "service",
        "list",
        "--project",
        "shop",
        "--environment",
        "dev",
        "--deployment",
        "mine",
    ]);
    let services: serde_json::Value = serde_json::from_str(&json).unwrap();
    let services = services.get("items").unwrap_or(&services);
    assert_eq!(services[0]["ports"][0]["host"], 8081, "{json}");
    let missing = server.cli(&["project", "show", "nope"]);
    assert_eq!(missing.status.code(), Some(3), "not found");
    let taken = server.cli(&["project", "create", "shop"]);
    assert_eq!(taken.status.code(), Some(5), "conflict");
    let invalid = server.cli(&["project", "create", "fine", "--display-name", "   "]);
    assert_eq!(
        invalid.status.code(),
        Some(6),
        "invalid input, refused by the server"
    );
    let malformed = server.cli(&["project", "create", "Bad!"]);
    assert_eq!(
        malformed.status.code(),
        Some(2),
        "a malformed name is a usage error"
    );
    let usage = server.cli(&["project", "frobnicate"]);
    assert_eq!(usage.status.code(), Some(2), "usage");

    // An environment's runtime: any installed runtime's id, or a first-party one's short name,
    // shown in full.
    let shown = server.cli_ok(&["environment", "show", "--project", "shop", "dev"]);
    assert!(shown.contains("komander.compose"), "{shown}");
    let create = [
        "environment",
        "create",
        "--project",
        "shop",
        "other",
        "--runtime",
    ];
    let unknown = server.cli(&[&create[..], &["acme.nomad"]].concat());
    assert_eq!(unknown.status.code(), Some(6), "refused by the server");
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        said.contains("runtime plugin \"acme.nomad\" is not installed")
            && said.contains("komander.compose"),
        "names it and the runtimes there are: {said}"
    );
    let malformed = server.cli(&[&create[..], &["Nomad!"]].concat());
    assert_eq!(malformed.status.code(), Some(2), "not even a plugin id");
    server.cli_ok(&[&create[..], &["komander.compose"]].concat());
    let denied = Command::new(komander_binary())
        .args(["project", "list"])
        .env_clear()
        .env("HOME", server.data_dir.path())
        .env("KOMANDER_SERVER", &server.base)
        .env("KOMANDER_TOKEN", "kmd_wrong")
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(4), "unauthenticated");
}

#[test]
fn no_command_prints_a_secret_value() {
    let server = ServerProcess::start(&[], "info");
    server.wait_for_first_party_plugins();
    let scope = ["--project", "vault", "--environment", "dev"];
    let service = [&scope[..], &["--deployment", "app", "--service", "web"]].concat();
    server.cli_ok(&["project", "create", "vault"]);
    server.cli_ok(
        &[
            &["environment", "create", "--project", "vault", "dev"][..],
            &["--runtime", "compose"],
        ]
        .concat(),
    );
    server.cli_ok(&[&["deployment", "create"][..], &scope, &["app"]].concat());
    server.cli_ok(
        &[
            &["service", "create"][..],
            &scope,
            &["--deployment", "app", "web", "--image", "busybox"],
        ]
        .concat(),
    );
    let secret = "cli-secret-value-4b1d";
    let set = |server: &ServerProcess| {
        server.cli_ok(
            &[
                &["variable", "set"][..],
                &service,
                &["TOKEN", "--value", secret, "--secret"],
            ]
            .concat(),
        )
    };
    let mut printed = set(&server);
    for output in ["table", "json"] {
        printed +=
            &server.cli_ok(&[&["--output", output, "variable", "list"][..], &service].concat());
        printed += &server.cli_ok(
            &[
                &["--output", output, "deployment", "show"][..],
                &scope,
                &["app"],
            ]
            .concat(),
        );
    }
    // The command that printed them is gone.
    let resolve = server.cli(&[&["deployment", "resolve"][..], &scope, &["app"]].concat());
    assert_eq!(resolve.status.code(), Some(2), "no such command");
    printed += &String::from_utf8_lossy(&resolve.stdout);
    // Switching to the local executor clears the value, and says so.
    let switched = server.cli(&[
        "environment",
        "edit",
        "--project",
        "vault",
        "dev",
        "--executor",
        "local",
    ]);
    assert!(switched.status.success());
    let told = String::from_utf8_lossy(&switched.stderr);
    assert!(told.contains("cleared 1 secret values"), "{told}");
    printed += &String::from_utf8_lossy(&switched.stdout);
    let listed = server.cli_ok(&[&["--output", "json", "variable", "list"][..], &service].concat());
    let variables: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let variables = variables.get("items").unwrap_or(&variables);
    assert_eq!(variables[0]["has_value"], false, "{listed}");
    set(&server);
    printed += &listed;
    assert!(
        !printed.contains(secret),
        "a secret value was printed: {printed}"
    );
}

/// `service create` takes a flag per field, `service edit` changes a health-check timing
/// alone, and `service show` prints each field as its flag spells it.
#[test]
fn service_flags_reach_the_server_and_show_back() {
    let server = ServerProcess::start(&[], "info");
    server.wait_for_first_party_plugins();
    let scope = [
        "--project",
        "shop",
        "--environment",
        "dev",
        "--deployment",
        "app",
    ];
    server.cli_shop_deployment(&[], "app");
    let create = |args: &[&str]| {
        server.cli_ok(&[&["service", "create"][..], &scope, args].concat());
    };
    create(&["db", "--image", "postgres:16", "--health-cmd", "pg_isready"]);
    create(&[
        "web",
        "--image",
        "nginx:1",
        "--port",
        "80:8080@0.0.0.0",
        "--command",
        r#"["nginx", "-g", "daemon off;"]"#,
        "--workdir",
        "/srv",
        "--user",
        "101",
        "--health-cmd",
        "wget -q -O- localhost",
        "--health-interval",
        "10s",
        "--restart",
        "on-failure:3",
        "--depends-on",
        "db:healthy",
        "--memory",
        "256m",
        "--cpus",
        "0.5",
        "--pull",
        "always",
    ]);
    server.cli_ok(
        &[
            &["service", "edit"][..],
            &scope,
            &["web", "--health-retries", "7", "--no-user"],
        ]
        .concat(),
    );
    let shown = server.cli_ok(&[&["service", "show"][..], &scope, &["web"]].concat());
    let value = |field: &str| {
        shown
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(char::is_whitespace)?;
                (name == field).then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no {field} in {shown}"))
    };
    assert_eq!(value("port"), "80:8080@0.0.0.0");
    assert_eq!(value("command"), r#"["nginx","-g","daemon off;"]"#);
    assert_eq!(value("workdir"), "/srv");
    assert_eq!(value("user"), "-", "cleared");
    assert_eq!(value("health-cmd"), "wget -q -O- localhost");
    assert_eq!(value("health-interval"), "10s");
    assert_eq!(value("health-retries"), "7", "changed alone");
    assert_eq!(value("restart"), "on-failure:3");
    assert_eq!(value("depends-on"), "db:healthy");
    assert_eq!(value("memory"), "256m");
    assert_eq!(value("cpus"), "0.5");
    assert_eq!(value("replicas"), "1");
    assert_eq!(value("pull"), "always");
    // The server's refusal of a dependency cycle is an invalid-input exit.
    let cycle = server.cli(
        &[
            &["service", "edit"][..],
            &scope,
            &["db", "--depends-on", "web"],
        ]
        .concat(),
    );
    assert_eq!(
        cycle.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&cycle.stderr)
    );
    assert!(String::from_utf8_lossy(&cycle.stderr).contains("dependency cycle: db -> web -> db"));
}

#[tokio::test]
async fn deployment_history_lists_operations_without_their_lease_token() {
    let server = ServerProcess::start(&[], "info");
    server.wait_for_first_party_plugins();
    let scope = ["--project", "shop", "--environment", "dev"];
    server.cli_shop_deployment(&["--executor", "local"], "app");
    let started: serde_json::Value = ServerProcess::client()
        .post(format!(
            "{}/api/v1/projects/shop/environments/dev/deployments/app/operations",
            server.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"kind": "apply"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["operation"]["id"].as_str().expect("started");
    let table = server.cli_ok(&[&["deployment", "history"][..], &scope, &["app"]].concat());
    assert!(table.starts_with("ID"), "{table}");
    let row = table.lines().nth(1).expect("one operation");
    for cell in [id, "apply", "local", "running", "bootstrap"] {
        assert!(row.contains(cell), "{cell} in {row}");
    }
    let json = server.cli_ok(
        &[
            &["--output", "json", "deployment", "history"][..],
            &scope,
            &["app"],
        ]
        .concat(),
    );
    let page: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(page["items"][0]["id"], id);
    assert!(!json.contains(started["lease_token"].as_str().unwrap()));
}

/// Runs `komander args` with its standard output a pipe whose reader is gone before it writes,
/// as `komander … | head` once `head` has read enough.
fn into_a_closed_pipe(server: &ServerProcess, args: &[&str]) -> Output {
    let mut child = server
        .cli_command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running komander");
    drop(child.stdout.take());
    child.wait_with_output().expect("komander ends")
}
