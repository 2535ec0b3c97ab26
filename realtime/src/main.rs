//! `nexgate-realtime`: the real-time gateway of direct messages (docs/dm.md, "Real-time gateway").
//!
//! Spin components answer requests and cannot hold sockets, so this native process does: clients
//! open a WebSocket on `/dm/stream`, send their access token in the first frame, and from then on
//! receive what changes in their conversations (new messages, edits, unsends, reactions, read
//! receipts, membership) and who is typing. Its parts:
//! - [`socket`]: the handshake (path, `Origin`, no token in the URL), the first-frame
//!   authentication, caps (connections per user and in all, frame size, frame rate), heartbeats
//!   and each connection's bounded outbound queue (a client that cannot keep up is cut);
//! - [`feed`]: the one query behind `GET /dm/sync` (`nexgate_dm::changes`), run over every
//!   member at once whenever a DM event wakes it ([`wake`], this replica's exclusive queue), so
//!   what a socket receives is exactly what a sync returns, with the same tokens; a reconnecting
//!   client sends its last token and gets what it missed first;
//! - [`typing`]: typing indicators over Redis pub/sub (never the outbox), filtered by membership
//!   and blocks;
//! - [`sessions`]: a revoked session's sockets are closed within seconds; an expired token's
//!   socket closes unless the client sent a fresh one.
//!
//! It reads Postgres through the read-only `nexgate_realtime` role and publishes nothing.

mod feed;
mod frames;
mod hub;
mod sessions;
mod socket;
mod typing;
mod wake;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use nexgate_authn::jwt::TokenVerifier;

/// This worker's section in the subscriptions file.
const WORKER: &str = "realtime";

#[derive(Parser, Clone)]
#[command(
    name = "nexgate-realtime",
    version,
    about = "Nexgate's real-time gateway"
)]
pub struct Args {
    #[command(flatten)]
    queues: nexgate_bus::QueueArgs,
    /// Where it listens; the WebSocket path is `/dm/stream`.
    #[arg(
        long,
        env = "NEXGATE_REALTIME_LISTEN",
        default_value = "127.0.0.1:3100"
    )]
    listen: SocketAddr,
    /// The core database as the read-only `nexgate_realtime`.
    #[arg(long, env = "NEXGATE_REALTIME_DB_URL", hide_env_values = true)]
    db_url: String,
    #[arg(
        long,
        env = "SPIN_VARIABLE_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    #[arg(
        long,
        env = "SPIN_VARIABLE_REDIS_KEY_PREFIX",
        default_value = "nexgate:"
    )]
    redis_key_prefix: String,
    /// The JWKS that verifies access tokens (the app's `jwt_public_keys`).
    #[arg(long, env = "SPIN_VARIABLE_JWT_PUBLIC_KEYS", hide_env_values = true)]
    jwt_public_keys: String,
    #[arg(long, env = "SPIN_VARIABLE_JWT_ISSUER", default_value = "nexgate")]
    jwt_issuer: String,
    #[arg(long, env = "SPIN_VARIABLE_JWT_AUDIENCE", default_value = "nexgate")]
    jwt_audience: String,
    /// Browser origins allowed to connect (comma-separated, e.g. `https://app.nexgate.example`).
    /// A handshake with another `Origin` is refused; one without (a native app) is allowed.
    #[arg(long, env = "NEXGATE_REALTIME_ALLOWED_ORIGINS", default_value = "")]
    allowed_origins: String,
    #[command(flatten)]
    limits: socket::Limits,
    /// How often the sessions behind open sockets are checked against `auth.live_sessions`.
    #[arg(
        long,
        env = "NEXGATE_REALTIME_SESSION_CHECK_MS",
        default_value_t = 2_000
    )]
    session_check_ms: u64,
    /// The feed's poll when no event woke it (events lost or not sent, e.g. an erasure's).
    #[arg(long, env = "NEXGATE_REALTIME_POLL_MS", default_value_t = 1_000)]
    poll_ms: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    args.queues.check_worker(WORKER)?;
    let verifier =
        TokenVerifier::from_jwks_json(&args.jwt_public_keys, &args.jwt_issuer, &args.jwt_audience)
            .map_err(|e| anyhow::anyhow!("SPIN_VARIABLE_JWT_PUBLIC_KEYS: {e}"))?;
    let hub = Arc::new(hub::Hub::new(args.limits.clone()));
    let feed = Arc::new(
        feed::Feed::start(
            &args.db_url,
            hub.clone(),
            Duration::from_millis(args.poll_ms),
        )
        .await
        .context("the feed cannot read the database")?,
    );
    let typing = Arc::new(
        typing::Typing::new(
            &args.redis_url,
            &args.redis_key_prefix,
            &args.db_url,
            hub.clone(),
        )
        .context("redis")?,
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        "realtime: listening on ws://{}/dm/stream",
        listener.local_addr()?
    );

    tokio::spawn(feed.clone().run());
    tokio::spawn(typing.clone().listen());
    tokio::spawn(sessions::watch(
        args.db_url.clone(),
        hub.clone(),
        Duration::from_millis(args.session_check_ms.max(100)),
    ));
    let replica = uuid::Uuid::new_v4().simple().to_string();
    let (queues, waker) = (args.queues.clone(), feed.clone());
    tokio::spawn(async move { wake::run(queues, replica, waker).await });

    let gateway = Arc::new(socket::Gateway {
        verifier,
        allowed_origins: args
            .allowed_origins
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect(),
        limits: args.limits,
        hub,
        feed,
        typing,
        sessions: nexgate_native_db::Pool::new(&args.db_url, 4),
    });
    tokio::spawn(shut_down_on_signal(gateway.hub.clone()));
    let stats = gateway.hub.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            tracing::info!("realtime: {} connections", stats.connections());
        }
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(gateway.clone().serve(stream, peer));
    }
}

/// On SIGTERM or SIGINT: every socket is closed with 1001 (going away), so clients reconnect
/// (to another replica) and resync from their last token; then the process exits.
async fn shut_down_on_signal(hub: Arc<hub::Hub>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!(
        "realtime: shutting down; closing {} connections",
        hub.connections()
    );
    hub.cut_all(
        frames::close::GOING_AWAY,
        "restarting: reconnect and resync",
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::process::exit(0);
}
