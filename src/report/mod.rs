//! The offline HTML report: one pass over a batch's rows ([`aggregate`]), a bounded key-prefix
//! tree ([`prefix`]), rendered into one self-contained HTML file (scripts and styles inlined,
//! no network request).

pub mod aggregate;
mod columns;
#[cfg(feature = "sink-clickhouse")]
pub mod from_clickhouse;
pub mod prefix;
mod rows;
mod top;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::TrySendError;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use rdbinsight_sink_api::keys::DeltaKeys;

pub use aggregate::{Aggregator, Report};

const TEMPLATE: &str = include_str!("assets/report.html");
const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// A batch on its way from the reading thread to the per-key thread, and whether one of the
/// two has claimed its row tallies.
struct Sent {
    batch: RecordBatch,
    claimed: AtomicBool,
}

impl Sent {
    /// Claims the batch's row tallies: true for the one caller that gets them.
    fn claim(&self) -> bool {
        !self.claimed.swap(true, Ordering::AcqRel)
    }
}

/// Feeds `agg` with the batches `produce` reads, on two threads: the reading thread decodes
/// (Parquet pages, ArrowStream over HTTP), this one does the per-key work (key-prefix tree,
/// biggest keys); at most four batches wait between them. The distributions tallied row by
/// row (type, encoding, instance, db, TTL, idle, LFU, slots) of a batch are tallied by
/// whichever thread has time: the reading thread, when the queue is full, takes those of the
/// batches this one has not come to (newest first), and this one those left after a batch's
/// keys.
pub fn aggregate_overlapped<P>(agg: &mut Aggregator, produce: P) -> Result<()>
where
    P: FnOnce(&mut dyn FnMut(&RecordBatch, DeltaKeys) -> Result<()>) -> Result<()> + Send,
{
    let (rows, mut keys) = agg.halves();
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Arc<Sent>, DeltaKeys)>(4);
    std::thread::scope(|scope| {
        let producer = std::thread::Builder::new()
            .name("rdbinsight-decode".into())
            .spawn_scoped(scope, move || {
                let stopped = || anyhow::anyhow!("the report stopped reading");
                // The batches sent whose tallies may still be unclaimed, oldest first.
                let mut unclaimed: VecDeque<Arc<Sent>> = VecDeque::new();
                let mut send = |b: &RecordBatch, k: DeltaKeys| {
                    let sent = Arc::new(Sent {
                        batch: b.clone(),
                        claimed: AtomicBool::new(false),
                    });
                    let mut message = (Arc::clone(&sent), k);
                    loop {
                        match tx.try_send(message) {
                            Ok(()) => break,
                            Err(TrySendError::Full(m)) => {
                                message = m;
                                // While the queue is full, the newest tallies not claimed.
                                let newest = std::iter::once(&sent)
                                    .chain(unclaimed.iter().rev())
                                    .find(|s| s.claim());
                                match newest {
                                    Some(s) => rows.add(&s.batch)?,
                                    None => {
                                        tx.send(message).map_err(|_| stopped())?;
                                        break;
                                    }
                                }
                            }
                            Err(TrySendError::Disconnected(_)) => return Err(stopped()),
                        }
                    }
                    while unclaimed
                        .front()
                        .is_some_and(|s| s.claimed.load(Ordering::Acquire))
                    {
                        unclaimed.pop_front();
                    }
                    unclaimed.push_back(sent);
                    Ok(())
                };
                produce(&mut send)
            })?;
        let mut failed = None;
        for (sent, batch_keys) in &rx {
            let added = keys.add(&sent.batch, &batch_keys);
            let tallied = match added {
                Ok(()) if sent.claim() => keys.tally(&sent.batch),
                other => other,
            };
            if let Err(e) = tallied {
                failed = Some(e);
                break;
            }
        }
        drop(rx);
        let produced = producer
            .join()
            .map_err(|_| anyhow::anyhow!("the report's reader thread panicked"))?;
        match failed {
            Some(e) => Err(e),
            None => produced,
        }
    })
}

/// JSON that is safe inside a `<script>` element.
fn script_safe_json(report: &Report) -> Result<String> {
    let json = serde_json::to_string(report)?;
    Ok(json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report as one HTML document.
pub fn render(report: &Report) -> Result<String> {
    let data = script_safe_json(report)?;
    Ok(TEMPLATE
        .replace("{{TITLE}}", &html_escape(&report.cluster))
        .replace("{{CSS}}", CSS)
        .replace("{{JS}}", JS)
        .replace("{{DATA}}", &data))
}

/// Writes the report atomically (temporary file, then rename).
pub fn write(report: &Report, path: &Path) -> Result<()> {
    let html = render(report)?;
    let tmp = path.with_extension("html.tmp");
    std::fs::write(&tmp, html).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// A few lines for the terminal: totals, biggest prefixes, biggest keys.
pub fn summary(report: &Report) -> String {
    let mut s = format!(
        "{} keys, {} bytes in the RDB, {} instance(s), {} db(s)\n",
        report.total.keys,
        report.total.bytes,
        report.by_instance.len(),
        report.by_db.len()
    );
    s.push_str("biggest prefixes:\n");
    for c in report.prefixes.children.iter().take(3) {
        s.push_str(&format!(
            "  {:<40} {:>10} keys {:>14} bytes\n",
            c.name, c.keys, c.bytes
        ));
    }
    s.push_str("biggest keys:\n");
    for k in report.top_by_size.iter().take(4) {
        let key: String = k.key.chars().take(40).collect();
        s.push_str(&format!(
            "  {key:<40} {:<6} {:>14} bytes\n",
            k.key_type, k.rdb_size
        ));
    }
    s
}
