//! External sort of one instance's rows by (db, key) in bounded memory.
//!
//! Rows are kept in a compact row form ([`rows`]) in an arena; when the arena reaches half the
//! budget it is ordered ([`order`]) and written as a run file by a spill thread ([`spill`])
//! while the other half fills (ordered by the sort thread itself when the spill thread is still
//! busy with the previous one). At the end the run in flight stops writing, and the runs, the
//! rows it had not written yet and the rows still in memory are merged ([`merge`]), at most
//! [`fan_in`] files at a time (extra passes when there are more), so open
//! files stay bounded whatever the number of keys, and the merged rows are decoded by column
//! ([`sorted`]) for the writer.

mod decode;
mod encoder;
mod merge;
mod order;
mod rows;
mod sorted;
mod spill;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::RecordBatch;

pub use encoder::{SortBlock, SortEncoder};
use merge::{Run, RunWriter};
use order::{digit, Entries, Entry};
use rows::{encode_row, Columns};
pub use rows::{Constants, Names};
pub use sorted::SortedColumns;
use sorted::SortedMeta;
use spill::{Spilled, Spiller};

/// Most run files open at once during a merge.
pub const FAN_IN: usize = 32;

/// Run files merged at once: [`FAN_IN`], fewer when the process may open few files
/// (`ulimit -n`), so that concurrent instances, their inputs and outputs still fit.
pub fn fan_in() -> usize {
    static FAN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *FAN.get_or_init(|| fan_in_for(open_files_limit()))
}

/// Fan-in for a soft limit of `limit` open files: a quarter of what is left after 24 for the
/// runtime, inputs and outputs, between 2 and [`FAN_IN`].
pub fn fan_in_for(limit: Option<u64>) -> usize {
    match limit {
        None => FAN_IN,
        Some(n) => (n.saturating_sub(24) / 4).clamp(2, FAN_IN as u64) as usize,
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` when unknown or
/// unlimited.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
/// Bytes of one in-memory row's sort entry.
const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();
/// Largest arena: row offsets are 32-bit.
const MAX_ARENA: usize = 1 << 31;

/// Sorts rows of one instance with a memory budget, spilling runs under `spill_dir`.
pub struct Sorter {
    /// Bytes of one arena and its entries: half the memory budget, since a full arena is
    /// written out (by the spill thread) while the next one fills.
    budget: usize,
    arena: Vec<u8>,
    entries: Entries,
    names: Names,
    constants: Option<Constants>,
    spill_dir: PathBuf,
    runs: Vec<PathBuf>,
    next_run: usize,
    /// Started at the first spill.
    spiller: Option<Spiller>,
}

impl Sorter {
    /// A sorter that keeps at most `budget` bytes of rows in memory.
    pub fn new(budget: usize, spill_dir: PathBuf) -> Self {
        Self {
            budget: (budget / 2).max(1),
            arena: Vec::new(),
            entries: Entries::default(),
            names: Names::default(),
            constants: None,
            spill_dir,
            runs: Vec::new(),
            next_run: 0,
            spiller: None,
        }
    }

    /// Memory the rows held take: the arena's filled part and the entries' whole capacity.
    fn used(&self) -> usize {
        self.arena.len() + self.entries.list.capacity() * ENTRY_BYTES
    }

    /// Makes room for `n` more entries without growing past the budget: the entries grow by
    /// doubling, so their capacity is what counts.
    fn reserve_entries(&mut self, n: usize) {
        let list = &self.entries.list;
        if list.capacity() - list.len() < n {
            let room = self.budget.saturating_sub(self.used()) / ENTRY_BYTES;
            let grow = list.capacity().clamp(1024, room.max(1024)).max(n);
            self.entries.list.reserve_exact(grow);
        }
    }

    /// The names table this sorter codes type and encoding names with: a [`SortEncoder`]
    /// made with a clone of it agrees with the sorter on every code.
    pub fn names(&self) -> Names {
        self.names.clone()
    }

    /// Checks that rows of `c` belong to the instance of the rows before.
    fn same_instance(&mut self, c: &Constants) -> Result<()> {
        match &self.constants {
            None => self.constants = Some(c.clone()),
            Some(have) => anyhow::ensure!(
                have == c,
                "rows of one instance must share cluster, batch and instance: {c:?} after {have:?}"
            ),
        }
        Ok(())
    }

    /// Room for the budget up front: the arena never moves while it fills.
    fn reserve_arena(&mut self) {
        if self.arena.capacity() == 0 {
            self.arena.reserve(self.budget.min(MAX_ARENA));
        }
    }

    /// Adds the rows of `batch`, spilling sorted runs whenever the budget is reached.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let cols = Columns::of(batch)?;
        if let Some(c) = Constants::of(&cols)? {
            self.same_instance(&c)?;
        }
        self.reserve_arena();
        for r in 0..cols.rows() {
            self.reserve_entries(1);
            let offset = self.arena.len() as u32;
            let row = cols.row(r);
            encode_row(&row, &mut self.names, &mut self.arena)?;
            self.entries.push(
                row.db,
                Entry {
                    digit: digit(row.key, 0),
                    offset,
                },
            );
            if self.used() >= self.budget || self.arena.len() >= MAX_ARENA {
                self.spill()?;
            }
        }
        Ok(())
    }

    /// Adds the rows of a block of the row encoder, spilling first when they would take the
    /// held rows past the budget (a block is not split: the budget may be passed by one block
    /// alone, which is spilled right away).
    pub fn push_block(&mut self, block: SortBlock) -> Result<()> {
        self.same_instance(&block.constants)?;
        let rows = block.entries.list.len();
        if rows == 0 {
            return Ok(());
        }
        let bytes = block.arena.len() + rows * ENTRY_BYTES;
        if !self.entries.list.is_empty()
            && (self.used() + bytes > self.budget
                || self.arena.len() + block.arena.len() > MAX_ARENA)
        {
            self.spill()?;
        }
        self.reserve_arena();
        let base = u32::try_from(self.arena.len()).context("sort arena over 4 GiB")?;
        anyhow::ensure!(
            block.arena.len() <= MAX_ARENA,
            "a block of {} bytes of rows is too large to sort",
            block.arena.len()
        );
        self.arena.extend_from_slice(&block.arena);
        self.reserve_entries(rows);
        self.entries.append(&block.entries, base);
        if self.used() >= self.budget || self.arena.len() >= MAX_ARENA {
            self.spill()?;
        }
        Ok(())
    }

    /// Runs spilled so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    fn new_run_path(&mut self) -> Result<PathBuf> {
        if self.next_run == 0 {
            std::fs::create_dir_all(&self.spill_dir).with_context(|| {
                format!("cannot create spill directory {}", self.spill_dir.display())
            })?;
        }
        let p = self
            .spill_dir
            .join(format!("run-{:06}.rows", self.next_run));
        self.next_run += 1;
        Ok(p)
    }

    /// Hands the full arena to the spill thread and goes on with the buffers of the previous
    /// run (once written) or new ones.
    fn spill(&mut self) -> Result<()> {
        let path = self.new_run_path()?;
        let spiller = match &mut self.spiller {
            Some(s) => s,
            None => self.spiller.insert(Spiller::start()?),
        };
        // The spill thread is the busiest while rows come in: rather than wait for it, this
        // thread orders its full arena itself (the spill thread then only writes it).
        let ordered = spiller.busy();
        if ordered {
            self.entries.sort(&self.arena)?;
        }
        let spare = spiller.wait()?;
        let arena = std::mem::take(&mut self.arena);
        let entries = std::mem::take(&mut self.entries);
        spiller.write(arena, entries, ordered, path.clone())?;
        self.runs.push(path);
        if let Some(Spilled {
            mut arena,
            mut entries,
            written,
        }) = spare
        {
            anyhow::ensure!(
                written == entries.list.len(),
                "sort run cut short: {written} of {} rows written",
                entries.list.len()
            );
            // A huge key made an arena grow past the budget: give that memory back.
            if arena.capacity() <= 2 * self.budget {
                arena.clear();
                self.arena = arena;
            }
            entries.clear();
            self.entries = entries;
        }
        Ok(())
    }

    /// [`Self::finish_sorted`], the rows handed over as record batches (one per block of
    /// sorted columns).
    #[cfg(test)]
    pub fn finish(&mut self, mut emit: impl FnMut(RecordBatch) -> Result<()> + Send) -> Result<()> {
        self.finish_sorted(|cols| emit(cols.to_batch()?))
    }

    /// Emits every row in (db, key) order, by column, then removes the spill files; the
    /// merged rows are decoded on a thread of their own ([`decode`]).
    pub fn finish_sorted(
        &mut self,
        emit: impl FnMut(SortedColumns) -> Result<()> + Send,
    ) -> Result<()> {
        let Some(constants) = self.constants.take() else {
            self.cleanup();
            return Ok(());
        };
        // Names a row encoder coded since this side last looked.
        self.names.refresh()?;
        // The rows in memory are ordered while the spill thread writes the last full arena,
        // which then stops: the rows it has not written yet are merged from memory.
        self.entries.sort(&self.arena)?;
        let in_flight = match &mut self.spiller {
            Some(spiller) => spiller.hurry()?,
            None => None,
        };
        self.spiller = None;
        let mut in_memory = Vec::with_capacity(2);
        if let Some(Spilled {
            arena,
            entries,
            written,
        }) = in_flight
        {
            // The run in flight is the last one named.
            if written == 0 {
                if let Some(path) = self.runs.pop() {
                    remove_if_there(&path)?;
                }
            }
            if written < entries.list.len() {
                in_memory.push(Run::Memory {
                    arena,
                    entries: entries.list,
                    from: written,
                });
            }
        }
        let fan_in = fan_in();
        while self.runs.len() > fan_in {
            let group: Vec<PathBuf> = self.runs.drain(..fan_in).collect();
            let path = self.new_run_path()?;
            let mut w = RunWriter::create(&path)?;
            merge::merge(group.iter().cloned().map(Run::File).collect(), |row| {
                w.write(row)
            })?;
            w.close()?;
            for p in &group {
                std::fs::remove_file(p)
                    .with_context(|| format!("cannot remove {}", p.display()))?;
            }
            self.runs.push(path);
        }
        let mut runs: Vec<Run> = std::mem::take(&mut self.runs)
            .into_iter()
            .map(Run::File)
            .collect();
        runs.extend(in_memory);
        runs.push(Run::Memory {
            arena: std::mem::take(&mut self.arena),
            entries: std::mem::take(&mut self.entries).list,
            from: 0,
        });
        let meta = Arc::new(SortedMeta::new(&self.names, constants));
        decode::decode_sorted(meta, |take| merge::merge(runs, take), emit)?;
        self.cleanup();
        Ok(())
    }

    /// Removes the spill directory (after success or on abort), once the run in flight, if
    /// any, has stopped.
    pub fn cleanup(&mut self) {
        self.spiller = None;
        if self.next_run > 0 {
            let _ = std::fs::remove_dir_all(&self.spill_dir);
        }
    }
}

/// Removes the file at `path`, if there is one.
fn remove_if_there(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod fan_in_tests {
    use super::*;

    #[test]
    fn fan_in_follows_the_open_files_limit() {
        assert_eq!(fan_in_for(None), FAN_IN);
        assert_eq!(fan_in_for(Some(1024)), FAN_IN);
        assert_eq!(fan_in_for(Some(64)), 10);
        assert_eq!(fan_in_for(Some(20)), 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, BinaryArray, Int64Array};
    use rdbinsight_sink_api::testing::sample_batch;
    use rdbinsight_sink_api::{schema, RecordBuilder, RunInfo};

    fn db_and_key(b: &RecordBatch) -> (&Int64Array, &BinaryArray) {
        let db = b.column_by_name(schema::DB).unwrap();
        let key = b.column_by_name(schema::KEY).unwrap();
        (
            db.as_any().downcast_ref::<Int64Array>().unwrap(),
            key.as_any().downcast_ref::<BinaryArray>().unwrap(),
        )
    }

    fn keys_of(batches: &[RecordBatch]) -> Vec<(i64, Vec<u8>)> {
        let mut out = Vec::new();
        for b in batches {
            let (db, key) = db_and_key(b);
            for r in 0..b.num_rows() {
                out.push((db.value(r), key.value(r).to_vec()));
            }
        }
        out
    }

    /// Every row of `batches` (one-row slices of each column), ordered by (db, key): what a
    /// sort must keep. Array equality is logical, so slices of different buffers compare.
    fn rows_of(batches: &[RecordBatch]) -> Vec<(i64, Vec<u8>, Vec<arrow_array::ArrayRef>)> {
        let mut out = Vec::new();
        for b in batches {
            let (db, key) = db_and_key(b);
            for r in 0..b.num_rows() {
                let cells = b.columns().iter().map(|c| c.slice(r, 1)).collect();
                out.push((db.value(r), key.value(r).to_vec(), cells));
            }
        }
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        out
    }

    fn run() -> RunInfo {
        RunInfo {
            cluster: "c".into(),
            batch_unix_nanos: 1,
            tool_version: "t".into(),
        }
    }

    fn sort_all(mut sorter: Sorter) -> Vec<RecordBatch> {
        let mut got = Vec::new();
        sorter
            .finish(|b| {
                got.push(b);
                Ok(())
            })
            .unwrap();
        got
    }

    #[test]
    fn sorts_with_many_spills_and_multi_pass_merge() {
        let dir = tempfile::tempdir().unwrap();
        // About 250 rows per run: more runs than FAN_IN.
        let mut sorter = Sorter::new(250 * 60, dir.path().join("spill"));
        let mut input = Vec::new();
        for i in (0..40).rev() {
            let b = sample_batch(&run(), "i", i * 250, 250);
            sorter.push(&b).unwrap();
            input.push(b);
        }
        assert!(
            sorter.spilled_runs() > FAN_IN,
            "{} runs",
            sorter.spilled_runs()
        );
        let got = sort_all(sorter);
        let mut want = keys_of(&input);
        want.sort();
        assert_eq!(keys_of(&got), want);
        assert!(rows_of(&got) == rows_of(&input), "every column kept");
        assert!(!dir.path().join("spill").exists(), "spill files removed");
    }

    #[test]
    fn in_memory_sort_keeps_every_column() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(1 << 30, dir.path().join("spill"));
        let input = [
            sample_batch(&run(), "i", 500, 100),
            sample_batch(&run(), "i", 0, 100),
        ];
        for b in &input {
            sorter.push(b).unwrap();
        }
        let got = sort_all(sorter);
        let keys = keys_of(&got);
        assert_eq!(keys.len(), 200);
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        assert!(rows_of(&got) == rows_of(&input), "every column kept");
        assert_eq!(got[0].schema(), rdbinsight_sink_api::record_schema());
        assert!(!dir.path().join("spill").exists());
    }

    #[test]
    fn rows_of_another_instance_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(1 << 20, dir.path().join("spill"));
        sorter.push(&sample_batch(&run(), "a", 0, 10)).unwrap();
        let err = sorter.push(&sample_batch(&run(), "b", 10, 10)).unwrap_err();
        assert!(err.to_string().contains("share cluster"), "{err}");
    }

    #[test]
    fn a_key_larger_than_the_budget_is_sorted_and_its_memory_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let budget = 64 << 10;
        let mut sorter = Sorter::new(budget, dir.path().join("spill"));
        let mut input = Vec::new();
        for i in 0..4 {
            let b = sample_batch(&run(), "i", i * 100, 100);
            let mut columns = b.columns().to_vec();
            let key = b.column_by_name(schema::KEY).unwrap();
            let key = key.as_any().downcast_ref::<BinaryArray>().unwrap();
            let mut keys: Vec<Vec<u8>> = key.iter().map(|k| k.unwrap().to_vec()).collect();
            keys[50] = vec![b'k'; 1 << 20];
            keys[50].extend_from_slice(&(i as u32).to_be_bytes());
            let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
            columns[4] = std::sync::Arc::new(BinaryArray::from(keys));
            let b = RecordBatch::try_new(b.schema(), columns).unwrap();
            sorter.push(&b).unwrap();
            assert!(
                sorter.arena.capacity() <= 2 * budget,
                "arena of {} bytes kept after the huge key",
                sorter.arena.capacity()
            );
            input.push(b);
        }
        assert!(sorter.spilled_runs() >= 4);
        let got = sort_all(sorter);
        assert!(rows_of(&got) == rows_of(&input), "every column kept");
        let keys = keys_of(&got);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    /// The rows of one batch in an arena of their own, and their entries in arrival order.
    fn rows_held(rows: usize) -> (Vec<u8>, Entries) {
        let mut sorter = Sorter::new(1 << 30, PathBuf::from("unused"));
        sorter.push(&sample_batch(&run(), "i", 0, rows)).unwrap();
        assert_eq!(sorter.spilled_runs(), 0);
        (
            std::mem::take(&mut sorter.arena),
            std::mem::take(&mut sorter.entries),
        )
    }

    /// A run told to hurry part way through its file (the input has ended): the rows it wrote
    /// are merged from the file and the others from memory, each once, in order.
    #[test]
    fn a_run_stopped_part_way_is_merged_from_its_file_and_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (arena, mut entries) = rows_held(5000);
        entries.sort(&arena).unwrap();
        let want: Vec<Vec<u8>> = entries
            .list
            .iter()
            .map(|e| order::row_at(&arena, e.offset).unwrap().to_vec())
            .collect();
        let path = dir.path().join("run");
        let mut w = RunWriter::create(&path).unwrap();
        let asked = std::cell::Cell::new(0);
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > 3
        };
        let written = order::for_each_row(&entries.list, &arena, stop, |r| w.write(r)).unwrap();
        w.close().unwrap();
        assert_eq!(written, 3 * order::GATHER);
        let runs = vec![
            Run::File(path),
            Run::Memory {
                arena,
                entries: entries.list,
                from: written,
            },
        ];
        let mut got = Vec::new();
        merge::merge(runs, |b| {
            got.push(b.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "rows in order, each once");
    }

    /// A run told to hurry before its file is begun is ordered but not written: no file.
    #[test]
    fn a_run_told_to_hurry_before_its_file_is_begun_leaves_none() {
        let dir = tempfile::tempdir().unwrap();
        let (arena, entries) = rows_held(3000);
        let mut sorted = Entries::default();
        sorted.append(&entries, 0);
        sorted.sort(&arena).unwrap();
        let want: Vec<u32> = sorted.list.iter().map(|e| e.offset).collect();
        let mut spiller = Spiller::start().unwrap();
        assert!(spiller.hurry().unwrap().is_none(), "nothing in flight");
        let path = dir.path().join("run");
        spiller.write(arena, entries, false, path.clone()).unwrap();
        let spilled = spiller.wait().unwrap().unwrap();
        assert_eq!(spilled.written, 0);
        assert!(!path.exists());
        let got: Vec<u32> = spilled.entries.list.iter().map(|e| e.offset).collect();
        assert!(got == want, "ordered all the same");
    }

    /// A run the sort thread ordered itself (the spill thread was busy) is written in the
    /// order it comes in, not ordered again; the spill thread is busy until it has written
    /// it, and the run is handed back once, whether `busy` or `wait` saw it done first.
    #[test]
    fn a_run_ordered_by_the_sort_thread_is_written_as_it_comes() {
        let dir = tempfile::tempdir().unwrap();
        let (arena, mut entries) = rows_held(3000);
        entries.sort(&arena).unwrap();
        // Reversed: a spill thread that ordered the run again would undo it.
        entries.list.reverse();
        let want: Vec<Vec<u8>> = entries
            .list
            .iter()
            .map(|e| order::row_at(&arena, e.offset).unwrap().to_vec())
            .collect();
        let mut spiller = Spiller::start().unwrap();
        assert!(!spiller.busy(), "nothing in flight");
        let path = dir.path().join("run");
        spiller.write(arena, entries, true, path.clone()).unwrap();
        while spiller.busy() {
            std::thread::yield_now();
        }
        let spilled = spiller.wait().unwrap().unwrap();
        assert_eq!(spilled.written, want.len());
        assert!(spiller.wait().unwrap().is_none(), "handed back once");
        let mut got = Vec::new();
        merge::merge(vec![Run::File(path)], |b| {
            got.push(b.to_vec());
            Ok(())
        })
        .unwrap();
        assert!(got == want, "the rows as they came");
    }

    /// The merged rows are decoded on a thread of their own: when the receiver of the
    /// decoded rows fails, the merge stops with its error (no hang, whatever the queue holds),
    /// and a damaged spill file ends the decoding too.
    #[test]
    fn errors_on_either_side_of_the_decoding_stop_the_sort() {
        let dir = tempfile::tempdir().unwrap();
        // Two output batches and more, in a few runs.
        let mut sorter = Sorter::new(8 << 20, dir.path().join("spill"));
        for i in 0..30 {
            sorter
                .push(&sample_batch(&run(), "i", i * 5000, 5000))
                .unwrap();
        }
        assert!(sorter.spilled_runs() > 1);
        let mut emitted = 0;
        let err = sorter
            .finish(|_| {
                emitted += 1;
                anyhow::bail!("writer gone")
            })
            .unwrap_err();
        assert_eq!(format!("{err:#}"), "writer gone");
        assert_eq!(emitted, 1);

        let mut sorter = Sorter::new(250 * 60, dir.path().join("spill2"));
        for i in 0..40 {
            sorter
                .push(&sample_batch(&run(), "i", i * 250, 250))
                .unwrap();
        }
        let first = sorter.runs[0].clone();
        let mut bytes = std::fs::read(&first).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&first, bytes).unwrap();
        let err = sorter.finish(|_| Ok(())).unwrap_err();
        assert!(format!("{err:#}").contains("truncated"), "{err:#}");
    }

    /// One block of the row encoder holding the sample rows `start..start + len`.
    fn sample_block(encoder: &mut SortEncoder, start: usize, len: usize) -> SortBlock {
        use rdbinsight_sink_api::testing::{sample_key, sample_row};
        use rdbinsight_sink_api::RowEncoder;
        for i in start..start + len {
            encoder.push(&sample_row(i, &sample_key(i))).unwrap();
        }
        assert_eq!(encoder.rows(), len);
        let block = encoder.take().unwrap();
        assert_eq!(block.rows(), len);
        block.into_inner::<SortBlock>().unwrap()
    }

    /// Blocks of the row encoder sort like record batches of the same rows, in memory and
    /// with a block spilled on its own (over the budget alone) and merged in several passes;
    /// names coded on either side (a batch's on the sort thread, a block's on the reading
    /// thread) read back right.
    #[test]
    fn blocks_of_the_row_encoder_sort_like_batches() {
        for budget in [1 << 30, 250 * 60] {
            let dir = tempfile::tempdir().unwrap();
            let mut sorter = Sorter::new(budget, dir.path().join("spill"));
            let mut encoder = SortEncoder::new(Constants::new("c", 1, "i"), sorter.names());
            let mut input = Vec::new();
            for i in (0..40).rev() {
                sorter
                    .push_block(sample_block(&mut encoder, i * 250, 250))
                    .unwrap();
                input.push(sample_batch(&run(), "i", i * 250, 250));
            }
            // A name the sorter codes first, then the encoder.
            let mut other = RecordBuilder::new("c", 1, "i", 2);
            let mut row = rdbinsight_sink_api::testing::string_row(9, b"zz", 1, 2);
            row.key_type = "stream";
            row.encoding = "stream-listpacks";
            other.append(&row);
            let batch = other.finish().unwrap();
            sorter.push(&batch).unwrap();
            input.push(batch);
            row.key = b"zy";
            use rdbinsight_sink_api::RowEncoder;
            encoder.push(&row).unwrap();
            let block = encoder.take().unwrap().into_inner::<SortBlock>().unwrap();
            sorter.push_block(block).unwrap();
            other.append(&row);
            input.push(other.finish().unwrap());
            if budget < 1 << 20 {
                assert!(sorter.spilled_runs() > FAN_IN, "{}", sorter.spilled_runs());
            } else {
                assert_eq!(sorter.spilled_runs(), 0);
            }
            let got = sort_all(sorter);
            let keys = keys_of(&got);
            assert_eq!(keys.len(), 40 * 250 + 2);
            assert!(keys.windows(2).all(|w| w[0] < w[1]));
            assert!(rows_of(&got) == rows_of(&input), "every column kept");
        }
    }

    /// A block holding a key larger than the budget is sorted, and the memory it took is
    /// given back: by the sort's arena and by the encoder's next block.
    #[test]
    fn a_block_with_a_huge_key_is_sorted_and_its_memory_given_back() {
        use rdbinsight_sink_api::RowEncoder;
        let dir = tempfile::tempdir().unwrap();
        let budget = 64 << 10;
        let mut sorter = Sorter::new(budget, dir.path().join("spill"));
        let mut encoder = SortEncoder::new(Constants::new("c", 1, "i"), sorter.names());
        let huge = vec![b'k'; 32 << 20];
        let mut want = Vec::new();
        for i in 0..3u8 {
            let mut key = huge.clone();
            key.push(b'0' + (2 - i));
            encoder
                .push(&rdbinsight_sink_api::testing::string_row(0, &key, 1, 2))
                .unwrap();
            want.push((0, key));
            let block = encoder.take().unwrap().into_inner::<SortBlock>().unwrap();
            sorter.push_block(block).unwrap();
            assert!(
                sorter.arena.capacity() <= 2 * budget,
                "arena of {} bytes kept after the huge key",
                sorter.arena.capacity()
            );
            assert!(encoder.arena.capacity() <= 8 << 20, "next block reserved");
        }
        want.sort();
        assert_eq!(keys_of(&sort_all(sorter)), want);
    }

    #[test]
    fn blocks_of_another_instance_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(1 << 20, dir.path().join("spill"));
        sorter.push(&sample_batch(&run(), "a", 0, 10)).unwrap();
        let mut encoder = SortEncoder::new(Constants::new("c", 1, "b"), sorter.names());
        let err = sorter
            .push_block(sample_block(&mut encoder, 10, 10))
            .unwrap_err();
        assert!(err.to_string().contains("share cluster"), "{err}");
    }

    #[test]
    fn nothing_pushed_emits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sorter = Sorter::new(1 << 20, dir.path().join("spill"));
        assert!(sort_all(sorter).is_empty());
    }
}
