//! The connections this replica holds, by user: where the feed and typing deliver frames.
//!
//! Each connection has a bounded outbound queue ([`crate::socket::Limits::outbound_frames`]); a
//! frame that does not fit cuts the connection ([`crate::frames::close::TOO_SLOW`]) instead of
//! buffering without bound: the client reconnects and resyncs from its last token, so nothing
//! is lost. Caps on connections per user and in all are checked when one registers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::frames::close;
use crate::socket::Limits;

/// Why a connection is being closed: a close code and a reason for the client.
pub type Cut = Option<(u16, String)>;

/// One registered connection, as the hub sees it.
struct Registered {
    id: u64,
    session: Uuid,
    outbound: mpsc::Sender<Arc<str>>,
    cut: watch::Sender<Cut>,
}

impl Registered {
    fn cut(&self, code: u16, reason: &str) {
        self.cut.send_if_modified(|c| {
            let first = c.is_none();
            if first {
                *c = Some((code, reason.to_string()));
            }
            first
        });
    }
}

/// What a registration gives the connection: its id, the queue the hub fills, and the signal
/// that it must close.
pub struct Registration {
    pub id: u64,
    pub outbound: mpsc::Receiver<Arc<str>>,
    /// The same queue, for answers to this connection only (`pong`, errors).
    pub replies: mpsc::Sender<Arc<str>>,
    pub cut: watch::Receiver<Cut>,
}

pub struct Hub {
    limits: Limits,
    users: Mutex<HashMap<Uuid, Vec<Registered>>>,
    total: AtomicUsize,
    next_id: AtomicU64,
}

impl Hub {
    pub fn new(limits: Limits) -> Self {
        Hub {
            limits,
            users: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<Registered>>> {
        self.users.lock().expect("hub lock")
    }

    /// Registers a connection of `user`, or says which cap refuses it.
    pub fn register(&self, user: Uuid, session: Uuid) -> Result<Registration, &'static str> {
        let mut users = self.users();
        if self.total.load(Ordering::Relaxed) >= self.limits.max_connections {
            return Err("this gateway holds as many connections as it may; try another replica");
        }
        let mine = users.entry(user).or_default();
        if mine.len() >= self.limits.max_connections_per_user {
            return Err("too many open connections for this user");
        }
        let (tx, rx) = mpsc::channel(self.limits.outbound_frames.max(1));
        let (cut_tx, cut_rx) = watch::channel(None);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        mine.push(Registered {
            id,
            session,
            outbound: tx.clone(),
            cut: cut_tx,
        });
        Ok(Registration {
            id,
            outbound: rx,
            replies: tx,
            cut: cut_rx,
        })
    }

    pub fn unregister(&self, user: Uuid, id: u64) {
        let mut users = self.users();
        if let Some(mine) = users.get_mut(&user) {
            let before = mine.len();
            mine.retain(|r| r.id != id);
            self.total.fetch_sub(before - mine.len(), Ordering::Relaxed);
            if mine.is_empty() {
                users.remove(&user);
            }
        }
    }

    /// Queues a frame to every connection of `user`; one whose queue is full is cut.
    pub fn send(&self, user: Uuid, frame: &Arc<str>) {
        let users = self.users();
        for r in users.get(&user).into_iter().flatten() {
            if r.outbound.try_send(frame.clone()).is_err() {
                r.cut(
                    close::TOO_SLOW,
                    "too slow: reconnect and resync from your last token",
                );
            }
        }
    }

    /// Whether this replica holds a connection of `user`.
    pub fn holds(&self, user: Uuid) -> bool {
        self.users().contains_key(&user)
    }

    /// The sessions behind the open connections.
    pub fn sessions(&self) -> Vec<Uuid> {
        let mut sessions: Vec<Uuid> = self.users().values().flatten().map(|r| r.session).collect();
        sessions.sort();
        sessions.dedup();
        sessions
    }

    /// Closes every connection of a session.
    pub fn cut_session(&self, session: Uuid, code: u16, reason: &str) {
        for r in self.users().values().flatten() {
            if r.session == session {
                r.cut(code, reason);
            }
        }
    }

    /// Closes one connection.
    pub fn cut(&self, user: Uuid, id: u64, code: u16, reason: &str) {
        for r in self.users().get(&user).into_iter().flatten() {
            if r.id == id {
                r.cut(code, reason);
            }
        }
    }

    /// Closes every connection (shutdown).
    pub fn cut_all(&self, code: u16, reason: &str) {
        for r in self.users().values().flatten() {
            r.cut(code, reason);
        }
    }

    pub fn connections(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}
