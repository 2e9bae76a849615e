//! Live counters of a dump, one set per instance, updated per batch (never per key) and read by
//! the terminal progress display, the periodic progress log lines, the final summary table and
//! the metrics endpoint.

pub mod display;
pub mod metrics;

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Waiting for a concurrency slot.
    Waiting = 0,
    /// Being read.
    Running = 1,
    /// Read and written completely.
    Done = 2,
    /// Failed or stopped.
    Failed = 3,
}

impl State {
    /// Every state, for metrics.
    pub const ALL: [State; 4] = [State::Waiting, State::Running, State::Done, State::Failed];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// Counters of one instance.
#[derive(Debug)]
pub struct InstanceCounters {
    /// Instance name.
    pub name: String,
    /// Size of the input when known before reading (plain files).
    pub total_bytes: Option<u64>,
    /// RDB bytes read so far (shared with the counting reader).
    pub bytes: Arc<AtomicU64>,
    /// Keys handed to the sink so far.
    pub keys: AtomicU64,
    /// Batches handed to the sink so far.
    pub batches: AtomicU64,
    /// Time spent in the sink's `write_batch` (or `write_rows`), nanoseconds.
    pub sink_write_nanos: AtomicU64,
    state: AtomicU8,
    times: Mutex<(Option<Instant>, Option<Instant>)>,
}

impl InstanceCounters {
    /// Counters of a new, waiting instance.
    pub fn new(name: &str, total_bytes: Option<u64>) -> Self {
        Self {
            name: name.to_string(),
            total_bytes,
            bytes: Arc::new(AtomicU64::new(0)),
            keys: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            sink_write_nanos: AtomicU64::new(0),
            state: AtomicU8::new(State::Waiting as u8),
            times: Mutex::new((None, None)),
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        match self.state.load(Ordering::Relaxed) {
            0 => State::Waiting,
            1 => State::Running,
            2 => State::Done,
            _ => State::Failed,
        }
    }

    /// Moves to `state`, noting start and end times.
    pub fn set_state(&self, state: State) {
        self.state.store(state as u8, Ordering::Relaxed);
        if let Ok(mut t) = self.times.lock() {
            match state {
                State::Running => t.0 = Some(Instant::now()),
                State::Done | State::Failed => t.1 = Some(Instant::now()),
                State::Waiting => {}
            }
        }
    }

    /// Time since the instance started (until it ended, when it did).
    pub fn elapsed(&self) -> Duration {
        match self.times.lock().map(|t| *t) {
            Ok((Some(start), Some(end))) => end.duration_since(start),
            Ok((Some(start), None)) => start.elapsed(),
            _ => Duration::ZERO,
        }
    }

    /// Counts one batch handed to the sink.
    pub fn add_batch(&self, rows: usize, write_time: Duration) {
        self.keys.fetch_add(rows as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.sink_write_nanos
            .fetch_add(write_time.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Counters of a whole run.
#[derive(Debug)]
pub struct RunCounters {
    /// The sink's name.
    pub sink: String,
    /// One entry per instance, in plan order.
    pub instances: Vec<Arc<InstanceCounters>>,
    /// When the run started.
    pub started: Instant,
}

impl RunCounters {
    /// Counters for the named instances.
    pub fn new(sink: &str, instances: impl IntoIterator<Item = (String, Option<u64>)>) -> Self {
        Self {
            sink: sink.to_string(),
            instances: instances
                .into_iter()
                .map(|(name, total)| Arc::new(InstanceCounters::new(&name, total)))
                .collect(),
            started: Instant::now(),
        }
    }

    /// Keys of every instance.
    pub fn keys(&self) -> u64 {
        self.instances
            .iter()
            .map(|i| i.keys.load(Ordering::Relaxed))
            .sum()
    }
}

/// Bytes as B, KiB, MiB or GiB.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The final table: one line per instance and a total, with the output location.
pub fn summary_table(run: &RunCounters, location: &str) -> String {
    let width = run
        .instances
        .iter()
        .map(|i| i.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 40);
    let mut s = format!(
        "{:<width$}  {:>7}  {:>12}  {:>11}  {:>9}\n",
        "instance", "state", "keys", "RDB bytes", "seconds"
    );
    let (mut keys, mut bytes) = (0, 0);
    for i in &run.instances {
        let k = i.keys.load(Ordering::Relaxed);
        let b = i.bytes.load(Ordering::Relaxed);
        keys += k;
        bytes += b;
        let name: String = i.name.chars().take(width).collect();
        s.push_str(&format!(
            "{name:<width$}  {:>7}  {k:>12}  {:>11}  {:>9.2}\n",
            i.state().name(),
            human_bytes(b),
            i.elapsed().as_secs_f64()
        ));
    }
    s.push_str(&format!(
        "{:<width$}  {:>7}  {keys:>12}  {:>11}  {:>9.2}\noutput: {location}\n",
        "total",
        "",
        human_bytes(bytes),
        run.started.elapsed().as_secs_f64()
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_instance_and_the_total() {
        let run = RunCounters::new(
            "null",
            [("a".to_string(), None), ("b".to_string(), Some(10))],
        );
        run.instances[0].add_batch(5, Duration::ZERO);
        run.instances[1].add_batch(7, Duration::ZERO);
        run.instances[1].bytes.store(2048, Ordering::Relaxed);
        let t = summary_table(&run, "nowhere");
        assert!(t.contains("total"), "{t}");
        assert!(t.contains("12"), "{t}");
        assert!(t.contains("2.0 KiB"), "{t}");
        assert!(t.ends_with("output: nowhere\n"), "{t}");
    }
}
