//! Sessions behind open sockets are checked against `auth.live_sessions` every few seconds: a
//! logout, a revocation or a password change closes the session's sockets
//! ([`crate::frames::close::UNAUTHENTICATED`], reason `session_revoked`).

use std::sync::Arc;
use std::time::Duration;

use nexgate_native_db::Db;
use uuid::Uuid;

use crate::frames::close;
use crate::hub::Hub;

const LIVE_SQL: &str = "SELECT session_id FROM auth.live_sessions WHERE session_id = ANY($1)";

pub async fn watch(db_url: String, hub: Arc<Hub>, every: Duration) {
    let mut db = Db::new(&db_url);
    loop {
        tokio::time::sleep(every).await;
        let open = hub.sessions();
        if open.is_empty() {
            continue;
        }
        match db.query_or_reset(LIVE_SQL, &[&open]).await {
            Ok(rows) => {
                let live: std::collections::HashSet<Uuid> =
                    rows.iter().map(|r| r.get("session_id")).collect();
                for session in open.iter().filter(|s| !live.contains(s)) {
                    hub.cut_session(*session, close::UNAUTHENTICATED, "session_revoked");
                }
            }
            Err(e) => {
                tracing::warn!("realtime: cannot check sessions ({e:#}); retrying");
            }
        }
    }
}

/// Whether `session` of `user` is live now (at authentication).
pub async fn is_live(db: &mut Db, session: Uuid, user: Uuid) -> anyhow::Result<bool> {
    let rows = db
        .query_or_reset(
            "SELECT 1 FROM auth.live_sessions WHERE session_id = $1 AND user_id = $2",
            &[&session, &user],
        )
        .await?;
    Ok(!rows.is_empty())
}
