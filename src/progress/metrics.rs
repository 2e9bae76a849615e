//! `--metrics-addr`: a Prometheus text endpoint (`GET /metrics`) over the run's counters,
//! served while the dump runs. Reading the counters takes no lock on the hot path.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{RunCounters, State};

/// Binds `addr` and serves the metrics of `run` until the handle is aborted.
pub async fn serve(addr: &str, run: Arc<RunCounters>) -> Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-addr {addr}: cannot listen"))?;
    tracing::info!(operation = "metrics", addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving /metrics");
    Ok(tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            let run = run.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("");
                let (status, body) = if path == "/metrics" || path.starts_with("/metrics?") {
                    ("200 OK", render(&run))
                } else {
                    ("404 Not Found", "not found; try /metrics\n".to_string())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    }))
}

fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A per-instance counter: name, type, help text and how to read it.
type Counter = (
    &'static str,
    &'static str,
    &'static str,
    fn(&super::InstanceCounters) -> f64,
);

/// The metrics in Prometheus's text format.
pub fn render(run: &RunCounters) -> String {
    let sink = label(&run.sink);
    let mut out = String::new();
    let counters: [Counter; 4] = [
        (
            "rdbinsight_keys_total",
            "counter",
            "Keys read and handed to the sink.",
            |i| i.keys.load(Ordering::Relaxed) as f64,
        ),
        (
            "rdbinsight_rdb_bytes_total",
            "counter",
            "RDB bytes read.",
            |i| i.bytes.load(Ordering::Relaxed) as f64,
        ),
        (
            "rdbinsight_batches_total",
            "counter",
            "Record batches (or blocks of its row encoder) handed to the sink.",
            |i| i.batches.load(Ordering::Relaxed) as f64,
        ),
        (
            "rdbinsight_sink_write_seconds_total",
            "counter",
            "Time spent in the sink's write_batch (or write_rows).",
            |i| i.sink_write_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        ),
    ];
    for (name, kind, help, get) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for i in &run.instances {
            let _ = writeln!(
                out,
                "{name}{{instance=\"{}\",sink=\"{sink}\"}} {}",
                label(&i.name),
                get(i)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP rdbinsight_errors_total Instances that failed.\n# TYPE rdbinsight_errors_total counter"
    );
    for i in &run.instances {
        let failed = u8::from(i.state() == State::Failed);
        let _ = writeln!(
            out,
            "rdbinsight_errors_total{{instance=\"{}\",sink=\"{sink}\"}} {failed}",
            label(&i.name)
        );
    }
    let _ = writeln!(
        out,
        "# HELP rdbinsight_instance_state 1 for the state each instance is in.\n# TYPE rdbinsight_instance_state gauge"
    );
    for i in &run.instances {
        let now = i.state();
        for s in State::ALL {
            let _ = writeln!(
                out,
                "rdbinsight_instance_state{{instance=\"{}\",sink=\"{sink}\",state=\"{}\"}} {}",
                label(&i.name),
                s.name(),
                u8::from(s == now)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP rdbinsight_instance_seconds Time each instance has been read for.\n# TYPE rdbinsight_instance_seconds gauge"
    );
    for i in &run.instances {
        let _ = writeln!(
            out,
            "rdbinsight_instance_seconds{{instance=\"{}\",sink=\"{sink}\"}} {}",
            label(&i.name),
            i.elapsed().as_secs_f64()
        );
    }
    let _ = writeln!(
        out,
        "# HELP rdbinsight_run_seconds Time since the run started.\n# TYPE rdbinsight_run_seconds gauge\nrdbinsight_run_seconds{{sink=\"{sink}\"}} {}",
        run.started.elapsed().as_secs_f64()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_every_instance_listed() {
        let run = RunCounters::new(
            "parquet",
            [("a\"b\n".to_string(), None), ("c".to_string(), None)],
        );
        run.instances[1].add_batch(3, std::time::Duration::from_millis(5));
        let text = render(&run);
        assert!(
            text.contains("rdbinsight_keys_total{instance=\"a\\\"b\\n\",sink=\"parquet\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("rdbinsight_keys_total{instance=\"c\",sink=\"parquet\"} 3"),
            "{text}"
        );
        assert!(text.contains("state=\"waiting\"} 1"), "{text}");
    }
}
