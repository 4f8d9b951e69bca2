//! A TCP relay on 127.0.0.1 between a browser and a server, which can cut every connection
//! passing through it: to the browser, a cut event stream is a connection the server closed
//! in the middle of it (the network dropped, the laptop slept). Every connection is relayed
//! byte for byte; one whose first request line asks for `/ui/events/` is counted as an event
//! stream. Cut while the page is only listening, so that no form post is in flight.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// What the request line of an event stream holds.
const STREAM_PATH: &[u8] = b" /ui/events/";

/// A relay to one server; stops accepting when dropped.
pub struct CuttingRelay {
    address: SocketAddr,
    cuts: watch::Sender<u64>,
    opened: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl CuttingRelay {
    /// Relays 127.0.0.1:<a free port> to `server` (`127.0.0.1:<port>`).
    ///
    /// # Panics
    /// When no port can be bound on 127.0.0.1.
    pub async fn start(server: SocketAddr) -> CuttingRelay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the relay binds a port on 127.0.0.1");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (cuts, _) = watch::channel(0);
        let opened = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn({
            let cuts = cuts.clone();
            let opened = Arc::clone(&opened);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(relay(client, server, cuts.subscribe(), Arc::clone(&opened)));
                }
            }
        });
        CuttingRelay {
            address,
            cuts,
            opened,
            accept,
        }
    }

    /// The base URL browsers open: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many event streams were opened through the relay so far.
    pub fn streams_opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// Closes every connection open now, in both directions, as a server that went away
    /// would; the browser reconnects through the relay.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }
}

impl Drop for CuttingRelay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Relays one connection until either side closes it, or until the next cut.
async fn relay(
    mut client: TcpStream,
    server: SocketAddr,
    mut cuts: watch::Receiver<u64>,
    opened: Arc<AtomicUsize>,
) {
    cuts.mark_unchanged();
    let Ok(mut upstream) = TcpStream::connect(server).await else {
        return;
    };
    let mut first = vec![0u8; 8192];
    let Ok(n) = client.read(&mut first).await else {
        return;
    };
    let stream = first[..n]
        .split(|&b| b == b'\n')
        .next()
        .is_some_and(|line| line.windows(STREAM_PATH.len()).any(|w| w == STREAM_PATH));
    if stream {
        opened.fetch_add(1, Ordering::SeqCst);
    }
    if upstream.write_all(&first[..n]).await.is_err() {
        return;
    }
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = cuts.changed() => {}
    }
}
