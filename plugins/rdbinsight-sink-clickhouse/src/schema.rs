//! The ClickHouse schema: a raw records table, a completed-batches table and the view readers use.
//!
//! Rows go to the raw table as they are read; a batch becomes visible through the view only when
//! its row in the completed-batches table exists, which the sink inserts last. The statements are
//! printed by `rdbinsight misc clickhouse-schema` and run by `--auto-create-tables`.

use rdbinsight_sink_api::schema as col;

/// Table receiving every row of every run, complete or not.
pub const RAW_TABLE: &str = "redis_records_raw";
/// Table with one row per committed (cluster, batch).
pub const COMPLETED_TABLE: &str = "import_batches_completed";
/// View with the rows of completed batches only: what readers query.
pub const VIEW: &str = "redis_records";

/// Default retention of rows and markers, in days after their batch.
pub const DEFAULT_TTL_DAYS: u32 = 90;

/// How many recent insert blocks the raw table remembers to drop retried duplicates.
pub const DEDUP_WINDOW: u32 = 10_000;

/// Columns of the raw table (and the view), in record-schema order, with ClickHouse types.
pub const RAW_COLUMNS: [(&str, &str); 14] = [
    (col::CLUSTER, "LowCardinality(String)"),
    (col::BATCH, "DateTime64(9, 'UTC')"),
    (col::INSTANCE, "LowCardinality(String)"),
    (col::DB, "Int64"),
    (col::KEY, "String"),
    (col::TYPE, "LowCardinality(String)"),
    (col::MEMBER_COUNT, "Int64"),
    (col::RDB_SIZE, "Int64"),
    (col::ENCODING, "LowCardinality(String)"),
    (col::EXPIRE_AT, "Nullable(DateTime64(3, 'UTC'))"),
    (col::IDLE_SECONDS, "Nullable(Int64)"),
    (col::FREQ, "Nullable(Int32)"),
    (col::CODIS_SLOT, "Nullable(Int32)"),
    (col::REDIS_SLOT, "Nullable(Int32)"),
];

/// Columns of the completed-batches table.
pub const COMPLETED_COLUMNS: [(&str, &str); 6] = [
    ("cluster", "String"),
    ("batch", "DateTime64(9, 'UTC')"),
    ("instances", "UInt32"),
    ("rows", "UInt64"),
    ("completed_at", "DateTime64(3, 'UTC')"),
    ("tool_version", "String"),
];

/// Quotes an identifier with backticks.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// `` `db`.`table` ``.
pub fn qualified(database: &str, table: &str) -> String {
    format!("{}.{}", ident(database), ident(table))
}

/// One object of the schema and the statement that creates it.
#[derive(Debug, Clone)]
pub struct SchemaObject {
    /// Table or view name.
    pub name: &'static str,
    /// Its columns and ClickHouse types, as `system.columns` reports them.
    pub columns: Vec<(&'static str, &'static str)>,
    /// `CREATE ... IF NOT EXISTS` statement, without a trailing semicolon.
    pub create: String,
}

/// The schema in `database`, in creation order (the view last). `ttl_days == 0` keeps rows
/// forever.
pub fn objects(database: &str, ttl_days: u32) -> Vec<SchemaObject> {
    let ttl = |expr: &str| {
        if ttl_days == 0 {
            String::new()
        } else {
            format!("\nTTL toDateTime({expr}) + INTERVAL {ttl_days} DAY")
        }
    };
    let column_list = |cols: &[(&str, &str)]| {
        cols.iter()
            .map(|(n, t)| format!("    {} {t}", ident(n)))
            .collect::<Vec<_>>()
            .join(",\n")
    };
    let raw = format!(
        "CREATE TABLE IF NOT EXISTS {}\n(\n{}\n)\nENGINE = MergeTree\nPARTITION BY toDate(batch)\n\
         ORDER BY (cluster, batch, instance, db, key){}\nSETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}",
        qualified(database, RAW_TABLE),
        column_list(&RAW_COLUMNS),
        ttl("batch"),
    );
    let completed = format!(
        "CREATE TABLE IF NOT EXISTS {}\n(\n{}\n)\nENGINE = ReplacingMergeTree\nORDER BY (cluster, batch){}",
        qualified(database, COMPLETED_TABLE),
        column_list(&COMPLETED_COLUMNS),
        ttl("batch"),
    );
    let view = format!(
        "CREATE VIEW IF NOT EXISTS {} AS\nSELECT *\nFROM {}\n\
         WHERE (cluster, batch) IN (SELECT cluster, batch FROM {})",
        qualified(database, VIEW),
        qualified(database, RAW_TABLE),
        qualified(database, COMPLETED_TABLE),
    );
    vec![
        SchemaObject {
            name: RAW_TABLE,
            columns: RAW_COLUMNS.to_vec(),
            create: raw,
        },
        SchemaObject {
            name: COMPLETED_TABLE,
            columns: COMPLETED_COLUMNS.to_vec(),
            create: completed,
        },
        SchemaObject {
            name: VIEW,
            columns: RAW_COLUMNS.to_vec(),
            create: view,
        },
    ]
}

/// The DDL script printed by `misc clickhouse-schema`: statements separated by `;` and a blank
/// line, with comments saying what each object is for and how to change the retention.
pub fn script(database: &str, ttl_days: u32) -> String {
    let objects = objects(database, ttl_days);
    let retention = if ttl_days == 0 {
        "-- Retention: none (rows are kept until dropped). Add one with\n\
         --   ALTER TABLE <table> MODIFY TTL toDateTime(batch) + INTERVAL <n> DAY\n"
            .to_string()
    } else {
        format!(
            "-- Retention: rows and markers are deleted {ttl_days} days after their batch (the TTL\n\
             -- clauses). Print another value with --ttl-days N (0: keep forever), or change a live\n\
             -- table with ALTER TABLE <table> MODIFY TTL toDateTime(batch) + INTERVAL <n> DAY.\n"
        )
    };
    let comments = [
        "-- Every row of every run, complete or not. Query the view below instead.\n",
        "-- One row per committed (cluster, batch), inserted after all its rows are acknowledged.\n",
        "-- The rows of completed batches only (every completed batch, not only the newest).\n",
    ];
    let mut out = format!(
        "-- rdbinsight ClickHouse schema for database {}.\n{retention}\n",
        ident(database)
    );
    for (comment, object) in comments.iter().zip(&objects) {
        out.push_str(comment);
        out.push_str(&object.create);
        out.push_str(";\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_columns_follow_the_record_schema() {
        let names: Vec<&str> = RAW_COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, rdbinsight_sink_api::schema::COLUMNS);
    }

    #[test]
    fn script_has_three_statements_and_the_ttl() {
        let s = script("redis", 30);
        assert_eq!(s.matches(";\n\n").count(), 3);
        assert_eq!(s.matches("INTERVAL 30 DAY").count(), 2);
        assert!(s.contains("`redis`.`redis_records_raw`"));
        assert!(!script("redis", 0).contains("\nTTL "));
    }

    #[test]
    fn identifiers_are_escaped() {
        assert_eq!(ident("a`b"), "`a\\`b`");
    }
}
