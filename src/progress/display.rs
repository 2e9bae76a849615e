//! Shows a run's progress while it lasts: on a terminal, one live line per instance (bytes read
//! of the total when known, keys, keys/s, ETA); elsewhere, a structured log line per running
//! instance every few seconds.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{RunCounters, State};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Live bars on stderr.
    Terminal,
    /// `operation="progress"` log lines (info level) every `LOG_EVERY`.
    Log,
}

impl Mode {
    /// Bars when stderr is a terminal and the user did not ask for quiet, else log lines.
    pub fn detect(quiet: bool) -> Mode {
        if !quiet && std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Log
        }
    }
}

const TICK: Duration = Duration::from_millis(150);
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The running display; [`Display::stop`] removes it before the summary is printed.
pub struct Display {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Display {
    /// Starts showing `run`.
    pub fn start(run: Arc<RunCounters>, mode: Mode) -> Display {
        let (tx, rx) = oneshot::channel();
        let task = match mode {
            Mode::Terminal => tokio::spawn(bars(run, rx)),
            Mode::Log => tokio::spawn(log_lines(run, rx)),
        };
        Display {
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops and clears the display.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn rate(keys: u64, secs: f64) -> u64 {
    if secs > 0.0 {
        (keys as f64 / secs) as u64
    } else {
        0
    }
}

async fn bars(run: Arc<RunCounters>, mut stop: oneshot::Receiver<()>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
    let known = ProgressStyle::with_template(
        "{prefix:<24!} [{bar:28.cyan/blue}] {bytes:>10}/{total_bytes:<10} {msg} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let unknown = ProgressStyle::with_template("{prefix:<24!} {spinner} {bytes:>10} read, {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut shown: HashMap<usize, ProgressBar> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        for (i, inst) in run.instances.iter().enumerate() {
            let state = inst.state();
            if state == State::Waiting {
                continue;
            }
            let bar = shown.entry(i).or_insert_with(|| {
                let bar = match inst.total_bytes {
                    Some(total) => ProgressBar::new(total).with_style(known.clone()),
                    None => ProgressBar::new_spinner().with_style(unknown.clone()),
                };
                let bar = multi.add(bar);
                bar.set_prefix(inst.name.clone());
                bar
            });
            if bar.is_finished() {
                continue;
            }
            let keys = inst.keys.load(Ordering::Relaxed);
            bar.set_position(inst.bytes.load(Ordering::Relaxed));
            bar.set_message(format!(
                "{keys} keys, {} keys/s",
                rate(keys, inst.elapsed().as_secs_f64())
            ));
            match state {
                State::Done => bar.finish_with_message(format!("{keys} keys, done")),
                State::Failed => bar.abandon_with_message(format!("{keys} keys, failed")),
                _ => bar.tick(),
            }
        }
    }
    for bar in shown.values() {
        bar.finish_and_clear();
    }
    let _ = multi.clear();
}

async fn log_lines(run: Arc<RunCounters>, mut stop: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(LOG_EVERY);
    tick.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => return,
        }
        for inst in &run.instances {
            if inst.state() != State::Running {
                continue;
            }
            let keys = inst.keys.load(Ordering::Relaxed);
            let bytes = inst.bytes.load(Ordering::Relaxed);
            tracing::info!(
                operation = "progress",
                instance = %inst.name,
                bytes,
                total_bytes = inst.total_bytes,
                keys,
                keys_per_second = rate(keys, inst.elapsed().as_secs_f64()),
                "reading"
            );
        }
    }
}
