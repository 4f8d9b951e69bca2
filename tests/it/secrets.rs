//! Secrets are write-only: a known secret is stored through the real server, then looked for in
//! the SQLite file (and its WAL), the PostgreSQL tables, the audit log, the captured logs and
//! every API answer but the resolve of a `local` environment (refused in a `server` one).
//! Switching the environment to `local` clears it, and so does sharing; a ciphertext copied
//! onto another row fails to open.

use axum::http::{Method, StatusCode};
use komander_e2e::{ADMIN_TOKEN, Backend, ServerProcess, TestApi};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, Row, SqliteConnection};

const D: &str = "/api/v1/projects/vault/environments/prod/deployments/backend";

/// Everything at `trace` but the component compiler's own steps, which never see a secret and,
/// traced, make compiling the first-party runtime (which the environment needs) take minutes.
const TRACE: &str = "trace,wasmtime=info,wasmtime_internal_cranelift=info,cranelift_codegen=info,\
                     regalloc2=info,wasmparser=info";

async fn call(
    client: &reqwest::Client,
    server: &ServerProcess,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = client
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// Drives one server through the life of a secret; answers every body the API returned
/// (except resolve's) for the leak search.
async fn secret_life(server: &ServerProcess, secret: &str) -> String {
    use reqwest::Method as M;
    let client = ServerProcess::client();
    server.wait_for_first_party_plugins();
    let mut seen = String::new();
    for (method, path, body, want) in [
        (
            M::POST,
            "/api/v1/projects".to_owned(),
            json!({"name": "vault"}),
            201,
        ),
        (
            M::POST,
            "/api/v1/projects/vault/environments".to_owned(),
            json!({"name": "prod", "runtime": "compose"}),
            201,
        ),
        (
            M::POST,
            "/api/v1/projects/vault/environments/prod/deployments".to_owned(),
            json!({"name": "backend"}),
            201,
        ),
        (
            M::POST,
            format!("{D}/services"),
            json!({"name": "web", "image": "busybox:1"}),
            201,
        ),
        (
            M::PUT,
            format!("{D}/services/web/variables/DB_PASSWORD"),
            json!({"value": secret, "secret": true}),
            200,
        ),
        (
            M::PUT,
            format!("{D}/services/web/variables/MODE"),
            json!({"value": "plain-value", "secret": false}),
            200,
        ),
    ] {
        let (status, text) = call(&client, server, method, &path, Some(body)).await;
        assert_eq!(status, want, "{path}: {text}");
        seen.push_str(&text);
    }
    let (_, variables) = call(
        &client,
        server,
        M::GET,
        &format!("{D}/services/web/variables"),
        None,
    )
    .await;
    let variables: Value = serde_json::from_str(&variables).unwrap();
    assert_eq!(
        variables["items"],
        json!([
            {"name": "DB_PASSWORD", "secret": true, "has_value": true},
            {"name": "MODE", "secret": false, "has_value": true, "value": "plain-value"}
        ])
    );
    let (_, audit) = call(
        &client,
        server,
        M::GET,
        "/api/v1/projects/vault/audit",
        None,
    )
    .await;
    assert!(audit.contains("variable.set"), "{audit}");
    seen.push_str(&audit);
    // In a `server` environment the values go to the server's runtime and to nobody else:
    // not even the owner, an Admin, may resolve them.
    let (status, refused) = call(&client, server, M::POST, &format!("{D}/resolve"), None).await;
    assert_eq!(status, 403, "{refused}");
    assert!(refused.contains("server's runtime only"), "{refused}");
    seen.push_str(&refused);
    // Switching the environment to the local executor clears the values entered for the
    // server; the owner enters them again, for their own machine.
    let (status, switched) = call(
        &client,
        server,
        M::PATCH,
        "/api/v1/projects/vault/environments/prod",
        Some(json!({"executor": "local"})),
    )
    .await;
    assert_eq!(status, 200, "{switched}");
    let switched: Value = serde_json::from_str(&switched).unwrap();
    assert_eq!(switched["cleared_secret_values"], 1, "{switched}");
    assert_eq!(switched["environment"]["executor"], "local", "{switched}");
    seen.push_str(&switched.to_string());
    let (_, variables) = call(
        &client,
        server,
        M::GET,
        &format!("{D}/services/web/variables"),
        None,
    )
    .await;
    let variables: Value = serde_json::from_str(&variables).unwrap();
    assert_eq!(variables["items"][0]["has_value"], false, "{variables}");
    let (status, _) = call(
        &client,
        server,
        M::PUT,
        &format!("{D}/services/web/variables/DB_PASSWORD"),
        Some(json!({"value": secret, "secret": true})),
    )
    .await;
    assert_eq!(status, 200);
    // The local executor's endpoint is then the one way out, and it is audited.
    let (status, resolved) = call(&client, server, M::POST, &format!("{D}/resolve"), None).await;
    assert_eq!(status, 200, "{resolved}");
    let resolved: Value = serde_json::from_str(&resolved).unwrap();
    assert_eq!(
        resolved["services"][0]["environment"]["DB_PASSWORD"],
        secret
    );
    let (_, audit) = call(
        &client,
        server,
        M::GET,
        "/api/v1/projects/vault/audit",
        None,
    )
    .await;
    assert!(
        audit.contains("deployment.resolve") && audit.contains("web.DB_PASSWORD"),
        "{audit}"
    );
    seen.push_str(&audit);
    // Sharing clears the secret's value: the owner re-enters it.
    let (status, shared) = call(&client, server, M::POST, &format!("{D}/share"), None).await;
    assert_eq!(status, 200, "{shared}");
    assert_eq!(
        serde_json::from_str::<Value>(&shared).unwrap()["cleared_secret_values"],
        1
    );
    seen.push_str(&shared);
    let (_, variables) = call(
        &client,
        server,
        M::GET,
        &format!("{D}/services/web/variables"),
        None,
    )
    .await;
    let variables: Value = serde_json::from_str(&variables).unwrap();
    assert_eq!(variables["items"][0]["has_value"], false);
    assert_eq!(
        variables["items"][1]["value"], "plain-value",
        "plain values survive sharing"
    );
    let (_, resolved) = call(&client, server, M::POST, &format!("{D}/resolve"), None).await;
    let resolved: Value = serde_json::from_str(&resolved).unwrap();
    assert_eq!(
        resolved["services"][0]["missing_secrets"],
        json!(["DB_PASSWORD"])
    );
    // Set it again so the stores hold a ciphertext while we search them.
    let (status, _) = call(
        &client,
        server,
        M::PUT,
        &format!("{D}/services/web/variables/DB_PASSWORD"),
        Some(json!({"value": secret, "secret": true})),
    )
    .await;
    assert_eq!(status, 200);
    seen
}

fn assert_absent(haystack: &[u8], secret: &str, place: &str) {
    let found = haystack
        .windows(secret.len())
        .any(|w| w == secret.as_bytes());
    assert!(!found, "the secret was found in {place}");
}

#[tokio::test]
async fn secret_never_leaves_through_sqlite_logs_audit_or_api() {
    let secret = format!("s3cret-{}", uuid::Uuid::now_v7().simple());
    let mut server = ServerProcess::start(&[], TRACE);
    let seen = secret_life(&server, &secret).await;
    assert_absent(seen.as_bytes(), &secret, "API answers");
    server.stop();
    let data = server.data_dir.path().join("data");
    for file in ["komander.db", "komander.db-wal", "komander.db-shm"] {
        if let Ok(bytes) = std::fs::read(data.join(file)) {
            assert_absent(&bytes, &secret, file);
        }
    }
    let log = std::fs::read(&server.log).unwrap();
    assert!(log.len() > 1000, "trace logs were captured");
    assert_absent(&log, &secret, "the server's logs");
    // The ciphertext is really there, bound to its row.
    let mut db =
        SqliteConnection::connect(&format!("sqlite://{}", data.join("komander.db").display()))
            .await
            .unwrap();
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT sealed FROM variables WHERE name = 'DB_PASSWORD'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert!(sealed.len() > secret.len());
}

#[tokio::test]
async fn secret_never_leaves_through_postgres_tables() {
    let Some(url) = komander_e2e::postgres_database().await else {
        return;
    };
    let secret = format!("s3cret-{}", uuid::Uuid::now_v7().simple());
    let mut server = ServerProcess::start(&[("KOMANDER_DATABASE_URL", url.as_str())], "debug");
    let seen = secret_life(&server, &secret).await;
    assert_absent(seen.as_bytes(), &secret, "API answers");
    server.stop();
    assert_absent(
        &std::fs::read(&server.log).unwrap(),
        &secret,
        "the server's logs",
    );
    let mut db = PgConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "variables"), "{tables:?}");
    for table in tables {
        let rows = sqlx::query(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&mut db)
            .await
            .unwrap();
        for row in rows {
            let text: String = row.get(0);
            assert_absent(text.as_bytes(), &secret, &format!("table {table}"));
        }
    }
}

#[tokio::test]
async fn a_ciphertext_copied_onto_another_row_fails_to_decrypt() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    api.install_plugin("komander_compose").await;
    let admin = Some(ADMIN_TOKEN);
    let steps = [
        (
            Method::POST,
            "/api/v1/projects".to_owned(),
            json!({"name": "vault"}),
        ),
        (
            Method::POST,
            "/api/v1/projects/vault/environments".to_owned(),
            json!({"name": "prod", "runtime": "compose", "executor": "local"}),
        ),
        (
            Method::POST,
            "/api/v1/projects/vault/environments/prod/deployments".to_owned(),
            json!({"name": "backend"}),
        ),
        (
            Method::POST,
            format!("{D}/services"),
            json!({"name": "web", "image": "busybox"}),
        ),
        (
            Method::PUT,
            format!("{D}/services/web/variables/A"),
            json!({"value": "alpha", "secret": true}),
        ),
        (
            Method::PUT,
            format!("{D}/services/web/variables/B"),
            json!({"value": "bravo", "secret": true}),
        ),
    ];
    for (method, path, body) in steps {
        let (status, answer) = api.call(method, &path, admin, Some(body)).await;
        assert!(status.is_success(), "{path}: {answer}");
    }
    let (status, resolved) = api
        .call(Method::POST, &format!("{D}/resolve"), admin, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resolved["services"][0]["environment"]["B"], "bravo");
    let mut db =
        SqliteConnection::connect(&format!("sqlite://{}", api.store.sqlite_file().display()))
            .await
            .unwrap();
    sqlx::query("UPDATE variables SET sealed = (SELECT sealed FROM variables WHERE name = 'A') WHERE name = 'B'")
        .execute(&mut db)
        .await
        .unwrap();
    let (status, answer) = api
        .call(Method::POST, &format!("{D}/resolve"), admin, None)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    assert!(!answer.to_string().contains("alpha"), "{answer}");
}
