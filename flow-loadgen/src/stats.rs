//! Counters, the live progress line and the summary.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counters shared by the send loop, the sinks and the progress line.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events handed to the sink.
    pub generated: AtomicU64,
    /// Events the broker (or the ingest endpoint, with 202) acknowledged, malformed ones included.
    pub sent: AtomicU64,
    /// Malformed events generated.
    pub malformed: AtomicU64,
    /// Malformed events the ingest endpoint refused with 400/413/415, as expected.
    pub rejected: AtomicU64,
    /// Events that failed: delivery errors, unexpected HTTP answers, connection errors.
    pub errors: AtomicU64,
    /// Events sent but not yet acknowledged or failed.
    pub in_flight: AtomicU64,
    /// Error messages printed so far (they are rate-limited).
    messages: AtomicU64,
    /// Set when going on cannot help (a 401, 403 or 404 from the endpoint): the run stops.
    pub fatal: AtomicBool,
}

/// A point-in-time copy of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// See [`Stats::generated`].
    pub generated: u64,
    /// See [`Stats::sent`].
    pub sent: u64,
    /// See [`Stats::malformed`].
    pub malformed: u64,
    /// See [`Stats::rejected`].
    pub rejected: u64,
    /// See [`Stats::errors`].
    pub errors: u64,
    /// See [`Stats::in_flight`].
    pub in_flight: u64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Removes `n` from the in-flight gauge.
    pub fn landed(&self, n: u64) {
        self.in_flight.fetch_sub(n, Ordering::Relaxed);
    }

    /// Stops the run: further events cannot succeed.
    pub fn give_up(&self, message: &str) {
        if !self.fatal.swap(true, Ordering::SeqCst) {
            self.report_error(&format!("{message}; stopping"));
        }
    }

    /// Whether [`Stats::give_up`] was called.
    pub fn gave_up(&self) -> bool {
        self.fatal.load(Ordering::SeqCst)
    }

    /// The current values.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            generated: self.generated.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        }
    }

    /// Prints an error message to stderr: the first ten, then one in a thousand, so that a dead
    /// endpoint does not flood the terminal.
    pub fn report_error(&self, message: &str) {
        let n = self.messages.fetch_add(1, Ordering::Relaxed);
        if n < 10 || n % 1000 == 0 {
            let suffix = if n == 9 {
                " (further errors are shown one in a thousand)"
            } else {
                ""
            };
            let mut err = std::io::stderr().lock();
            // On a terminal, start on a fresh line below the progress line.
            let fresh = if err.is_terminal() { "\n" } else { "" };
            let _ = writeln!(err, "{fresh}flow-loadgen: {message}{suffix}");
        }
    }
}

fn rate(count: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// The progress line: the rate over the last interval and the totals.
pub fn progress_line(elapsed: Duration, rate_now: f64, s: &Snapshot) -> String {
    format!(
        "flow-loadgen: {:>6.1}s rate={:.1}/s sent={} malformed={} rejected={} errors={} in-flight={}",
        elapsed.as_secs_f64(),
        rate_now,
        s.sent,
        s.malformed,
        s.rejected,
        s.errors,
        s.in_flight
    )
}

/// The final summary line.
pub fn summary_line(elapsed: Duration, seed: u64, s: &Snapshot) -> String {
    format!(
        "flow-loadgen: done in {:.1}s: generated={} sent={} ({:.1}/s) malformed={} rejected={} errors={} unacknowledged={} seed={}",
        elapsed.as_secs_f64(),
        s.generated,
        s.sent,
        rate(s.sent, elapsed),
        s.malformed,
        s.rejected,
        s.errors,
        s.in_flight,
        seed
    )
}

/// Prints the progress line every second until the returned handle is aborted: rewritten in
/// place (`\r`) on a terminal, one line per second otherwise (logs).
pub fn spawn_progress(stats: Arc<Stats>, start: Instant) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut last = (start, 0u64);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let s = stats.snapshot();
            let done = s.sent + s.rejected + s.errors;
            let rate_now = rate(done.saturating_sub(last.1), now - last.0);
            last = (now, done);
            let line = progress_line(now - start, rate_now, &s);
            let mut err = std::io::stderr().lock();
            let _ = if tty {
                write!(err, "\r{line}\x1b[K")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_the_counters() {
        let s = Snapshot {
            generated: 110,
            sent: 100,
            malformed: 3,
            rejected: 2,
            errors: 1,
            in_flight: 7,
        };
        let p = progress_line(Duration::from_secs(2), 50.0, &s);
        assert!(p.contains("rate=50.0/s") && p.contains("sent=100") && p.contains("errors=1"));
        let sum = summary_line(Duration::from_secs(4), 42, &s);
        assert!(sum.contains("(25.0/s)") && sum.contains("seed=42") && sum.contains("rejected=2"));
    }
}
