//! Fuzz target: the RDB parser on arbitrary bytes must return Ok or a ParseError, never panic,
//! hang or allocate without bound. Seeds: the fixture RDBs (see `just fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbinsight::parser::{parse, KeyRecord, ParseOptions, Visitor};

struct Count(u64);

impl Visitor for Count {
    fn key(&mut self, r: &KeyRecord<'_>) -> anyhow::Result<()> {
        self.0 += r.member_count.min(1);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let options = ParseOptions {
        max_key_bytes: 1 << 20,
        buffer_size: 4096,
        ..ParseOptions::default()
    };
    let _ = parse(data, &options, &mut Count(0));
    let lenient = ParseOptions { verify_checksum: false, ..options };
    let _ = parse(data, &lenient, &mut Count(0));
});
