//! The report of a completed ClickHouse batch, aggregated by the server: grouped queries for the
//! distributions, slots and key prefixes, `ORDER BY ... LIMIT` for the biggest keys. No query
//! returns one row per key, so the report reads a few thousand rows whatever the batch size.

use anyhow::{bail, Context, Result};
use rdbinsight_sink_clickhouse::client::{Client, Request};
use rdbinsight_sink_clickhouse::schema::{qualified, VIEW};
use rdbinsight_sink_clickhouse::setup::{batch_params, BATCH_FILTER};
use serde_json::Value;

use super::aggregate::{
    printable_key, Aggregator, BigKey, KeyGroup, SlotKind, TopKind, EXPIRED, FREQ_BUCKETS,
    IDLE_BUCKETS, NO_TTL, TOP_KEYS, TTL_BUCKETS,
};
use super::prefix::MAX_DEPTH;

/// Runs one grouped query and parses its JSON rows.
fn rows(client: &Client, cluster: &str, batch: i64, sql: &str) -> Result<Vec<Value>> {
    let req = batch_params(Request::sql(sql), cluster, batch)
        .setting("output_format_json_quote_64bit_integers", 0);
    let text = client.execute(&req)?;
    text.lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("bad row from ClickHouse: {l}")))
        .collect()
}

fn int(v: &Value, field: &str) -> Result<i64> {
    match &v[field] {
        Value::Number(n) => n.as_i64().context(field.to_string()),
        Value::String(s) => s.parse().with_context(|| field.to_string()),
        other => bail!("field {field} from ClickHouse is {other}"),
    }
}

fn opt_int(v: &Value, field: &str) -> Result<Option<i64>> {
    if v[field].is_null() {
        Ok(None)
    } else {
        int(v, field).map(Some)
    }
}

fn text<'a>(v: &'a Value, field: &str) -> Result<&'a str> {
    v[field]
        .as_str()
        .with_context(|| format!("field {field} from ClickHouse is not text"))
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .context("bad hex from ClickHouse")
        })
        .collect()
}

/// Escapes text for a single-quoted ClickHouse string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Aggregates the completed batch `batch` of `cluster` into `agg`.
pub fn aggregate(
    client: &Client,
    cluster: &str,
    batch: i64,
    delimiters: &str,
    agg: &mut Aggregator,
) -> Result<()> {
    if !delimiters.is_ascii() || delimiters.is_empty() {
        bail!("report from-clickhouse needs ASCII --delimiters");
    }
    let view = qualified(&client.url().database, VIEW);
    agg.set_batch(batch);
    let batch_ms = "intDiv(toUnixTimestamp64Nano(batch), 1000000)";
    let expire_ms = "coalesce(toUnixTimestamp64Milli(expire_at), 0)";
    let ttl = format!(
        "multiIf(expire_at IS NULL, {}, {expire_ms} <= {batch_ms}, {}, {})",
        literal(NO_TTL),
        literal(EXPIRED),
        TTL_BUCKETS.sql(&format!("intDiv({expire_ms} - {batch_ms}, 1000)"))
    );
    let sql = format!(
        "SELECT instance, db, type, encoding, {ttl} AS ttl_b, \
         if(idle_seconds IS NULL, '', {}) AS idle_b, if(freq IS NULL, '', {}) AS freq_b, \
         count() AS keys, sum(greatest(rdb_size, 0)) AS bytes \
         FROM {view} WHERE {BATCH_FILTER} \
         GROUP BY instance, db, type, encoding, ttl_b, idle_b, freq_b FORMAT JSONEachRow",
        IDLE_BUCKETS.sql("coalesce(idle_seconds, 0)"),
        FREQ_BUCKETS.sql("coalesce(freq, 0)"),
    );
    for r in rows(client, cluster, batch, &sql).context("grouping the batch's keys")? {
        let idle = text(&r, "idle_b")?;
        let freq = text(&r, "freq_b")?;
        agg.add_group(&KeyGroup {
            instance: text(&r, "instance")?,
            db: int(&r, "db")?,
            key_type: text(&r, "type")?,
            encoding: text(&r, "encoding")?,
            ttl: text(&r, "ttl_b")?,
            idle: (!idle.is_empty()).then_some(idle),
            freq: (!freq.is_empty()).then_some(freq),
            keys: int(&r, "keys")? as u64,
            bytes: int(&r, "bytes")? as u64,
        });
    }

    for (kind, column) in [
        (SlotKind::Redis, "redis_slot"),
        (SlotKind::Codis, "codis_slot"),
    ] {
        let sql = format!(
            "SELECT {column} AS slot, count() AS keys, sum(greatest(rdb_size, 0)) AS bytes \
             FROM {view} WHERE {BATCH_FILTER} AND {column} IS NOT NULL GROUP BY slot \
             FORMAT JSONEachRow"
        );
        for r in
            rows(client, cluster, batch, &sql).with_context(|| format!("grouping by {column}"))?
        {
            agg.add_slot(
                kind,
                int(&r, "slot")? as i32,
                int(&r, "keys")? as u64,
                int(&r, "bytes")? as u64,
            );
        }
    }

    // Key prefixes, computed on the hex text of the keys (byte-exact whatever the bytes): each
    // key cut after its delimiters into at most MAX_DEPTH segments (a valid UTF-8 key without
    // any, longer than 4 bytes: its first 3 characters, then the rest), id-like segments folded
    // to `*`. The tree applies the same rules to what it receives (see `add_segments`).
    let delims: Vec<String> = delimiters.bytes().map(|b| format!("{b:02X}")).collect();
    let alternatives = delims.join("|");
    let delim_list = delims
        .iter()
        .map(|d| format!("'{d}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let ends_delim = format!("has([{delim_list}], substring(p, length(p) - 1))");
    let core = format!("if({ends_delim}, substring(p, 1, length(p) - 2), p)");
    let delim = format!("if({ends_delim}, substring(p, length(p) - 1), '')");
    let id_like = format!(
        "({core}) != '' AND (match({core}, '^(?:3[0-9])+$') OR \
         (length({core}) >= 16 AND match({core}, '^(?:3[0-9]|4[1-6]|6[1-6]|2D)+$')))"
    );
    let sql = format!(
        "SELECT folded AS segs, count() AS keys, sum(greatest(rdb_size, 0)) AS bytes FROM ( \
           SELECT rdb_size, \
             extractAll(hex(key), '(?:[0-9A-F]{{2}})*?(?:{alternatives})|(?:[0-9A-F]{{2}})+$') AS hp, \
             if(length(hp) = 1 AND NOT has([{delim_list}], substring(hp[1], length(hp[1]) - 1)) \
                  AND isValidUTF8(key) AND length(key) > 4, \
                [hex(substringUTF8(key, 1, 3)), hex(substring(key, length(substringUTF8(key, 1, 3)) + 1))], \
                hp) AS parts, \
             arrayMap(p -> if({id_like}, concat('2A', {delim}), p), arraySlice(parts, 1, {MAX_DEPTH})) AS folded \
           FROM {view} WHERE {BATCH_FILTER}) \
         GROUP BY folded ORDER BY folded FORMAT JSONEachRow"
    );
    for r in rows(client, cluster, batch, &sql).context("grouping key prefixes")? {
        let segs = r["segs"]
            .as_array()
            .context("segments from ClickHouse")?
            .iter()
            .map(|s| unhex(s.as_str().unwrap_or_default()))
            .collect::<Result<Vec<_>>>()?;
        agg.add_prefix_path(&segs, int(&r, "keys")? as u64, int(&r, "bytes")? as u64);
    }

    for (kind, rank) in [
        (TopKind::BySize, "rdb_size"),
        (TopKind::ByMembers, "member_count"),
    ] {
        let sql = format!(
            "SELECT instance, db, hex(key) AS k, type, encoding, member_count, rdb_size, \
             toUnixTimestamp64Milli(expire_at) AS expire_ms FROM {view} WHERE {BATCH_FILTER} \
             ORDER BY {rank} DESC, instance DESC, db DESC, key DESC LIMIT {TOP_KEYS} FORMAT JSONEachRow"
        );
        for r in rows(client, cluster, batch, &sql)
            .with_context(|| format!("the biggest keys by {rank}"))?
        {
            let raw_key = unhex(text(&r, "k")?)?;
            agg.offer_top(
                kind,
                BigKey {
                    rank: int(&r, rank)?,
                    instance: text(&r, "instance")?.to_string(),
                    db: int(&r, "db")?,
                    key: printable_key(&raw_key),
                    raw_key,
                    key_type: text(&r, "type")?.to_string(),
                    encoding: text(&r, "encoding")?.to_string(),
                    member_count: int(&r, "member_count")?,
                    rdb_size: int(&r, "rdb_size")?,
                    expire_at: opt_int(&r, "expire_ms")?,
                },
            );
        }
    }
    Ok(())
}
