//! One pass over the rows of a batch: totals, distributions, biggest keys, TTL/idle/LFU
//! histograms, slot and instance skew, key-prefix tree. Memory is bounded by the number of
//! instances, dbs, the top-N heaps and the capped prefix tree, never by the number of keys.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use anyhow::{Context, Result};
use arrow_array::{
    Array, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, TimestampNanosecondArray,
};
use rdbinsight_sink_api::schema;
use serde::Serialize;

use super::prefix::{Node, PrefixTree};

/// Keys kept in each biggest-keys table.
pub const TOP_KEYS: usize = 100;

/// Keys and bytes.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Tally {
    /// Number of keys.
    pub keys: u64,
    /// Sum of rdb_size.
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.keys += 1;
        self.bytes += bytes;
    }
}

/// Adds to `map[key]`, allocating the key only the first time it is seen.
fn bump(map: &mut BTreeMap<String, Tally>, key: &str, bytes: u64) {
    match map.get_mut(key) {
        Some(t) => t.add(bytes),
        None => map.entry(key.to_string()).or_default().add(bytes),
    }
}

/// One big key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BigKey {
    /// The ranking value (rdb_size or member_count).
    #[serde(skip)]
    pub rank: i64,
    /// Instance.
    pub instance: String,
    /// Database.
    pub db: i64,
    /// Key, printable (non-UTF-8 and control bytes escaped).
    pub key: String,
    /// Type.
    #[serde(rename = "type")]
    pub key_type: String,
    /// Encoding.
    pub encoding: String,
    /// Element count.
    pub member_count: i64,
    /// RDB bytes.
    pub rdb_size: i64,
    /// Expiry in ms, if any.
    pub expire_at: Option<i64>,
}

/// Everything the report shows.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Cluster name.
    pub cluster: String,
    /// Batch time, ns since the epoch.
    pub batch_unix_nanos: i64,
    /// Where the rows came from.
    pub source: String,
    /// All keys.
    pub total: Tally,
    /// By type.
    pub by_type: BTreeMap<String, Tally>,
    /// By `type/encoding`.
    pub by_encoding: BTreeMap<String, Tally>,
    /// By db.
    pub by_db: BTreeMap<i64, Tally>,
    /// By instance.
    pub by_instance: BTreeMap<String, Tally>,
    /// TTL buckets, relative to the batch time.
    pub ttl: BTreeMap<String, Tally>,
    /// LRU idle buckets (keys with IDLE info).
    pub idle: BTreeMap<String, Tally>,
    /// LFU counter buckets (keys with FREQ info).
    pub freq: BTreeMap<String, Tally>,
    /// Keys per Redis Cluster slot (only slots that have keys), when slots are known.
    pub redis_slots: BTreeMap<i32, Tally>,
    /// Keys per Codis slot, when known.
    pub codis_slots: BTreeMap<i32, Tally>,
    /// Biggest keys by rdb_size.
    pub top_by_size: Vec<BigKey>,
    /// Biggest keys by member_count.
    pub top_by_members: Vec<BigKey>,
    /// Key-prefix tree.
    pub prefixes: Node,
}

/// Builds a [`Report`] from record batches.
pub struct Aggregator {
    report: Report,
    tree: PrefixTree,
    by_size: BinaryHeap<Reverse<BigKey>>,
    by_members: BinaryHeap<Reverse<BigKey>>,
    /// (type, encoding) tallies: few distinct pairs, scanned linearly.
    encodings: Vec<((String, String), Tally)>,
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .with_context(|| format!("column {name} missing or of the wrong type"))
}

/// A key for display: UTF-8 where possible, `\xNN` for other bytes, cut at 200 characters.
pub fn printable_key(key: &[u8]) -> String {
    let mut out = String::new();
    for chunk in key.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
        if out.len() > 200 {
            out.truncate(
                out.char_indices()
                    .nth(200)
                    .map(|(i, _)| i)
                    .unwrap_or(out.len()),
            );
            out.push('…');
            break;
        }
    }
    out
}

fn ttl_bucket(expire_ms: Option<i64>, batch_ms: i64) -> &'static str {
    match expire_ms {
        None => "0 no TTL",
        Some(e) if e <= batch_ms => "1 expired at batch time",
        Some(e) => match (e - batch_ms) / 1000 {
            0..3600 => "2 < 1 hour",
            3600..86400 => "3 < 1 day",
            86400..604800 => "4 < 7 days",
            604800..2592000 => "5 < 30 days",
            _ => "6 >= 30 days",
        },
    }
}

fn idle_bucket(s: i64) -> &'static str {
    match s {
        ..60 => "0 < 1 minute",
        60..3600 => "1 < 1 hour",
        3600..86400 => "2 < 1 day",
        86400..604800 => "3 < 7 days",
        _ => "4 >= 7 days",
    }
}

fn freq_bucket(f: i32) -> &'static str {
    match f {
        ..1 => "0",
        1..=10 => "1-10",
        11..=50 => "11-50",
        51..=100 => "51-100",
        101..=200 => "101-200",
        _ => "201-255",
    }
}

fn push_top(heap: &mut BinaryHeap<Reverse<BigKey>>, key: impl FnOnce() -> BigKey, rank: i64) {
    if heap.len() < TOP_KEYS {
        heap.push(Reverse(key()));
    } else if heap.peek().is_some_and(|Reverse(min)| rank > min.rank) {
        heap.pop();
        heap.push(Reverse(key()));
    }
}

impl Aggregator {
    /// An empty aggregation.
    pub fn new(cluster: &str, source: &str, delimiters: &str) -> Self {
        Self {
            report: Report {
                cluster: cluster.to_string(),
                batch_unix_nanos: 0,
                source: source.to_string(),
                total: Tally::default(),
                by_type: BTreeMap::new(),
                by_encoding: BTreeMap::new(),
                by_db: BTreeMap::new(),
                by_instance: BTreeMap::new(),
                ttl: BTreeMap::new(),
                idle: BTreeMap::new(),
                freq: BTreeMap::new(),
                redis_slots: BTreeMap::new(),
                codis_slots: BTreeMap::new(),
                top_by_size: Vec::new(),
                top_by_members: Vec::new(),
                prefixes: Node::default(),
            },
            tree: PrefixTree::new(delimiters),
            by_size: BinaryHeap::new(),
            by_members: BinaryHeap::new(),
            encodings: Vec::new(),
        }
    }

    /// Adds the rows of one batch.
    pub fn add(&mut self, b: &RecordBatch) -> Result<()> {
        let batch = col::<TimestampNanosecondArray>(b, schema::BATCH)?;
        let instance = col::<StringArray>(b, schema::INSTANCE)?;
        let db = col::<Int64Array>(b, schema::DB)?;
        let key = col::<BinaryArray>(b, schema::KEY)?;
        let ty = col::<StringArray>(b, schema::TYPE)?;
        let enc = col::<StringArray>(b, schema::ENCODING)?;
        let members = col::<Int64Array>(b, schema::MEMBER_COUNT)?;
        let size = col::<Int64Array>(b, schema::RDB_SIZE)?;
        let expire = col::<TimestampMillisecondArray>(b, schema::EXPIRE_AT)?;
        let idle = col::<Int64Array>(b, schema::IDLE_SECONDS)?;
        let freq = col::<Int32Array>(b, schema::FREQ)?;
        let codis = col::<Int32Array>(b, schema::CODIS_SLOT)?;
        let slot = col::<Int32Array>(b, schema::REDIS_SLOT)?;
        let r = &mut self.report;
        for i in 0..b.num_rows() {
            r.batch_unix_nanos = batch.value(i);
            let batch_ms = batch.value(i) / 1_000_000;
            let bytes = size.value(i).max(0) as u64;
            r.total.add(bytes);
            bump(&mut r.by_type, ty.value(i), bytes);
            let (t, e) = (ty.value(i), enc.value(i));
            match self
                .encodings
                .iter_mut()
                .find(|(k, _)| k.0 == t && k.1 == e)
            {
                Some((_, tally)) => tally.add(bytes),
                None => {
                    let mut tally = Tally::default();
                    tally.add(bytes);
                    self.encodings.push(((t.to_string(), e.to_string()), tally));
                }
            }
            r.by_db.entry(db.value(i)).or_default().add(bytes);
            bump(&mut r.by_instance, instance.value(i), bytes);
            let exp = (!expire.is_null(i)).then(|| expire.value(i));
            bump(&mut r.ttl, ttl_bucket(exp, batch_ms), bytes);
            if !idle.is_null(i) {
                bump(&mut r.idle, idle_bucket(idle.value(i)), bytes);
            }
            if !freq.is_null(i) {
                bump(&mut r.freq, freq_bucket(freq.value(i)), bytes);
            }
            if !slot.is_null(i) {
                r.redis_slots.entry(slot.value(i)).or_default().add(bytes);
            }
            if !codis.is_null(i) {
                r.codis_slots.entry(codis.value(i)).or_default().add(bytes);
            }
            self.tree.add(key.value(i), bytes);
            let big = |rank: i64| BigKey {
                rank,
                instance: instance.value(i).to_string(),
                db: db.value(i),
                key: printable_key(key.value(i)),
                key_type: ty.value(i).to_string(),
                encoding: enc.value(i).to_string(),
                member_count: members.value(i),
                rdb_size: size.value(i),
                expire_at: exp,
            };
            push_top(&mut self.by_size, || big(size.value(i)), size.value(i));
            push_top(
                &mut self.by_members,
                || big(members.value(i)),
                members.value(i),
            );
        }
        Ok(())
    }

    /// The finished report.
    pub fn finish(mut self) -> Report {
        let sorted = |h: BinaryHeap<Reverse<BigKey>>| {
            let mut v: Vec<BigKey> = h.into_iter().map(|Reverse(k)| k).collect();
            v.sort_by(|a, b| b.rank.cmp(&a.rank).then_with(|| a.key.cmp(&b.key)));
            v
        };
        self.report.by_encoding = self
            .encodings
            .into_iter()
            .map(|((t, e), tally)| (format!("{t}/{e}"), tally))
            .collect();
        self.report.top_by_size = sorted(self.by_size);
        self.report.top_by_members = sorted(self.by_members);
        self.report.prefixes = self.tree.finish();
        self.report
    }
}
