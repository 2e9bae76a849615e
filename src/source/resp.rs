//! A minimal blocking RESP2 client: enough to authenticate, ask for topology and start a
//! replication stream. Secrets are never part of an error message.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::tls::{Stream, TlsSettings};

/// Largest bulk reply accepted from a topology command (not the RDB payload).
const MAX_REPLY_BULK: usize = 64 << 20;
/// Deepest nesting of arrays accepted.
const MAX_DEPTH: usize = 8;

/// A RESP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+...`
    Status(String),
    /// `-...`
    Error(String),
    /// `:...`
    Integer(i64),
    /// `$...` (None for the null bulk)
    Bulk(Option<Vec<u8>>),
    /// `*...` (None for the null array)
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text (status or bulk), or an error for other kinds.
    pub fn text(&self) -> Result<String> {
        match self {
            Reply::Status(s) => Ok(s.clone()),
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            Reply::Error(e) => bail!("server error: {e}"),
            other => bail!("unexpected reply {other:?}"),
        }
    }
}

/// One connection to a Redis server.
pub struct Conn {
    addr: String,
    reader: BufReader<Stream>,
}

impl Conn {
    /// Connects over plain TCP with a timeout; `io_timeout` bounds every later read and write.
    pub fn connect(addr: &str, connect_timeout: Duration, io_timeout: Duration) -> Result<Self> {
        Self::connect_with(addr, connect_timeout, io_timeout, None)
    }

    /// Connects, then runs the TLS handshake when `tls` is given; `connect_timeout` bounds
    /// both.
    pub fn connect_with(
        addr: &str,
        connect_timeout: Duration,
        io_timeout: Duration,
        tls: Option<&TlsSettings>,
    ) -> Result<Self> {
        let tcp = Self::connect_tcp(addr, connect_timeout, io_timeout)?;
        let stream = match tls {
            Some(tls) => tls.handshake(addr, tcp, connect_timeout)?,
            None => Stream::Plain(tcp),
        };
        Ok(Self {
            addr: addr.to_string(),
            reader: BufReader::with_capacity(1 << 16, stream),
        })
    }

    fn connect_tcp(
        addr: &str,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> Result<TcpStream> {
        let mut last_err = None;
        let addrs = addr
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {addr}"))?;
        for sa in addrs {
            match TcpStream::connect_timeout(&sa, connect_timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(io_timeout))?;
                    stream.set_write_timeout(Some(io_timeout))?;
                    stream.set_nodelay(true)?;
                    return Ok(stream);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(match last_err {
            Some(e) => anyhow!(e).context(format!("cannot connect to {addr}")),
            None => anyhow!("{addr} resolves to no address"),
        })
    }

    /// The address this connection was made to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Changes the read timeout (e.g. while a primary forks for a snapshot).
    pub fn set_read_timeout(&self, timeout: Duration) -> Result<()> {
        Ok(self
            .reader
            .get_ref()
            .tcp()
            .set_read_timeout(Some(timeout))?)
    }

    /// Sends a command.
    pub fn send(&mut self, args: &[&[u8]]) -> Result<()> {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        let name =
            String::from_utf8_lossy(args.first().copied().unwrap_or_default()).to_uppercase();
        self.reader
            .get_mut()
            .write_all(&buf)
            .and_then(|()| self.reader.get_mut().flush())
            .with_context(|| format!("{}: cannot send {name}", self.addr))
    }

    /// Sends a command and reads its reply (server errors are returned as `Reply::Error`).
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply> {
        self.send(args)?;
        let name =
            String::from_utf8_lossy(args.first().copied().unwrap_or_default()).to_uppercase();
        self.read_reply(0)
            .with_context(|| format!("{}: reading the reply to {name}", self.addr))
    }

    /// Reads one line without its CRLF.
    pub fn read_line(&mut self) -> Result<Vec<u8>> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_REPLY_BULK as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            bail!("connection closed by {}", self.addr);
        }
        if line.last() != Some(&b'\n') {
            bail!("{}: reply line too long or cut", self.addr);
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(line)
    }

    fn read_reply(&mut self, depth: usize) -> Result<Reply> {
        if depth > MAX_DEPTH {
            bail!("reply nested too deeply");
        }
        let line = self.read_line()?;
        let (kind, rest) = line
            .split_first()
            .ok_or_else(|| anyhow!("empty reply line"))?;
        let text = String::from_utf8_lossy(rest).into_owned();
        let int = || {
            text.parse::<i64>()
                .with_context(|| format!("bad integer in reply: {text:?}"))
        };
        Ok(match kind {
            b'+' => Reply::Status(text),
            b'-' => Reply::Error(text),
            b':' => Reply::Integer(int()?),
            b'$' => {
                let n = int()?;
                if n < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let n = usize::try_from(n)?;
                if n > MAX_REPLY_BULK {
                    bail!("bulk reply of {n} bytes is too large");
                }
                let mut buf = vec![0u8; n + 2];
                self.reader.read_exact(&mut buf)?;
                buf.truncate(n);
                Reply::Bulk(Some(buf))
            }
            b'*' => {
                let n = int()?;
                if n < 0 {
                    return Ok(Reply::Array(None));
                }
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(self.read_reply(depth + 1)?);
                }
                Reply::Array(Some(items))
            }
            other => bail!("unexpected reply type byte 0x{other:02x}"),
        })
    }

    /// Authenticates (AUTH password, or AUTH username password). The password never appears
    /// in errors.
    pub fn auth(&mut self, username: Option<&str>, password: &str) -> Result<()> {
        let reply = match username {
            Some(u) => self.call(&[b"AUTH", u.as_bytes(), password.as_bytes()])?,
            None => self.call(&[b"AUTH", password.as_bytes()])?,
        };
        match reply {
            Reply::Status(_) => Ok(()),
            Reply::Error(e) => bail!("{}: authentication failed: {e}", self.addr),
            other => bail!("{}: unexpected reply to AUTH: {other:?}", self.addr),
        }
    }

    /// The buffered reader, for streaming a payload after the handshake.
    pub fn into_reader(self) -> BufReader<Stream> {
        self.reader
    }
}
