//! Serving connections under the server's limits: at most `max_connections` at once (the next
//! ones wait in the listen backlog), a deadline for each request's headers (which also closes
//! idle kept-alive connections), and a graceful shutdown that lets requests in flight finish.
//! The request timeout is a layer of the router (see [`super::router`]).

use std::{future::Future, io, pin::pin, sync::Arc, time::Duration};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
};
use tracing::{debug, warn};

/// The HTTP server's limits, from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a client has to send a request's headers, and how long a kept-alive
    /// connection may stay idle (default 10 s).
    pub header_read_timeout: Duration,
    /// How long a request may take until its answer starts (default 60 s). A streamed answer's
    /// body (an operation's event stream) is not bounded by it: the router's deadline layer
    /// times the handler until it returns the response head, and hyper's header-read timer
    /// runs only while a request's head is being read.
    pub request_timeout: Duration,
    /// How many connections are served at once (default 1,024).
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// How long to wait before accepting again after the listener failed (out of file
/// descriptors, say).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` completes, then waits for the connections
/// in flight to finish their requests.
///
/// # Errors
/// None today: a failed accept is logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Connections hold a receiver each; the sender's `closed` tells when the last one ended.
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "setting TCP_NODELAY");
        }
        let service = TowerToHyperService::new(router.clone());
        let mut stopping = stopped.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            debug!(%peer, error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stopping.changed() => connection.as_mut().graceful_shutdown(),
                }
            }
        });
    }
    drop(listener);
    stop.send_replace(true);
    drop(stopped);
    stop.closed().await;
    Ok(())
}
