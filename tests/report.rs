//! The HTML report rendered in a real headless Chromium with networking cut off: totals equal
//! the truth files, the flame graph has nodes, the big-keys tables list the known biggest keys,
//! no script error, no request left the page. A screenshot is kept in target/test-artifacts/.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{bin, fixtures_dir, run_ok, truth, unhex};

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("chromium not found: install Debian's chromium (tests/run.sh does it)");
}

fn headless(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--proxy-server=127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The value of `attr` on the element with `id` in serialized DOM.
fn attr_of(dom: &str, id: &str, attr: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let tag_start = dom[..at].rfind('<')?;
    let tag_end = at + dom[at..].find('>')?;
    let tag = &dom[tag_start..tag_end];
    let needle = format!("{attr}=\"");
    let v = tag.find(&needle)? + needle.len();
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

/// http(s) requests in a Chromium net log that a page started (browser-internal requests have
/// the initiator "not an origin").
fn page_requests(netlog: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(netlog).unwrap_or_default();
    let Ok(log) = serde_json::from_str::<serde_json::Value>(&text) else {
        // Chromium may leave the events array unterminated; close it.
        let fixed = format!("{}]}}", text.trim_end().trim_end_matches(','));
        let log: serde_json::Value = serde_json::from_str(&fixed).expect("readable net log");
        return requests_in(&log);
    };
    requests_in(&log)
}

fn requests_in(log: &serde_json::Value) -> Vec<String> {
    let start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_i64();
    log["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"].as_i64() == start)
        .filter(|e| {
            e["params"]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http"))
        })
        .filter(|e| e["params"]["initiator"].as_str() != Some("not an origin"))
        .map(|e| e["params"]["url"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn report_renders_offline_in_chromium() {
    let fixtures = ["redis-7.4.1-all", "redis-7.4.1-cluster"];
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let mut cmd = bin();
    cmd.args(["dump", "from-file", "--cluster", "rep"]);
    for f in fixtures {
        cmd.arg("--path")
            .arg(fixtures_dir().join(format!("{f}.rdb")));
    }
    run_ok(cmd.args(["into-parquet", "--dir"]).arg(&out));
    let html = work.path().join("report.html");
    run_ok(
        bin()
            .args(["report", "from-parquet", "--cluster", "rep", "--dir"])
            .arg(&out)
            .arg("-o")
            .arg(&html),
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page references the network"
    );

    let truths: Vec<serde_json::Value> = fixtures
        .iter()
        .flat_map(|f| truth(&fixtures_dir().join(format!("{f}.rdb"))))
        .collect();
    let netlog = work.path().join("netlog.json");
    let o = headless(&work.path().join("profile"))
        .arg("--dump-dom")
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg("--enable-logging=stderr")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    assert!(
        o.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    let console = String::from_utf8_lossy(&o.stderr);
    assert!(!console.contains("Uncaught"), "console error: {console}");
    assert_eq!(
        attr_of(&dom, "report-body", "data-ready").as_deref(),
        Some("1"),
        "the script did not finish"
    );
    assert_eq!(
        attr_of(&dom, "report-body", "data-errors").as_deref(),
        Some("0")
    );
    assert_eq!(
        attr_of(&dom, "total-keys", "data-value"),
        Some(truths.len().to_string())
    );
    let nodes: usize = attr_of(&dom, "flame", "data-nodes")
        .unwrap()
        .parse()
        .unwrap();
    assert!(nodes > 10, "flame graph has {nodes} nodes");
    assert!(dom.contains("class=\"fg-node\""));
    // The key with the most elements is first in the element-count table.
    let biggest = truths
        .iter()
        .filter(|t| t["member_count"].is_u64())
        .max_by_key(|t| t["member_count"].as_u64().unwrap())
        .unwrap();
    let name = String::from_utf8(unhex(biggest["key_hex"].as_str().unwrap())).unwrap();
    let table = &dom[dom.find("id=\"top-members-table\"").unwrap()..];
    assert!(
        table.contains(&format!("title=\"{name}\"")),
        "biggest key {name} not listed"
    );
    // Slot section filled from the cluster fixture's slot info.
    assert!(dom.contains("slots hold keys"));

    // No request left the page (Chromium's own background requests have no page initiator).
    let requests = page_requests(&netlog);
    assert!(
        requests.is_empty(),
        "the page made network requests: {requests:?}"
    );
    // The check can fail: a page that fetches something is caught.
    let control = work.path().join("control.html");
    std::fs::write(&control, "<img src=\"http://rdbinsight.invalid/x.png\">").unwrap();
    let control_log = work.path().join("control-netlog.json");
    let o = headless(&work.path().join("profile3"))
        .arg("--dump-dom")
        .arg(format!("--log-net-log={}", control_log.display()))
        .arg(format!("file://{}", control.display()))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(
        !page_requests(&control_log).is_empty(),
        "the net-log check sees page requests"
    );

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let o = headless(&work.path().join("profile2"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1400,2600")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        o.status.success() && shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
