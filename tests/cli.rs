//! The built binary end to end: `outputs`, `dump` into jsonl and parquet, `--print-config`.

use crate::util::{bin, fixtures_dir, run_ok};

#[test]
fn outputs_lists_default_sinks_sorted() {
    let out = run_ok(bin().arg("outputs"));
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(
        names.contains(&"jsonl") && names.contains(&"parquet"),
        "{text}"
    );
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(
        text.contains("rdbinsight-sink-parquet") && text.contains(env!("CARGO_PKG_VERSION")),
        "{text}"
    );

    let out = run_ok(bin().args(["outputs", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let parquet = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "parquet")
        .unwrap();
    assert_eq!(parquet["crate"], "rdbinsight-sink-parquet");
    assert_eq!(parquet["subcommand"], "into-parquet");
    assert!(parquet["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["long"] == "--dir"));

    let out = run_ok(bin().args(["outputs", "-v"]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("--dir <PATH>")
            && text.contains("--compression")
            && text.contains("--out <PATH>"),
        "{text}"
    );
}

#[test]
fn dump_into_jsonl_stdout_matches_truth_keys() {
    let rdb = fixtures_dir().join("redis-7.0.15-all.rdb");
    let out = run_ok(bin().args(["dump", "from-file", "--path"]).arg(&rdb).args([
        "--cluster",
        "c1",
        "into-jsonl",
        "--out",
        "-",
    ]));
    let text = String::from_utf8(out.stdout).unwrap();
    let truth = crate::util::truth(&rdb);
    assert_eq!(text.lines().count(), truth.len());
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["cluster"], "c1");
    assert_eq!(first["instance"], "redis-7.0.15-all");
}

#[test]
fn print_config_shows_resolved_config_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        bin()
            .args([
                "dump",
                "--print-config",
                "from-file",
                "--path",
                "x.rdb",
                "into-parquet",
                "--dir",
            ])
            .arg(dir.path())
            .args(["--compression", "snappy"]),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sink"]["name"], "parquet");
    assert_eq!(v["sink"]["config"]["compression"], "snappy");
    assert_eq!(v["source"]["config"]["paths"][0], "x.rdb");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "print-config writes nothing"
    );
}

#[test]
fn broken_pipe_exits_zero() {
    use std::process::Stdio;
    let mut child = bin()
        .args(["misc", "completion", "bash"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn usage_errors_exit_2_and_parse_errors_exit_1() {
    let out = bin().args(["dump", "from-file"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rdb");
    std::fs::write(&bad, b"REDIS0009\xfe\x00\x00\x01k").unwrap();
    let out = bin()
        .args(["dump", "from-file", "--path"])
        .arg(&bad)
        .args(["into-parquet", "--dir"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.rdb") && err.contains("byte offset") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains("published nothing"), "{err}");
}

#[test]
fn sigint_aborts_the_run_and_exits_130() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args([
            "dump",
            "from-file",
            "--path",
            "-",
            "--cluster",
            "c",
            "into-parquet",
            "--dir",
        ])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The start of a valid RDB, then nothing: the dump waits for more input.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"REDIS0009\xfe\x00\x00\x01k\x01v").unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(130));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("interrupted") && err.contains("published nothing"),
        "{err}"
    );
    let cluster = dir.path().join("cluster=c");
    let published = std::fs::read_dir(&cluster).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("batch=")
    });
    assert_eq!(published.count(), 0);
}

#[test]
fn help_texts_describe_commands_not_flag_structs() {
    let out = run_ok(bin().arg("--help"));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("Turn Redis/Valkey RDB snapshots"),
        "{text}"
    );
    assert!(!text.contains("Flags of"), "{text}");
    let out = run_ok(bin().args(["dump", "from-file", "--help"]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("into-parquet ") && l.contains("Parquet files"))
            && !text.contains("Flags of"),
        "{text}"
    );
}
