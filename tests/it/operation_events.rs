//! Following an operation live through a real `komander serve`: server-sent events that a
//! client resumes with `Last-Event-ID` without a lost or doubled line while the lease holder
//! keeps recording steps, the `end` event and the close after it, a stream that outlives the
//! request timeout, what someone who may not see the deployment gets, the per-user stream
//! limit and the lifetime; then `komander deployment follow`, its exit codes and its resume
//! through a connection cut by a proxy.

use std::{
    process::{Output, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use komander_domain::api::LEASE_HEADER;
use komander_e2e::{
    ADMIN_TOKEN, ServerProcess,
    sse::{EventStream, SseEvent},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const DEPLOYMENT: &str = "/api/v1/projects/shop/environments/dev/deployments/app";
const WAIT: Duration = Duration::from_secs(10);

/// A server with `env`, project `shop`, its `local` environment `dev` and the admin's private
/// deployment `app`.
fn shop(env: &[(&str, &str)]) -> ServerProcess {
    let server = ServerProcess::start(env, "info");
    server.wait_for_first_party_plugins();
    server.cli_shop_deployment(&["--executor", "local"], "app");
    server
}

/// The holder of a running operation's lease, recording its steps as the CLI's local applies
/// do.
struct Holder {
    client: reqwest::Client,
    operation: String,
    id: String,
    lease: String,
}

impl Holder {
    /// Starts an apply of `app` as the admin.
    async fn start(server: &ServerProcess) -> Holder {
        let client = ServerProcess::client();
        let started: Value = client
            .post(format!("{}{DEPLOYMENT}/operations", server.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"kind": "apply"}))
            .send()
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("a started operation");
        let id = started["operation"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        Holder {
            operation: format!("{}{DEPLOYMENT}/operations/{id}", server.base),
            lease: started["lease_token"].as_str().expect("a lease").to_owned(),
            client,
            id,
        }
    }

    async fn post(&self, what: &str, body: Value) -> Value {
        let answer = self
            .client
            .post(format!("{}/{what}", self.operation))
            .bearer_auth(ADMIN_TOKEN)
            .header(LEASE_HEADER, &self.lease)
            .json(&body)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(answer.status(), StatusCode::OK, "{what}");
        answer.json().await.expect("a JSON answer")
    }

    /// Records step `name` printing `lines` named `<name> 1`, `<name> 2`…
    async fn step(&self, name: &str, lines: usize) {
        let lines: Vec<String> = (1..=lines).map(|n| format!("{name} {n}")).collect();
        self.post(
            "steps",
            json!({
                "step": {"name": name, "started_at": "2026-12-01T10:00:00Z",
                         "finished_at": "2026-12-01T10:00:02Z"},
                "lines": lines,
            }),
        )
        .await;
    }

    async fn finish(&self, outcome: &str, message: &str) {
        self.post("finish", json!({"outcome": outcome, "message": message}))
            .await;
    }

    fn events(&self) -> String {
        format!("{}/events", self.operation)
    }
}

/// The texts of the progress events among `events`, asserting that their ids are their
/// sequence numbers.
fn lines(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.name == "progress")
        .map(|e| {
            assert_eq!(
                e.id.as_deref(),
                Some(e.data["sequence"].to_string().as_str())
            );
            e.data["text"].as_str().expect("a text").to_owned()
        })
        .collect()
}

/// Reads `n` events.
async fn take(stream: &mut EventStream, n: usize) -> Vec<SseEvent> {
    let mut events = Vec::new();
    for _ in 0..n {
        events.push(stream.next(WAIT).await.expect("an event"));
    }
    events
}

#[tokio::test]
async fn a_reader_that_disconnects_and_resumes_with_last_event_id_gets_every_line_once_in_order() {
    let server = shop(&[]);
    let holder = Holder::start(&server).await;
    holder.step("pull", 3).await;
    let mut stream = EventStream::open(&holder.events(), ADMIN_TOKEN, None)
        .await
        .expect("a stream");
    let mut seen = take(&mut stream, 4).await;
    assert_eq!(lines(&seen), ["pull 1", "pull 2", "pull 3"]);
    assert_eq!(seen[3].name, "step");
    assert_eq!(seen[3].id, None, "a step moves no resume point");
    assert_eq!(seen[3].data["position"], 1);
    assert_eq!(seen[3].data["name"], "pull");
    // Recorded while the reader follows: it arrives live.
    holder.step("create", 2).await;
    seen.extend(take(&mut stream, 1).await);
    let last_id = seen.last().and_then(|e| e.id.clone()).expect("an id");
    assert_eq!(last_id, "4");
    drop(stream);
    // Recorded while the reader is away.
    holder.step("start", 2).await;
    let mut stream = EventStream::open(
        &format!("{}?steps=1", holder.events()),
        ADMIN_TOKEN,
        Some(&last_id),
    )
    .await
    .expect("a resumed stream");
    let resumed = take(&mut stream, 5).await;
    assert_eq!(lines(&resumed), ["create 2", "start 1", "start 2"]);
    let steps: Vec<&Value> = resumed
        .iter()
        .filter(|e| e.name == "step")
        .map(|e| &e.data["position"])
        .collect();
    assert_eq!(steps, [2, 3], "the steps after the one already seen");
    seen.extend(resumed);
    holder.step("wait", 1).await;
    seen.extend(take(&mut stream, 2).await);
    holder.finish("failed", "web did not start").await;
    let end = stream.next(WAIT).await.expect("the end event");
    assert_eq!(end.name, "end");
    assert_eq!(
        end.data,
        json!({"state": "failed", "message": "web did not start"})
    );
    assert_eq!(
        stream.next(WAIT).await,
        None,
        "the server closes the stream"
    );
    assert_eq!(
        lines(&seen),
        [
            "pull 1", "pull 2", "pull 3", "create 1", "create 2", "start 1", "start 2", "wait 1"
        ],
        "every line once, in order"
    );
    // An ended operation's stream replays what is left and ends at once.
    let mut stream = EventStream::open(&holder.events(), ADMIN_TOKEN, Some("7"))
        .await
        .expect("a stream of an ended operation");
    let rest = stream.rest(WAIT).await;
    assert_eq!(lines(&rest), ["wait 1"]);
    assert_eq!(rest.last().map(|e| e.name.as_str()), Some("end"));
}

#[tokio::test]
async fn a_stream_outlives_the_request_timeout_while_trickled_headers_are_still_cut() {
    let server = shop(&[
        ("KOMANDER_REQUEST_TIMEOUT_SECS", "1"),
        ("KOMANDER_HEADER_READ_TIMEOUT_SECS", "1"),
    ]);
    let holder = Holder::start(&server).await;
    let mut stream = EventStream::open(&holder.events(), ADMIN_TOKEN, None)
        .await
        .expect("a stream");
    // A slow-loris client on the same server: headers one byte at a time.
    let address = server.base.trim_start_matches("http://").to_owned();
    let trickle = tokio::spawn(async move {
        let mut socket = TcpStream::connect(address).await.expect("a connection");
        let started = Instant::now();
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n" {
            if socket.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut rest)).await;
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    holder.step("late", 1).await;
    let event = stream.next(WAIT).await.expect("an event after 3 s");
    assert_eq!(event.data["text"], "late 1");
    let cut_after = trickle.await.expect("the trickling client");
    assert!(
        cut_after < Duration::from_secs(5),
        "the trickled headers were cut after {cut_after:?}"
    );
    holder.finish("done", "ok").await;
    let rest = stream.rest(WAIT).await;
    assert_eq!(rest.last().map(|e| e.name.as_str()), Some("end"));
}

#[tokio::test]
async fn someone_who_may_not_see_the_deployment_gets_404_and_bad_resume_points_400() {
    let server = shop(&[]);
    let holder = Holder::start(&server).await;
    holder.step("pull", 2).await;
    let client = ServerProcess::client();
    let mut tokens = Vec::new();
    for handle in ["stranger", "teammate"] {
        client
            .post(format!("{}/api/v1/users", server.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"handle": handle}))
            .send()
            .await
            .expect("a user");
        let token: Value = client
            .post(format!("{}/api/v1/users/{handle}/tokens", server.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "tests"}))
            .send()
            .await
            .expect("a token")
            .json()
            .await
            .expect("a token");
        tokens.push(token["token"].as_str().expect("a token").to_owned());
    }
    // The teammate is a Dev of the project; the deployment is the admin's, private.
    let added = client
        .post(format!("{}/api/v1/projects/shop/members", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"user": "teammate", "role": "dev"}))
        .send()
        .await
        .expect("a member");
    assert_eq!(added.status(), StatusCode::CREATED);
    for token in &tokens {
        let (status, body) = EventStream::open(&holder.events(), token, None)
            .await
            .err()
            .expect("refused");
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, body) = EventStream::open(&holder.events(), "kmd_not-a-token", None)
        .await
        .err()
        .expect("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = EventStream::open(&holder.events(), ADMIN_TOKEN, Some("two"))
        .await
        .err()
        .expect("refused");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "last-event-id", "{body}");
    let (status, body) =
        EventStream::open(&format!("{}?after=3", holder.events()), ADMIN_TOKEN, None)
            .await
            .err()
            .expect("refused");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "after", "{body}");
    let (status, body) =
        EventStream::open(&format!("{}?steps=2", holder.events()), ADMIN_TOKEN, None)
            .await
            .err()
            .expect("refused");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "steps", "{body}");
}

#[tokio::test]
async fn streams_past_the_per_user_limit_answer_429_until_one_closes() {
    let server = shop(&[("KOMANDER_EVENT_STREAMS_PER_USER", "2")]);
    let holder = Holder::start(&server).await;
    let first = EventStream::open(&holder.events(), ADMIN_TOKEN, None)
        .await
        .expect("a first stream");
    let _second = EventStream::open(&holder.events(), ADMIN_TOKEN, None)
        .await
        .expect("a second stream");
    let (status, body) = EventStream::open(&holder.events(), ADMIN_TOKEN, None)
        .await
        .err()
        .expect("a third is refused");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    drop(first);
    // The server gives the slot back once it sees the connection closed.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match EventStream::open(&holder.events(), ADMIN_TOKEN, None).await {
            Ok(_) => break,
            Err((status, _)) if status == StatusCode::TOO_MANY_REQUESTS => {
                assert!(
                    Instant::now() < deadline,
                    "the closed stream's slot never came back"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_stream_past_its_lifetime_ends_with_a_resume_event() {
    let server = shop(&[("KOMANDER_EVENT_STREAM_LIFETIME_SECS", "2")]);
    let holder = Holder::start(&server).await;
    holder.step("pull", 2).await;
    holder.step("create", 1).await;
    let started = Instant::now();
    let mut stream = EventStream::open(&holder.events(), ADMIN_TOKEN, None)
        .await
        .expect("a stream");
    let events = stream.rest(WAIT).await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["progress", "progress", "progress", "step", "step", "resume"]
    );
    assert_eq!(events[5].data, json!({"after": 3, "steps": 2}));
    // The CLI opens the stream again after each `resume` and prints nothing twice.
    let child = follow(&server, &server.base, &holder, &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    holder.step("start", 1).await;
    holder.finish("done", "ok").await;
    let out = exited(child).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pull 1\npull 2\ncreate 1\nstart 1\n",
        "{stderr}"
    );
    assert_eq!(stderr.matches("step pull took").count(), 1, "{stderr}");
}

#[tokio::test]
async fn a_server_shutting_down_ends_its_streams_with_resume_instead_of_waiting_for_them() {
    let mut server = shop(&[]);
    let holder = Holder::start(&server).await;
    holder.step("pull", 1).await;
    let mut stream = EventStream::open(&holder.events(), ADMIN_TOKEN, None)
        .await
        .expect("a stream");
    take(&mut stream, 2).await;
    let stopping = Instant::now();
    let stopped = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    });
    let rest = stream.rest(WAIT).await;
    let names: Vec<&str> = rest.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["resume"]);
    assert_eq!(rest[0].data, json!({"after": 1, "steps": 1}));
    let _server = stopped.await.expect("the stopping task");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "the shutdown took {:?}",
        stopping.elapsed()
    );
}

/// Starts `komander deployment follow` of `holder`'s operation in the background, against
/// `server_url`, with `extra` arguments.
fn follow(
    server: &ServerProcess,
    server_url: &str,
    holder: &Holder,
    extra: &[&str],
) -> std::process::Child {
    let scope = ["--project", "shop", "--environment", "dev"];
    let args = [
        &["deployment", "follow"][..],
        &scope,
        &["app", &holder.id],
        extra,
    ]
    .concat();
    server
        .cli_command(&args)
        .env("KOMANDER_SERVER", server_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting komander deployment follow")
}

/// Waits (at most 30 s) for a background CLI to exit.
async fn exited(child: std::process::Child) -> Output {
    let waited = tokio::task::spawn_blocking(move || child.wait_with_output());
    tokio::time::timeout(Duration::from_secs(30), waited)
        .await
        .expect("komander exits")
        .expect("the waiting task")
        .expect("its output")
}

#[tokio::test]
async fn deployment_follow_prints_every_line_and_exits_0_when_done_and_7_when_failed() {
    let server = shop(&[]);
    let holder = Holder::start(&server).await;
    holder.step("pull", 2).await;
    let child = follow(&server, &server.base, &holder, &[]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    holder.step("start", 2).await;
    holder.finish("done", "all running").await;
    let out = exited(child).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pull 1\npull 2\nstart 1\nstart 2\n"
    );
    assert!(stderr.contains("step start took 2.0 s"), "{stderr}");
    assert!(stderr.contains("operation done: all running"), "{stderr}");

    let holder = Holder::start(&server).await;
    let child = follow(&server, &server.base, &holder, &["--output", "json"]);
    holder.step("pull", 1).await;
    holder.finish("failed", "image missing").await;
    let out = exited(child).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains(&format!("operation {} failed: image missing", holder.id)),
        "{stderr}"
    );
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(names, ["progress", "step", "end"]);
    assert_eq!(events[0]["data"]["text"], "pull 1");
    assert_eq!(events[2]["data"]["state"], "failed");
}

/// A proxy on 127.0.0.1 in front of `upstream` (`host:port`) that cuts its first connection
/// in the middle of the third `progress` event it passes on; later connections pass whole.
/// Answers its URL and how many connections it took.
async fn cutting_proxy(upstream: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            let server = TcpStream::connect(&upstream).await.expect("the server");
            tokio::spawn(relay(client, server, first));
        }
    });
    (url, connections)
}

async fn relay(client: TcpStream, server: TcpStream, cut: bool) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    });
    let mut passed = Vec::new();
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let n = match server_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let start = passed.len();
        passed.extend_from_slice(&buffer[..n]);
        let third = cut
            .then(|| {
                let text = String::from_utf8_lossy(&passed);
                text.match_indices("event: progress")
                    .nth(2)
                    .map(|(at, _)| at)
            })
            .flatten();
        match third {
            Some(at) => {
                // Half of the third event, then the connection drops.
                let end = (at + 20).clamp(start, passed.len());
                let _ = client_write.write_all(&passed[start..end]).await;
                break;
            }
            None => {
                if client_write.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = client_write.shutdown().await;
}

#[tokio::test]
async fn deployment_follow_resumes_through_a_cut_connection_without_lost_or_doubled_lines() {
    let server = shop(&[]);
    let (proxy, connections) =
        cutting_proxy(server.base.trim_start_matches("http://").to_owned()).await;
    let holder = Holder::start(&server).await;
    holder.step("pull", 5).await;
    let child = follow(&server, &proxy, &holder, &[]);
    // Recorded while the CLI is cut off or resuming.
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.step("start", 2).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    holder.step("wait", 1).await;
    holder.finish("done", "ok").await;
    let out = exited(child).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pull 1\npull 2\npull 3\npull 4\npull 5\nstart 1\nstart 2\nwait 1\n",
        "every line once, in order: {stderr}"
    );
    assert!(stderr.contains("resuming after line 2"), "{stderr}");
    assert_eq!(
        stderr.matches("step pull took").count(),
        1,
        "no step twice: {stderr}"
    );
    assert!(connections.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn the_openapi_document_describes_the_event_stream() {
    let api = komander_e2e::TestApi::new(komander_e2e::Backend::Sqlite)
        .await
        .expect("an instance");
    let (status, doc) = api
        .call(axum::http::Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status.as_u16(), 200);
    let events = &doc["paths"]["/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations/{operation}/events"]
        ["get"];
    assert!(
        events["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{events}"
    );
    assert!(events["responses"]["429"].is_object(), "{events}");
    let parameters = events["parameters"].as_array().expect("parameters");
    for (name, place) in [
        ("last-event-id", "header"),
        ("after", "query"),
        ("steps", "query"),
    ] {
        assert!(
            parameters
                .iter()
                .any(|p| p["name"] == name && p["in"] == place),
            "{name} in {place}: {events}"
        );
    }
}
