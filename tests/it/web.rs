//! The web UI in a real browser (headless Chromium over WebDriver) against a `komander serve`
//! in local single-user mode, plus the forgery checks of its server functions over HTTP.

use std::time::{Duration, Instant};

use komander_e2e::{ServerProcess, browser::Browser};

/// The one-time sign-in link the server printed at start.
fn sign_in_link(server: &ServerProcess) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(link) = server.stdout_lines().iter().find_map(|line| {
            line.strip_prefix("Sign in to the web UI (once, within 10 minutes): ")
                .map(str::to_owned)
        }) {
            return link;
        }
        assert!(
            Instant::now() < deadline,
            "no sign-in link printed: {:?}",
            server.stdout_lines()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The local admin's API token, from the file the server wrote.
fn local_admin_token(server: &ServerProcess) -> String {
    std::fs::read_to_string(server.data_dir.path().join("data/admin-token"))
        .expect("the local admin's token file")
        .trim()
        .to_owned()
}

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

/// Signs in over HTTP with the printed link: the session cookie.
async fn session_cookie(server: &ServerProcess, client: &reqwest::Client) -> String {
    let response = client
        .get(sign_in_link(server))
        .send()
        .await
        .expect("the sign-in link");
    assert!(response.status().is_redirection(), "{}", response.status());
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("komander_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned()
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
