//! A service's whole spec through the REST API: each field created, read, patched and resolved;
//! each bad value, alone or against the deployment's other services, refused naming its field
//! with nothing changed.

use axum::http::{Method, StatusCode};
use komander_e2e::{ADMIN_TOKEN, Backend, TestApi};
use serde_json::{Value, json};

const D: &str = "/api/v1/projects/shop/environments/dev/deployments/app";

async fn setup() -> TestApi {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    api.install_plugin("komander_compose").await;
    for (path, body) in [
        ("/api/v1/projects", json!({"name": "shop"})),
        (
            "/api/v1/projects/shop/environments",
            json!({"name": "dev", "runtime": "compose", "executor": "local"}),
        ),
        (
            "/api/v1/projects/shop/environments/dev/deployments",
            json!({"name": "app"}),
        ),
    ] {
        expect(&api, Method::POST, path, Some(body), StatusCode::CREATED).await;
    }
    api
}

async fn expect(
    api: &TestApi,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: StatusCode,
) -> Value {
    let (got, answer) = api.call(method, path, Some(ADMIN_TOKEN), body).await;
    assert_eq!(got, status, "{path}: {answer}");
    answer
}

async fn create(api: &TestApi, body: Value) -> Value {
    let path = format!("{D}/services");
    expect(api, Method::POST, &path, Some(body), StatusCode::CREATED).await
}

/// The deployment's services as listed, for "nothing changed" checks.
async fn services(api: &TestApi) -> Value {
    let path = format!("{D}/services");
    expect(api, Method::GET, &path, None, StatusCode::OK).await["items"].take()
}

#[tokio::test]
async fn every_field_is_created_read_patched_and_resolved() {
    let api = setup().await;
    create(
        &api,
        json!({"name": "db", "image": "postgres:16",
               "health_check": {"command": ["pg_isready"]}}),
    )
    .await;
    let full = json!({
        "name": "web",
        "image": "nginx:1.27",
        "ports": [{"container": 80, "host": 8080, "host_address": "0.0.0.0", "protocol": "tcp"}],
        "command": ["nginx", "-g", "daemon off;"],
        "entrypoint": ["/docker-entrypoint.sh"],
        "working_dir": "/srv",
        "user": "101:101",
        "health_check": {"command": ["wget", "-q", "-O-", "localhost"], "interval_seconds": 5,
                         "timeout_seconds": 2, "retries": 4, "start_period_seconds": 10},
        "restart": "on-failure:3",
        "depends_on": [{"service": "db", "condition": "healthy"}],
        "memory_bytes": 268435456u64,
        "cpus": 0.5,
        "pull": "always",
    });
    let created = create(&api, full.clone()).await;
    let read = expect(
        &api,
        Method::GET,
        &format!("{D}/services/web"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(created, read);
    for (field, value) in full.as_object().unwrap() {
        assert_eq!(&read[field], value, "{field}: {read}");
    }
    assert_eq!(read["replicas"], 1, "the default");
    // Defaults of a service created with the image alone.
    let db = &services(&api).await[0];
    assert_eq!(
        (&db["restart"], &db["replicas"], &db["pull"], &db["command"]),
        (&json!("no"), &json!(1), &json!("missing"), &json!([]))
    );
    assert_eq!(db["health_check"]["interval_seconds"], 30);
    assert_eq!(db["health_check"]["retries"], 3);

    // A patch changes what it gives; null clears; absent keeps.
    let patched = expect(
        &api,
        Method::PATCH,
        &format!("{D}/services/web"),
        Some(json!({
            "working_dir": null, "memory_bytes": null, "cpus": 2.0, "restart": "unless-stopped",
            "depends_on": [{"service": "db"}], "pull": "missing", "command": [],
            "ports": [{"container": 80}], "replicas": 3,
        })),
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["working_dir"], Value::Null);
    assert_eq!(patched["memory_bytes"], Value::Null);
    assert_eq!(patched["cpus"], 2.0);
    assert_eq!(patched["restart"], "unless-stopped");
    assert_eq!(
        patched["depends_on"],
        json!([{"service": "db", "condition": "started"}])
    );
    assert_eq!(patched["replicas"], 3);
    assert_eq!(patched["command"], json!([]));
    assert_eq!(patched["user"], "101:101", "absent keeps it");
    assert_eq!(patched["entrypoint"], full["entrypoint"]);
    assert_eq!(patched["health_check"], read["health_check"]);

    // What `resolve` answers an executor carries every field.
    let resolved = expect(
        &api,
        Method::POST,
        &format!("{D}/resolve"),
        None,
        StatusCode::OK,
    )
    .await;
    let web = &resolved["services"][1];
    for field in [
        "ports",
        "command",
        "entrypoint",
        "working_dir",
        "user",
        "health_check",
        "restart",
        "depends_on",
        "memory_bytes",
        "cpus",
        "replicas",
        "pull",
    ] {
        assert_eq!(web[field], patched[field], "{field}: {web}");
    }
}

#[tokio::test]
async fn bad_settings_are_refused_naming_the_field_and_nothing_changes() {
    let api = setup().await;
    create(
        &api,
        json!({"name": "db", "image": "postgres", "ports": [{"container": 5432, "host": 5432}]}),
    )
    .await;
    create(&api, json!({"name": "web", "image": "nginx"})).await;
    let before = services(&api).await;
    let hc = |extra: Value| {
        let mut check = json!({"command": ["true"]});
        check
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"health_check": check})
    };
    let cases = [
        (
            json!({"depends_on": [{"service": "nope"}]}),
            "depends_on",
            "nope",
        ),
        (
            json!({"depends_on": [{"service": "db", "condition": "healthy"}]}),
            "depends_on",
            "no health check",
        ),
        (
            json!({"ports": [{"container": 80, "host": 5432}]}),
            "ports",
            "service db",
        ),
        (
            json!({"ports": [{"container": 80, "host": 5432, "host_address": "0.0.0.0"}]}),
            "ports",
            "service db",
        ),
        (
            hc(json!({"interval_seconds": 0})),
            "health_check.interval_seconds",
            "1 to 3600",
        ),
        (
            hc(json!({"timeout_seconds": 3601})),
            "health_check.timeout_seconds",
            "1 to 3600",
        ),
        (
            hc(json!({"start_period_seconds": 7200})),
            "health_check.start_period_seconds",
            "0 to 3600",
        ),
        (
            hc(json!({"retries": 0})),
            "health_check.retries",
            "1 to 100",
        ),
        (
            json!({"health_check": {"command": []}}),
            "health_check.command",
            "command",
        ),
        (json!({"memory_bytes": 0}), "memory_bytes", "above 0"),
        (json!({"cpus": 0}), "cpus", "above 0"),
        (json!({"cpus": -0.5}), "cpus", "above 0"),
        (json!({"replicas": 0}), "replicas", "1 to 100"),
        (json!({"replicas": 101}), "replicas", "1 to 100"),
        (
            json!({"replicas": 2, "ports": [{"container": 80, "host": 8080}]}),
            "replicas",
            "host port",
        ),
        (json!({"command": ["a\u{0}b"]}), "command", "NUL"),
        (
            json!({"entrypoint": ["x".repeat(4097)]}),
            "entrypoint",
            "4096",
        ),
        (json!({"working_dir": "srv"}), "working_dir", "absolute"),
        (json!({"working_dir": "/srv\u{0}"}), "working_dir", "NUL"),
        (json!({"user": "root user"}), "user", "spaces"),
        (json!({"user": "x".repeat(4097)}), "user", "4096"),
    ];
    for (body, field, needle) in cases {
        for (method, path, body) in [
            (Method::PATCH, format!("{D}/services/web"), body.clone()),
            (Method::POST, format!("{D}/services"), {
                let mut new = json!({"name": "back", "image": "nginx"});
                new.as_object_mut()
                    .unwrap()
                    .extend(body.as_object().unwrap().clone());
                new
            }),
        ] {
            let (status, answer) = api
                .call(method, &path, Some(ADMIN_TOKEN), Some(body.clone()))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
            assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(needle), "{needle:?} not in {message:?}");
        }
    }
    for (body, needle) in [
        (json!({"restart": "sometimes"}), "restart policy"),
        (json!({"restart": "on-failure:0"}), "restart policy"),
        (json!({"pull": "never"}), "pull"),
        (
            json!({"depends_on": [{"service": "db", "condition": "ready"}]}),
            "condition",
        ),
        (
            json!({"ports": [{"container": 80, "host": 80, "host_address": "localhost"}]}),
            "host_address",
        ),
        (json!({"memory_bytes": -1}), "memory_bytes"),
    ] {
        let (status, answer) = api
            .call(
                Method::PATCH,
                &format!("{D}/services/web"),
                Some(ADMIN_TOKEN),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
    }
    assert_eq!(services(&api).await, before, "nothing changed");
}

#[tokio::test]
async fn a_dependency_cycle_across_three_services_is_refused() {
    let api = setup().await;
    create(&api, json!({"name": "a", "image": "nginx"})).await;
    create(
        &api,
        json!({"name": "b", "image": "nginx", "depends_on": [{"service": "a"}]}),
    )
    .await;
    create(
        &api,
        json!({"name": "c", "image": "nginx", "depends_on": [{"service": "b"}]}),
    )
    .await;
    let before = services(&api).await;
    let answer = expect(
        &api,
        Method::PATCH,
        &format!("{D}/services/a"),
        Some(json!({"depends_on": [{"service": "c"}]})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(answer["error"]["field"], "depends_on");
    assert_eq!(
        answer["error"]["message"],
        "dependency cycle: a -> c -> b -> a"
    );
    assert_eq!(services(&api).await, before, "nothing changed");
}

#[tokio::test]
async fn deleting_or_unhealthying_a_service_others_wait_for_is_refused() {
    let api = setup().await;
    create(
        &api,
        json!({"name": "db", "image": "postgres", "health_check": {"command": ["pg_isready"]}}),
    )
    .await;
    for name in ["back", "web"] {
        create(
            &api,
            json!({"name": name, "image": "nginx",
                   "depends_on": [{"service": "db", "condition": "healthy"}]}),
        )
        .await;
    }
    let before = services(&api).await;
    let db = format!("{D}/services/db");
    let answer = expect(&api, Method::DELETE, &db, None, StatusCode::CONFLICT).await;
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("back, web depend on it"), "{message}");
    let answer = expect(
        &api,
        Method::PATCH,
        &db,
        Some(json!({"health_check": null})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(answer["error"]["field"], "health_check");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("back, web")
    );
    assert_eq!(services(&api).await, before, "nothing changed");
    // Once nothing waits for it, it goes.
    for name in ["back", "web"] {
        expect(
            &api,
            Method::PATCH,
            &format!("{D}/services/{name}"),
            Some(json!({"depends_on": []})),
            StatusCode::OK,
        )
        .await;
    }
    expect(&api, Method::DELETE, &db, None, StatusCode::NO_CONTENT).await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_setting() {
    let api = setup().await;
    let doc = expect(
        &api,
        Method::GET,
        "/api/v1/openapi.json",
        None,
        StatusCode::OK,
    )
    .await;
    let schemas = &doc["components"]["schemas"];
    let fields = [
        "command",
        "entrypoint",
        "working_dir",
        "user",
        "health_check",
        "restart",
        "depends_on",
        "memory_bytes",
        "cpus",
        "replicas",
        "pull",
    ];
    for schema in ["NewService", "ServicePatch", "ServiceSettings"] {
        for field in fields {
            assert!(
                schemas[schema]["properties"][field].is_object(),
                "{schema}.{field}"
            );
        }
    }
    assert_eq!(
        schemas["ServiceSettings"]["properties"]["restart"]["$ref"],
        "#/components/schemas/RestartPolicyText"
    );
    assert_eq!(schemas["RestartPolicyText"]["type"], "string");
    for kind in ["Service", "ResolvedService"] {
        assert!(
            schemas[kind]["allOf"]
                .as_array()
                .unwrap()
                .iter()
                .any(|part| part["$ref"] == "#/components/schemas/ServiceSettings"),
            "{kind} carries the settings"
        );
    }
    assert!(schemas["PortSpec"]["properties"]["host_address"].is_object());
    for schema in [
        "HealthCheck",
        "Dependency",
        "DependencyCondition",
        "PullPolicy",
    ] {
        assert!(schemas[schema].is_object(), "{schema}");
    }
}
