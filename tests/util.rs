//! Helpers shared by the integration tests: fixture paths, truth files, parsing to owned rows,
//! and running the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rdbinsight::parser::{self, KeyRecord, ParseOptions, Summary, Visitor};
use serde_json::Value;

/// Our generated fixtures (copied from ../shared/fixtures, written by real servers).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every generated fixture RDB, sorted.
pub fn fixture_rdbs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rdb"))
        .collect();
    v.sort();
    v
}

/// The public fixtures from other projects (not copied into this repository).
pub fn public_dir() -> PathBuf {
    let dir = std::env::var_os("RDBINSIGHT_PUBLIC_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/public"));
    assert!(
        dir.join("manifest.json").is_file(),
        "public RDB corpus not found at {} (expected ../shared/fixtures/public beside the checkout, \
         or set RDBINSIGHT_PUBLIC_FIXTURES)",
        dir.display()
    );
    dir
}

/// One parsed key, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub db: u64,
    pub key: Vec<u8>,
    pub key_type: String,
    pub encoding: String,
    pub member_count: u64,
    pub rdb_size: u64,
    pub expire_at_ms: Option<i64>,
    pub idle_seconds: Option<u64>,
    pub freq: Option<u8>,
    pub redis_slot: Option<u16>,
    pub codis_slot: Option<u16>,
}

#[derive(Default)]
struct Collect(Vec<Row>);

impl Visitor for Collect {
    fn key(&mut self, r: &KeyRecord<'_>) -> anyhow::Result<()> {
        self.0.push(Row {
            db: r.db,
            key: r.key.to_vec(),
            key_type: r.key_type.as_str().to_string(),
            encoding: r.encoding.as_str().to_string(),
            member_count: r.member_count,
            rdb_size: r.rdb_size,
            expire_at_ms: r.expire_at_ms,
            idle_seconds: r.idle_seconds,
            freq: r.freq,
            redis_slot: r.redis_slot,
            codis_slot: r.codis_slot,
        });
        Ok(())
    }
}

/// Parses bytes with the given options.
pub fn parse_bytes(bytes: &[u8], options: &ParseOptions) -> anyhow::Result<(Summary, Vec<Row>)> {
    let mut c = Collect::default();
    let s = parser::parse(bytes, options, &mut c)?;
    Ok((s, c.0))
}

/// Parses bytes with default options, handed to the parser in chunks of `chunk` bytes with
/// `headroom` spare bytes in front of each (as a read-ahead source hands them).
pub fn parse_in_chunks(
    bytes: &[u8],
    chunk: usize,
    headroom: usize,
) -> anyhow::Result<(Summary, Vec<Row>)> {
    let mut c = Collect::default();
    let source = parser::chunks::ReadChunks::with_headroom(bytes, chunk, headroom, true);
    let s = parser::parse_chunks(source, &ParseOptions::default(), &mut c)?;
    Ok((s, c.0))
}

/// Parses a file with default options.
pub fn parse_file(path: &Path) -> anyhow::Result<(Summary, Vec<Row>)> {
    let bytes = std::fs::read(path).unwrap();
    parse_bytes(&bytes, &ParseOptions::default())
}

/// The truth file of a fixture, one JSON object per key.
pub fn truth(rdb: &Path) -> Vec<Value> {
    let mut p = rdb.as_os_str().to_owned();
    p.push(".truth.jsonl");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", PathBuf::from(&p).display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The built binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rdbinsight"))
}

/// Runs the binary and returns its output; panics with stderr when `expect_ok` differs.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run rdbinsight");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Polls `ok` every 50 ms until it holds; fails the test, saying `what` never happened, once
/// `limit` has passed.
pub fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
