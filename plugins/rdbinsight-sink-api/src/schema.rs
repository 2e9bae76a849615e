//! The record schema: the contract between the core and every sink (SPEC section 3).
//!
//! One row per key. Column names are exported as constants so sinks never spell them by hand.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// User-given cluster name.
pub const CLUSTER: &str = "cluster";
/// The run's timestamp, shared by every row of one dump (ns, UTC).
pub const BATCH: &str = "batch";
/// Source node, `host:port`, or a name given for / derived from a file.
pub const INSTANCE: &str = "instance";
/// Database number.
pub const DB: &str = "db";
/// Key bytes exactly as stored (int-encoded keys as their decimal text).
pub const KEY: &str = "key";
/// Value type: string, list, set, zset, hash, stream, module.
pub const TYPE: &str = "type";
/// Length (strings) or element count (containers) or entries (streams); 0 for modules.
pub const MEMBER_COUNT: &str = "member_count";
/// Bytes of the key's object in the RDB, from its type byte to the end of its value.
pub const RDB_SIZE: &str = "rdb_size";
/// Storage encoding in Redis's own words.
pub const ENCODING: &str = "encoding";
/// Absolute expiry (ms, UTC), null when the key has none.
pub const EXPIRE_AT: &str = "expire_at";
/// LRU idle time in seconds (IDLE opcode), null when absent.
pub const IDLE_SECONDS: &str = "idle_seconds";
/// LFU counter (FREQ opcode), null when absent.
pub const FREQ: &str = "freq";
/// Codis slot (crc32 of hash tag or key, mod 1024), Codis sources only.
pub const CODIS_SLOT: &str = "codis_slot";
/// Redis Cluster slot (crc16 of hash tag or key, mod 16384).
pub const REDIS_SLOT: &str = "redis_slot";

/// Every column name, in schema order.
pub const COLUMNS: [&str; 14] = [
    CLUSTER,
    BATCH,
    INSTANCE,
    DB,
    KEY,
    TYPE,
    MEMBER_COUNT,
    RDB_SIZE,
    ENCODING,
    EXPIRE_AT,
    IDLE_SECONDS,
    FREQ,
    CODIS_SLOT,
    REDIS_SLOT,
];

/// Time zone of both timestamp columns.
pub const UTC: &str = "UTC";

/// The Arrow schema of one record batch: exact names, types and nullability of SPEC section 3.
pub fn record_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let utc: Arc<str> = Arc::from(UTC);
            Arc::new(Schema::new(vec![
                Field::new(CLUSTER, DataType::Utf8, false),
                Field::new(
                    BATCH,
                    DataType::Timestamp(TimeUnit::Nanosecond, Some(utc.clone())),
                    false,
                ),
                Field::new(INSTANCE, DataType::Utf8, false),
                Field::new(DB, DataType::Int64, false),
                Field::new(KEY, DataType::Binary, false),
                Field::new(TYPE, DataType::Utf8, false),
                Field::new(MEMBER_COUNT, DataType::Int64, false),
                Field::new(RDB_SIZE, DataType::Int64, false),
                Field::new(ENCODING, DataType::Utf8, false),
                Field::new(
                    EXPIRE_AT,
                    DataType::Timestamp(TimeUnit::Millisecond, Some(utc)),
                    true,
                ),
                Field::new(IDLE_SECONDS, DataType::Int64, true),
                Field::new(FREQ, DataType::Int32, true),
                Field::new(CODIS_SLOT, DataType::Int32, true),
                Field::new(REDIS_SLOT, DataType::Int32, true),
            ]))
        })
        .clone()
}

/// The cluster, batch and instance columns of `rows` rows: the same value on every row of one
/// instance of a run. Builders of record batches share one such set between all their full
/// batches instead of writing the same strings again for each.
pub fn constant_columns(
    cluster: &str,
    batch_unix_nanos: i64,
    instance: &str,
    rows: usize,
) -> [arrow_array::ArrayRef; 3] {
    use arrow_array::{StringArray, TimestampNanosecondArray};
    [
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            cluster, rows,
        ))),
        Arc::new(TimestampNanosecondArray::from(vec![batch_unix_nanos; rows]).with_timezone(UTC)),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            instance, rows,
        ))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_matches_spec_table() {
        let schema = record_schema();
        let got: Vec<(&str, String, bool)> = schema
            .fields()
            .iter()
            .map(|f| {
                (
                    f.name().as_str(),
                    f.data_type().to_string(),
                    f.is_nullable(),
                )
            })
            .collect();
        let want = [
            ("cluster", "Utf8", false),
            ("batch", "Timestamp(ns, \"UTC\")", false),
            ("instance", "Utf8", false),
            ("db", "Int64", false),
            ("key", "Binary", false),
            ("type", "Utf8", false),
            ("member_count", "Int64", false),
            ("rdb_size", "Int64", false),
            ("encoding", "Utf8", false),
            ("expire_at", "Timestamp(ms, \"UTC\")", true),
            ("idle_seconds", "Int64", true),
            ("freq", "Int32", true),
            ("codis_slot", "Int32", true),
            ("redis_slot", "Int32", true),
        ];
        assert_eq!(got.len(), want.len());
        for ((gn, gt, gnull), (wn, wt, wnull)) in got.iter().zip(want.iter()) {
            assert_eq!(gn, wn);
            assert_eq!(gt, wt, "type of {gn}");
            assert_eq!(gnull, wnull, "nullability of {gn}");
        }
        assert_eq!(
            COLUMNS.to_vec(),
            got.iter().map(|g| g.0).collect::<Vec<_>>()
        );
    }
}
