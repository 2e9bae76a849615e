//! The report's distributions taken row by row from record batches (the Parquet path). Every
//! low-cardinality string column (type, encoding, instance) is tallied by label index, TTL /
//! idle / LFU buckets and slots by array index, so a row costs a few array increments. The
//! key-prefix tree ([`super::prefix`]) and the biggest keys ([`super::top`]) are fed
//! separately, on another thread.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{
    Array, Int32Array, Int64Array, PrimitiveArray, RecordBatch, StringArray,
    TimestampMillisecondArray, TimestampNanosecondArray,
};
use rdbinsight_sink_api::schema;

use super::aggregate::{Report, Tally, EXPIRED, FREQ_BUCKETS, IDLE_BUCKETS, NO_TTL, TTL_BUCKETS};
use super::columns::{optional, typed, value_or_empty, Strings};
use crate::slot::{CODIS_SLOTS, REDIS_SLOTS};

/// The distinct strings of one low-cardinality column, numbered in order of arrival.
#[derive(Default)]
struct Labels {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Labels {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }

    /// The label id of each value of a dictionary (nulls as the empty string).
    fn value_ids(&mut self, values: &StringArray) -> Vec<u32> {
        (0..values.len())
            .map(|j| self.id(value_or_empty(values, j)))
            .collect()
    }

    /// The keys of a dictionary `column` without nulls, with the label id of each dictionary
    /// value (None for a plain column or one with nulls).
    fn dictionary_ids<'a>(&mut self, column: &Strings<'a>) -> Option<DictionaryIds<'a>> {
        let Strings::Dictionary(dict, values) = column else {
            return None;
        };
        if dict.null_count() > 0 {
            return None;
        }
        let ids = self.value_ids(values);
        let empty = self.id("");
        Some(DictionaryIds {
            keys: dict.keys().values(),
            ids,
            empty,
        })
    }

    /// The label id of every row of `column` into `out`: a dictionary column costs one
    /// lookup per dictionary value, a plain one a comparison with the previous row's value.
    /// Null rows count as the empty string.
    fn row_ids(&mut self, column: &Strings<'_>, out: &mut Vec<u32>) {
        out.clear();
        match column {
            Strings::Dictionary(dict, values) => {
                let map = self.value_ids(values);
                if let ([only], 0) = (map.as_slice(), dict.null_count()) {
                    out.resize(dict.len(), *only);
                    return;
                }
                let mut empty = None;
                out.reserve(dict.len());
                for (i, &k) in dict.keys().values().iter().enumerate() {
                    let id = match usize::try_from(k).ok().and_then(|k| map.get(k)) {
                        Some(&id) if dict.is_valid(i) => id,
                        _ => *empty.get_or_insert_with(|| self.id("")),
                    };
                    out.push(id);
                }
            }
            Strings::Plain(strings) => {
                let mut last: Option<(&str, u32)> = None;
                for i in 0..strings.len() {
                    let v = value_or_empty(strings, i);
                    let id = match last {
                        Some((name, id)) if name == v => id,
                        _ => {
                            let id = self.id(v);
                            last = Some((v, id));
                            id
                        }
                    };
                    out.push(id);
                }
            }
        }
    }
}

/// Adds every row with a value in `column` to `tallies` at the index `index_of` gives its value
/// (rows it gives none are left out).
fn tally_valid<T: ArrowPrimitiveType>(
    column: Option<&PrimitiveArray<T>>,
    sizes: &[i64],
    tallies: &mut [Tally],
    index_of: impl Fn(T::Native) -> Option<usize>,
) {
    let Some(column) = column.filter(|c| c.null_count() < c.len()) else {
        return;
    };
    for (i, (&v, &size)) in column.values().iter().zip(sizes).enumerate() {
        if column.is_valid(i) {
            if let Some(t) = index_of(v).and_then(|x| tallies.get_mut(x)) {
                t.add(size.max(0) as u64);
            }
        }
    }
}

/// Keys per slot of one slot column (Redis Cluster or Codis).
struct SlotTallies {
    /// By slot, for the valid range.
    slots: Vec<Tally>,
    /// Slots outside the valid range (only in damaged input), kept as they are.
    strays: BTreeMap<i32, Tally>,
}

impl SlotTallies {
    fn new(slots: usize) -> Self {
        Self {
            slots: vec![Tally::default(); slots],
            strays: BTreeMap::new(),
        }
    }

    /// Adds the rows of `column` that have a slot.
    fn add(&mut self, column: Option<&Int32Array>, sizes: &[i64]) {
        let range = self.slots.len();
        tally_valid(column, sizes, &mut self.slots, |v| {
            usize::try_from(v).ok().filter(|&s| s < range)
        });
        let Some(column) = column.filter(|c| c.null_count() < c.len()) else {
            return;
        };
        for (i, (&v, &size)) in column.values().iter().zip(sizes).enumerate() {
            if column.is_valid(i) && usize::try_from(v).map_or(true, |s| s >= range) {
                self.strays.entry(v).or_default().add(size.max(0) as u64);
            }
        }
    }

    fn merge_into(self, map: &mut BTreeMap<i32, Tally>) {
        merge(&self.slots, map, |i| i as i32);
        for (s, t) in self.strays {
            map.entry(s).or_default().add_many(t.keys, t.bytes);
        }
    }
}

/// Puts the non-empty `tallies` into `map` under the names `name_of` gives their index.
fn merge<K: Ord>(
    tallies: &[Tally],
    map: &mut BTreeMap<K, Tally>,
    mut name_of: impl FnMut(usize) -> K,
) {
    for (i, t) in tallies.iter().enumerate().filter(|(_, t)| t.keys > 0) {
        map.entry(name_of(i)).or_default().add_many(t.keys, t.bytes);
    }
}

/// TTL tallies: no TTL, expired, then one per [`TTL_BUCKETS`] label.
const TTL_SLOTS: usize = 2 + TTL_BUCKETS.bounds.len() + 1;

fn ttl_label(index: usize) -> &'static str {
    match index {
        0 => NO_TTL,
        1 => EXPIRED,
        i => TTL_BUCKETS.label_at(i - 2),
    }
}

/// Calls `f` with each run of rows where both `a` and `b` keep their value: the two values,
/// the run's number of rows and the sum of its `sizes` (negative sizes count as 0). The three
/// slices are as long as each other (extra items of a longer one are left out). Sorted keys
/// come in long runs of one type and encoding, or one instance: a run is extended eight rows at
/// a time by comparisons without a branch per row, and its sizes summed in one pass.
fn runs<K: PartialEq + Copy>(a: &[K], b: &[K], sizes: &[i64], mut f: impl FnMut(K, K, u64, u64)) {
    let n = a.len().min(b.len()).min(sizes.len());
    let (a, b, sizes) = (&a[..n], &b[..n], &sizes[..n]);
    let mut start = 0;
    while let (Some(&ka), Some(&kb)) = (a.get(start), b.get(start)) {
        let mut end = start + 1;
        while let (Some(wa), Some(wb)) = (a.get(end..end + 8), b.get(end..end + 8)) {
            let same = wa
                .iter()
                .zip(wb)
                .fold(true, |all, (&x, &y)| all & (x == ka) & (y == kb));
            if !same {
                break;
            }
            end += 8;
        }
        while end < n && a[end] == ka && b[end] == kb {
            end += 1;
        }
        let bytes = sizes[start..end].iter().map(|&s| s.max(0) as u64).sum();
        f(ka, kb, (end - start) as u64, bytes);
        start = end;
    }
}

/// The dictionary keys of a column and the label id of each dictionary value.
struct DictionaryIds<'a> {
    keys: &'a [i32],
    ids: Vec<u32>,
    /// The id of the empty label, for keys outside the dictionary (damaged input).
    empty: u32,
}

impl DictionaryIds<'_> {
    fn id(&self, key: i32) -> u32 {
        usize::try_from(key)
            .ok()
            .and_then(|k| self.ids.get(k))
            .copied()
            .unwrap_or(self.empty)
    }
}

/// The tallies by type, encoding and instance (and the total).
#[derive(Default)]
pub struct LabelTallies {
    types: Labels,
    encodings: Labels,
    instances: Labels,
    /// Indexed by type id, then encoding id (the tallies by type are their sums).
    by_encoding: Vec<Vec<Tally>>,
    /// By instance id (the total is their sum).
    by_instance: Vec<Tally>,
    type_ids: Vec<u32>,
    encoding_ids: Vec<u32>,
    instance_ids: Vec<u32>,
}

impl LabelTallies {
    /// Adds the rows of one batch (its type, encoding, instance and rdb_size columns).
    pub fn add(&mut self, b: &RecordBatch) -> Result<()> {
        let sizes = typed::<Int64Array>(b, schema::RDB_SIZE)?.values();
        let (types, encodings, instances) = (
            Strings::of(b, schema::TYPE)?,
            Strings::of(b, schema::ENCODING)?,
            Strings::of(b, schema::INSTANCE)?,
        );
        if let (Some(t), Some(e), Some(i)) = (
            self.types.dictionary_ids(&types),
            self.encodings.dictionary_ids(&encodings),
            self.instances.dictionary_ids(&instances),
        ) {
            // Runs of dictionary keys, each looked up once.
            self.grow();
            runs(t.keys, e.keys, sizes, |tk, ek, keys, bytes| {
                let (t, e) = (t.id(tk), e.id(ek));
                self.by_encoding[t as usize][e as usize].add_many(keys, bytes);
            });
            runs(i.keys, i.keys, sizes, |k, _, keys, bytes| {
                self.by_instance[i.id(k) as usize].add_many(keys, bytes);
            });
            return Ok(());
        }
        self.types.row_ids(&types, &mut self.type_ids);
        self.encodings.row_ids(&encodings, &mut self.encoding_ids);
        self.instances.row_ids(&instances, &mut self.instance_ids);
        self.grow();
        // Sorted keys come in runs of one type and encoding, and of one instance: each run
        // is summed in registers and added once.
        let by_encoding = &mut self.by_encoding;
        runs(
            &self.type_ids,
            &self.encoding_ids,
            sizes,
            |t, e, keys, bytes| {
                by_encoding[t as usize][e as usize].add_many(keys, bytes);
            },
        );
        let by_instance = &mut self.by_instance;
        let instances = &self.instance_ids;
        runs(instances, instances, sizes, |instance, _, keys, bytes| {
            by_instance[instance as usize].add_many(keys, bytes);
        });
        Ok(())
    }

    /// Makes room in the tallies for every label seen.
    fn grow(&mut self) {
        let (types, encodings) = (self.types.names.len(), self.encodings.names.len());
        self.by_instance
            .resize(self.instances.names.len(), Tally::default());
        self.by_encoding.resize_with(types, Vec::new);
        for per_type in &mut self.by_encoding {
            per_type.resize(encodings, Tally::default());
        }
    }

    /// Adds everything tallied to `report`.
    pub fn merge_into(self, report: &mut Report) {
        for t in &self.by_instance {
            report.total.add_many(t.keys, t.bytes);
        }
        for (t, per_type) in self.by_encoding.iter().enumerate() {
            let mut all = Tally::default();
            for e in per_type {
                all.add_many(e.keys, e.bytes);
            }
            merge(&[all], &mut report.by_type, |_| {
                self.types.name(t as u32).to_string()
            });
            merge(per_type, &mut report.by_encoding, |e| {
                format!(
                    "{}/{}",
                    self.types.name(t as u32),
                    self.encodings.name(e as u32)
                )
            });
        }
        merge(&self.by_instance, &mut report.by_instance, |i| {
            self.instances.name(i as u32).to_string()
        });
    }
}

/// The tallies by db, TTL, LRU idle, LFU counter and slot.
pub struct RowTallies {
    batch_unix_nanos: Option<i64>,
    /// Few dbs: scanned linearly from the last one hit.
    by_db: Vec<(i64, Tally)>,
    last_db: usize,
    ttl: [Tally; TTL_SLOTS],
    idle: Vec<Tally>,
    freq: Vec<Tally>,
    redis_slots: SlotTallies,
    codis_slots: SlotTallies,
}

impl Default for RowTallies {
    fn default() -> Self {
        Self {
            batch_unix_nanos: None,
            by_db: Vec::new(),
            last_db: 0,
            ttl: [Tally::default(); TTL_SLOTS],
            idle: vec![Tally::default(); IDLE_BUCKETS.bounds.len() + 1],
            freq: vec![Tally::default(); FREQ_BUCKETS.bounds.len() + 1],
            redis_slots: SlotTallies::new(usize::from(REDIS_SLOTS)),
            codis_slots: SlotTallies::new(CODIS_SLOTS as usize),
        }
    }
}

impl RowTallies {
    /// Adds `keys` keys of `db` holding `bytes`.
    fn add_db(&mut self, db: i64, keys: u64, bytes: u64) {
        if let Some((d, t)) = self.by_db.get_mut(self.last_db) {
            if *d == db {
                t.add_many(keys, bytes);
                return;
            }
        }
        let i = match self.by_db.iter().position(|(d, _)| *d == db) {
            Some(i) => i,
            None => {
                self.by_db.push((db, Tally::default()));
                self.by_db.len() - 1
            }
        };
        self.by_db[i].1.add_many(keys, bytes);
        self.last_db = i;
    }

    /// Adds the rows of one batch (its batch, db, rdb_size, expire_at, idle_seconds, freq and
    /// slot columns; a nullable column left out counts as all nulls).
    pub fn add(&mut self, b: &RecordBatch) -> Result<()> {
        let batch = typed::<TimestampNanosecondArray>(b, schema::BATCH)?;
        let db = typed::<Int64Array>(b, schema::DB)?;
        let size = typed::<Int64Array>(b, schema::RDB_SIZE)?;
        let expire = optional::<TimestampMillisecondArray>(b, schema::EXPIRE_AT)?;
        let idle = optional::<Int64Array>(b, schema::IDLE_SECONDS)?;
        let freq = optional::<Int32Array>(b, schema::FREQ)?;
        let codis = optional::<Int32Array>(b, schema::CODIS_SLOT)?;
        let slot = optional::<Int32Array>(b, schema::REDIS_SLOT)?;
        let (batches, dbs) = (batch.values(), db.values());
        let sizes = size.values();
        // Column by column: each loop touches few arrays, and a column without values (no
        // LRU/LFU info, no slots) costs nothing.
        // Rows come sorted by db: one tally per run.
        let mut start = 0;
        while let Some(&db) = dbs.get(start) {
            let run = dbs[start..].iter().take_while(|&&d| d == db).count();
            let bytes = sizes[start..start + run]
                .iter()
                .map(|&s| s.max(0) as u64)
                .sum();
            self.add_db(db, run as u64, bytes);
            start += run;
        }
        if let Some(expire) = expire.filter(|e| e.null_count() < e.len()) {
            // Only the rows with a TTL are visited (most keys have none); the others are the
            // batch's totals less theirs.
            let expires = expire.values();
            let ttl = &mut self.ttl;
            let mut with_ttl = Tally::default();
            let mut tally = |i: usize| {
                let size = sizes[i].max(0) as u64;
                let batch_ms = batches[i] / 1_000_000;
                let e = expires[i];
                let slot = if e <= batch_ms {
                    1
                } else {
                    2 + TTL_BUCKETS.index((e - batch_ms) / 1000)
                };
                ttl[slot].add(size);
                with_ttl.add(size);
            };
            match expire.nulls() {
                Some(nulls) => nulls.valid_indices().for_each(&mut tally),
                None => (0..sizes.len()).for_each(&mut tally),
            }
            let bytes: u64 = sizes.iter().map(|&s| s.max(0) as u64).sum();
            self.ttl[0].add_many(sizes.len() as u64 - with_ttl.keys, bytes - with_ttl.bytes);
        } else {
            let bytes = sizes.iter().map(|&s| s.max(0) as u64).sum();
            self.ttl[0].add_many(sizes.len() as u64, bytes);
        }
        tally_valid(idle, sizes, &mut self.idle, |v| Some(IDLE_BUCKETS.index(v)));
        tally_valid(freq, sizes, &mut self.freq, |v| {
            Some(FREQ_BUCKETS.index(i64::from(v)))
        });
        self.redis_slots.add(slot, sizes);
        self.codis_slots.add(codis, sizes);
        if let Some(&last) = batches.last() {
            self.batch_unix_nanos = Some(last);
        }
        Ok(())
    }

    /// Adds everything tallied to `report`.
    pub fn merge_into(self, report: &mut Report) {
        if let Some(b) = self.batch_unix_nanos {
            report.batch_unix_nanos = b;
        }
        for (db, t) in &self.by_db {
            report
                .by_db
                .entry(*db)
                .or_default()
                .add_many(t.keys, t.bytes);
        }
        merge(&self.ttl, &mut report.ttl, |i| ttl_label(i).to_string());
        merge(&self.idle, &mut report.idle, |i| {
            IDLE_BUCKETS.label_at(i).to_string()
        });
        merge(&self.freq, &mut report.freq, |i| {
            FREQ_BUCKETS.label_at(i).to_string()
        });
        self.redis_slots.merge_into(&mut report.redis_slots);
        self.codis_slots.merge_into(&mut report.codis_slots);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::Int32Type;
    use arrow_array::{Array, ArrayRef, DictionaryArray, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use rdbinsight_sink_api::{schema, RecordBuilder, Row};

    use crate::report::aggregate::Aggregator;

    const BATCH_MS: i64 = 1_700_000_000_000;

    /// Runs found eight rows at a time are the runs a row-by-row walk finds, with their sums.
    #[test]
    fn runs_match_a_row_by_row_walk() {
        let mut state = 7u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % m
        };
        for len in [0usize, 1, 7, 8, 9, 17, 64, 300] {
            for spread in [1u64, 2, 40] {
                // Long runs with a change now and then, in either column or both.
                let (mut a, mut b, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
                let (mut x, mut y) = (0u32, 0u32);
                for _ in 0..len {
                    if next(spread + 10) == 0 {
                        x = next(3) as u32;
                    }
                    if next(spread + 10) == 1 {
                        y = next(2) as u32;
                    }
                    a.push(x);
                    b.push(y);
                    sizes.push(next(1000) as i64 - 100);
                }
                let mut want: Vec<(u32, u32, u64, u64)> = Vec::new();
                for ((&x, &y), &s) in a.iter().zip(&b).zip(&sizes) {
                    match want.last_mut() {
                        Some(last) if last.0 == x && last.1 == y => {
                            last.2 += 1;
                            last.3 += s.max(0) as u64;
                        }
                        _ => want.push((x, y, 1, s.max(0) as u64)),
                    }
                }
                let mut got = Vec::new();
                super::runs(&a, &b, &sizes, |x, y, keys, bytes| {
                    got.push((x, y, keys, bytes))
                });
                assert_eq!(got, want, "len {len}, spread {spread}");
            }
        }
    }

    /// Rows of two dbs, with TTLs, LRU/LFU info, slots (one out of range, as in damaged input).
    fn batch() -> RecordBatch {
        let mut b = RecordBuilder::new("c", BATCH_MS * 1_000_000, "node-1", 8);
        let row = |db, key: &'static [u8], key_type, encoding, size| Row {
            db,
            key,
            key_type,
            member_count: size / 10,
            rdb_size: size,
            encoding,
            expire_at_ms: None,
            idle_seconds: None,
            freq: None,
            codis_slot: None,
            redis_slot: None,
        };
        b.append(&Row {
            expire_at_ms: Some(BATCH_MS - 1),
            redis_slot: Some(5),
            ..row(0, b"a:1", "string", "raw", 100)
        });
        b.append(&Row {
            expire_at_ms: Some(BATCH_MS + 7_200_000),
            idle_seconds: Some(30),
            redis_slot: Some(20_000),
            ..row(0, b"a:2", "hash", "listpack", 300)
        });
        b.append(&Row {
            freq: Some(7),
            codis_slot: Some(1023),
            redis_slot: Some(5),
            ..row(3, b"b:1", "string", "int", 40)
        });
        b.append(&row(3, b"b:\xff", "hash", "listpack", 60));
        b.finish().unwrap()
    }

    /// The batch with its type, encoding and instance columns as dictionary arrays (as the
    /// Parquet reader gives them to the report).
    fn with_dictionaries(b: &RecordBatch) -> RecordBatch {
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (field, column) in b.schema().fields().iter().zip(b.columns()) {
            let name = field.name().as_str();
            if [schema::TYPE, schema::ENCODING, schema::INSTANCE].contains(&name) {
                let strings = column.as_any().downcast_ref::<StringArray>().unwrap();
                let dict: DictionaryArray<Int32Type> = strings.iter().collect();
                fields.push(Field::new(name, dict.data_type().clone(), false));
                columns.push(Arc::new(dict));
            } else {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn report_of(b: &RecordBatch) -> serde_json::Value {
        let mut agg = Aggregator::new("c", "test", ":");
        agg.add(b).unwrap();
        serde_json::to_value(agg.finish()).unwrap()
    }

    #[test]
    fn rows_are_tallied_the_same_from_strings_and_dictionaries() {
        let plain = batch();
        let dict = with_dictionaries(&plain);
        assert!(matches!(
            dict.column_by_name(schema::TYPE).unwrap().data_type(),
            DataType::Dictionary(_, _)
        ));
        let r = report_of(&plain);
        assert_eq!(r, report_of(&dict));
        assert_eq!(r["total"]["keys"], 4);
        assert_eq!(r["total"]["bytes"], 500);
        assert_eq!(r["by_type"]["hash"]["bytes"], 360);
        assert_eq!(r["by_encoding"]["string/int"]["keys"], 1);
        assert_eq!(r["by_db"]["3"]["bytes"], 100);
        assert_eq!(r["by_instance"]["node-1"]["keys"], 4);
        assert_eq!(r["ttl"]["0 no TTL"]["keys"], 2);
        assert_eq!(r["ttl"]["1 expired at batch time"]["bytes"], 100);
        assert_eq!(r["ttl"]["3 < 1 day"]["bytes"], 300);
        assert_eq!(r["idle"]["0 < 1 minute"]["keys"], 1);
        assert_eq!(r["freq"]["1-10"]["bytes"], 40);
        assert_eq!(r["redis_slots"]["5"]["keys"], 2);
        assert_eq!(r["redis_slots"]["20000"]["bytes"], 300);
        assert_eq!(r["codis_slots"]["1023"]["keys"], 1);
        assert_eq!(r["top_by_size"][0]["key"], "a:2");
        assert_eq!(r["top_by_size"][2]["key"], "b:\\xff");
        assert_eq!(r["prefixes"]["children"][0]["name"], "a:");
    }
}
