//! The live deployment page in a real browser against a `komander serve` in local mode and the
//! test Docker Engine: an apply's steps arriving while it runs, through a relay that cuts the
//! event stream in the middle; logs that follow, pause, search and download; rollback from the
//! history; and an apply a `komander up` runs on a local environment, watched in the page.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use komander_e2e::{
    ServerProcess,
    browser::{Browser, axe_script},
    cut::CuttingRelay,
    docker, local_admin_token, sign_in_link,
};
use serde_json::{Value, json};

use super::web::rest;

/// A service that becomes healthy `seconds` after it starts, so that an apply runs that long.
fn slow_service(name: &str, seconds: u32) -> Value {
    json!({"name": name, "image": docker::IMAGE,
        "command": ["/bin/busybox", "sh", "-c",
            format!("/bin/busybox sleep {seconds} && /bin/busybox touch /ready && exec /bin/busybox sleep 600")],
        "health_check": {"command": ["/bin/busybox", "test", "-f", "/ready"],
                         "interval_seconds": 1, "timeout_seconds": 2, "retries": 60}})
}

/// A service that prints `tick N` every 200 ms.
fn ticking_service(name: &str) -> Value {
    json!({"name": name, "image": docker::IMAGE,
        "command": ["/bin/busybox", "sh", "-c",
            "i=0; while true; do echo tick $i; i=$((i+1)); /bin/busybox usleep 200000; done"]})
}

/// Creates the project, its environment `dev` (`local`: run by `komander up`) and the
/// deployment `app` with `services`; answers the deployment's API path and its id.
async fn deployment(
    server: &ServerProcess,
    project: &str,
    local: bool,
    services: &[Value],
) -> (String, String) {
    let mut environment = json!({"name": "dev", "runtime": "compose"});
    if local {
        environment["executor"] = json!("local");
    }
    rest(
        server,
        reqwest::Method::POST,
        "/projects",
        Some(json!({"name": project})),
    )
    .await;
    rest(
        server,
        reqwest::Method::POST,
        &format!("/projects/{project}/environments"),
        Some(environment),
    )
    .await;
    let path = format!("/projects/{project}/environments/dev/deployments/app");
    let created = rest(
        server,
        reqwest::Method::POST,
        &format!("/projects/{project}/environments/dev/deployments"),
        Some(json!({"name": "app"})),
    )
    .await;
    for service in services {
        rest(
            server,
            reqwest::Method::POST,
            &format!("{path}/services"),
            Some(service.clone()),
        )
        .await;
    }
    (path, created["id"].as_str().expect("an id").to_owned())
}

/// A `komander serve` in local mode whose server environments run on the test engine, with
/// the engine; `None` when there is no engine (outside CI).
async fn server_on_the_test_engine() -> Option<(bollard::Docker, ServerProcess)> {
    let engine = docker::engine().await?;
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").expect("the test engine");
    let server = ServerProcess::start_local(&[("KOMANDER_DOCKER_HOST", host.as_str())], "info");
    server.wait_for_first_party_plugins();
    Some((engine, server))
}

/// A browser signed in to `server` (through `base`, the server's or a relay's), with the page
/// at `path` open; `None` when no browser is installed (outside CI).
async fn signed_in_at(server: &ServerProcess, base: &str, path: &str) -> Option<Browser> {
    let browser = Browser::start(true, 1280, 900).await?;
    browser
        .open(&sign_in_link(server).replace(&server.base, base))
        .await;
    browser.wait_for_text("Signed in as").await;
    browser.open(&format!("{base}{path}")).await;
    Some(browser)
}

/// The latest operation of the deployment at `path`, as the API lists it.
async fn latest(server: &ServerProcess, path: &str) -> Value {
    rest(
        server,
        reqwest::Method::GET,
        &format!("{path}/operations?limit=1"),
        None,
    )
    .await["items"][0]
        .clone()
}

/// Applies through the API and waits (60 s at most) for the apply to be done.
async fn apply_and_wait(server: &ServerProcess, path: &str) -> String {
    let op = rest(
        server,
        reqwest::Method::POST,
        &format!("{path}/apply"),
        None,
    )
    .await;
    let id = op["id"].as_str().expect("the operation's id").to_owned();
    wait_until_ended(server, path, &id).await;
    id
}

/// Waits (60 s at most) until operation `id` ended, asserting that it is done.
async fn wait_until_ended(server: &ServerProcess, path: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let op = rest(
            server,
            reqwest::Method::GET,
            &format!("{path}/operations/{id}"),
            None,
        )
        .await;
        if op["state"] != "running" {
            assert_eq!(op["state"], "done", "{op}");
            return;
        }
        assert!(Instant::now() < deadline, "operation {id} never ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (`seconds` at most) until `check` answers true of the page.
async fn wait_for(browser: &Browser, seconds: u64, what: &str, check: &str) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if browser.run(check).await == Value::Bool(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never happened:\n{}",
            browser.text().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The progress lines the page shows: (sequence, text), in order.
async fn shown_lines(browser: &Browser) -> Vec<(u64, String)> {
    let lines = browser
        .run(
            "return [...document.querySelectorAll('#progress .line')]\
             .map(e => [Number(e.dataset.sequence), e.textContent.replace(/\\n$/, '')]);",
        )
        .await;
    serde_json::from_value(lines).expect("pairs")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_streams_its_steps_live_and_resumes_after_a_cut_without_a_lost_or_doubled_line() {
    let Some((engine, server)) = server_on_the_test_engine().await else {
        return;
    };
    let (path, id) = deployment(
        &server,
        "live",
        false,
        &[slow_service("web", 10), ticking_service("worker")],
    )
    .await;
    let relay = CuttingRelay::start(
        server
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("the server's address"),
    )
    .await;
    let Some(browser) = signed_in_at(&server, &relay.url(), &path).await else {
        return;
    };
    let page = format!("{}{path}", relay.url());

    // The plan says what the apply will do, before it starts.
    let plan = browser.wait_for_text_in("#plan-changes", "create").await;
    assert!(plan.contains("web") && plan.contains("worker"), "{plan}");

    browser.click("#apply").await;
    // A step arrives while the apply still runs.
    wait_for(
        &browser,
        30,
        "a first step",
        "return document.querySelectorAll('#steps .step').length > 0;",
    )
    .await;
    let op = latest(&server, &path).await;
    assert_eq!(
        op["state"], "running",
        "the apply ended before a step showed: {op}"
    );
    let operation = op["id"].as_str().expect("an id").to_owned();

    // Cut every connection: the page's stream resumes through a new one.
    let opened = relay.streams_opened();
    let before = shown_lines(&browser).await.len();
    relay.cut();
    let deadline = Instant::now() + Duration::from_secs(15);
    while relay.streams_opened() == opened {
        assert!(Instant::now() < deadline, "the page never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        latest(&server, &path).await["state"],
        "running",
        "the cut came after the apply ended"
    );

    wait_for(
        &browser,
        60,
        "the end of the apply",
        "return document.querySelector('#operation-state').textContent.includes('done');",
    )
    .await;
    let recorded = rest(
        &server,
        reqwest::Method::GET,
        &format!("{path}/operations/{operation}/progress?limit=1000"),
        None,
    )
    .await;
    let recorded: Vec<(u64, String)> = recorded
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["sequence"].as_u64().expect("a sequence"),
                l["text"].as_str().expect("a text").to_owned(),
            )
        })
        .collect();
    let shown = shown_lines(&browser).await;
    assert!(
        recorded.len() > before,
        "no line came after the cut ({before} before, {} in all)",
        recorded.len()
    );
    assert_eq!(shown, recorded, "the page lost or doubled a line");
    let steps = rest(
        &server,
        reqwest::Method::GET,
        &format!("{path}/operations/{operation}"),
        None,
    )
    .await["steps"]
        .as_array()
        .expect("steps")
        .len();
    let shown_steps = browser
        .run("return document.querySelectorAll('#steps .step').length;")
        .await;
    assert_eq!(shown_steps, json!(steps), "the page lost or doubled a step");

    // The status, the URLs and the logs are in the page once it ran.
    browser.open(&page).await;
    browser
        .wait_for_text_in("tr[data-service='web']", "healthy")
        .await;
    browser.wait_for_text_in("#log-lines", "").await;
    browser
        .wait_for_text_in("#plan-none", "Nothing to change")
        .await;
    if let Some(axe) = axe_script() {
        browser
            .check_accessibility(&axe, "deployment (applied)")
            .await;
    }
    browser.screenshot("deployment-live-desktop").await;

    // An edit over the API shows in the plan of the next render at once: the runtime reading
    // the server kept for the page no longer fits what the deployment holds.
    let mut worker = ticking_service("worker");
    worker["command"][3] = json!("exec /bin/busybox sleep 600");
    rest(
        &server,
        reqwest::Method::PATCH,
        &format!("{path}/services/worker"),
        Some(json!({"command": worker["command"]})),
    )
    .await;
    browser.open(&page).await;
    let plan = browser.wait_for_text_in("#plan-changes", "worker").await;
    assert!(!plan.contains("web"), "only the worker changed: {plan}");
    browser.close().await;
    docker::remove_deployment(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_services_log_follows_pauses_searches_and_downloads_in_the_page() {
    let Some((engine, server)) = server_on_the_test_engine().await else {
        return;
    };
    let published = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (path, id) = deployment(
        &server,
        "logs",
        false,
        &[ticking_service("backend"), {
            let mut web = ticking_service("web");
            web["ports"] = json!([{"container": 80, "host": published}]);
            web
        }],
    )
    .await;
    apply_and_wait(&server, &path).await;
    let Some(browser) = signed_in_at(&server, &server.base, &path).await else {
        return;
    };

    // The published port is a link.
    let link = browser
        .find("tr[data-service='web'] .urls a")
        .await
        .attr("href")
        .await
        .expect("an attribute");
    assert_eq!(link, Some(format!("http://127.0.0.1:{published}/")));

    // The page came with the last lines of the first service; a line the container prints
    // after the page opened arrives.
    let last_tick = "return Math.max(-1, ...[...document.querySelectorAll('#log-lines .log-line')]\
        .map(e => Number((e.textContent.match(/tick (\\d+)/) || [0, -1])[1])));";
    let first = browser.run(last_tick).await.as_i64().expect("a number");
    assert!(first >= 0, "the page came without log lines");
    wait_for(
        &browser,
        20,
        "a line printed after the page opened",
        &format!("{} > {first};", last_tick.trim_end_matches(';')),
    )
    .await;

    // Paused, the page holds new lines back; resumed, they are all there.
    browser.click("#log-pause").await;
    browser.wait_for_text_in("#log-summary", "paused").await;
    let paused_at = browser.run(last_tick).await.as_i64().expect("a number");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        browser.run(last_tick).await.as_i64(),
        Some(paused_at),
        "lines were added while paused"
    );
    browser.click("#log-pause").await;
    wait_for(
        &browser,
        10,
        "the held lines",
        &format!("{} > {paused_at} + 5;", last_tick.trim_end_matches(';')),
    )
    .await;
    let ticks: Vec<i64> = serde_json::from_value(
        browser
            .run(
                "return [...document.querySelectorAll('#log-lines .log-line')]\
                 .map(e => Number(e.textContent.match(/tick (\\d+)/)[1]));",
            )
            .await,
    )
    .expect("numbers");
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "a line was lost or doubled: {ticks:?}"
    );

    // Searching shows only the matching lines, and says how many.
    browser.fill("#log-search", "tick 1").await;
    browser.wait_for_text_in("#log-summary", "match").await;
    let shown: Vec<String> = serde_json::from_value(
        browser
            .run("return [...document.querySelectorAll('#log-lines .log-line')].map(e => e.textContent);")
            .await,
    )
    .expect("lines");
    assert!(
        !shown.is_empty() && shown.iter().all(|l| l.contains("tick 1")),
        "{shown:?}"
    );

    // The other service's log, and the download.
    browser.click("#log-tab-web").await;
    browser.wait_for_text_in("#log-lines", "tick").await;
    let href = browser
        .find("#log-download")
        .await
        .attr("href")
        .await
        .expect("an attribute")
        .expect("a link");
    let cookie = browser
        .client
        .get_named_cookie("komander_session")
        .await
        .expect("the session cookie");
    let download = ServerProcess::client()
        .get(format!("{}{href}", server.base))
        .header("cookie", format!("komander_session={}", cookie.value()))
        .send()
        .await
        .expect("the download");
    assert!(download.status().is_success(), "{}", download.status());
    let text = download.text().await.unwrap_or_default();
    assert!(
        text.lines().count() > 5 && text.contains("stdout tick"),
        "{text}"
    );
    let anonymous = ServerProcess::client()
        .get(format!("{}{href}", server.base))
        .send()
        .await
        .expect("an answer");
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);

    // The log stream takes the session and nothing else, and only resume points it gave.
    let stream = format!("{}/ui/events{path}/services/web/logs", server.base);
    let session = format!("komander_session={}", cookie.value());
    let refused = [
        (None, "", reqwest::StatusCode::UNAUTHORIZED),
        (
            Some(session.as_str()),
            "?last=not-an-id",
            reqwest::StatusCode::BAD_REQUEST,
        ),
        (
            Some(session.as_str()),
            "?tail=100000",
            reqwest::StatusCode::BAD_REQUEST,
        ),
    ];
    for (cookie, query, status) in refused {
        let mut request = ServerProcess::client().get(format!("{stream}{query}"));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let answer = request.send().await.expect("an answer");
        assert_eq!(answer.status(), status, "{query}");
    }
    let bearer = ServerProcess::client()
        .get(&stream)
        .bearer_auth(local_admin_token(&server))
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        bearer.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "an API token opened a UI stream"
    );
    browser.close().await;
    docker::remove_deployment(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_from_the_history_says_what_changes_then_brings_the_earlier_spec_back() {
    let Some((engine, server)) = server_on_the_test_engine().await else {
        return;
    };
    let first_command = json!(["/bin/busybox", "sleep", "600"]);
    let (path, id) = deployment(
        &server,
        "back",
        false,
        &[json!({"name": "web", "image": docker::IMAGE, "command": first_command})],
    )
    .await;
    let first = apply_and_wait(&server, &path).await;
    rest(
        &server,
        reqwest::Method::PATCH,
        &format!("{path}/services/web"),
        Some(json!({"command": ["/bin/busybox", "sleep", "700"]})),
    )
    .await;
    apply_and_wait(&server, &path).await;

    let Some(browser) = signed_in_at(&server, &server.base, &path).await else {
        return;
    };
    browser.click(&format!("#rollback-{first}")).await;
    let confirmation = browser
        .wait_for_text_in(
            &format!("tr[data-operation='{first}'] .rollback"),
            "settings change back",
        )
        .await;
    assert!(confirmation.contains("service web"), "{confirmation}");
    browser
        .click(&format!("tr[data-operation='{first}'] .confirm-rollback"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let rollback = loop {
        let op = latest(&server, &path).await;
        if op["kind"] == "rollback" {
            break op;
        }
        assert!(Instant::now() < deadline, "no rollback started");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(rollback["rollback_of"], json!(first));
    wait_until_ended(&server, &path, rollback["id"].as_str().expect("an id")).await;
    let web = rest(
        &server,
        reqwest::Method::GET,
        &format!("{path}/services/web"),
        None,
    )
    .await;
    assert_eq!(web["command"], first_command, "{web}");
    browser.wait_for_text_in("#operation-state", "done").await;
    browser.close().await;
    docker::remove_deployment(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_komander_up_runs_on_a_local_environment_is_watched_live_in_the_page() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").expect("the test engine");
    let server = ServerProcess::start_local(&[], "info");
    server.wait_for_first_party_plugins();
    let (path, id) = deployment(&server, "upweb", true, &[slow_service("web", 6)]).await;
    let Some(browser) = signed_in_at(&server, &server.base, &path).await else {
        return;
    };
    let command = browser.wait_for_text_in("#up-command", "komander up").await;
    assert!(
        command.ends_with(&format!("--server {} upweb/dev/app", server.base)),
        "{command}"
    );

    // The command the page shows, as a teammate would paste it.
    let mut args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(args.remove(0), "komander");
    let mut up = server.cli_command(&args);
    up.env("KOMANDER_TOKEN", local_admin_token(&server))
        .env("DOCKER_HOST", &host)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = up.spawn().expect("komander up");

    // The page finds the operation and follows it live: running, steps, then done.
    wait_for(
        &browser,
        30,
        "komander up's operation",
        "return document.querySelector('#operation-state')?.textContent.includes('running') ?? false;",
    )
    .await;
    wait_for(
        &browser,
        30,
        "a step of komander up",
        "return document.querySelectorAll('#steps .step').length > 0;",
    )
    .await;
    wait_for(
        &browser,
        60,
        "the end of komander up",
        "return document.querySelector('#operation-state').textContent.includes('done');",
    )
    .await;
    let status = child.wait().expect("komander up ends");
    assert!(status.success(), "komander up failed: {status}");
    let op = latest(&server, &path).await;
    assert_eq!(op["executor"], "local", "{op}");
    browser.close().await;
    docker::remove_deployment(&engine, &id).await;
}
