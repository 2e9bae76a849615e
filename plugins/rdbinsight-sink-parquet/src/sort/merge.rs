//! Sorted runs (in memory or spilled to files) and their k-way merge. Spill files hold the
//! compact rows as they are: compressing them (lz4) cost the sort thread, the busiest of a
//! dump, an eighth of the run's time for files the page cache absorbs anyway.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::order::{body_at, digit, touch_rows, Entry, GATHER, WINDOW};
use super::rows::{db_key, LEN_BYTES};

/// Buffer of the spill file writer.
const IO_BUFFER: usize = 256 << 10;
/// Buffer of each spill file's reader.
const READ_BUFFER: usize = 32 << 10;

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

    /// Appends one row, framed (its length prefix and body, as the arena and the merge hand
    /// rows over).
    pub fn write(&mut self, row: &[u8]) -> Result<()> {
        self.out
            .write_all(row)
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
    /// Rows sorted in memory: those of `entries[from..]`.
    Memory {
        arena: Vec<u8>,
        entries: Vec<Entry>,
        from: usize,
    },
    /// A spill file.
    File(PathBuf),
}

/// Reads the rows of a spill file through a buffer of its own: a row lying whole in the
/// buffer (nearly all of them) is used where it lies, not copied out.
struct RunReader {
    path: PathBuf,
    file: File,
    buffer: Vec<u8>,
    /// The unread bytes: `buffer[start..end]`.
    start: usize,
    end: usize,
}

impl RunReader {
    fn open(path: PathBuf) -> Result<Self> {
        let file = File::open(&path)
            .with_context(|| format!("cannot open spill file {}", path.display()))?;
        Ok(Self {
            path,
            file,
            buffer: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
        })
    }

    /// Makes at least `want` unread bytes available, unless the file ends first; how many
    /// are.
    fn fill(&mut self, want: usize) -> Result<usize> {
        if self.end - self.start >= want {
            return Ok(self.end - self.start);
        }
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.buffer.len() < want {
            self.buffer.resize(want.max(READ_BUFFER), 0);
        }
        while self.end < want {
            let n = match self.file.read(&mut self.buffer[self.end..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot read spill file {}", self.path.display()))
                }
            };
            if n == 0 {
                break;
            }
            self.end += n;
        }
        Ok(self.end - self.start)
    }

    /// The buffer range of the next row's body; `None` at the end of the file.
    #[inline(always)]
    fn next_row(&mut self) -> Result<Option<std::ops::Range<usize>>> {
        // Most rows lie whole in the buffer: no call, no refill.
        let unread = self.buffer.get(self.start..self.end).unwrap_or_default();
        if let Some((len, rest)) = unread.split_first_chunk::<LEN_BYTES>() {
            let len = u32::from_le_bytes(*len) as usize;
            if len <= rest.len() {
                let body = self.start + LEN_BYTES..self.start + LEN_BYTES + len;
                self.start = body.end;
                return Ok(Some(body));
            }
        }
        self.next_row_refilled()
    }

    /// [`Self::next_row`] for a row not whole in the buffer: refills it first.
    #[inline(never)]
    fn next_row_refilled(&mut self) -> Result<Option<std::ops::Range<usize>>> {
        match self.fill(LEN_BYTES)? {
            0 => return Ok(None),
            n if n < LEN_BYTES => bail!("spill file {} truncated", self.path.display()),
            _ => {}
        }
        let mut len = [0u8; LEN_BYTES];
        len.copy_from_slice(&self.buffer[self.start..self.start + LEN_BYTES]);
        let len = u32::from_le_bytes(len) as usize;
        if self.fill(LEN_BYTES + len)? < LEN_BYTES + len {
            bail!("spill file {} truncated", self.path.display());
        }
        let body = self.start + LEN_BYTES..self.start + LEN_BYTES + len;
        self.start = body.end;
        Ok(Some(body))
    }
}

enum Source {
    Memory {
        arena: Vec<u8>,
        entries: Vec<Entry>,
        next: usize,
    },
    File(RunReader),
}

/// The head row of one run during a merge.
struct Cursor {
    source: Source,
    /// The head row's body: a range of the arena or of the file buffer.
    body: std::ops::Range<usize>,
    /// The head row's key: a range of the body.
    key: std::ops::Range<usize>,
    /// The head row's database and first key digit: most comparisons end there.
    head: (i64, (u64, u64)),
}

impl Cursor {
    fn open(run: Run) -> Result<Option<Self>> {
        let source = match run {
            Run::Memory {
                arena,
                entries,
                from,
            } => Source::Memory {
                arena,
                entries,
                next: from,
            },
            Run::File(path) => Source::File(RunReader::open(path)?),
        };
        let mut c = Self {
            source,
            body: 0..0,
            key: 0..0,
            head: (0, (0, 0)),
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
                if *next % GATHER == 0 {
                    // Rows in sorted order lie all over the arena: the misses of the next
                    // rows are paid together.
                    let ahead = entries.get(*next..).unwrap_or_default();
                    touch_rows(&ahead[..ahead.len().min(GATHER)], arena);
                }
                *next += 1;
                let body = body_at(arena, e.offset)?;
                let start = e.offset as usize + LEN_BYTES;
                self.body = start..start + body.len();
            }
            Source::File(reader) => match reader.next_row()? {
                Some(body) => self.body = body,
                None => return Ok(false),
            },
        }
        let body = self.body();
        let (db, key) = db_key(body)?;
        let key_start = key.as_ptr() as usize - body.as_ptr() as usize;
        let head = (db, digit(key, 0));
        self.key = key_start..key_start + key.len();
        self.head = head;
        Ok(true)
    }

    fn body(&self) -> &[u8] {
        match &self.source {
            Source::Memory { arena, .. } => &arena[self.body.clone()],
            Source::File(reader) => &reader.buffer[self.body.clone()],
        }
    }

    /// The head row framed: its length prefix (just before the body in the arena and in the
    /// file buffer) and body.
    fn row(&self) -> &[u8] {
        let framed = self.body.start.saturating_sub(LEN_BYTES)..self.body.end;
        match &self.source {
            Source::Memory { arena, .. } => &arena[framed],
            Source::File(reader) => &reader.buffer[framed],
        }
    }

    fn key(&self) -> &[u8] {
        &self.body()[self.key.clone()]
    }

    #[inline(always)]
    fn less(&self, other: &Cursor) -> bool {
        match self.head.cmp(&other.head) {
            // Equal heads: the first window of both keys is the same, compare the rest (both
            // exhausted: equal, and neither goes first).
            std::cmp::Ordering::Equal if self.head == EXHAUSTED => false,
            std::cmp::Ordering::Equal => {
                let from = self.key.len().min(other.key.len()).min(WINDOW);
                self.key()[from..] < other.key()[from..]
            }
            o => o.is_lt(),
        }
    }
}

/// Merges `runs` into one stream of rows in (db, key) order, each framed (its length prefix
/// and body) as run files hold it, so that it is copied on in one piece.
///
/// A tournament ("loser") tree over the runs' head rows: each inner node keeps the run that
/// lost the match played there, so replacing the winner's row costs one comparison per level
/// (a binary heap needs two). An exhausted run's head is past every row's ([`EXHAUSTED`]).
pub fn merge(runs: Vec<Run>, mut emit: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let mut cursors: Vec<Cursor> = Vec::with_capacity(runs.len());
    for run in runs {
        if let Some(c) = Cursor::open(run)? {
            cursors.push(c);
        }
    }
    let k = cursors.len();
    if k == 0 {
        return Ok(());
    }
    // Nodes 1..k are inner nodes, k..2k the runs (run i at k + i); node p's parent is p / 2.
    let mut losers = vec![0usize; k];
    let mut winners = vec![0usize; 2 * k];
    for (i, w) in winners[k..].iter_mut().enumerate() {
        *w = i;
    }
    for p in (1..k).rev() {
        let (a, b) = (winners[2 * p], winners[2 * p + 1]);
        (winners[p], losers[p]) = if cursors[a].less(&cursors[b]) {
            (a, b)
        } else {
            (b, a)
        };
    }
    // With one run, node 1 is that run's leaf, which holds 0.
    let mut winner = winners[1];
    let mut live = k;
    loop {
        let top = &mut cursors[winner];
        emit(top.row())?;
        if !top.advance()? {
            top.head = EXHAUSTED;
            live -= 1;
            if live == 0 {
                return Ok(());
            }
        }
        let mut p = (winner + k) / 2;
        while p >= 1 {
            if cursors[losers[p]].less(&cursors[winner]) {
                std::mem::swap(&mut losers[p], &mut winner);
            }
            p /= 2;
        }
    }
}

/// The head of an exhausted run: after every row's, whose digit's low byte (the rest-of-key
/// count) is at most 16.
const EXHAUSTED: (i64, (u64, u64)) = (i64::MAX, (u64::MAX, u64::MAX));
