//! Fault injection without touching the stores other tests share: a TCP proxy a worker connects
//! through. Cutting it drops every connection at once, as a broker or database restart does from
//! the client's side; while it is down, new connections are refused (accepted and closed at once).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy to one address.
pub struct TcpProxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    /// Bumped by [`TcpProxy::cut`]; every relayed connection ends when it changes.
    generation: watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
}

impl TcpProxy {
    /// A proxy on a free local port to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let target: SocketAddr = tokio::net::lookup_host(target)
            .await
            .expect("proxy target")
            .next()
            .expect("proxy target address");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (generation, _) = watch::channel(0u64);
        let proxy = Self {
            port,
            down: Arc::new(AtomicBool::new(false)),
            generation,
            accepted: Arc::new(AtomicUsize::new(0)),
        };
        let (down, accepted, cuts) = (
            proxy.down.clone(),
            proxy.accepted.clone(),
            proxy.generation.clone(),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                accepted.fetch_add(1, Ordering::SeqCst);
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        proxy
    }

    /// Drops every open connection (both sides see it closed).
    pub fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// While down, new connections are closed as soon as they are accepted.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// A restart as clients see it: every connection dropped, none taken for `for_how_long`.
    pub async fn restart(&self, for_how_long: std::time::Duration) {
        self.set_down(true);
        self.cut();
        tokio::time::sleep(for_how_long).await;
        self.set_down(false);
    }

    /// Connections relayed so far (a reconnection shows as one more).
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}
