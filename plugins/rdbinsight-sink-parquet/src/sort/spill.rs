//! Writing sorted runs on a thread of its own: while the sort thread fills one arena with the
//! next rows, the full one is ordered and written to its run file here. At most one run is in
//! flight, and its buffers come back to be filled again. This thread is the busiest while rows
//! come in: when the next arena fills before it is done, the sort thread orders that one
//! itself instead of waiting, and it is only written here. When the input ends, the run in
//! flight is told to hurry: it stops writing, so that the merge need not wait for the rest of
//! its rows to go to disk and come back; those stay in memory as a run of their own.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};

use super::merge::RunWriter;
use super::order::{self, Entries};

/// A full arena and its entries (already ordered when `ordered`), to be written to `path`.
struct Job {
    arena: Vec<u8>,
    entries: Entries,
    ordered: bool,
    path: PathBuf,
}

/// A run handed back by the spill thread: its buffers, its entries in order, and how many of
/// them (the first) its file holds; fewer than all when it was told to hurry.
pub struct Spilled {
    /// The run's rows.
    pub arena: Vec<u8>,
    /// The run's entries, ordered.
    pub entries: Entries,
    /// Rows written to the run file, in the entries' order; no file when none.
    pub written: usize,
}

/// A run handed back, or why it could not be written.
type Done = Result<Spilled>;

/// The spill thread and the run it is writing, if any.
pub struct Spiller {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    pending: bool,
    /// The run in flight, handed back before it was waited for.
    ready: Option<Done>,
    /// Set when the input has ended: the run in flight stops writing.
    hurry: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Orders `entries` (unless `ordered`) and writes their rows, in order, to a new run file at
/// `path`, until `hurry` is set; how many rows were written (none: no file).
fn write_run(
    arena: &[u8],
    entries: &mut Entries,
    ordered: bool,
    path: &std::path::Path,
    hurry: &AtomicBool,
) -> Result<usize> {
    if !ordered {
        entries.sort(arena)?;
    }
    let hurried = || hurry.load(Ordering::Relaxed);
    if hurried() {
        return Ok(0);
    }
    let mut w = RunWriter::create(path)?;
    let written = order::for_each_row(&entries.list, arena, hurried, |row| w.write(row))?;
    w.close()?;
    Ok(written)
}

impl Spiller {
    /// Starts the spill thread.
    pub fn start() -> Result<Self> {
        let (jobs, inbox) = sync_channel::<Job>(1);
        let (outbox, done) = sync_channel::<Done>(1);
        let hurry = Arc::new(AtomicBool::new(false));
        let told = Arc::clone(&hurry);
        let thread = std::thread::Builder::new()
            .name("rdbinsight-spill".into())
            .spawn(move || {
                for mut job in inbox {
                    let written =
                        write_run(&job.arena, &mut job.entries, job.ordered, &job.path, &told)
                            .with_context(|| format!("writing sort run {}", job.path.display()));
                    let spilled = written.map(|written| Spilled {
                        arena: job.arena,
                        entries: job.entries,
                        written,
                    });
                    if outbox.send(spilled).is_err() {
                        return;
                    }
                }
            })
            .context("cannot start the sort's spill thread")?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            pending: false,
            ready: None,
            hurry,
            thread: Some(thread),
        })
    }

    /// Whether the run in flight, if any, is still being ordered or written.
    pub fn busy(&mut self) -> bool {
        if !self.pending || self.ready.is_some() {
            return false;
        }
        match self.done.try_recv() {
            Ok(done) => {
                self.ready = Some(done);
                false
            }
            Err(TryRecvError::Empty) => true,
            // The thread stopped: waiting says so.
            Err(TryRecvError::Disconnected) => false,
        }
    }

    /// Waits for the run in flight, if any, and hands it back.
    pub fn wait(&mut self) -> Result<Option<Spilled>> {
        if !std::mem::take(&mut self.pending) {
            return Ok(None);
        }
        if let Some(done) = self.ready.take() {
            return done.map(Some);
        }
        match self.done.recv() {
            Ok(done) => done.map(Some),
            Err(_) => Err(anyhow!("the sort's spill thread stopped")),
        }
    }

    /// Tells the run in flight, if any, to stop writing (the input has ended), and hands it
    /// back with how many of its rows its file holds.
    pub fn hurry(&mut self) -> Result<Option<Spilled>> {
        self.hurry.store(true, Ordering::Relaxed);
        self.wait()
    }

    /// Hands a full arena over to be ordered (unless `ordered` already) and written to `path`
    /// (after the run in flight: call [`Spiller::wait`] first).
    pub fn write(
        &mut self,
        arena: Vec<u8>,
        entries: Entries,
        ordered: bool,
        path: PathBuf,
    ) -> Result<()> {
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| anyhow!("the sort's spill thread stopped"))?;
        jobs.send(Job {
            arena,
            entries,
            ordered,
            path,
        })
        .map_err(|_| anyhow!("the sort's spill thread stopped"))?;
        self.pending = true;
        Ok(())
    }
}

impl Drop for Spiller {
    /// Lets the run in flight stop (its file is then removed with the spill directory).
    fn drop(&mut self) {
        self.jobs = None;
        let _ = self.hurry();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
