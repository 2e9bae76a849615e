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
