//! One insert block: record batches streamed into Arrow IPC (`FORMAT ArrowStream`) through the
//! HTTP body compressor, so a block in memory costs its compressed size only.

use std::io::Write;

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;
use rdbinsight_sink_api::record_schema;

use crate::config::Compression;

enum Compressor {
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Plain(Vec<u8>),
}

impl Write for Compressor {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Zstd(w) => w.write(buf),
            Self::Gzip(w) => w.write(buf),
            Self::Plain(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Zstd(w) => w.flush(),
            Self::Gzip(w) => w.flush(),
            Self::Plain(w) => w.flush(),
        }
    }
}

impl Compressor {
    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Zstd(w) => w.finish(),
            Self::Gzip(w) => w.finish(),
            Self::Plain(w) => Ok(w),
        }
    }
}

/// An insert block being filled.
pub struct BlockEncoder {
    writer: StreamWriter<Compressor>,
    rows: u64,
}

impl BlockEncoder {
    /// Starts an empty block.
    pub fn new(compression: Compression) -> Result<Self> {
        let sink = match compression {
            Compression::Zstd => Compressor::Zstd(
                zstd::stream::write::Encoder::new(Vec::with_capacity(1 << 20), 1)
                    .context("starting zstd")?,
            ),
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                Vec::with_capacity(1 << 20),
                flate2::Compression::fast(),
            )),
            Compression::None => Compressor::Plain(Vec::with_capacity(1 << 20)),
        };
        let writer =
            StreamWriter::try_new(sink, &record_schema()).context("starting ArrowStream")?;
        Ok(Self { writer, rows: 0 })
    }

    /// Appends rows.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .context("encoding rows as ArrowStream")?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows in the block.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Ends the stream and returns the compressed body.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.writer.finish().context("ending ArrowStream")?;
        let sink = self.writer.into_inner().context("ending ArrowStream")?;
        sink.finish().context("ending the compressed body")
    }
}
