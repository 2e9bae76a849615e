//! Parse errors: every one names the byte offset, the RDB version (once known) and what was
//! expected there.

use std::fmt;
use std::io;

/// What went wrong while reading an RDB stream.
#[derive(Debug)]
pub enum ErrorKind {
    /// The stream ended before the structure did (before the EOF opcode and checksum).
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// A byte sequence that no Redis or Valkey server writes.
    Invalid {
        /// What was expected at that offset.
        expected: String,
    },
    /// The stored CRC64 differs from the one computed over the stream.
    Checksum {
        /// CRC64 stored in the file.
        stored: u64,
        /// CRC64 computed over everything before it.
        computed: u64,
    },
    /// Bytes after the end of the snapshot.
    TrailingData,
    /// The byte source failed.
    Io(io::Error),
}

/// An error with its position in the stream.
#[derive(Debug)]
pub struct ParseError {
    /// Absolute byte offset in the RDB stream where the problem is.
    pub offset: u64,
    /// RDB format version from the header, once read.
    pub rdb_version: Option<u32>,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl ParseError {
    pub(crate) fn truncated(offset: u64, what: &'static str) -> Self {
        Self {
            offset,
            rdb_version: None,
            kind: ErrorKind::Truncated { what },
        }
    }

    pub(crate) fn invalid(offset: u64, expected: impl Into<String>) -> Self {
        Self {
            offset,
            rdb_version: None,
            kind: ErrorKind::Invalid {
                expected: expected.into(),
            },
        }
    }

    /// Whether the stream simply ended too early.
    pub fn is_truncated(&self) -> bool {
        matches!(self.kind, ErrorKind::Truncated { .. })
    }

    /// Whether the checksum did not match.
    pub fn is_checksum_mismatch(&self) -> bool {
        matches!(self.kind, ErrorKind::Checksum { .. })
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte offset {}", self.offset)?;
        if let Some(v) = self.rdb_version {
            write!(f, " (RDB version {v})")?;
        }
        match &self.kind {
            ErrorKind::Truncated { what } => write!(
                f,
                ": the RDB is truncated: the stream ended while reading {what}"
            ),
            ErrorKind::Invalid { expected } => write!(f, ": expected {expected}"),
            ErrorKind::Checksum { stored, computed } => write!(
                f,
                ": CRC64 checksum mismatch: the file stores {stored:016x}, the content gives \
                 {computed:016x} (corrupt file; --no-verify-checksum reads it anyway)"
            ),
            ErrorKind::TrailingData => {
                f.write_str(": unexpected data after the end of the RDB (EOF opcode and checksum)")
            }
            ErrorKind::Io(e) => write!(f, ": read error: {e}"),
        }
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Result of the parser's internals.
pub type ParseResult<T> = Result<T, ParseError>;
