//! flow-loadgen: the load generator of flow-stream.
//!
//! It produces CloudEvents in the shape of `shared/baseline/gen_events.py` (structured JSON whose
//! `data.log_message` is an nginx, syslog, JSON or `simple_split` line with emails and IPs in it),
//! with a configurable share of malformed events, and sends them to a pipeline's Kafka input
//! topic or to pipeline-mgmt's HTTP ingest endpoint, at a target rate or as fast as possible.
//! A progress line on stderr shows the rate and the counters every second; a summary line ends
//! the run. `--print N` writes N events to stdout instead (for benchmarks).

pub mod cli;
pub mod gen;
pub mod sink;
pub mod stats;

use cli::Cli;
use gen::Generator;
use sink::Sink;
use stats::Stats;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Events generated between two checks of the stop conditions.
const CHUNK: u64 = 1000;
/// Longest wait for in-flight events at the end.
const FINISH_TIMEOUT: Duration = Duration::from_secs(35);

/// Runs the command line; the exit code is 1 when some events failed.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ratio = cli.malformed()?;
    let seed = cli.seed.unwrap_or_else(|| fastrand::u64(..));
    let mut generator = Generator::new(seed, ratio, cli.timestamps);

    if let Some(n) = cli.print {
        print(&mut generator, n)?;
        return Ok(ExitCode::SUCCESS);
    }

    let stats = Arc::new(Stats::default());
    let mut sink = Sink::from_cli(&cli, stats.clone()).await?;
    let stop = Stop::install();
    let rate = cli.target_rate();
    eprintln!(
        "flow-loadgen: sending to {} at {}, {}% malformed, seed {seed}{}{}",
        sink.describe(),
        rate.map_or("max rate".to_owned(), |r| format!("{r}/s")),
        ratio * 100.0,
        cli.count.map_or(String::new(), |c| format!(", {c} events")),
        cli.duration
            .map_or(String::new(), |d| format!(", for {d:?}")),
    );

    let start = Instant::now();
    let progress = (!cli.quiet).then(|| stats::spawn_progress(stats.clone(), start));
    let pace = Pace {
        start,
        rate,
        deadline: cli.duration.map(|d| start + d),
        count: cli.count,
    };
    let mut n: u64 = 0;
    while !stop.requested() && !stats.gave_up() {
        match pace.step(n, Instant::now()) {
            Step::Done => break,
            Step::Wait(until) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => {}
                    _ = stop.notified() => {}
                }
            }
            Step::Send(chunk) => {
                send_chunk(&mut generator, &mut sink, &stats, chunk).await;
                n += chunk;
            }
        }
        sink.tick().await;
        tokio::task::yield_now().await;
    }

    let landed = sink.finish(FINISH_TIMEOUT).await;
    if let Some(p) = progress {
        p.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    Ok(summarize(&stats, start, seed, landed))
}

/// When and how many events to send: at `rate` per second (as fast as possible without one),
/// until `deadline` or `count` events.
struct Pace {
    start: Instant,
    rate: Option<f64>,
    deadline: Option<Instant>,
    count: Option<u64>,
}

/// What to do next.
#[derive(Debug, PartialEq)]
enum Step {
    /// Generate and send this many events.
    Send(u64),
    /// Ahead of the rate: wait until then (or a stop).
    Wait(Instant),
    /// The count or the duration is reached.
    Done,
}

impl Pace {
    /// The next step at `now`, `sent` events in.
    fn step(&self, sent: u64, now: Instant) -> Step {
        if self.count.is_some_and(|c| sent >= c) || self.deadline.is_some_and(|d| now >= d) {
            return Step::Done;
        }
        let chunk = match self.rate {
            None => CHUNK,
            Some(r) => {
                let due = ((now - self.start).as_secs_f64() * r) as u64 + 1;
                if sent >= due {
                    let next = self.start + Duration::from_secs_f64(sent as f64 / r);
                    let mut until = next.min(now + Duration::from_millis(100));
                    if let Some(d) = self.deadline {
                        until = until.min(d);
                    }
                    return Step::Wait(until);
                }
                (due - sent).min(CHUNK)
            }
        };
        Step::Send(self.count.map_or(chunk, |c| chunk.min(c - sent)))
    }
}

/// Generates and sends `chunk` events, counting them.
async fn send_chunk(generator: &mut Generator, sink: &mut Sink, stats: &Stats, chunk: u64) {
    for _ in 0..chunk {
        let event = generator.next_event();
        Stats::add(&stats.generated, 1);
        if event.is_malformed() {
            Stats::add(&stats.malformed, 1);
        }
        sink.send(event).await;
    }
}

/// Prints the summary line; the exit code is 1 when an event failed, stayed unacknowledged or
/// the sink gave up.
fn summarize(stats: &Stats, start: Instant, seed: u64, landed: bool) -> ExitCode {
    let s = stats.snapshot();
    eprintln!("{}", stats::summary_line(start.elapsed(), seed, &s));
    if !landed {
        eprintln!(
            "flow-loadgen: {} event(s) still unacknowledged after {FINISH_TIMEOUT:?}",
            s.in_flight
        );
    }
    if s.errors > 0 || !landed || stats.gave_up() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes `n` events to stdout, one per line. A closed pipe (`| head`) ends it quietly.
fn print(generator: &mut Generator, n: u64) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut write = || -> std::io::Result<()> {
        for _ in 0..n {
            out.write_all(&generator.next_event().to_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    match write() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Ctrl-C / SIGTERM: the first one stops generating and waits for what is in flight; a second
/// one exits at once.
struct Stop {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Stop {
    fn install() -> Stop {
        let flag = Arc::new(AtomicBool::new(false));
        let notify = Arc::new(Notify::new());
        let (f, n) = (flag.clone(), notify.clone());
        tokio::spawn(async move {
            signal().await;
            f.store(true, Ordering::SeqCst);
            n.notify_waiters();
            let fresh = if std::io::stderr().is_terminal() {
                "\n"
            } else {
                ""
            };
            eprintln!(
                "{fresh}flow-loadgen: stopping; waiting for events in flight (again to quit now)"
            );
            signal().await;
            std::process::exit(130);
        });
        Stop { flag, notify }
    }

    fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    async fn notified(&self) {
        if !self.requested() {
            self.notify.notified().await;
        }
    }
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_sends_what_is_due_waits_when_ahead_and_stops_at_count_or_deadline() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let paced = Pace {
            start,
            rate: Some(100.0),
            deadline: Some(start + ms(10_000)),
            count: Some(250),
        };
        // One event is due at once, 101 after a second.
        assert_eq!(paced.step(0, start), Step::Send(1));
        assert_eq!(paced.step(1, start + ms(1_000)), Step::Send(100));
        // Ahead of the rate: wait until the next one is due, but look again within 100 ms.
        assert_eq!(
            paced.step(150, start + ms(1_000)),
            Step::Wait(start + ms(1_100))
        );
        assert_eq!(
            paced.step(101, start + ms(1_000)),
            Step::Wait(start + ms(1_010))
        );
        // Never more than the count, nothing after it or after the deadline.
        assert_eq!(paced.step(200, start + ms(5_000)), Step::Send(50));
        assert_eq!(paced.step(250, start + ms(5_000)), Step::Done);
        assert_eq!(paced.step(10, start + ms(10_000)), Step::Done);
        let flat_out = Pace {
            start,
            rate: None,
            deadline: None,
            count: None,
        };
        assert_eq!(flat_out.step(1_000_000, start), Step::Send(CHUNK));
    }
}
