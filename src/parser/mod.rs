//! Streaming RDB parser: reads any RDB (versions 1 to 12 and later where known) from a byte
//! source and reports one [`KeyRecord`] per key without materialising values.
//!
//! Memory is the input's chunks (a few of its source's chunk size), an 8 KiB LZF window and the
//! largest key name. Values are skipped
//! or walked as they stream by; container sizes come from their blobs, never from saturated
//! header counters.

mod blob;
pub mod chunks;
mod encodings;
mod error;
mod input;
mod lzf;
mod record;
mod values;

use std::collections::BTreeMap;
use std::io::{Read, Write};

use chunks::{ChunkSource, ReadChunks};

pub use error::{ErrorKind, ParseError};
pub use record::{module_type_name, Encoding, KeyRecord, KeyType};

use blob::Blob;
use error::ParseResult;
use input::Input;
use lzf::LzfWindow;

use crate::slot;

/// Opcodes of the RDB stream.
mod opcode {
    pub const SLOT_INFO: u8 = 0xF4;
    pub const FUNCTION2: u8 = 0xF5;
    pub const FUNCTION_PRE_GA: u8 = 0xF6;
    pub const MODULE_AUX: u8 = 0xF7;
    pub const IDLE: u8 = 0xF8;
    pub const FREQ: u8 = 0xF9;
    pub const AUX: u8 = 0xFA;
    pub const RESIZEDB: u8 = 0xFB;
    pub const EXPIRETIME_MS: u8 = 0xFC;
    pub const EXPIRETIME: u8 = 0xFD;
    pub const SELECTDB: u8 = 0xFE;
    pub const EOF: u8 = 0xFF;
}

/// Which slot columns to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisSlots {
    /// Only when the file carries slot info (SLOT_INFO opcode or `slot-info` AUX field).
    #[default]
    WhenFileHasSlotInfo,
    /// For every key (Redis Cluster sources).
    Always,
}

/// Parser settings.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Verify the CRC64 trailer when it is not zero.
    pub verify_checksum: bool,
    /// Largest key name accepted, in bytes.
    pub max_key_bytes: u64,
    /// When to fill `redis_slot`.
    pub redis_slots: RedisSlots,
    /// Fill `codis_slot` for every key.
    pub codis_slots: bool,
    /// Largest single read of the input (a listpack or ziplist blob read whole, a length
    /// header), and the chunk size when [`parse`] reads a [`Read`] itself.
    pub buffer_size: usize,
    /// Reject bytes after the end of the snapshot.
    pub reject_trailing_data: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            verify_checksum: true,
            max_key_bytes: 512 << 20,
            redis_slots: RedisSlots::default(),
            codis_slots: false,
            buffer_size: input::DEFAULT_BUFFER,
            reject_trailing_data: true,
        }
    }
}

/// Receives what the parser finds. Only [`Visitor::key`] is required.
pub trait Visitor {
    /// The RDB version from the header.
    fn header(&mut self, _rdb_version: u32) -> anyhow::Result<()> {
        Ok(())
    }
    /// An AUX field (values over 64 KiB are passed truncated).
    fn aux(&mut self, _key: &[u8], _value: &[u8]) {}
    /// One key.
    fn key(&mut self, record: &KeyRecord<'_>) -> anyhow::Result<()>;
}

/// How the checksum trailer was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// Verified and correct.
    Verified,
    /// RDB version without a trailer (before 5).
    Absent,
    /// The trailer is zero (`rdbchecksum no`).
    Disabled,
    /// Not verified (`--no-verify-checksum`).
    Skipped,
}

/// What a whole stream contained.
#[derive(Debug, Clone)]
pub struct Summary {
    /// RDB version from the header.
    pub rdb_version: u32,
    /// Header magic (`REDIS` or `VALKEY`).
    pub magic: &'static str,
    /// Keys per database.
    pub keys_per_db: BTreeMap<u64, u64>,
    /// Bytes read, header to checksum.
    pub bytes: u64,
    /// Checksum status.
    pub checksum: Checksum,
    /// Function libraries found.
    pub functions: u64,
    /// MODULE_AUX opcodes found.
    pub module_aux: u64,
}

impl Summary {
    /// Total keys.
    pub fn keys(&self) -> u64 {
        self.keys_per_db.values().sum()
    }
}

/// Adds `keys` keys of `db` to the summary (none: no entry).
fn count_keys(summary: &mut Summary, db: u64, keys: u64) {
    if keys > 0 {
        *summary.keys_per_db.entry(db).or_insert(0) += keys;
    }
}

/// Largest AUX value passed to visitors whole.
const AUX_VALUE_LIMIT: u64 = 64 << 10;

/// Parses one RDB stream, read from `reader` on the calling thread, to the end, calling
/// `visitor` for every key. See [`parse_chunks`].
pub fn parse<R: Read + Send>(
    reader: R,
    options: &ParseOptions,
    visitor: &mut dyn Visitor,
) -> anyhow::Result<Summary> {
    let chunks = ReadChunks::new(reader, options.buffer_size, options.verify_checksum);
    parse_chunks(chunks, options, visitor)
}

/// Parses one RDB stream, given in chunks (with their CRC64 when the checksum is verified),
/// to the end, calling `visitor` for every key.
///
/// Errors from the stream are [`ParseError`]s (inside the `anyhow::Error`) carrying the byte
/// offset and the RDB version; errors from the visitor are passed through.
pub fn parse_chunks<S: ChunkSource>(
    source: S,
    options: &ParseOptions,
    visitor: &mut dyn Visitor,
) -> anyhow::Result<Summary> {
    let mut p = Parser {
        input: Input::new(source, options.buffer_size, options.verify_checksum),
        window: LzfWindow::default(),
        key: Vec::with_capacity(256),
        key_in_input: false,
        options,
        version: None,
        valkey: false,
        visitor_error: None,
    };
    match p.run(visitor) {
        Ok(s) => Ok(s),
        Err(mut e) => {
            if let Some(v) = p.visitor_error.take() {
                return Err(v);
            }
            e.rdb_version = e.rdb_version.or(p.version);
            Err(e.into())
        }
    }
}

struct Parser<'o, R> {
    input: Input<R>,
    window: LzfWindow,
    /// The last key name read, unless it lies in the input (`key_in_input`).
    key: Vec<u8>,
    key_in_input: bool,
    options: &'o ParseOptions,
    version: Option<u32>,
    /// `VALKEY` magic: type ids from Valkey's own numbering where it differs.
    valkey: bool,
    visitor_error: Option<anyhow::Error>,
}

/// A string's header: plain length, integer, or LZF.
enum StrHead {
    Plain(u64),
    Int(i64),
    Lzf { clen: u64, ulen: u64 },
}

impl<R: ChunkSource> Parser<'_, R> {
    fn run(&mut self, visitor: &mut dyn Visitor) -> ParseResult<Summary> {
        let (magic, version) = self.header()?;
        self.version = Some(version);
        self.valkey = magic == "VALKEY";
        if let Err(e) = visitor.header(version) {
            return self.stop(e);
        }
        let mut summary = Summary {
            rdb_version: version,
            magic,
            keys_per_db: BTreeMap::new(),
            bytes: 0,
            checksum: Checksum::Absent,
            functions: 0,
            module_aux: 0,
        };
        let mut db = 0u64;
        // Keys of `db` not yet added to the summary (one map update per database switch, not
        // per key).
        let mut db_keys = 0u64;
        let mut expire: Option<i64> = None;
        let mut idle: Option<u64> = None;
        let mut freq: Option<u8> = None;
        let mut slot_info = false;
        let mut aux_value = Vec::new();
        loop {
            let at = self.input.pos();
            let op = self
                .input
                .read_u8("an opcode or value type (no EOF opcode yet)")?;
            match op {
                opcode::EOF => break,
                opcode::SELECTDB => {
                    count_keys(&mut summary, db, std::mem::take(&mut db_keys));
                    db = self.read_len("a database number")?;
                }
                opcode::EXPIRETIME => {
                    let s = i32::from_le_bytes(self.input.read_array("an expiry time in seconds")?);
                    expire = Some(s as i64 * 1000);
                }
                opcode::EXPIRETIME_MS => {
                    expire = Some(i64::from_le_bytes(
                        self.input.read_array("an expiry time in ms")?,
                    ));
                }
                opcode::RESIZEDB => {
                    self.read_len("a RESIZEDB hash table size")?;
                    self.read_len("a RESIZEDB expires size")?;
                }
                opcode::AUX => {
                    self.read_string_into_key(AUX_VALUE_LIMIT.max(1024), "an AUX field name")?;
                    aux_value.clear();
                    self.read_string_limited(
                        &mut aux_value,
                        AUX_VALUE_LIMIT,
                        "an AUX field value",
                    )?;
                    if self.key == b"slot-info" {
                        slot_info = true;
                    }
                    visitor.aux(&self.key, &aux_value);
                }
                opcode::FREQ => freq = Some(self.input.read_u8("an LFU frequency")?),
                opcode::IDLE => idle = Some(self.read_len("an LRU idle time")?),
                opcode::MODULE_AUX => {
                    self.read_len("a module id")?;
                    let when_op = self.read_len("a MODULE_AUX 'when' opcode")?;
                    if when_op != 2 {
                        return Err(self.invalid(
                            at,
                            "a MODULE_AUX 'when' field written as an unsigned integer (opcode 2)",
                        ));
                    }
                    self.read_len("a MODULE_AUX 'when' value")?;
                    self.skip_module_value()?;
                    summary.module_aux += 1;
                }
                opcode::FUNCTION2 => {
                    self.skip_string("a function library")?;
                    summary.functions += 1;
                }
                opcode::FUNCTION_PRE_GA => {
                    self.skip_string("a function name")?;
                    self.skip_string("a function engine name")?;
                    if self.read_len("a function description flag")? != 0 {
                        self.skip_string("a function description")?;
                    }
                    self.skip_string("a function body")?;
                    summary.functions += 1;
                }
                opcode::SLOT_INFO => {
                    self.read_len("a slot id")?;
                    self.read_len("a slot size")?;
                    self.read_len("a slot expires size")?;
                    slot_info = true;
                }
                value_type => {
                    let max_key = self.options.max_key_bytes;
                    self.read_key(max_key, "a key name")?;
                    let value = self.value(value_type, at)?;
                    let rdb_size = self.input.pos() - at;
                    let key = self.key();
                    let redis_slot = match self.options.redis_slots {
                        RedisSlots::Always => Some(slot::redis_slot(key)),
                        RedisSlots::WhenFileHasSlotInfo => slot_info.then(|| slot::redis_slot(key)),
                    };
                    let codis_slot = self.options.codis_slots.then(|| slot::codis_slot(key));
                    let record = KeyRecord {
                        db,
                        key,
                        key_type: value.key_type,
                        encoding: value.encoding,
                        member_count: value.members,
                        rdb_size,
                        expire_at_ms: expire.take(),
                        idle_seconds: idle.take(),
                        freq: freq.take(),
                        redis_slot,
                        codis_slot,
                    };
                    if let Err(e) = visitor.key(&record) {
                        return self.stop(e);
                    }
                    db_keys += 1;
                }
            }
        }
        count_keys(&mut summary, db, db_keys);
        summary.checksum = self.checksum(version)?;
        summary.bytes = self.input.pos();
        if self.options.reject_trailing_data && !self.input.at_end()? {
            return Err(ParseError {
                offset: self.input.pos(),
                rdb_version: None,
                kind: ErrorKind::TrailingData,
            });
        }
        Ok(summary)
    }

    fn stop<T>(&mut self, e: anyhow::Error) -> ParseResult<T> {
        self.visitor_error = Some(e);
        Err(ParseError::invalid(
            self.input.pos(),
            "the visitor to accept the key",
        ))
    }

    fn invalid(&self, at: u64, expected: impl Into<String>) -> ParseError {
        ParseError::invalid(at, expected)
    }

    fn header(&mut self) -> ParseResult<(&'static str, u32)> {
        let magic = self.input.read_array::<9>("the RDB header")?;
        let (name, digits): (&'static str, &[u8]) = if &magic[..5] == b"REDIS" {
            ("REDIS", &magic[5..])
        } else if &magic[..6] == b"VALKEY" {
            ("VALKEY", &magic[6..])
        } else {
            return Err(self.invalid(
                0,
                format!(
                    "the magic `REDIS` or `VALKEY` at the start of an RDB file, found {:?}",
                    String::from_utf8_lossy(&magic[..6])
                ),
            ));
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(self.invalid(
                name.len() as u64,
                "decimal digits of the RDB version after the magic",
            ));
        }
        let version = digits.iter().fold(0u32, |v, d| v * 10 + (d - b'0') as u32);
        if version == 0 {
            return Err(self.invalid(name.len() as u64, "an RDB version of at least 1"));
        }
        Ok((name, version))
    }

    fn checksum(&mut self, version: u32) -> ParseResult<Checksum> {
        if version < 5 {
            return Ok(Checksum::Absent);
        }
        let computed = self.input.crc_so_far()?;
        let at = self.input.pos();
        let stored = u64::from_le_bytes(self.input.read_array("the CRC64 checksum trailer")?);
        if stored == 0 {
            return Ok(Checksum::Disabled);
        }
        match computed {
            None => Ok(Checksum::Skipped),
            Some(c) if c == stored => Ok(Checksum::Verified),
            Some(c) => Err(ParseError {
                offset: at,
                rdb_version: None,
                kind: ErrorKind::Checksum {
                    stored,
                    computed: c,
                },
            }),
        }
    }

    /// Reads a length; an encoded-string marker is an error.
    #[inline(always)]
    fn read_len(&mut self, what: &'static str) -> ParseResult<u64> {
        match self.input.short_len() {
            Some(n) => Ok(n),
            None => self.read_len_in_full(what),
        }
    }

    /// [`Self::read_len`] for any head: a length in 4 or 8 bytes, a head across two buffers,
    /// a bad byte.
    #[inline(never)]
    fn read_len_in_full(&mut self, what: &'static str) -> ParseResult<u64> {
        let at = self.input.pos();
        let b = self.input.read_u8(what)?;
        match b >> 6 {
            0 => Ok((b & 0x3F) as u64),
            1 => Ok((((b & 0x3F) as u64) << 8) | self.input.read_u8(what)? as u64),
            2 => match b {
                0x80 => Ok(u32::from_be_bytes(self.input.read_array(what)?) as u64),
                0x81 => Ok(u64::from_be_bytes(self.input.read_array(what)?)),
                _ => Err(self.invalid(at, format!("{what}: a length, not the byte 0x{b:02x}"))),
            },
            _ => Err(self.invalid(
                at,
                format!("{what}: a length, not a special string encoding (0x{b:02x})"),
            )),
        }
    }

    #[inline(always)]
    fn string_head(&mut self, what: &'static str) -> ParseResult<StrHead> {
        match self.input.short_len() {
            Some(n) => Ok(StrHead::Plain(n)),
            None => self.string_head_in_full(what),
        }
    }

    /// [`Self::string_head`] for any head: a length in 4 or 8 bytes, an integer or LZF
    /// encoding, a head across two buffers, a bad byte.
    #[inline(never)]
    fn string_head_in_full(&mut self, what: &'static str) -> ParseResult<StrHead> {
        let at = self.input.pos();
        let b = self.input.read_u8(what)?;
        match b >> 6 {
            0 => Ok(StrHead::Plain((b & 0x3F) as u64)),
            1 => Ok(StrHead::Plain(
                (((b & 0x3F) as u64) << 8) | self.input.read_u8(what)? as u64,
            )),
            2 => match b {
                0x80 => Ok(StrHead::Plain(
                    u32::from_be_bytes(self.input.read_array(what)?) as u64,
                )),
                0x81 => Ok(StrHead::Plain(u64::from_be_bytes(
                    self.input.read_array(what)?,
                ))),
                _ => Err(self.invalid(
                    at,
                    format!("{what}: a string length, not the byte 0x{b:02x}"),
                )),
            },
            _ => match b & 0x3F {
                0 => Ok(StrHead::Int(self.input.read_u8(what)? as i8 as i64)),
                1 => Ok(StrHead::Int(
                    i16::from_le_bytes(self.input.read_array(what)?) as i64,
                )),
                2 => Ok(StrHead::Int(
                    i32::from_le_bytes(self.input.read_array(what)?) as i64,
                )),
                3 => {
                    let clen = self.read_len("the compressed length of an LZF string")?;
                    let ulen = self.read_len("the uncompressed length of an LZF string")?;
                    Ok(StrHead::Lzf { clen, ulen })
                }
                e => Err(self.invalid(at, format!("{what}: a string encoding 0-3, not {e}"))),
            },
        }
    }

    /// Skips a string; returns its length in bytes as STRLEN counts it and whether it was an
    /// integer encoding.
    #[inline(always)]
    fn skip_string(&mut self, what: &'static str) -> ParseResult<(u64, bool)> {
        match self.input.short_len() {
            Some(n) => {
                self.input.skip(n, what)?;
                Ok((n, false))
            }
            None => self.skip_string_in_full(what),
        }
    }

    /// [`Self::skip_string`] for any head (see [`Self::string_head_in_full`]).
    #[inline(never)]
    fn skip_string_in_full(&mut self, what: &'static str) -> ParseResult<(u64, bool)> {
        match self.string_head_in_full(what)? {
            StrHead::Plain(n) => {
                self.input.skip(n, what)?;
                Ok((n, false))
            }
            StrHead::Int(v) => Ok((decimal_len(v), true)),
            StrHead::Lzf { clen, ulen } => {
                self.input.skip(clen, what)?;
                Ok((ulen, false))
            }
        }
    }

    /// Opens a string as a blob for walking (container encodings).
    fn blob(&mut self, what: &'static str) -> ParseResult<Blob<'_, R>> {
        let at = self.input.pos();
        match self.string_head(what)? {
            StrHead::Plain(n) => Ok(Blob::plain(&mut self.input, n)),
            StrHead::Lzf { clen, ulen } => {
                Ok(Blob::lzf(&mut self.input, &mut self.window, clen, ulen))
            }
            StrHead::Int(_) => {
                Err(self.invalid(at, format!("{what}: a string blob, not an integer")))
            }
        }
    }

    /// Reads a string into `self.key` (replacing it), refusing more than `max` bytes.
    fn read_string_into_key(&mut self, max: u64, what: &'static str) -> ParseResult<()> {
        let at = self.input.pos();
        let head = self.string_head(what)?;
        self.head_into_key(head, at, max, what)
    }

    /// Reads a key name, refusing more than `max` bytes: where it lies in the input when it is
    /// stored plain (then [`Self::key`] reads it there), else into `self.key`.
    #[inline]
    fn read_key(&mut self, max: u64, what: &'static str) -> ParseResult<()> {
        let at = self.input.pos();
        let head = self.string_head(what)?;
        if let StrHead::Plain(n) = head {
            if n <= max && n <= self.input.limit() as u64 {
                self.key_in_input = true;
                return self.input.take_pinned(n as usize, what);
            }
        }
        self.key_in_input = false;
        self.head_into_key(head, at, max, what)
    }

    /// The key name last read by [`Self::read_key`].
    #[inline]
    fn key(&self) -> &[u8] {
        if self.key_in_input {
            self.input.pinned()
        } else {
            &self.key
        }
    }

    /// Reads the string whose head (read at `at`) is `head` into `self.key` (replacing it),
    /// refusing more than `max` bytes.
    fn head_into_key(
        &mut self,
        head: StrHead,
        at: u64,
        max: u64,
        what: &'static str,
    ) -> ParseResult<()> {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        let r = self.string_into(head, at, &mut key, max, what);
        self.key = key;
        r
    }

    /// Appends the string whose head (read at `at`) is `head` to `out`, refusing more than
    /// `max` bytes.
    fn string_into(
        &mut self,
        head: StrHead,
        at: u64,
        out: &mut Vec<u8>,
        max: u64,
        what: &'static str,
    ) -> ParseResult<()> {
        match head {
            StrHead::Int(v) => {
                // Formatted straight into `out` (no `String` per value); writing to a vector
                // cannot fail.
                let _ = write!(out, "{v}");
                Ok(())
            }
            StrHead::Plain(n) | StrHead::Lzf { ulen: n, .. } if n > max => Err(self.invalid(
                at,
                format!("{what} of at most {max} bytes (--max-key-bytes), not {n} bytes"),
            )),
            StrHead::Plain(n) => self.input.read_into(n, out, what),
            StrHead::Lzf { clen, ulen } => {
                Blob::lzf(&mut self.input, &mut self.window, clen, ulen).read_rest_into(out, what)
            }
        }
    }

    /// Reads a string; when longer than `max`, keeps only its first `max` bytes.
    fn read_string_limited(
        &mut self,
        out: &mut Vec<u8>,
        max: u64,
        what: &'static str,
    ) -> ParseResult<()> {
        match self.string_head(what)? {
            StrHead::Int(v) => {
                let _ = write!(out, "{v}");
            }
            StrHead::Plain(n) => {
                let keep = n.min(max);
                self.input.read_into(keep, out, what)?;
                self.input.skip(n - keep, what)?;
            }
            StrHead::Lzf { clen, ulen } => {
                if ulen > max {
                    self.input.skip(clen, what)?;
                } else {
                    Blob::lzf(&mut self.input, &mut self.window, clen, ulen)
                        .read_rest_into(out, what)?;
                }
            }
        }
        Ok(())
    }

    /// Skips a module value's opcode stream up to its EOF.
    fn skip_module_value(&mut self) -> ParseResult<()> {
        loop {
            let at = self.input.pos();
            match self.read_len("a module value opcode")? {
                0 => return Ok(()),
                1 | 2 => {
                    self.read_len("a module integer")?;
                }
                3 => self.input.skip(4, "a module float")?,
                4 => self.input.skip(8, "a module double")?,
                5 => {
                    self.skip_string("a module string")?;
                }
                op => return Err(self.invalid(at, format!("a module value opcode 0-5, not {op}"))),
            }
        }
    }
}

/// Length of the decimal text of `v` (what STRLEN reports for an integer-encoded string).
fn decimal_len(v: i64) -> u64 {
    let mut n = if v < 0 { 2 } else { 1 };
    let mut x = v.unsigned_abs();
    while x >= 10 {
        x /= 10;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_lengths() {
        for v in [
            0i64,
            9,
            10,
            -1,
            -10,
            123456,
            i32::MIN as i64,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(decimal_len(v), v.to_string().len() as u64, "{v}");
        }
    }
}
