//! The Parquet sink through the built binary: every fixture dumped in one run, read back by the
//! parquet crate's reader and by pyarrow, equal to the truth files, sorted, exact schema;
//! atomicity under SIGKILL; clear errors on read-only and full directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use arrow_array::{
    Array, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdbinsight_sink_api::{record_schema, schema};

use crate::corpus::check_against_truth;
use crate::damage::Rng;
use crate::util::{bin, fixture_rdbs, fixtures_dir, run_ok, truth, Row};

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
}

/// Reads one Parquet file into rows (and checks its schema is exactly the record schema).
pub fn read_parquet(path: &Path) -> Vec<Row> {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let b = batch.unwrap();
        assert_eq!(
            b.schema().fields(),
            record_schema().fields(),
            "{}",
            path.display()
        );
        let db = col::<Int64Array>(&b, schema::DB);
        let key = col::<BinaryArray>(&b, schema::KEY);
        let ty = col::<StringArray>(&b, schema::TYPE);
        let enc = col::<StringArray>(&b, schema::ENCODING);
        let members = col::<Int64Array>(&b, schema::MEMBER_COUNT);
        let size = col::<Int64Array>(&b, schema::RDB_SIZE);
        let expire = col::<TimestampMillisecondArray>(&b, schema::EXPIRE_AT);
        let idle = col::<Int64Array>(&b, schema::IDLE_SECONDS);
        let freq = col::<Int32Array>(&b, schema::FREQ);
        let slot = col::<Int32Array>(&b, schema::REDIS_SLOT);
        let codis = col::<Int32Array>(&b, schema::CODIS_SLOT);
        for i in 0..b.num_rows() {
            let opt_i64 = |a: &Int64Array| (!a.is_null(i)).then(|| a.value(i));
            rows.push(Row {
                db: db.value(i) as u64,
                key: key.value(i).to_vec(),
                key_type: ty.value(i).to_string(),
                encoding: enc.value(i).to_string(),
                member_count: members.value(i) as u64,
                rdb_size: size.value(i) as u64,
                expire_at_ms: (!expire.is_null(i)).then(|| expire.value(i)),
                idle_seconds: opt_i64(idle).map(|v| v as u64),
                freq: (!freq.is_null(i)).then(|| freq.value(i) as u8),
                redis_slot: (!slot.is_null(i)).then(|| slot.value(i) as u16),
                codis_slot: (!codis.is_null(i)).then(|| codis.value(i) as u16),
            });
        }
    }
    rows
}

pub fn batch_dirs(cluster_dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(cluster_dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort();
    v
}

fn dump_all_fixtures(out: &Path, extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.args([
        "dump",
        "--concurrency",
        "2",
        "from-file",
        "--cluster",
        "corpus",
        "--path",
    ])
    .arg(fixtures_dir().join("*.rdb"))
    .args(["into-parquet", "--dir"])
    .arg(out)
    .args(extra);
    cmd
}

#[test]
fn every_fixture_through_parquet_equals_truth() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(&mut dump_all_fixtures(
        dir.path(),
        &["--max-memory", "1MiB"],
    ));
    let cluster_dir = dir.path().join("cluster=corpus");
    let batches = batch_dirs(&cluster_dir, "batch=");
    assert_eq!(batches.len(), 1, "one published batch");
    assert!(
        batch_dirs(&cluster_dir, "_tmp_batch=").is_empty(),
        "no temporary directory left"
    );
    let batch = &batches[0];
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(batch.join("_manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["instances"].as_array().unwrap().len(), 94);

    let mut failures = Vec::new();
    for rdb in fixture_rdbs() {
        let name = rdb.file_name().unwrap().to_string_lossy().into_owned();
        let stem = name.trim_end_matches(".rdb");
        let file = batch.join(format!("{stem}.parquet"));
        let rows = read_parquet(&file);
        let sorted = rows
            .windows(2)
            .all(|w| (w[0].db, &w[0].key) <= (w[1].db, &w[1].key));
        assert!(sorted, "{} is not sorted by (db, key)", file.display());
        let version = manifest["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["instance"] == stem)
            .map(|i| i["rdb_version"].as_u64().unwrap() as u32)
            .unwrap();
        let size = std::fs::metadata(&rdb).unwrap().len();
        failures.extend(check_against_truth(
            &name,
            &rows,
            &truth(&rdb),
            size,
            version,
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // An independent reader: pyarrow reads every file with the exact schema and row counts.
    let script = r#"
import json, sys, glob, os
import pyarrow.parquet as pq
out = {}
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.parquet"))):
    t = pq.read_table(f)
    keys = list(zip(t.column("db").to_pylist(), t.column("key").to_pylist()))
    meta = pq.ParquetFile(f).metadata
    encodings = {}
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            encodings.setdefault(col.path_in_schema, set()).update(col.encodings)
    out[os.path.basename(f)] = {"rows": t.num_rows, "schema": [(x.name, str(x.type), x.nullable) for x in t.schema],
                                "sorted": keys == sorted(keys),
                                "encodings": {k: sorted(v) for k, v in encodings.items()}}
print(json.dumps(out))
"#;
    let py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(batch)
        .output()
        .expect("python3 runs");
    assert!(
        py.status.success(),
        "pyarrow failed (install it with tests/run.sh): {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let files: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(files.len(), 94);
    let want_schema = serde_json::json!([
        ["cluster", "string", false],
        ["batch", "timestamp[ns, tz=UTC]", false],
        ["instance", "string", false],
        ["db", "int64", false],
        ["key", "binary", false],
        ["type", "string", false],
        ["member_count", "int64", false],
        ["rdb_size", "int64", false],
        ["encoding", "string", false],
        ["expire_at", "timestamp[ms, tz=UTC]", true],
        ["idle_seconds", "int64", true],
        ["freq", "int32", true],
        ["codis_slot", "int32", true],
        ["redis_slot", "int32", true]
    ]);
    for rdb in fixture_rdbs() {
        let stem = rdb
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".rdb")
            .to_string();
        let f = &files[&format!("{stem}.parquet")];
        assert_eq!(f["rows"], truth(&rdb).len(), "{stem}");
        assert_eq!(f["schema"], want_schema, "{stem}");
        assert_eq!(f["sorted"], true, "{stem}");
        // The documented layout: sorted keys prefix-encoded, sizes and counts delta-encoded.
        if f["rows"] != 0 {
            let has = |column: &str, encoding: &str| {
                f["encodings"][column]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|x| x == encoding))
            };
            assert!(has("key", "DELTA_BYTE_ARRAY"), "{stem}: {}", f["encodings"]);
            assert!(has("rdb_size", "DELTA_BINARY_PACKED"), "{stem}");
            assert!(has("member_count", "DELTA_BINARY_PACKED"), "{stem}");
            assert!(has("type", "RLE_DICTIONARY"), "{stem}");
        }
    }
}

/// After a kill at any moment: no `batch=` directory unless complete, and every `.parquet`
/// file anywhere is a complete, readable file.
fn assert_nothing_half_published(out: &Path) {
    let cluster_dir = out.join("cluster=corpus");
    for batch in batch_dirs(&cluster_dir, "batch=") {
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(batch.join("_manifest.json")).expect("published batch has a manifest"),
        )
        .unwrap();
        assert_eq!(manifest["instances"].as_array().unwrap().len(), 94);
    }
    for dir in batch_dirs(&cluster_dir, "").iter() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "parquet") {
                read_parquet(&p);
            }
        }
    }
}

#[test]
fn sigkill_at_random_moments_never_half_publishes() {
    let mut rng = Rng::new("sigkill");
    for round in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = dump_all_fixtures(dir.path(), &["--max-memory", "1MiB"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = 20 + rng.below(1200);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        assert_nothing_half_published(dir.path());
        eprintln!("round {round}: killed after {delay} ms");
    }
}

/// Runs the binary with `dir` replaced by a fresh tmpfs mounted with `mount_opts`, inside a
/// private mount namespace (needs `unshare` from util-linux and user namespaces).
fn dump_into_tmpfs(dir: &Path, mount_opts: &str) -> std::process::Output {
    let rdb = fixtures_dir().join("*.rdb");
    let script = "mount -t tmpfs -o \"$1\" tmpfs \"$2\" || exit 99; shift 2; exec \"$@\"";
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--map-root-user",
            "sh",
            "-c",
            script,
            "sh",
            mount_opts,
        ])
        .arg(dir)
        .arg(env!("CARGO_BIN_EXE_rdbinsight"))
        .args(["dump", "from-file", "--cluster", "corpus", "--path"])
        .arg(&rdb)
        .args(["into-parquet", "--dir"])
        .arg(dir)
        .output()
        .expect("unshare (util-linux) runs");
    assert_ne!(
        out.status.code(),
        Some(99),
        "could not mount a tmpfs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn read_only_output_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dump_into_tmpfs(dir.path(), "ro");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&dir.path().display().to_string()) && err.contains("Read-only"),
        "{err}"
    );
}

#[test]
fn full_output_directory_is_a_clear_error_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dump_into_tmpfs(dir.path(), "size=64k");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No space left") && err.contains(&dir.path().display().to_string()),
        "{err}"
    );
    assert!(err.contains("published nothing"), "{err}");
}

#[test]
fn concurrent_dumps_get_their_own_batches() {
    let dir = tempfile::tempdir().unwrap();
    let rdb = fixtures_dir().join("redis-7.0.15-all.rdb");
    let spawn = || {
        bin()
            .args(["dump", "from-file", "--cluster", "corpus", "--path"])
            .arg(&rdb)
            .args(["into-parquet", "--dir"])
            .arg(dir.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        batch_dirs(&dir.path().join("cluster=corpus"), "batch=").len(),
        2
    );
}

#[test]
fn hostile_instance_and_cluster_names_stay_inside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let rdb = fixtures_dir().join("redis-7.0.15-empty.rdb");
    for (cluster, instance) in [
        ("../../c", "../../etc/x"),
        ("a/b", "/abs/path:6379"),
        ("..", ".."),
        ("x", "with\nnewline and \u{7f}"),
    ] {
        run_ok(
            bin()
                .args([
                    "dump",
                    "from-file",
                    "--cluster",
                    cluster,
                    "--instance",
                    instance,
                    "--path",
                ])
                .arg(&rdb)
                .args(["into-parquet", "--dir"])
                .arg(&out),
        );
    }
    // Nothing was written outside `out`, and every file is two directories below it.
    let mut outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    outside.sort();
    assert_eq!(outside, vec![std::ffi::OsString::from("out")]);
    for cluster_dir in std::fs::read_dir(&out).unwrap() {
        let cluster_dir = cluster_dir.unwrap().path();
        assert!(cluster_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("cluster="));
        for batch in std::fs::read_dir(&cluster_dir).unwrap() {
            let batch = batch.unwrap().path();
            assert!(
                batch
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("batch="),
                "{}",
                batch.display()
            );
            for f in std::fs::read_dir(&batch).unwrap() {
                let name = f.unwrap().file_name().to_string_lossy().into_owned();
                assert!(!name.starts_with('.') || name == "_manifest.json", "{name}");
                assert!(!name.contains('/') && !name.contains('\n'), "{name:?}");
            }
        }
    }
}

/// Under a low `ulimit -n`, the external sort merges fewer runs at a time instead of failing:
/// 2M keys with a 1 MiB sort budget make about 30 runs, more than the usual fan-in of 16.
#[test]
fn external_sort_fits_a_low_open_files_limit() {
    let server = crate::redis::Server::start(None, &["--enable-debug-command", "yes"]);
    server.cmd(&["DEBUG", "POPULATE", "2000000", "key"]);
    let rdb = server.save();
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "ulimit -n 20 && exec \"$0\" -v dump from-file --cluster fd --path '{}' into-parquet --dir '{}' --max-memory 1MiB",
        rdb.display(),
        dir.path().display()
    );
    let out = run_ok(
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_rdbinsight")),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let spills = log.matches("sort buffer spilled").count();
    assert!(
        spills > 16,
        "only {spills} runs: the test needs more than the fan-in\n{log}"
    );
    let batches = batch_dirs(&dir.path().join("cluster=fd"), "batch=");
    assert_eq!(batches.len(), 1);
    let rows = read_parquet(&batches[0].join("dump.parquet"));
    assert_eq!(rows.len(), 2_000_000);
    assert!(rows
        .windows(2)
        .all(|w| (w[0].db, &w[0].key) < (w[1].db, &w[1].key)));
}
