//! The feed: what changed, for every member this replica holds a socket for.
//!
//! One cursor (`token`, a transaction-id boundary like `GET /dm/sync`'s) runs over `dm.changes`.
//! A pull reads the changes in `[token, boundary)` as every member of their conversations sees
//! them (the shared query, `nexgate_dm::changes`), queues to each connected viewer one
//! `changes` frame carrying the new token, and moves the cursor. Pulls are serialized; a DM event
//! ([`Feed::wake`]) starts one at once, a poll catches whatever no event announced.
//!
//! A change is visible to a pull only once every older transaction has ended (the boundary is
//! the snapshot's `xmin`). So after a wake the feed notes the snapshot's `xmax` (every change
//! committed before the wake is below it) and pulls again, at growing intervals from 2 ms,
//! until the boundary has passed it.
//!
//! A connection registers under the feed's lock at the cursor `G`: live frames cover `[G, ...)`,
//! and what it missed (`[since, G)`) is read by [`Feed::catch_up`] and sent first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::Result;
use nexgate_dm::changes::{changes_sql, BOUNDARY_SQL};
use nexgate_native_db::{Db, Pool};
use serde_json::Value;
use tokio::sync::{Mutex, Notify};
use uuid::Uuid;

use crate::frames;
use crate::hub::{Hub, Registration};

/// Changes per pull; more are read by the next pull at once.
const PULL_MAX: i64 = 5_000;
/// Changes per catch-up frame.
const CATCH_UP_PAGE: i64 = 500;

static PULL_SQL: LazyLock<String> =
    LazyLock::new(|| changes_sql("m.user_id", "$1::text", "$2::text", "$3"));
static CATCH_UP_SQL: LazyLock<String> =
    LazyLock::new(|| changes_sql("$1", "$2::text", "$3::text", "$4"));
const SNAPSHOT_SQL: &str =
    "SELECT pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax
     FROM pg_current_snapshot() s";

pub struct Feed {
    hub: Arc<Hub>,
    poll: Duration,
    /// The cursor, locked for a whole pull (and by a registration).
    cursor: Mutex<Cursor>,
    woken: Notify,
    hinted: AtomicBool,
    /// The cursor once a pull's frames are all queued: whoever reads it and then finds a
    /// connection's queue empty knows that connection has been sent everything below it.
    delivered: std::sync::Mutex<String>,
    catch_ups: Pool,
}

struct Cursor {
    db: Db,
    token: String,
    /// The `xmax` the boundary must pass before the feed stops pulling quickly.
    target: u64,
    quick: Duration,
}

impl Feed {
    /// A feed whose cursor starts now.
    pub async fn start(db_url: &str, hub: Arc<Hub>, poll: Duration) -> Result<Self> {
        let mut db = Db::new(db_url);
        let token: String = db.query(BOUNDARY_SQL, &[]).await?[0].get("b");
        Ok(Feed {
            hub,
            poll,
            cursor: Mutex::new(Cursor {
                db,
                token: token.clone(),
                target: 0,
                quick: Duration::ZERO,
            }),
            woken: Notify::new(),
            hinted: AtomicBool::new(false),
            delivered: std::sync::Mutex::new(token.clone()),
            catch_ups: Pool::new(db_url, 4),
        })
    }

    /// The cursor below which every change has been queued to every connection.
    pub fn delivered(&self) -> String {
        self.delivered.lock().expect("token lock").clone()
    }

    /// A DM event arrived: pull now.
    pub fn wake(&self) {
        self.hinted.store(true, Ordering::Release);
        self.woken.notify_one();
    }

    /// Pulls forever: when woken, quickly while a woken change may still be invisible, else at
    /// the poll interval. A database error is logged and retried.
    pub async fn run(self: Arc<Self>) {
        loop {
            let wait = {
                let c = self.cursor.lock().await;
                if c.quick.is_zero() {
                    self.poll
                } else {
                    c.quick
                }
            };
            let _ = tokio::time::timeout(wait, self.woken.notified()).await;
            if let Err(e) = self.pull().await {
                tracing::warn!("realtime feed: pull failed ({e:#}); retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    async fn pull(&self) -> Result<()> {
        let mut c = self.cursor.lock().await;
        self.pull_locked(&mut c).await
    }

    async fn pull_locked(&self, c: &mut Cursor) -> Result<()> {
        loop {
            let hinted = self.hinted.swap(false, Ordering::AcqRel);
            let snapshot = c.db.query_or_reset(SNAPSHOT_SQL, &[]).await?;
            let boundary: String = snapshot[0].get("xmin");
            let xmax: String = snapshot[0].get("xmax");
            if hinted {
                c.target = c.target.max(xid(&xmax));
            }
            let full = if boundary == c.token {
                false
            } else {
                self.pull_range(c, boundary.clone()).await?
            };
            c.quick = if c.target > xid(&c.token) {
                (c.quick * 2).clamp(Duration::from_millis(2), Duration::from_millis(200))
            } else {
                c.target = 0;
                Duration::ZERO
            };
            if !full {
                return Ok(());
            }
        }
    }

    /// Reads `[cursor, boundary)` (at most [`PULL_MAX`]), delivers it, moves the cursor; answers
    /// whether more is waiting.
    async fn pull_range(&self, c: &mut Cursor, boundary: String) -> Result<bool> {
        let rows =
            c.db.query_or_reset(PULL_SQL.as_str(), &[&c.token, &boundary, &(PULL_MAX + 1)])
                .await?;
        let full = rows.len() as i64 > PULL_MAX;
        let next: String = if full {
            rows[PULL_MAX as usize].get("txid")
        } else {
            boundary
        };
        let mut by_viewer: HashMap<Uuid, Vec<Value>> = HashMap::new();
        for row in rows.iter().take(PULL_MAX as usize) {
            let viewer: Uuid = row.get("viewer");
            if self.hub.holds(viewer) {
                by_viewer.entry(viewer).or_default().push(row.get("change"));
            }
        }
        for (viewer, changes) in by_viewer {
            let frame: Arc<str> = frames::changes(&changes, &next).into();
            self.hub.send(viewer, &frame);
        }
        *self.delivered.lock().expect("token lock") = next.clone();
        c.token = next;
        Ok(full)
    }

    /// Registers a connection at the cursor (so no pull runs meanwhile), after bringing the
    /// cursor up to now (so `ready` means caught up with everything committed before it): answers
    /// the registration and the cursor, below which the connection must catch up itself.
    pub async fn register(
        &self,
        user: Uuid,
        session: Uuid,
    ) -> Result<(Registration, String), &'static str> {
        let mut c = self.cursor.lock().await;
        if let Err(e) = self.pull_locked(&mut c).await {
            // Not fatal: the connection starts at the cursor as it is, and the next pull goes on.
            tracing::warn!("realtime feed: pull before a registration failed ({e:#})");
        }
        let registration = self.hub.register(user, session)?;
        Ok((registration, c.token.clone()))
    }

    /// The `changes` frames of what `user` missed in `[since, until)`, page by page.
    pub async fn catch_up(&self, user: Uuid, since: &str, until: &str) -> Result<Vec<String>> {
        let mut db = self.catch_ups.get().await;
        let mut frames = Vec::new();
        let mut from = since.to_string();
        let mut limit = CATCH_UP_PAGE;
        while xid(&from) < xid(until) {
            let rows = db
                .query_or_reset(CATCH_UP_SQL.as_str(), &[&user, &from, &until, &(limit + 1)])
                .await?;
            let more = rows.len() as i64 > limit;
            let next: String = if more {
                rows[limit as usize].get("txid")
            } else {
                until.to_string()
            };
            if next == from {
                // One transaction holds more than a page for this user: read it whole.
                limit = i64::MAX - 1;
                continue;
            }
            let changes: Vec<Value> = rows
                .iter()
                .take(limit as usize)
                .map(|r| r.get("change"))
                .collect();
            if !changes.is_empty() {
                frames.push(frames::changes(&changes, &next));
            }
            from = next;
            limit = CATCH_UP_PAGE;
        }
        Ok(frames)
    }
}

/// A transaction id from its text (0 when unreadable).
pub fn xid(text: &str) -> u64 {
    text.parse().unwrap_or(0)
}
