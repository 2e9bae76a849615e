//! Reading on a thread of its own: the next chunks of a stream are read (and decompressed, for
//! compressed files) while the parser works on the current one, so the parser's core does not
//! spend its time in `read` system calls.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Bytes per chunk.
pub const CHUNK: usize = 256 << 10;
/// Chunks read ahead of the parser.
const DEPTH: usize = 4;

/// A reader whose input is read ahead by a thread.
pub struct ReadAhead {
    chunks: Receiver<io::Result<Vec<u8>>>,
    /// Used chunks go back to the thread, which refills them.
    recycle: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    finished: bool,
}

impl ReadAhead {
    /// Starts a thread reading `inner` ahead in chunks of `chunk` bytes.
    pub fn spawn(mut inner: Box<dyn Read + Send>, chunk: usize) -> io::Result<Self> {
        let chunk = chunk.max(1);
        let (tx, chunks) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        let (recycle, used) = sync_channel::<Vec<u8>>(DEPTH + 2);
        std::thread::Builder::new()
            .name("rdbinsight-read".into())
            .spawn(move || loop {
                let mut buf = used.try_recv().unwrap_or_default();
                buf.resize(chunk, 0);
                let mut n = 0;
                while n < chunk {
                    match inner.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            // The bytes read before the error go first.
                            buf.truncate(n);
                            if n > 0 && tx.send(Ok(buf)).is_err() {
                                return;
                            }
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                buf.truncate(n);
                // An empty chunk marks the end of the stream.
                if tx.send(Ok(buf)).is_err() || n == 0 {
                    return;
                }
            })?;
        Ok(Self {
            chunks,
            recycle,
            chunk: Vec::new(),
            pos: 0,
            finished: false,
        })
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.finished || out.is_empty() {
                return Ok(0);
            }
            let used = std::mem::take(&mut self.chunk);
            if used.capacity() > 0 {
                let _ = self.recycle.try_send(used);
            }
            self.pos = 0;
            match self.chunks.recv() {
                Ok(Ok(c)) => {
                    self.finished = c.is_empty();
                    self.chunk = c;
                }
                Ok(Err(e)) => {
                    self.finished = true;
                    return Err(e);
                }
                Err(_) => {
                    self.finished = true;
                    return Err(io::Error::other("the reading thread stopped"));
                }
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
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

    #[test]
    fn every_byte_arrives_in_order() {
        for len in [0, 1, 99, 100, 1000, 12_345] {
            let (data, inner) = trickle(len, false);
            let mut r = ReadAhead::spawn(inner, 100).unwrap();
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            assert_eq!(got, data, "length {len}");
            assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0, "stays at the end");
        }
    }

    #[test]
    fn an_error_of_the_source_reaches_the_reader() {
        let (_, inner) = trickle(1000, true);
        let mut r = ReadAhead::spawn(inner, 64).unwrap();
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
        assert_eq!(got.len(), 1000, "the bytes before the error arrive");
    }
}
