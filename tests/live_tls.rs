//! Live sources over TLS against real `redis-server` processes listening on a `tls-port` with
//! the test certificates of `tests/fixtures/tls`: standalone (disk and diskless, with an ACL
//! user), a client certificate when the server asks for one, certificates that must be
//! refused, a Redis Cluster whose nodes talk TLS and announce hostnames, a Codis group, and a
//! server killed mid-transfer.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rdbinsight::source::resp::Reply;

use crate::live::{published_rows, sample_keys, sorted, Dashboard};
use crate::parquet::batch_dirs;
use crate::redis::{mixed_dataset, tls_file, Server};
use crate::util::{bin, parse_file, run_ok, wait_until};

/// `dump from-<source> <source args> <tls args> into-parquet --dir <out>`.
fn dump_command(source: &str, source_args: &[&str], tls: &[&str], out: &Path) -> Command {
    let mut cmd = bin();
    cmd.args(["dump", source])
        .args(source_args)
        .args(tls)
        .args(["into-parquet", "--dir"])
        .arg(out);
    cmd
}

/// Runs [`dump_command`].
fn dump(source: &str, source_args: &[&str], tls: &[&str], out: &Path) -> Output {
    dump_command(source, source_args, tls, out)
        .output()
        .expect("run rdbinsight")
}

/// A run that must fail: exit code 1, no batch published, the error returned.
fn refused(o: &Output, out: &Path) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    for cluster in std::fs::read_dir(out).unwrap() {
        let published = batch_dirs(&cluster.unwrap().path(), "batch=");
        assert!(published.is_empty(), "{published:?} published: {err}");
    }
    err
}

#[test]
fn standalone_over_tls_disk_and_diskless_equals_the_saved_file() {
    let server = Server::start_tls(None, "server", false, &[]);
    server.pipeline(&mixed_dataset(5_000));
    server.cmd(&[
        "ACL",
        "SETUSER",
        "dumper",
        "on",
        ">tls secret",
        "~*",
        "+@all",
    ]);
    let (_, want) = parse_file(&server.save()).unwrap();
    let want = sorted(want);
    let ca = tls_file("test-ca.crt");
    let tls_port = server.tls_port.unwrap();
    // By IP (the certificate's IP name) and by host name (its DNS name).
    for (diskless, addr) in [
        ("no", server.tls_addr()),
        ("yes", format!("localhost:{tls_port}")),
    ] {
        server.cmd(&["CONFIG", "SET", "repl-diskless-sync", diskless]);
        let out = tempfile::tempdir().unwrap();
        let o = run_ok(
            dump_command(
                "from-standalone",
                &["--addr", &addr, "--cluster", "tls", "--username", "dumper"],
                &["--tls-ca-cert", &ca],
                out.path(),
            )
            .env("RDBINSIGHT_REDIS_PASSWORD", "tls secret"),
        );
        assert!(!String::from_utf8_lossy(&o.stderr).contains("tls secret"));
        let got = published_rows(out.path(), "tls");
        assert_eq!(got.len(), 1);
        assert_eq!(sorted(got[0].1.clone()), want, "diskless={diskless} {addr}");
    }
    // The plain port does not speak TLS: a clear error, nothing published.
    let out = tempfile::tempdir().unwrap();
    let o = dump(
        "from-standalone",
        &["--addr", &server.addr(), "--connect-timeout", "2"],
        &["--tls-ca-cert", &ca],
        out.path(),
    );
    let err = refused(&o, out.path());
    assert!(
        err.contains(&server.addr()) && err.contains("TLS handshake failed"),
        "{err}"
    );
}

#[test]
fn client_certificate_when_the_server_asks_for_one() {
    let server = Server::start_tls(None, "server", true, &[]);
    server.pipeline(&mixed_dataset(1_000));
    let (_, want) = parse_file(&server.save()).unwrap();
    let ca = tls_file("test-ca.crt");
    let addr = server.tls_addr();

    let out = tempfile::tempdir().unwrap();
    let o = dump(
        "from-standalone",
        &["--addr", &addr, "--cluster", "mtls"],
        &["--tls-ca-cert", &ca],
        out.path(),
    );
    let err = refused(&o, out.path());
    assert!(
        err.contains(&addr) && err.contains("TLS") && err.contains("--tls-cert"),
        "{err}"
    );

    let (cert, key) = (tls_file("client.crt"), tls_file("client.key"));
    let o = dump(
        "from-standalone",
        &["--addr", &addr, "--cluster", "mtls"],
        &["--tls-ca-cert", &ca, "--tls-cert", &cert, "--tls-key", &key],
        out.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = published_rows(out.path(), "mtls");
    assert_eq!(sorted(got[0].1.clone()), sorted(want));

    // A certificate without its key is refused before any connection.
    let o = bin()
        .args([
            "dump",
            "from-standalone",
            "--addr",
            &addr,
            "--tls-cert",
            &cert,
        ])
        .arg("into-null")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tls-key"));
}

#[test]
fn untrusted_or_misnamed_certificates_are_refused_unless_insecure() {
    let server = Server::start_tls(None, "server", false, &[]);
    server.pipeline(&mixed_dataset(100));
    let addr = server.tls_addr();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--tls-ca-cert", &tls_file("other-ca.crt")],
            "UnknownIssuer",
        ),
        (&["--tls"], "UnknownIssuer"),
        (
            &[
                "--tls-ca-cert",
                &tls_file("test-ca.crt"),
                "--tls-server-name",
                "redis.example.com",
            ],
            "not valid for name",
        ),
    ];
    for (tls, why) in cases {
        let out = tempfile::tempdir().unwrap();
        let o = dump("from-standalone", &["--addr", &addr], tls, out.path());
        let err = refused(&o, out.path());
        assert!(
            err.contains(&addr) && err.contains("TLS handshake failed") && err.contains(why),
            "{tls:?}: {err}"
        );
    }
    let out = tempfile::tempdir().unwrap();
    let o = dump(
        "from-standalone",
        &["--addr", &addr, "--cluster", "insecure"],
        &["--tls-insecure"],
        out.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(published_rows(out.path(), "insecure").len(), 1);
}

#[test]
fn cluster_over_tls_reads_the_replica_checked_against_its_hostname() {
    // Certificates for the name localhost only: the nodes are listed by IP, so each one's
    // certificate is checked against the hostname it announces.
    let cluster_tls = [
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        "1500",
        "--tls-cluster",
        "yes",
        "--tls-replication",
        "yes",
        "--cluster-announce-hostname",
        "localhost",
    ];
    let primary = Server::start_tls(None, "server-dns", false, &cluster_tls);
    let replica = Server::start_tls(None, "server-dns", false, &cluster_tls);
    primary.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    let replica_bus = replica.tls_port.unwrap().to_string();
    primary.cmd(&["CLUSTER", "MEET", "127.0.0.1", &replica_bus]);
    let primary_id = primary.cmd(&["CLUSTER", "MYID"]).text().unwrap();
    let minute = Duration::from_secs(60);
    wait_until(minute, "the TLS cluster never met", || {
        let nodes = replica.cmd(&["CLUSTER", "NODES"]).text().unwrap();
        nodes.contains(&primary_id)
    });
    replica.cmd(&["CLUSTER", "REPLICATE", &primary_id]);
    wait_until(minute, "the TLS cluster never replicated", || {
        let info = replica.cmd(&["INFO", "replication"]).text().unwrap();
        let state = primary.cmd(&["CLUSTER", "INFO"]).text().unwrap();
        info.contains("master_link_status:up") && state.contains("cluster_state:ok")
    });

    let keys = sample_keys();
    let mut truth = std::collections::BTreeMap::new();
    for k in &keys {
        let Reply::Integer(slot) = primary.cmd(&["CLUSTER", "KEYSLOT", k]) else {
            panic!("CLUSTER KEYSLOT {k}")
        };
        truth.insert(k.clone(), slot as u16);
        primary.cmd(&["SET", k, "v"]);
    }
    primary.cmd(&["WAIT", "1", "5000"]);

    // The seed by name too (its certificate has no IP).
    let seed = format!("localhost:{}", primary.tls_port.unwrap());
    let out = tempfile::tempdir().unwrap();
    let o = dump(
        "from-cluster",
        &["--nodes", &seed, "--cluster", "rc-tls"],
        &["--tls-ca-cert", &tls_file("test-ca.crt")],
        out.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = published_rows(out.path(), "rc-tls");
    assert_eq!(got.len(), 1, "one shard");
    assert_eq!(
        got[0].0,
        format!("127.0.0.1-{}", replica.tls_port.unwrap()),
        "the replica, at its TLS port"
    );
    let slots: std::collections::BTreeMap<String, Option<u16>> = got[0]
        .1
        .iter()
        .map(|r| (String::from_utf8_lossy(&r.key).into_owned(), r.redis_slot))
        .collect();
    assert_eq!(slots.len(), keys.len());
    for (k, slot) in &truth {
        assert_eq!(slots[k], Some(*slot), "slot of {k}");
    }
}

#[test]
fn tls_server_killed_mid_transfer_fails_clearly_and_publishes_nothing() {
    let mut server = Server::start_tls(None, "server", false, &["--repl-diskless-sync", "yes"]);
    server.pipeline(&mixed_dataset(5_000));
    // Slow the snapshot down: 2 ms per key, about 10 s in all.
    server.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "2000"]);
    let out = tempfile::tempdir().unwrap();
    let addr = server.tls_addr();
    let child = dump_command(
        "from-standalone",
        &["--addr", &addr, "--cluster", "cut"],
        &["--tls-ca-cert", &tls_file("test-ca.crt")],
        out.path(),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Killed once the snapshot is on its way: its child forked, and its first 16 KiB (the
    // child's write buffer) sent, a few hundred keys in.
    wait_until(
        Duration::from_secs(30),
        "the snapshot never started",
        || {
            let persistence = server.cmd(&["INFO", "persistence"]).text().unwrap();
            persistence.contains("rdb_bgsave_in_progress:1")
        },
    );
    std::thread::sleep(Duration::from_millis(2000));
    server.kill();
    let o = child.wait_with_output().unwrap();
    // The TLS session ends without its close_notify: the error says how much arrived, as a
    // plain connection's would, not what TLS thinks of the missing close_notify.
    let err = refused(&o, out.path());
    assert!(
        err.contains(&addr)
            && err.contains("before the diskless end mark")
            && !err.contains("close_notify"),
        "{err}"
    );
}

#[test]
fn tls_from_the_environment_takes_the_usual_spellings() {
    for (value, on) in [
        ("1", true),
        ("true", true),
        ("yes", true),
        ("0", false),
        ("no", false),
    ] {
        let out = run_ok(
            bin()
                .args(["dump", "--print-config", "from-standalone", "--addr", "h:1"])
                .arg("into-null")
                .env("RDBINSIGHT_REDIS_TLS", value),
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["source"]["config"]["tls"], on,
            "RDBINSIGHT_REDIS_TLS={value}"
        );
    }
}

#[test]
fn codis_groups_over_tls() {
    let master = Server::start_tls(None, "server", false, &[]);
    master.pipeline(&mixed_dataset(300));
    let (_, want) = parse_file(&master.save()).unwrap();
    let topom = serde_json::json!({
        "config": {"product_name": "codis-tls"},
        "stats": {"group": {"models": [
            {"id": 1, "servers": [{"server": master.tls_addr()}]}
        ]}}
    });
    let dashboard = Dashboard::serve(&topom);
    let out = tempfile::tempdir().unwrap();
    let o = dump(
        "from-codis",
        &["--dashboard", &dashboard.url],
        &["--tls-ca-cert", &tls_file("test-ca.crt")],
        out.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = published_rows(out.path(), "codis-tls");
    assert_eq!(got.len(), 1);
    let rows = sorted(got[0].1.clone());
    assert!(rows.iter().all(|r| r.codis_slot.is_some()), "codis slots");
    let without_slots: Vec<_> = rows
        .into_iter()
        .map(|r| crate::util::Row {
            codis_slot: None,
            ..r
        })
        .collect();
    assert_eq!(without_slots, sorted(want));
}
