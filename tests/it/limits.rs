//! The server's limits against clients that hold it up, through a real `komander serve` and
//! raw sockets: an upload refused before its body is sent, headers trickled one byte at a
//! time, a body sent slower than the request timeout, idle connections by the hundred and a
//! connection cap.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use komander_e2e::{ADMIN_TOKEN, ServerProcess};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The server's socket address.
fn address(server: &ServerProcess) -> SocketAddr {
    server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("the server's address")
}

/// Creates the non-admin user `handle` and answers a token of theirs.
async fn non_admin(server: &ServerProcess, handle: &str) -> String {
    let client = ServerProcess::client();
    for (path, body) in [
        ("/api/v1/users".to_owned(), json!({ "handle": handle })),
        (
            format!("/api/v1/users/{handle}/tokens"),
            json!({ "name": "tests" }),
        ),
    ] {
        let answer = client
            .post(format!("{}{path}", server.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("the server answers");
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        if path.ends_with("tokens") {
            let token: Value = answer.json().await.expect("a token");
            return token["token"].as_str().expect("a token").to_owned();
        }
    }
    unreachable!("the token was answered above")
}

/// Reads what the server sends until it closes the connection or `within` passes.
async fn read_answer(stream: &mut TcpStream, within: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn an_upload_by_someone_who_may_not_install_is_refused_before_its_body_is_sent() {
    let server = ServerProcess::start(&[], "info");
    let dev = non_admin(&server, "dave").await;
    for (path, token, want) in [
        ("/api/v1/plugins", dev.as_str(), "403"),
        ("/api/v1/plugins/acme.thing/upgrade", dev.as_str(), "403"),
        // An admin upgrading a plugin that is not installed is told so before sending it.
        ("/api/v1/plugins/acme.thing/upgrade", ADMIN_TOKEN, "404"),
    ] {
        let mut stream = TcpStream::connect(address(&server)).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/wasm\r\nContent-Length: {}\r\n\r\n",
            30 << 20
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // Not one byte of the 30 MiB is sent: the answer comes all the same.
        let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {want}")),
            "{path}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn an_admins_upload_past_the_component_limit_is_refused() {
    let server = ServerProcess::start(&[], "info");
    let answer = ServerProcess::client()
        .post(format!("{}/api/v1/plugins", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/wasm")
        .body(vec![0u8; (32 << 20) + 1])
        .send()
        .await;
    // The server may close the connection while the tail is still being sent.
    if let Ok(answer) = answer {
        assert_eq!(answer.status(), 413);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    }
    // Other plugin routes keep the API's small limit.
    let answer = ServerProcess::client()
        .put(format!("{}/api/v1/plugins/acme.thing/config", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "settings": { "x": "y".repeat(300 * 1024) } }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
}

#[tokio::test]
async fn headers_trickled_one_byte_every_two_seconds_are_cut_off() {
    // The documented default: 10 s to send a request's headers.
    let server = ServerProcess::start(&[], "info");
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    let request = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
    );
    let started = Instant::now();
    let mut sent = 0;
    let mut closed = false;
    // Bounded: at most 15 bytes, 30 s.
    for byte in request.bytes().take(15) {
        if stream.write_all(&[byte]).await.is_err() {
            closed = true;
            break;
        }
        sent += 1;
        let mut buffer = [0u8; 256];
        let waited = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer));
        // Anything but a wait that timed out: the server answered (408) and closed, or closed.
        if waited.await.is_ok() {
            closed = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(
        closed,
        "the server kept the connection open for {elapsed:?}"
    );
    assert!(sent < request.len(), "the whole request was sent");
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(14)).contains(&elapsed),
        "closed after {elapsed:?}, {sent} bytes"
    );
}

#[tokio::test]
async fn a_body_slower_than_the_request_timeout_is_answered_408() {
    let server = ServerProcess::start(&[("KOMANDER_REQUEST_TIMEOUT_SECS", "2")], "info");
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    let head = format!(
        "POST /api/v1/plugins HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/wasm\r\nContent-Length: 100\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    // Bounded: at most 20 bytes, one every 500 ms.
    for _ in 0..20 {
        if stream.write_all(b"x").await.is_err() {
            break;
        }
        let mut buffer = [0u8; 1024];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buffer)).await
        {
            answer = String::from_utf8_lossy(&buffer[..n]).into_owned();
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("\"timeout\""), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// `GET /api/v1/me` as the admin, answering the status and how long it took.
async fn me(server: &ServerProcess) -> (u16, Duration) {
    let started = Instant::now();
    let answer = ServerProcess::client()
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the server answers");
    (answer.status().as_u16(), started.elapsed())
}

#[tokio::test]
async fn requests_are_answered_within_a_second_while_200_idle_connections_are_open() {
    let server = ServerProcess::start(&[], "info");
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(address(&server)).await.unwrap());
    }
    let (status, took) = me(&server).await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "answered in {took:?}");
    drop(idle);
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_slot() {
    let server = ServerProcess::start(
        &[
            ("KOMANDER_MAX_CONNECTIONS", "2"),
            ("KOMANDER_HEADER_READ_TIMEOUT_SECS", "2"),
        ],
        "info",
    );
    let idle = [
        TcpStream::connect(address(&server)).await.unwrap(),
        TcpStream::connect(address(&server)).await.unwrap(),
    ];
    // Both slots are held until the idle connections are cut off, 2 s after they opened.
    let (status, took) = me(&server).await;
    assert_eq!(status, 200);
    assert!(took > Duration::from_millis(1500), "answered in {took:?}");
    drop(idle);
    let (_, took) = me(&server).await;
    assert!(took < Duration::from_secs(1), "answered in {took:?}");
}
