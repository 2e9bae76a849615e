//! The parser's input as a sequence of owned chunks of the stream, each with the CRC64 of
//! everything before it.
//!
//! Whoever reads the stream (a read-ahead thread for files, or the parser's own thread through
//! [`ReadChunks`]) computes the checksum as it reads, and leaves room in front of each chunk's
//! bytes: the parser moves the few unread bytes of the previous chunk there instead of copying
//! the new chunk behind them.

use std::io::{self, Read};

use crc_fast::Digest;

use super::input::CRC64;

/// Spare bytes in front of the data of the chunks the readers of this crate make.
pub const HEADROOM: usize = 4 << 10;

/// One chunk of a stream.
pub struct Chunk {
    /// `buf[data_at..]` is the chunk's data; the bytes before are spare room.
    pub buf: Vec<u8>,
    /// Where the data starts in `buf`.
    pub data_at: usize,
    /// CRC64 state over every byte of the stream before this chunk (`None`: not computed).
    pub crc_before: Option<Digest>,
}

impl Chunk {
    /// Bytes of data.
    pub fn len(&self) -> usize {
        self.buf.len().saturating_sub(self.data_at)
    }

    /// Whether the chunk has no data: it marks the end of the stream.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stream handed out in chunks. Every chunk but the last of the stream should be full (its
/// source's chunk size): the parser copies bytes only where one read spans two chunks.
pub trait ChunkSource: Send {
    /// The next chunk; an empty one marks the end of the stream (and is not asked past).
    fn next_chunk(&mut self) -> io::Result<Chunk>;

    /// A buffer the parser is done with, for the source to fill again.
    fn recycle(&mut self, buf: Vec<u8>) {
        drop(buf);
    }
}

impl<S: ChunkSource + ?Sized> ChunkSource for Box<S> {
    fn next_chunk(&mut self) -> io::Result<Chunk> {
        (**self).next_chunk()
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        (**self).recycle(buf)
    }
}

/// Fills `buf[from..]` from `reader` until it is full or the stream ends; the bytes read. On
/// an error, the bytes read before it are kept in `buf` and returned with the error.
fn fill_from(reader: &mut dyn Read, buf: &mut [u8], from: usize) -> (usize, Option<io::Error>) {
    let mut n = from;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n - from, Some(e)),
        }
    }
    (n - from, None)
}

/// Reads the next chunk of `reader` into `buf` (a buffer to reuse): `headroom` spare bytes,
/// then up to `size` bytes of data, with the CRC state before them from `crc`. An error met
/// after some bytes comes back beside the chunk of those bytes; the chunk is empty at the end
/// of the stream and when the error came first.
pub fn read_chunk(
    reader: &mut dyn Read,
    mut buf: Vec<u8>,
    headroom: usize,
    size: usize,
    crc: &mut RunningCrc,
) -> (Chunk, Option<io::Error>) {
    buf.resize(headroom + size, 0);
    let (n, error) = fill_from(reader, &mut buf, headroom);
    buf.truncate(headroom + n);
    let crc_before = crc.next(&buf[headroom..]);
    let chunk = Chunk {
        buf,
        data_at: headroom,
        crc_before,
    };
    (chunk, error)
}

/// Running CRC64 over a stream as its chunks are read: hands each chunk the state before it.
#[derive(Clone, Copy)]
pub struct RunningCrc(Option<Digest>);

impl RunningCrc {
    /// A running CRC64, or none when `on` is false.
    pub fn new(on: bool) -> Self {
        Self(on.then(|| Digest::new(CRC64)))
    }

    /// The state before `data`, then takes `data` in.
    pub fn next(&mut self, data: &[u8]) -> Option<Digest> {
        let before = self.0;
        if let Some(d) = self.0.as_mut() {
            d.update(data);
        }
        before
    }
}

/// Chunks read from a [`Read`] on the calling thread.
pub struct ReadChunks<R> {
    reader: R,
    chunk: usize,
    headroom: usize,
    crc: RunningCrc,
    spare: Option<Vec<u8>>,
    /// An error met after some bytes, reported by the next call.
    pending: Option<io::Error>,
}

impl<R: Read + Send> ReadChunks<R> {
    /// Chunks of `chunk` bytes of `reader`, with their CRC64 when `checksum` is set.
    pub fn new(reader: R, chunk: usize, checksum: bool) -> Self {
        Self::with_headroom(reader, chunk, HEADROOM, checksum)
    }

    /// As [`Self::new`], with `headroom` spare bytes in front of each chunk.
    pub fn with_headroom(reader: R, chunk: usize, headroom: usize, checksum: bool) -> Self {
        Self {
            reader,
            chunk: chunk.max(1),
            headroom,
            crc: RunningCrc::new(checksum),
            spare: None,
            pending: None,
        }
    }
}

impl<R: Read + Send> ChunkSource for ReadChunks<R> {
    fn next_chunk(&mut self) -> io::Result<Chunk> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let buf = self.spare.take().unwrap_or_default();
        let (chunk, error) = read_chunk(
            &mut self.reader,
            buf,
            self.headroom,
            self.chunk,
            &mut self.crc,
        );
        if let Some(e) = error {
            if chunk.is_empty() {
                return Err(e);
            }
            self.pending = Some(e);
        }
        Ok(chunk)
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        self.spare = Some(buf);
    }
}
