//! Writing sorted runs on a thread of its own: while the sort thread fills one arena with the
//! next rows, the full one is ordered and written to its run file here. At most one run is in
//! flight, and its buffers come back to be filled again.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};

use super::merge::RunWriter;
use super::order::{self, Entries};

/// A full arena and its entries, to be written to `path`.
struct Job {
    arena: Vec<u8>,
    entries: Entries,
    path: PathBuf,
}

/// Emptied buffers of a written run, or why it could not be written.
type Done = Result<(Vec<u8>, Entries)>;

/// The spill thread and the run it is writing, if any.
pub struct Spiller {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    pending: bool,
    thread: Option<JoinHandle<()>>,
}

/// Orders `entries` and writes their rows, in order, to a new run file at `path`.
fn write_run(arena: &[u8], entries: &mut Entries, path: &std::path::Path) -> Result<()> {
    entries.sort(arena)?;
    let mut w = RunWriter::create(path)?;
    order::for_each_body(&entries.list, arena, |body| w.write(body))?;
    w.close()
}

impl Spiller {
    /// Starts the spill thread.
    pub fn start() -> Result<Self> {
        let (jobs, inbox) = sync_channel::<Job>(1);
        let (outbox, done) = sync_channel::<Done>(1);
        let thread = std::thread::Builder::new()
            .name("rdbinsight-spill".into())
            .spawn(move || {
                for mut job in inbox {
                    let written = write_run(&job.arena, &mut job.entries, &job.path)
                        .with_context(|| format!("writing sort run {}", job.path.display()));
                    job.arena.clear();
                    job.entries.clear();
                    if outbox
                        .send(written.map(|()| (job.arena, job.entries)))
                        .is_err()
                    {
                        return;
                    }
                }
            })
            .context("cannot start the sort's spill thread")?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            pending: false,
            thread: Some(thread),
        })
    }

    /// Waits for the run in flight, if any; returns its emptied buffers.
    pub fn wait(&mut self) -> Result<Option<(Vec<u8>, Entries)>> {
        if !std::mem::take(&mut self.pending) {
            return Ok(None);
        }
        match self.done.recv() {
            Ok(done) => done.map(Some),
            Err(_) => Err(anyhow!("the sort's spill thread stopped")),
        }
    }

    /// Hands a full arena over to be written to `path` (after the run in flight: call
    /// [`Spiller::wait`] first).
    pub fn write(&mut self, arena: Vec<u8>, entries: Entries, path: PathBuf) -> Result<()> {
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| anyhow!("the sort's spill thread stopped"))?;
        jobs.send(Job {
            arena,
            entries,
            path,
        })
        .map_err(|_| anyhow!("the sort's spill thread stopped"))?;
        self.pending = true;
        Ok(())
    }
}

impl Drop for Spiller {
    /// Lets the run in flight finish (its file is then removed with the spill directory).
    fn drop(&mut self) {
        self.jobs = None;
        let _ = self.wait();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
