//! The web UI in a real browser (headless Chromium over WebDriver) against a `komander serve`
//! in local single-user mode, plus the forgery checks of its server functions over HTTP.

use std::time::{Duration, Instant};

use komander_e2e::{
    ServerProcess,
    browser::{Browser, Layout},
    docker, local_admin_token, session_cookie, sign_in_link,
};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn the_local_admin_signs_in_once_by_link_and_creates_a_project_hydrated() {
    let server = ServerProcess::start_local(&[], "info");
    let Some(browser) = Browser::start(true, 1280, 900).await else {
        return;
    };
    let link = sign_in_link(&server);

    browser.open(&link).await;
    browser.wait_for_text("Signed in as").await;
    browser.wait_for_text("Local admin").await;
    browser.screenshot("projects-desktop").await;

    // A name that is not a slug is refused next to its field, and nothing is created.
    browser.fill("#project-name", "Not_A_Slug").await;
    browser.click("#create-project").await;
    browser
        .wait_for_text_in("#project-name-error", "Error:")
        .await;

    browser.fill("#project-name", "shop").await;
    browser.fill("#project-display-name", "The Shop").await;
    browser.click("#create-project").await;
    browser.wait_for_text("Delete the project").await;
    assert!(
        browser.client.current_url().await.unwrap().path() == "/projects/shop",
        "{}",
        browser.client.current_url().await.unwrap()
    );
    browser.screenshot("project-desktop").await;

    // Only once hydrated: the delete button stays disabled until the name is typed.
    let delete = browser.find("#delete-project-button").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while delete.is_enabled().await.unwrap() {
        assert!(Instant::now() < deadline, "the page was never hydrated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.fill("#delete-project-confirm", "shop").await;
    assert!(delete.is_enabled().await.unwrap());

    // The link was good once.
    let other = Browser::start(true, 390, 844)
        .await
        .expect("a second browser");
    other.open(&link).await;
    other
        .wait_for_text("that sign-in link is used, expired or unknown")
        .await;
    other.screenshot("sign-in-phone").await;
    // The token the server wrote signs in instead.
    other.fill("#token", &local_admin_token(&server)).await;
    other.click("#sign-in").await;
    other.wait_for_text("The Shop").await;
    other.screenshot("projects-phone").await;
    other.close().await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forms_work_without_javascript() {
    let server = ServerProcess::start_local(&[], "info");
    let Some(browser) = Browser::start(false, 1280, 900).await else {
        return;
    };
    browser.open(&sign_in_link(&server)).await;
    browser.wait_for_text("Signed in as").await;

    browser.fill("#project-name", "Bad Name").await;
    browser.click("#create-project").await;
    browser.wait_for_text("Error:").await;

    browser.fill("#project-name", "plain").await;
    browser.click("#create-project").await;
    browser.wait_for_text("Delete the project").await;
    // Without JavaScript the button is never disabled: the server checks the name.
    browser.fill("#delete-project-confirm", "wrong").await;
    browser.click("#delete-project-button").await;
    browser
        .wait_for_text("type the project's name, plain, to delete it")
        .await;
    browser.fill("#delete-project-confirm", "plain").await;
    browser.click("#delete-project-button").await;
    browser
        .wait_for_text("You are not a member of any project yet")
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_functions_refuse_cross_site_posts_and_missing_csrf_tokens() {
    let server = ServerProcess::start_local(&[], "info");
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = session_cookie(&server, &client).await;
    let session: serde_json::Value = client
        .get(format!("{}/ui/fn/session", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = session["csrf"]
        .as_str()
        .expect("the session's CSRF token")
        .to_owned();
    assert_eq!(session["me"]["handle"], "local-admin", "{session}");
    let post = |origin: &str, body: String| {
        client
            .post(format!("{}/ui/fn/create_project", server.base))
            .header("cookie", &cookie)
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };

    let cross_site = post("http://evil.example", format!("csrf={csrf}&name=evil"))
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert!(
        cross_site
            .text()
            .await
            .unwrap()
            .contains("Origin http://evil.example")
    );

    let no_token = post(&server.base, "name=evil".to_owned()).await.unwrap();
    assert_eq!(no_token.status(), 403);
    assert!(no_token.text().await.unwrap().contains("no CSRF token"));

    let wrong_token = post(&server.base, "csrf=forged&name=evil".to_owned())
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 403);

    // The API stays Bearer-only: the session cookie does not authenticate it.
    let api = client
        .get(format!("{}/api/v1/projects", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);

    // Nothing was created; the real form's post works.
    let projects = client
        .get(format!("{}/ui/fn/projects", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!projects.contains("evil"), "{projects}");
    let good = post(&server.base, format!("csrf={csrf}&name=fine"))
        .await
        .unwrap();
    assert!(
        good.status().is_success() || good.status().is_redirection(),
        "{}",
        good.status()
    );
}

/// A REST call as the local admin, answering the body (asserting a 2xx).
pub(crate) async fn rest(
    server: &ServerProcess,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let client = ServerProcess::client();
    let mut request = client
        .request(method, format!("{}/api/v1{path}", server.base))
        .bearer_auth(local_admin_token(server));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Creates, as the local admin, the project `shop`, its Compose environment `dev` and the
/// deployment `app` in it.
async fn shop_dev_app(server: &ServerProcess) {
    for (path, body) in [
        (
            "/projects",
            json!({"name": "shop", "description": "The shop"}),
        ),
        (
            "/projects/shop/environments",
            json!({"name": "dev", "runtime": "compose"}),
        ),
        (
            "/projects/shop/environments/dev/deployments",
            json!({"name": "app"}),
        ),
    ] {
        rest(server, reqwest::Method::POST, path, Some(body)).await;
    }
}

/// Reloads `url` (at most 60 s) until the element `css` says `needle`: the deployment page of
/// this part shows an apply's outcome when loaded.
async fn reload_until(browser: &Browser, url: &str, css: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        browser.open(url).await;
        if let Ok(element) = browser.client.find(fantoccini::Locator::Css(css)).await
            && element.text().await.unwrap_or_default().contains(needle)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never said {needle:?}:\n{}",
            browser.text().await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_admin_runs_a_two_service_deployment_from_the_browser() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").expect("the test engine");
    let server = ServerProcess::start_local(&[("KOMANDER_DOCKER_HOST", host.as_str())], "info");
    server.wait_for_first_party_plugins();
    let Some(browser) = Browser::start(true, 1280, 900).await else {
        return;
    };
    browser.open(&sign_in_link(&server)).await;
    browser.wait_for_text("Signed in as").await;

    browser.fill("#project-name", "webshop").await;
    browser.click("#create-project").await;
    browser.wait_for_text("New environment").await;
    browser.fill("#environment-name", "dev").await;
    browser.click("#create-environment").await;
    browser.wait_for_text("New deployment").await;
    browser.fill("#deployment-name", "app").await;
    browser.click("#create-deployment").await;
    browser.wait_for_text("Add a service").await;
    let deployment_url = browser.client.current_url().await.unwrap().to_string();
    assert!(deployment_url.ends_with("/projects/webshop/environments/dev/deployments/app"));

    // One service with a health check, one with a secret variable.
    for (name, health) in [("web", true), ("worker", false)] {
        browser.fill("#service-name", name).await;
        browser.fill("#service-image", docker::IMAGE).await;
        browser
            .fill("#service-command", "/bin/busybox sleep 600")
            .await;
        if health {
            browser
                .fill("#service-health-command", "/bin/busybox true")
                .await;
            browser.fill("#service-health-interval", "1s").await;
        }
        browser.click("#create-service").await;
        browser.wait_for_text_in("table", name).await;
        browser.open(&deployment_url).await;
    }
    browser.click("a[href$='/services/worker']").await;
    browser.wait_for_text("Set a variable").await;
    browser.fill("#variable-name", "API_TOKEN").await;
    browser
        .fill("#variable-value", "s3cret-from-the-browser")
        .await;
    browser.click("#variable-secret").await;
    browser.click("#set-variable-button").await;
    browser.wait_for_text_in("table", "secret, set").await;
    let source = browser.client.source().await.unwrap();
    assert!(
        !source.contains("s3cret-from-the-browser"),
        "a secret value reached the page"
    );

    // Apply from the deployment page, then see each service's status.
    browser.open(&deployment_url).await;
    browser.click("#apply").await;
    browser.wait_for_text_in("#operation-title", "apply").await;
    reload_until(&browser, &deployment_url, "#operation-state", "done").await;
    let rows = browser.wait_for_text_in("table", "healthy").await;
    assert!(rows.contains("running"), "{rows}");

    // Sharing warns how many secret values it clears, and clears them.
    let warning = browser
        .wait_for_text_in("#share-warning", "1 secret value")
        .await;
    assert!(warning.contains("clears"), "{warning}");
    browser.click("#share-button").await;
    browser
        .wait_for_text_in("#visibility", "shared with the project")
        .await;
    browser
        .open(&format!("{deployment_url}/services/worker"))
        .await;
    browser.wait_for_text_in("table", "secret, not set").await;

    let id = rest(
        &server,
        reqwest::Method::GET,
        "/projects/webshop/environments/dev/deployments/app",
        None,
    )
    .await["id"]
        .as_str()
        .expect("the deployment's id")
        .to_owned();
    browser.close().await;
    docker::remove_deployment(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dev_accepts_an_invitation_and_sees_and_may_do_only_what_a_dev_may() {
    let server = ServerProcess::start_local(&[], "info");
    server.wait_for_first_party_plugins();
    rest(
        &server,
        reqwest::Method::POST,
        "/projects",
        Some(json!({"name": "team"})),
    )
    .await;
    rest(
        &server,
        reqwest::Method::POST,
        "/projects/team/environments",
        Some(json!({"name": "dev", "runtime": "compose"})),
    )
    .await;
    rest(
        &server,
        reqwest::Method::POST,
        "/users",
        Some(json!({"handle": "dana"})),
    )
    .await;
    let dev_token = rest(
        &server,
        reqwest::Method::POST,
        "/users/dana/tokens",
        Some(json!({"name": "browser"})),
    )
    .await["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let Some(admin) = Browser::start(true, 1280, 900).await else {
        return;
    };
    admin.open(&sign_in_link(&server)).await;
    admin.wait_for_text("Signed in as").await;
    admin
        .open(&format!("{}/projects/team/members", server.base))
        .await;
    admin.click("#create-invitation").await;
    let invitation = admin
        .wait_for_text_in("#invitation-link", "/invitations/")
        .await;
    admin.close().await;

    // The Dev opens the link, signs in with their token, and lands back on it.
    let dev = Browser::start(true, 1280, 900).await.expect("a browser");
    dev.open(&format!("{}{}", server.base, invitation.trim()))
        .await;
    dev.wait_for_text("Sign in to Komander").await;
    dev.fill("#token", &dev_token).await;
    dev.click("#sign-in").await;
    dev.wait_for_text("You are invited to a project").await;
    dev.click("#accept-invitation").await;
    dev.wait_for_text("Environments").await;
    assert!(dev.client.current_url().await.unwrap().path() == "/projects/team");

    // No control a Dev may not use.
    let text = dev.text().await;
    for absent in [
        "Edit the project",
        "Delete the project",
        "New environment",
        "Members and invitations",
        "Audit log",
    ] {
        assert!(!text.contains(absent), "a Dev sees {absent:?}:\n{text}");
    }
    dev.open(&format!("{}/projects/team/environments/dev", server.base))
        .await;
    dev.wait_for_text("New deployment").await;
    let text = dev.text().await;
    assert!(
        !text.contains("Edit the environment") && !text.contains("Delete the environment"),
        "{text}"
    );

    // Forced URLs are refused.
    dev.open(&format!("{}/projects/team/audit", server.base))
        .await;
    dev.wait_for_text("Not allowed").await;
    dev.open(&format!("{}/projects/team/members", server.base))
        .await;
    dev.wait_for_text("Members").await;
    assert!(!dev.text().await.contains("Create a link"));

    // Posted forms are refused, and nothing changes.
    for (function, body) in [
        ("delete_project", "project=team&confirm=team"),
        (
            "create_environment",
            "project=team&name=prod&runtime=komander.compose&executor=server",
        ),
        ("create_invitation", "project=team&role=admin"),
    ] {
        let script = format!(
            "const done = arguments[arguments.length - 1];\
             const csrf = document.querySelector('input[name=csrf]').value;\
             fetch('/ui/fn/{function}', {{method: 'POST', headers: {{'Content-Type': \
             'application/x-www-form-urlencoded'}}, body: '{body}&csrf=' + encodeURIComponent(csrf)}})\
             .then(r => r.text().then(t => done([r.status, t])));"
        );
        let answer = dev
            .client
            .execute_async(&script, Vec::new())
            .await
            .expect("the post");
        let text = answer[1].as_str().unwrap_or_default();
        assert!(
            text.contains("forbidden") || text.contains("only"),
            "{function}: {answer}"
        );
    }
    let environments = rest(
        &server,
        reqwest::Method::GET,
        "/projects/team/environments",
        None,
    )
    .await;
    assert_eq!(
        environments["items"].as_array().unwrap().len(),
        1,
        "{environments}"
    );
    rest(&server, reqwest::Method::GET, "/projects/team", None).await;
    dev.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_main_page_passes_axe_and_is_photographed_at_phone_and_desktop_widths() {
    let Some(axe) = komander_e2e::browser::axe_script() else {
        return;
    };
    let server = ServerProcess::start_local(&[], "info");
    server.wait_for_first_party_plugins();
    shop_dev_app(&server).await;
    rest(
        &server,
        reqwest::Method::POST,
        "/projects/shop/environments/dev/deployments/app/services",
        Some(json!({"name": "web", "image": docker::IMAGE, "ports": [{"container": 80, "host": 8080}]})),
    )
    .await;
    let base = server.base.clone();
    let deployment = format!("{base}/projects/shop/environments/dev/deployments/app");
    let pages = [
        ("projects", format!("{base}/")),
        ("project", format!("{base}/projects/shop")),
        ("members", format!("{base}/projects/shop/members")),
        ("audit", format!("{base}/projects/shop/audit")),
        (
            "environment",
            format!("{base}/projects/shop/environments/dev"),
        ),
        ("deployment", deployment.clone()),
        ("service", format!("{deployment}/services/web")),
        ("not-found", format!("{base}/no/such/page")),
    ];
    let link = sign_in_link(&server);
    for layout in [Layout::Phone, Layout::Desktop] {
        let Some(browser) = Browser::start_in(true, layout).await else {
            return;
        };
        browser.open(&format!("{base}/sign-in")).await;
        browser.check_accessibility(&axe, "sign-in").await;
        browser
            .screenshot(&format!("sign-in-{}", layout.name()))
            .await;
        if layout == Layout::Phone {
            browser.open(&link).await;
        } else {
            browser.open(&format!("{base}/sign-in")).await;
            browser.fill("#token", &local_admin_token(&server)).await;
            browser.click("#sign-in").await;
        }
        browser.wait_for_text("Signed in as").await;
        for (name, url) in &pages {
            browser.open(url).await;
            browser.check_accessibility(&axe, name).await;
            browser
                .screenshot(&format!("{name}-{}", layout.name()))
                .await;
        }
        browser.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_takes_the_browsers_session_and_nothing_else() {
    let server = ServerProcess::start_local(&[], "info");
    server.wait_for_first_party_plugins();
    shop_dev_app(&server).await;
    rest(
        &server,
        reqwest::Method::POST,
        "/projects/shop/environments/dev/deployments/app/services",
        Some(json!({"name": "web", "image": docker::IMAGE})),
    )
    .await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = session_cookie(&server, &client).await;
    let url = format!(
        "{}/ui/download/projects/shop/environments/dev/deployments/app/export",
        server.base
    );

    let download = client
        .get(&url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/x-tar");
    let archive = download.bytes().await.unwrap();
    assert!(String::from_utf8_lossy(&archive).contains("komander-test/busybox"));

    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // The UI's routes take the browser's session, not an API token.
    let token = client
        .get(&url)
        .bearer_auth(local_admin_token(&server))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compose_file_pasted_or_chosen_in_the_page_becomes_services_and_errors_name_their_line() {
    let server = ServerProcess::start_local(&[], "info");
    server.wait_for_first_party_plugins();
    shop_dev_app(&server).await;
    let Some(browser) = Browser::start(true, 1280, 900).await else {
        return;
    };
    browser.open(&sign_in_link(&server)).await;
    browser.wait_for_text("Signed in as").await;
    let deployment = format!(
        "{}/projects/shop/environments/dev/deployments/app",
        server.base
    );
    browser.open(&deployment).await;

    // Pasted, with a key Komander refuses: the error names the file's line, nothing is made.
    browser
        .fill(
            "#compose",
            "services:\n  web:\n    image: nginx:1\n    privileged: true\n",
        )
        .await;
    browser.click("#import-compose").await;
    let error = browser.wait_for_text_in("#main", "compose.yaml:4").await;
    assert!(error.contains("privileged"), "{error}");
    assert!(!browser.text().await.contains("nginx:1"));

    // Chosen from a file: read into the text area once hydrated, then imported.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(
        &file,
        "services:\n  backend:\n    image: registry.example/api:2\n  db:\n    image: postgres:17\n",
    )
    .unwrap();
    browser.fill("#compose", "").await;
    browser
        .find("#compose-file")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .expect("choosing the file");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !browser
        .find("#compose")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
        .contains("postgres:17")
    {
        assert!(Instant::now() < deadline, "the chosen file was never read");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.click("#import-compose").await;
    let services = browser.wait_for_text_in("table", "postgres:17").await;
    assert!(services.contains("registry.example/api:2"), "{services}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn assets_are_named_by_content_cached_for_good_and_served_compressed() {
    let server = ServerProcess::start_local(&[], "info");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = client
        .get(format!("{}/sign-in", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut assets: Vec<&str> = page
        .split('"')
        .filter(|part| part.starts_with("/ui/assets/"))
        .collect();
    assets.sort_unstable();
    assets.dedup();
    assert_eq!(
        assets.len(),
        3,
        "the stylesheet, the script and the module: {page}"
    );
    let mut served = 0;
    for asset in &assets {
        let name = asset.trim_start_matches("/ui/assets/");
        let hash = name.split('.').nth(1).unwrap_or_default();
        assert!(
            hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "{name} is not named by its content"
        );
        for (accepted, encoding) in [
            ("br, gzip", Some("br")),
            ("gzip", Some("gzip")),
            ("identity", None),
        ] {
            let answer = client
                .get(format!("{}{asset}", server.base))
                .header("accept-encoding", accepted)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{asset}");
            assert_eq!(
                answer.headers()["cache-control"],
                "public, max-age=31536000, immutable"
            );
            assert_eq!(
                answer
                    .headers()
                    .get("content-encoding")
                    .map(|v| v.to_str().unwrap()),
                encoding,
                "{asset} for {accepted}"
            );
            let bytes = answer.bytes().await.unwrap().len();
            if encoding == Some("br") {
                served += bytes;
            }
        }
    }
    // What a browser downloads for the UI, as served (DESIGN.md §5: under 600 KB).
    assert!(served < 600 * 1024, "the UI is {served} bytes as served");
    eprintln!("the UI's assets as served (brotli): {served} bytes");
    let missing = client
        .get(format!(
            "{}/ui/assets/komander.0000000000000000.css",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
