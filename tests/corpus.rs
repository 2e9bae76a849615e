//! Every generated fixture (RDB v1 to v12, Redis 2.2 to 8.0, Valkey 8) against its truth file,
//! taken from the live server that wrote it.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::{fixture_rdbs, hex, parse_file, parse_in_chunks, truth, unhex, Row};

/// Pairs (OBJECT ENCODING on the server, encoding read from the RDB) that differ because the RDB
/// cannot tell them apart. This table is the one place that mapping is written down.
///
/// - `embstr`/`raw` strings are both saved as plain strings -> `raw`; strings the server keeps
///   as `int` but that do not fit 32 bits are saved as plain strings -> `raw`; short numeric
///   strings kept as `raw`/`embstr` are saved int-encoded -> `int`.
/// - Redis 2.2 (RDB v1) saves compact encodings as the plain types: zipmap -> hashtable,
///   ziplist -> linkedlist (lists), intset -> hashtable (sets).
/// - Redis 7.2+ saves a `listpack` list as a one-node quicklist -> `quicklist`.
/// - Redis 5.0 reports `unknown` for streams.
pub const ENCODING_DIFFERENCES: &[(&str, &str)] = &[
    ("embstr", "raw"),
    ("int", "raw"),
    ("raw", "int"),
    ("embstr", "int"),
    ("zipmap", "hashtable"),
    ("ziplist", "linkedlist"),
    ("intset", "hashtable"),
    ("listpack", "quicklist"),
    ("unknown", "stream"),
];

/// The encoding a string value gets in an RDB: int-encoded when it is the canonical decimal
/// text of a 32-bit integer (at most 11 bytes), else raw.
fn rdb_string_encoding(value: &[u8]) -> &'static str {
    let Ok(s) = std::str::from_utf8(value) else {
        return "raw";
    };
    match s.parse::<i64>() {
        Ok(v) if value.len() <= 11 && v.to_string() == s && i32::try_from(v).is_ok() => "int",
        _ => "raw",
    }
}

/// The encoding word a value type byte implies.
fn encoding_of_rdb_type(t: u64) -> Option<&'static str> {
    Some(match t {
        1 => "linkedlist",
        2 | 4 | 22 | 24 => "hashtable",
        3 | 5 => "skiplist",
        9 => "zipmap",
        10 | 12 | 13 => "ziplist",
        11 => "intset",
        14 | 18 => "quicklist",
        15 | 19 | 21 => "stream",
        16 | 17 | 20 => "listpack",
        23 | 25 => "listpackex",
        _ => return None,
    })
}

/// Compares parsed rows of one fixture with its truth file; returns one line per mismatch.
pub fn check_against_truth(
    name: &str,
    rows: &[Row],
    want: &[Value],
    file_size: u64,
    rdb_version: u32,
) -> Vec<String> {
    let mut failures = Vec::new();
    let got: BTreeMap<(u64, String), &Row> =
        rows.iter().map(|r| ((r.db, hex(&r.key)), r)).collect();
    if got.len() != rows.len() {
        failures.push(format!("{name}: duplicate (db, key)"));
    }
    let want_map: BTreeMap<(u64, String), &Value> = want
        .iter()
        .map(|t| {
            (
                (
                    t["db"].as_u64().unwrap(),
                    t["key_hex"].as_str().unwrap().to_string(),
                ),
                t,
            )
        })
        .collect();
    for k in want_map.keys().filter(|k| !got.contains_key(*k)) {
        failures.push(format!("{name}: missing key {k:?}"));
    }
    for k in got.keys().filter(|k| !want_map.contains_key(*k)) {
        failures.push(format!("{name}: extra key {k:?}"));
    }
    let mut total_size = 0;
    for (k, t) in &want_map {
        let Some(r) = got.get(k) else { continue };
        let mut err = |what: &str, truth: String, ours: String| {
            let key = String::from_utf8_lossy(&unhex(&k.1))
                .chars()
                .take(40)
                .collect::<String>();
            failures.push(format!(
                "{name} db{} key {key:?}: {what}: truth {truth}, ours {ours}",
                k.0
            ));
        };
        let ttype = t["type"].as_str().unwrap();
        let tenc = t["encoding"].as_str().unwrap();
        let rdb_type = t["rdb_type"].as_u64().unwrap();
        if rdb_type == 7 {
            if r.key_type != "module" || r.encoding != ttype {
                err(
                    "module type/name",
                    format!("module/{ttype}"),
                    format!("{}/{}", r.key_type, r.encoding),
                );
            }
            if r.member_count != 0 {
                err(
                    "module member_count",
                    "0".into(),
                    r.member_count.to_string(),
                );
            }
        } else {
            if r.key_type != ttype {
                err("type", ttype.into(), r.key_type.clone());
            }
            if Some(r.member_count) != t["member_count"].as_u64() {
                err(
                    "member_count",
                    t["member_count"].to_string(),
                    r.member_count.to_string(),
                );
            }
            let expected = match rdb_type {
                0 => t["value"]
                    .as_str()
                    .map_or("raw", |v| rdb_string_encoding(&unhex(v))),
                other => encoding_of_rdb_type(other).unwrap_or("?"),
            };
            if r.encoding != expected {
                err(
                    "encoding implied by the RDB",
                    expected.into(),
                    r.encoding.clone(),
                );
            }
            if r.encoding != tenc && !ENCODING_DIFFERENCES.contains(&(tenc, r.encoding.as_str())) {
                err(
                    "encoding (not an allowed difference)",
                    tenc.into(),
                    r.encoding.clone(),
                );
            }
        }
        if r.expire_at_ms != t["expire_at_ms"].as_i64() {
            err(
                "expire_at_ms",
                t["expire_at_ms"].to_string(),
                format!("{:?}", r.expire_at_ms),
            );
        }
        if let Some(idle) = t.get("idle_s") {
            if r.idle_seconds != idle.as_u64() {
                err("idle", idle.to_string(), format!("{:?}", r.idle_seconds));
            }
        }
        if let Some(freq) = t.get("lfu_freq") {
            if r.freq.map(u64::from) != freq.as_u64() {
                err("freq", freq.to_string(), format!("{:?}", r.freq));
            }
        }
        if r.rdb_size < 3 {
            err(
                "rdb_size",
                "at least type byte + key + value".into(),
                r.rdb_size.to_string(),
            );
        }
        total_size += r.rdb_size;
    }
    if total_size > file_size {
        failures.push(format!(
            "{name}: sum of rdb_size {total_size} > file size {file_size}"
        ));
    }
    // Cluster fixtures with slot info (SLOT_INFO opcode on Redis 7.4+, slot-info AUX on
    // Valkey 8) carry slots; no other fixture does.
    let has_slot_info =
        name.contains("cluster") && rdb_version >= 11 && !name.starts_with("redis-7.2");
    for r in rows {
        let want_slot = has_slot_info.then(|| rdbinsight::slot::redis_slot(&r.key));
        if r.redis_slot != want_slot {
            failures.push(format!(
                "{name}: redis_slot {:?}, expected {want_slot:?}",
                r.redis_slot
            ));
            break;
        }
    }
    failures
}

#[test]
fn every_fixture_matches_its_truth() {
    let files = fixture_rdbs();
    assert_eq!(
        files.len(),
        94,
        "expected the 94 generated fixtures in tests/fixtures"
    );
    let mut failures = Vec::new();
    let mut checked_keys = 0usize;
    let mut versions = std::collections::BTreeSet::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (summary, rows) = match parse_file(path) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: parse error: {e:#}"));
                continue;
            }
        };
        versions.insert(summary.rdb_version);
        checked_keys += rows.len();
        let size = std::fs::metadata(path).unwrap().len();
        failures.extend(check_against_truth(
            &name,
            &rows,
            &truth(path),
            size,
            summary.rdb_version,
        ));
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked_keys > 4400, "only {checked_keys} keys checked");
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        vec![1, 2, 6, 7, 8, 9, 10, 11, 12]
    );
}

/// Reads that span chunks (keys read in place, values skipped or copied across, the checksum at
/// a trailer in any chunk) give what one large chunk gives, whatever the chunk size and the room
/// in front of each chunk.
#[test]
fn every_fixture_parses_the_same_in_small_chunks() {
    let mut compared = 0;
    for path in fixture_rdbs() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let (want, want_rows) = parse_file(&path).unwrap();
        for (chunk, headroom) in [(1, 0), (61, 3), (1000, 0), (4093, 16), (65_536, 4096)] {
            if chunk < 61 && bytes.len() > 200_000 {
                continue;
            }
            let what = format!("{name} in chunks of {chunk} with {headroom} bytes of room");
            let (got, rows) = parse_in_chunks(&bytes, chunk, headroom)
                .unwrap_or_else(|e| panic!("{what}: {e:#}"));
            assert_eq!(rows, want_rows, "{what}");
            assert_eq!(got.checksum, want.checksum, "{what}");
            assert_eq!(got.bytes, want.bytes, "{what}");
            assert_eq!(got.keys_per_db, want.keys_per_db, "{what}");
            compared += 1;
        }
    }
    assert!(compared > 400, "only {compared} parses compared");
}

#[test]
fn int_encoded_key_names_are_signed_decimal() {
    // The `all` fixtures hold numeric key names; the truth has their exact bytes.
    let path = crate::util::fixtures_dir().join("redis-7.4.1-all.rdb");
    let (_, rows) = parse_file(&path).unwrap();
    let numeric: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            std::str::from_utf8(&r.key)
                .ok()
                .filter(|s| s.parse::<i64>().is_ok())
                .map(String::from)
        })
        .collect();
    assert!(
        numeric.iter().any(|s| s.starts_with('-')),
        "a negative int-encoded key name: {numeric:?}"
    );
}
