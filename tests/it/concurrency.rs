//! 50 concurrent writers on SQLite and on PostgreSQL: no "database is locked", no lost write.

use axum::http::{Method, StatusCode};
use komander_e2e::{ADMIN_TOKEN, Backend, TestApi};
use serde_json::json;

async fn fifty_writers(backend: Backend) {
    let Some(api) = TestApi::new(backend).await else {
        return;
    };
    api.install_plugin("komander_compose").await;
    let api = std::sync::Arc::new(api);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "busy"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let s = "/api/v1/projects/busy/environments";
    api.call(
        Method::POST,
        s,
        Some(ADMIN_TOKEN),
        Some(json!({"name": "dev", "runtime": "compose", "executor": "local"})),
    )
    .await;
    let d = "/api/v1/projects/busy/environments/dev/deployments";
    api.call(
        Method::POST,
        d,
        Some(ADMIN_TOKEN),
        Some(json!({"name": "app"})),
    )
    .await;
    api.call(
        Method::POST,
        &format!("{d}/app/services"),
        Some(ADMIN_TOKEN),
        Some(json!({"name": "web", "image": "nginx"})),
    )
    .await;
    let mut writers = Vec::new();
    for i in 0..50 {
        let api = api.clone();
        writers.push(tokio::spawn(async move {
            // Each writer does a read-then-write use case of its own, and all of them write
            // the same tables at once.
            let project = api
                .call(
                    Method::POST,
                    "/api/v1/projects",
                    Some(ADMIN_TOKEN),
                    Some(json!({"name": format!("p{i}")})),
                )
                .await;
            let variable = api
                .call(
                    Method::PUT,
                    &format!("{d}/app/services/web/variables/V{i}"),
                    Some(ADMIN_TOKEN),
                    Some(json!({"value": format!("value-{i}"), "secret": i % 2 == 0})),
                )
                .await;
            (project, variable)
        }));
    }
    for writer in writers {
        let ((ps, pb), (vs, vb)) = writer.await.unwrap();
        assert_eq!(ps, StatusCode::CREATED, "{backend:?}: {pb}");
        assert_eq!(vs, StatusCode::OK, "{backend:?}: {vb}");
    }
    let (_, projects) = api
        .call(
            Method::GET,
            "/api/v1/projects?limit=200",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(
        projects["items"].as_array().unwrap().len(),
        51,
        "{backend:?}"
    );
    let (_, resolved) = api
        .call(
            Method::POST,
            &format!("{d}/app/resolve"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    let env = resolved["services"][0]["environment"].as_object().unwrap();
    assert_eq!(env.len(), 50, "{backend:?}: every write landed");
    for i in 0..50 {
        assert_eq!(env[&format!("V{i}")], format!("value-{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_writers_on_sqlite() {
    fifty_writers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_writers_on_postgres() {
    fifty_writers(Backend::Postgres).await;
}
