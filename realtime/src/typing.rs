//! Typing indicators: never stored, never on the outbox. A client's `typing` frame is checked
//! (an active member of the conversation) and published on the Redis channel
//! `<redis_key_prefix>dm:typing`, which every replica subscribes to; each delivers a `typing`
//! frame to the conversation's other active members it holds a socket for, unless a block
//! stands between them and the typist. A client repeats the frame while typing; the indicator
//! lapses [`EXPIRES_IN_MS`] after the last one.

use std::sync::Arc;

use anyhow::Result;
use futures::StreamExt;
use nexgate_native_db::Pool;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::frames;
use crate::hub::Hub;

/// How long an indicator lasts without a new `typing` frame.
pub const EXPIRES_IN_MS: u64 = 6_000;

const MEMBER_SQL: &str = "SELECT 1 FROM dm.members
     WHERE conversation_id = $1 AND user_id = $2 AND state = 'active'";
const AUDIENCE_SQL: &str = "SELECT m.user_id FROM dm.members m
     WHERE m.conversation_id = $1 AND m.state = 'active' AND m.user_id <> $2
       AND NOT profiles.blocked_either_way(m.user_id, $2)";

#[derive(Serialize, Deserialize)]
struct Typed {
    conversation_id: Uuid,
    user_id: Uuid,
}

pub struct Typing {
    client: redis::Client,
    channel: String,
    db: Pool,
    hub: Arc<Hub>,
    publisher: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl Typing {
    pub fn new(redis_url: &str, key_prefix: &str, db_url: &str, hub: Arc<Hub>) -> Result<Self> {
        Ok(Typing {
            client: redis::Client::open(redis_url)?,
            channel: format!("{key_prefix}dm:typing"),
            db: Pool::new(db_url, 4),
            hub,
            publisher: Mutex::new(None),
        })
    }

    /// `user` is typing in `conversation`: false when they are not an active member of it.
    pub async fn publish(&self, user: Uuid, conversation: Uuid) -> Result<bool> {
        let member = self
            .db
            .get()
            .await
            .query_or_reset(MEMBER_SQL, &[&conversation, &user])
            .await?;
        if member.is_empty() {
            return Ok(false);
        }
        let payload = serde_json::to_string(&Typed {
            conversation_id: conversation,
            user_id: user,
        })?;
        let mut publisher = self.publisher.lock().await;
        if publisher.is_none() {
            *publisher = Some(self.client.get_multiplexed_async_connection().await?);
        }
        let conn = publisher.as_mut().expect("opened above");
        let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query_async(conn)
            .await;
        if let Err(e) = published {
            *publisher = None;
            return Err(e.into());
        }
        Ok(true)
    }

    /// Delivers what every replica publishes, reconnecting after Redis restarts.
    pub async fn listen(self: Arc<Self>) {
        nexgate_bus::supervise::run_forever("realtime typing", || {
            let typing = self.clone();
            async move {
                let mut pubsub = typing.client.get_async_pubsub().await?;
                pubsub.subscribe(&typing.channel).await?;
                tracing::info!("realtime typing: ready, subscribed to {}", typing.channel);
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let Ok(payload) = message.get_payload::<String>() else {
                        continue;
                    };
                    if let Ok(typed) = serde_json::from_str::<Typed>(&payload) {
                        if let Err(e) = typing.deliver(&typed).await {
                            tracing::warn!("realtime typing: cannot deliver ({e:#})");
                        }
                    }
                }
                Ok(())
            }
        })
        .await;
    }

    async fn deliver(&self, typed: &Typed) -> Result<()> {
        let rows = self
            .db
            .get()
            .await
            .query_or_reset(AUDIENCE_SQL, &[&typed.conversation_id, &typed.user_id])
            .await?;
        let frame: Arc<str> =
            frames::typing(typed.conversation_id, typed.user_id, EXPIRES_IN_MS).into();
        for row in rows {
            let member: Uuid = row.get("user_id");
            if self.hub.holds(member) {
                self.hub.send(member, &frame);
            }
        }
        Ok(())
    }
}
