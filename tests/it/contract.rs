//! The OpenAPI document and the routes the server mounts are the same set: every documented
//! operation answers (not the router's "no such route" or 405), every method a documented path
//! does not list answers 405, and every `/api/` path the server's source names is documented.

use axum::http::{Method, StatusCode};
use komander_domain::api::RestartPolicy;
use komander_e2e::{Backend, TestApi};
use serde_json::Value;

use crate::runs::call;

/// The methods a REST operation may have.
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// `/api/` paths the server mounts outside the document, each with why.
const UNDOCUMENTED: [&str; 1] = [
    // The document itself.
    "/api/v1/openapi.json",
];

/// `template` with each `{parameter}` replaced by a value no object has.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether an answer is the router's own: no route for the path, or none for the method.
fn unrouted(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && body["error"]["message"] == "no such route")
}

/// Every string literal in the server's HTTP sources that starts with `/api/`.
fn api_literals() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/server/src/http");
    let mut found = Vec::new();
    let mut dirs = vec![dir];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                found.extend(
                    text.split('"')
                        .skip(1)
                        .step_by(2)
                        .filter(|literal| literal.starts_with("/api/v1/"))
                        .map(str::to_owned),
                );
            }
        }
    }
    found
}

#[tokio::test]
async fn the_document_and_the_mounted_routes_are_the_same_set() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let (status, doc) = call(&api, Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (template, item) in paths {
        let path = concrete(template);
        for method in METHODS {
            let documented = item.get(method.as_str().to_lowercase()).is_some();
            let (status, body) = call(&api, method.clone(), &path, None).await;
            if documented {
                assert!(
                    !unrouted(status, &body),
                    "{method} {template} is documented but not mounted: {status} {body}"
                );
                checked += 1;
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {template} is mounted but not documented: {body}"
                );
            }
        }
    }
    assert!(checked > 50, "only {checked} operations");

    for literal in api_literals() {
        let path = literal.split('?').next().unwrap();
        assert!(
            paths.contains_key(path) || UNDOCUMENTED.contains(&path),
            "the server names {path}, which the document does not have"
        );
    }
}

/// The document's rule for a restart policy (`RestartPolicyText`) takes exactly what the
/// server parses, up to the largest count and without the `+3` or `03` a number parser takes.
#[test]
fn the_document_and_the_server_take_the_same_restart_policies() {
    let document = serde_json::to_value(komander_server::http::openapi()).unwrap();
    let rule = &document["components"]["schemas"]["RestartPolicyText"];
    for text in [
        "no",
        "always",
        "unless-stopped",
        "on-failure",
        "on-failure:1",
        "on-failure:3",
        "on-failure:999999999",
        "on-failure:1000000000",
        "on-failure:4294967295",
        "on-failure:4294967296",
        "on-failure:9999999999",
        "on-failure:0",
        "on-failure:03",
        "on-failure:+3",
        "on-failure:",
        "On-Failure",
        "never",
        "",
    ] {
        let server = text.parse::<RestartPolicy>().is_ok();
        let document = jsonschema::is_valid(rule, &Value::from(text));
        assert_eq!(
            document, server,
            "{text:?}: document {document}, server {server}"
        );
    }
}
