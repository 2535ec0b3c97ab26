//! The real-time gateway in tests (docs/dm.md, "Real-time gateway"): start `nexgate-realtime` for
//! an app, and connect to it as a user would (a WebSocket, the access token in the first frame).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{binary, TestApp, Worker};

pub fn realtime_bin() -> std::path::PathBuf {
    binary("nexgate-realtime", "NEXGATE_REALTIME_BIN")
}

/// A running gateway of one app.
pub struct Gateway {
    pub worker: Worker,
    pub port: u16,
}

impl Gateway {
    /// `ws://127.0.0.1:<port>/dm/stream`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/dm/stream", self.port)
    }
}

impl TestApp {
    /// Starts the app's gateway on a free port and waits until it accepts connections.
    pub async fn realtime(&self) -> Gateway {
        self.realtime_with(&[]).await
    }

    /// [`TestApp::realtime`] with extra environment (caps, timeouts), on `port` if given.
    pub async fn realtime_with(&self, extra: &[(&str, &str)]) -> Gateway {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        self.realtime_on(port, extra).await
    }

    /// Starts the gateway on `port` (a restart keeps its address).
    pub async fn realtime_on(&self, port: u16, extra: &[(&str, &str)]) -> Gateway {
        let public = self.jwt_signer().public_jwk();
        let mut env = vec![
            (
                "NEXGATE_REALTIME_LISTEN".to_string(),
                format!("127.0.0.1:{port}"),
            ),
            (
                "NEXGATE_REALTIME_DB_URL".to_string(),
                self.env.db_url("nexgate_realtime", &self.db.name),
            ),
            (
                "NEXGATE_AMQP_URL".to_string(),
                self.env.amqp_url("nexgate-realtime"),
            ),
            (
                "SPIN_VARIABLE_EVENT_TOPIC_PREFIX".to_string(),
                self.prefix.clone(),
            ),
            (
                "SPIN_VARIABLE_REDIS_URL".to_string(),
                format!("redis://127.0.0.1:{}", self.env.get("REDIS_PORT")),
            ),
            (
                "SPIN_VARIABLE_REDIS_KEY_PREFIX".to_string(),
                format!("{}:", self.prefix),
            ),
            (
                "SPIN_VARIABLE_JWT_PUBLIC_KEYS".to_string(),
                json!({ "keys": [public] }).to_string(),
            ),
            (
                "NEXGATE_REALTIME_ALLOWED_ORIGINS".to_string(),
                "https://app.nexgate.test".to_string(),
            ),
            (
                "NEXGATE_REALTIME_SESSION_CHECK_MS".to_string(),
                "500".to_string(),
            ),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let worker =
            Worker::start_program(&realtime_bin(), "realtime", &[], &env).expect("realtime start");
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Gateway { worker, port }
    }
}

/// What the gateway sent: a frame, or the close (code, reason).
#[derive(Debug, Clone)]
pub enum Received {
    Frame(Value),
    Closed(u16, String),
}

/// A client connection.
pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The last token the gateway gave (`changes`, `ready`, `token` frames).
    pub token: Option<String>,
}

impl Socket {
    /// Opens the WebSocket (no frame sent yet), with `origin` if given.
    pub async fn connect(url: &str, origin: Option<&str>) -> Result<Socket, String> {
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().expect("an origin header"));
        }
        // Small buffers, so that a benchmark's 10,000 clients fit in memory.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(4_096)
            .write_buffer_size(0);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Socket { ws, token: None })
    }

    /// Connects and authenticates with `access_token` (from `since` if given); answers the
    /// `changes` frames received before `ready`.
    pub async fn open(url: &str, access_token: &str, since: Option<&str>) -> (Socket, Vec<Value>) {
        let mut socket = Socket::connect(url, None).await.expect("connect");
        let mut auth = json!({"type": "auth", "token": access_token});
        if let Some(since) = since {
            auth["since"] = json!(since);
        }
        socket.send(&auth).await;
        let mut missed = Vec::new();
        loop {
            match socket.receive(Duration::from_secs(10)).await {
                Some(Received::Frame(f)) if f["type"] == "ready" => return (socket, missed),
                Some(Received::Frame(f)) if f["type"] == "changes" => {
                    missed.extend(f["changes"].as_array().cloned().unwrap_or_default())
                }
                other => panic!("expected ready, got {other:?}"),
            }
        }
    }

    pub async fn send(&mut self, frame: &Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send a frame");
    }

    pub async fn send_raw(&mut self, message: Message) -> Result<(), String> {
        self.ws.send(message).await.map_err(|e| e.to_string())
    }

    /// The next frame or the close, within `within` (None: nothing came).
    pub async fn receive(&mut self, within: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).expect("JSON frames");
                    if let Some(t) = frame["token"].as_str() {
                        self.token = Some(t.to_string());
                    }
                    return Some(Received::Frame(frame));
                }
                Some(Ok(Message::Close(close))) => {
                    return Some(match close {
                        Some(c) => Received::Closed(u16::from(c.code), c.reason.to_string()),
                        None => Received::Closed(1005, String::new()),
                    })
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Some(Received::Closed(1006, e.to_string())),
                None => return Some(Received::Closed(1006, "ended".into())),
            }
        }
    }

    /// The changes received within `within` until `done` says they are enough (token frames are
    /// skipped); panics on a close.
    pub async fn changes_until(
        &mut self,
        within: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        while !done(&seen) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.receive(left).await {
                Some(Received::Frame(f)) if f["type"] == "changes" => {
                    seen.extend(f["changes"].as_array().cloned().unwrap_or_default())
                }
                Some(Received::Frame(_)) => {}
                Some(Received::Closed(code, why)) => panic!("closed {code} {why}; had {seen:?}"),
                None => panic!("timed out; had {seen:?}"),
            }
        }
        seen
    }

    /// Waits for the close (frames before it are skipped): (code, reason).
    pub async fn closed_within(&mut self, within: Duration) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.receive(left).await? {
                Received::Closed(code, why) => return Some((code, why)),
                Received::Frame(_) => continue,
            }
        }
    }
}
