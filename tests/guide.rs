//! `docs/writing-a-sink.md`, followed literally: its `sh` blocks under "## Steps" run in order on
//! a scratch copy of the workspace and must produce a sink that `rdbinsight outputs` lists and
//! that writes one row per key.

use std::path::{Path, PathBuf};
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The `sh` code blocks of the "## Steps" section, in order.
fn steps(guide: &str) -> Vec<String> {
    let start = guide
        .find("\n## Steps")
        .expect("the guide has a Steps section");
    let section = &guide[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section[..end].lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_sink_guide_works_when_followed() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/writing-a-sink.md")).unwrap();
    let blocks = steps(&guide);
    assert!(blocks.len() >= 4, "{blocks:?}");

    let scratch = tempfile::tempdir().unwrap();
    let ws = scratch.path();
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root.join(file), ws.join(file)).unwrap();
    }
    // The scratch build shares this workspace's target directory, so only the workspace's own
    // crates are compiled again; its binary gets another name so that it never replaces the
    // `rdbinsight` the other tests run.
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("default-run = \"rdbinsight\""));
    let manifest = manifest.replace(
        "default-run = \"rdbinsight\"",
        "default-run = \"rdbinsight-guide-scratch\"",
    ) + "\n[[bin]]\nname = \"rdbinsight-guide-scratch\"\npath = \"src/main.rs\"\n";
    std::fs::write(ws.join("Cargo.toml"), manifest).unwrap();
    copy_dir(&root.join("src"), &ws.join("src"));
    copy_dir(&root.join("plugins"), &ws.join("plugins"));
    std::fs::create_dir_all(ws.join("tests/fixtures")).unwrap();
    for entry in std::fs::read_dir(root.join("tests")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "rs") {
            std::fs::copy(&p, ws.join("tests").join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(
        root.join("tests/fixtures/redis-7.4.1-all.rdb"),
        ws.join("tests/fixtures/redis-7.4.1-all.rdb"),
    )
    .unwrap();

    let mut transcript = String::new();
    for (i, block) in blocks.iter().enumerate() {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", block])
            .current_dir(ws)
            // This workspace's target directory (see above), no network.
            .env("CARGO_TARGET_DIR", root.join("target"))
            .env("CARGO_NET_OFFLINE", "true")
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        transcript.push_str(&format!(
            "--- step {} ---\n{block}{}{}",
            i + 1,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        assert!(
            out.status.success(),
            "step {} of the guide failed:\n{transcript}",
            i + 1
        );
    }
    assert!(
        transcript.contains("\nndjson "),
        "outputs did not list ndjson:\n{transcript}"
    );
    let rows = std::fs::read_to_string(ws.join("keys.ndjson")).unwrap();
    let keys = crate::util::truth(&root.join("tests/fixtures/redis-7.4.1-all.rdb")).len();
    assert_eq!(rows.lines().count(), keys);
    assert!(rows
        .lines()
        .all(|l| l.starts_with('{') && l.contains("\"key\":")));
}
