//! Live sources against real `redis-server` processes: standalone (disk and diskless, password
//! and ACL user), a 6-node Redis Cluster with a failed node, Codis behind a dashboard, a server
//! killed mid-transfer, compressed files read concurrently.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdbinsight::source::resp::Reply;

use crate::parquet::{batch_dirs, read_parquet};
use crate::redis::{free_port, mixed_dataset, Server};
use crate::util::{bin, parse_file, run_ok, wait_until, Row};

pub(crate) fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| (a.db, &a.key).cmp(&(b.db, &b.key)));
    rows
}

/// Rows of every Parquet file of the one published batch under `out/cluster=<cluster>`.
pub(crate) fn published_rows(out: &Path, cluster: &str) -> Vec<(String, Vec<Row>)> {
    let batches = batch_dirs(&out.join(format!("cluster={cluster}")), "batch=");
    assert_eq!(batches.len(), 1, "one published batch");
    let mut files: Vec<_> = std::fs::read_dir(&batches[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                read_parquet(&p),
            )
        })
        .collect()
}

#[test]
fn standalone_disk_and_diskless_with_password_and_acl_user() {
    let password = "pass word with spaces";
    let server = Server::start(Some(password), &[]);
    server.pipeline(&mixed_dataset(20_000));
    server.cmd(&[
        "ACL",
        "SETUSER",
        "dumper",
        "on",
        ">dumper secret",
        "~*",
        "+@all",
    ]);
    let (_, want) = parse_file(&server.save()).unwrap();
    let want = sorted(want);
    for diskless in ["no", "yes"] {
        server.cmd(&["CONFIG", "SET", "repl-diskless-sync", diskless]);
        for (user, pw) in [(None, password), (Some("dumper"), "dumper secret")] {
            let out = tempfile::tempdir().unwrap();
            let mut cmd = bin();
            cmd.args([
                "dump",
                "from-standalone",
                "--addr",
                &server.addr(),
                "--cluster",
                "live",
            ])
            .env("RDBINSIGHT_REDIS_PASSWORD", pw);
            if let Some(u) = user {
                cmd.args(["--username", u]);
            }
            cmd.args(["into-parquet", "--dir"]).arg(out.path());
            let output = run_ok(&mut cmd);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!stderr.contains(pw), "password in the output: {stderr}");
            let got = published_rows(out.path(), "live");
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0, format!("127.0.0.1-{}", server.port));
            let rows = sorted(got[0].1.clone());
            assert_eq!(rows.len(), want.len(), "diskless={diskless} user={user:?}");
            assert_eq!(rows, want, "diskless={diskless} user={user:?}");
        }
    }
}

#[test]
fn spooled_snapshot_equals_the_streamed_one() {
    let server = Server::start(None, &[]);
    server.pipeline(&mixed_dataset(2_000));
    let (_, want) = parse_file(&server.save()).unwrap();
    let spool = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run_ok(
        bin()
            .args([
                "-v",
                "dump",
                "from-standalone",
                "--addr",
                &server.addr(),
                "--cluster",
                "sp",
                "--spool-dir",
            ])
            .arg(spool.path())
            .args(["into-parquet", "--dir"])
            .arg(out.path()),
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("snapshot spooled"));
    let got = published_rows(out.path(), "sp");
    assert_eq!(sorted(got[0].1.clone()), sorted(want));
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "the spool file is gone"
    );
}

#[test]
fn wrong_password_is_a_clear_error_without_the_password() {
    let server = Server::start(Some("right"), &[]);
    let out = tempfile::tempdir().unwrap();
    let o = bin()
        .args([
            "dump",
            "from-standalone",
            "--addr",
            &server.addr(),
            "--password",
            "wrong-secret",
            "into-parquet",
            "--dir",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("authentication failed") && !err.contains("wrong-secret"),
        "{err}"
    );
}

#[test]
fn server_killed_mid_transfer_fails_and_publishes_nothing() {
    let mut server = Server::start(None, &["--repl-diskless-sync", "yes"]);
    server.pipeline(&mixed_dataset(5_000));
    // Slow the snapshot down: 2 ms per key, about 10 s in all.
    server.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "2000"]);
    let out = tempfile::tempdir().unwrap();
    let child = bin()
        .args([
            "dump",
            "from-standalone",
            "--addr",
            &server.addr(),
            "--cluster",
            "live",
            "into-parquet",
            "--dir",
        ])
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&server.addr()) && err.contains("published nothing"),
        "{err}"
    );
    assert!(batch_dirs(&out.path().join("cluster=live"), "batch=").is_empty());
}

/// Six nodes: 3 primaries, 3 replicas, made by `redis-cli --cluster create`.
struct TestCluster {
    nodes: Vec<Server>,
}

impl TestCluster {
    fn start() -> TestCluster {
        let nodes: Vec<Server> = (0..6)
            .map(|_| {
                Server::start(
                    None,
                    &["--cluster-enabled", "yes", "--cluster-node-timeout", "1500"],
                )
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for n in &nodes {
            create.arg(n.addr());
        }
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let o = create
            .output()
            .expect("redis-cli (Debian redis-tools) runs");
        assert!(
            o.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let c = TestCluster { nodes };
        c.wait(|c| {
            c.nodes
                .iter()
                .all(|n| c.info(n, "CLUSTER", "INFO").contains("cluster_state:ok"))
        });
        c.wait(|c| c.replicas().len() == 3);
        // Every node's own view of the topology knows the three replicas.
        c.wait(|c| {
            c.nodes.iter().all(|n| {
                c.info(n, "CLUSTER", "NODES")
                    .lines()
                    .filter(|l| {
                        l.split_whitespace()
                            .nth(2)
                            .is_some_and(|f| f.contains("slave"))
                    })
                    .count()
                    == 3
            })
        });
        c
    }

    fn info(&self, n: &Server, a: &str, b: &str) -> String {
        match n.conn().call(&[a.as_bytes(), b.as_bytes()]) {
            Ok(r) => r.text().unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    fn wait(&self, ok: impl Fn(&TestCluster) -> bool) {
        wait_until(Duration::from_secs(60), "cluster did not settle", || {
            ok(self)
        });
    }

    /// Nodes that are replicas with a live link.
    fn replicas(&self) -> Vec<&Server> {
        self.nodes
            .iter()
            .filter(|n| {
                let info = self.info(n, "INFO", "replication");
                info.contains("role:slave") && info.contains("master_link_status:up")
            })
            .collect()
    }

    fn slot_of(&self, key: &str) -> i64 {
        match self.nodes[0]
            .conn()
            .call(&[b"CLUSTER", b"KEYSLOT", key.as_bytes()])
            .unwrap()
        {
            Reply::Integer(s) => s,
            other => panic!("{other:?}"),
        }
    }

    /// The primary serving `slot` (from CLUSTER SLOTS).
    fn owner(&self, slot: i64) -> &Server {
        let Reply::Array(Some(ranges)) = self.nodes[0].cmd(&["CLUSTER", "SLOTS"]) else {
            panic!()
        };
        for r in ranges {
            let Reply::Array(Some(r)) = r else { continue };
            let (Reply::Integer(lo), Reply::Integer(hi)) = (&r[0], &r[1]) else {
                continue;
            };
            if (*lo..=*hi).contains(&slot) {
                let Reply::Array(Some(m)) = &r[2] else {
                    panic!()
                };
                let Reply::Integer(port) = m[1] else { panic!() };
                return self.nodes.iter().find(|n| n.port as i64 == port).unwrap();
            }
        }
        panic!("slot {slot} not served")
    }
}

/// 1000 keys: plain, hash-tagged, and the tricky `a}b{c}` / `{}` shapes.
pub(crate) fn sample_keys() -> Vec<String> {
    (0..1000)
        .map(|i| match i % 5 {
            0 => format!("user:{i}"),
            1 => format!("{{tag{}}}:item:{i}", i % 7),
            2 => format!("a}}b{{c{i}}}"),
            3 => format!("foo{{}}{{bar{i}}}"),
            _ => format!("{{}}plain{i}"),
        })
        .collect()
}

#[test]
fn cluster_reads_one_replica_per_shard_with_correct_slots() {
    let mut cluster = TestCluster::start();
    let keys = sample_keys();
    let mut truth = std::collections::BTreeMap::new();
    for k in &keys {
        let slot = cluster.slot_of(k);
        truth.insert(k.clone(), slot);
        cluster.owner(slot).cmd(&["SET", k, "v"]);
    }
    // Every replica has caught up.
    for n in &cluster.nodes {
        if cluster
            .info(n, "INFO", "replication")
            .contains("role:master")
        {
            n.cmd(&["WAIT", "1", "5000"]);
        }
    }
    let replica_ports: Vec<u16> = cluster.replicas().iter().map(|n| n.port).collect();

    let out = tempfile::tempdir().unwrap();
    run_ok(
        bin()
            .args([
                "dump",
                "from-cluster",
                "--nodes",
                &cluster.nodes[0].addr(),
                "--cluster",
                "rc",
                "into-parquet",
                "--dir",
            ])
            .arg(out.path()),
    );
    let got = published_rows(out.path(), "rc");
    assert_eq!(got.len(), 3, "one instance per shard");
    for (file, _) in &got {
        let port: u16 = file.rsplit('-').next().unwrap().parse().unwrap();
        assert!(
            replica_ports.contains(&port),
            "{file} is not a replica ({replica_ports:?})"
        );
    }
    let mut seen = std::collections::BTreeMap::new();
    for (_, rows) in &got {
        for r in rows {
            let key = String::from_utf8(r.key.clone()).unwrap();
            assert!(
                seen.insert(key.clone(), r.redis_slot).is_none(),
                "{key} read twice"
            );
        }
    }
    if seen.len() != keys.len() {
        for (f, rows) in &got {
            eprintln!("{f}: {} rows", rows.len());
        }
        for n in &cluster.nodes {
            let role = cluster.info(n, "INFO", "replication");
            eprintln!(
                "{}: dbsize {:?} {}",
                n.port,
                n.cmd(&["DBSIZE"]),
                role.lines()
                    .filter(|l| l.starts_with("role")
                        || l.starts_with("master_link")
                        || l.starts_with("master_repl_offset"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    assert_eq!(seen.len(), keys.len());
    for (k, slot) in &truth {
        assert_eq!(seen[k], Some(*slot as u16), "slot of {k}");
    }

    // A failed replica: its shard is read from the primary, or refused with --require-replica.
    let victim = cluster
        .nodes
        .iter()
        .position(|n| n.port == replica_ports[0])
        .unwrap();
    cluster.nodes[victim].kill();
    let seed = cluster
        .nodes
        .iter()
        .find(|n| n.port != replica_ports[0])
        .unwrap()
        .addr();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = cluster
            .nodes
            .iter()
            .find(|n| n.addr() == seed)
            .unwrap()
            .cmd(&["CLUSTER", "NODES"])
            .text()
            .unwrap();
        let failed = text.lines().any(|l| {
            l.contains(&format!(":{}@", replica_ports[0]))
                && l.split_whitespace()
                    .nth(2)
                    .is_some_and(|f| f.split(',').any(|x| x == "fail"))
        });
        if failed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed node was never marked failed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = tempfile::tempdir().unwrap();
    run_ok(
        bin()
            .args([
                "dump",
                "from-cluster",
                "--nodes",
                &seed,
                "--cluster",
                "rc",
                "into-parquet",
                "--dir",
            ])
            .arg(out.path()),
    );
    let got = published_rows(out.path(), "rc");
    assert_eq!(got.len(), 3);
    assert_eq!(got.iter().map(|(_, r)| r.len()).sum::<usize>(), keys.len());
    let o = bin()
        .args([
            "dump",
            "from-cluster",
            "--nodes",
            &seed,
            "--require-replica",
            "into-null",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--require-replica"));
}

/// A Codis dashboard stand-in: Python's HTTP server serving `/topom`, stopped when dropped.
pub(crate) struct Dashboard {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Dashboard {
    /// Serves `topom` at `/topom` on a free loopback port, once it accepts connections.
    pub(crate) fn serve(topom: &serde_json::Value) -> Dashboard {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("topom"), topom.to_string()).unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--directory"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let dashboard = Dashboard {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        wait_until(
            Duration::from_secs(10),
            "dashboard stand-in did not start",
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        dashboard
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn codis_groups_from_the_dashboard_with_codis_slots() {
    // Group 1: master + replica; group 2: master only.
    let m1 = Server::start(None, &[]);
    let r1 = Server::start(None, &["--replicaof", "127.0.0.1", &m1.port.to_string()]);
    let m2 = Server::start(None, &[]);
    let keys = sample_keys();
    for (i, k) in keys.iter().enumerate() {
        if i % 2 == 0 { &m1 } else { &m2 }.cmd(&["SET", k, "v"]);
    }
    m1.cmd(&["WAIT", "1", "5000"]);
    wait_until(Duration::from_secs(30), "replica never caught up", || {
        r1.cmd(&["DBSIZE"]) == Reply::Integer(500)
    });
    let topom = serde_json::json!({
        "config": {"product_name": "codis-demo"},
        "model": {"product_name": "codis-demo"},
        "stats": {"group": {"models": [
            {"id": 1, "servers": [{"server": m1.addr()}, {"server": r1.addr()}]},
            {"id": 2, "servers": [{"server": m2.addr()}]}
        ]}}
    });
    let dashboard = Dashboard::serve(&topom);
    let out = tempfile::tempdir().unwrap();
    let result = bin()
        .args(["dump", "from-codis", "--dashboard", &dashboard.url])
        .args(["into-parquet", "--dir"])
        .arg(out.path())
        .output()
        .unwrap();
    drop(dashboard);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let got = published_rows(out.path(), "codis-demo");
    let files: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(files.len(), 2);
    assert!(
        files.contains(&format!("127.0.0.1-{}", r1.port).as_str()),
        "replica preferred: {files:?}"
    );
    // Independent truth: Python's zlib.crc32 over the hash tag rule.
    let script = r#"
import sys, zlib, json
def tag(k):
    o = k.find(b"{")
    if o >= 0:
        c = k.find(b"}", o + 1)
        if c > o + 1:
            return k[o + 1:c]
    return k
print(json.dumps({k: zlib.crc32(tag(k.encode())) % 1024 for k in json.load(sys.stdin)}))
"#;
    let mut py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    py.stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&keys).unwrap().as_bytes())
        .unwrap();
    let truth: std::collections::BTreeMap<String, i64> =
        serde_json::from_slice(&py.wait_with_output().unwrap().stdout).unwrap();
    let mut n = 0;
    for (_, rows) in &got {
        for r in rows {
            let k = String::from_utf8(r.key.clone()).unwrap();
            assert_eq!(
                r.codis_slot.map(i64::from),
                Some(truth[&k]),
                "codis slot of {k}"
            );
            n += 1;
        }
    }
    assert_eq!(n, keys.len());
}

#[test]
fn compressed_files_concurrently_match_the_plain_result() {
    use std::io::Write;
    let fixtures = [
        "redis-7.4.1-all",
        "redis-6.2.16-edge",
        "valkey-8.0.1-all",
        "redis-2.8.24-all",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, f) in fixtures.iter().enumerate() {
        let data = std::fs::read(crate::util::fixtures_dir().join(format!("{f}.rdb"))).unwrap();
        let (name, bytes) = match i {
            0 => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&data).unwrap();
                (format!("{f}.rdb.gz"), e.finish().unwrap())
            }
            1 => (
                format!("{f}.rdb.zst"),
                zstd::encode_all(&data[..], 3).unwrap(),
            ),
            2 => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
                e.write_all(&data).unwrap();
                (format!("{f}.rdb.lz4"), e.finish().unwrap())
            }
            _ => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&data).unwrap();
                (format!("{f}.rdb.gz"), e.finish().unwrap())
            }
        };
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    let out = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.args([
        "-v",
        "dump",
        "--concurrency",
        "4",
        "from-file",
        "--cluster",
        "z",
    ]);
    for p in &paths {
        cmd.arg("--path").arg(p);
    }
    cmd.args(["into-parquet", "--dir"]).arg(out.path());
    let o = run_ok(&mut cmd);
    let log = String::from_utf8_lossy(&o.stderr);
    // All four started before any finished: they ran concurrently.
    let first_finish = log.find("instance finished").unwrap();
    assert_eq!(
        log[..first_finish].matches("instance_start").count(),
        4,
        "{log}"
    );
    let got = published_rows(out.path(), "z");
    assert_eq!(got.len(), 4);
    for (file, rows) in got {
        let (_, want) =
            parse_file(&crate::util::fixtures_dir().join(format!("{file}.rdb"))).unwrap();
        assert_eq!(sorted(rows), sorted(want), "{file}");
    }
}

#[test]
fn the_password_appears_nowhere() {
    let password = "S3cr3t-Pa55word-xyz";
    let server = Server::start(Some(password), &[]);
    server.pipeline(&mixed_dataset(100));
    let out = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for args in [
        vec!["-vvv", "dump", "from-standalone", "--password", password],
        vec![
            "-vvv",
            "--log-format",
            "json",
            "dump",
            "from-standalone",
            "--password",
            password,
        ],
        vec![
            "dump",
            "--print-config",
            "from-standalone",
            "--password",
            password,
        ],
        vec![
            "-vv",
            "dump",
            "from-standalone",
            "--username",
            "nobody",
            "--password",
            password,
        ],
    ] {
        let o = bin()
            .args(&args)
            .args([
                "--addr",
                &server.addr(),
                "--cluster",
                "sec",
                "into-parquet",
                "--dir",
            ])
            .arg(out.path())
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        seen.push(String::from_utf8_lossy(&o.stdout).into_owned());
        seen.push(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    // The wrong-user run failed: its error is in the collected output too.
    assert!(seen.iter().any(|s| s.contains("authentication failed")));
    assert!(seen.iter().any(|s| s.contains("\"password\": \"***\"")));
    for s in &seen {
        assert!(!s.contains(password), "password leaked: {s}");
    }
    for entry in walk(out.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "password in {}",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

/// A server still loading its dataset answers `-LOADING`: the dump waits with bounded retries
/// (`--retries`), and with none left it fails with the server's words.
#[test]
fn a_loading_server_is_retried_then_read() {
    let keys = 20_000;
    let source = Server::start(None, &["--enable-debug-command", "yes"]);
    source.cmd(&["DEBUG", "POPULATE", &keys.to_string(), "k"]);
    let rdb = source.save();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&rdb, dir.path().join("dump.rdb")).unwrap();
    let port = free_port();
    // 150 µs per key: about 3 s of loading, with events (and -LOADING replies) served meanwhile.
    let mut loading = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--key-load-delay", "150"])
        .args(["--loading-process-events-interval-bytes", "1024"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut conn) = rdbinsight::source::resp::Conn::connect(
            &addr,
            Duration::from_secs(1),
            Duration::from_secs(5),
        ) {
            match conn.call(&[b"PING"]).unwrap() {
                Reply::Error(e) if e.starts_with("LOADING") => break,
                other => panic!("the server answered {other:?} before loading: test cannot run"),
            }
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let no_retry = bin()
        .args([
            "dump",
            "from-standalone",
            "--addr",
            &addr,
            "--retries",
            "0",
            "into-null",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&no_retry.stderr);
    assert_eq!(no_retry.status.code(), Some(1), "{err}");
    assert!(
        err.contains("LOADING") && err.contains("--retries"),
        "{err}"
    );

    let out = run_ok(bin().args(["dump", "from-standalone", "--addr", &addr, "into-null"]));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("server busy, retrying"), "{text}");
    assert!(text.contains(&format!("dumped {keys} keys")), "{text}");
    let _ = loading.kill();
    let _ = loading.wait();
}
