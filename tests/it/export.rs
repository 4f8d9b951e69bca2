//! Exporting a deployment as files to run without Komander, through the REST API and the CLI,
//! with the first-party Compose runtime: a tar of `compose.yaml` and `.env.example` holding
//! plain values and secret names, never a secret value; hidden from whom the deployment is
//! hidden; refused while the runtime is disabled; never overwriting files unless forced.

use std::io::Read;

use axum::http::{Method, StatusCode, header};
use komander_e2e::{ADMIN_TOKEN, Backend, ServerProcess, TestApi};
use serde_json::{Value, json};

const D: &str = "/api/v1/projects/shop/environments/dev/deployments/app";
const SECRET: &str = "export-secret-value-7c2e";
const PLAIN: &str = "plain-value-19af";

async fn expect(
    api: &TestApi,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: StatusCode,
) {
    let (got, answer) = api.call(method, path, Some(ADMIN_TOKEN), body).await;
    assert_eq!(got, status, "{path}: {answer}");
}

/// Project `shop`, environment `dev` on Compose, the admin's private deployment `app` with
/// service `web` publishing 8080, a plain variable `GREETING` and a secret `DATABASE_URL`.
async fn setup() -> TestApi {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    api.install_plugin("komander_compose").await;
    for (path, body) in [
        ("/api/v1/projects".to_owned(), json!({"name": "shop"})),
        (
            "/api/v1/projects/shop/environments".to_owned(),
            json!({"name": "dev", "runtime": "compose"}),
        ),
        (
            "/api/v1/projects/shop/environments/dev/deployments".to_owned(),
            json!({"name": "app"}),
        ),
        (
            format!("{D}/services"),
            json!({"name": "web", "image": "nginx:1.27",
                   "ports": [{"container": 80, "host": 8080}]}),
        ),
    ] {
        expect(&api, Method::POST, &path, Some(body), StatusCode::CREATED).await;
    }
    for (name, value, secret) in [("GREETING", PLAIN, false), ("DATABASE_URL", SECRET, true)] {
        let path = format!("{D}/services/web/variables/{name}");
        let (status, answer) = api
            .call(
                Method::PUT,
                &path,
                Some(ADMIN_TOKEN),
                Some(json!({"value": value, "secret": secret})),
            )
            .await;
        assert!(status.is_success(), "{path}: {answer}");
    }
    api
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

#[tokio::test]
async fn an_export_holds_compose_files_with_plain_values_and_secret_names_only() {
    let api = setup().await;
    let (status, headers, archive) = api.get_raw(&format!("{D}/export"), ADMIN_TOKEN).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&archive)
    );
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-tar");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"app.tar\""
    );
    let files = files(&archive);
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["compose.yaml", ".env.example"]);
    let compose = &files[0].1;
    assert!(compose.contains(PLAIN), "{compose}");
    assert!(compose.contains("8080:80"), "{compose}");
    assert!(compose.contains("nginx:1.27"), "{compose}");
    assert!(files[1].1.contains("DATABASE_URL"), "{}", files[1].1);
    let raw = String::from_utf8_lossy(&archive);
    assert!(!raw.contains(SECRET), "a secret value was exported: {raw}");

    // Audited, without a value.
    let (_, audit) = api
        .call(
            Method::GET,
            "/api/v1/projects/shop/audit",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert!(audit.to_string().contains("deployment.export"), "{audit}");
}

#[tokio::test]
async fn a_dev_cannot_export_someone_elses_private_deployment() {
    let api = setup().await;
    let dave = api.user("dave").await;
    expect(
        &api,
        Method::POST,
        "/api/v1/projects/shop/members",
        Some(json!({"user": "dave", "role": "dev"})),
        StatusCode::CREATED,
    )
    .await;
    let (status, _, body) = api.get_raw(&format!("{D}/export"), &dave).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(!String::from_utf8_lossy(&body).contains(SECRET));
}

#[tokio::test]
async fn an_export_is_refused_while_the_runtime_is_disabled() {
    let api = setup().await;
    expect(
        &api,
        Method::POST,
        "/api/v1/plugins/komander.compose/disable",
        None,
        StatusCode::OK,
    )
    .await;
    let (status, _, body) = api.get_raw(&format!("{D}/export"), ADMIN_TOKEN).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.contains("komander.compose") && body.contains("disabled"),
        "{body}"
    );
}

#[tokio::test]
async fn a_runtime_refusal_is_a_bad_request_and_an_escaping_bundle_is_refused() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    api.install_plugin("komander_test_guest").await;
    expect(
        &api,
        Method::POST,
        "/api/v1/projects",
        Some(json!({"name": "shop"})),
        StatusCode::CREATED,
    )
    .await;
    for (environment, behavior) in [("hostile", "escaping-bundle"), ("refusing", "unknown")] {
        expect(
            &api,
            Method::POST,
            "/api/v1/projects/shop/environments",
            Some(
                json!({"name": environment, "runtime": "komander.test-guest",
                        "settings": {"behavior": behavior}}),
            ),
            StatusCode::CREATED,
        )
        .await;
        expect(
            &api,
            Method::POST,
            &format!("/api/v1/projects/shop/environments/{environment}/deployments"),
            Some(json!({"name": "app"})),
            StatusCode::CREATED,
        )
        .await;
    }
    let export = |environment: &str| {
        format!("/api/v1/projects/shop/environments/{environment}/deployments/app/export")
    };
    let (status, _, body) = api.get_raw(&export("refusing"), ADMIN_TOKEN).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("komander.test-guest") && body.contains("no bundle for behavior"),
        "{body}"
    );
    // A path with `..` never reaches the caller: the plugin's fault, not an archive.
    let (status, headers, body) = api.get_raw(&export("hostile"), ADMIN_TOKEN).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_ne!(headers[header::CONTENT_TYPE], "application/x-tar");
    assert!(!body.contains("escaped"), "{body}");
}

#[test]
fn the_cli_writes_the_exported_files_and_refuses_to_overwrite_them() {
    let server = ServerProcess::start(&[], "info");
    server.wait_for_first_party_plugins();
    let komander = |args: &[&str]| server.cli(args);
    let ok = |args: &[&str]| server.cli_ok(args);
    let scope = ["--project", "shop", "--environment", "dev"];
    server.cli_shop_deployment(&[], "app");
    ok(&[
        &["service", "create"][..],
        &scope,
        &["--deployment", "app", "web", "--image", "busybox"],
    ]
    .concat());
    ok(&[
        &["variable", "set"][..],
        &scope,
        &[
            "--deployment",
            "app",
            "--service",
            "web",
            "TOKEN",
            "--value",
            SECRET,
            "--secret",
        ],
    ]
    .concat());

    let export = [&["deployment", "export"][..], &scope, &["app"]].concat();
    let printed = ok(&export);
    let dir = server.data_dir.path().join("app");
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        ["app/compose.yaml", "app/.env.example"],
        "{printed}"
    );
    let compose = std::fs::read_to_string(dir.join("compose.yaml")).unwrap();
    assert!(compose.contains("busybox"), "{compose}");
    let example = std::fs::read_to_string(dir.join(".env.example")).unwrap();
    assert!(
        example.contains("TOKEN") && !example.contains(SECRET),
        "{example}"
    );

    // A second export refuses to overwrite, and leaves the files alone.
    std::fs::write(dir.join("compose.yaml"), "edited").unwrap();
    let refused = komander(&export);
    assert_eq!(refused.status.code(), Some(1));
    let told = String::from_utf8_lossy(&refused.stderr);
    assert!(
        told.contains("--force") && told.contains("compose.yaml"),
        "{told}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("compose.yaml")).unwrap(),
        "edited"
    );

    // --force overwrites; --dir chooses the folder.
    ok(&[&export[..], &["--force"]].concat());
    assert!(
        std::fs::read_to_string(dir.join("compose.yaml"))
            .unwrap()
            .contains("busybox")
    );
    let elsewhere = server.data_dir.path().join("out");
    let printed = ok(&[&export[..], &["--dir", elsewhere.to_str().unwrap()]].concat());
    assert!(printed.contains("out/compose.yaml"), "{printed}");
    assert!(elsewhere.join(".env.example").exists());
}

#[tokio::test]
async fn the_openapi_document_describes_the_export_as_a_tar_archive() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let (status, doc) = api
        .call(Method::GET, "/api/v1/openapi.json", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let export = &doc["paths"]["/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/export"]
        ["get"];
    assert!(
        export["responses"]["200"]["content"]["application/x-tar"].is_object(),
        "{export}"
    );
}
