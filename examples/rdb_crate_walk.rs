//! Bench reference (dev only): walks an RDB file with the `rdb` crate from crates.io and counts
//! its keys, for the `rdb crate` row of `just bench`. Not part of rdbinsight.
//!
//! usage: `cargo run --release --example rdb_crate_walk -- FILE`

use std::io::BufReader;

use rdb::{RdbDecoder, RdbValue, Simple};

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: rdb_crate_walk FILE");
        return std::process::ExitCode::from(2);
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let decoder = match RdbDecoder::new(BufReader::with_capacity(1 << 20, file), Simple::new()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{path}: {e:?}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut keys = 0u64;
    for item in decoder {
        match item {
            Ok(
                RdbValue::String { .. }
                | RdbValue::Hash { .. }
                | RdbValue::Set { .. }
                | RdbValue::List { .. }
                | RdbValue::SortedSet { .. },
            ) => keys += 1,
            Ok(_) => {}
            Err(e) => {
                eprintln!("{path}: after {keys} keys: {e:?}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    println!("{keys} keys");
    std::process::ExitCode::SUCCESS
}
