//! The host's log output. Lines are appended to a shared buffer that a writer thread empties onto
//! stderr every few milliseconds, so a request that logs pays neither a `write` system call nor a
//! thread wake-up: either one per line costs about a fifth of a trivial request (bench/README.md).
//!
//! Lines appear on stderr at most [`FLUSH_INTERVAL`] after they were logged, in order. Nothing is
//! dropped: past [`BUFFERED_BYTES_MAX`] the logging thread writes the buffer out itself.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long a line may wait in the buffer.
const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// Bytes after which the writer thread is woken at once.
const WAKE_BYTES: usize = 256 * 1024;
/// Bytes after which the logging thread writes the buffer out itself.
const BUFFERED_BYTES_MAX: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    stopping: bool,
    /// The writer found the buffer empty and sleeps until a line arrives (no wake-ups while the
    /// host is idle).
    writer_idle: bool,
}

/// A `MakeWriter` for `tracing_subscriber::fmt` that buffers each event for the writer thread.
#[derive(Clone)]
pub struct BufferedStderr {
    shared: Arc<Shared>,
}

/// Writes out what is buffered and stops the writer thread when dropped (at the end of `main`).
pub struct FlushOnDrop {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.stopping = true;
        }
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the writer thread. Keep the guard alive until the process ends.
pub fn buffered_stderr() -> std::io::Result<(BufferedStderr, FlushOnDrop)> {
    let shared = Arc::new(Shared::default());
    let for_thread = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_out(&for_thread))?;
    Ok((
        BufferedStderr {
            shared: shared.clone(),
        },
        FlushOnDrop {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_out(shared: &Shared) {
    let mut spare = Vec::new();
    loop {
        let stopping = {
            let Ok(mut state) = shared.state.lock() else {
                return;
            };
            while !state.stopping && state.buf.is_empty() {
                state.writer_idle = true;
                state = match shared.wake.wait(state) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
            if !state.stopping && state.buf.len() < WAKE_BYTES {
                // Let more lines gather; a full buffer or `stopping` cuts the wait short.
                state = match shared.wake.wait_timeout(state, FLUSH_INTERVAL) {
                    Ok((s, _)) => s,
                    Err(_) => return,
                };
            }
            std::mem::swap(&mut state.buf, &mut spare);
            state.stopping
        };
        if !spare.is_empty() {
            let _ = std::io::stderr().lock().write_all(&spare);
            spare.clear();
        }
        if stopping {
            return;
        }
    }
}

/// One event's bytes, appended to the buffer when the formatter is done with it.
pub struct BufferedLine {
    shared: Arc<Shared>,
    line: Vec<u8>,
}

impl Write for BufferedLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BufferedLine {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let Ok(mut state) = self.shared.state.lock() else {
            let _ = std::io::stderr().write_all(&self.line);
            return;
        };
        if state.stopping {
            // `main` is ending and the writer may be gone: write in place.
            drop(state);
            let _ = std::io::stderr().write_all(&self.line);
            return;
        }
        state.buf.extend_from_slice(&self.line);
        if state.buf.len() >= BUFFERED_BYTES_MAX {
            // The writer is not keeping up: write the backlog out here, holding the lock so
            // lines stay in order.
            let _ = std::io::stderr().lock().write_all(&state.buf);
            state.buf.clear();
        } else if state.buf.len() >= WAKE_BYTES || state.writer_idle {
            // The first line after a quiet spell starts the writer's interval; the rest of the
            // interval's lines cost no wake-up.
            state.writer_idle = false;
            self.shared.wake.notify_one();
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BufferedStderr {
    type Writer = BufferedLine;

    fn make_writer(&'a self) -> Self::Writer {
        BufferedLine {
            shared: self.shared.clone(),
            line: Vec::with_capacity(256),
        }
    }
}
