//! The instance admin pages in a real browser: installing a plugin from a file and filling the
//! settings form generated from its schema, registering a target with TLS keys, a service
//! user's token shown once; and what a member who is no instance admin gets: no admin page,
//! and an upload refused. Also the upload route's forgery checks over HTTP.

use std::time::{Duration, Instant};

use komander_e2e::{
    ServerProcess, browser::Browser, guests, local_admin_token, session_cookie, sign_in_link,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{targets::pem, web::rest};

/// Waits (up to 10 s) until the REST read of `path` as the local admin satisfies `done`.
async fn rest_until(server: &ServerProcess, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = rest(server, Method::GET, path, None).await;
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{path} never changed: {answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs axe-core on the open page (when the test has it) and photographs it.
async fn check_page(browser: &Browser, axe: Option<&str>, name: &str) {
    if let Some(axe) = axe {
        browser.check_accessibility(axe, name).await;
    }
    browser.screenshot(name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_admin_installs_a_plugin_from_a_file_fills_its_settings_and_registers_a_target()
{
    let axe = komander_e2e::browser::axe_script();
    let axe = axe.as_deref();
    let server = ServerProcess::start_local(&[], "info");
    server.wait_for_first_party_plugins();
    rest(
        &server,
        Method::POST,
        "/projects",
        Some(json!({"name": "shop"})),
    )
    .await;
    let Some(browser) = Browser::start(true, 1280, 900).await else {
        return;
    };
    let base = server.base.clone();
    browser.open(&sign_in_link(&server)).await;
    browser.wait_for_text("Signed in as").await;
    browser
        .wait_for_text_in("nav[aria-label=Admin]", "Plugins")
        .await;

    // A component chosen from a file, uploaded by the page: it waits for a grant.
    browser
        .click("nav[aria-label=Admin] a[href='/admin/plugins']")
        .await;
    browser.wait_for_text("Install from a file").await;
    check_page(&browser, axe, "admin-plugins").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("test-guest.wasm");
    std::fs::write(&file, guests::bytes("komander_test_guest")).unwrap();
    browser
        .find("#install-file")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .expect("choosing the file");
    browser.click("#install-file-button").await;
    browser
        .wait_for_text_in("#plugin-status", "pending-grant")
        .await;
    assert_eq!(
        browser.client.current_url().await.unwrap().path(),
        "/admin/plugins/komander.test-guest"
    );
    for capability in ["log", "config", "kv", "connections", "progress"] {
        browser.click(&format!("#capability-{capability}")).await;
    }
    browser.click("#grant-button").await;
    browser.wait_for_text_in("#plugin-status", "enabled").await;

    // Its schema: `region` one of eu/us, `replicas` a whole number of at least 1. A value the
    // schema refuses is named under its field, and nothing is stored.
    browser
        .find("#setting-0")
        .await
        .select_by_value("\"eu\"")
        .await
        .unwrap();
    browser.fill("#setting-1", "0").await;
    browser.click("#save-settings").await;
    let error = browser
        .wait_for_text_in("#setting-1-error", "/replicas")
        .await;
    assert!(error.contains("minimum"), "{error}");
    let config = "/plugins/komander.test-guest/config";
    assert_eq!(
        rest(&server, Method::GET, config, None).await,
        json!({"settings": {}})
    );
    browser.fill("#setting-1", "2").await;
    browser.click("#save-settings").await;
    rest_until(&server, config, |c| {
        *c == json!({"settings": {"region": "eu", "replicas": 2}})
    })
    .await;
    browser
        .open(&format!("{base}/admin/plugins/komander.test-guest"))
        .await;
    assert_eq!(
        browser
            .find("#setting-1")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("2")
    );
    check_page(&browser, axe, "admin-plugin").await;

    // A Docker Engine over TCP with TLS keys: they are never shown again, only that they are
    // set; nothing listens at its address, which the page says.
    browser.open(&format!("{base}/admin/targets")).await;
    browser.wait_for_text("Register a Docker Engine").await;
    browser.fill("#target-name", "edge").await;
    browser
        .find("#target-kind")
        .await
        .select_by_value("tcp")
        .await
        .unwrap();
    browser.fill("#target-address", "tcp://127.0.0.1:9").await;
    let marker = "BROWSER-TLS-MARKER";
    browser
        .fill("#target-ca-pem", &pem("CERTIFICATE", marker))
        .await;
    browser
        .fill("#target-cert-pem", &pem("CERTIFICATE", marker))
        .await;
    browser
        .fill("#target-key-pem", &pem("PRIVATE KEY", marker))
        .await;
    browser.fill("#target-bind-root", "/srv/komander").await;
    browser
        .fill("#target-publish-addresses", "127.0.0.1, 10.1.2.3")
        .await;
    browser.fill("#target-max-memory", "256m").await;
    browser.fill("#target-max-cpus", "0.5").await;
    browser.click("#create-target").await;
    browser
        .wait_for_text_in("#target-endpoint", "mutual TLS keys set")
        .await;
    browser
        .wait_for_text_in("#target-health", "does not answer")
        .await;
    let source = browser.client.source().await.unwrap();
    assert!(
        !source.contains("BEGIN CERTIFICATE"),
        "a PEM reached the page"
    );
    let target = rest(&server, Method::GET, "/targets/edge", None).await;
    assert_eq!(
        target["endpoint"],
        json!({"kind": "tcp", "address": "tcp://127.0.0.1:9"})
    );
    assert_eq!(
        target["policy"],
        json!({"bind_root": "/srv/komander", "publish_addresses": ["127.0.0.1", "10.1.2.3"],
            "max_memory_bytes": 268435456u64, "max_nano_cpus": 500000000u64})
    );
    browser.fill("#grant-project", "shop").await;
    browser.click("#grant-target").await;
    browser.wait_for_text_in("#target-grants", "shop").await;
    let grants = rest(&server, Method::GET, "/targets/edge/grants", None).await;
    assert_eq!(grants["items"], json!(["shop"]));
    check_page(&browser, axe, "admin-target").await;
    browser.open(&format!("{base}/admin/targets")).await;
    browser
        .wait_for_text_in("#health-edge", "does not answer")
        .await;
    check_page(&browser, axe, "admin-targets").await;

    // A service user's token: shown once, with a copy button, and it works.
    browser.open(&format!("{base}/admin/users")).await;
    browser.wait_for_text("New service user").await;
    check_page(&browser, axe, "admin-users").await;
    browser.fill("#user-handle", "ci-bot").await;
    browser.click("#create-user").await;
    browser.wait_for_text("API tokens of ci-bot").await;
    browser.fill("#token-name", "deploys").await;
    browser.click("#create-token").await;
    let token = browser.wait_for_text_in("#new-token", "kmd_").await;
    let token = token.trim().to_owned();
    browser.find("#copy-token").await;
    check_page(&browser, axe, "admin-user-tokens").await;
    let me = ServerProcess::client()
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["handle"], "ci-bot");
    browser.open(&format!("{base}/admin/users/ci-bot")).await;
    browser.wait_for_text_in("#tokens", "deploys").await;
    let source = browser.client.source().await.unwrap();
    assert!(!source.contains(&token), "the token was shown twice");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_who_is_no_instance_admin_gets_no_admin_page_and_no_upload() {
    let server = ServerProcess::start_local(&[], "info");
    server.wait_for_first_party_plugins();
    rest(
        &server,
        Method::POST,
        "/users",
        Some(json!({"handle": "dana"})),
    )
    .await;
    let token = rest(
        &server,
        Method::POST,
        "/users/dana/tokens",
        Some(json!({"name": "browser"})),
    )
    .await["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let Some(dev) = Browser::start(true, 1280, 900).await else {
        return;
    };
    dev.open(&format!("{}/sign-in", server.base)).await;
    dev.fill("#token", &token).await;
    dev.click("#sign-in").await;
    dev.wait_for_text("Signed in as").await;
    assert!(!dev.text().await.contains("Admin:"), "{}", dev.text().await);
    for page in ["plugins", "targets", "users"] {
        dev.open(&format!("{}/admin/{page}", server.base)).await;
        dev.wait_for_text("Not allowed").await;
        let text = dev.text().await;
        assert!(text.contains("only instance admins"), "{page}: {text}");
        assert!(
            !text.contains("Install from") && !text.contains("Register a"),
            "{text}"
        );
    }

    // The component posted from the page, with and without the session's CSRF token.
    use base64::Engine as _;
    let component =
        base64::engine::general_purpose::STANDARD.encode(guests::bytes("komander_test_guest"));
    for with_token in [true, false] {
        let script = format!(
            "const done = arguments[arguments.length - 1];\
             const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));\
             const headers = {{'content-type': 'application/wasm'}};\
             if ({with_token}) {{ headers['x-komander-csrf'] = \
               document.querySelector('input[name=csrf]').value; }}\
             fetch('/ui/upload/plugins?grant_all=true', {{method: 'POST', headers, body: bytes}})\
             .then(r => r.text().then(t => done([r.status, t])));"
        );
        let answer = dev
            .client
            .execute_async(&script, vec![json!(component)])
            .await
            .expect("the upload");
        let expected = if with_token {
            "only instance admins"
        } else {
            "no CSRF token"
        };
        assert_eq!(answer[0], 403, "{answer}");
        assert!(answer[1].as_str().unwrap().contains(expected), "{answer}");
    }
    let plugins = rest(&server, Method::GET, "/plugins", None).await;
    assert!(
        !plugins.to_string().contains("komander.test-guest"),
        "{plugins}"
    );
    dev.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_upload_route_takes_a_component_only_with_the_sessions_csrf_header_and_origin() {
    let server = ServerProcess::start_local(&[], "info");
    server.wait_for_first_party_plugins();
    // No connection is reused: the server closes one whose body it refused unread.
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let cookie = session_cookie(&server, &client).await;
    let session: Value = client
        .get(format!("{}/ui/fn/session", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = session["csrf"].as_str().unwrap().to_owned();
    // Larger than a form may be (256 KiB): the route takes components up to 32 MiB.
    let component = padded(guests::bytes("komander_test_guest"), 300 * 1024);
    let upload = |origin: &str, token: Option<&str>, cookie: Option<&str>| {
        let mut request = client
            .post(format!("{}/ui/upload/plugins?grant_all=true", server.base))
            .header("origin", origin)
            .header("content-type", "application/wasm")
            .body(component.clone());
        if let Some(token) = token {
            request = request.header("x-komander-csrf", token);
        }
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    for (origin, token, cookie, status, says) in [
        (
            "http://evil.example",
            Some(csrf.as_str()),
            Some(cookie.as_str()),
            403,
            "Origin",
        ),
        (
            server.base.as_str(),
            None,
            Some(cookie.as_str()),
            403,
            "no CSRF token",
        ),
        (
            server.base.as_str(),
            Some("forged"),
            Some(cookie.as_str()),
            403,
            "not this session's",
        ),
        // An API token is no session: the UI's routes take the browser's cookie only.
        (
            server.base.as_str(),
            Some("forged"),
            None,
            403,
            "not this session's",
        ),
    ] {
        let answer = upload(origin, token, cookie).await.unwrap();
        assert_eq!(answer.status(), status, "{origin} {token:?}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(says), "{text}");
    }
    let bearer = client
        .post(format!("{}/ui/upload/plugins", server.base))
        .header("origin", &server.base)
        .bearer_auth(local_admin_token(&server))
        .body(component.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 403);
    let plugins = rest(&server, Method::GET, "/plugins", None).await;
    assert!(!plugins.to_string().contains("komander.test-guest"));

    // The session's token, from this server's page: installed.
    let answer = upload(&server.base, Some(&csrf), Some(&cookie))
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let plugin: Value = answer.json().await.unwrap();
    assert_eq!(plugin["id"], "komander.test-guest");
    assert_eq!(plugin["status"], "enabled");
}

/// `component` with a custom section of `extra` zero bytes at its end: the same plugin, a body
/// larger by as much.
fn padded(mut component: Vec<u8>, extra: usize) -> Vec<u8> {
    let name = b"padding";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.resize(payload.len() + extra, 0);
    component.push(0);
    let mut size = payload.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            component.push(byte);
            break;
        }
        component.push(byte | 0x80);
    }
    component.extend_from_slice(&payload);
    component
}
