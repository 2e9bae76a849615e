//! Reading on a thread of its own: the next chunks of a stream are read (and decompressed, for
//! compressed files) and their CRC64 computed while the parser works on the current one, so
//! the parser's core spends no time in `read` system calls or in the checksum. Chunks are
//! handed over as they are (no copy) and their buffers come back to be filled again.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use anyhow::Context;

use crate::parser::chunks::{read_chunk, Chunk, ChunkSource, RunningCrc, HEADROOM};

/// Bytes per chunk.
pub const CHUNK: usize = 256 << 10;
/// Chunks read ahead of the parser.
const DEPTH: usize = 4;

/// A stream read ahead in chunks by a thread.
pub struct ReadAhead {
    chunks: Receiver<io::Result<Chunk>>,
    /// Used buffers go back to the thread, which refills them.
    recycle: SyncSender<Vec<u8>>,
    finished: bool,
}

/// `inner` read ahead in chunks of [`CHUNK`] bytes by a thread; `what` names the stream for
/// the error when the thread cannot start.
pub fn read_ahead(inner: Box<dyn Read + Send>, what: &str) -> anyhow::Result<Box<dyn ChunkSource>> {
    let ahead =
        ReadAhead::spawn(inner, CHUNK).with_context(|| format!("cannot start reading {what}"))?;
    Ok(Box::new(ahead))
}

impl ReadAhead {
    /// Starts a thread reading `inner` ahead in chunks of `chunk` bytes.
    pub fn spawn(mut inner: Box<dyn Read + Send>, chunk: usize) -> io::Result<Self> {
        let size = chunk.max(1);
        let (tx, chunks) = sync_channel::<io::Result<Chunk>>(DEPTH);
        let (recycle, used) = sync_channel::<Vec<u8>>(DEPTH + 2);
        std::thread::Builder::new()
            .name("rdbinsight-read".into())
            .spawn(move || {
                let mut crc = RunningCrc::new(true);
                loop {
                    let buf = used.try_recv().unwrap_or_default();
                    let (chunk, error) = read_chunk(&mut *inner, buf, HEADROOM, size, &mut crc);
                    let end = chunk.is_empty();
                    // The bytes read before an error go first; an empty chunk marks the end.
                    if (!end || error.is_none()) && tx.send(Ok(chunk)).is_err() {
                        return;
                    }
                    if let Some(e) = error {
                        let _ = tx.send(Err(e));
                        return;
                    }
                    if end {
                        return;
                    }
                }
            })?;
        Ok(Self {
            chunks,
            recycle,
            finished: false,
        })
    }
}

impl ChunkSource for ReadAhead {
    fn next_chunk(&mut self) -> io::Result<Chunk> {
        if self.finished {
            return Ok(Chunk {
                buf: Vec::new(),
                data_at: 0,
                crc_before: None,
            });
        }
        match self.chunks.recv() {
            Ok(Ok(c)) => {
                self.finished = c.is_empty();
                Ok(c)
            }
            Ok(Err(e)) => {
                self.finished = true;
                Err(e)
            }
            Err(_) => {
                self.finished = true;
                Err(io::Error::other("the reading thread stopped"))
            }
        }
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        let _ = self.recycle.try_send(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader handing out `data` a few bytes at a time, then an error if `fail`.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        fail: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() {
                return if self.fail {
                    Err(io::Error::other("disk on fire"))
                } else {
                    Ok(0)
                };
            }
            let n = out.len().min(7).min(self.data.len() - self.at);
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn trickle(len: usize, fail: bool) -> (Vec<u8>, Box<dyn Read + Send>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let r = Trickle {
            data: data.clone(),
            at: 0,
            fail,
        };
        (data, Box::new(r))
    }

    /// Every chunk's data until the end or an error, checking each chunk's CRC state.
    fn drain(r: &mut ReadAhead, got: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let c = r.next_chunk()?;
            let mut before = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Redis);
            before.update(got);
            assert_eq!(c.crc_before.map(|d| d.finalize()), Some(before.finalize()));
            if c.is_empty() {
                return Ok(());
            }
            assert_eq!(c.data_at, HEADROOM);
            got.extend_from_slice(&c.buf[c.data_at..]);
            r.recycle(c.buf);
        }
    }

    #[test]
    fn every_byte_arrives_in_order_with_the_crc_before_it() {
        for len in [0, 1, 99, 100, 1000, 12_345] {
            let (data, inner) = trickle(len, false);
            let mut r = ReadAhead::spawn(inner, 100).unwrap();
            let mut got = Vec::new();
            drain(&mut r, &mut got).unwrap();
            assert_eq!(got, data, "length {len}");
            assert!(r.next_chunk().unwrap().is_empty(), "stays at the end");
        }
    }

    #[test]
    fn an_error_of_the_source_reaches_the_reader() {
        let (_, inner) = trickle(1000, true);
        let mut r = ReadAhead::spawn(inner, 64).unwrap();
        let mut got = Vec::new();
        let err = drain(&mut r, &mut got).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
        assert_eq!(got.len(), 1000, "the bytes before the error arrive");
    }
}
