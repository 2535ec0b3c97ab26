//! One WebSocket connection, from handshake to close (docs/dm.md, "Real-time gateway").
//!
//! 1. Handshake: only `GET /dm/stream`; an `Origin` header must be one of the allowed origins (a
//!    request without one is a native app); a URL that carries a token is refused, so tokens never
//!    reach a log. Frames above [`Limits::max_frame_bytes`] end the connection.
//! 2. The first frame must be `auth` within [`Limits::auth_timeout_ms`]: the access token is
//!    verified (signature, issuer, audience, expiry) and its session must be live.
//! 3. The connection registers with the feed (caps per user and in all). The writer sends what
//!    was missed since the client's `since` token, then `ready`, then whatever the hub queues;
//!    it pings every [`Limits::heartbeat_ms`]. The reader handles `typing`, `ping` and a fresh
//!    `auth` (the same user and session; it moves the expiry), limits the frame rate, and closes
//!    a connection silent for [`Limits::idle_timeout_ms`] or whose token expired.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use nexgate_authn::jwt::{AccessClaims, TokenError, TokenVerifier};
use nexgate_native_db::Pool;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use uuid::Uuid;

use crate::feed::Feed;
use crate::frames::{self, close, ClientFrame};
use crate::hub::{Cut, Hub};
use crate::typing::Typing;

/// The path clients connect to.
pub const PATH: &str = "/dm/stream";

/// Caps and timeouts of connections.
#[derive(clap::Args, Clone, Debug)]
pub struct Limits {
    /// Connections this replica holds at most.
    #[arg(
        long,
        env = "NEXGATE_REALTIME_MAX_CONNECTIONS",
        default_value_t = 20_000
    )]
    pub max_connections: usize,
    /// Connections one user holds at most (devices, tabs).
    #[arg(
        long,
        env = "NEXGATE_REALTIME_MAX_CONNECTIONS_PER_USER",
        default_value_t = 5
    )]
    pub max_connections_per_user: usize,
    /// Largest frame (and message) a client may send, in bytes.
    #[arg(
        long,
        env = "NEXGATE_REALTIME_MAX_FRAME_BYTES",
        default_value_t = 4_096
    )]
    pub max_frame_bytes: usize,
    /// Frames a client may send per second (twice that in a burst).
    #[arg(long, env = "NEXGATE_REALTIME_FRAMES_PER_SECOND", default_value_t = 10)]
    pub frames_per_second: u32,
    /// Frames queued for a connection before it counts as too slow and is cut.
    #[arg(long, env = "NEXGATE_REALTIME_OUTBOUND_FRAMES", default_value_t = 256)]
    pub outbound_frames: usize,
    #[arg(
        long,
        env = "NEXGATE_REALTIME_AUTH_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub auth_timeout_ms: u64,
    #[arg(long, env = "NEXGATE_REALTIME_HEARTBEAT_MS", default_value_t = 20_000)]
    pub heartbeat_ms: u64,
    /// A connection that sent nothing (not even a pong) for this long is closed.
    #[arg(
        long,
        env = "NEXGATE_REALTIME_IDLE_TIMEOUT_MS",
        default_value_t = 60_000
    )]
    pub idle_timeout_ms: u64,
    /// A write that takes longer cuts the connection.
    #[arg(
        long,
        env = "NEXGATE_REALTIME_WRITE_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub write_timeout_ms: u64,
}

pub struct Gateway {
    pub verifier: TokenVerifier,
    pub allowed_origins: Vec<String>,
    pub limits: Limits,
    pub hub: Arc<Hub>,
    pub feed: Arc<Feed>,
    pub typing: Arc<Typing>,
    pub sessions: Pool,
}

type Ws = WebSocketStream<TcpStream>;

/// An authenticated connection, as its reader sees it.
struct Session {
    user: Uuid,
    session: Uuid,
    id: u64,
    expires: Instant,
    replies: mpsc::Sender<Arc<str>>,
}

impl Gateway {
    // The handshake callback's types are tungstenite's (`Callback`), large error and all.
    #[allow(clippy::result_large_err)]
    pub async fn serve(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        // Small buffers: an idle connection should cost a few KiB, not tungstenite's default
        // 128 KiB read buffer (10,000 connections would need 1.3 GB for that alone). Writes go out
        // at once; the outbound queue, not the socket buffer, absorbs bursts.
        let config = WebSocketConfig::default()
            .read_buffer_size(4_096)
            .write_buffer_size(0)
            .max_write_buffer_size(256 * 1024)
            .max_message_size(Some(self.limits.max_frame_bytes))
            .max_frame_size(Some(self.limits.max_frame_bytes));
        let auth_timeout = Duration::from_millis(self.limits.auth_timeout_ms);
        let gateway = self.clone();
        let handshake = tokio_tungstenite::accept_hdr_async_with_config(
            stream,
            move |req: &Request, resp: Response| gateway.check_handshake(req, resp),
            Some(config),
        );
        let ws = match timeout(auth_timeout, handshake).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                tracing::debug!("realtime: handshake from {peer} refused: {e}");
                return;
            }
            Err(_) => return,
        };
        self.run(ws).await;
    }

    #[allow(clippy::result_large_err)]
    fn check_handshake(&self, req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
        let refuse = |status: u16, why: &str| {
            let mut r = ErrorResponse::new(Some(why.to_string()));
            *r.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::from_u16(status)
                .expect("a valid status");
            r
        };
        if req.uri().path() != PATH {
            return Err(refuse(404, "the real-time stream is /dm/stream"));
        }
        if req
            .uri()
            .query()
            .is_some_and(|q| q.to_ascii_lowercase().contains("token"))
        {
            return Err(refuse(
                400,
                "send the access token in the first frame, never in the URL",
            ));
        }
        if let Some(origin) = req.headers().get("origin") {
            let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
            if !self.allowed_origins.iter().any(|o| o == origin) {
                return Err(refuse(403, "this Origin may not open the stream"));
            }
        }
        Ok(resp)
    }

    async fn run(self: Arc<Self>, mut ws: Ws) {
        let auth_timeout = Duration::from_millis(self.limits.auth_timeout_ms);
        let (token, since) = match timeout(auth_timeout, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => match ClientFrame::parse(&text) {
                Ok(ClientFrame::Auth { token, since }) => (token, since),
                Ok(_) => return refuse(ws, close::BAD_FRAME, "send an auth frame first").await,
                Err(why) => return refuse(ws, close::BAD_FRAME, &why).await,
            },
            Ok(Some(Ok(_))) => {
                return refuse(ws, close::BAD_FRAME, "send an auth frame first").await;
            }
            Ok(_) => return,
            Err(_) => return refuse(ws, close::TIMEOUT, "no auth frame in time").await,
        };
        if since
            .as_deref()
            .is_some_and(|s| !nexgate_dm::changes::is_token(s))
        {
            return refuse(ws, close::BAD_FRAME, "since: not a token the sync gave").await;
        }
        let claims = match self.authenticate(&token).await {
            Ok(claims) => claims,
            Err(why) => return refuse(ws, close::UNAUTHENTICATED, why).await,
        };
        let (registration, start) = match self.feed.register(claims.sub, claims.sid).await {
            Ok(registered) => registered,
            Err(why) => return refuse(ws, close::LIMITED, why).await,
        };
        let (sink, source) = ws.split();
        let writer = tokio::spawn(write(
            sink,
            registration.outbound,
            registration.cut.clone(),
            self.clone(),
            (claims.sub, registration.id),
            since,
            start,
        ));
        let mut session = Session {
            user: claims.sub,
            session: claims.sid,
            id: registration.id,
            expires: expiry(claims.exp),
            replies: registration.replies,
        };
        self.read(source, &mut session, registration.cut).await;
        self.hub.cut(session.user, session.id, 1000, "closed");
        self.hub.unregister(session.user, session.id);
        let _ = writer.await;
    }

    /// A verified token whose session is live, or why not.
    async fn authenticate(&self, token: &str) -> Result<AccessClaims, &'static str> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let claims = self.verifier.verify(token, now).map_err(|e| match e {
            TokenError::Expired => "token_expired",
            _ => "token_invalid",
        })?;
        let mut db = self.sessions.get().await;
        match crate::sessions::is_live(&mut db, claims.sid, claims.sub).await {
            Ok(true) => Ok(claims),
            Ok(false) => Err("session_revoked"),
            Err(e) => {
                tracing::warn!("realtime: cannot check a session ({e:#})");
                Err("session_unverifiable")
            }
        }
    }

    /// Reads the client's frames until it leaves, goes silent, is cut or its token expires.
    async fn read(
        &self,
        mut source: futures::stream::SplitStream<Ws>,
        session: &mut Session,
        mut cut: watch::Receiver<Cut>,
    ) {
        let idle = Duration::from_millis(self.limits.idle_timeout_ms);
        let mut last_heard = Instant::now();
        let mut rate = RateLimit::new(self.limits.frames_per_second);
        let mut typed: std::collections::HashMap<Uuid, Instant> = Default::default();
        loop {
            let frame = tokio::select! {
                frame = source.next() => frame,
                _ = cut.changed() => return,
                _ = sleep_until(last_heard + idle) => {
                    return self.cut(session, close::TIMEOUT, "idle: nothing heard");
                }
                _ = sleep_until(session.expires) => {
                    return self.cut(session, close::UNAUTHENTICATED, "token_expired");
                }
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Binary(_))) => {
                    return self.cut(session, close::BAD_FRAME, "frames are JSON text");
                }
                Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(_))) => {
                    return self.cut(session, close::TOO_BIG, "frame too large");
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {
                    last_heard = Instant::now();
                    continue;
                }
            };
            last_heard = Instant::now();
            if !rate.allow() {
                return self.cut(session, close::LIMITED, "frames too fast");
            }
            let handled = match ClientFrame::parse(&text) {
                Ok(frame) => self.handle(session, frame, &mut typed).await,
                Err(why) => Err((close::BAD_FRAME, why)),
            };
            if let Err((code, why)) = handled {
                return self.cut(session, code, &why);
            }
        }
    }

    async fn handle(
        &self,
        session: &mut Session,
        frame: ClientFrame,
        typed: &mut std::collections::HashMap<Uuid, Instant>,
    ) -> Result<(), (u16, String)> {
        match frame {
            ClientFrame::Ping => self.reply(session, frames::pong()),
            ClientFrame::Auth { token, .. } => {
                let claims = self
                    .authenticate(&token)
                    .await
                    .map_err(|why| (close::UNAUTHENTICATED, why.to_string()))?;
                if claims.sub != session.user || claims.sid != session.session {
                    return Err((
                        close::UNAUTHENTICATED,
                        "a fresh token must be of the same session".into(),
                    ));
                }
                session.expires = expiry(claims.exp);
                Ok(())
            }
            ClientFrame::Typing { conversation_id } => {
                // One publish per conversation every two seconds is enough for a 6 s indicator.
                let now = Instant::now();
                if typed
                    .get(&conversation_id)
                    .is_some_and(|at| now.duration_since(*at) < Duration::from_secs(2))
                {
                    return Ok(());
                }
                typed.insert(conversation_id, now);
                match self.typing.publish(session.user, conversation_id).await {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        self.reply(session, frames::error("not_found", "no such conversation"))
                    }
                    Err(e) => {
                        tracing::warn!("realtime: typing not published ({e:#})");
                        Ok(())
                    }
                }
            }
        }
    }

    /// Queues a frame to this connection only.
    fn reply(&self, session: &Session, frame: String) -> Result<(), (u16, String)> {
        session
            .replies
            .try_send(frame.into())
            .map_err(|_| (close::TOO_SLOW, "too slow".to_string()))
    }

    fn cut(&self, session: &Session, code: u16, why: &str) {
        self.hub.cut(session.user, session.id, code, why);
    }
}

/// The instant a token's `exp` (Unix seconds) falls at.
fn expiry(exp: i64) -> Instant {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Instant::now() + Duration::from_secs(exp.saturating_sub(now).max(0) as u64)
}

/// Closes a connection that never registered.
async fn refuse(mut ws: Ws, code: u16, why: &str) {
    let _ = timeout(
        Duration::from_secs(2),
        ws.close(Some(close_frame(code, why))),
    )
    .await;
}

fn close_frame(code: u16, why: &str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: why.into(),
    }
}

/// The writer: what was missed, `ready`, then the queue; pings; the close when cut.
async fn write(
    mut sink: futures::stream::SplitSink<Ws, Message>,
    mut outbound: mpsc::Receiver<Arc<str>>,
    mut cut: watch::Receiver<Cut>,
    gateway: Arc<Gateway>,
    (user, id): (Uuid, u64),
    since: Option<String>,
    start: String,
) {
    let limits = &gateway.limits;
    let write_timeout = Duration::from_millis(limits.write_timeout_ms);
    let mut first = Vec::new();
    if let Some(since) = since {
        match gateway.feed.catch_up(user, &since, &start).await {
            Ok(frames) => first = frames,
            Err(e) => {
                tracing::warn!("realtime: catch-up failed ({e:#})");
                let frame = close_frame(1011, "cannot catch up now; reconnect");
                let _ = timeout(write_timeout, sink.send(Message::Close(Some(frame)))).await;
                return;
            }
        }
    }
    first.push(frames::ready(&start));
    let mut told = start.clone();
    for frame in first {
        if !matches!(
            timeout(write_timeout, sink.send(Message::text(frame))).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
    let mut heartbeat = tokio::time::interval(Duration::from_millis(limits.heartbeat_ms.max(100)));
    heartbeat.tick().await;
    loop {
        let message = tokio::select! {
            biased;
            _ = cut.changed() => {
                let (code, why) = cut.borrow().clone().unwrap_or((1000, String::new()));
                let _ = timeout(write_timeout, sink.send(Message::Close(Some(close_frame(code, &why))))).await;
                return;
            }
            frame = outbound.recv() => match frame {
                Some(frame) => Message::text(frame.to_string()),
                None => return,
            },
            _ = heartbeat.tick() => {
                // A ping, and the token when it moved: read first, then the queue found empty
                // means every change below it was sent (each connection on its own timer, so
                // 10,000 of them never wake at once).
                let token = gateway.feed.delivered();
                if outbound.is_empty() && token != told {
                    let frame = frames::token(&token);
                    told = token;
                    if !matches!(timeout(write_timeout, sink.send(Message::text(frame))).await, Ok(Ok(()))) {
                        return;
                    }
                }
                Message::Ping(Vec::new().into())
            }
        };
        match timeout(write_timeout, sink.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                gateway.hub.cut(user, id, close::TOO_SLOW, "too slow");
                return;
            }
        }
    }
}

/// A token bucket over the frames a client sends.
struct RateLimit {
    per_second: f64,
    allowance: f64,
    at: Instant,
}

impl RateLimit {
    fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        RateLimit {
            per_second,
            allowance: per_second * 2.0,
            at: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.per_second;
        self.allowance = (self.allowance + refill).min(self.per_second * 2.0);
        self.at = now;
        if self.allowance >= 1.0 {
            self.allowance -= 1.0;
            true
        } else {
            false
        }
    }
}
