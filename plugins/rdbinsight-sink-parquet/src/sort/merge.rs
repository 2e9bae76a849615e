//! Sorted runs (in memory or spilled to files) and their k-way merge. Spill files hold the
//! compact rows as they are: compressing them (lz4) cost the sort thread, the busiest of a
//! dump, an eighth of the run's time for files the page cache absorbs anyway.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::order::{body_at, digit, Entry};
use super::rows::{db_key, LEN_BYTES};

/// Buffer of the spill file writer and reader.
const IO_BUFFER: usize = 256 << 10;

/// Writes sorted rows to a spill file.
pub struct RunWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl RunWriter {
    /// Creates the run file at `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("cannot create spill file {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(IO_BUFFER, file),
        })
    }

    /// Appends one row body.
    pub fn write(&mut self, body: &[u8]) -> Result<()> {
        let len = u32::try_from(body.len()).context("row too large")?;
        self.out
            .write_all(&len.to_le_bytes())
            .and_then(|_| self.out.write_all(body))
            .with_context(|| format!("cannot write spill file {}", self.path.display()))
    }

    /// Flushes and closes the file.
    pub fn close(self) -> Result<()> {
        let path = self.path;
        let mut out = self.out;
        out.flush()
            .with_context(|| format!("cannot finish spill file {}", path.display()))
    }
}

/// Where a run's rows come from.
pub enum Run {
    /// Rows sorted in memory.
    Memory { arena: Vec<u8>, entries: Vec<Entry> },
    /// A spill file.
    File(PathBuf),
}

enum Source {
    Memory {
        arena: Vec<u8>,
        entries: Vec<Entry>,
        next: usize,
    },
    File {
        path: PathBuf,
        input: Box<BufReader<File>>,
        buffer: Vec<u8>,
    },
}

/// The head row of one run during a merge.
struct Cursor {
    source: Source,
    /// The head row's body: a range of the arena or of the file buffer.
    body: std::ops::Range<usize>,
    /// The head row's key: a range of the body.
    key: std::ops::Range<usize>,
    /// The head row's database and first key window: most comparisons end there.
    head: (i64, (u64, u64), u8),
}

impl Cursor {
    fn open(run: Run) -> Result<Option<Self>> {
        let source = match run {
            Run::Memory { arena, entries } => Source::Memory {
                arena,
                entries,
                next: 0,
            },
            Run::File(path) => {
                let file = File::open(&path)
                    .with_context(|| format!("cannot open spill file {}", path.display()))?;
                Source::File {
                    path,
                    // Rows are read a few bytes at a time: from a buffer.
                    input: Box::new(BufReader::with_capacity(IO_BUFFER, file)),
                    buffer: Vec::new(),
                }
            }
        };
        let mut c = Self {
            source,
            body: 0..0,
            key: 0..0,
            head: (0, (0, 0), 0),
        };
        Ok(c.advance()?.then_some(c))
    }

    /// Moves to the next row; `false` when the run is exhausted.
    fn advance(&mut self) -> Result<bool> {
        match &mut self.source {
            Source::Memory {
                arena,
                entries,
                next,
            } => {
                let Some(e) = entries.get(*next) else {
                    return Ok(false);
                };
                *next += 1;
                let body = body_at(arena, e.offset)?;
                let start = e.offset as usize + LEN_BYTES;
                self.body = start..start + body.len();
            }
            Source::File {
                path,
                input,
                buffer,
            } => {
                let mut len = [0u8; LEN_BYTES];
                match input.read_exact(&mut len) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("cannot read spill file {}", path.display()))
                    }
                }
                buffer.resize(u32::from_le_bytes(len) as usize, 0);
                input
                    .read_exact(buffer)
                    .with_context(|| format!("spill file {} truncated", path.display()))?;
                self.body = 0..buffer.len();
            }
        }
        let body = self.body();
        let (db, key) = db_key(body)?;
        let key_start = key.as_ptr() as usize - body.as_ptr() as usize;
        let (window, rest) = digit(key, 0);
        self.key = key_start..key_start + key.len();
        self.head = (db, window, rest);
        Ok(true)
    }

    fn body(&self) -> &[u8] {
        match &self.source {
            Source::Memory { arena, .. } => &arena[self.body.clone()],
            Source::File { buffer, .. } => &buffer[self.body.clone()],
        }
    }

    fn key(&self) -> &[u8] {
        &self.body()[self.key.clone()]
    }

    fn less(&self, other: &Cursor) -> bool {
        match self.head.cmp(&other.head) {
            std::cmp::Ordering::Equal => self.key() < other.key(),
            o => o.is_lt(),
        }
    }
}

/// Merges `runs` into one stream of row bodies in (db, key) order.
pub fn merge(runs: Vec<Run>, mut emit: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let mut heap: Vec<Cursor> = Vec::with_capacity(runs.len());
    for run in runs {
        if let Some(c) = Cursor::open(run)? {
            heap.push(c);
        }
    }
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, i);
    }
    while let Some(top) = heap.first_mut() {
        emit(top.body())?;
        if !top.advance()? {
            let last = heap.len() - 1;
            heap.swap(0, last);
            heap.pop();
        }
        sift_down(&mut heap, 0);
    }
    Ok(())
}

/// Restores the min-heap order below `i`.
fn sift_down(heap: &mut [Cursor], mut i: usize) {
    loop {
        let left = 2 * i + 1;
        if left >= heap.len() {
            return;
        }
        let right = left + 1;
        let child = if right < heap.len() && heap[right].less(&heap[left]) {
            right
        } else {
            left
        };
        if !heap[child].less(&heap[i]) {
            return;
        }
        heap.swap(i, child);
        i = child;
    }
}
