//! Damaged input: truncation anywhere and flipped bytes give clear errors, never a panic or a
//! silent partial success.

use rdbinsight::parser::{ParseError, ParseOptions};

use crate::util::{fixture_rdbs, parse_bytes};

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: &str) -> Self {
        Self(
            seed.bytes().fold(0x9E3779B97F4A7C15, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100000001b3)
            }) | 1,
        )
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D) % n.max(1)
    }
}

fn parse_error(e: &anyhow::Error) -> &ParseError {
    e.downcast_ref::<ParseError>()
        .unwrap_or_else(|| panic!("not a parse error: {e:#}"))
}

#[test]
fn truncation_at_200_random_offsets_of_every_fixture() {
    let mut checked = 0;
    for path in fixture_rdbs() {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut rng = Rng::new(&name);
        for i in 0..200 {
            // Always include the cut just before the last byte.
            let cut = if i == 0 {
                bytes.len() as u64 - 1
            } else {
                rng.below(bytes.len() as u64)
            } as usize;
            let err = parse_bytes(&bytes[..cut], &ParseOptions::default())
                .err()
                .unwrap_or_else(|| {
                    panic!("{name} cut at {cut} of {} parsed as complete", bytes.len())
                });
            let pe = parse_error(&err);
            assert!(pe.is_truncated(), "{name} cut at {cut}: {err:#}");
            let msg = err.to_string();
            assert!(
                msg.contains("truncated") && msg.contains("byte offset"),
                "{msg}"
            );
            assert!(
                pe.offset <= cut as u64,
                "{name}: offset {} beyond the cut {cut}",
                pe.offset
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 94 * 200);
}

#[test]
fn flipped_bytes_in_checksummed_files_fail() {
    let lenient = ParseOptions {
        verify_checksum: false,
        ..ParseOptions::default()
    };
    let mut checksum_errors = 0;
    let mut files = 0;
    for path in fixture_rdbs() {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (summary, _) = parse_bytes(&bytes, &ParseOptions::default()).unwrap();
        if summary.checksum != rdbinsight::parser::Checksum::Verified {
            continue;
        }
        files += 1;
        let mut rng = Rng::new(&name);
        // Flip bytes after the header: in the body, and one in the stored checksum.
        let mut positions: Vec<usize> = (0..20)
            .map(|_| 9 + rng.below(bytes.len() as u64 - 9) as usize)
            .collect();
        positions.push(bytes.len() - 3);
        for pos in positions {
            let mut damaged = bytes.clone();
            damaged[pos] ^= 0x5A;
            let err = parse_bytes(&damaged, &ParseOptions::default())
                .err()
                .unwrap_or_else(|| panic!("{name}: byte {pos} flipped but parsed"));
            if parse_bytes(&damaged, &lenient).is_ok() {
                // Structurally valid: only the checksum can tell.
                assert!(
                    parse_error(&err).is_checksum_mismatch(),
                    "{name} flip at {pos}: {err:#}"
                );
                assert!(err.to_string().contains("checksum"), "{err}");
                checksum_errors += 1;
            }
        }
    }
    assert!(files >= 50, "{files} checksummed fixtures");
    assert!(
        checksum_errors >= files,
        "{checksum_errors} checksum errors over {files} files"
    );
}

#[test]
fn unknown_type_byte_names_offset_type_and_version() {
    let path = crate::util::fixtures_dir().join("redis-7.0.15-all.rdb");
    let bytes = std::fs::read(&path).unwrap();
    // Find the first key: after the AUX fields, SELECTDB 0xFE then RESIZEDB 0xFB 2 lengths.
    let sel = bytes.iter().position(|&b| b == 0xFE).unwrap();
    let mut damaged = bytes[..sel].to_vec();
    damaged.extend_from_slice(&[0xFE, 0x00, 0x42, 0x01, b'k']);
    let err = parse_bytes(&damaged, &ParseOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("byte offset {}", sel + 2)), "{msg}");
    assert!(
        msg.contains("0x42") && msg.contains("RDB version 10"),
        "{msg}"
    );
}

#[test]
fn trailing_garbage_and_bad_magic_are_errors() {
    let path = crate::util::fixtures_dir().join("redis-7.0.15-empty.rdb");
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    bytes.push(0);
    let err = parse_bytes(&bytes, &ParseOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains(&format!("byte offset {len}"))
            && err.to_string().contains("after the end"),
        "{err}"
    );
    let err = parse_bytes(b"HELLO0009\xff", &ParseOptions::default()).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
}

#[test]
fn huge_length_fields_fail_cleanly_without_allocating() {
    // REDIS0009, SELECTDB 0, a string key whose 64-bit length claims 2^60 bytes.
    let mut rdb = b"REDIS0009\xfe\x00\x00\x81".to_vec();
    rdb.extend_from_slice(&(1u64 << 60).to_be_bytes());
    let err = parse_bytes(&rdb, &ParseOptions::default()).unwrap_err();
    assert!(err.to_string().contains("max-key-bytes"), "{err}");
    // The same length on a value: skipping runs into the end of the input.
    let mut rdb = b"REDIS0009\xfe\x00\x00\x01k\x81".to_vec();
    rdb.extend_from_slice(&(1u64 << 60).to_be_bytes());
    let err = parse_bytes(&rdb, &ParseOptions::default()).unwrap_err();
    assert!(parse_error(&err).is_truncated(), "{err}");
    // A list claiming 2^60 elements.
    let mut rdb = b"REDIS0009\xfe\x00\x01\x01k\x81".to_vec();
    rdb.extend_from_slice(&(1u64 << 60).to_be_bytes());
    assert!(parse_bytes(&rdb, &ParseOptions::default()).is_err());
}
