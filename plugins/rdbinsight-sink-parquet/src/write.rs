//! Parquet encoding of sorted rows on two threads.
//!
//! The rows come by column from the sort ([`SortedColumns`]: keys where the merged rows hold
//! them, type and encoding as codes) or as record batches; by column, the sink's own encoders
//! take them as they are, and only the nullable columns go through Arrow arrays.
//!
//! The columns of each row group are split between the calling thread (the required columns:
//! key, db, type, member count, rdb size, encoding) and a helper thread (the nullable ones, and
//! any the sink's own encoders leave to the column writer): each encodes and
//! compresses its columns, then the calling thread splices the finished column chunks into the
//! row group in schema order. The columns with one value per file (cluster, batch, instance) are
//! not encoded row by row: their chunks come from [`ConstantColumn`], encoded once per row-group
//! size; type and encoding are dictionary-encoded by [`NameColumn`], the key front-coded by
//! [`KeyColumn`] and db, member count and rdb size delta-packed by [`IntColumn`] (these two
//! with statistics and page indexes). The file reads as one `ArrowWriter`
//! would write it (same properties, the Arrow schema embedded), but for page indexes, which the
//! constant and name columns do not have.

use std::fs::File;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use anyhow::{anyhow, ensure, Context, Result};
use arrow_array::{
    new_null_array, Array, ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, SchemaRef};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn,
    ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::Encoding;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rdbinsight_sink_api::schema;

use crate::chunk;
use crate::constant_chunks::ConstantColumn;
use crate::early_sync::EarlySync;
use crate::int_chunks::IntColumn;
use crate::key_chunks::{KeyColumn, KeyLimits};
use crate::name_chunks::NameColumn;
use crate::sort::SortedColumns;

/// The column encoded on the calling thread (by [`KeyColumn`] when its properties allow,
/// else by the column writer): the costliest; the rest go to the helper.
const LOCAL_COLUMN: &str = schema::KEY;
/// Columns with one value in a file, their chunks encoded once per row count.
const CONSTANT_COLUMNS: [&str; 3] = [schema::CLUSTER, schema::BATCH, schema::INSTANCE];
/// Required string columns with a few values, dictionary-encoded by [`NameColumn`].
const NAME_COLUMNS: [&str; 2] = [schema::TYPE, schema::ENCODING];

/// Whether the properties of column `path` are those the sink's own encoders ([`KeyColumn`],
/// [`IntColumn`]) write: `encoding` without a dictionary, statistics per page with the offset
/// index, no bloom filter, no statistics in page headers, a codec they compress with.
fn written_here(props: &WriterProperties, path: &ColumnPath, encoding: Encoding) -> bool {
    chunk::supports(props.compression(path))
        && props.encoding(path) == Some(encoding)
        && !props.dictionary_enabled(path)
        && props.statistics_enabled(path) == EnabledStatistics::Page
        && !props.offset_index_disabled()
        && props.bloom_filter_properties(path).is_none()
        && !props.write_page_header_statistics(path)
}

/// `column` as the array type its encoder takes.
fn typed<'a, T: 'static>(column: &'a ArrayRef, field: &Field) -> Result<&'a T> {
    column.as_any().downcast_ref::<T>().with_context(|| {
        format!(
            "column {} is {}, not the type its encoder takes",
            field.name(),
            column.data_type()
        )
    })
}

/// Who encodes a column.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoder {
    /// The calling thread.
    Local,
    /// The helper thread.
    Helper,
    /// [`ConstantColumn`]: the `n`th of them.
    Constant(usize),
    /// [`NameColumn`]: the `n`th of them.
    Name(usize),
    /// [`KeyColumn`]: the `n`th of them (the key column is the only one).
    Key(usize),
    /// [`IntColumn`]: the `n`th of them.
    Int(usize),
}

/// A name column of sorted rows: each row's code, and the names by code.
type NameCodes = fn(&SortedColumns) -> (&[u8], &[Arc<str>]);

/// Where [`ParallelWriter::write_sorted`] takes a column's values from.
#[derive(Clone, Copy)]
enum FromSorted {
    /// Constant column `c` of the writer, value `k` of [`crate::sort::Constants::columns`]
    /// (in the order of [`CONSTANT_COLUMNS`]).
    Constant(usize, usize),
    /// The key column, by [`KeyColumn`] `n`.
    Key(usize),
    /// An integer column, by [`IntColumn`] `n`.
    Int(usize, fn(&SortedColumns) -> &[i64]),
    /// A name column (its codes, its names), by [`NameColumn`] `n`.
    Name(usize, NameCodes),
    /// Nullable column `n` of [`SortedColumns::nullable`], by the helper thread.
    Nullable(usize),
}

/// How each column of `schema` comes from [`SortedColumns`] given who encodes it; `None` when
/// one of them cannot (properties that leave a required column to the column writer).
fn sorted_plan(schema: &SchemaRef, encoders: &[Encoder]) -> Option<Vec<FromSorted>> {
    schema
        .fields()
        .iter()
        .zip(encoders)
        .map(|(field, &encoder)| {
            let name = field.name().as_str();
            Some(match encoder {
                Encoder::Constant(c) => {
                    FromSorted::Constant(c, CONSTANT_COLUMNS.iter().position(|&n| n == name)?)
                }
                Encoder::Key(n) if name == schema::KEY => FromSorted::Key(n),
                Encoder::Int(n) => FromSorted::Int(
                    n,
                    match name {
                        schema::DB => |c| &c.db,
                        schema::MEMBER_COUNT => |c| &c.members,
                        schema::RDB_SIZE => |c| &c.sizes,
                        _ => return None,
                    },
                ),
                Encoder::Name(n) => FromSorted::Name(
                    n,
                    match name {
                        schema::TYPE => |c| (&c.types, &c.meta.types),
                        schema::ENCODING => |c| (&c.encodings, &c.meta.encodings),
                        _ => return None,
                    },
                ),
                Encoder::Helper => {
                    FromSorted::Nullable(SortedColumns::NULLABLE.iter().position(|&n| n == name)?)
                }
                Encoder::Key(_) | Encoder::Local => return None,
            })
        })
        .collect()
}

/// Estimated encoded bytes of one row besides its key, for cutting row groups by size.
const ROW_OVERHEAD: usize = 64;

/// Work for the helper thread.
enum Job {
    /// The helper's column writers of a new row group.
    Writers(Vec<ArrowColumnWriter>),
    /// One slice of each of the helper's columns, in the order of its writers.
    Leaves(Vec<ArrowLeafColumn>),
    /// Finish the row group: send back the column chunks.
    Close,
}

type Chunks = Result<Vec<ArrowColumnChunk>>;

/// The helper thread: encodes its columns until its job queue closes.
fn helper(jobs: mpsc::Receiver<Job>, done: mpsc::SyncSender<Chunks>) {
    let mut writers: Vec<ArrowColumnWriter> = Vec::new();
    let mut failed: Option<anyhow::Error> = None;
    for job in jobs {
        match job {
            Job::Writers(w) => writers = w,
            Job::Leaves(leaves) => {
                if failed.is_none() {
                    for (w, leaf) in writers.iter_mut().zip(&leaves) {
                        if let Err(e) = w.write(leaf) {
                            failed = Some(e.into());
                            break;
                        }
                    }
                }
            }
            Job::Close => {
                let chunks = match failed.take() {
                    Some(e) => Err(e),
                    None => std::mem::take(&mut writers)
                        .into_iter()
                        .map(|w| w.close().map_err(anyhow::Error::from))
                        .collect(),
                };
                if done.send(chunks).is_err() {
                    return;
                }
            }
        }
    }
}

/// Writes sorted record batches as one Parquet file, columns encoded on two threads; row
/// groups are cut at the properties' `max_row_group_row_count` rows and (about)
/// `max_row_group_bytes` bytes.
pub struct ParallelWriter {
    file: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// For each column: who encodes it.
    encoders: Vec<Encoder>,
    constants: Vec<ConstantColumn>,
    names: Vec<NameColumn>,
    keys: Vec<KeyColumn>,
    ints: Vec<IntColumn>,
    writers: Vec<ArrowColumnWriter>,
    jobs: Option<mpsc::SyncSender<Job>>,
    done: mpsc::Receiver<Chunks>,
    thread: Option<JoinHandle<()>>,
    row_group_rows: usize,
    row_group_bytes: usize,
    rows: usize,
    bytes: usize,
    row_groups: usize,
    /// Writes each finished row group to disk in the background.
    early_sync: Option<EarlySync>,
    /// How [`Self::write_sorted`] takes each column; `None`: through record batches.
    sorted: Option<Vec<FromSorted>>,
    /// All-null arrays of the nullable columns, sliced for sorted rows without values.
    nulls: Vec<Option<ArrayRef>>,
}

impl ParallelWriter {
    /// A writer of `schema` rows into `file` with `props`.
    pub fn try_new(file: File, schema: SchemaRef, props: WriterProperties) -> Result<Self> {
        let row_group_rows = props.max_row_group_row_count().unwrap_or(usize::MAX);
        let row_group_bytes = props.max_row_group_bytes().unwrap_or(usize::MAX);
        let early_sync = EarlySync::start(&file)?;
        let (file, factory) =
            ArrowWriter::try_new(file, schema.clone(), Some(props))?.into_serialized_writer()?;
        ensure!(
            schema.fields().len() == file.schema_descr().num_columns(),
            "the Parquet writer takes flat schemas only"
        );
        let mut constants = Vec::new();
        let mut names = Vec::new();
        let mut keys = Vec::new();
        let mut encoders = Vec::new();
        let mut ints = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            let name = f.name().as_str();
            let descr = file.schema_descr().column(i);
            let props = file.properties();
            let codec = props.compression(descr.path());
            let here = |encoding| written_here(props, descr.path(), encoding);
            let page_bytes = props.column_data_page_size_limit(descr.path());
            let page_rows = props.data_page_row_count_limit();
            encoders.push(
                if name == LOCAL_COLUMN && here(Encoding::DELTA_BYTE_ARRAY) {
                    keys.push(KeyColumn::new(
                        descr.clone(),
                        codec,
                        KeyLimits {
                            page_rows,
                            page_bytes,
                            statistics_truncate: props.statistics_truncate_length(),
                            index_truncate: props.column_index_truncate_length(),
                        },
                    ));
                    Encoder::Key(keys.len() - 1)
                } else if name == LOCAL_COLUMN {
                    Encoder::Local
                } else if CONSTANT_COLUMNS.contains(&name) {
                    constants.push(ConstantColumn::new(descr));
                    Encoder::Constant(constants.len() - 1)
                } else if NAME_COLUMNS.contains(&name) && chunk::supports(codec) {
                    names.push(NameColumn::new(descr, codec, page_rows));
                    Encoder::Name(names.len() - 1)
                } else if f.data_type() == &DataType::Int64
                    && !f.is_nullable()
                    && here(Encoding::DELTA_BINARY_PACKED)
                {
                    ints.push(IntColumn::new(descr.clone(), codec, page_rows, page_bytes));
                    Encoder::Int(ints.len() - 1)
                } else {
                    Encoder::Helper
                },
            );
        }
        let sorted = sorted_plan(&schema, &encoders);
        let (jobs, job_rx) = mpsc::sync_channel(2);
        let (done_tx, done) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("rdbinsight-encode".into())
            .spawn(move || helper(job_rx, done_tx))
            .context("cannot start the Parquet encoding thread")?;
        let mut w = Self {
            file,
            factory,
            schema,
            encoders,
            constants,
            names,
            keys,
            ints,
            writers: Vec::new(),
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            row_group_rows: row_group_rows.max(1),
            row_group_bytes: row_group_bytes.max(1),
            rows: 0,
            bytes: 0,
            row_groups: 0,
            early_sync: Some(early_sync),
            sorted,
            nulls: Vec::new(),
        };
        w.start_row_group()?;
        Ok(w)
    }

    fn send(&self, job: Job) -> Result<()> {
        self.jobs
            .as_ref()
            .and_then(|j| j.send(job).ok())
            .ok_or_else(|| anyhow!("the Parquet encoding thread stopped"))
    }

    fn start_row_group(&mut self) -> Result<()> {
        let mut mine = Vec::new();
        let mut theirs = Vec::new();
        for (w, &encoder) in self
            .factory
            .create_column_writers(self.row_groups)?
            .into_iter()
            .zip(&self.encoders)
        {
            match encoder {
                Encoder::Local => mine.push(w),
                Encoder::Helper => theirs.push(w),
                Encoder::Constant(_) | Encoder::Name(_) | Encoder::Key(_) | Encoder::Int(_) => {}
            }
        }
        self.writers = mine;
        self.send(Job::Writers(theirs))
    }

    /// Adds rows; cuts a row group whenever it is full.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        // The constant columns are checked whole, before slicing: record builders share one
        // array of each between their batches, which a check then recognises.
        for (column, encoder) in batch.columns().iter().zip(&self.encoders) {
            if let Encoder::Constant(c) = *encoder {
                self.constants[c].check(column)?;
            }
        }
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (self.row_group_rows - self.rows).min(batch.num_rows() - offset);
            self.encode(&batch.slice(offset, take))?;
            offset += take;
            if self.rows >= self.row_group_rows || self.bytes >= self.row_group_bytes {
                self.finish_row_group()?;
                self.start_row_group()?;
            }
        }
        Ok(())
    }

    fn encode(&mut self, part: &RecordBatch) -> Result<()> {
        let mut mine = Vec::with_capacity(self.writers.len());
        let mut theirs = Vec::new();
        for ((field, column), &encoder) in self
            .schema
            .fields()
            .iter()
            .zip(part.columns())
            .zip(&self.encoders)
        {
            match encoder {
                Encoder::Local => mine.extend(compute_leaves(field, column)?),
                Encoder::Helper => theirs.extend(compute_leaves(field, column)?),
                Encoder::Constant(_) => {}
                Encoder::Name(n) => self.names[n].push(typed::<StringArray>(column, field)?)?,
                Encoder::Key(n) => self.keys[n].push(typed::<BinaryArray>(column, field)?)?,
                Encoder::Int(n) => self.ints[n].push(typed::<Int64Array>(column, field)?)?,
            }
        }
        self.send(Job::Leaves(theirs))?;
        for (w, leaf) in self.writers.iter_mut().zip(&mine) {
            w.write(leaf)?;
        }
        let key_bytes = part
            .column_by_name(schema::KEY)
            .and_then(|c| c.as_any().downcast_ref::<BinaryArray>())
            .and_then(|k| {
                let o = k.value_offsets();
                Some((o.last()? - o.first()?) as usize)
            })
            .unwrap_or(0);
        self.rows += part.num_rows();
        self.bytes += key_bytes + ROW_OVERHEAD * part.num_rows();
        Ok(())
    }

    /// Adds sorted rows by column; cuts a row group whenever it is full. With properties that
    /// leave a required column to the column writer, the rows go through a record batch.
    pub fn write_sorted(&mut self, cols: &SortedColumns) -> Result<()> {
        let Some(plan) = self.sorted.take() else {
            return self.write(&cols.to_batch()?);
        };
        let written = self.write_sorted_with(cols, &plan);
        self.sorted = Some(plan);
        written
    }

    fn write_sorted_with(&mut self, cols: &SortedColumns, plan: &[FromSorted]) -> Result<()> {
        // One row of each constant column: checking it costs nothing beside a block's rows.
        let constants = cols.meta.constants.columns(1);
        for from in plan {
            if let FromSorted::Constant(c, k) = *from {
                let array = constants.get(k).context("a fourth constant column")?;
                self.constants[c].check(array)?;
            }
        }
        let mut offset = 0;
        while offset < cols.rows() {
            let take = (self.row_group_rows - self.rows).min(cols.rows() - offset);
            self.encode_sorted(cols, plan, offset..offset + take)?;
            offset += take;
            if self.rows >= self.row_group_rows || self.bytes >= self.row_group_bytes {
                self.finish_row_group()?;
                self.start_row_group()?;
            }
        }
        Ok(())
    }

    /// Encodes rows `rows` of `cols`.
    fn encode_sorted(
        &mut self,
        cols: &SortedColumns,
        plan: &[FromSorted],
        rows: std::ops::Range<usize>,
    ) -> Result<()> {
        let mut theirs = Vec::new();
        for (field, from) in self.schema.clone().fields().iter().zip(plan) {
            match *from {
                FromSorted::Constant(..) => {}
                FromSorted::Key(n) => {
                    self.keys[n].push_places(&cols.block, &cols.keys[rows.clone()])?
                }
                FromSorted::Int(n, values) => {
                    self.ints[n].push_values(&values(cols)[rows.clone()])?
                }
                FromSorted::Name(n, codes) => {
                    let (codes, names) = codes(cols);
                    self.names[n].push_codes(&codes[rows.clone()], names)?
                }
                FromSorted::Nullable(i) => {
                    let column = match &cols.nullable[i] {
                        Some(values) => values.slice(rows.start, rows.len()),
                        None => self.nulls_of(i, field, rows.len()),
                    };
                    theirs.extend(compute_leaves(field, &column)?);
                }
            }
        }
        self.send(Job::Leaves(theirs))?;
        let key_bytes: usize = cols.keys[rows.clone()].iter().map(|[s, e]| e - s).sum();
        self.rows += rows.len();
        self.bytes += key_bytes + ROW_OVERHEAD * rows.len();
        Ok(())
    }

    /// `rows` nulls of the nullable column `i` (`field`): a slice of an array kept for them.
    fn nulls_of(&mut self, i: usize, field: &Field, rows: usize) -> ArrayRef {
        if self.nulls.len() <= i {
            self.nulls.resize(i + 1, None);
        }
        let kept = &mut self.nulls[i];
        if kept.as_ref().is_none_or(|a| a.len() < rows) {
            *kept = Some(new_null_array(field.data_type(), rows.max(1 << 16)));
        }
        kept.as_ref().map_or_else(
            || new_null_array(field.data_type(), rows),
            |a| a.slice(0, rows),
        )
    }

    /// Closes the row group in progress (if it has rows) and writes its column chunks.
    fn finish_row_group(&mut self) -> Result<()> {
        self.send(Job::Close)?;
        let mine: Vec<ArrowColumnChunk> = std::mem::take(&mut self.writers)
            .into_iter()
            .map(|w| w.close())
            .collect::<parquet::errors::Result<_>>()?;
        let theirs = self
            .done
            .recv()
            .map_err(|_| anyhow!("the Parquet encoding thread stopped"))??;
        if self.rows == 0 {
            return Ok(());
        }
        let (mut mine, mut theirs) = (mine.into_iter(), theirs.into_iter());
        let mut group = self.file.next_row_group()?;
        for &encoder in &self.encoders {
            // The chunks of the sink's own encoders: bytes and metadata to append.
            let (bytes, close) = match encoder {
                Encoder::Local | Encoder::Helper => {
                    let chunk = if encoder == Encoder::Local {
                        mine.next()
                    } else {
                        theirs.next()
                    };
                    chunk
                        .context("a column chunk is missing")?
                        .append_to_row_group(&mut group)?;
                    continue;
                }
                Encoder::Constant(c) => {
                    self.constants[c].append(self.rows, &mut group)?;
                    continue;
                }
                Encoder::Name(n) => self.names[n].close()?,
                Encoder::Key(n) => self.keys[n].close()?,
                Encoder::Int(n) => self.ints[n].close()?,
            };
            group.append_column(&bytes, close)?;
        }
        group.close()?;
        if let Some(sync) = &self.early_sync {
            sync.request();
        }
        self.row_groups += 1;
        self.rows = 0;
        self.bytes = 0;
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub fn close(mut self) -> Result<()> {
        self.finish_row_group()?;
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            t.join()
                .map_err(|_| anyhow!("the Parquet encoding thread panicked"))?;
        }
        self.file.finish()?;
        match self.early_sync.take() {
            Some(sync) => sync.finish(),
            None => Ok(()),
        }
    }
}

impl Drop for ParallelWriter {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use rdbinsight_sink_api::testing::{sample_batch, string_row};
    use rdbinsight_sink_api::{record_schema, RunInfo};

    #[test]
    fn row_groups_are_cut_and_the_file_reads_back_equal() {
        let run = RunInfo {
            cluster: "c".into(),
            batch_unix_nanos: 7,
            tool_version: "t".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let input: Vec<RecordBatch> = (0..3)
            .map(|i| sample_batch(&run, "i", i * 900, 900))
            .collect();
        let mut w = ParallelWriter::try_new(
            File::create(&path).unwrap(),
            record_schema(),
            WriterProperties::builder()
                .set_max_row_group_row_count(Some(1000))
                .build(),
        )
        .unwrap();
        for b in &input {
            w.write(b).unwrap();
        }
        w.close().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, vec![1000, 1000, 700]);
        assert_eq!(reader.schema(), &record_schema(), "Arrow schema embedded");
        let got: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let got = rows_of(&got);
        let want = rows_of(&input);
        assert_eq!(got, want);
    }

    /// Type and encoding columns with hundreds of distinct values (module type names can be
    /// anything), in runs and alone, come back as written, with their statistics.
    #[test]
    fn name_columns_with_many_values_read_back() {
        use parquet::file::statistics::Statistics;
        use rdbinsight_sink_api::{RecordBuilder, Row};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let mut b = RecordBuilder::new("c", 7, "i", 4000);
        let names: Vec<String> = (0..300).map(|i| format!("module-{i:03}")).collect();
        for i in 0..4000usize {
            let key = format!("k{i:05}");
            let encoding = if i % 11 == 0 { "raw" } else { "listpack" };
            b.append(&Row {
                key_type: &names[(i / 3) % names.len()],
                encoding,
                ..string_row(0, key.as_bytes(), 1, 2)
            });
        }
        let batch = b.finish().unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1500))
            .set_data_page_row_count_limit(100)
            .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
            .build();
        let mut w =
            ParallelWriter::try_new(File::create(&path).unwrap(), record_schema(), props).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let stats = reader
            .metadata()
            .row_group(0)
            .column(5)
            .statistics()
            .cloned();
        let Some(Statistics::ByteArray(s)) = stats else {
            panic!("no type statistics: {stats:?}");
        };
        assert_eq!(s.min_opt().unwrap().as_utf8().unwrap(), "module-000");
        assert_eq!(s.max_opt().unwrap().as_utf8().unwrap(), "module-299");
        let got: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(rows_of(&got), rows_of(&[batch]));
    }

    /// Properties under which the sink's own encoders write the key, db, member count and
    /// rdb size columns (with `codec` zstd or none), row groups and pages cut at `group_rows`
    /// and `page_rows` rows.
    fn own_props(
        codec: parquet::basic::Compression,
        group_rows: usize,
        page_rows: usize,
    ) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(codec)
            .set_max_row_group_row_count(Some(group_rows))
            .set_data_page_row_count_limit(page_rows)
            .set_write_batch_size(1)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_column_dictionary_enabled(ColumnPath::from(schema::KEY), false)
            .set_column_encoding(ColumnPath::from(schema::KEY), Encoding::DELTA_BYTE_ARRAY)
            .set_column_dictionary_enabled(ColumnPath::from(schema::DB), false)
            .set_column_encoding(ColumnPath::from(schema::DB), Encoding::DELTA_BINARY_PACKED)
            .set_column_dictionary_enabled(ColumnPath::from(schema::MEMBER_COUNT), false)
            .set_column_encoding(
                ColumnPath::from(schema::MEMBER_COUNT),
                Encoding::DELTA_BINARY_PACKED,
            )
            .set_column_dictionary_enabled(ColumnPath::from(schema::RDB_SIZE), false)
            .set_column_encoding(
                ColumnPath::from(schema::RDB_SIZE),
                Encoding::DELTA_BINARY_PACKED,
            )
            .build()
    }

    /// Rows of three dbs whose keys (up to ~200 bytes) do not come in order, with nullable
    /// values in some rows: `idle_seconds` only in the last db (so the first blocks of sorted
    /// rows have none), `codis_slot` in none; and the same rows in (db, key) order.
    fn unsorted_and_sorted_rows() -> (RecordBatch, RecordBatch) {
        use rdbinsight_sink_api::{RecordBuilder, Row};
        let types = ["string", "hash", "zset"];
        let encodings = ["raw", "listpack", "embstr", "int"];
        let rows = 6000usize;
        let key = |i: usize| format!("k:{:05}:{}", i * 7919 % 10007, "x".repeat(i * 31 % 200));
        let db = |i: usize| (i % 3) as i64 * 2;
        let batch = |order: &[usize]| {
            let mut b = RecordBuilder::new("c", 7, "i", rows);
            for &i in order {
                let (n, db, key) = (i as i64, db(i), key(i));
                b.append(&Row {
                    key_type: types[i % 3],
                    encoding: encodings[i % 4],
                    expire_at_ms: (i % 7 == 0).then_some(1_700_000_000_000 + n),
                    idle_seconds: (db == 4 && i % 5 == 0).then_some(n),
                    freq: (i % 11 == 0).then_some((i % 256) as i32),
                    codis_slot: None,
                    redis_slot: Some((i * 13 % 16384) as i32),
                    ..string_row(db, key.as_bytes(), n % 5, n * 3 - 700)
                });
            }
            b.finish().unwrap()
        };
        let mut order: Vec<usize> = (0..rows).collect();
        let unsorted = batch(&order);
        order.sort_by_key(|&i| (db(i), key(i)));
        (unsorted, batch(&order))
    }

    /// Rows the sort hands over by column (several blocks, spilled runs, nullable columns with
    /// values in some blocks only) make the file their record batch makes: the same cells,
    /// statistics of every column, and page indexes of the sink's own columns; with a codec
    /// the own encoders leave to the column writer (gzip), through record batches, the same
    /// cells.
    #[test]
    fn sorted_columns_write_what_their_batch_writes() {
        use crate::sort::Sorter;
        use parquet::arrow::arrow_reader::ArrowReaderOptions;
        use parquet::file::metadata::PageIndexPolicy;
        let (input, want) = unsorted_and_sorted_rows();
        let dir = tempfile::tempdir().unwrap();
        let zstd = parquet::basic::Compression::ZSTD(Default::default());
        let gzip = parquet::basic::Compression::GZIP(Default::default());
        let read = |path: &std::path::Path| {
            let options =
                ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
            let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(
                File::open(path).unwrap(),
                options,
            )
            .unwrap();
            let metadata = reader.metadata().as_ref().clone();
            let rows: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
            (rows, metadata)
        };
        for codec in [zstd, gzip] {
            let path = dir.path().join("sorted.parquet");
            let mut w = ParallelWriter::try_new(
                File::create(&path).unwrap(),
                record_schema(),
                own_props(codec, 1500, 100),
            )
            .unwrap();
            assert_eq!(w.sorted.is_some(), codec == zstd);
            let mut sorter = Sorter::new(200 << 10, dir.path().join("spill"));
            sorter.push(&input).unwrap();
            assert!(sorter.spilled_runs() > 0);
            let mut blocks = 0;
            sorter
                .finish_sorted(|cols| {
                    blocks += 1;
                    w.write_sorted(&cols)
                })
                .unwrap();
            w.close().unwrap();
            assert!(blocks > 2, "{blocks} blocks");
            let (got, got_meta) = read(&path);
            assert_eq!(rows_of(&got), rows_of(std::slice::from_ref(&want)));
            if codec != zstd {
                continue;
            }
            let (_, want_meta) = write_file(
                dir.path(),
                "batch.parquet",
                &want,
                own_props(codec, 1500, 100),
            );
            assert_eq!(got_meta.num_row_groups(), 4);
            assert_eq!(got_meta.num_row_groups(), want_meta.num_row_groups());
            for g in 0..got_meta.num_row_groups() {
                let (a, b) = (got_meta.row_group(g), want_meta.row_group(g));
                for c in 0..a.num_columns() {
                    let name = a.column(c).column_path().string();
                    assert_eq!(
                        a.column(c).statistics(),
                        b.column(c).statistics(),
                        "{name}, row group {g}"
                    );
                }
                let (ia, ib) = (
                    got_meta.page_index_for_row_group(g),
                    want_meta.page_index_for_row_group(g),
                );
                let first_rows =
                    |o: Option<&parquet::file::page_index::offset_index::OffsetIndexMetaData>| {
                        o.map(|o| {
                            o.page_locations()
                                .iter()
                                .map(|p| p.first_row_index)
                                .collect::<Vec<_>>()
                        })
                    };
                for c in [3, 4, 6, 7] {
                    assert_eq!(
                        format!("{:?}", ia.column_index(c)),
                        format!("{:?}", ib.column_index(c)),
                        "column {c}, row group {g}"
                    );
                    assert_eq!(
                        first_rows(ia.offset_index(c)),
                        first_rows(ib.offset_index(c)),
                        "column {c}, row group {g}"
                    );
                }
            }
        }
    }

    /// Writes `batch` to a file in `dir` with `props`; its metadata with the page index.
    fn write_file(
        dir: &std::path::Path,
        name: &str,
        batch: &RecordBatch,
        props: WriterProperties,
    ) -> (Vec<RecordBatch>, parquet::file::metadata::ParquetMetaData) {
        use parquet::arrow::arrow_reader::ArrowReaderOptions;
        use parquet::file::metadata::PageIndexPolicy;
        let path = dir.join(name);
        let mut w =
            ParallelWriter::try_new(File::create(&path).unwrap(), record_schema(), props).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(
            File::open(&path).unwrap(),
            options,
        )
        .unwrap();
        let metadata = reader.metadata().as_ref().clone();
        let rows = reader.build().unwrap().map(|b| b.unwrap()).collect();
        (rows, metadata)
    }

    /// Keys sorted by (db, key) across three dbs: shared prefixes, keys longer than the
    /// statistics' 64 bytes, keys beginning with 0xff bytes (no shorter upper bound), an empty
    /// key; db, member count and rdb size with negative values and jumps; written by the sink's
    /// own encoders (zstd) and by the Parquet column writer (snappy, which they leave to it):
    /// same rows, and for each of these columns the same chunk statistics, the same column index
    /// and the same pages in the offset index.
    #[test]
    fn own_chunks_match_the_column_writer() {
        use rdbinsight_sink_api::RecordBuilder;
        let mut keys: Vec<(i64, Vec<u8>)> = Vec::new();
        for db in [0i64, 2, 5] {
            keys.push((db, Vec::new()));
            for i in 0..(150 + 40 * db) {
                keys.push((db, format!("user:{i}:profile").into_bytes()));
                keys.push((
                    db,
                    format!("{}{i}", "x".repeat(60 + (i as usize % 9))).into_bytes(),
                ));
                if i % 7 == 0 {
                    let mut k = vec![0xff; 63 + (i as usize % 5)];
                    k.extend_from_slice(format!("{i}").as_bytes());
                    keys.push((db, k));
                }
            }
        }
        keys.sort();
        let mut b = RecordBuilder::new("c", 7, "i", keys.len());
        for (i, (db, key)) in keys.iter().enumerate() {
            let i = i as i64;
            let members = if i % 13 == 0 { i64::MIN + i } else { i % 5 };
            let size = if i % 17 == 0 {
                i64::MAX - i
            } else {
                key.len() as i64 - 40
            };
            b.append(&string_row(*db, key, members, size));
        }
        let batch = b.finish().unwrap();
        let props = |codec| own_props(codec, 700, 37);
        let zstd = parquet::basic::Compression::ZSTD(Default::default());
        let snappy = parquet::basic::Compression::SNAPPY;
        assert!(written_here(
            &props(zstd),
            &ColumnPath::from(schema::KEY),
            Encoding::DELTA_BYTE_ARRAY
        ));
        assert!(!written_here(
            &props(snappy),
            &ColumnPath::from(schema::KEY),
            Encoding::DELTA_BYTE_ARRAY
        ));
        for name in [schema::DB, schema::MEMBER_COUNT, schema::RDB_SIZE] {
            let path = ColumnPath::from(name);
            assert!(written_here(
                &props(zstd),
                &path,
                Encoding::DELTA_BINARY_PACKED
            ));
            assert!(!written_here(
                &props(snappy),
                &path,
                Encoding::DELTA_BINARY_PACKED
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        let (ours, ours_meta) = write_file(dir.path(), "ours.parquet", &batch, props(zstd));
        let (theirs, theirs_meta) = write_file(dir.path(), "theirs.parquet", &batch, props(snappy));
        assert_eq!(rows_of(&ours), rows_of(std::slice::from_ref(&batch)));
        assert_eq!(rows_of(&theirs), rows_of(&[batch]));
        assert!(ours_meta.num_row_groups() > 2);
        assert_eq!(ours_meta.num_row_groups(), theirs_meta.num_row_groups());
        let mut pages = 0;
        for (key, name) in [
            (3, schema::DB),
            (4, schema::KEY),
            (6, schema::MEMBER_COUNT),
            (7, schema::RDB_SIZE),
        ] {
            for g in 0..ours_meta.num_row_groups() {
                let (a, b) = (
                    ours_meta.row_group(g).column(key),
                    theirs_meta.row_group(g).column(key),
                );
                assert_eq!(a.column_path().string(), name);
                assert_eq!(
                    a.encodings().collect::<Vec<_>>(),
                    b.encodings().collect::<Vec<_>>()
                );
                assert_eq!(a.statistics(), b.statistics(), "{name}, row group {g}");
                assert_eq!(a.num_values(), b.num_values());
                let (ia, ib) = (
                    ours_meta.page_index_for_row_group(g),
                    theirs_meta.page_index_for_row_group(g),
                );
                assert_eq!(
                    format!("{:?}", ia.column_index(key).unwrap()),
                    format!("{:?}", ib.column_index(key).unwrap()),
                    "{name}, row group {g}"
                );
                let first_rows =
                    |o: &parquet::file::page_index::offset_index::OffsetIndexMetaData| {
                        o.page_locations()
                            .iter()
                            .map(|p| p.first_row_index)
                            .collect::<Vec<_>>()
                    };
                let (oa, ob) = (ia.offset_index(key).unwrap(), ib.offset_index(key).unwrap());
                assert_eq!(first_rows(oa), first_rows(ob), "{name}, row group {g}");
                pages += first_rows(oa).len();
            }
        }
        assert!(pages > 160, "{pages} pages");
    }

    /// Pages of the sink's key encoder are cut at the page size too, and each batch's first
    /// key is front-coded against the last key of the batch before.
    #[test]
    fn key_pages_are_cut_by_size_across_batches() {
        let run = RunInfo {
            cluster: "c".into(),
            batch_unix_nanos: 7,
            tool_version: "t".into(),
        };
        let input: Vec<RecordBatch> = (0..4)
            .map(|i| sample_batch(&run, "i", i * 300, 300))
            .collect();
        let props = WriterProperties::builder()
            .set_compression(parquet::basic::Compression::UNCOMPRESSED)
            .set_data_page_size_limit(400)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_column_dictionary_enabled(ColumnPath::from(schema::KEY), false)
            .set_column_encoding(ColumnPath::from(schema::KEY), Encoding::DELTA_BYTE_ARRAY)
            .build();
        assert!(written_here(
            &props,
            &ColumnPath::from(schema::KEY),
            Encoding::DELTA_BYTE_ARRAY
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let mut w =
            ParallelWriter::try_new(File::create(&path).unwrap(), record_schema(), props).unwrap();
        for b in &input {
            w.write(b).unwrap();
        }
        w.close().unwrap();
        let options = parquet::arrow::arrow_reader::ArrowReaderOptions::new()
            .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
        let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(
            File::open(&path).unwrap(),
            options,
        )
        .unwrap();
        let index = reader.metadata().page_index_for_row_group(0);
        let pages = index.offset_index(4).unwrap().page_locations().len();
        assert!(pages > 5, "{pages} pages");
        let got: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(rows_of(&got), rows_of(&input));
    }

    /// The rows of `batches` as one list of one-row slices per column (logical equality).
    fn rows_of(batches: &[RecordBatch]) -> Vec<Vec<arrow_array::ArrayRef>> {
        batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).map(move |r| b.columns().iter().map(|c| c.slice(r, 1)).collect())
            })
            .collect()
    }
}
