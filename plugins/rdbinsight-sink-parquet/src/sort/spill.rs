//! Writing sorted runs on a thread of its own: while the sort thread fills one arena with the
//! next rows, the full one is ordered and written to its run file here. At most one run is in
//! flight, and its buffers come back to be filled again. The run in flight when the input ends
//! is not written once ordered (when the sort thread asks in time): it is merged from memory,
//! which saves writing and reading it back while the merge waits.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
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

/// What became of a run handed over.
pub enum Done {
    /// Written to its file: the emptied buffers, to be filled again.
    Written(Vec<u8>, Entries),
    /// Ordered and kept in memory, not written (see [`Spiller::keep_in_memory`]).
    Kept(Vec<u8>, Entries),
}

/// The spill thread and the run it is writing, if any.
pub struct Spiller {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Result<Done>>,
    /// Set when the input has ended: a run ordered after that is kept, not written.
    keep: Arc<AtomicBool>,
    pending: bool,
    thread: Option<JoinHandle<()>>,
}

/// Orders `entries` and writes their rows, in order, to a new run file at `path`, unless
/// `keep` is set by then; whether it wrote them.
fn write_run(
    arena: &[u8],
    entries: &mut Entries,
    path: &std::path::Path,
    keep: &AtomicBool,
) -> Result<bool> {
    entries.sort(arena)?;
    if keep.load(Ordering::Acquire) {
        return Ok(false);
    }
    let mut w = RunWriter::create(path)?;
    order::for_each_body(&entries.list, arena, |body| w.write(body))?;
    w.close()?;
    Ok(true)
}

impl Spiller {
    /// Starts the spill thread.
    pub fn start() -> Result<Self> {
        let (jobs, inbox) = sync_channel::<Job>(1);
        let (outbox, done) = sync_channel::<Result<Done>>(1);
        let keep = Arc::new(AtomicBool::new(false));
        let keep_asked = keep.clone();
        let thread = std::thread::Builder::new()
            .name("rdbinsight-spill".into())
            .spawn(move || {
                for mut job in inbox {
                    let done = write_run(&job.arena, &mut job.entries, &job.path, &keep_asked)
                        .with_context(|| format!("writing sort run {}", job.path.display()))
                        .map(|written| {
                            if written {
                                job.arena.clear();
                                job.entries.clear();
                                Done::Written(job.arena, job.entries)
                            } else {
                                Done::Kept(job.arena, job.entries)
                            }
                        });
                    if outbox.send(done).is_err() {
                        return;
                    }
                }
            })
            .context("cannot start the sort's spill thread")?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            keep,
            pending: false,
            thread: Some(thread),
        })
    }

    /// Asks for the run in flight, and any handed over later, to be kept in memory once
    /// ordered rather than written, if its writing has not begun.
    pub fn keep_in_memory(&self) {
        self.keep.store(true, Ordering::Release);
    }

    /// Waits for the run in flight, if any; what became of it.
    pub fn wait(&mut self) -> Result<Option<Done>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sort::order::arena_of;
    use crate::sort::rows::db_key;

    /// The (db, key) of each row of `arena` in the order of `entries`.
    fn rows_in_order(arena: &[u8], entries: &Entries) -> Vec<(i64, Vec<u8>)> {
        let mut rows = Vec::new();
        order::for_each_body(&entries.list, arena, |body| {
            let (db, key) = db_key(body)?;
            rows.push((db, key.to_vec()));
            Ok(())
        })
        .unwrap();
        rows
    }

    #[test]
    fn a_run_is_written_until_the_sort_asks_for_it_to_be_kept() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<Vec<u8>> = (0..500)
            .rev()
            .map(|i| format!("k{i:04}").into_bytes())
            .collect();
        let rows: Vec<(i64, &[u8])> = keys.iter().map(|k| (1, k.as_slice())).collect();
        let mut want: Vec<(i64, Vec<u8>)> = rows.iter().map(|&(d, k)| (d, k.to_vec())).collect();
        want.sort();
        let mut spiller = Spiller::start().unwrap();

        let (arena, entries) = arena_of(&rows);
        spiller.write(arena, entries, dir.path().join("a")).unwrap();
        match spiller.wait().unwrap() {
            Some(Done::Written(arena, entries)) => {
                assert!(
                    arena.is_empty() && entries.list.is_empty(),
                    "buffers emptied"
                );
            }
            _ => panic!("the first run is written"),
        }
        assert!(dir.path().join("a").exists());

        spiller.keep_in_memory();
        let (arena, entries) = arena_of(&rows);
        spiller.write(arena, entries, dir.path().join("b")).unwrap();
        match spiller.wait().unwrap() {
            Some(Done::Kept(arena, entries)) => assert_eq!(rows_in_order(&arena, &entries), want),
            _ => panic!("the run handed over after keep_in_memory is kept"),
        }
        assert!(!dir.path().join("b").exists(), "a kept run has no file");
        assert!(spiller.wait().unwrap().is_none(), "nothing in flight");
    }
}
