//! Fuzz target: the diskless replication framing (payload up to a 40-byte end mark) over
//! arbitrary bytes and read sizes must never panic and never hand out the mark.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use rdbinsight::source::replica::EofMarkReader;

/// Returns the data in pieces of the given size.
struct Pieces<'a>(&'a [u8], usize);

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, rest)) = data.split_first() else { return };
    let mark = b"0123456789abcdef0123456789abcdef01234567".to_vec();
    let mut r = EofMarkReader::new(Pieces(rest, piece as usize + 1), mark.clone(), "fuzz");
    let mut out = Vec::new();
    if r.read_to_end(&mut out).is_ok() {
        // The payload is a prefix of the input, followed by the mark, which is not handed out.
        assert_eq!(&rest[..out.len()], &out[..]);
        assert_eq!(&rest[out.len()..out.len() + mark.len()], &mark[..]);
    }
});
