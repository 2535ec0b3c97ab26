//! The bus side: this replica's own exclusive queue (`<prefix>.worker.realtime.<replica>`, bound
//! to `dm.#` by `[workers.realtime]`) wakes the feed on every DM event. The events carry ids
//! only and are not read further: the feed reads what changed from Postgres. Deliveries are
//! acknowledged on receipt; one lost (a broker restart) costs at most the feed's poll interval.

use std::sync::Arc;

use futures::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;

use crate::feed::Feed;

pub async fn run(queues: nexgate_bus::QueueArgs, replica: String, feed: Arc<Feed>) {
    nexgate_bus::supervise::run_forever("realtime", || {
        let (queues, replica, feed) = (&queues, &replica, feed.clone());
        async move {
            let (_conn, channel, queue) = queues.open_replica(crate::WORKER, replica).await?;
            let mut deliveries = channel
                .basic_consume(
                    &queue,
                    "realtime",
                    BasicConsumeOptions {
                        no_ack: true,
                        exclusive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            tracing::info!("realtime: ready, consuming {queue}");
            // A reconnection may have missed events: pull once now.
            feed.wake();
            while let Some(delivery) = deliveries.next().await {
                delivery?;
                feed.wake();
            }
            Ok(())
        }
    })
    .await;
}
