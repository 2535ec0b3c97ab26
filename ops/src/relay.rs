//! `nexgate-ops relay`: republishes outbox rows that were never marked published.
//!
//! A component publishes its events right after commit and marks the rows; if it died in between,
//! the rows stay unmarked. Every `interval`, the relay takes rows older than `stale_after` from each
//! schema's outbox (`FOR UPDATE SKIP LOCKED`, so several relays can run), publishes each to
//! `amq.topic` with the routing key RabbitMQ's MQTT plugin would use, waits for the broker's confirm,
//! then marks the row (or deletes it when it carries a one-time secret). At least once: a crash
//! between confirm and mark republishes, and consumers dedupe on the event id. A broker or
//! database restart ends the session; the relay reconnects with backoff and carries on.
//!
//! It also listens on `nexgate_outbox` ([`nexgate_events::outbox::RELAY_CHANNEL`]): a hot path that
//! leaves its events to the relay *now* (`Outbox::leave_to_relay_now`) sends
//! `<schema>:<id>,<id>...` in its transaction, and the relay publishes exactly those rows the moment
//! they commit, over its one AMQP channel, instead of the component opening an MQTT connection.

use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use lapin::types::FieldTable;
use tokio_postgres::{AsyncMessage, NoTls, Row, Transaction};

use nexgate_bus as bus;

/// Rows taken per schema per pass; bounds one transaction's lock set.
pub const BATCH_ROWS_MAX: i64 = 200;

/// Settings of one relay.
pub struct RelaySettings {
    pub database_url: String,
    pub amqp_url: String,
    pub interval: Duration,
    pub stale_after: Duration,
}

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub republished: usize,
    /// Some schema had more due rows than one pass takes: the next pass starts at once.
    pub full: bool,
}

/// Consecutive failed passes after which the relay reconnects even though both connections
/// still look open.
const FAILED_PASSES_BEFORE_RECONNECT: u32 = 3;

/// Runs passes forever, reconnecting to RabbitMQ and Postgres after either drops (a restart).
pub async fn run(settings: RelaySettings) -> Result<()> {
    tracing::info!(
        "relay: republishing outbox rows older than {:?}, every {:?}",
        settings.stale_after,
        settings.interval
    );
    bus::supervise::run_forever("relay", || session(&settings)).await;
    Ok(())
}

/// Connects to both stores and runs passes until one of them is lost; between passes, publishes
/// the rows that notices name.
async fn session(settings: &RelaySettings) -> Result<()> {
    let (_conn, channel) = bus::connect(&settings.amqp_url).await?;
    let (mut client, mut conn) = tokio_postgres::connect(&settings.database_url, NoTls)
        .await
        .context("relay: cannot connect to PostgreSQL")?;
    let (notices_tx, mut notices) = tokio::sync::mpsc::unbounded_channel::<String>();
    let db_task = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    let _ = notices_tx.send(n.payload().to_string());
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("relay: database connection ended: {e}");
                    break;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {}", nexgate_events::outbox::RELAY_CHANNEL))
        .await?;
    tracing::info!("relay: ready");
    let mut failed = 0;
    let mut pass_now = true;
    let lost = loop {
        let step = if pass_now {
            pass(&mut client, &channel, settings.stale_after).await
        } else {
            tokio::select! {
                _ = tokio::time::sleep(settings.interval) => {
                    pass(&mut client, &channel, settings.stale_after).await
                }
                notice = notices.recv() => {
                    let Some(first) = notice else {
                        break anyhow::anyhow!("the database connection ended");
                    };
                    let mut batch = vec![first];
                    while let Ok(more) = notices.try_recv() {
                        batch.push(more);
                    }
                    publish_noticed(&mut client, &channel, &batch).await
                }
            }
        };
        match step {
            Ok(r) => {
                failed = 0;
                pass_now = r.full;
            }
            Err(e) => {
                failed += 1;
                pass_now = false;
                let gone = client.is_closed() || !channel.status().connected();
                if gone || failed >= FAILED_PASSES_BEFORE_RECONNECT {
                    break e;
                }
                tracing::warn!("relay pass failed: {e:#}");
            }
        }
    };
    db_task.abort();
    Err(lost.context("relay pass"))
}

/// Publishes the rows notices name (`<schema>:<id>,<id>...`), if still unpublished and not
/// being published by a pass.
pub async fn publish_noticed(
    client: &mut tokio_postgres::Client,
    channel: &lapin::Channel,
    notices: &[String],
) -> Result<PassReport> {
    let mut by_schema: std::collections::BTreeMap<&str, Vec<uuid::Uuid>> = Default::default();
    for notice in notices {
        let Some((schema, ids)) = notice.split_once(':') else {
            continue;
        };
        if schema.is_empty() || !schema.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            continue;
        }
        let ids = ids
            .split(',')
            .filter_map(|id| id.parse::<uuid::Uuid>().ok());
        by_schema.entry(schema).or_default().extend(ids);
    }
    let mut report = PassReport::default();
    for (schema, ids) in by_schema {
        let tx = client.transaction().await?;
        let quoted = format!("\"{schema}\"");
        let rows = tx
            .query(
                &format!(
                    "SELECT id, topic, payload::text, purge_after_publish FROM {quoted}.outbox
                     WHERE id = ANY($1) AND published_at IS NULL ORDER BY created_at FOR UPDATE SKIP LOCKED"
                ),
                &[&ids],
            )
            .await?;
        report.republished += publish_rows(&tx, channel, schema, &rows).await?;
        tx.commit().await?;
    }
    Ok(report)
}

/// One pass over every outbox the relay's role can see.
pub async fn pass(
    client: &mut tokio_postgres::Client,
    channel: &lapin::Channel,
    stale_after: Duration,
) -> Result<PassReport> {
    let schemas: Vec<String> = client
        .query(
            "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'outbox' AND table_type = 'BASE TABLE' ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut report = PassReport::default();
    let stale_ms = stale_after.as_millis() as f64;
    for schema in schemas {
        let tx = client.transaction().await?;
        // The schema name comes from the catalogue, quoted as an identifier.
        let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
        let rows = tx
            .query(
                &format!(
                    "SELECT id, topic, payload::text, purge_after_publish FROM {quoted}.outbox
                     WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1::float8 / 1000.0)
                     ORDER BY created_at LIMIT {BATCH_ROWS_MAX} FOR UPDATE SKIP LOCKED"
                ),
                &[&stale_ms],
            )
            .await?;
        report.full |= rows.len() as i64 == BATCH_ROWS_MAX;
        report.republished += publish_rows(&tx, channel, &schema, &rows).await?;
        tx.commit().await?;
    }
    Ok(report)
}

/// Publishes rows `(id, topic, payload, purge_after_publish)` taken from `schema`'s outbox in `tx`,
/// each confirmed by the broker, then marks (or deletes) them; answers how many went out.
async fn publish_rows(
    tx: &Transaction<'_>,
    channel: &lapin::Channel,
    schema: &str,
    rows: &[Row],
) -> Result<usize> {
    let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
    let mut published = 0;
    for row in rows {
        let id: uuid::Uuid = row.get(0);
        let topic: String = row.get(1);
        let payload: String = row.get(2);
        let purge: bool = row.get(3);
        let key = bus::routing_key_for_topic(&topic);
        match bus::publish_confirmed(
            channel,
            bus::TOPIC_EXCHANGE,
            &key,
            payload.as_bytes(),
            FieldTable::default(),
        )
        .await
        {
            Ok(()) => {
                if purge {
                    tx.execute(
                        &format!("DELETE FROM {quoted}.outbox WHERE id = $1"),
                        &[&id],
                    )
                    .await?;
                } else {
                    tx.execute(
                        &format!("UPDATE {quoted}.outbox SET published_at = now(), publish_attempts = publish_attempts + 1 WHERE id = $1"),
                        &[&id],
                    )
                    .await?;
                }
                published += 1;
            }
            Err(e) => {
                tx.execute(&format!("UPDATE {quoted}.outbox SET publish_attempts = publish_attempts + 1 WHERE id = $1"), &[&id])
                    .await?;
                tracing::warn!("relay: publishing event {id} from {schema} failed: {e:#}");
            }
        }
    }
    Ok(published)
}
