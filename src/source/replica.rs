//! Fetching a snapshot the way a replica does: `REPLCONF capa eof`, `REPLCONF rdb-only 1`,
//! `PSYNC ? -1` (or `SYNC`), then the RDB payload, either `$<len>` (disk) or
//! `$EOF:<40-byte mark>` (diskless), with newline keep-alives before it.

use super::read_ahead::read_ahead;
use crate::parser::chunks::ChunkSource;
use std::io::{self, BufReader, Read};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tracing::{debug, info};

use super::resp::{Conn, Reply};
use super::tls::{Stream, TlsSettings};

/// Connection settings of a Redis source.
#[derive(Debug, Clone)]
pub struct RedisConnect {
    /// Username for AUTH (ACL), if any.
    pub username: Option<String>,
    /// Password for AUTH, if any.
    pub password: Option<String>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Longest silence while talking to the server and while waiting for the snapshot.
    pub io_timeout: Duration,
    /// Where to save snapshots before parsing them, if anywhere.
    pub spool_dir: Option<std::path::PathBuf>,
    /// Attempts after a server said it is busy (`LOADING`, `BUSY`, `MASTERDOWN`) before the
    /// transfer began.
    pub busy_retries: u32,
    /// TLS settings, when the servers are reached over TLS.
    pub tls: Option<Arc<TlsSettings>>,
}

/// The server cannot serve a snapshot now but will later (still loading its dataset, running a
/// long script, its primary is down): worth another attempt.
#[derive(Debug)]
pub struct ServerBusy(pub String);

impl std::fmt::Display for ServerBusy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServerBusy {}

/// Whether a Redis error reply means "try again later".
fn is_busy_reply(msg: &str) -> bool {
    let code = msg.trim_start_matches('-');
    ["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"]
        .iter()
        .any(|c| code.starts_with(c))
}

/// Backoff before busy retry number `attempt` (0-based): 0.5 s doubling, at most 10 s.
fn busy_backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64 << attempt.min(5)).min(Duration::from_secs(10))
}

impl RedisConnect {
    /// Connects and authenticates.
    pub fn open(&self, addr: &str) -> Result<Conn> {
        let mut conn = Conn::connect_with(
            addr,
            self.connect_timeout,
            self.io_timeout,
            self.tls.as_deref(),
        )?;
        if let Some(pw) = &self.password {
            conn.auth(self.username.as_deref(), pw)?;
        }
        Ok(conn)
    }

    /// These settings for a server that announces `hostname` (a cluster node reached by IP):
    /// its TLS certificate is checked against that name, unless `--tls-server-name` was given.
    pub fn announced_as(&self, hostname: &str) -> Result<RedisConnect> {
        let mut connect = self.clone();
        if let Some(tls) = &self.tls {
            connect.tls = Some(tls.with_default_name(hostname)?);
        }
        Ok(connect)
    }

    /// `rediss://host:port` over TLS, else `redis://host:port`: where an instance comes from.
    pub fn origin(&self, addr: &str) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://{addr}")
    }
}

/// Length of the diskless end-of-payload mark.
const EOF_MARK_LEN: usize = 40;

/// Starts a full resynchronisation and returns the RDB payload as a byte stream (from a spool
/// file, once the whole payload arrived, when `spool_dir` is set).
/// The stream is read ahead, and its CRC64 computed, on a thread of its own.
pub fn fetch_rdb(connect: &RedisConnect, addr: &str) -> Result<Box<dyn ChunkSource>> {
    read_ahead(fetch_rdb_stream(connect, addr)?, addr)
}

fn fetch_rdb_stream(connect: &RedisConnect, addr: &str) -> Result<Box<dyn Read + Send>> {
    let mut attempt = 0;
    let stream = loop {
        match fetch_stream(connect, addr) {
            Ok(stream) => break stream,
            Err(e) if e.is::<ServerBusy>() && attempt < connect.busy_retries => {
                let wait = busy_backoff(attempt);
                attempt += 1;
                tracing::warn!(
                    operation = "handshake",
                    addr,
                    attempt,
                    of = connect.busy_retries,
                    wait_ms = wait.as_millis() as u64,
                    reply = %e,
                    "server busy, retrying"
                );
                std::thread::sleep(wait);
            }
            Err(e) if e.is::<ServerBusy>() => {
                return Err(e.context(format!(
                    "{addr}: still busy after {} attempt(s) (--retries)",
                    attempt + 1
                )))
            }
            Err(e) => return Err(e),
        }
    };
    let Some(dir) = &connect.spool_dir else {
        return Ok(stream);
    };
    let mut file = tempfile::tempfile_in(dir)
        .with_context(|| format!("cannot create a spool file in {}", dir.display()))?;
    let mut stream = stream;
    let bytes = io::copy(&mut stream, &mut file)
        .with_context(|| format!("{addr}: spooling the snapshot to {}", dir.display()))?;
    info!(operation = "spool", addr, bytes, dir = %dir.display(), "snapshot spooled; parsing it");
    use std::io::Seek;
    file.rewind()?;
    Ok(Box::new(io::BufReader::with_capacity(1 << 20, file)))
}

fn fetch_stream(connect: &RedisConnect, addr: &str) -> Result<Box<dyn Read + Send>> {
    let mut conn = connect.open(addr)?;
    if let Reply::Error(e) = conn.call(&[b"REPLCONF", b"capa", b"eof"])? {
        debug!(operation = "handshake", addr, error = %e, "server does not know REPLCONF capa eof")
    }
    if let Reply::Error(e) = conn.call(&[b"REPLCONF", b"rdb-only", b"1"])? {
        debug!(operation = "handshake", addr, error = %e, "server does not know REPLCONF rdb-only")
    }
    conn.send(&[b"PSYNC", b"?", b"-1"])?;
    let mut first = next_line(&mut conn)?;
    if first.starts_with(b"-") {
        let msg = String::from_utf8_lossy(&first).into_owned();
        if msg.to_ascii_lowercase().contains("unknown command") {
            info!(
                operation = "handshake",
                addr, "server has no PSYNC, using SYNC"
            );
            conn.send(&[b"SYNC"])?;
            first = next_line(&mut conn)?;
        } else if is_busy_reply(&msg) {
            return Err(ServerBusy(msg.trim_start_matches('-').to_string()).into());
        } else {
            bail!("{addr}: PSYNC refused: {}", msg.trim_start_matches('-'));
        }
    } else if first.starts_with(b"+FULLRESYNC") || first.starts_with(b"+CONTINUE") {
        if first.starts_with(b"+CONTINUE") {
            bail!("{addr}: the server offered a partial resync; a snapshot is needed");
        }
        first = next_line(&mut conn)?;
    }
    if first.starts_with(b"-") {
        let msg = String::from_utf8_lossy(&first).into_owned();
        if is_busy_reply(&msg) {
            return Err(ServerBusy(msg.trim_start_matches('-').to_string()).into());
        }
        bail!("{addr}: SYNC refused: {}", msg.trim_start_matches('-'));
    }
    let header = String::from_utf8_lossy(&first).into_owned();
    let Some(spec) = header.strip_prefix('$') else {
        bail!("{addr}: expected the snapshot header `$<len>` or `$EOF:<mark>`, got {header:?}");
    };
    let reader = conn.into_reader();
    if let Some(mark) = spec.strip_prefix("EOF:") {
        let mark = mark.as_bytes();
        if mark.len() != EOF_MARK_LEN {
            bail!(
                "{addr}: diskless end mark of {} bytes, expected {EOF_MARK_LEN}",
                mark.len()
            );
        }
        info!(
            operation = "transfer",
            addr,
            mode = "diskless",
            "receiving the snapshot"
        );
        Ok(Box::new(EofMarkReader::new(reader, mark.to_vec(), addr)))
    } else {
        let len: u64 = spec
            .parse()
            .with_context(|| format!("{addr}: bad snapshot length {spec:?}"))?;
        info!(
            operation = "transfer",
            addr,
            mode = "disk",
            bytes = len,
            "receiving the snapshot"
        );
        Ok(Box::new(LengthReader {
            inner: reader,
            left: len,
            total: len,
            addr: addr.to_string(),
        }))
    }
}

/// Reads the next non-empty line, skipping the newline keep-alives a primary sends while it
/// prepares the snapshot.
fn next_line(conn: &mut Conn) -> Result<Vec<u8>> {
    loop {
        let line = conn.read_line().context("waiting for the snapshot")?;
        if !line.is_empty() {
            return Ok(line);
        }
    }
}

/// Exactly `len` bytes of payload; an early end is an error naming how much arrived.
struct LengthReader {
    inner: BufReader<Stream>,
    left: u64,
    total: u64,
    addr: String,
}

impl Read for LengthReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: connection closed after {} of {} snapshot bytes",
                    self.addr,
                    self.total - self.left,
                    self.total
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The diskless payload: everything up to the 40-byte end mark, which is held back and
/// checked after every read (as Redis's own replicas do).
pub struct EofMarkReader<R> {
    inner: R,
    mark: Vec<u8>,
    /// Bytes read but not yet handed out (always keeps the last 40 back).
    pending: Vec<u8>,
    start: usize,
    done: bool,
    addr: String,
    received: u64,
}

impl<R: Read> EofMarkReader<R> {
    /// Wraps a stream whose payload ends with `mark`.
    pub fn new(inner: R, mark: Vec<u8>, addr: &str) -> Self {
        Self {
            inner,
            mark,
            pending: Vec::with_capacity(1 << 16),
            start: 0,
            done: false,
            addr: addr.to_string(),
            received: 0,
        }
    }

    fn available(&self) -> usize {
        let held = self.pending.len() - self.start;
        if self.done {
            held
        } else {
            held.saturating_sub(self.mark.len())
        }
    }
}

impl<R: Read> Read for EofMarkReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.available() == 0 {
            if self.done {
                return Ok(0);
            }
            if self.start > 0 {
                self.pending.drain(..self.start);
                self.start = 0;
            }
            let old = self.pending.len();
            self.pending.resize(old + (1 << 16), 0);
            let n = self.inner.read(&mut self.pending[old..])?;
            self.pending.truncate(old + n);
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: connection closed after {} bytes, before the diskless end mark",
                        self.addr, self.received
                    ),
                ));
            }
            self.received += n as u64;
            if self.pending.len() >= self.mark.len()
                && self.pending[self.pending.len() - self.mark.len()..] == self.mark[..]
            {
                let keep = self.pending.len() - self.mark.len();
                self.pending.truncate(keep);
                self.done = true;
            }
        }
        let n = self.available().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns its data in small pieces.
    struct Chunks(Vec<u8>, usize, usize);
    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.2.min(buf.len()).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    #[test]
    fn eof_mark_is_stripped_whatever_the_chunking() {
        let mark = b"0123456789abcdef0123456789abcdef01234567".to_vec();
        let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        for chunk in [1, 7, 40, 41, 4096] {
            let mut data = payload.clone();
            data.extend_from_slice(&mark);
            let mut r = EofMarkReader::new(Chunks(data, 0, chunk), mark.clone(), "x");
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, payload, "chunk {chunk}");
        }
        let mut r = EofMarkReader::new(Chunks(payload.clone(), 0, 100), mark, "x");
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("before the diskless end mark"),
            "{err}"
        );
    }
}
