//! Targets: instance admins register Docker Engines and grant them to projects; members list
//! and name the granted ones; TLS material never comes back; the server registers the engine
//! it finds at start as the default target `local`.

use axum::http::{Method, StatusCode};
use komander_app::targets::TARGET_FILES_DIR;
use komander_e2e::{ADMIN_TOKEN, Answer, Backend, ServerProcess, TestApi};
use serde_json::{Value, json};

/// A structurally valid PEM block of `label` whose body is `marker` repeated: what the server
/// checks is the PEM shape, and the marker is what a leak would show.
pub(crate) fn pem(label: &str, marker: &str) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(marker.repeat(8));
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

/// A TLS endpoint whose three PEMs carry `marker`.
fn tls_endpoint(marker: &str) -> Value {
    json!({
        "kind": "tcp",
        "address": "tcp://10.0.0.2:2376",
        "ca_pem": pem("CERTIFICATE", marker),
        "cert_pem": pem("CERTIFICATE", marker),
        "key_pem": pem("PRIVATE KEY", marker),
    })
}

/// An instance with project `shop` (alice Admin, dora DevOps, dave Dev) and the targets
/// `edge` (TLS) and `spare` (a socket), neither granted yet. Answers the API and the tokens
/// of alice, dora and dave.
async fn instance() -> (TestApi, [String; 3]) {
    let api = TestApi::new(Backend::Sqlite)
        .await
        .expect("SQLite always works");
    api.install_plugin("komander_compose").await;
    let alice = api.user("alice").await;
    let dora = api.user("dora").await;
    let dave = api.user("dave").await;
    let created = api
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(&alice),
            Some(json!({"name": "shop"})),
        )
        .await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    for (handle, role) in [("dora", "devops"), ("dave", "dev")] {
        let body = json!({"user": handle, "role": role});
        let (status, answer) = api
            .call(
                Method::POST,
                "/api/v1/projects/shop/members",
                Some(&alice),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    for body in [
        json!({"name": "edge", "endpoint": tls_endpoint("EDGE-KEY-MATERIAL")}),
        json!({"name": "spare", "endpoint": {"kind": "unix", "socket": "/run/spare.sock"}}),
    ] {
        let (status, answer) = admin(&api, Method::POST, "/api/v1/targets", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    (api, [alice, dora, dave])
}

async fn admin(api: &TestApi, method: Method, path: &str, body: Option<Value>) -> Answer {
    api.call(method, path, Some(ADMIN_TOKEN), body).await
}

/// What an instance admin reads about target `edge` and the API: the list of targets, the
/// target, its grants and the OpenAPI document, each with the path it came from.
async fn admin_reads(api: &TestApi) -> Vec<(&'static str, Value)> {
    let mut answers = Vec::new();
    for path in [
        "/api/v1/targets",
        "/api/v1/targets/edge",
        "/api/v1/targets/edge/grants",
        "/api/v1/openapi.json",
    ] {
        let (status, body) = admin(api, Method::GET, path, None).await;
        assert!(status.is_success(), "{path}: {status}");
        answers.push((path, body));
    }
    answers
}

/// Asserts that no answer holds any of `secrets`, nor a PEM private key.
fn assert_no_answer_holds(answers: &[(&str, Value)], secrets: &[&str]) {
    for (path, body) in answers {
        let text = body.to_string();
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{path} returned TLS material: {text}"
            );
        }
        assert!(!text.contains("BEGIN PRIVATE KEY"), "{path}: {text}");
    }
}

#[tokio::test]
async fn only_instance_admins_write_targets_whatever_their_project_role() {
    let (api, tokens) = instance().await;
    let writes = [
        (
            Method::POST,
            "/api/v1/targets",
            Some(json!({"name": "mine", "endpoint": {"kind": "unix", "socket": "/run/x.sock"}})),
        ),
        (
            Method::PATCH,
            "/api/v1/targets/edge",
            Some(json!({"default": true})),
        ),
        (Method::DELETE, "/api/v1/targets/spare", None),
        (
            Method::POST,
            "/api/v1/targets/edge/grants",
            Some(json!({"project": "shop"})),
        ),
        (Method::DELETE, "/api/v1/targets/edge/grants/shop", None),
        (Method::GET, "/api/v1/targets", None),
        (Method::GET, "/api/v1/targets/edge", None),
        (Method::GET, "/api/v1/targets/edge/grants", None),
    ];
    for token in &tokens {
        for (method, path, body) in &writes {
            let (status, answer) = api
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        }
    }
    // Nothing changed: the same two targets, no default, no grant.
    let (_, list) = admin(&api, Method::GET, "/api/v1/targets", None).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["edge", "spare"]);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["default"] == false)
    );
    let (_, grants) = admin(&api, Method::GET, "/api/v1/targets/edge/grants", None).await;
    assert_eq!(grants["items"], json!([]));
}

#[tokio::test]
async fn no_route_returns_tls_material_and_the_store_keeps_it_sealed() {
    let (api, [alice, _, dave]) = instance().await;
    const MARKER: &str = "EDGE-KEY-MATERIAL";
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(MARKER.repeat(8));
    let (status, _) = admin(
        &api,
        Method::POST,
        "/api/v1/targets/edge/grants",
        Some(json!({"project": "shop"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = admin(
        &api,
        Method::PATCH,
        "/api/v1/targets/edge",
        Some(json!({"endpoint": tls_endpoint(MARKER), "default": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut answers = admin_reads(&api).await;
    for token in [&alice, &dave] {
        let (status, body) = api
            .call(
                Method::GET,
                "/api/v1/projects/shop/targets",
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["items"][0]["name"], "edge",
            "members list granted targets"
        );
        answers.push(("/api/v1/projects/shop/targets (member)", body));
    }
    assert_no_answer_holds(&answers, &[&encoded]);
    assert_eq!(
        answers[1].1["endpoint"],
        json!({"kind": "tcp", "address": "tcp://10.0.0.2:2376"})
    );
    // At rest, each PEM is sealed: no column holds it.
    let name = "edge".parse().unwrap();
    let stored = api.store.store.target(&name).await.unwrap().unwrap();
    let debug = format!("{stored:?}");
    assert!(
        !debug.contains(&encoded) && debug.contains("***"),
        "{debug}"
    );
    let komander_store::StoredEndpoint::Tcp { tls, .. } = stored.endpoint else {
        panic!("a TLS target");
    };
    for sealed in [&tls.ca, &tls.cert, &tls.key] {
        let plain = encoded.as_bytes();
        assert!(!sealed.windows(plain.len()).any(|w| w == plain));
    }
}

#[tokio::test]
async fn bad_endpoints_and_policies_are_refused_naming_the_field() {
    let (api, _) = instance().await;
    let unix = |socket: &str| json!({"kind": "unix", "socket": socket});
    let cases = [
        (
            json!({"name": "a", "endpoint": unix("docker.sock")}),
            "endpoint.socket",
        ),
        (
            json!({"name": "a", "endpoint": unix("/run/../etc/docker.sock")}),
            "endpoint.socket",
        ),
        (
            json!({"name": "a", "endpoint": {"kind": "tcp", "address": "http://h:1",
                "ca_pem": pem("CERTIFICATE", "x"), "cert_pem": pem("CERTIFICATE", "x"),
                "key_pem": pem("PRIVATE KEY", "x")}}),
            "endpoint.address",
        ),
        (
            json!({"name": "a", "endpoint": {"kind": "tcp", "address": "tcp://h:2376",
                "ca_pem": "not a pem", "cert_pem": pem("CERTIFICATE", "x"),
                "key_pem": pem("PRIVATE KEY", "x")}}),
            "endpoint.ca_pem",
        ),
        (
            json!({"name": "a", "endpoint": {"kind": "tcp", "address": "tcp://h:2376",
                "ca_pem": pem("CERTIFICATE", "x"), "cert_pem": pem("CERTIFICATE", "x"),
                "key_pem": pem("CERTIFICATE", "x")}}),
            "endpoint.key_pem",
        ),
        (
            json!({"name": "a", "endpoint": unix("/run/d.sock"), "policy": {"bind_root": "srv/data"}}),
            "policy.bind_root",
        ),
        (
            json!({"name": "a", "endpoint": unix("/run/d.sock"), "policy": {"bind_root": "/"}}),
            "policy.bind_root",
        ),
        (
            json!({"name": "a", "endpoint": unix("/run/d.sock"),
                "policy": {"publish_addresses": ["127.0.0.1", "example.com"]}}),
            "policy.publish_addresses",
        ),
        (
            json!({"name": "a", "endpoint": unix("/run/d.sock"), "policy": {"max_memory_bytes": 0}}),
            "policy.max_memory_bytes",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) =
            admin(&api, Method::POST, "/api/v1/targets", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    // An update is checked the same way, and changes nothing when refused.
    let (status, answer) = admin(
        &api,
        Method::PATCH,
        "/api/v1/targets/spare",
        Some(json!({"policy": {"publish_addresses": ["0.0.0.0/0"]}, "default": true})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["field"], "policy.publish_addresses");
    let (_, spare) = admin(&api, Method::GET, "/api/v1/targets/spare", None).await;
    assert_eq!(spare["default"], false);
    assert_eq!(spare["policy"]["publish_addresses"], json!(["127.0.0.1"]));
    let (_, list) = admin(&api, Method::GET, "/api/v1/targets", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_environment_names_only_a_target_granted_to_its_project() {
    let (api, [alice, dora, dave]) = instance().await;
    let environments = "/api/v1/projects/shop/environments";
    let new = |target: &str| json!({"name": "prod", "runtime": "compose", "target": target});
    // Not granted (and not existing) are refused alike, and nothing is created.
    for target in ["edge", "nowhere"] {
        let (status, answer) = api
            .call(Method::POST, environments, Some(&alice), Some(new(target)))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["field"], "target", "{answer}");
    }
    let (status, _) = api
        .call(
            Method::GET,
            &format!("{environments}/prod"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let grant = json!({"project": "shop"});
    let granted = admin(
        &api,
        Method::POST,
        "/api/v1/targets/edge/grants",
        Some(grant),
    )
    .await;
    assert_eq!(granted.0, StatusCode::NO_CONTENT);
    // A Dev may not create or change environments, whatever the target.
    let (status, _) = api
        .call(Method::POST, environments, Some(&dave), Some(new("edge")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = api
        .call(Method::POST, environments, Some(&dora), Some(new("edge")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["target"], "edge");
    // Pointing it at a target the project was not granted is refused, and nothing changes.
    let prod = format!("{environments}/prod");
    let (status, answer) = api
        .call(
            Method::PATCH,
            &prod,
            Some(&dora),
            Some(json!({"target": "spare", "display_name": "P"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["field"], "target");
    let (_, shown) = api.call(Method::GET, &prod, Some(&dave), None).await;
    assert_eq!(
        (shown["target"].clone(), shown["display_name"].clone()),
        (json!("edge"), json!("prod"))
    );
    // In use: deleting the target or revoking the grant answers 409 naming the environment.
    for (method, path) in [
        (Method::DELETE, "/api/v1/targets/edge"),
        (Method::DELETE, "/api/v1/targets/edge/grants/shop"),
    ] {
        let (status, answer) = admin(&api, method.clone(), path, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{method} {path}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("shop/prod"), "{message}");
    }
    // Back to the default target: then both go.
    let (status, answer) = api
        .call(
            Method::PATCH,
            &prod,
            Some(&dora),
            Some(json!({"target": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["environment"]["target"], Value::Null);
    assert_eq!(
        admin(
            &api,
            Method::DELETE,
            "/api/v1/targets/edge/grants/shop",
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (_, listed) = api
        .call(
            Method::GET,
            "/api/v1/projects/shop/targets",
            Some(&dave),
            None,
        )
        .await;
    assert_eq!(listed["items"], json!([]));
    assert_eq!(
        admin(&api, Method::DELETE, "/api/v1/targets/edge", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_unix_socket_target_connects_to_the_engine_and_answers_a_ping() {
    let Some(_) = komander_e2e::docker::engine().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").expect("set when engine() answers");
    let socket = host.strip_prefix("unix://").unwrap_or(&host).to_owned();
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let body = json!({"name": "test-engine", "endpoint": {"kind": "unix", "socket": socket},
        "policy": {"bind_root": "/srv/komander", "publish_addresses": ["127.0.0.1", "10.1.2.3"],
            "max_memory_bytes": 268435456u64, "max_nano_cpus": 500000000u64}});
    let (status, answer) = admin(&api, Method::POST, "/api/v1/targets", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let record = api
        .store
        .store
        .target(&"test-engine".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let connection = api
        .app
        .connect_target(&record)
        .await
        .expect("the engine answers");
    connection.client().ping().await.expect("a ping");
    let described = format!("{connection:?}");
    assert!(
        described.contains("publish_addresses: [127.0.0.1, 10.1.2.3]"),
        "{described}"
    );
    assert!(
        described.contains("memory_bytes: Some(268435456)"),
        "{described}"
    );
    // An engine that is not there is a refusal naming the target, not a hang.
    let gone = komander_store::TargetRecord {
        endpoint: komander_store::StoredEndpoint::Unix("/nonexistent/docker.sock".into()),
        ..record
    };
    let err = api.app.connect_target(&gone).await.unwrap_err().to_string();
    assert!(
        err.contains("test-engine") && err.contains("does not answer"),
        "{err}"
    );
}

#[tokio::test]
async fn a_tls_target_writes_its_key_files_private_before_connecting() {
    use std::os::unix::fs::PermissionsExt;
    let (api, _) = instance().await;
    let record = api
        .store
        .store
        .target(&"edge".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    // Nothing listens on 10.0.0.2 here: the connection fails, after the files are written.
    let _ = api.app.connect_target(&record).await;
    let dir = api
        .store
        .dir
        .path()
        .join(TARGET_FILES_DIR)
        .join(record.id.to_string());
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        let meta = std::fs::metadata(dir.join(file)).expect(file);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        assert!(
            std::fs::read_to_string(dir.join(file))
                .unwrap()
                .starts_with("-----BEGIN")
        );
    }
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    // Deleting the target removes them.
    assert_eq!(
        admin(&api, Method::DELETE, "/api/v1/targets/edge", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert!(!dir.exists());
}

/// The targets a running server lists, as JSON.
async fn targets_of(server: &ServerProcess) -> Value {
    ServerProcess::client()
        .get(format!("{}/api/v1/targets", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_server_registers_the_engine_it_finds_as_the_default_target_local() {
    if komander_e2e::docker::engine().await.is_none() {
        return;
    }
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").unwrap();
    let env = [("KOMANDER_DOCKER_HOST", host.as_str())];
    let mut server = ServerProcess::start(&env, "info");
    let listed = targets_of(&server).await;
    let local = &listed["items"][0];
    assert_eq!(local["name"], "local", "{listed}");
    assert_eq!(local["default"], true);
    assert_eq!(
        local["endpoint"]["socket"],
        host.trim_start_matches("unix://")
    );
    // An admin's changes to `local` survive a restart.
    let (status, body) = {
        let response = ServerProcess::client()
            .patch(format!("{}/api/v1/targets/local", server.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"policy": {"publish_addresses": ["127.0.0.1", "::1"]}}))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    };
    assert_eq!(status.as_u16(), 200, "{body}");
    server.restart(&env, "info");
    let listed = targets_of(&server).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        listed["items"][0]["policy"]["publish_addresses"],
        json!(["127.0.0.1", "::1"])
    );
}

#[tokio::test]
async fn a_server_without_an_engine_starts_and_registers_nothing() {
    let env = [("KOMANDER_DOCKER_HOST", "unix:///nonexistent/docker.sock")];
    let server = ServerProcess::start(&env, "info");
    let listed = targets_of(&server).await;
    assert_eq!(listed["items"], json!([]), "{listed}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("no Docker Engine answers"), "{log}");
}

/// A certificate authority made by the test, and the certificates it signs.
struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().expect("a CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let pem = params.self_signed(&key).expect("a CA certificate").pem();
        TestCa {
            issuer: rcgen::Issuer::new(params, key),
            pem,
        }
    }

    /// A certificate for `names` (an IP address becomes an IP SAN) used for `usage`, and its
    /// private key, both PEM.
    fn sign(&self, names: &[&str], usage: rcgen::ExtendedKeyUsagePurpose) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("a key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("certificate params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "komander test");
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).expect("a certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; nothing else here binds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Writes `pem` to `file` in `dir`, answering its path as an argument.
fn pem_file(dir: &std::path::Path, file: &str, pem: &str) -> std::ffi::OsString {
    let path = dir.join(file);
    std::fs::write(&path, pem).expect(file);
    path.into_os_string()
}

/// The base64 lines of `pem`: what would show if it leaked into a JSON answer.
fn pem_body(pem: &str) -> Vec<&str> {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[tokio::test]
async fn a_tls_target_connects_to_a_dockerd_that_verifies_its_client_certificate() {
    use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let ca = TestCa::new("komander test CA");
    let (server_cert, server_key) = ca.sign(&["127.0.0.1"], ServerAuth);
    let (client_cert, client_key) = ca.sign(&["komander"], ClientAuth);
    let certs = tempfile::tempdir().unwrap();
    let port = free_port();
    // Only TCP with mutual TLS on 127.0.0.1 besides its own socket, and no iptables rules. It
    // keeps the default bridge: `--bridge none` would make it delete `docker0`, which the test
    // command's engine serves its containers on.
    let mut args = vec![
        "--host".into(),
        format!("tcp://127.0.0.1:{port}").into(),
        "--tlsverify".into(),
    ];
    for (flag, file, pem) in [
        ("--tlscacert", "ca.pem", &ca.pem),
        ("--tlscert", "server-cert.pem", &server_cert),
        ("--tlskey", "server-key.pem", &server_key),
    ] {
        args.extend([flag.into(), pem_file(certs.path(), file, pem)]);
    }
    for flag in ["--iptables=false", "--ip6tables=false"] {
        args.push(flag.into());
    }
    let Some(dockerd) = komander_e2e::dockerd::PrivateDockerd::start(&args).await else {
        return;
    };

    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let address = format!("tcp://127.0.0.1:{port}");
    let endpoint = |cert: &str, key: &str| {
        json!({"kind": "tcp", "address": address, "ca_pem": ca.pem, "cert_pem": cert,
            "key_pem": key})
    };
    let body = json!({"name": "edge", "endpoint": endpoint(&client_cert, &client_key)});
    let (status, answer) = admin(&api, Method::POST, "/api/v1/targets", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let record = api
        .store
        .store
        .target(&"edge".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let connection = api.app.connect_target(&record).await.unwrap_or_else(|e| {
        panic!(
            "the TLS engine answers: {e}\ndockerd's log:\n{}",
            dockerd.log_tail()
        )
    });
    connection.client().ping().await.expect("a ping over TLS");

    // A client certificate from another CA: the daemon refuses the handshake, and the app says
    // which target does not answer, as a conflict on `target`.
    let rogue_ca = TestCa::new("not the daemon's CA");
    let (rogue_cert, rogue_key) = rogue_ca.sign(&["komander"], ClientAuth);
    let body = json!({"name": "rogue", "endpoint": endpoint(&rogue_cert, &rogue_key)});
    let (status, answer) = admin(&api, Method::POST, "/api/v1/targets", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let rogue = api
        .store
        .store
        .target(&"rogue".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    match api.app.connect_target(&rogue).await {
        Err(komander_app::AppError::Conflict { field, message }) => {
            assert_eq!(field.as_deref(), Some("target"), "{message}");
            assert!(
                message.contains("\"rogue\"") && message.contains("does not answer"),
                "{message}"
            );
            // The cause is named, not only the HTTP client's failure.
            assert!(message.to_lowercase().contains("certificate"), "{message}");
        }
        Err(other) => panic!("a conflict on target, not: {other}"),
        Ok(_) => panic!("a client certificate the daemon's CA did not sign was accepted"),
    }

    // No answer holds a PEM of either target.
    let answers = admin_reads(&api).await;
    let pems = [&ca.pem, &client_cert, &client_key, &rogue_cert, &rogue_key];
    let secrets: Vec<&str> = pems.iter().flat_map(|pem| pem_body(pem)).collect();
    assert_no_answer_holds(&answers, &secrets);
    assert_eq!(
        answers[1].1["endpoint"],
        json!({"kind": "tcp", "address": address})
    );
}

#[tokio::test]
async fn an_instance_admin_learns_whether_a_target_answers_and_nobody_else_does() {
    use komander_domain::api::ErrorCode;
    let (api, [alice, ..]) = instance().await;
    let root = api.app.authenticate(ADMIN_TOKEN).await.unwrap();
    // Nothing listens at spare's socket: an answer saying so, not an error.
    let spare = api.app.target_health(&root, "spare").await.unwrap();
    assert!(!spare.reachable);
    assert!(
        spare.message.contains("spare") && spare.message.contains("does not answer"),
        "{}",
        spare.message
    );
    let alice = api.app.authenticate(&alice).await.unwrap();
    let refused = api.app.target_health(&alice, "spare").await.unwrap_err();
    assert_eq!(refused.detail().code, ErrorCode::Forbidden);
    let missing = api.app.target_health(&root, "nope").await.unwrap_err();
    assert_eq!(missing.detail().code, ErrorCode::NotFound);

    let Some(_) = komander_e2e::docker::engine().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").expect("set when engine() answers");
    let socket = host.strip_prefix("unix://").unwrap_or(&host).to_owned();
    let body = json!({"name": "engine", "endpoint": {"kind": "unix", "socket": socket}});
    let (status, answer) = admin(&api, Method::POST, "/api/v1/targets", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let engine = api.app.target_health(&root, "engine").await.unwrap();
    assert!(engine.reachable, "{}", engine.message);
    assert!(engine.message.contains("Docker API"), "{}", engine.message);
}
