//! The ClickHouse sink against the real ClickHouse engine: every fixture through the view equals
//! the truth files, the printed schema executes and equals what `--auto-create-tables` creates,
//! a server stopped mid-run leaves nothing visible and a re-run leaves exactly one copy, a lost
//! insert response is retried without duplicating rows, two batches stay queryable, passwords
//! never appear, and reports from Parquet and ClickHouse agree.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::chserver::ChServer;
use crate::corpus::check_against_truth;
use crate::redis::Server;
use crate::util::{bin, fixture_rdbs, fixtures_dir, parse_file, run_ok, truth, unhex, Row};

fn json_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Null => None,
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        other => panic!("not an integer: {other}"),
    }
}

/// Rows of the view, by instance, read with ClickHouse's own SQL (hex keys, epoch millis).
fn view_rows(ch: &ChServer, database: &str, where_: &str) -> BTreeMap<String, Vec<Row>> {
    let text = ch.query(&format!(
        "SELECT instance, db, hex(key) AS k, type, encoding, member_count, rdb_size, \
         toUnixTimestamp64Milli(expire_at) AS expire_ms, idle_seconds, freq, redis_slot, codis_slot \
         FROM {database}.redis_records WHERE {where_} \
         SETTINGS output_format_json_quote_64bit_integers = 0 FORMAT JSONEachRow"
    ));
    let mut by_instance: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        by_instance
            .entry(v["instance"].as_str().unwrap().to_string())
            .or_default()
            .push(Row {
                db: json_i64(&v["db"]).unwrap() as u64,
                key: unhex(v["k"].as_str().unwrap()),
                key_type: v["type"].as_str().unwrap().to_string(),
                encoding: v["encoding"].as_str().unwrap().to_string(),
                member_count: json_i64(&v["member_count"]).unwrap() as u64,
                rdb_size: json_i64(&v["rdb_size"]).unwrap() as u64,
                expire_at_ms: json_i64(&v["expire_ms"]),
                idle_seconds: json_i64(&v["idle_seconds"]).map(|x| x as u64),
                freq: json_i64(&v["freq"]).map(|x| x as u8),
                redis_slot: json_i64(&v["redis_slot"]).map(|x| x as u16),
                codis_slot: json_i64(&v["codis_slot"]).map(|x| x as u16),
            });
    }
    by_instance
}

fn dump_into(ch: &ChServer, database: &str, cluster: &str, rdb_glob: &str) -> Command {
    let mut cmd = bin();
    cmd.args([
        "dump",
        "--concurrency",
        "2",
        "from-file",
        "--cluster",
        cluster,
        "--path",
    ])
    .arg(rdb_glob)
    .args(["into-clickhouse", "--url", &ch.url_for(database)]);
    cmd
}

fn count(ch: &ChServer, sql: &str) -> u64 {
    ch.query(sql).trim().parse().unwrap()
}

#[test]
fn every_fixture_through_clickhouse_equals_truth() {
    let ch = ChServer::shared_or_local();
    let db = ch.fresh_database();
    let glob = fixtures_dir().join("*.rdb");
    run_ok(dump_into(&ch, &db, "corpus", glob.to_str().unwrap()).arg("--auto-create-tables"));
    assert_eq!(
        count(
            &ch,
            &format!("SELECT count() FROM {db}.import_batches_completed")
        ),
        1
    );
    let by_instance = view_rows(&ch, &db, "cluster = 'corpus'");
    let mut failures = Vec::new();
    let fixtures = fixture_rdbs();
    assert_eq!(by_instance.len() as u64, {
        // Fixtures without keys have no rows, hence no instance in the view.
        fixtures.iter().filter(|f| !truth(f).is_empty()).count() as u64
    });
    for rdb in fixtures {
        let name = rdb.file_name().unwrap().to_string_lossy().into_owned();
        let stem = name.trim_end_matches(".rdb");
        let rows = by_instance.get(stem).cloned().unwrap_or_default();
        let version = parse_file(&rdb).unwrap().0.rdb_version;
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
}

fn statements(script: &str) -> Vec<String> {
    script
        .split(";\n\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| !s.trim().is_empty())
        .collect()
}

fn show_create(ch: &ChServer, db: &str) -> Vec<String> {
    [
        "redis_records_raw",
        "import_batches_completed",
        "redis_records",
    ]
    .iter()
    .map(|t| {
        ch.query(&format!(
            "SHOW CREATE TABLE {db}.{t} FORMAT TabSeparatedRaw"
        ))
        .replace(&format!("{db}."), "DB.")
    })
    .collect()
}

#[test]
fn printed_schema_executes_and_equals_what_auto_create_makes() {
    let ch = ChServer::shared_or_local();
    let manual = ch.fresh_database();
    let script = run_ok(bin().args(["misc", "clickhouse-schema", "--database", &manual])).stdout;
    let script = String::from_utf8(script).unwrap();
    let stmts = statements(&script);
    assert_eq!(stmts.len(), 3, "{script}");
    for s in &stmts {
        ch.query(s);
    }
    // Executing it twice is harmless (IF NOT EXISTS).
    for s in &stmts {
        ch.query(s);
    }
    // A dump into the hand-made schema works without --auto-create-tables.
    let fixture = fixtures_dir().join("redis-7.4.1-all.rdb");
    run_ok(&mut dump_into(&ch, &manual, "c", fixture.to_str().unwrap()));

    let auto = ch.fresh_database();
    let out = dump_into(&ch, &auto, "c", fixture.to_str().unwrap())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an empty database without --auto-create-tables"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--auto-create-tables") && err.contains("clickhouse-schema"),
        "{err}"
    );
    run_ok(dump_into(&ch, &auto, "c", fixture.to_str().unwrap()).arg("--auto-create-tables"));
    assert_eq!(show_create(&ch, &manual), show_create(&ch, &auto));
    // Created in the URL's database only.
    assert_eq!(
        count(
            &ch,
            &format!("SELECT count() FROM system.tables WHERE database = '{auto}'")
        ),
        3
    );

    // A table that differs is refused, never changed.
    let other = ch.fresh_database();
    ch.query(&format!(
        "CREATE TABLE {other}.redis_records_raw (cluster String, key String) ENGINE = MergeTree ORDER BY key"
    ));
    let out = dump_into(&ch, &other, "c", fixture.to_str().unwrap())
        .arg("--auto-create-tables")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exists with another schema"), "{err}");
    assert_eq!(
        count(
            &ch,
            &format!("SELECT count() FROM system.columns WHERE database = '{other}'")
        ),
        2
    );
}

#[test]
fn two_completed_batches_are_both_queryable_and_reportable() {
    let ch = ChServer::shared_or_local();
    let db = ch.fresh_database();
    let fixture = fixtures_dir().join("redis-7.4.1-all.rdb");
    let keys = truth(&fixture).len() as u64;
    // Two recent batch times (older ones would fall to the tables' retention TTL).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let hour = 3_600_000_000_000i64;
    for batch in [(now - 2 * hour).to_string(), (now - hour + 1).to_string()] {
        let batch = batch.as_str();
        run_ok(
            bin()
                .args([
                    "dump",
                    "--batch",
                    batch,
                    "from-file",
                    "--cluster",
                    "two",
                    "--path",
                ])
                .arg(&fixture)
                .args([
                    "into-clickhouse",
                    "--auto-create-tables",
                    "--url",
                    &ch.url_for(&db),
                ]),
        );
    }
    let per_batch = ch.query(&format!(
        "SELECT count() FROM {db}.redis_records GROUP BY batch ORDER BY batch FORMAT TSV"
    ));
    assert_eq!(per_batch, format!("{keys}\n{keys}\n"));
    let dir = tempfile::tempdir().unwrap();
    let first = ch
        .query(&format!(
            "SELECT toUnixTimestamp64Nano(min(batch)) FROM {db}.import_batches_completed"
        ))
        .trim()
        .to_string();
    let out = dir.path().join("r.html");
    let printed = run_ok(
        bin()
            .args([
                "report",
                "from-clickhouse",
                "--cluster",
                "two",
                "--batch",
                &first,
            ])
            .args(["--url", &ch.url_for(&db), "-o"])
            .arg(&out),
    );
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(text.starts_with(&format!("{keys} keys")), "{text}");
    assert!(out.exists());
}

/// A fresh RDB of `keys` small strings written by a real server.
fn populated_rdb(keys: u32) -> (Server, std::path::PathBuf) {
    let server = Server::start(None, &["--enable-debug-command", "yes"]);
    server.cmd(&["DEBUG", "POPULATE", &keys.to_string(), "k"]);
    let path = server.save();
    (server, path)
}

#[test]
fn server_stopped_mid_run_leaves_nothing_visible_and_rerun_is_exact() {
    let mut ch = ChServer::local(None);
    let db = ch.fresh_database();
    let keys = 300_000u64;
    let (_redis, rdb) = populated_rdb(keys as u32);
    let batch = "1790000000123456789";
    let mut cmd = dump_into(&ch, &db, "faulty", rdb.to_str().unwrap());
    cmd.args(["--auto-create-tables", "--insert-block-rows", "1000"])
        .args(["--retries", "2", "--max-backoff", "1"]);
    // `--batch` is a dump flag: it goes before the source.
    let mut args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into()).collect();
    args.splice(1..1, ["--batch".to_string(), batch.to_string()]);
    let mut child = bin()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let raw_rows = format!("SELECT count() FROM {db}.redis_records_raw");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = ch
            .query(&format!("EXISTS TABLE {db}.redis_records_raw"))
            .trim()
            .to_string();
        if n == "1" && count(&ch, &raw_rows) >= 5000 {
            break;
        }
        assert!(Instant::now() < deadline, "the dump never inserted");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the dump ended before the server stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ch.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("published nothing"), "{err}");
    assert!(err.contains(&format!("--batch {batch}")), "{err}");

    ch.start_on(ch.port());
    let view_rows = format!("SELECT count() FROM {db}.redis_records");
    assert_eq!(
        count(&ch, &view_rows),
        0,
        "rows of the failed run are invisible"
    );
    assert!(
        count(&ch, &raw_rows) > 0,
        "the failed run left rows in the raw table"
    );

    let mut rerun = bin();
    rerun.args(&args[..args.len() - 6]); // without the fault-making flags
    let rerun_out = run_ok(&mut rerun);
    let rerun_err = String::from_utf8_lossy(&rerun_out.stderr);
    assert!(rerun_err.contains("failed attempt"), "{rerun_err}");
    assert_eq!(count(&ch, &view_rows), keys);
    assert_eq!(
        count(
            &ch,
            &format!("SELECT uniqExact(key) FROM {db}.redis_records")
        ),
        keys
    );
    assert_eq!(
        count(&ch, &raw_rows),
        keys,
        "exactly one copy in the raw table"
    );
    // A completed batch is never rewritten.
    let again = bin().args(&args[..args.len() - 6]).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already complete"));
}

/// A TCP proxy that loses the response to the first data INSERT it forwards (the server
/// stores the block; the client sees the connection drop).
fn lossy_proxy(upstream_port: u16) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fired = Arc::new(AtomicBool::new(false));
    let fired2 = fired.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                return;
            };
            let drop_response = Arc::new(AtomicBool::new(false));
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (fired, drop_flag) = (fired2.clone(), drop_response.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = match c_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    if chunk.starts_with(b"POST /?") {
                        let line = chunk.split(|&b| b == b'\n').next().unwrap_or_default();
                        let is_insert = line.windows(6).any(|w| w == b"INSERT")
                            && line.windows(11).any(|w| w == b"ArrowStream");
                        if is_insert && !fired.swap(true, Ordering::SeqCst) {
                            drop_flag.store(true, Ordering::SeqCst);
                        }
                    }
                    if s_write.write_all(chunk).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = match s_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if drop_response.load(Ordering::SeqCst) {
                        // The server answered (the block is stored): lose the answer.
                        let _ = c_write.shutdown(Shutdown::Both);
                        let _ = s_read.shutdown(Shutdown::Both);
                        return;
                    }
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(Shutdown::Write);
            });
        }
    });
    (port, fired)
}

#[test]
fn a_block_retried_after_a_lost_response_is_stored_once() {
    let ch = ChServer::local(None);
    let db = ch.fresh_database();
    let (proxy_port, fired) = lossy_proxy(ch.port());
    let fixture = fixtures_dir().join("redis-7.4.1-all.rdb");
    let keys = truth(&fixture).len() as u64;
    let url = format!("http://127.0.0.1:{proxy_port}/?database={db}");
    let out = run_ok(
        bin()
            .args(["dump", "from-file", "--cluster", "lossy", "--path"])
            .arg(&fixture)
            .args(["into-clickhouse", "--url", &url, "--auto-create-tables"])
            .args(["--insert-block-rows", "50", "--max-backoff", "1"]),
    );
    assert!(fired.load(Ordering::SeqCst), "the proxy lost no response");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retrying"), "{err}");
    assert_eq!(
        count(&ch, &format!("SELECT count() FROM {db}.redis_records")),
        keys
    );
    assert_eq!(
        count(&ch, &format!("SELECT count() FROM {db}.redis_records_raw")),
        keys
    );
}

#[test]
fn the_password_never_appears() {
    let password = "Ch-S3cret-pw";
    let ch = ChServer::local(Some(("rdbi", password)));
    let db = ch.fresh_database();
    let fixture = fixtures_dir().join("redis-7.4.1-all.rdb");
    let mut outputs = Vec::new();
    for verbosity in ["-q", "-v", "-vvv"] {
        let out = run_ok(
            dump_into(&ch, &db, "pw", fixture.to_str().unwrap())
                .args(["--auto-create-tables", verbosity]),
        );
        outputs.push(out.stdout);
        outputs.push(out.stderr);
    }
    let printed = run_ok(
        bin()
            .args(["dump", "--print-config", "from-file", "--path"])
            .arg(&fixture)
            .args(["into-clickhouse", "--url", &ch.url_for(&db)]),
    );
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(text.contains("\"password\": \"***\""), "{text}");
    outputs.push(printed.stdout);
    // From the environment: --help must not show it either.
    let help = run_ok(
        bin()
            .args([
                "dump",
                "from-file",
                "--path",
                "x",
                "into-clickhouse",
                "--help",
            ])
            .env("RDBINSIGHT_CLICKHOUSE_URL", ch.url_for(&db)),
    );
    outputs.push(help.stdout);
    // A wrong password: the error names the user, not the password.
    let wrong = ch.url_for(&db).replace(password, "Wr0ng-pw-xyz");
    let out = bin()
        .args(["dump", "from-file", "--path"])
        .arg(&fixture)
        .args(["into-clickhouse", "--url", &wrong])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("Authentication failed") || err.contains("401"),
        "{err}"
    );
    assert!(!err.contains("Wr0ng-pw-xyz"), "{err}");
    for o in &outputs {
        assert!(
            !String::from_utf8_lossy(o).contains(password),
            "{}",
            String::from_utf8_lossy(o)
        );
    }
}

/// Paths where two JSON values differ (at most 20).
fn json_diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= 20 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                json_diff(
                    &x[k],
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                json_diff(u, v, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => {
            let show = |v: &Value| {
                let t = v.to_string();
                t.chars().take(300).collect::<String>()
            };
            out.push(format!("{path}: {} != {}", show(a), show(b)));
        }
        _ => {}
    }
}

fn report_data(html: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(html).unwrap();
    let start = text.find("id=\"report-data\">").unwrap() + "id=\"report-data\">".len();
    let end = start + text[start..].find("</script>").unwrap();
    let mut v: Value = serde_json::from_str(&text[start..end]).unwrap();
    v.as_object_mut().unwrap().remove("source");
    v
}

#[test]
fn reports_from_parquet_and_clickhouse_are_equal() {
    let ch = ChServer::shared_or_local();
    let db = ch.fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let batch = &(now - 500_000_000).to_string();
    // 5000 keys of equal size (`key:<n>`): ties at the top-100 boundary, a folded prefix.
    let (_redis, populated) = populated_rdb(5000);
    let populated_copy = dir.path().join("populated.rdb");
    std::fs::copy(&populated, &populated_copy).unwrap();
    // ... and every fixture at once, as 94 instances of one cluster.
    let all_keys: u64 = fixture_rdbs().iter().map(|f| truth(f).len() as u64).sum();
    for fixture in [
        "redis-7.4.1-all.rdb",
        "redis-7.0.15-cluster.rdb",
        "valkey-8.0.1-edge.rdb",
        "populated.rdb",
        "*.rdb",
    ] {
        let path = match fixture {
            "populated.rdb" => populated_copy.clone(),
            _ => fixtures_dir().join(fixture),
        };
        let cluster = match fixture {
            "*.rdb" => "all-fixtures",
            _ => fixture.trim_end_matches(".rdb"),
        };
        run_ok(
            bin()
                .args([
                    "dump",
                    "--batch",
                    batch,
                    "from-file",
                    "--cluster",
                    cluster,
                    "--path",
                ])
                .arg(&path)
                .args(["into-parquet", "--dir"])
                .arg(dir.path().join("pq")),
        );
        run_ok(
            bin()
                .args([
                    "dump",
                    "--batch",
                    batch,
                    "from-file",
                    "--cluster",
                    cluster,
                    "--path",
                ])
                .arg(&path)
                .args([
                    "into-clickhouse",
                    "--auto-create-tables",
                    "--url",
                    &ch.url_for(&db),
                ]),
        );
        let from_pq = dir.path().join(format!("{cluster}-pq.html"));
        let from_ch = dir.path().join(format!("{cluster}-ch.html"));
        run_ok(
            bin()
                .args(["report", "from-parquet", "--cluster", cluster, "--dir"])
                .arg(dir.path().join("pq"))
                .arg("-o")
                .arg(&from_pq),
        );
        run_ok(
            bin()
                .args(["report", "from-clickhouse", "--cluster", cluster])
                .args(["--url", &ch.url_for(&db), "-o"])
                .arg(&from_ch),
        );
        let (a, b) = (report_data(&from_pq), report_data(&from_ch));
        let want_keys = match fixture {
            "populated.rdb" => 5000,
            "*.rdb" => all_keys,
            _ => truth(&path).len() as u64,
        };
        assert_eq!(a["total"]["keys"].as_u64().unwrap(), want_keys);
        let mut diffs = Vec::new();
        json_diff(&a, &b, "$", &mut diffs);
        assert!(
            diffs.is_empty(),
            "{fixture}: reports differ (Parquet vs ClickHouse):\n{}",
            diffs.join("\n")
        );
    }
}

#[test]
fn sigkill_of_the_tool_mid_dump_leaves_nothing_visible() {
    let ch = ChServer::local(None);
    let db = ch.fresh_database();
    let (_redis, rdb) = populated_rdb(200_000);
    let mut child = dump_into(&ch, &db, "killed", rdb.to_str().unwrap())
        .args(["--auto-create-tables", "--insert-block-rows", "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let exists = ch.query(&format!("EXISTS TABLE {db}.redis_records_raw"));
        if exists.trim() == "1"
            && count(&ch, &format!("SELECT count() FROM {db}.redis_records_raw")) > 0
        {
            break;
        }
        assert!(Instant::now() < deadline, "the dump never inserted");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the dump ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        count(&ch, &format!("SELECT count() FROM {db}.redis_records")),
        0
    );
    assert_eq!(
        count(
            &ch,
            &format!("SELECT count() FROM {db}.import_batches_completed")
        ),
        0
    );
}
