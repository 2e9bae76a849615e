//! External sort of one instance's rows by (db, key) in bounded memory.
//!
//! Batches are buffered up to a byte budget, then sorted and spilled as a Parquet run file.
//! At the end, runs are merged at most [`fan_in`] at a time (extra passes when there are more),
//! so open files stay bounded whatever the number of keys.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use arrow_array::{Array, BinaryArray, Int64Array, RecordBatch};
use arrow_select::interleave::interleave_record_batch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rdbinsight_sink_api::{record_schema, schema};

/// Most run files open at once during a merge.
pub const FAN_IN: usize = 16;

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
/// Rows per batch of sorted output.
pub const OUTPUT_ROWS: usize = 65_536;
/// Rows per batch read back from a run.
const RUN_READ_ROWS: usize = 8192;

fn sort_columns(batch: &RecordBatch) -> Result<(&Int64Array, &BinaryArray)> {
    let db = batch
        .column_by_name(schema::DB)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .context("batch has no Int64 db column")?;
    let key = batch
        .column_by_name(schema::KEY)
        .and_then(|c| c.as_any().downcast_ref::<BinaryArray>())
        .context("batch has no Binary key column")?;
    Ok((db, key))
}

/// Sorts rows of one instance with a memory budget, spilling runs under `spill_dir`.
pub struct Sorter {
    budget: usize,
    buffered: Vec<RecordBatch>,
    buffered_bytes: usize,
    spill_dir: PathBuf,
    runs: Vec<PathBuf>,
    next_run: usize,
}

impl Sorter {
    /// A sorter that keeps at most `budget` bytes of rows in memory.
    pub fn new(budget: usize, spill_dir: PathBuf) -> Self {
        Self {
            budget: budget.max(1),
            buffered: Vec::new(),
            buffered_bytes: 0,
            spill_dir,
            runs: Vec::new(),
            next_run: 0,
        }
    }

    /// Whether adding `batch` would make the sorter spill (do it on a blocking thread).
    pub fn would_spill(&self, batch: &RecordBatch) -> bool {
        self.buffered_bytes + batch.get_array_memory_size() > self.budget
            && !self.buffered.is_empty()
    }

    /// Adds rows; spills the buffer first when the budget would be exceeded.
    pub fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if self.would_spill(&batch) {
            self.spill()?;
        }
        self.buffered_bytes += batch.get_array_memory_size();
        self.buffered.push(batch);
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
            .join(format!("run-{:06}.parquet", self.next_run));
        self.next_run += 1;
        Ok(p)
    }

    fn spill(&mut self) -> Result<()> {
        let path = self.new_run_path()?;
        let mut w = RunWriter::create(&path)?;
        sort_in_memory(std::mem::take(&mut self.buffered), |b| w.write(&b))?;
        w.close()?;
        self.buffered_bytes = 0;
        self.runs.push(path);
        Ok(())
    }

    /// Emits every row in (db, key) order, in batches of up to [`OUTPUT_ROWS`], then removes the
    /// spill files.
    pub fn finish(mut self, mut emit: impl FnMut(RecordBatch) -> Result<()>) -> Result<()> {
        if self.runs.is_empty() {
            return sort_in_memory(std::mem::take(&mut self.buffered), emit);
        }
        if !self.buffered.is_empty() {
            self.spill()?;
        }
        let fan_in = fan_in();
        while self.runs.len() > fan_in {
            let group: Vec<PathBuf> = self.runs.drain(..fan_in).collect();
            let path = self.new_run_path()?;
            let mut w = RunWriter::create(&path)?;
            merge(&group, |b| w.write(&b))?;
            w.close()?;
            for p in &group {
                std::fs::remove_file(p)
                    .with_context(|| format!("cannot remove {}", p.display()))?;
            }
            self.runs.push(path);
        }
        merge(&self.runs, &mut emit)?;
        self.cleanup();
        Ok(())
    }

    /// Removes the spill directory (after success or on abort).
    pub fn cleanup(&self) {
        if self.next_run > 0 {
            let _ = std::fs::remove_dir_all(&self.spill_dir);
        }
    }
}

/// The first 8 bytes of a key, zero-padded, as a big-endian integer: orders like the bytes.
/// (A shorter key padded with zeros ties with a longer one that continues with zeros; the full
/// comparison on ties settles it.)
fn key_prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

/// Sorts batches held in memory and emits them in order.
fn sort_in_memory(
    batches: Vec<RecordBatch>,
    mut emit: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    if batches.is_empty() {
        return Ok(());
    }
    let cols: Vec<(&Int64Array, &BinaryArray)> =
        batches.iter().map(sort_columns).collect::<Result<_>>()?;
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    // Sort on (db, first 8 key bytes as a big-endian integer) and compare whole keys only on
    // ties: most comparisons never touch the key bytes.
    let mut idx: Vec<(i64, u64, u32, u32)> = Vec::with_capacity(total);
    for (b, (db, key)) in cols.iter().enumerate() {
        idx.extend(
            (0..key.len()).map(|r| (db.value(r), key_prefix(key.value(r)), b as u32, r as u32)),
        );
    }
    idx.sort_unstable_by(|a, b| {
        (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| {
            let ka = cols[a.2 as usize].1.value(a.3 as usize);
            let kb = cols[b.2 as usize].1.value(b.3 as usize);
            ka.cmp(kb)
        })
    });
    let idx: Vec<(usize, usize)> = idx
        .into_iter()
        .map(|(_, _, b, r)| (b as usize, r as usize))
        .collect();
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    for chunk in idx.chunks(OUTPUT_ROWS) {
        emit(interleave_record_batch(&refs, chunk)?)?;
    }
    Ok(())
}

/// A sorted run being written.
struct RunWriter {
    path: PathBuf,
    writer: ArrowWriter<File>,
}

impl RunWriter {
    fn create(path: &Path) -> Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("cannot create spill file {}", path.display()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_dictionary_enabled(false)
            .build();
        let writer = ArrowWriter::try_new(file, record_schema(), Some(props))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .with_context(|| format!("cannot write spill file {}", self.path.display()))
    }

    fn close(self) -> Result<()> {
        self.writer
            .close()
            .with_context(|| format!("cannot finish spill file {}", self.path.display()))?;
        Ok(())
    }
}

/// One run being read during a merge.
struct Cursor {
    reader: ParquetRecordBatchReader,
    batch: RecordBatch,
    db: Int64Array,
    keys: BinaryArray,
    held: usize,
    row: usize,
}

impl Cursor {
    fn new(reader: ParquetRecordBatchReader, batch: RecordBatch, held: usize) -> Result<Self> {
        let (db, keys) = sort_columns(&batch)?;
        let (db, keys) = (db.clone(), keys.clone());
        Ok(Self {
            reader,
            batch,
            db,
            keys,
            held,
            row: 0,
        })
    }

    fn set_batch(&mut self, batch: RecordBatch, held: usize) -> Result<()> {
        let (db, keys) = sort_columns(&batch)?;
        self.db = db.clone();
        self.keys = keys.clone();
        self.batch = batch;
        self.held = held;
        self.row = 0;
        Ok(())
    }

    fn key(&self) -> (i64, &[u8]) {
        (self.db.value(self.row), self.keys.value(self.row))
    }
}

/// Merges sorted runs (at most [`fan_in`]) into one sorted stream.
fn merge(runs: &[PathBuf], mut emit: impl FnMut(RecordBatch) -> Result<()>) -> Result<()> {
    let mut held: Vec<RecordBatch> = Vec::new();
    let mut cursors: Vec<Cursor> = Vec::with_capacity(runs.len());
    for path in runs {
        let file = File::open(path)
            .with_context(|| format!("cannot open spill file {}", path.display()))?;
        let mut reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| format!("cannot read spill file {}", path.display()))?
            .with_batch_size(RUN_READ_ROWS)
            .build()?;
        if let Some(batch) = next_nonempty(&mut reader)? {
            held.push(batch.clone());
            cursors.push(Cursor::new(reader, batch, held.len() - 1)?);
        }
    }
    let mut indices: Vec<(usize, usize)> = Vec::with_capacity(OUTPUT_ROWS);
    while !cursors.is_empty() {
        let mut best = 0;
        for i in 1..cursors.len() {
            if cursors[i].key() < cursors[best].key() {
                best = i;
            }
        }
        let c = &mut cursors[best];
        indices.push((c.held, c.row));
        c.row += 1;
        if c.row == c.batch.num_rows() {
            match next_nonempty(&mut c.reader)? {
                Some(batch) => {
                    held.push(batch.clone());
                    c.set_batch(batch, held.len() - 1)?;
                }
                None => {
                    cursors.swap_remove(best);
                }
            }
        }
        if indices.len() == OUTPUT_ROWS || (cursors.is_empty() && !indices.is_empty()) {
            let refs: Vec<&RecordBatch> = held.iter().collect();
            emit(interleave_record_batch(&refs, &indices)?)?;
            indices.clear();
            // Keep only the batches cursors still point into.
            let mut kept = Vec::with_capacity(cursors.len());
            for c in cursors.iter_mut() {
                kept.push(c.batch.clone());
                c.held = kept.len() - 1;
            }
            held = kept;
        }
    }
    Ok(())
}

fn next_nonempty(reader: &mut ParquetRecordBatchReader) -> Result<Option<RecordBatch>> {
    for batch in reader.by_ref() {
        let batch = batch?;
        if batch.num_rows() > 0 {
            return Ok(Some(batch));
        }
    }
    Ok(None)
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
    use rdbinsight_sink_api::testing::sample_batch;
    use rdbinsight_sink_api::RunInfo;

    fn keys_of(batches: &[RecordBatch]) -> Vec<(i64, Vec<u8>)> {
        let mut out = Vec::new();
        for b in batches {
            let (db, key) = sort_columns(b).unwrap();
            for r in 0..b.num_rows() {
                out.push((db.value(r), key.value(r).to_vec()));
            }
        }
        out
    }

    fn run() -> RunInfo {
        RunInfo {
            cluster: "c".into(),
            batch_unix_nanos: 1,
            tool_version: "t".into(),
        }
    }

    #[test]
    fn sorts_with_many_spills_and_multi_pass_merge() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(1, dir.path().join("spill"));
        let mut want = Vec::new();
        // 40 runs of 250 rows in descending order of start: more runs than FAN_IN.
        for i in (0..40).rev() {
            let b = sample_batch(&run(), "i", i * 250, 250);
            want.extend(keys_of(std::slice::from_ref(&b)));
            sorter.push(b).unwrap();
        }
        assert!(sorter.spilled_runs() > FAN_IN);
        let mut got = Vec::new();
        sorter
            .finish(|b| {
                got.push(b);
                Ok(())
            })
            .unwrap();
        want.sort();
        assert_eq!(keys_of(&got), want);
        assert!(!dir.path().join("spill").exists(), "spill files removed");
    }

    #[test]
    fn in_memory_sort() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = Sorter::new(1 << 30, dir.path().join("spill"));
        sorter.push(sample_batch(&run(), "i", 500, 100)).unwrap();
        sorter.push(sample_batch(&run(), "i", 0, 100)).unwrap();
        let mut got = Vec::new();
        sorter
            .finish(|b| {
                got.push(b);
                Ok(())
            })
            .unwrap();
        let keys = keys_of(&got);
        assert_eq!(keys.len(), 200);
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        assert!(!dir.path().join("spill").exists());
    }
}
