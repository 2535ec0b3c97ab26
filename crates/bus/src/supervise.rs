//! Keeping a long-running loop alive across broker and database restarts.
//!
//! A worker's *session* connects (RabbitMQ, Postgres), declares what it consumes and runs until its
//! connection drops: a broker restart ends the consumer stream, a database restart fails the next
//! query. [`run_forever`] starts the session again with a growing delay ([`Backoff`]: 250 ms
//! doubling to 30 s, back to 250 ms once a session lasted a minute), so a restart costs a few
//! seconds of delay and never a dead process. Unacknowledged deliveries return to their queue when
//! the connection drops and are delivered again (consumers dedupe on the event id).
//!
//! Operators alert on the log lines: `<what>: ready` after every (re)connection (the session says
//! so itself, once it consumes), `<what>: lost (...); reconnecting in ...` at every drop.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;

/// The first wait after a drop.
pub const BACKOFF_START: Duration = Duration::from_millis(250);
/// The longest wait between attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A session that lasted this long counts as healthy: the next drop waits [`BACKOFF_START`] again.
pub const HEALTHY_SESSION: Duration = Duration::from_secs(60);

/// Doubling delays between reconnection attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: BACKOFF_START,
        }
    }
}

impl Backoff {
    /// The wait before the next attempt (and doubles the one after, up to [`BACKOFF_MAX`]).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        wait
    }

    pub fn reset(&mut self) {
        self.next = BACKOFF_START;
    }
}

/// Runs `session` again whenever it ends, with [`Backoff`] between attempts: it never returns. A
/// session returns `Ok(())` when its broker closed the stream and `Err` when a connection failed;
/// both reconnect. `what` names the loop in the logs.
pub async fn run_forever<F, Fut>(what: &str, mut session: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        let ended = session().await;
        if started.elapsed() >= HEALTHY_SESSION {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        match ended {
            Ok(()) => tracing::warn!(
                "{what}: lost (the broker closed the stream); reconnecting in {wait:?}"
            ),
            Err(e) => tracing::warn!("{what}: lost ({e:#}); reconnecting in {wait:?}"),
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_reset() {
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..10).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(
            waits,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.next_wait(), BACKOFF_START);
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_that_ends_is_started_again() {
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        let forever = run_forever("test", move || {
            let runs = counted.clone();
            async move {
                let n = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n.is_multiple_of(2) {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("connection refused"))
                }
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(2), forever).await;
        // 250 + 500 + 1000 ms of waits fit in two seconds: four sessions ran.
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 4);
    }
}
