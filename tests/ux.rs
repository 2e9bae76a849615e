//! What the user sees: the live progress display in a real terminal (tmux), the metrics
//! endpoint during a dump, the sink guide followed on a scratch copy, and the README's commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis::{free_port, Server};

/// An RDB of `keys` small strings written by a real server (kept alive with the file).
fn populated(keys: u32) -> (Server, PathBuf) {
    let server = Server::start(None, &["--enable-debug-command", "yes"]);
    server.cmd(&["DEBUG", "POPULATE", &keys.to_string(), "key"]);
    let path = server.save();
    (server, path)
}

/// A shell pipeline that feeds `rdb` in three parts with pauses between them, so that a dump
/// reading it from stdin is visibly in progress for a while.
fn slow_feed(rdb: &Path, pause_secs: u32) -> String {
    let size = std::fs::metadata(rdb).unwrap().len();
    let third = size / 3;
    let r = rdb.display();
    format!(
        "(head -c {third} '{r}'; sleep {pause_secs}; tail -c +{} '{r}' | head -c {third}; sleep {pause_secs}; tail -c +{} '{r}')",
        third + 1,
        2 * third + 1
    )
}

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Tmux {
        let socket = format!("rdbi-test-{}-{}", std::process::id(), free_port());
        let t = Tmux { socket };
        let ok = Command::new("tmux")
            .args([
                "-L",
                &t.socket,
                "new-session",
                "-d",
                "-s",
                "ux",
                "-x",
                "160",
                "-y",
                "40",
            ])
            .args(["bash", "--norc", "--noprofile"])
            .status()
            .expect("tmux not found: install Debian's tmux (tests/run.sh does it)");
        assert!(ok.success());
        t
    }

    fn send(&self, line: &str) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "ux", line, "Enter"])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "ux"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// The keys number on the progress line of instance `stdin`, if shown.
fn progress_keys(screen: &str) -> Option<u64> {
    let line = screen
        .lines()
        .find(|l| l.starts_with("stdin") && l.contains(" keys, "))?;
    let before = line.split(" keys, ").next()?;
    before.split_whitespace().last()?.parse().ok()
}

#[test]
fn progress_display_updates_in_a_terminal_then_summarises() {
    let keys = 300_000u64;
    let (_server, rdb) = populated(keys as u32);
    let tmux = Tmux::start();
    let bin_path = env!("CARGO_BIN_EXE_rdbinsight");
    tmux.send(&format!(
        "{} | '{bin_path}' dump --batch-rows 1000 from-file --path - into-null; echo \"EX\"\"IT=$?\"",
        slow_feed(&rdb, 3)
    ));
    let mut seen: Vec<u64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let screen = loop {
        let screen = tmux.capture();
        if screen.lines().any(|l| l.starts_with("EXIT=")) {
            break screen;
        }
        if let Some(k) = progress_keys(&screen) {
            if seen.last() != Some(&k) {
                seen.push(k);
            }
        }
        assert!(Instant::now() < deadline, "no end in 60 s:\n{screen}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    let _ = std::fs::create_dir_all(&artifacts);
    let _ = std::fs::write(artifacts.join("progress-tmux.txt"), &screen);
    assert!(screen.lines().any(|l| l == "EXIT=0"), "{screen}");
    let partial: Vec<u64> = seen
        .iter()
        .copied()
        .filter(|&k| k > 0 && k < keys)
        .collect();
    assert!(
        partial.len() >= 2,
        "the display showed fewer than two different partial key counts: {seen:?}"
    );
    // The summary table replaced the live line.
    assert!(
        screen.contains("instance") && screen.contains("state"),
        "{screen}"
    );
    let stdin_row = screen
        .lines()
        .find(|l| l.starts_with("stdin ") && l.contains("done"))
        .unwrap_or_else(|| panic!("no summary row:\n{screen}"));
    assert!(stdin_row.contains(&keys.to_string()), "{stdin_row}");
    assert!(screen.contains("output: nowhere"), "{screen}");
}

#[test]
fn metrics_endpoint_counts_keys_during_a_dump() {
    let (_server, rdb) = populated(200_000);
    let port = free_port();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} | \"$0\" dump --metrics-addr 127.0.0.1:{port} --batch-rows 1000 from-file --path - --instance fed into-null",
            slow_feed(&rdb, 4)
        ))
        .arg(env!("CARGO_BIN_EXE_rdbinsight"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let out = Command::new("curl")
            .args(["-sf", &format!("http://127.0.0.1:{port}/metrics")])
            .output()
            .expect("curl not found: install Debian's curl (tests/run.sh does it)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let counted = text
            .lines()
            .find(|l| l.starts_with("rdbinsight_keys_total{instance=\"fed\""))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if counted > 0.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "no key counted in 30 s:\n{text}");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the dump ended before metrics were seen"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        child.try_wait().unwrap().is_none(),
        "scraped during the dump"
    );
    assert!(
        body.contains("# TYPE rdbinsight_keys_total counter"),
        "{body}"
    );
    assert!(
        body.contains(
            "rdbinsight_instance_state{instance=\"fed\",sink=\"null\",state=\"running\"} 1"
        ),
        "{body}"
    );
    let bytes_line = body
        .lines()
        .find(|l| l.starts_with("rdbinsight_rdb_bytes_total{instance=\"fed\""))
        .unwrap();
    assert!(!bytes_line.ends_with(" 0"), "{bytes_line}");
    assert!(child.wait().unwrap().success());
}
