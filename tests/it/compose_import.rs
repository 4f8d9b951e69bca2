//! Importing Compose files into a deployment through the REST API: every file of
//! awesome-compose is imported or refused naming a key, with nothing half-created; every
//! import is exported again (the first-party Compose runtime's bundle), accepted by
//! `docker compose config`, and imports back to the same services; hostile files (huge, alias
//! bombs, deep nesting, failing required variables, bad names, a bind mount of `/`) are refused
//! naming the key, creating nothing.

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::Command,
};

use axum::http::{Method, StatusCode};
use komander_e2e::{ADMIN_TOKEN, Backend, ServerProcess, TestApi, compose_binary};
use serde_json::{Value, json};

const ENV: &str = "/api/v1/projects/shop/environments/dev";

fn deployment(name: &str) -> String {
    format!("{ENV}/deployments/{name}")
}

/// Project `shop` with environment `dev` on the Compose runtime.
async fn setup() -> TestApi {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    api.install_plugin("komander_compose").await;
    for (path, body) in [
        ("/api/v1/projects", json!({"name": "shop"})),
        (
            "/api/v1/projects/shop/environments",
            json!({"name": "dev", "runtime": "compose"}),
        ),
    ] {
        let (status, answer) = api
            .call(Method::POST, path, Some(ADMIN_TOKEN), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {answer}");
    }
    api
}

async fn new_deployment(api: &TestApi, name: &str) {
    let (status, answer) = api
        .call(
            Method::POST,
            &format!("{ENV}/deployments"),
            Some(ADMIN_TOKEN),
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

async fn import(api: &TestApi, name: &str, body: Value) -> (StatusCode, Value) {
    api.call(
        Method::POST,
        &format!("{}/import", deployment(name)),
        Some(ADMIN_TOKEN),
        Some(body),
    )
    .await
}

/// The deployment's services as the API shows them, without ids and timestamps.
async fn services(api: &TestApi, name: &str) -> Vec<Value> {
    let (status, page) = api
        .call(
            Method::GET,
            &format!("{}/services?limit=100", deployment(name)),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut s = s.clone();
            let object = s.as_object_mut().unwrap();
            for volatile in ["id", "created_at", "updated_at"] {
                object.remove(volatile);
            }
            s
        })
        .collect()
}

/// The error message of a refusal, checked to name `file:line: key:`.
fn refusal(file: &str, status: StatusCode, answer: &Value) -> String {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{file}: {answer}");
    let message = answer["error"]["message"].as_str().unwrap().to_owned();
    let first = message.lines().next().unwrap();
    let rest = first
        .strip_prefix(&format!("{file}:"))
        .unwrap_or_else(|| panic!("{file}: the refusal names the file: {message}"));
    let (line, rest) = rest.split_once(": ").unwrap();
    assert!(line.parse::<usize>().is_ok(), "a line number: {message}");
    assert!(rest.contains(": "), "a key: {message}");
    assert!(answer["error"]["field"].is_string(), "{answer}");
    message
}

/// The files of a tar archive, by path.
fn files(archive: &[u8]) -> Vec<(String, String)> {
    let mut archive = tar::Archive::new(archive);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            (path, content)
        })
        .collect()
}

/// Every Compose file under `dir`, in a stable order.
fn compose_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                pending.push(path);
            } else if [
                "compose.yaml",
                "compose.yml",
                "docker-compose.yaml",
                "docker-compose.yml",
            ]
            .contains(&name.as_str())
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Runs `docker compose config -q` on an exported bundle, never reaching an engine.
fn compose_config_accepts(compose: &Path, dir: &Path, what: &str) {
    let Some(binary) = compose_binary() else {
        return;
    };
    let output = Command::new(binary)
        .args(["-f"])
        .arg(compose)
        .arg("--project-directory")
        .arg(dir)
        .args(["config", "-q"])
        .env("DOCKER_HOST", "unix:///nonexistent/komander-test.sock")
        .output()
        .expect("docker compose runs");
    assert!(
        output.status.success(),
        "docker compose config refused the export of {what}: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(compose).unwrap()
    );
}

#[tokio::test]
async fn every_awesome_compose_file_is_imported_or_refused_and_imports_round_trip() {
    let api = setup().await;
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/compose/awesome-compose");
    let files_found = compose_files(&root);
    assert!(files_found.len() > 20, "awesome-compose is there: {root:?}");
    let (mut imported, mut refused) = (0, 0);
    for (i, path) in files_found.iter().enumerate() {
        let what = path.strip_prefix(&root).unwrap().display().to_string();
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let env_file = std::fs::read_to_string(path.with_file_name(".env")).ok();
        let name = format!("d{i}");
        new_deployment(&api, &name).await;
        let (status, answer) = import(
            &api,
            &name,
            json!({"file_name": file_name, "compose": text, "env_file": env_file}),
        )
        .await;
        if status != StatusCode::CREATED {
            let message = refusal(&file_name, status, &answer);
            eprintln!("{what}: refused: {}", message.replace('\n', " | "));
            assert!(
                services(&api, &name).await.is_empty(),
                "{what}: a refused import created nothing"
            );
            refused += 1;
            continue;
        }
        imported += 1;
        let created = services(&api, &name).await;
        assert_eq!(
            created.len(),
            answer.as_array().unwrap().len(),
            "{what}: {answer}"
        );

        // Exported again, accepted by Docker Compose.
        let (status, _, archive) = api
            .get_raw(&format!("{}/export", deployment(&name)), ADMIN_TOKEN)
            .await;
        assert_eq!(status, StatusCode::OK, "{what}");
        let bundle = files(&archive);
        let compose = &bundle
            .iter()
            .find(|(p, _)| p == "compose.yaml")
            .unwrap_or_else(|| panic!("{what}: a compose.yaml in {bundle:?}"))
            .1;
        let dir = tempfile::tempdir().unwrap();
        let exported = dir.path().join("compose.yaml");
        std::fs::write(&exported, compose).unwrap();
        compose_config_accepts(&exported, dir.path(), &what);

        // Imported back into a new deployment: the same services.
        let again = format!("r{i}");
        new_deployment(&api, &again).await;
        let (status, answer) = import(
            &api,
            &again,
            json!({"file_name": "compose.yaml", "compose": compose}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{what}: {answer}\n{compose}");
        assert_eq!(services(&api, &again).await, created, "{what}:\n{compose}");
    }
    eprintln!("awesome-compose: {imported} imported, {refused} refused");
    assert!(imported > 0, "some awesome-compose files import");
}

#[tokio::test]
async fn variables_are_created_with_secret_ones_sealed_by_their_name() {
    let api = setup().await;
    new_deployment(&api, "app").await;
    let compose = "services:\n  db:\n    image: postgres:17\n    environment:\n      \
                   DB_PASSWORD: ${PW:-fallback}\n      KEYCLOAK_URL: http://auth:8080\n";
    let (status, answer) = import(
        &api,
        "app",
        json!({"file_name": "compose.yaml", "compose": compose,
               "env_file": "PW=from-env-file\n", "variables": {"UNUSED": "x"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (_, variables) = api
        .call(
            Method::GET,
            &format!("{}/services/db/variables", deployment("app")),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(
        variables["items"],
        json!([
            {"name": "DB_PASSWORD", "secret": true, "has_value": true},
            {"name": "KEYCLOAK_URL", "secret": false, "has_value": true,
             "value": "http://auth:8080"},
        ])
    );
    assert!(!variables.to_string().contains("from-env-file"));
    let (_, audit) = api
        .call(
            Method::GET,
            "/api/v1/projects/shop/audit",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    let audit = audit.to_string();
    assert!(
        audit.contains("service.create") && audit.contains("variable.set"),
        "{audit}"
    );
    assert!(!audit.contains("from-env-file"), "{audit}");
}

#[tokio::test]
async fn a_taken_service_name_is_refused_naming_it_and_nothing_is_created() {
    let api = setup().await;
    new_deployment(&api, "app").await;
    let (status, _) = api
        .call(
            Method::POST,
            &format!("{}/services", deployment("app")),
            Some(ADMIN_TOKEN),
            Some(json!({"name": "web", "image": "nginx"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = services(&api, "app").await;
    let compose = "services:\n  cache:\n    image: redis\n  web:\n    image: httpd\n";
    let (status, answer) = import(
        &api,
        "app",
        json!({"file_name": "compose.yaml", "compose": compose}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("web"),
        "{answer}"
    );
    assert_eq!(services(&api, "app").await, before);
}

#[tokio::test]
async fn hostile_files_are_refused_naming_the_key_and_create_nothing() {
    let api = setup().await;
    new_deployment(&api, "app").await;
    let service = |body: &str| format!("services:\n  web:\n    image: nginx\n{body}");
    let mut bomb = String::from("x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "x-a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str(&service(""));
    let deep = format!(
        "{}x-deep: {}1{}\n",
        service(""),
        "[".repeat(100),
        "]".repeat(100)
    );
    let huge = format!("{}# {}\n", service(""), "x".repeat(200 * 1024));
    let cases: Vec<(String, &str)> = vec![
        (bomb, "(yaml)"),
        (deep, "(yaml)"),
        (huge, "compose.yaml"),
        (
            service("    environment:\n      TOKEN: ${TOKEN:?}\n"),
            "services.web.environment.TOKEN",
        ),
        (
            "services:\n  ../etc:\n    image: nginx\n".into(),
            "services.../etc",
        ),
        (
            "services:\n  Web:\n    image: nginx\n".into(),
            "services.Web",
        ),
        (
            service("    volumes:\n      - /:/host\n"),
            "services.web.volumes",
        ),
        (service("    privileged: true\n"), "services.web.privileged"),
    ];
    for (compose, key) in cases {
        let (status, answer) = import(
            &api,
            "app",
            json!({"file_name": "compose.yaml", "compose": compose}),
        )
        .await;
        let message = refusal("compose.yaml", status, &answer);
        assert!(
            message.contains(&format!(": {key}: ")),
            "{key} named in {message}"
        );
        assert!(
            services(&api, "app").await.is_empty(),
            "{key}: nothing created"
        );
    }
    // Beyond the request body limit, the server refuses to read it at all.
    let (status, _) = import(
        &api,
        "app",
        json!({"file_name": "compose.yaml", "compose": "#".repeat(300 * 1024)}),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(services(&api, "app").await.is_empty());
}

#[test]
fn the_cli_imports_a_file_with_its_env_file_and_prints_what_it_created() {
    let server = ServerProcess::start(&[], "info");
    server.wait_for_first_party_plugins();
    server.cli_shop_deployment(&[], "app");
    let dir = server.data_dir.path();
    std::fs::write(
        dir.join("stack.yaml"),
        "services:\n  web:\n    image: nginx:${TAG:-latest}\n    ports: [\"8080:80\"]\n  \
         cache:\n    image: redis:7\n",
    )
    .unwrap();
    std::fs::write(dir.join("stack.env"), "TAG=1.27\n").unwrap();
    let scope = ["--project", "shop", "--environment", "dev"];
    fn import<'a>(scope: &[&'a str], file: &'a str) -> Vec<&'a str> {
        [
            &["deployment", "import"][..],
            scope,
            &["app", "-f", file, "--env-file", "stack.env"],
        ]
        .concat()
    }
    let printed = server.cli_ok(&import(&scope, "stack.yaml"));
    assert!(
        printed.contains("web") && printed.contains("nginx:1.27"),
        "{printed}"
    );
    assert!(
        printed.contains("cache") && printed.contains("redis:7"),
        "{printed}"
    );

    // A refused file: exit 6 (invalid input), the refusal named on stderr, nothing created.
    std::fs::write(
        dir.join("bad.yaml"),
        "services:\n  db:\n    image: postgres\n    privileged: true\n",
    )
    .unwrap();
    let out = server.cli(&import(&scope, "bad.yaml"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("bad.yaml:4: services.db.privileged"),
        "{stderr}"
    );
    let listed =
        server.cli_ok(&[&["service", "list"][..], &scope, &["--deployment", "app"]].concat());
    assert!(!listed.contains("db"), "{listed}");
}

#[tokio::test]
async fn the_openapi_document_describes_the_import() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let (status, doc) = api
        .call(Method::GET, "/api/v1/openapi.json", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let import = &doc["paths"]["/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/import"]
        ["post"];
    assert!(import["responses"]["201"].is_object(), "{import}");
    let body = &doc["components"]["schemas"]["ComposeImport"]["properties"];
    for field in ["file_name", "compose", "env_file", "variables"] {
        assert!(body[field].is_object(), "{field} in {body}");
    }
}
