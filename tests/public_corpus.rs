//! The public RDB files of other projects (`../shared/fixtures/public`, not copied here): each
//! parses with the counts its project expects, or fails with a clear error; none panics.

use serde_json::Value;

use crate::util::{parse_file, public_dir};

/// Files that must fail (file name, or `repo/file` where the name is ambiguous), with a word
/// the error must contain.
const MUST_FAIL: &[(&str, &str)] = &[
    ("invalid_chksum_v8.rdb", "checksum"),
    ("future_v19.rdb", "checksum"),
    ("redis_ent_opcode_ram_lru.rdb", "byte offset"),
    // 40 bytes of text appended after the checksum by its project.
    ("redis_40_with_module.rdb", "after the end"),
    // Type 6: Redis 4.0 RC module values carry no opcodes, so nothing can skip them.
    ("leonchen83__redis-replicator/module.rdb", "type 6"),
];

#[test]
fn public_fixtures_parse_or_fail_clearly() {
    let dir = public_dir();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest
        .as_array()
        .cloned()
        .or_else(|| manifest["files"].as_array().cloned())
        .expect("manifest list");
    let mut report = Vec::new();
    let mut parsed = 0;
    for e in &entries {
        let rel = e["file"].as_str().expect("manifest file");
        let path = dir.join(rel);
        if path.extension().is_none_or(|x| x != "rdb") {
            continue;
        }
        let result = std::panic::catch_unwind(|| parse_file(&path));
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                report.push(format!("{rel}: PANIC"));
                continue;
            }
        };
        let must_fail = MUST_FAIL
            .iter()
            .find(|(n, _)| rel.ends_with(&format!("/{n}")) || rel == *n);
        match (result, must_fail) {
            (Ok((summary, rows)), None) => {
                parsed += 1;
                if let Some(keys) = e["keys"].as_u64() {
                    if keys != rows.len() as u64 {
                        report.push(format!(
                            "{rel}: {} keys, the manifest says {keys}",
                            rows.len()
                        ));
                    }
                }
                assert_eq!(summary.keys(), rows.len() as u64);
            }
            (Ok(_), Some(_)) => report.push(format!("{rel}: parsed but must fail")),
            (Err(err), Some((_, word))) => {
                let msg = format!("{err:#}");
                if !msg.contains(word) || !msg.contains("byte offset") {
                    report.push(format!("{rel}: unclear error: {msg}"));
                }
            }
            (Err(err), None) => {
                let msg = format!("{err:#}");
                let known_corrupt = rel.contains("corrupt");
                if !(known_corrupt && msg.contains("byte offset")) {
                    report.push(format!("{rel}: {msg}"));
                }
            }
        }
    }
    assert!(parsed > 50, "only {parsed} public files parsed");
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// HDT3213/rdb ships the expected decoding of its fixtures (`X.json` beside `X.rdb`): the same
/// keys with the same types and element counts must come out of our parser.
#[test]
fn hdt3213_expected_decodings_match() {
    let dir = public_dir().join("HDT3213__rdb");
    let mut compared = 0;
    let mut report = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for json in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
    {
        let rdb = json.with_extension("rdb");
        let Ok(expected) = serde_json::from_str::<Value>(&std::fs::read_to_string(json).unwrap())
        else {
            continue;
        };
        let (Some(expected), true) = (expected.as_array(), rdb.exists()) else {
            continue;
        };
        let name = rdb.file_name().unwrap().to_string_lossy().into_owned();
        let rows = match parse_file(&rdb) {
            Ok((_, rows)) => rows,
            Err(e) => {
                report.push(format!("{name}: {e:#}"));
                continue;
            }
        };
        let mut want = 0;
        for o in expected {
            let ty = o["type"].as_str().unwrap_or_default();
            let count = match ty {
                "hash" => o["hash"].as_object().map(|m| m.len()),
                "list" => o["values"].as_array().map(Vec::len),
                "set" => o["members"].as_array().map(Vec::len),
                "zset" => o["entries"].as_array().map(Vec::len),
                "stream" => o["len"].as_u64().map(|n| n as usize),
                "string" => o["value"].as_str().filter(|v| v.is_ascii()).map(str::len),
                _ => continue,
            };
            want += 1;
            let key = o["key"].as_str().unwrap_or_default();
            let db = o["db"].as_u64().unwrap_or(0);
            let Some(row) = rows
                .iter()
                .find(|r| r.db == db && String::from_utf8_lossy(&r.key) == key)
            else {
                report.push(format!("{name}: key {key:?} (db {db}) missing"));
                continue;
            };
            if row.key_type != ty {
                report.push(format!(
                    "{name}: {key:?} type {} != expected {ty}",
                    row.key_type
                ));
            }
            if let Some(n) = count {
                if row.member_count != n as u64 {
                    report.push(format!(
                        "{name}: {key:?} member_count {} != expected {n}",
                        row.member_count
                    ));
                }
            }
            compared += 1;
        }
        if want != rows.len() {
            report.push(format!(
                "{name}: {} keys parsed, {want} expected",
                rows.len()
            ));
        }
    }
    assert!(compared > 100, "only {compared} keys compared");
    assert!(report.is_empty(), "{}", report.join("\n"));
}
